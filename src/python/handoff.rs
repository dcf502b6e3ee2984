//! Tensors handed from one compiled copy of dlbridge to another: how an
//! extension built on dlbridge returns a `dlbridge.Tensor`.
//!
//! An extension links its own copy of this crate, so the tensor it returns
//! must become an instance of the installed package's class (`boundary.rs`).
//! Through DLPack, that costs a managed tensor built by one copy, then parsed
//! and validated by the other as foreign memory it knows nothing about, and a
//! second release on the way back: more than the rest of the call.
//! Both copies are dlbridge, and the installed one publishes a table for the
//! others, as the borrow registry does (`registry.rs`): a capsule on
//! `dlbridge._dlbridge` holding a versioned, `repr(C)` [`HandoffApi`] whose
//! `wrap` takes a storage and a layout as plain parts ([`TensorParts`]) and
//! returns the `dlbridge.Tensor`. No Rust type crosses (separately compiled
//! copies share no layouts), only C types and C functions.
//!
//! What the receiving copy trusts, and what it checks: it trusts the sender
//! to be dlbridge, so that the extent it names is memory its owner keeps
//! valid (what an extension's own storage is, by that copy's invariants; the
//! capsule is named, and a forged one could do no more than a forged DLPack
//! capsule or `ctypes` can). It skips re-parsing a descriptor, and keeps the
//! one layout gate: the parts become a layout through `Layout::new` and a
//! tensor through `Tensor::from_parts`, whose bounds check holds every
//! element to that extent, and an extent that wraps the address space is
//! refused. Memory dlbridge did not make still enters only through
//! `foreign::validate`.

use super::error;
use super::tensor::PyTensor;
use crate::dtype::DType;
use crate::error::Error;
use crate::layout::{self, Layout};
use crate::storage::{Extent, ReleasedBy, Storage};
use crate::tensor::Tensor;
use dlpark::ffi::DLDataType;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyCapsule, PyModule};
use std::ffi::{CStr, c_void};
use std::ptr::NonNull;
use std::sync::Arc;

/// The module whose capsule every copy reads.
const MODULE: &str = "dlbridge._dlbridge";
/// The attribute holding the capsule.
const ATTRIBUTE: &str = "_TENSOR_HANDOFF_API";
/// The capsule's name, checked before its pointer is used.
const CAPSULE_NAME: &CStr = c"dlbridge._dlbridge._TENSOR_HANDOFF_API";

/// The version of [`HandoffApi`] this copy publishes and needs. A later
/// version may only append fields to the table (and to [`TensorParts`],
/// with a new entry point that takes them), so a table of this version or
/// newer starts with every field this copy knows.
const VERSION: u64 = 1;

/// The table the installed dlbridge publishes.
#[repr(C)]
pub(super) struct HandoffApi {
    /// [`VERSION`] of the copy that published it.
    version: u64,
    /// Makes a `dlbridge.Tensor` of the installed package from `parts`,
    /// taking charge of `parts.owner`: released exactly once, on failure
    /// too. Returns a new reference, or NULL with an exception set.
    ///
    /// Called with the thread attached, `parts` valid for the call.
    wrap: unsafe extern "C" fn(parts: *const TensorParts) -> *mut ffi::PyObject,
}

/// A tensor taken apart into C types: its storage (as `storage.rs` keeps
/// it: a base address and the extent of bytes around it any view may
/// reach), its layout in elements from that base, and the owner that keeps
/// the bytes valid.
#[repr(C)]
pub(super) struct TensorParts {
    /// The storage's base address.
    base: *mut u8,
    /// The first byte a view may reach, relative to `base`.
    extent_start: isize,
    /// How many bytes from there a view may reach.
    extent_len: usize,
    /// `ndim` sizes.
    shape: *const usize,
    /// `ndim` strides, in elements.
    strides: *const isize,
    /// The number of dimensions.
    ndim: usize,
    /// The element offset of the first element from `base`.
    offset: isize,
    /// The element type, as DLPack codes it.
    dtype: DLDataType,
    /// Whether writes are refused.
    readonly: bool,
    /// What keeps the bytes valid, let go by `release(owner)`.
    owner: *mut c_void,
    /// Releases `owner`: once, from any thread, with or without the
    /// interpreter.
    release: unsafe extern "C" fn(*mut c_void),
}

/// This copy's table.
static API: HandoffApi = HandoffApi {
    version: VERSION,
    wrap,
};

/// Publishes this copy's table on its own module (the installed dlbridge).
pub(super) fn publish(module: &Bound<'_, PyModule>) -> PyResult<()> {
    // SAFETY: the table is a static, so it outlives the capsule.
    let capsule = unsafe {
        PyCapsule::new_with_pointer(module.py(), NonNull::from(&API).cast(), CAPSULE_NAME)
    }?;
    // An attribute, not `add`: private, so not in the module's `__all__`.
    module.setattr(ATTRIBUTE, capsule)
}

/// The installed dlbridge's table, looked up once; `None` for an installed
/// version without one (or an older one), whose DLPack routes then serve.
pub(super) fn installed(py: Python<'_>) -> Option<&'static HandoffApi> {
    static TABLE: PyOnceLock<Option<&'static HandoffApi>> = PyOnceLock::new();
    *TABLE.get_or_init(py, || {
        let capsule = py.import(MODULE).ok()?.getattr(ATTRIBUTE).ok()?;
        let capsule = capsule.cast_into::<PyCapsule>().ok()?;
        let pointer = capsule.pointer_checked(Some(CAPSULE_NAME)).ok()?;
        // SAFETY: a capsule of this name points to a `HandoffApi` of some
        // version, and every version starts with its `u64` version field.
        let version = unsafe { pointer.cast::<u64>().read() };
        if version < VERSION {
            return None;
        }
        // The table lives in the installed module, loaded for good once
        // imported; keeping the capsule keeps it so even if the attribute
        // is replaced.
        std::mem::forget(capsule);
        // SAFETY: a table of this version or newer starts with every field
        // of this copy's `HandoffApi`, and lives as long as the process.
        Some(unsafe { pointer.cast::<HandoffApi>().as_ref() })
    })
}

/// Returns `tensor` to Python as a `dlbridge.Tensor` made by the copy that
/// published `api`, sharing its memory: that copy holds a reference to this
/// copy's storage until its own storage is dropped.
pub(super) fn hand_off<'py>(
    api: &HandoffApi,
    py: Python<'py>,
    tensor: Tensor,
) -> PyResult<Bound<'py, PyAny>> {
    // Python can reach the memory from now on.
    tensor.expose()?;
    let (dtype, readonly) = (tensor.dtype(), tensor.is_readonly());
    let (storage, layout) = tensor.into_storage_and_layout();
    let (base, extent) = (storage.base(), storage.extent());
    let parts = TensorParts {
        base,
        extent_start: extent.start,
        extent_len: extent.len,
        shape: layout.shape().as_ptr(),
        strides: layout.strides().as_ptr(),
        ndim: layout.ndim(),
        offset: layout.offset(),
        dtype: dtype.to_dlpack(),
        readonly,
        // The tensor's own reference, now the receiver's.
        owner: Arc::into_raw(storage).cast_mut().cast(),
        release: release_storage,
    };
    // SAFETY: the thread is attached (`py`); `parts` describes a valid
    // tensor (its storage kept valid by the reference in `owner`, which
    // `release_storage` drops once) and is valid for the call.
    let object = unsafe { (api.wrap)(&parts) };
    // SAFETY: `wrap` returns a new reference, or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, object) }
}

/// Drops the storage reference [`hand_off`] lent as an owner.
///
/// # Safety
///
/// `owner` is that reference, released once.
unsafe extern "C" fn release_storage(owner: *mut c_void) {
    // SAFETY: `Arc::into_raw` of a storage in `hand_off`; released once.
    drop(unsafe { Arc::from_raw(owner.cast_const().cast::<Storage>()) });
}

/// [`HandoffApi::wrap`] of this copy.
///
/// # Safety
///
/// The thread is attached and `parts` is valid for the call.
unsafe extern "C" fn wrap(parts: *const TensorParts) -> *mut ffi::PyObject {
    // SAFETY: the caller's contract.
    let parts = unsafe { &*parts };
    // From here the owner is released exactly once, whatever happens: by
    // the storage, or by this guard if the storage is never made (an error,
    // or a panic unwinding through `adopt`).
    // SAFETY: `TensorParts::release`'s documented contract.
    let owner = unsafe { ReleasedBy::new(parts.owner, parts.release) };
    // SAFETY: the thread is attached.
    unsafe { error::c_entry(|py| Ok(adopt(py, parts, owner)?.into_any())) }
}

/// Builds this copy's tensor on the parts: the layout through
/// `Layout::new`, the tensor through `Tensor::from_parts` (the one bounds
/// check).
fn adopt(py: Python<'_>, parts: &TensorParts, owner: ReleasedBy) -> PyResult<Py<PyTensor>> {
    let dtype = DType::from_dlpack(parts.dtype)?;
    let invalid = |reason: String| Error::InvalidMemory {
        origin: "tensor handed over by another copy of dlbridge",
        reason,
    };
    // Before the count and the pointers are used to read the arrays.
    layout::check_ndim(parts.ndim)?;
    let (shape, strides): (&[usize], &[isize]) = if parts.ndim == 0 {
        (&[], &[])
    } else if parts.shape.is_null() || parts.strides.is_null() {
        return Err(invalid(format!(
            "NULL shape or strides for {} dimensions",
            parts.ndim
        ))
        .into());
    } else {
        // SAFETY: the sender's arrays (not NULL, checked above) hold `ndim`
        // entries each and are valid for the call.
        unsafe {
            (
                std::slice::from_raw_parts(parts.shape, parts.ndim),
                std::slice::from_raw_parts(parts.strides, parts.ndim),
            )
        }
    };
    let layout = Layout::new(shape, strides, parts.offset)?;
    let base = NonNull::new(parts.base).ok_or_else(|| invalid("NULL base address".into()))?;
    let extent = Extent {
        start: parts.extent_start,
        len: parts.extent_len,
    };
    let wraps = (base.as_ptr() as usize)
        .checked_add_signed(extent.start)
        .and_then(|first| first.checked_add(extent.len))
        .is_none_or(|end| end > isize::MAX as usize);
    if wraps {
        return Err(invalid(format!(
            "extent of {} bytes at {} from {:p} wraps the address space",
            extent.len, extent.start, base
        ))
        .into());
    }
    // SAFETY: the sender is dlbridge, whose storage's extent is memory its
    // owner keeps valid until released (module documentation); it does not
    // wrap the address space (checked above).
    let storage = unsafe { Storage::released_by(base, extent, owner) };
    let tensor = Tensor::from_parts(Arc::new(storage), layout, dtype, parts.readonly)?;
    PyTensor::wrap(py, tensor)
}
