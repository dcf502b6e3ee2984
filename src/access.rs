//! Typed, borrow-checked access to tensor elements from Rust.
//!
//! Every accessor checks the Rust type against the tensor's dtype, the
//! layout (contiguous for slices, distinct elements for mutable views), the
//! alignment of the data and, for mutable access, that the tensor is not
//! read-only. It then registers a [`Borrow`] of the elements' address range
//! in the process-wide registry, so that no two Rust borrows of the same
//! memory conflict, whichever tensor handles and whichever extension's copy
//! of dlbridge they come through. The guard types hold the borrow and release
//! it when dropped.
//!
//! Who may hold a reference at all is decided by the memory's reach, so
//! that safe code never holds `&[T]` or `&mut [T]` over memory another party
//! can write (a data race, undefined behaviour):
//! - memory only Rust can reach (`from_vec`, `zeros`, a copy, a pure-Rust
//!   DLPack import, never exposed): the guards here, which are `Send`, so
//!   threads and rayon work on them;
//! - memory Python or a DLPack consumer can reach (the storage was exposed,
//!   [`Tensor::expose`]): only guards bound to the interpreter token
//!   (`as_slice_py` and friends in `src/python/attached.rs`, not `Send`);
//!   the accessors here refuse it with [`Error::ReachableFromPython`];
//! - memory in a shared-memory segment, which other processes map: no safe
//!   reference ([`Error::SharedAcrossProcesses`]); copies in and out, or the
//!   `unsafe` unchecked accessors.

use crate::borrow::Borrow;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use ndarray::{ArrayViewD, ArrayViewMutD, Axis, IxDyn, ShapeBuilder};
use std::ops::{Deref, DerefMut};

/// Who asks for a reference, which decides what memory it may reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holder {
    /// Safe code on any thread, with guards that are `Send`: memory only Rust
    /// can reach (made by Rust, never exposed to Python or a DLPack
    /// consumer).
    AnyThread,
    /// Safe code attached to the interpreter, whose guards are bound to the
    /// `Python<'py>` token and are not `Send` (the `python` feature): memory
    /// Python can reach too.
    // Only the Python layer binds guards to the interpreter.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    Attached,
}

/// A shared borrow of a contiguous tensor's elements as `&[T]`.
#[derive(Debug)]
pub struct SliceRef<'a, T> {
    slice: &'a [T],
    _borrow: Borrow,
}

/// An exclusive borrow of a contiguous tensor's elements as `&mut [T]`.
#[derive(Debug)]
pub struct SliceMut<'a, T> {
    slice: &'a mut [T],
    _borrow: Borrow,
}

/// A shared borrow of a tensor of any layout as an [`ArrayViewD`].
#[derive(Debug)]
pub struct ViewRef<'a, T> {
    view: ArrayViewD<'a, T>,
    _borrow: Borrow,
}

/// An exclusive borrow of a tensor of any layout as an [`ArrayViewMutD`].
#[derive(Debug)]
pub struct ViewMut<'a, T> {
    view: ArrayViewMutD<'a, T>,
    _borrow: Borrow,
}

impl<T> Deref for SliceRef<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.slice
    }
}

impl<T> Deref for SliceMut<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.slice
    }
}

impl<T> DerefMut for SliceMut<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.slice
    }
}

impl<'a, T> Deref for ViewRef<'a, T> {
    type Target = ArrayViewD<'a, T>;
    fn deref(&self) -> &ArrayViewD<'a, T> {
        &self.view
    }
}

impl<'a, T> Deref for ViewMut<'a, T> {
    type Target = ArrayViewMutD<'a, T>;
    fn deref(&self) -> &ArrayViewMutD<'a, T> {
        &self.view
    }
}

impl<'a, T> DerefMut for ViewMut<'a, T> {
    fn deref_mut(&mut self) -> &mut ArrayViewMutD<'a, T> {
        &mut self.view
    }
}

impl Tensor {
    /// The elements of a contiguous tensor as a shared slice.
    ///
    /// Fails if `T` is not the tensor's dtype, the tensor is not contiguous,
    /// its data is misaligned for `T`, or Rust code holds a mutable borrow of
    /// any of its memory.
    ///
    /// ```
    /// use dlbridge::{Error, Tensor};
    ///
    /// let t = Tensor::from_vec(vec![1i32, 2, 3, 4], &[2, 2])?;
    /// let values = t.as_slice::<i32>()?;
    /// assert_eq!(&*values, &[1, 2, 3, 4]);
    /// assert_eq!(values.as_ptr().cast(), t.data_ptr()); // the tensor's memory
    /// // Shared borrows coexist.
    /// assert_eq!(t.clone().as_slice::<i32>()?[0], 1);
    ///
    /// assert!(matches!(t.as_slice::<f32>(), Err(Error::DTypeMismatch { .. })));
    /// // A transposed view is not contiguous: use `view` for any layout.
    /// assert!(matches!(t.transpose_all().as_slice::<i32>(), Err(Error::NotContiguous { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn as_slice<T: Element>(&self) -> Result<SliceRef<'_, T>> {
        self.slice_guard(Holder::AnyThread)
    }

    /// [`Tensor::as_slice`] for `holder`.
    pub(crate) fn slice_guard<T: Element>(&self, holder: Holder) -> Result<SliceRef<'_, T>> {
        self.check_slice::<T>()?;
        let borrow = self.acquire(false)?;
        self.check_holder(holder)?;
        self.check_valid_values::<T>()?;
        // SAFETY: dtype, contiguity, alignment and value validity are
        // checked; the storage (kept alive by `&self`) holds `numel` elements
        // from `data_ptr`, and the registered borrow excludes Rust and
        // dlbridge writers, in every extension, while the slice lives, and
        // `check_holder` keeps out memory other parties may write unless the
        // guard is bound to the interpreter (module docs).
        let slice = unsafe { std::slice::from_raw_parts(self.typed_ptr::<T>(), self.numel()) };
        Ok(SliceRef {
            slice,
            _borrow: borrow,
        })
    }

    /// The elements of a contiguous, writable tensor as a mutable slice.
    ///
    /// Fails like [`Tensor::as_slice`], and also if the tensor is read-only or
    /// any Rust borrow of its memory is alive.
    ///
    /// ```
    /// use dlbridge::{Error, Tensor};
    ///
    /// let t = Tensor::from_vec(vec![1.0f64, 2.0], &[2])?;
    /// let alias = t.clone(); // another handle to the same memory
    /// let mut values = t.as_slice_mut::<f64>()?;
    /// values[0] = 10.0;
    /// // While `values` lives, no other Rust borrow of the memory is granted.
    /// assert!(matches!(alias.as_slice::<f64>(), Err(Error::AlreadyBorrowed { .. })));
    /// drop(values);
    /// assert_eq!(alias.as_slice::<f64>()?[0], 10.0);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn as_slice_mut<T: Element>(&self) -> Result<SliceMut<'_, T>> {
        self.slice_mut_guard(Holder::AnyThread)
    }

    /// [`Tensor::as_slice_mut`] for `holder`.
    pub(crate) fn slice_mut_guard<T: Element>(&self, holder: Holder) -> Result<SliceMut<'_, T>> {
        self.check_writable()?;
        self.check_slice::<T>()?;
        let borrow = self.acquire(true)?;
        self.check_holder(holder)?;
        self.check_valid_values::<T>()?;
        // SAFETY: as in `as_slice`; the exclusive borrow keeps every other
        // Rust reader and writer out while the slice lives.
        let slice = unsafe {
            std::slice::from_raw_parts_mut(self.typed_ptr::<T>().cast_mut(), self.numel())
        };
        Ok(SliceMut {
            slice,
            _borrow: borrow,
        })
    }

    /// The elements, in any layout (strided, transposed, reversed,
    /// broadcast), as an `ndarray` view.
    ///
    /// ```
    /// use dlbridge::{IndexItem, Tensor};
    ///
    /// let t = Tensor::from_vec((0..6).collect::<Vec<i64>>(), &[2, 3])?;
    /// let reversed = t.index(&[IndexItem::Ellipsis, IndexItem::Slice {
    ///     start: None,
    ///     stop: None,
    ///     step: Some(-1),
    /// }])?;
    /// let view = reversed.view::<i64>()?;
    /// assert_eq!(view[[0, 0]], 2);
    /// assert_eq!(view.iter().copied().collect::<Vec<_>>(), vec![2, 1, 0, 5, 4, 3]);
    /// drop(view);
    ///
    /// // A live mutable borrow of any handle of the memory refuses the view.
    /// let writing = t.as_slice_mut::<i64>()?;
    /// assert_eq!(
    ///     reversed.view::<i64>().unwrap_err(),
    ///     dlbridge::Error::AlreadyBorrowed { exclusive: false }
    /// );
    /// drop(writing);
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn view<T: Element>(&self) -> Result<ViewRef<'_, T>> {
        self.view_guard(Holder::AnyThread)
    }

    /// [`Tensor::view`] for `holder`.
    pub(crate) fn view_guard<T: Element>(&self, holder: Holder) -> Result<ViewRef<'_, T>> {
        // SAFETY: the view borrows `self`, which keeps the storage alive, and
        // the guard holds the borrow for exactly as long as the view; a guard
        // for an attached holder is bound to the interpreter by the caller.
        let (view, borrow) = unsafe { self.view_unbound::<T>(holder)? };
        Ok(ViewRef {
            view,
            _borrow: borrow,
        })
    }

    /// What [`Tensor::view`] checks and registers, with a view of any
    /// lifetime, for guards that keep a handle on the memory themselves (the
    /// PyO3 argument types of `crate::python`).
    ///
    /// # Safety
    ///
    /// The caller must keep the tensor's storage alive (a handle on this
    /// tensor) and the returned borrow registered for as long as the view is
    /// used, and, for [`Holder::Attached`], use the view only on a thread
    /// attached to the interpreter (a guard that is not `Send`).
    pub(crate) unsafe fn view_unbound<'any, T: Element>(
        &self,
        holder: Holder,
    ) -> Result<(ArrayViewD<'any, T>, Borrow)> {
        self.check_typed::<T>()?;
        let borrow = self.acquire(false)?;
        self.check_holder(holder)?;
        self.check_valid_values::<T>()?;
        let (start, shape, inverted) = self.raw_parts::<T>();
        // SAFETY: dtype, alignment and values are checked; `raw_parts` gives
        // the lowest-addressed corner and non-negative strides; every element
        // lies in the storage (validated on import or allocated here), which
        // the caller keeps alive; the shared borrow excludes Rust writers.
        let mut view = unsafe { ArrayViewD::from_shape_ptr(shape, start) };
        for axis in inverted {
            view.invert_axis(Axis(axis));
        }
        Ok((view, borrow))
    }

    /// The elements of a writable tensor, in any layout whose indices reach
    /// distinct elements, as a mutable `ndarray` view.
    ///
    /// Fails like [`Tensor::view`], and also if the tensor is read-only
    /// ([`Error::ReadOnly`]), if several indices reach one element (a
    /// broadcast view: [`Error::OverlappingElements`]), or if any Rust borrow
    /// of its memory is alive ([`Error::AlreadyBorrowed`]).
    ///
    /// ```
    /// use dlbridge::{Error, Tensor};
    ///
    /// let t = Tensor::from_vec(vec![0i64; 6], &[2, 3])?;
    /// let transposed = t.transpose_all();
    /// {
    ///     let mut view = transposed.view_mut::<i64>()?;
    ///     view[[2, 0]] = 7; // t[0, 2]
    ///     assert!(matches!(t.view::<i64>(), Err(Error::AlreadyBorrowed { .. })));
    /// }
    /// assert_eq!(&*t.as_slice::<i64>()?, &[0, 0, 7, 0, 0, 0]);
    ///
    /// let broadcast = t.broadcast_to(&[4, 2, 3])?;
    /// assert!(matches!(broadcast.view_mut::<i64>(), Err(Error::OverlappingElements { .. })));
    /// assert_eq!(t.to_readonly().view_mut::<i64>().unwrap_err(), Error::ReadOnly);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn view_mut<T: Element>(&self) -> Result<ViewMut<'_, T>> {
        self.view_mut_guard(Holder::AnyThread)
    }

    /// [`Tensor::view_mut`] for `holder`.
    pub(crate) fn view_mut_guard<T: Element>(&self, holder: Holder) -> Result<ViewMut<'_, T>> {
        // SAFETY: as in `view_guard`.
        let (view, borrow) = unsafe { self.view_mut_unbound::<T>(holder)? };
        Ok(ViewMut {
            view,
            _borrow: borrow,
        })
    }

    /// What [`Tensor::view_mut`] checks and registers, with a view of any
    /// lifetime (see [`Tensor::view_unbound`]).
    ///
    /// # Safety
    ///
    /// As for [`Tensor::view_unbound`].
    pub(crate) unsafe fn view_mut_unbound<'any, T: Element>(
        &self,
        holder: Holder,
    ) -> Result<(ArrayViewMutD<'any, T>, Borrow)> {
        self.check_writable()?;
        self.check_typed::<T>()?;
        if !self.layout().has_unique_elements() {
            return Err(Error::OverlappingElements {
                shape: self.shape().to_vec(),
                strides: self.strides().to_vec(),
            });
        }
        let borrow = self.acquire(true)?;
        self.check_holder(holder)?;
        self.check_valid_values::<T>()?;
        let (start, shape, inverted) = self.raw_parts::<T>();
        // SAFETY: as in `view_unbound`; the elements are distinct, so the
        // mutable view does not alias itself, and the exclusive borrow keeps
        // other Rust code out.
        let mut view = unsafe { ArrayViewMutD::from_shape_ptr(shape, start.cast_mut()) };
        for axis in inverted {
            view.invert_axis(Axis(axis));
        }
        Ok((view, borrow))
    }

    /// The elements as a shared slice, without borrow checking.
    ///
    /// Prefer [`Tensor::as_slice`]. The dtype, contiguity, alignment and
    /// `bool` values are still checked, and fail as there; only the borrow
    /// registry is skipped, so the slice neither sees nor blocks other
    /// borrows.
    ///
    /// # Safety
    ///
    /// No one (Rust, Python or a DLPack consumer) may write to these elements
    /// while the slice is alive. The tensor must hold only valid values of
    /// `T` (0 or 1 for `bool`).
    ///
    /// ```
    /// use dlbridge::{Error, Tensor};
    ///
    /// let t = Tensor::from_vec(vec![1u32, 2, 3], &[3])?;
    /// // SAFETY: nothing writes to `t` while `values` lives.
    /// let values = unsafe { t.as_slice_unchecked::<u32>()? };
    /// assert_eq!(values, &[1, 2, 3]);
    /// // The registry does not know of `values`: a checked borrow is granted.
    /// assert!(t.as_slice_mut::<u32>().is_ok());
    /// // SAFETY: the call fails before making a slice.
    /// assert!(matches!(unsafe { t.as_slice_unchecked::<i32>() }, Err(Error::DTypeMismatch { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub unsafe fn as_slice_unchecked<T: Element>(&self) -> Result<&[T]> {
        self.check_slice::<T>()?;
        self.check_valid_values::<T>()?;
        // SAFETY: layout and values checked above; aliasing is the caller's
        // promise.
        Ok(unsafe { std::slice::from_raw_parts(self.typed_ptr::<T>(), self.numel()) })
    }

    /// The elements as a mutable slice, without borrow checking.
    ///
    /// Prefer [`Tensor::as_slice_mut`]. The read-only flag, dtype,
    /// contiguity, alignment and `bool` values are still checked; only the
    /// borrow registry is skipped.
    ///
    /// # Safety
    ///
    /// No one else may read or write these elements while the slice is alive,
    /// and the caller must write only valid values of `T`.
    ///
    /// ```
    /// use dlbridge::{Error, Tensor};
    ///
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0], &[2])?;
    /// {
    ///     // SAFETY: no other access to `t`'s memory while `values` lives.
    ///     let values = unsafe { t.as_slice_mut_unchecked::<f32>()? };
    ///     values[1] = 5.0;
    /// }
    /// assert_eq!(&*t.as_slice::<f32>()?, &[1.0, 5.0]);
    /// // SAFETY: the call fails before making a slice.
    /// let refused = unsafe { t.to_readonly().as_slice_mut_unchecked::<f32>().map(|_| ()) };
    /// assert_eq!(refused, Err(Error::ReadOnly));
    /// # Ok::<(), Error>(())
    /// ```
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn as_slice_mut_unchecked<T: Element>(&self) -> Result<&mut [T]> {
        self.check_writable()?;
        self.check_slice::<T>()?;
        self.check_valid_values::<T>()?;
        // SAFETY: layout and values checked above; exclusivity is the
        // caller's promise.
        Ok(unsafe {
            std::slice::from_raw_parts_mut(self.typed_ptr::<T>().cast_mut(), self.numel())
        })
    }

    /// Refuses memory that `holder` may not reference, checked after the
    /// borrow is registered: a storage exposed meanwhile is then either seen
    /// here or finds the borrow ([`Tensor::expose`]), and one moved into
    /// shared memory meanwhile cannot have moved under the borrow.
    fn check_holder(&self, holder: Holder) -> Result<()> {
        let storage = self.storage();
        if storage.segment().is_some() {
            return Err(Error::SharedAcrossProcesses);
        }
        if holder == Holder::AnyThread && storage.is_reachable() {
            return Err(Error::ReachableFromPython);
        }
        Ok(())
    }

    fn check_writable(&self) -> Result<()> {
        if self.is_readonly() {
            Err(Error::ReadOnly)
        } else {
            Ok(())
        }
    }

    fn check_typed<T: Element>(&self) -> Result<()> {
        if T::DTYPE != self.dtype() {
            return Err(Error::DTypeMismatch {
                expected: T::DTYPE,
                actual: self.dtype(),
            });
        }
        let address = self.data_ptr() as usize;
        let align = std::mem::align_of::<T>();
        if self.numel() > 0 && !address.is_multiple_of(align) {
            return Err(Error::Misaligned {
                address,
                align,
                dtype: self.dtype(),
            });
        }
        Ok(())
    }

    fn check_slice<T: Element>(&self) -> Result<()> {
        self.check_typed::<T>()?;
        if !self.is_contiguous() {
            return Err(Error::NotContiguous {
                shape: self.shape().to_vec(),
                strides: self.strides().to_vec(),
            });
        }
        Ok(())
    }

    /// The first element as `*const T`, or a dangling aligned pointer for an
    /// empty tensor (slices of length 0 need a non-null, aligned pointer).
    fn typed_ptr<T>(&self) -> *const T {
        if self.numel() == 0 {
            std::ptr::NonNull::<T>::dangling().as_ptr()
        } else {
            self.data_ptr().cast()
        }
    }

    /// Refuses a `bool` tensor holding a byte other than 0 or 1: NumPy
    /// arrays can contain such bytes, and a Rust `bool` cannot.
    fn check_valid_values<T: Element>(&self) -> Result<()> {
        if T::DTYPE != DType::Bool {
            return Ok(());
        }
        let mut invalid = None;
        crate::copy::for_each_offset(self.layout(), |offset| {
            // SAFETY: `offset` is an element of the validated layout; the byte
            // is read as a `u8`, which every bit pattern is.
            let byte = unsafe { self.element_ptr(offset).read() };
            if byte > 1 {
                invalid.get_or_insert(byte);
            }
        });
        match invalid {
            Some(byte) => Err(Error::InvalidBool { byte }),
            None => Ok(()),
        }
    }

    /// The pieces of an `ndarray` view of this layout. ndarray wants
    /// non-negative strides, so a reversed axis starts from its last element
    /// and is listed for `invert_axis`, as rust-numpy does.
    fn raw_parts<T: Element>(&self) -> (*const T, ndarray::StrideShape<IxDyn>, Vec<usize>) {
        let mut start = self.data_ptr();
        let mut strides = Vec::with_capacity(self.ndim());
        let mut inverted = Vec::new();
        for (axis, (&size, &stride)) in self.shape().iter().zip(self.strides()).enumerate() {
            if stride < 0 && size > 0 {
                // The last element along this axis is an element of the tensor.
                start =
                    start.wrapping_offset(stride * (size as isize - 1) * self.itemsize() as isize);
                inverted.push(axis);
            }
            strides.push(stride.unsigned_abs());
        }
        let start = if self.numel() == 0 {
            std::ptr::NonNull::<T>::dangling().as_ptr().cast_const()
        } else {
            start.cast::<T>()
        };
        (
            start,
            IxDyn(self.shape()).strides(IxDyn(&strides)),
            inverted,
        )
    }
}
