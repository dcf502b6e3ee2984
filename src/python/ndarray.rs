//! `from_numpy` without a DLPack round trip: the array's own fields are read
//! through rust-numpy, and the tensor keeps a reference to the array.
//!
//! This gives exactly what NumPy's `__dlpack__` would (same pointer, shape,
//! strides and read-only flag), without building and consuming a capsule.

use super::dtype;
use super::gil;
use crate::foreign::{self, ForeignMemory, Strides};
use crate::storage::{Extent, Storage};
use crate::tensor::Tensor;
use numpy::npyffi::NPY_ARRAY_WRITEABLE;
use numpy::{PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use std::sync::Arc;

/// A reference to the array whose memory a storage shares, released through
/// [`gil::release_with_gil`] when the storage's last user lets go.
struct ArrayOwner(Option<Py<PyAny>>);

impl Drop for ArrayOwner {
    fn drop(&mut self) {
        if let Some(array) = self.0.take() {
            gil::release_with_gil(move || drop(array));
        }
    }
}

/// Shares the memory of `array`, keeping the array alive as long as the
/// memory is used.
pub fn import_ndarray(array: &Bound<'_, PyUntypedArray>) -> PyResult<Tensor> {
    let dtype = dtype::descr_to_dtype(&array.dtype())?;
    // SAFETY: `array` is a live ndarray, so its struct fields are readable.
    let (data, flags) = unsafe {
        let raw = &*array.as_array_ptr();
        (raw.fields.data as usize, raw.fields.flags)
    };
    // The same gate as every other way memory enters; NumPy's `__dlpack__`
    // refuses the same arrays (byte strides that are not a multiple of the
    // item size, on dimensions longer than 1).
    let validated = foreign::validate(ForeignMemory {
        origin: "NumPy array",
        data,
        byte_offset: 0,
        shape: array.shape(),
        strides: Strides::Bytes(array.strides()),
        dtype,
    })?;
    let readonly = flags & NPY_ARRAY_WRITEABLE == 0;
    let owner = ArrayOwner(Some(array.clone().into_any().unbind()));
    let extent = Extent::of_layout(&validated.layout, dtype.itemsize());
    // SAFETY: the array owns (or keeps alive, through its base) the memory its
    // fields describe, checked above not to wrap the address space; the
    // storage holds a reference to the array until the last user is gone.
    let storage = unsafe { Storage::kept_alive_by(validated.base, extent, Box::new(owner)) };
    // `foreign::validate` made the same checks, in the import's words.
    Ok(Tensor::from_parts(
        Arc::new(storage),
        validated.layout,
        dtype,
        readonly,
    )?)
}
