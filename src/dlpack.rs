//! DLPack import (validating untrusted foreign descriptors) and export
//! (fresh managed tensors that keep dlbridge storage alive).
//!
//! The managed tensors are [dlpark](https://crates.io/crates/dlpark)'s
//! [`Managed<M>`](dlpark::Managed), generic over the ABI `M`: the versioned
//! `DLManagedTensorVersioned` of DLPack 1.0 and later (with flags such as
//! `READ_ONLY`), or the legacy `DLManagedTensor`. [`import`], [`export`] and
//! [`export_copy`] are the one path between them and [`Tensor`].
//!
//! A foreign descriptor is untrusted until [`import`] has checked it: dlpark's
//! `validate()` checks structure (non-negative shape, element-count overflow),
//! this module the device and dtype, and the validator every way of entry
//! shares (`foreign.rs`) the addressing: NULL data for a non-empty tensor,
//! strides whose reach overflows or wraps the address space, alignment, rank.

use crate::borrow::Participation;
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::foreign::{self, ForeignMemory, Strides};
use crate::layout::{DimVec, MAX_NDIM};
use crate::storage::{Extent, Storage};
use crate::tensor::Tensor;
use dlpark::metadata::Dynamic;
use dlpark::{DlpackFlags, Managed, ManagedTensorBase};
use std::sync::Arc;

/// Adopts a foreign DLPack managed tensor without copying its data.
///
/// Refused, with [`Error::InvalidDLPack`] or a dtype or device error: a
/// descriptor dlpark's `validate()` refuses (NULL shape, negative sizes,
/// counts that overflow, missing strides a DLPack 1.2+ tensor must have), more
/// than [`MAX_NDIM`] dimensions, a dtype or device dlbridge does not carry, a
/// NULL data pointer for a non-empty tensor, a first element misaligned for
/// its dtype, or strides whose reach overflows or wraps the address space.
///
/// On success the tensor's storage owns `managed`; its deleter runs when the
/// last tensor, view or re-exported capsule using that storage is dropped.
/// On error `managed` is dropped here, so its deleter runs exactly once either
/// way. A versioned tensor flagged `READ_ONLY` gives a read-only tensor.
///
/// ```
/// use dlbridge::{Error, Tensor, dlpack};
/// use dlpark::ffi::{DLManagedTensor, DLManagedTensorVersioned};
///
/// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3])?.to_readonly();
/// let managed = dlpack::export::<DLManagedTensorVersioned>(&t)?;
/// let back = dlpack::import(managed)?;
/// assert_eq!(back.data_ptr(), t.data_ptr()); // no copy
/// assert!(back.is_readonly()); // the READ_ONLY flag came along
///
/// // A descriptor on another device is refused (and released).
/// let mut other = dlpark::metadata::Dynamic::new(vec![1], vec![1])
///     .initialize_as::<DLManagedTensor>(Box::new([0.0f32]))
///     .unwrap();
/// other
///     .set_data(std::ptr::null_mut())
///     .set_dtype(dlpark::ffi::DLDataType::F32)
///     .set_device(dlpark::ffi::DLDevice::cuda(0));
/// // SAFETY: the descriptor is never dereferenced: `import` refuses it first.
/// let other = unsafe { other.finish() };
/// assert!(matches!(dlpack::import(other), Err(Error::UnsupportedDevice { device_type: 2, .. })));
/// # Ok::<(), Error>(())
/// ```
pub fn import<M: ManagedTensorBase>(managed: Managed<M>) -> Result<Tensor> {
    let (validated, dtype, readonly) = {
        let view = managed.validate().map_err(|error| Error::InvalidDLPack {
            reason: error.to_string(),
        })?;
        Device::from_dlpack(view.device())?;
        let dtype = DType::from_dlpack(view.dtype())?;
        if view.ndim() > MAX_NDIM {
            // Before the shape is copied: a corrupt `ndim` may be huge.
            return Err(invalid(format!(
                "ndim {} exceeds the {MAX_NDIM} dimensions dlbridge accepts",
                view.ndim()
            )));
        }
        // Plain loops: the generic `collect` into a `Result` cost more than
        // the rest of the conversion on every import.
        let mut shape = DimVec::<usize>::with_capacity(view.ndim());
        for &size in view.shape() {
            let Ok(size) = usize::try_from(size) else {
                return Err(invalid(format!("negative shape {:?}", view.shape())));
            };
            shape.push(size);
        }
        let strides = match view.strides() {
            Some(given) => {
                let mut strides = DimVec::<isize>::with_capacity(given.len());
                for &stride in given {
                    let Ok(stride) = isize::try_from(stride) else {
                        return Err(invalid(format!("stride out of range in {given:?}")));
                    };
                    strides.push(stride);
                }
                Some(strides)
            }
            None => None,
        };
        let validated = foreign::validate(ForeignMemory {
            origin: "DLPack tensor",
            data: view.data_ptr() as usize,
            byte_offset: view.byte_offset(),
            shape: &shape,
            strides: match &strides {
                Some(strides) => Strides::Elements(strides),
                // Legacy and pre-1.2 producers may send NULL strides for
                // row-major data (DLPack 1.2 made them mandatory).
                None => Strides::RowMajor,
            },
            dtype,
        })?;
        let readonly = managed.flags().contains(DlpackFlags::READ_ONLY);
        (validated, dtype, readonly)
    };
    let extent = Extent::of_layout(&validated.layout, dtype.itemsize());
    // SAFETY: `foreign::validate` checked that every element the layout
    // addresses (offset 0 from `base`) lies in the address space without
    // wrapping; the producer guarantees the memory stays valid until its
    // deleter runs, which the storage calls when dropped, exactly once; the
    // extent is exactly the bytes that layout reaches.
    let storage = unsafe { Storage::imported(validated.base, extent, managed.into_deleter()) };
    // `foreign::validate` made the same checks, in the import's words.
    Tensor::from_parts(Arc::new(storage), validated.layout, dtype, readonly)
}

fn invalid(reason: String) -> Error {
    Error::InvalidDLPack { reason }
}

/// [`import`], for a producer whose memory others can reach (a Python
/// object lives on over it): the tensor is exposed at once
/// ([`Tensor::expose`]), so safe Rust references to it need the interpreter.
/// What the Python layer imports comes through here.
#[cfg_attr(not(feature = "python"), allow(dead_code))]
pub(crate) fn import_reachable<M: ManagedTensorBase>(managed: Managed<M>) -> Result<Tensor> {
    let tensor = import(managed)?;
    tensor.expose()?;
    Ok(tensor)
}

/// Builds a fresh DLPack managed tensor that shares `tensor`'s memory.
///
/// The managed tensor holds a reference to the storage until its deleter
/// runs, so the memory outlives every dlbridge tensor if a consumer still
/// uses it. From then on the memory counts as reachable by others: safe Rust
/// references to it need the interpreter (`docs/rust.md`, "Who may hold a
/// reference"), and the export fails with [`Error::AlreadyBorrowed`] if a
/// Rust guard of it is alive when it is first exposed.
/// `READ_ONLY` is set for read-only tensors; a read-only tensor asked
/// for as a legacy (`DLManagedTensor`) export is refused with
/// [`Error::ReadOnlyLegacyExport`], since that ABI cannot carry the flag.
///
/// ```
/// use dlbridge::{Tensor, dlpack};
/// use dlpark::ffi::DLManagedTensorVersioned;
///
/// let t = Tensor::from_vec(vec![7u8; 4], &[4])?;
/// let address = t.data_ptr();
/// let managed = dlpack::export::<DLManagedTensorVersioned>(&t)?;
/// drop(t); // the managed tensor keeps the memory alive
/// let back = dlpack::import(managed)?;
/// assert_eq!(back.data_ptr(), address);
/// assert_eq!(&*back.as_slice::<u8>()?, &[7; 4]);
/// # Ok::<(), dlbridge::Error>(())
/// ```
///
/// Strides cross as they are, and a read-only tensor only as a versioned one:
///
/// ```
/// use dlbridge::{Error, Tensor, dlpack};
/// use dlpark::ffi::{DLManagedTensor, DLManagedTensorVersioned};
///
/// let t = Tensor::from_vec(vec![1i16, 2, 3, 4], &[2, 2])?;
/// let managed = dlpack::export::<DLManagedTensorVersioned>(&t.transpose_all())?;
/// let described = managed.validate().unwrap();
/// assert_eq!(described.data_ptr().cast(), t.data_ptr());
/// assert_eq!((described.shape(), described.strides()), (&[2, 2][..], Some(&[1, 2][..])));
///
/// let frozen = t.to_readonly();
/// assert!(matches!(
///     dlpack::export::<DLManagedTensor>(&frozen),
///     Err(Error::ReadOnlyLegacyExport)
/// ));
/// let versioned = dlpack::export::<DLManagedTensorVersioned>(&frozen)?;
/// assert!(versioned.flags().contains(dlpark::DlpackFlags::READ_ONLY));
/// # Ok::<(), Error>(())
/// ```
pub fn export<M: ManagedTensorBase>(tensor: &Tensor) -> Result<Managed<M>> {
    let flags = if tensor.is_readonly() {
        DlpackFlags::READ_ONLY
    } else {
        DlpackFlags::empty()
    };
    export_with_flags(tensor, flags)
}

/// Exports a private copy of `tensor`, flagged `IS_COPIED` (DLPack 1.1) so the
/// consumer knows nothing else aliases it: what `__dlpack__(copy=True)` asks
/// for in the Python array API. The copy is C-contiguous and writable, and
/// the legacy ABI gets it without the flag, which it cannot carry. Fails as
/// [`Tensor::deep_copy`] does.
///
/// ```
/// use dlbridge::{Tensor, dlpack};
/// use dlpark::DlpackFlags;
/// use dlpark::ffi::DLManagedTensorVersioned;
///
/// let t = Tensor::from_vec(vec![1.0f64, 2.0], &[2])?.to_readonly();
/// let managed = dlpack::export_copy::<DLManagedTensorVersioned>(&t)?;
/// assert!(managed.flags().contains(DlpackFlags::IS_COPIED));
/// assert!(!managed.flags().contains(DlpackFlags::READ_ONLY));
/// let copy = dlpack::import(managed)?;
/// assert_ne!(copy.data_ptr(), t.data_ptr());
/// assert_eq!(&*copy.as_slice::<f64>()?, &[1.0, 2.0]);
/// # Ok::<(), dlbridge::Error>(())
/// ```
pub fn export_copy<M: ManagedTensorBase>(tensor: &Tensor) -> Result<Managed<M>> {
    export_copy_with(tensor, Participation::Register)
}

/// [`export_copy`], registering the copy's borrow or only checking for one.
pub(crate) fn export_copy_with<M: ManagedTensorBase>(
    tensor: &Tensor,
    participation: Participation,
) -> Result<Managed<M>> {
    let copy = tensor.to_dtype_with(tensor.dtype(), participation)?;
    export_with_flags(&copy, DlpackFlags::IS_COPIED)
}

fn export_with_flags<M: ManagedTensorBase>(
    tensor: &Tensor,
    flags: DlpackFlags,
) -> Result<Managed<M>> {
    // The consumer may write the memory (or read it while Rust writes) from
    // now on, so safe Rust references to it need the interpreter from here.
    tensor.expose()?;
    // dlpark copies shape and strides into the managed tensor's own
    // allocation, converting each to `i64` (which always fits: layouts keep
    // every size and stride within `isize`), so they are lent, not collected
    // into two vectors first (two allocations and frees per export saved).
    let mut initialized = Dynamic::new(tensor.shape(), tensor.strides())
        .initialize_as::<M>(Arc::clone(tensor.storage()))
        .map_err(|error| invalid(error.to_string()))?;
    initialized
        .set_data(tensor.data_ptr().cast_mut().cast())
        .set_dtype(tensor.dtype().to_dlpack())
        .set_device(tensor.device().to_dlpack())
        .set_byte_offset(0);
    // SAFETY: the flags describe this export truthfully: READ_ONLY mirrors the
    // tensor, and IS_COPIED is only passed by `export_copy`, whose tensor is a
    // fresh copy that no one else references.
    unsafe { initialized.set_flags_unchecked(flags) };
    // SAFETY: data, shape and strides come from a valid tensor whose storage
    // the managed tensor's context keeps alive until the deleter runs; the
    // metadata builder provides explicit strides and owns their memory.
    let managed = unsafe { initialized.finish() };
    // The legacy ABI has no flags: a read-only tensor exported through it
    // would come back writable. (Dropping `managed` releases the storage
    // reference it took.)
    if flags.contains(DlpackFlags::READ_ONLY) && !managed.flags().contains(DlpackFlags::READ_ONLY) {
        return Err(Error::ReadOnlyLegacyExport);
    }
    Ok(managed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::Scalar;
    use dlpark::ffi::{DLManagedTensor, DLManagedTensorVersioned};

    #[test]
    fn export_then_import_shares_memory_and_releases_storage_once() {
        let t = Tensor::from_vec(vec![1i32, 2, 3, 4, 5, 6], &[2, 3]).unwrap();
        let storage = Arc::downgrade(t.storage());
        let view = t
            .index(&[crate::IndexItem::Ellipsis, crate::IndexItem::Int(1)])
            .unwrap();
        let managed = export::<DLManagedTensorVersioned>(&view).unwrap();
        drop((t, view));
        assert!(
            storage.upgrade().is_some(),
            "the capsule keeps storage alive"
        );
        let back = import(managed).unwrap();
        assert_eq!(back.shape(), &[2]);
        assert_eq!(back.strides(), &[3]);
        assert_eq!(
            back.to_scalars().unwrap(),
            vec![Scalar::Int(2), Scalar::Int(5)]
        );
        drop(back);
        assert!(
            storage.upgrade().is_none(),
            "released when the importer is gone"
        );
    }

    #[test]
    fn read_only_flag_round_trips_through_the_versioned_abi() {
        let t = Tensor::from_vec(vec![1u8, 2], &[2]).unwrap().to_readonly();
        let managed = export::<DLManagedTensorVersioned>(&t).unwrap();
        assert!(managed.flags().contains(DlpackFlags::READ_ONLY));
        assert!(import(managed).unwrap().is_readonly());
        let legacy = export::<DLManagedTensor>(&Tensor::zeros(DType::Bool, &[0]).unwrap());
        assert!(import(legacy.unwrap()).unwrap().shape() == [0]);
    }

    #[test]
    fn copied_exports_are_flagged_and_fresh() {
        let t = Tensor::from_vec(vec![1.0f64, 2.0], &[2]).unwrap();
        let managed = export_copy::<DLManagedTensorVersioned>(&t).unwrap();
        assert!(managed.flags().contains(DlpackFlags::IS_COPIED));
        let copy = import(managed).unwrap();
        assert_ne!(copy.data_ptr(), t.data_ptr());
    }

    // The storage's reference count is crate-private, so the tests that
    // watch it drop live here rather than in `tests/`.

    #[test]
    fn rust_owned_tensors_round_trip_through_both_abis_for_every_dtype() {
        for dtype in DType::ALL {
            let source = Tensor::zeros(dtype, &[2, 2]).unwrap();
            source.fill(Scalar::Int(1)).unwrap();
            let storage = Arc::downgrade(source.storage());
            let legacy = export::<DLManagedTensor>(&source).unwrap();
            let versioned = export::<DLManagedTensorVersioned>(&source).unwrap();
            let (a, b) = (import(legacy).unwrap(), import(versioned).unwrap());
            assert_eq!((a.dtype(), b.dtype()), (dtype, dtype));
            assert_eq!(a.data_ptr(), source.data_ptr());
            assert_eq!(b.to_scalars().unwrap(), source.to_scalars().unwrap());
            drop((source, a));
            assert!(storage.upgrade().is_some());
            drop(b);
            assert!(storage.upgrade().is_none(), "{dtype}: storage freed once");
        }
    }

    #[test]
    fn from_vec_shares_its_buffer_with_an_exported_capsule() {
        let values: Vec<i64> = (0..6).collect();
        let address = values.as_ptr() as usize;
        let t = Tensor::from_vec(values, &[2, 3]).unwrap();
        assert_eq!(t.data_ptr() as usize, address, "from_vec does not copy");
        let managed = export::<DLManagedTensorVersioned>(&t).unwrap();
        assert_eq!(managed.validate().unwrap().data_ptr() as usize, address);
        let storage = std::sync::Arc::downgrade(t.storage());

        // The tensor goes first: the capsule keeps the Vec alive.
        drop(t);
        assert!(storage.upgrade().is_some());
        let back = import(managed).unwrap();
        assert_eq!(back.view::<i64>().unwrap()[[1, 2]], 5);
        drop(back);
        assert!(storage.upgrade().is_none(), "freed once, by the last user");

        // The capsule goes first: the tensor still owns the Vec.
        let t = Tensor::from_vec(vec![1u8, 2, 3], &[3]).unwrap();
        let storage = std::sync::Arc::downgrade(t.storage());
        drop(export::<DLManagedTensor>(&t).unwrap());
        // Exported once, the memory is no longer Rust's alone: no guard
        // without the interpreter, even after the capsule is gone.
        assert_eq!(t.as_slice::<u8>().unwrap_err(), Error::ReachableFromPython);
        assert_eq!(t.to_scalars().unwrap().len(), 3);
        drop(t);
        assert!(storage.upgrade().is_none());
    }
}
