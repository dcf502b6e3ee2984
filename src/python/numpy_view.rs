//! A NumPy array's fields as the parts of a typed `ndarray` view, read with
//! no allocation and no `Tensor`: the common typed argument (an `ndarray`
//! of exactly the element type and rank asked for) at rust-numpy's cost.
//!
//! This is a shortcut, never a second gate: it answers only for arrays it
//! can prove sound from their fields, and `None` for everything else, which
//! then goes the general way (`ndarray.rs` and `foreign::validate`), where
//! a refusal is also worded.

use super::dtype;
use crate::dtype::{DType, Element};
use crate::layout::MAX_NDIM;
use ndarray::{ArrayView, ArrayViewMut, Axis, Dimension, ShapeBuilder};
use numpy::npyffi::{self, NPY_ARRAY_C_CONTIGUOUS, NPY_ARRAY_F_CONTIGUOUS, NPY_ARRAY_WRITEABLE};
use numpy::{PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use std::ptr::NonNull;

/// What a matching array gives: the lowest-addressed element, the shape and
/// the strides' magnitudes in elements (as `ndarray` takes them), the axes
/// whose strides are negative, and the byte range the elements span (`None`
/// when there are none).
pub(crate) struct ViewParts<T, D> {
    /// The element at the lowest address (dangling for an empty array).
    pub ptr: *mut T,
    /// The size of each dimension.
    pub shape: D,
    /// Each stride's magnitude, in elements.
    pub strides: D,
    /// Bit `i` set: axis `i` runs towards lower addresses.
    pub inverted: u64,
    /// `[start, end)` in bytes, for the borrow registry.
    pub range: Option<(usize, usize)>,
}

/// The view parts of `obj` when it is exactly a `numpy.ndarray` (a subclass
/// may override `__dlpack__`, which then decides) of dtype `T` and rank
/// `D`, whose elements are aligned for `T` and whose strides are whole
/// elements; also C-contiguous when `contiguous`, and writable with distinct
/// elements (NumPy's C- or F-contiguous flag) when `writable`. `None`
/// otherwise, and for `bool`, whose bytes must each be checked to be 0 or 1.
pub(crate) fn view_parts<T: Element, D: Dimension>(
    obj: &Bound<'_, PyAny>,
    contiguous: bool,
    writable: bool,
) -> Option<ViewParts<T, D>> {
    let py = obj.py();
    if T::DTYPE == DType::Bool {
        return None;
    }
    // SAFETY: `obj` is a live object; the check reads its type only.
    if unsafe { npyffi::PyArray_CheckExact(py, obj.as_ptr()) } == 0 {
        return None;
    }
    // SAFETY: just checked to be exactly an ndarray.
    let array = unsafe { obj.cast_unchecked::<PyUntypedArray>() };
    if dtype::descr_to_dtype(&array.dtype()).ok()? != T::DTYPE {
        return None;
    }
    // SAFETY: `array` is a live ndarray, so its struct fields are readable,
    // and `dimensions` and `strides` hold `nd` entries each (NumPy's
    // `PyArrayObject`); they are only read while the caller holds the GIL
    // and `obj`, so NumPy cannot change them meanwhile.
    let (data, flags, dims, byte_strides) = unsafe {
        let raw = &(*array.as_array_ptr()).fields;
        let nd = usize::try_from(raw.nd).ok()?;
        if nd == 0 {
            (raw.data as usize, raw.flags, &[][..], &[][..])
        } else {
            (
                raw.data as usize,
                raw.flags,
                std::slice::from_raw_parts(raw.dimensions, nd),
                std::slice::from_raw_parts(raw.strides, nd),
            )
        }
    };
    let ndim = dims.len();
    if ndim > MAX_NDIM || D::NDIM.is_some_and(|expected| expected != ndim) {
        return None;
    }
    if writable
        && (flags & NPY_ARRAY_WRITEABLE == 0
            || flags & (NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_F_CONTIGUOUS) == 0)
    {
        return None;
    }
    let itemsize = std::mem::size_of::<T>() as isize;
    let mut shape = D::zeros(ndim);
    let mut strides = D::zeros(ndim);
    let mut inverted = 0u64;
    let (mut low, mut high, mut numel) = (0isize, 0isize, 1usize);
    for axis in 0..ndim {
        let size = usize::try_from(dims[axis]).ok()?;
        let bytes = byte_strides[axis];
        shape[axis] = size;
        numel = numel.checked_mul(size)?;
        // A length-0 or length-1 dimension never moves, and NumPy allows
        // any stride there; a stride of 0 keeps it out of the arithmetic.
        if size > 1 {
            if bytes % itemsize != 0 {
                return None;
            }
            let reach = bytes.checked_mul(size as isize - 1)?;
            if reach < 0 {
                low = low.checked_add(reach)?;
                inverted |= 1 << axis;
            } else {
                high = high.checked_add(reach)?;
            }
            strides[axis] = (bytes / itemsize).unsigned_abs();
        }
    }
    // ndarray's own limit on a view (NumPy keeps arrays within it too).
    if numel > isize::MAX as usize {
        return None;
    }
    if contiguous && !is_c_contiguous(dims, byte_strides, itemsize, numel) {
        return None;
    }
    if numel == 0 {
        return Some(ViewParts {
            ptr: NonNull::dangling().as_ptr(),
            shape,
            strides: D::zeros(ndim),
            inverted: 0,
            range: None,
        });
    }
    // Every element lies in `[data + low, data + high + itemsize)`: refused
    // here (and left to the general way's wording) if that wraps the
    // address space, or if the first element is misaligned for `T` (the
    // strides being whole elements, the others then are too).
    let start = data.checked_add_signed(low)?;
    let end = data
        .checked_add_signed(high)?
        .checked_add(itemsize as usize)?;
    if data == 0
        || end - start > isize::MAX as usize
        || !start.is_multiple_of(std::mem::align_of::<T>())
    {
        return None;
    }
    Some(ViewParts {
        ptr: start as *mut T,
        shape,
        strides,
        inverted,
        range: Some((start, end)),
    })
}

/// Row-major with no gaps, ignoring length-1 dimensions (as NumPy's flag
/// and `ndarray`'s `is_standard_layout` do); an empty array is.
fn is_c_contiguous(dims: &[isize], byte_strides: &[isize], itemsize: isize, numel: usize) -> bool {
    if numel == 0 {
        return true;
    }
    let mut expected = itemsize;
    for (&size, &stride) in dims.iter().zip(byte_strides).rev() {
        if size != 1 {
            if stride != expected {
                return false;
            }
            let Some(next) = expected.checked_mul(size) else {
                return false;
            };
            expected = next;
        }
    }
    true
}

impl<T, D: Dimension> ViewParts<T, D> {
    /// The view the parts describe, with its negative-stride axes restored.
    ///
    /// # Safety
    ///
    /// The array the parts were read from must stay alive, unchanged in
    /// shape, for `'a`, and no one may write its elements meanwhile (the
    /// caller holds a shared borrow of `range` and the GIL).
    pub(crate) unsafe fn into_view<'a>(self) -> ArrayView<'a, T, D> {
        let ndim = self.shape.ndim();
        // SAFETY: `view_parts` checked that every element reached from `ptr`
        // through these non-negative strides lies in the array's memory,
        // aligned and without wrapping; the caller keeps it alive and
        // unwritten.
        let mut view =
            unsafe { ArrayView::from_shape_ptr(self.shape.strides(self.strides), self.ptr) };
        for axis in (0..ndim).filter(|axis| self.inverted & (1 << axis) != 0) {
            view.invert_axis(Axis(axis));
        }
        view
    }

    /// The mutable view the parts describe.
    ///
    /// # Safety
    ///
    /// As [`ViewParts::into_view`], with parts read with `writable` (so the
    /// elements are distinct and NumPy lets them be written), and no one
    /// else may read or write the elements meanwhile (the caller holds an
    /// exclusive borrow of `range` and the GIL).
    pub(crate) unsafe fn into_view_mut<'a>(self) -> ArrayViewMut<'a, T, D> {
        let ndim = self.shape.ndim();
        // SAFETY: as in `into_view`; C- or F-contiguous memory (checked for
        // a writable view) reaches each element once.
        let mut view =
            unsafe { ArrayViewMut::from_shape_ptr(self.shape.strides(self.strides), self.ptr) };
        for axis in (0..ndim).filter(|axis| self.inverted & (1 << axis) != 0) {
            view.invert_axis(Axis(axis));
        }
        view
    }
}
