//! `from_numpy` without a DLPack round trip: the array's own fields are read
//! through rust-numpy, and the tensor keeps a reference to the array.
//!
//! This gives exactly what NumPy's `__dlpack__` would (same pointer, shape,
//! strides and read-only flag), without building and consuming a capsule.

use super::dtype;
use crate::dlpack::first_element_address;
use crate::dtype::DType;
use crate::error::Error;
use crate::layout::{self, Layout};
use crate::storage::Storage;
use crate::tensor::Tensor;
use numpy::npyffi::NPY_ARRAY_WRITEABLE;
use numpy::{PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::PyBufferError;
use pyo3::prelude::*;
use std::sync::Arc;

/// A reference to the array whose memory a storage shares, released through
/// [`super::release_with_gil`] when the storage's last user lets go.
struct ArrayOwner(Option<Py<PyAny>>);

impl Drop for ArrayOwner {
    fn drop(&mut self) {
        if let Some(array) = self.0.take() {
            super::release_with_gil(move || drop(array));
        }
    }
}

/// The dtype of a NumPy array, read from its descriptor.
fn array_dtype(array: &Bound<'_, PyUntypedArray>) -> PyResult<DType> {
    let descr = array.dtype();
    let dtype = match (descr.kind(), descr.itemsize()) {
        (b'b', 1) => Some(DType::Bool),
        (b'i', 1) => Some(DType::Int8),
        (b'i', 2) => Some(DType::Int16),
        (b'i', 4) => Some(DType::Int32),
        (b'i', 8) => Some(DType::Int64),
        (b'u', 1) => Some(DType::UInt8),
        (b'u', 2) => Some(DType::UInt16),
        (b'u', 4) => Some(DType::UInt32),
        (b'u', 8) => Some(DType::UInt64),
        (b'f', 2) => Some(DType::Float16),
        (b'f', 4) => Some(DType::Float32),
        (b'f', 8) => Some(DType::Float64),
        (b'c', 8) => Some(DType::Complex64),
        (b'c', 16) => Some(DType::Complex128),
        _ => None,
    };
    match dtype {
        Some(dtype) if descr.is_native_byteorder() != Some(false) && !descr.has_fields() => {
            Ok(dtype)
        }
        // The slow path names the dtype in its error.
        _ => dtype::descr_to_dtype(descr.as_any()),
    }
}

/// Shares the memory of `array`, keeping the array alive as long as the
/// memory is used.
pub fn import_ndarray(array: &Bound<'_, PyUntypedArray>) -> PyResult<Tensor> {
    let dtype = array_dtype(array)?;
    let itemsize = dtype.itemsize() as isize;
    let shape = array.shape().to_vec();
    let strides = array
        .strides()
        .iter()
        .map(|&bytes| {
            if bytes % itemsize == 0 {
                Ok(bytes / itemsize)
            } else {
                // NumPy's `__dlpack__` refuses the same arrays (a view of a
                // field of a structured array, say).
                Err(PyBufferError::new_err(format!(
                    "strides {:?} (in bytes) are not a multiple of the item size {itemsize}",
                    array.strides()
                )))
            }
        })
        .collect::<PyResult<Vec<isize>>>()?;
    let numel = layout::numel(&shape).ok_or_else(|| Error::TooLarge {
        shape: shape.clone(),
        dtype,
    })?;
    // SAFETY: `array` is a live ndarray, so its struct fields are readable.
    let (data, flags) = unsafe {
        let raw = &*array.as_array_ptr();
        (raw.fields.data as usize, raw.fields.flags)
    };
    let base = first_element_address(data, 0, &shape, &strides, dtype, numel)?;
    let strides = if numel == 0 {
        layout::contiguous_strides(&shape)
    } else {
        strides
    };
    let readonly = flags & NPY_ARRAY_WRITEABLE == 0;
    let owner = ArrayOwner(Some(array.clone().into_any().unbind()));
    // SAFETY: the array owns (or keeps alive, through its base) the memory its
    // fields describe, checked above not to wrap the address space; the
    // storage holds a reference to the array until the last user is gone.
    let storage = unsafe { Storage::kept_alive_by(base, Box::new(owner)) };
    Ok(Tensor::from_parts(
        Arc::new(storage),
        Layout::from_parts(shape, strides, 0),
        dtype,
        readonly,
    ))
}
