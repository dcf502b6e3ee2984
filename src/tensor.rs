//! [`Tensor`]: shared storage seen through a layout, with a dtype and device.

use crate::borrow::Participation;
use crate::copy;
use crate::device::Device;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::layout::{IndexItem, Layout};
use crate::scalar::Scalar;
use crate::storage::Storage;
use std::sync::Arc;

/// An n-dimensional view of typed elements in shared memory.
///
/// Cloning a `Tensor` (the Rust `Clone`) makes another handle to the same
/// memory, like a NumPy view; [`Tensor::deep_copy`] makes fresh memory.
#[derive(Debug, Clone)]
pub struct Tensor {
    storage: Arc<Storage>,
    layout: Layout,
    dtype: DType,
    readonly: bool,
}

impl Tensor {
    /// Builds a tensor from validated parts.
    ///
    /// Every element the layout addresses must lie within `storage`.
    pub(crate) fn from_parts(
        storage: Arc<Storage>,
        layout: Layout,
        dtype: DType,
        readonly: bool,
    ) -> Tensor {
        Tensor {
            storage,
            layout,
            dtype,
            readonly,
        }
    }

    /// A new C-contiguous tensor of zeros.
    pub fn zeros(dtype: DType, shape: &[usize]) -> Result<Tensor> {
        Tensor::allocate(dtype, shape, Storage::zeroed)
    }

    /// A C-contiguous tensor whose memory is not initialised: only for
    /// results that are written in full before they are returned.
    pub(crate) fn uninit(dtype: DType, shape: &[usize]) -> Result<Tensor> {
        Tensor::allocate(dtype, shape, Storage::uninit)
    }

    fn allocate(
        dtype: DType,
        shape: &[usize],
        allocator: fn(usize) -> Option<Storage>,
    ) -> Result<Tensor> {
        let too_large = || Error::TooLarge {
            shape: shape.to_vec(),
        };
        crate::layout::check_ndim(shape.len())?;
        let layout = Layout::contiguous(shape).ok_or_else(too_large)?;
        let bytes = layout
            .numel()
            .checked_mul(dtype.itemsize())
            .filter(|&b| isize::try_from(b).is_ok())
            .ok_or_else(too_large)?;
        let storage = allocator(bytes).ok_or_else(|| Error::OutOfMemory {
            bytes,
            shape: shape.to_vec(),
        })?;
        Ok(Tensor::from_parts(Arc::new(storage), layout, dtype, false))
    }

    /// Takes ownership of `data` (no copy) as a C-contiguous tensor of `shape`.
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        crate::layout::check_ndim(shape.len())?;
        let layout = Layout::contiguous(shape).ok_or_else(|| Error::TooLarge {
            shape: shape.to_vec(),
        })?;
        if layout.numel() != data.len() {
            return Err(Error::LengthMismatch {
                len: data.len(),
                shape: shape.to_vec(),
                numel: layout.numel(),
            });
        }
        let storage = Storage::from_vec(data);
        Ok(Tensor::from_parts(
            Arc::new(storage),
            layout,
            T::DTYPE,
            false,
        ))
    }

    /// A C-contiguous tensor of `dtype` holding `values` in row-major order.
    ///
    /// Values are converted with [`Scalar::checked_for`]: an integer that does
    /// not fit `dtype` is an error, not a wrapped value.
    pub fn from_scalars(dtype: DType, shape: &[usize], values: &[Scalar]) -> Result<Tensor> {
        let tensor = Tensor::zeros(dtype, shape)?;
        if values.len() != tensor.numel() {
            return Err(Error::LengthMismatch {
                len: values.len(),
                shape: shape.to_vec(),
                numel: tensor.numel(),
            });
        }
        let itemsize = dtype.itemsize();
        for (i, value) in values.iter().enumerate() {
            let value = value.checked_for(dtype)?;
            // SAFETY: the tensor is freshly allocated, contiguous and holds
            // `numel` elements, so element `i` is in bounds and unaliased.
            unsafe { value.write(tensor.data_ptr().cast_mut().add(i * itemsize), dtype) };
        }
        Ok(tensor)
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The device holding the memory.
    pub fn device(&self) -> Device {
        Device::Cpu
    }

    /// The size of each dimension.
    pub fn shape(&self) -> &[usize] {
        self.layout.shape()
    }

    /// Strides in elements (PyTorch's `stride()`), negative for reversed views.
    pub fn strides(&self) -> &[isize] {
        self.layout.strides()
    }

    /// The layout (shape, strides and offset into the storage).
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The number of dimensions.
    pub fn ndim(&self) -> usize {
        self.layout.ndim()
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.layout.numel()
    }

    /// Size of one element in bytes.
    pub fn itemsize(&self) -> usize {
        self.dtype.itemsize()
    }

    /// `numel() * itemsize()`: the bytes the elements occupy (as NumPy's
    /// `nbytes`, not counting gaps between strided elements).
    pub fn nbytes(&self) -> usize {
        // Saturates for broadcast views larger than memory, which have no
        // byte count of their own.
        self.numel().saturating_mul(self.itemsize())
    }

    /// Whether the elements are row-major with no gaps (see
    /// [`Layout::is_contiguous`]).
    pub fn is_contiguous(&self) -> bool {
        self.layout.is_contiguous()
    }

    /// Whether writes are refused (the source was read-only).
    pub fn is_readonly(&self) -> bool {
        self.readonly
    }

    /// The address of the first element, the storage offset included.
    pub fn data_ptr(&self) -> *const u8 {
        self.element_ptr(self.layout.offset())
    }

    /// The storage shared with other tensors and exported capsules.
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// The address of the element at `offset` elements from the storage base.
    pub(crate) fn element_ptr(&self, offset: isize) -> *const u8 {
        // `wrapping_offset`: an empty view may point one past its storage,
        // and computing (not dereferencing) such an address must be defined.
        self.storage
            .base()
            .wrapping_offset(offset.wrapping_mul(self.itemsize() as isize))
    }

    /// This tensor's elements as a copy kernel reads them.
    fn copy_source(&self) -> copy::Source<'_> {
        copy::Source {
            data: self.data_ptr(),
            layout: self.layout(),
            dtype: self.dtype(),
        }
    }

    /// This tensor's elements as a copy kernel writes them. Writing through
    /// it is for callers that checked the read-only flag.
    fn copy_destination(&self) -> copy::Destination<'_> {
        debug_assert!(!self.readonly, "a copy into a read-only tensor");
        copy::Destination {
            data: self.data_ptr().cast_mut(),
            layout: self.layout(),
            dtype: self.dtype(),
        }
    }

    /// The byte range `[low, high)` the elements occupy, or `None` if empty.
    pub(crate) fn byte_range(&self) -> Option<(usize, usize)> {
        let (low, high) = self.layout.span()?;
        let low = self.element_ptr(low) as usize;
        let high = self.element_ptr(high) as usize + self.itemsize();
        Some((low, high))
    }

    /// A view with the same memory and a new layout and read-only flag.
    fn with_layout(&self, layout: Layout) -> Tensor {
        Tensor::from_parts(Arc::clone(&self.storage), layout, self.dtype, self.readonly)
    }

    /// A view selected by an index expression (`t[1, ::2, ..., None]`).
    /// Always shares memory; integer indices remove dimensions.
    pub fn index(&self, items: &[IndexItem]) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.index(items)?))
    }

    /// A view with dimensions reordered (`order[i]` becomes dimension `i`).
    pub fn permute(&self, order: &[usize]) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.permute(order)?))
    }

    /// A view with the dimensions reversed (NumPy's and PyTorch's `.T`).
    pub fn transpose_all(&self) -> Tensor {
        let order: Vec<usize> = (0..self.ndim()).rev().collect();
        self.permute(&order)
            .expect("reversed axes are a permutation")
    }

    /// A view of this tensor broadcast to `shape`, NumPy rules.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.broadcast_to(shape)?))
    }

    /// The same memory seen as another dtype of the same item size (the bits
    /// are reinterpreted, not converted), like NumPy's `view(dtype)`.
    pub fn reinterpret(&self, dtype: DType) -> Result<Tensor> {
        if dtype.itemsize() != self.dtype.itemsize() {
            return Err(Error::DTypeMismatch {
                expected: dtype,
                actual: self.dtype,
            });
        }
        Ok(Tensor {
            dtype,
            ..self.clone()
        })
    }

    /// A read-only view of the same memory.
    pub fn to_readonly(&self) -> Tensor {
        Tensor {
            readonly: true,
            ..self.clone()
        }
    }

    /// A fresh, writable, C-contiguous copy.
    pub fn deep_copy(&self) -> Result<Tensor> {
        self.to_dtype(self.dtype)
    }

    /// `self` when already contiguous, else a contiguous copy.
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            Ok(self.clone())
        } else {
            self.deep_copy()
        }
    }

    /// A fresh, writable, C-contiguous copy converted to `dtype` (integers
    /// wrap, floats truncate toward zero, as PyTorch's `.to()`).
    ///
    /// Registers a shared borrow of the source while it reads: this call may
    /// run on any thread, with or without the GIL, and the borrow keeps a
    /// `SliceMut` taken meanwhile on another thread from aliasing the read.
    /// Fails if Rust code holds a mutable borrow of the memory.
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        self.to_dtype_with(dtype, Participation::Register)
    }

    /// [`Tensor::to_dtype`], registering a borrow or only checking for one.
    pub(crate) fn to_dtype_with(
        &self,
        dtype: DType,
        participation: Participation,
    ) -> Result<Tensor> {
        let _reading = participation.hold(self.byte_range(), false)?;
        let fresh = Tensor::uninit(dtype, self.shape())?;
        // SAFETY: both layouts are validated against their storage, which the
        // tensors keep alive; `fresh` has the same shape, is new (so distinct
        // from `self` and seen by no one else) and is written in full here.
        // Rust borrows of `self` conflicting with this read are refused by
        // `_reading`.
        unsafe { copy::copy_cast(self.copy_source(), fresh.copy_destination()) };
        Ok(fresh)
    }

    /// Writes `source`, broadcast to this tensor's shape and cast to its
    /// dtype, into this tensor's memory.
    ///
    /// Fails without writing anything when this tensor is read-only, when
    /// several of its indices reach the same memory (a broadcast view), when
    /// the shapes do not broadcast, or when Rust code holds a borrow that
    /// conflicts (any borrow of this tensor's memory, a mutable one of the
    /// source's). Overlapping memory behaves as if `source` had been copied
    /// first. Registers its borrows while it copies, as [`Tensor::to_dtype`]
    /// does.
    pub fn assign(&self, source: &Tensor) -> Result<()> {
        self.assign_with(source, Participation::Register)
    }

    /// [`Tensor::assign`], registering borrows or only checking for them.
    pub(crate) fn assign_with(&self, source: &Tensor, participation: Participation) -> Result<()> {
        if self.readonly {
            return Err(Error::ReadOnly);
        }
        // Several indices reaching one element (an imported `expand()` or
        // broadcast view) would keep whichever write came last; torch refuses
        // such writes, and so does dlbridge, before writing anything.
        if !self.layout.has_unique_elements() {
            return Err(Error::OverlappingWrite {
                shape: self.shape().to_vec(),
                strides: self.strides().to_vec(),
            });
        }
        // NumPy drops leading length-1 dimensions of the value first, so
        // `t[:] = ones((1, n))` fills a length-n `t`.
        let mut source = source.clone();
        while source.ndim() > self.ndim() && source.shape()[0] == 1 {
            source = source.index(&[IndexItem::Int(0)])?;
        }
        let source = source.broadcast_to(self.shape())?;
        let overlaps = match (source.byte_range(), self.byte_range()) {
            (Some((a0, a1)), Some((b0, b1))) => a0 < b1 && b0 < a1,
            _ => false,
        };
        let source = if overlaps {
            source
                .to_dtype_with(source.dtype, participation)?
                .broadcast_to(self.shape())?
        } else {
            source
        };
        let _reading = participation.hold(source.byte_range(), false)?;
        let _writing = participation.hold(self.byte_range(), true)?;
        // SAFETY: both layouts are validated against their storage, which the
        // tensors keep alive; `source` was broadcast to this shape and copied
        // first if it overlapped; this tensor is writable (checked above);
        // Rust borrows that conflict are refused by `_reading` and `_writing`.
        unsafe { copy::copy_cast(source.copy_source(), self.copy_destination()) };
        Ok(())
    }

    /// Writes `value` into every element (`t[...] = value`).
    pub fn fill(&self, value: Scalar) -> Result<()> {
        // `from_scalars` checks the value against the dtype.
        self.assign(&Tensor::from_scalars(self.dtype, &[], &[value])?)
    }

    /// Every element in row-major order.
    ///
    /// Fails only if Rust code holds a mutable borrow of the memory; registers
    /// a shared borrow while it reads, as [`Tensor::to_dtype`] does.
    pub fn to_scalars(&self) -> Result<Vec<Scalar>> {
        self.to_scalars_with(Participation::Register)
    }

    /// [`Tensor::to_scalars`], registering a borrow or only checking for one.
    pub(crate) fn to_scalars_with(&self, participation: Participation) -> Result<Vec<Scalar>> {
        let _reading = participation.hold(self.byte_range(), false)?;
        self.read_scalars()
    }

    /// Every element in row-major order, with no look at the registry: for
    /// callers that already hold or checked a borrow of the memory. Fails
    /// only when the vector cannot be allocated.
    pub(crate) fn read_scalars(&self) -> Result<Vec<Scalar>> {
        let mut values = Vec::new();
        values
            .try_reserve_exact(self.numel())
            .map_err(|_| Error::OutOfMemory {
                bytes: self.numel().saturating_mul(std::mem::size_of::<Scalar>()),
                shape: self.shape().to_vec(),
            })?;
        copy::for_each_offset(self.layout(), |offset| {
            // SAFETY: `offset` is an element of this tensor's validated layout.
            values.push(unsafe { Scalar::read(self.element_ptr(offset), self.dtype) });
        });
        Ok(values)
    }

    /// The only element of a one-element tensor.
    pub fn item(&self) -> Result<Scalar> {
        self.item_with(Participation::Register)
    }

    /// [`Tensor::item`], registering a borrow or only checking for one.
    pub(crate) fn item_with(&self, participation: Participation) -> Result<Scalar> {
        if self.numel() != 1 {
            return Err(Error::NotAScalar {
                numel: self.numel(),
            });
        }
        Ok(self.to_scalars_with(participation)?[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arange(n: i64, shape: &[usize]) -> Tensor {
        Tensor::from_vec((0..n).collect::<Vec<i64>>(), shape).unwrap()
    }

    fn ints(t: &Tensor) -> Vec<i64> {
        t.to_scalars()
            .unwrap()
            .into_iter()
            .map(|s| match s {
                Scalar::Int(v) => v,
                other => panic!("not an int: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn deep_copies_are_fresh_contiguous_and_row_major() {
        let t = arange(6, &[2, 3]);
        let copy = t.transpose_all().deep_copy().unwrap();
        assert!(copy.is_contiguous() && !copy.is_readonly());
        assert_eq!(copy.shape(), &[3, 2]);
        assert_eq!(ints(&copy), vec![0, 3, 1, 4, 2, 5]);
        assert!(!Arc::ptr_eq(copy.storage(), t.storage()));
        let readonly = t.to_readonly().deep_copy().unwrap();
        assert!(!readonly.is_readonly());
    }

    #[test]
    fn cast_copy_converts_every_element() {
        let t = Tensor::from_vec(vec![1.9f64, -1.9, 300.0], &[3]).unwrap();
        let as_u8 = t.to_dtype(DType::UInt8).unwrap();
        assert_eq!(ints(&as_u8), vec![1, 255, 44]);
        let as_f16 = t.to_dtype(DType::Float16).unwrap();
        assert_eq!(as_f16.to_scalars().unwrap()[2], Scalar::Float(300.0));
    }

    #[test]
    fn assign_broadcasts_and_handles_overlap() {
        let t = arange(5, &[5]);
        let head = t
            .index(&[IndexItem::Slice {
                start: None,
                stop: Some(-1),
                step: None,
            }])
            .unwrap();
        let tail = t
            .index(&[IndexItem::Slice {
                start: Some(1),
                stop: None,
                step: None,
            }])
            .unwrap();
        tail.assign(&head).unwrap();
        assert_eq!(ints(&t), vec![0, 0, 1, 2, 3]);

        let grid = Tensor::zeros(DType::Int32, &[2, 3]).unwrap();
        grid.assign(&Tensor::from_vec(vec![7i32, 8, 9], &[3]).unwrap())
            .unwrap();
        assert_eq!(ints(&grid), vec![7, 8, 9, 7, 8, 9]);
    }

    #[test]
    fn failed_assignments_write_nothing() {
        let t = arange(3, &[3]);
        assert!(matches!(
            t.assign(&arange(2, &[2])),
            Err(Error::NotBroadcastable { .. })
        ));
        assert_eq!(
            t.to_readonly().assign(&arange(3, &[3])),
            Err(Error::ReadOnly)
        );
        let grid = arange(6, &[2, 3]);
        let broadcast = grid
            .index(&[IndexItem::Int(0)])
            .unwrap()
            .broadcast_to(&[2, 3]);
        assert!(matches!(
            broadcast.unwrap().assign(&grid),
            Err(Error::OverlappingWrite { .. })
        ));
        assert_eq!(ints(&t), vec![0, 1, 2]);
        assert_eq!(ints(&grid), vec![0, 1, 2, 3, 4, 5]);
        let small = Tensor::zeros(DType::Int8, &[2]).unwrap();
        assert!(matches!(
            small.fill(Scalar::Int(128)),
            Err(Error::Overflow { .. })
        ));
        assert_eq!(ints(&small), vec![0, 0]);
        t.fill(Scalar::Int(1 << 40)).unwrap();
        assert_eq!(ints(&t), vec![1 << 40; 3]);
    }

    #[test]
    fn zero_dim_and_empty_tensors_read_as_scalars() {
        let scalar = Tensor::from_vec(vec![42i64], &[]).unwrap();
        assert_eq!(scalar.item().unwrap(), Scalar::Int(42));
        let empty = Tensor::zeros(DType::Float32, &[0, 3]).unwrap();
        assert!(empty.to_scalars().unwrap().is_empty());
        assert_eq!(empty.item(), Err(Error::NotAScalar { numel: 0 }));
    }
}
