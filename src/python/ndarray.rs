//! `from_numpy` without a DLPack round trip: the array's own fields are read
//! through rust-numpy, and the tensor keeps a reference to the array.
//!
//! This gives exactly what NumPy's `__dlpack__` would (same pointer, shape,
//! strides and read-only flag), without building and consuming a capsule.

use super::dtype;
use crate::dtype::DType;
use crate::foreign::{self, ForeignMemory, Strides};
use crate::storage::Storage;
use crate::tensor::Tensor;
use numpy::npyffi::NPY_ARRAY_WRITEABLE;
use numpy::{PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
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
        shape: array.shape().to_vec(),
        strides: Strides::Bytes(array.strides().to_vec()),
        dtype,
    })?;
    let readonly = flags & NPY_ARRAY_WRITEABLE == 0;
    let owner = ArrayOwner(Some(array.clone().into_any().unbind()));
    // SAFETY: the array owns (or keeps alive, through its base) the memory its
    // fields describe, checked above not to wrap the address space; the
    // storage holds a reference to the array until the last user is gone.
    let storage = unsafe { Storage::kept_alive_by(validated.base, Box::new(owner)) };
    Ok(Tensor::from_parts(
        Arc::new(storage),
        validated.layout,
        dtype,
        readonly,
    ))
}
