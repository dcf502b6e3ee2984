//! [`Tensor`]: shared storage seen through a layout, with a dtype and device.

use crate::borrow::{Borrow, Participation};
use crate::copy;
use crate::device::Device;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::layout::{DimVec, IndexItem, Layout};
use crate::scalar::Scalar;
use crate::storage::Storage;
use std::sync::Arc;

/// An n-dimensional view of typed elements in shared memory.
///
/// A tensor is a handle: its memory is shared, through a reference count, by
/// every tensor and view cut from it and every DLPack managed tensor exported
/// from them, and released once, when the last of them is gone. Views
/// ([`index`](Tensor::index), [`permute`](Tensor::permute),
/// [`broadcast_to`](Tensor::broadcast_to), ...) never copy; the methods that
/// copy ([`deep_copy`](Tensor::deep_copy), [`to_dtype`](Tensor::to_dtype), and
/// [`contiguous`](Tensor::contiguous) when it must) say so.
///
/// # `Clone` is not Python's `clone()`
///
/// Rust's [`Clone`] makes another *handle to the same memory*: cheap,
/// infallible, and a write through one handle is seen through the other, as
/// with a NumPy view. Python's `Tensor.clone()` (like `torch.clone`) makes
/// *fresh memory*; from Rust that is [`Tensor::deep_copy`], which can fail
/// (allocation, a conflicting borrow) and so cannot be `Clone`.
///
/// ```
/// use dlbridge::{Scalar, Tensor};
///
/// let t = Tensor::from_vec(vec![1.0f32, 2.0], &[2])?;
/// let handle = t.clone();
/// let copy = t.deep_copy()?;
/// assert_eq!(handle.data_ptr(), t.data_ptr()); // the same memory
/// assert_ne!(copy.data_ptr(), t.data_ptr()); // fresh memory
///
/// t.fill(Scalar::Float(7.0))?;
/// assert_eq!(handle.to_scalars()?, vec![Scalar::Float(7.0); 2]);
/// assert_eq!(copy.to_scalars()?, vec![Scalar::Float(1.0), Scalar::Float(2.0)]);
/// # Ok::<(), dlbridge::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Tensor {
    storage: Arc<Storage>,
    layout: Layout,
    dtype: DType,
    readonly: bool,
}

impl Tensor {
    /// The one constructor of a tensor: checks that every byte `layout`
    /// addresses with `dtype`'s elements lies inside `storage`, and that its
    /// size in bytes fits `isize` (`crate::bounds`). Everything unsafe that
    /// reads or writes a tensor's elements relies on this check alone.
    ///
    /// Fails with [`Error::TooLarge`] or [`Error::OutOfBounds`]; callers
    /// that import memory map these to their own error.
    #[inline]
    pub(crate) fn from_parts(
        storage: Arc<Storage>,
        layout: Layout,
        dtype: DType,
        readonly: bool,
    ) -> Result<Tensor> {
        crate::bounds::check(&layout, dtype.itemsize(), storage.extent())?;
        Ok(Tensor {
            storage,
            layout,
            dtype,
            readonly,
        })
    }

    /// A new C-contiguous, writable tensor of zeros.
    ///
    /// The memory is aligned to 64 bytes (a cache line, as PyTorch's CPU
    /// allocator gives). Fails with [`Error::RankTooLarge`] for more than
    /// [`MAX_NDIM`](crate::MAX_NDIM) dimensions, with [`Error::TooLarge`] when the byte
    /// size does not fit `isize` (the most Rust allows one allocation), and
    /// with [`Error::OutOfMemory`] when the allocator refuses.
    ///
    /// ```
    /// use dlbridge::{DType, Error, Scalar, Tensor};
    ///
    /// let t = Tensor::zeros(DType::Int16, &[2, 3])?;
    /// assert_eq!((t.shape(), t.strides()), (&[2, 3][..], &[3, 1][..]));
    /// assert_eq!(t.data_ptr() as usize % 64, 0);
    /// assert_eq!(t.to_scalars()?, vec![Scalar::Int(0); 6]);
    ///
    /// assert_eq!(
    ///     Tensor::zeros(DType::Bool, &[1; 65]).unwrap_err(),
    ///     Error::RankTooLarge { ndim: 65 }
    /// );
    /// assert!(matches!(
    ///     Tensor::zeros(DType::Float64, &[usize::MAX / 4, 2]),
    ///     Err(Error::TooLarge { .. })
    /// ));
    /// # Ok::<(), Error>(())
    /// ```
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
        Tensor::from_parts(Arc::new(storage), layout, dtype, false)
    }

    /// Takes ownership of `data` (no copy) as a C-contiguous tensor of
    /// `shape`, with the dtype of `T`.
    ///
    /// The tensor's memory is the `Vec`'s own buffer, dropped with the last
    /// tensor, view or exported managed tensor using it. Fails with
    /// [`Error::LengthMismatch`] when `data.len()` is not the product of
    /// `shape`.
    ///
    /// ```
    /// use dlbridge::{DType, Error, Tensor};
    ///
    /// let values = vec![1u16, 2, 3, 4, 5, 6];
    /// let address = values.as_ptr();
    /// let t = Tensor::from_vec(values, &[2, 3])?;
    /// assert_eq!(t.data_ptr(), address.cast()); // not copied
    /// assert_eq!(t.dtype(), DType::UInt16);
    ///
    /// assert_eq!(
    ///     Tensor::from_vec(vec![1u16, 2, 3], &[2, 2]).unwrap_err(),
    ///     Error::LengthMismatch { len: 3, shape: vec![2, 2], numel: 4 }
    /// );
    /// # Ok::<(), Error>(())
    /// ```
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
        Tensor::from_parts(Arc::new(storage), layout, T::DTYPE, false)
    }

    /// A C-contiguous tensor of `dtype` holding `values` in row-major order.
    ///
    /// Values are converted with [`Scalar::checked_for`]: an integer that does
    /// not fit `dtype` is an error, not a wrapped value (PyTorch refuses
    /// `torch.tensor([300], dtype=torch.uint8)` too). Fails with
    /// [`Error::LengthMismatch`] when there are not as many values as elements.
    ///
    /// ```
    /// use dlbridge::{DType, Error, Scalar, Tensor};
    ///
    /// let values = [Scalar::Int(0), Scalar::Int(255), Scalar::Bool(true), Scalar::Float(2.9)];
    /// let t = Tensor::from_scalars(DType::UInt8, &[2, 2], &values)?;
    /// assert_eq!(&*t.as_slice::<u8>()?, &[0, 255, 1, 2]);
    ///
    /// // 256 does not fit uint8: refused, not wrapped to 0.
    /// let too_big = Tensor::from_scalars(DType::UInt8, &[], &[Scalar::Int(256)]);
    /// assert!(matches!(too_big, Err(Error::Overflow { .. })));
    /// assert!(matches!(
    ///     Tensor::from_scalars(DType::UInt8, &[3], &values),
    ///     Err(Error::LengthMismatch { len: 4, numel: 3, .. })
    /// ));
    /// # Ok::<(), Error>(())
    /// ```
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

    /// Strides in elements (PyTorch's `stride()`, not NumPy's bytes),
    /// negative for reversed views.
    ///
    /// ```
    /// use dlbridge::{IndexItem, Tensor};
    ///
    /// let t = Tensor::from_vec(vec![0i32; 6], &[2, 3])?;
    /// assert_eq!(t.strides(), &[3, 1]);
    /// let reversed = t.index(&[IndexItem::Slice { start: None, stop: None, step: Some(-1) }])?;
    /// assert_eq!(reversed.strides(), &[-3, 1]);
    /// // Its first element is the last row of `t`: 3 elements of 4 bytes on.
    /// assert_eq!(reversed.data_ptr(), t.data_ptr().wrapping_add(12));
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn strides(&self) -> &[isize] {
        self.layout.strides()
    }

    /// The layout (shape, strides and offset into the storage).
    ///
    /// Crate-private: [`shape`](Tensor::shape), [`strides`](Tensor::strides)
    /// and [`data_ptr`](Tensor::data_ptr) are the public view of it.
    pub(crate) fn layout(&self) -> &Layout {
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

    /// Whether the elements are row-major with no gaps (C-contiguous), as
    /// NumPy's `flags.c_contiguous`: size-1 dimensions may have any stride,
    /// and empty tensors qualify.
    pub fn is_contiguous(&self) -> bool {
        self.layout.is_contiguous()
    }

    /// Whether writes are refused (the source was read-only).
    pub fn is_readonly(&self) -> bool {
        self.readonly
    }

    /// The address of the first element, the storage offset included.
    ///
    /// Views of one tensor share memory, so comparing addresses shows whether
    /// two tensors share it (as `data_ptr()` does in PyTorch).
    pub fn data_ptr(&self) -> *const u8 {
        self.element_ptr(self.layout.offset())
    }

    /// The storage shared with other tensors and exported capsules.
    ///
    /// Crate-private: users see the sharing through [`Tensor::data_ptr`] and
    /// the release through the DLPack deleter; the `Arc` is an implementation
    /// detail.
    pub(crate) fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// The storage, with this handle's reference to it (for the Python
    /// layer, which hands it to a NumPy array's base object).
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    pub(crate) fn into_storage(self) -> Arc<Storage> {
        self.storage
    }

    /// The storage (with this handle's reference to it) and the layout, for
    /// the Python layer, which hands both to another compiled copy of
    /// dlbridge without taking a second reference.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    pub(crate) fn into_storage_and_layout(self) -> (Arc<Storage>, Layout) {
        (self.storage, self.layout)
    }

    /// The storage itself (no longer shared) and the layout, when this is
    /// the last handle to the storage: no other tensor, view, exported
    /// capsule, NumPy array or buffer holds it. Otherwise the tensor back,
    /// unchanged. For `Tensor::try_into_array`, which takes the memory back.
    pub(crate) fn try_into_unique_storage(self) -> std::result::Result<(Storage, Layout), Tensor> {
        match Arc::try_unwrap(self.storage) {
            Ok(storage) => Ok((storage, self.layout)),
            Err(storage) => Err(Tensor { storage, ..self }),
        }
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

    /// Registers (or only checks, per `participation`) a borrow of the
    /// elements' bytes where they are once it is held.
    ///
    /// The range is read again after the hold: a storage moved into shared
    /// memory in between ([`Tensor::share_memory`], which registers the old
    /// range exclusively while it copies, so it cannot move while a borrow of
    /// it is held) would otherwise leave the borrow on the old bytes while
    /// the pointers taken next point into the new ones. A storage moves at
    /// most once, so this retries at most once.
    pub(crate) fn hold(
        &self,
        participation: Participation,
        exclusive: bool,
    ) -> Result<Option<Borrow>> {
        // Read before registering: once set the flag stays, so a storage
        // found reachable has had its first exposure, and its references
        // need not be counted for one (`Borrow::acquire_reachable`).
        let reachable = self.storage.is_reachable();
        loop {
            let range = self.byte_range();
            #[cfg(test)]
            tests::between_read_and_hold();
            let held = participation.hold_of(range, exclusive, reachable)?;
            if self.byte_range() == range {
                return Ok(held);
            }
        }
    }

    /// Marks this tensor's memory as reachable by Python or a DLPack
    /// consumer, before it is handed over: from then on, safe Rust references
    /// to it need the interpreter's token (`crate::access`).
    ///
    /// Every export calls it (a `dlbridge.Tensor`, a NumPy array, a DLPack
    /// capsule), and every import through the Python layer. The first
    /// exposure of a storage fails with [`Error::AlreadyBorrowed`] if a Rust
    /// borrow of its memory is alive then: a guard another thread took while
    /// the memory was Rust's alone must not meet a foreign writer. Later
    /// exposures cost one atomic load.
    #[inline]
    pub(crate) fn expose(&self) -> Result<()> {
        // Checked after the flag is set (`Storage::mark_reachable`), so a
        // guard registered from now on sees the flag and is refused; with no
        // Rust borrow in this copy at all (the storage cannot be borrowed
        // elsewhere before it is exposed) the registry is not asked.
        if self.storage.mark_reachable() && crate::borrow::any_rust_borrow() {
            crate::borrow::Borrow::check(self.storage.byte_range(), true)?;
        }
        Ok(())
    }

    /// [`Tensor::hold`], registered: the borrow the typed accessors keep.
    pub(crate) fn acquire(&self, exclusive: bool) -> Result<Borrow> {
        Ok(self
            .hold(Participation::Reference, exclusive)?
            .expect("a registered hold is a borrow"))
    }

    /// The elements of a C-contiguous tensor as a 1-d `uint8` tensor over
    /// the same bytes, with the same read-only flag: every dtype's memory as
    /// a buffer any consumer can take (pickle's out-of-band buffers). `None`
    /// when the tensor is not C-contiguous.
    // Only the Python layer hands memory out as bytes.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    pub(crate) fn contiguous_bytes(&self) -> Option<Tensor> {
        if !self.is_contiguous() {
            return None;
        }
        let itemsize = self.itemsize() as isize;
        // The first element's byte offset from the storage's base; a valid
        // layout keeps it (like every element's) within `isize`.
        let offset = self.layout.offset() * itemsize;
        let layout = Layout::new(&[self.nbytes()], &[1], offset).ok()?;
        Tensor::from_parts(
            Arc::clone(&self.storage),
            layout,
            DType::UInt8,
            self.readonly,
        )
        .ok()
    }

    /// A view of the same memory through `layout`, with the same dtype and
    /// read-only flag; fails when `layout` reaches outside the memory.
    #[inline]
    pub(crate) fn with_layout(&self, layout: Layout) -> Result<Tensor> {
        Tensor::from_parts(Arc::clone(&self.storage), layout, self.dtype, self.readonly)
    }

    /// A view selected by an index expression (`t[1, ::2, ..., None]`), with
    /// NumPy's basic-indexing rules.
    ///
    /// Always shares memory; integer indices remove dimensions, negative ones
    /// count from the end; slices clamp to the dimension like Python's;
    /// [`IndexItem::NewAxis`] adds a dimension of size 1. Fails with
    /// [`Error::IndexOutOfRange`], [`Error::TooManyIndices`],
    /// [`Error::MultipleEllipsis`] or [`Error::ZeroStep`].
    ///
    /// ```
    /// use dlbridge::{Error, IndexItem, Tensor};
    ///
    /// let t = Tensor::from_vec((0..12).collect::<Vec<i32>>(), &[3, 4])?;
    /// // t[-1, ::-2, None]
    /// let v = t.index(&[
    ///     IndexItem::Int(-1),
    ///     IndexItem::Slice { start: None, stop: None, step: Some(-2) },
    ///     IndexItem::NewAxis,
    /// ])?;
    /// assert_eq!(v.shape(), &[2, 1]);
    /// assert_eq!(v.strides(), &[-2, 0]);
    /// assert_eq!(v.data_ptr(), t.data_ptr().wrapping_add(11 * 4)); // t[2, 3]: no copy
    /// assert_eq!(v.view::<i32>()?.iter().copied().collect::<Vec<_>>(), vec![11, 9]);
    ///
    /// assert_eq!(
    ///     t.index(&[IndexItem::Int(3)]).unwrap_err(),
    ///     Error::IndexOutOfRange { index: 3, axis: 0, size: 3 }
    /// );
    /// # Ok::<(), Error>(())
    /// ```
    pub fn index(&self, items: &[IndexItem]) -> Result<Tensor> {
        self.with_layout(self.layout.index(items)?)
    }

    /// A view with dimensions reordered (`order[i]` becomes dimension `i`),
    /// as PyTorch's `permute` and NumPy's `transpose(axes)`: no copy, the
    /// strides move with their dimensions. Fails with
    /// [`Error::InvalidPermutation`] unless `order` holds each dimension once.
    ///
    /// ```
    /// use dlbridge::{Error, Tensor};
    ///
    /// let t = Tensor::zeros(dlbridge::DType::Float32, &[2, 3, 4])?;
    /// let p = t.permute(&[2, 0, 1])?;
    /// assert_eq!((p.shape(), p.strides()), (&[4, 2, 3][..], &[1, 12, 4][..]));
    /// assert_eq!(p.data_ptr(), t.data_ptr());
    /// assert!(!p.is_contiguous());
    ///
    /// assert!(matches!(t.permute(&[0, 0, 1]), Err(Error::InvalidPermutation { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn permute(&self, order: &[usize]) -> Result<Tensor> {
        self.with_layout(self.layout.permute(order)?)
    }

    /// A view with the dimensions reversed (NumPy's and PyTorch's `.T`).
    /// Never fails; a 0- or 1-dimensional tensor comes back as it is.
    ///
    /// ```
    /// use dlbridge::{Scalar, Tensor};
    ///
    /// let t = Tensor::from_vec(vec![1i64, 2, 3, 4, 5, 6], &[2, 3])?;
    /// let transposed = t.transpose_all();
    /// assert_eq!((transposed.shape(), transposed.strides()), (&[3, 2][..], &[1, 3][..]));
    /// assert_eq!(transposed.data_ptr(), t.data_ptr());
    /// let values: Vec<Scalar> = [1, 4, 2, 5, 3, 6].map(Scalar::Int).to_vec();
    /// assert_eq!(transposed.to_scalars()?, values);
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn transpose_all(&self) -> Tensor {
        let order: DimVec<usize> = (0..self.ndim()).rev().collect();
        self.permute(&order)
            .expect("reversed axes are a permutation")
    }

    /// A view of this tensor broadcast to `shape`, with NumPy's rules
    /// (`np.broadcast_to`): dimensions are matched from the right, and a
    /// size-1 or missing dimension is repeated with stride 0, so nothing is
    /// copied. Several indices of the result reach one element, so it cannot
    /// be written to. Fails with [`Error::NotBroadcastable`].
    ///
    /// ```
    /// use dlbridge::{Error, Tensor};
    ///
    /// let row = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3])?;
    /// let grid = row.broadcast_to(&[2, 3])?;
    /// assert_eq!((grid.shape(), grid.strides()), (&[2, 3][..], &[0, 1][..]));
    /// assert_eq!(grid.data_ptr(), row.data_ptr());
    /// assert!(matches!(grid.view_mut::<f64>(), Err(Error::OverlappingElements { .. })));
    ///
    /// assert!(matches!(row.broadcast_to(&[2]), Err(Error::NotBroadcastable { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        self.with_layout(self.layout.broadcast_to(shape)?)
    }

    /// A read-only view of the same memory.
    ///
    /// Writes through the new handle are refused ([`Error::ReadOnly`]); other
    /// handles keep the access they had, so this is a promise about one handle,
    /// not a lock. An export as a versioned DLPack tensor carries the flag.
    ///
    /// ```
    /// use dlbridge::{Error, Scalar, Tensor};
    ///
    /// let t = Tensor::from_vec(vec![1u8, 2], &[2])?;
    /// let frozen = t.to_readonly();
    /// assert!(frozen.is_readonly() && !t.is_readonly());
    /// assert_eq!(frozen.data_ptr(), t.data_ptr());
    /// assert_eq!(frozen.as_slice_mut::<u8>().unwrap_err(), Error::ReadOnly);
    /// assert_eq!(frozen.fill(Scalar::Int(0)).unwrap_err(), Error::ReadOnly);
    ///
    /// // The original handle still writes, and the read-only one sees it.
    /// t.fill(Scalar::Int(9))?;
    /// assert_eq!(&*frozen.as_slice::<u8>()?, &[9, 9]);
    /// // A copy of a read-only tensor is fresh memory, and writable.
    /// assert!(!frozen.deep_copy()?.is_readonly());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn to_readonly(&self) -> Tensor {
        Tensor {
            readonly: true,
            ..self.clone()
        }
    }

    /// A fresh, writable, C-contiguous copy: what Python's `Tensor.clone()`
    /// and `torch.clone` do. Rust's [`Clone`] is different: it makes another
    /// handle to the same memory (see [`Tensor`]).
    ///
    /// Fails when the memory cannot be allocated, or when Rust code holds a
    /// mutable borrow of the source (see [`Tensor::to_dtype`]).
    ///
    /// ```
    /// use dlbridge::{Error, IndexItem, Scalar, Tensor};
    ///
    /// let t = Tensor::from_vec(vec![1i32, 2, 3, 4], &[2, 2])?;
    /// let column = t.index(&[IndexItem::Ellipsis, IndexItem::Int(0)])?;
    /// let copy = column.deep_copy()?;
    /// assert_ne!(copy.data_ptr(), t.data_ptr());
    /// assert!(!column.is_contiguous() && copy.is_contiguous());
    /// t.fill(Scalar::Int(0))?;
    /// assert_eq!(&*copy.as_slice::<i32>()?, &[1, 3]); // unaffected
    ///
    /// let writing = t.as_slice_mut::<i32>()?;
    /// assert!(matches!(column.deep_copy(), Err(Error::AlreadyBorrowed { .. })));
    /// drop(writing);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn deep_copy(&self) -> Result<Tensor> {
        self.to_dtype(self.dtype)
    }

    /// `self` (another handle to the same memory) when already
    /// C-contiguous, else a fresh contiguous copy, as PyTorch's
    /// `contiguous()`. Fails as [`Tensor::deep_copy`] does when it copies.
    ///
    /// ```
    /// use dlbridge::Tensor;
    ///
    /// let t = Tensor::from_vec(vec![1u8, 2, 3, 4, 5, 6], &[2, 3])?;
    /// assert_eq!(t.contiguous()?.data_ptr(), t.data_ptr()); // no copy
    /// let transposed = t.transpose_all();
    /// let packed = transposed.contiguous()?;
    /// assert_ne!(packed.data_ptr(), t.data_ptr()); // copied
    /// assert_eq!(&*packed.as_slice::<u8>()?, &[1, 4, 2, 5, 3, 6]);
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
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
    ///
    /// ```
    /// use dlbridge::{DType, Error, Tensor};
    ///
    /// let t = Tensor::from_vec(vec![2.7f64, -2.7, 300.0], &[3])?;
    /// let ints = t.to_dtype(DType::Int64)?;
    /// assert_eq!(&*ints.as_slice::<i64>()?, &[2, -2, 300]); // toward zero
    /// let bytes = ints.to_dtype(DType::UInt8)?;
    /// assert_eq!(&*bytes.as_slice::<u8>()?, &[2, 254, 44]); // wrapped
    /// assert_ne!(bytes.data_ptr(), ints.data_ptr());
    ///
    /// let writing = t.as_slice_mut::<f64>()?;
    /// assert_eq!(
    ///     t.to_dtype(DType::Float32).unwrap_err(),
    ///     Error::AlreadyBorrowed { exclusive: false }
    /// );
    /// drop(writing);
    /// assert!(t.to_dtype(DType::Float32).is_ok());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        self.to_dtype_with(dtype, Participation::Register)
    }

    /// [`Tensor::to_dtype`], registering a borrow or only checking for one.
    pub(crate) fn to_dtype_with(
        &self,
        dtype: DType,
        participation: Participation,
    ) -> Result<Tensor> {
        let _reading = self.hold(participation, false)?;
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
    ///
    /// ```
    /// use dlbridge::{Error, IndexItem, Tensor};
    ///
    /// let t = Tensor::zeros(dlbridge::DType::Int32, &[2, 3])?;
    /// // t[1] = [1.9, 2.9, 3.9]: broadcast to the row, cast (toward zero).
    /// let row = Tensor::from_vec(vec![1.9f64, 2.9, 3.9], &[3])?;
    /// t.index(&[IndexItem::Int(1)])?.assign(&row)?;
    /// assert_eq!(&*t.as_slice::<i32>()?, &[0, 0, 0, 1, 2, 3]);
    ///
    /// // Overlapping source and destination: as if the source were copied first.
    /// t.index(&[IndexItem::Int(0)])?.assign(&t.index(&[IndexItem::Int(1)])?)?;
    /// assert_eq!(&*t.as_slice::<i32>()?, &[1, 2, 3, 1, 2, 3]);
    ///
    /// assert_eq!(t.to_readonly().assign(&row).unwrap_err(), Error::ReadOnly);
    /// let broadcast = row.broadcast_to(&[2, 3])?;
    /// assert!(matches!(broadcast.assign(&t), Err(Error::OverlappingWrite { .. })));
    /// let reading = t.as_slice::<i32>()?;
    /// assert!(matches!(t.assign(&row), Err(Error::AlreadyBorrowed { .. })));
    /// drop(reading);
    /// # Ok::<(), Error>(())
    /// ```
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
        let _reading = source.hold(participation, false)?;
        let _writing = self.hold(participation, true)?;
        // SAFETY: both layouts are validated against their storage, which the
        // tensors keep alive; `source` was broadcast to this shape and copied
        // first if it overlapped; this tensor is writable (checked above);
        // Rust borrows that conflict are refused by `_reading` and `_writing`.
        unsafe { copy::copy_cast(source.copy_source(), self.copy_destination()) };
        Ok(())
    }

    /// Writes `value` into every element (`t[...] = value`).
    ///
    /// The value is checked against the dtype first, with
    /// [`Scalar::checked_for`] (an integer out of range is an error, as
    /// PyTorch's `fill_` refuses it), then written as [`Tensor::assign`]
    /// writes, with the same failures.
    ///
    /// ```
    /// use dlbridge::{DType, Error, IndexItem, Scalar, Tensor};
    ///
    /// let t = Tensor::zeros(DType::UInt8, &[2, 2])?;
    /// t.index(&[IndexItem::Ellipsis, IndexItem::Int(1)])?.fill(Scalar::Int(7))?;
    /// assert_eq!(&*t.as_slice::<u8>()?, &[0, 7, 0, 7]);
    ///
    /// assert!(matches!(t.fill(Scalar::Int(-1)), Err(Error::Overflow { .. })));
    /// assert_eq!(&*t.as_slice::<u8>()?, &[0, 7, 0, 7]); // nothing written
    /// # Ok::<(), Error>(())
    /// ```
    pub fn fill(&self, value: Scalar) -> Result<()> {
        self.fill_with(value, Participation::Register)
    }

    /// [`Tensor::fill`], registering borrows or only checking for them.
    ///
    /// One element (`t[i] = x`, the usual case) is written in place; any
    /// other count goes through [`Tensor::assign_with`], which needs a
    /// broadcast view of a 0-d source and a check for repeated elements that
    /// one element cannot fail.
    pub(crate) fn fill_with(&self, value: Scalar, participation: Participation) -> Result<()> {
        if self.readonly {
            return Err(Error::ReadOnly);
        }
        let value = value.checked_for(self.dtype)?;
        if self.numel() != 1 {
            let source = Tensor::from_scalars(self.dtype, &[], &[value])?;
            return self.assign_with(&source, participation);
        }
        let _writing = self.hold(participation, true)?;
        // SAFETY: the one element lies inside the storage (the layout was
        // validated against it), which this tensor keeps alive; the tensor is
        // writable (checked above); Rust borrows that conflict are refused by
        // `_writing`; `Scalar::write` needs no alignment.
        unsafe { value.write(self.data_ptr().cast_mut(), self.dtype) };
        Ok(())
    }

    /// Every element in row-major order.
    ///
    /// Fails only if Rust code holds a mutable borrow of the memory; registers
    /// a shared borrow while it reads, as [`Tensor::to_dtype`] does. Each
    /// element becomes the [`Scalar`] variant of its kind (unsigned values
    /// below 2^63 are [`Scalar::Int`]).
    ///
    /// ```
    /// use dlbridge::{Error, Scalar, Tensor};
    ///
    /// let t = Tensor::from_vec(vec![1u64, u64::MAX], &[2])?;
    /// assert_eq!(t.to_scalars()?, vec![Scalar::Int(1), Scalar::UInt(u64::MAX)]);
    ///
    /// let writing = t.as_slice_mut::<u64>()?;
    /// assert!(matches!(t.to_scalars(), Err(Error::AlreadyBorrowed { .. })));
    /// drop(writing);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn to_scalars(&self) -> Result<Vec<Scalar>> {
        self.to_scalars_with(Participation::Register)
    }

    /// [`Tensor::to_scalars`], registering a borrow or only checking for one.
    pub(crate) fn to_scalars_with(&self, participation: Participation) -> Result<Vec<Scalar>> {
        let _reading = self.hold(participation, false)?;
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

    /// The only element of a one-element tensor, of any shape (PyTorch's
    /// `item()`). Fails with [`Error::NotAScalar`] for any other element
    /// count, and as [`Tensor::to_scalars`] does.
    ///
    /// ```
    /// use dlbridge::{Error, Scalar, Tensor};
    ///
    /// let t = Tensor::from_vec(vec![true], &[1, 1])?;
    /// assert_eq!(t.item()?, Scalar::Bool(true));
    ///
    /// let pair = Tensor::from_vec(vec![1.5f32, 2.5], &[2])?;
    /// assert_eq!(pair.item().unwrap_err(), Error::NotAScalar { numel: 2 });
    /// # Ok::<(), Error>(())
    /// ```
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
    use std::cell::RefCell;

    thread_local! {
        /// Run once by `Tensor::hold` on this thread, between reading the
        /// range and registering it: where a move into shared memory by
        /// another thread would land.
        static BETWEEN: RefCell<Option<Box<dyn FnOnce()>>> = const { RefCell::new(None) };
    }

    pub(super) fn between_read_and_hold() {
        if let Some(action) = BETWEEN.with(|between| between.borrow_mut().take()) {
            action();
        }
    }

    /// Every view moves a `Tensor` (and a `Result` of one) by value several
    /// times on its way to Python: kept small, those moves are a few
    /// register-sized copies, not `memcpy` calls that stall on the stores
    /// that just wrote the fields. A bigger tensor cost the bridge benchmarks
    /// up to a quarter of their time.
    #[test]
    fn a_tensor_and_its_result_stay_small() {
        use std::mem::size_of;
        assert!(
            size_of::<super::Tensor>() <= 64,
            "{}",
            size_of::<super::Tensor>()
        );
        assert!(size_of::<crate::Result<super::Tensor>>() <= 96);
    }

    /// Regression test: a storage moved into shared memory between `hold`
    /// reading the range and registering the borrow must not leave the
    /// borrow on the bytes left behind while the operation's pointers go to
    /// the segment.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_hold_follows_a_move_made_while_it_registers() {
        use crate::borrow::{Borrow, Participation};
        let t = Tensor::from_vec(vec![1.0f64; 8], &[8]).unwrap();
        let old = t.byte_range();
        let mover = t.clone();
        BETWEEN.with(|between| {
            *between.borrow_mut() = Some(Box::new(move || mover.share_memory().unwrap()));
        });
        let held = t.hold(Participation::Register, true).unwrap();
        assert!(t.is_shared(), "the move happened during the hold");
        let new = t.byte_range();
        assert_ne!(new, old);
        // The borrow is on the bytes the tensor uses now, and only there.
        assert!(Borrow::check(new, false).is_err());
        assert!(Borrow::check(old, true).is_ok());
        drop(held);
        assert!(Borrow::check(new, true).is_ok());
    }

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

    /// One element is written in place, without the broadcast `assign`
    /// does: it must keep `assign`'s checks, borrows included.
    #[test]
    fn a_one_element_fill_keeps_the_checks_of_assign() {
        let t = arange(6, &[2, 3]);
        let element = t.index(&[IndexItem::Int(1), IndexItem::Int(2)]).unwrap();
        assert_eq!(element.numel(), 1);
        {
            let _reading = t.as_slice::<i64>().unwrap();
            assert!(matches!(
                element.fill(Scalar::Int(9)),
                Err(Error::AlreadyBorrowed { .. })
            ));
        }
        assert!(matches!(
            element.fill(Scalar::Float(f64::NAN)),
            Err(Error::Overflow { .. })
        ));
        assert_eq!(
            element.to_readonly().fill(Scalar::Int(9)),
            Err(Error::ReadOnly)
        );
        assert_eq!(ints(&t), vec![0, 1, 2, 3, 4, 5]);
        element.fill(Scalar::Float(-7.9)).unwrap();
        assert_eq!(ints(&t), vec![0, 1, 2, 3, 4, -7]);
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
