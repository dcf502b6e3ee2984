//! The module-level functions that make tensors: `from_numpy`,
//! `as_tensor`, `tensor`, `from_dlpack`, `frombuffer`, `clone`, and the
//! rebuilding of pickled tensors.
//!
//! They follow PyTorch's zero-copy contract: `from_numpy`, `as_tensor`,
//! `from_dlpack` and `frombuffer` share their source's memory; `tensor` and
//! `clone` always copy.

use super::buffer;
use super::device;
use super::dlpack_import;
use super::dtype::{extract_dtype, optional_dtype};
use super::gil::copy_to;
use super::index;
use super::ndarray;
use super::nested;
use super::scalar;
use super::tensor::PyTensor;
use super::tensor_arguments;
use crate::dtype::DType;
use crate::layout::DimVec;
use crate::scalar::Scalar;
use crate::tensor::Tensor;
use numpy::PyUntypedArray;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// Shares a NumPy array's memory (any `numpy.ndarray`, subclasses included).
#[pyfunction]
pub fn from_numpy(py: Python<'_>, array: &Bound<'_, PyAny>) -> PyResult<Py<PyTensor>> {
    let Ok(array) = array.cast::<PyUntypedArray>() else {
        return Err(PyTypeError::new_err(format!(
            "expected np.ndarray (got {})",
            array.get_type().name()?
        )));
    };
    PyTensor::wrap(py, ndarray::import_ndarray(array)?)
}

/// Shares memory with any DLPack producer when `dtype` is None or already
/// matches; otherwise (Python scalars and lists, dtype changes) copies.
#[pyfunction]
#[pyo3(signature = (obj, dtype=None))]
pub fn as_tensor(
    obj: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyTensor>> {
    let py = obj.py();
    let dtype = optional_dtype(dtype)?;
    if let Ok(tensor) = obj.cast::<PyTensor>()
        && dtype.is_none_or(|d| d == tensor.get().inner.dtype())
    {
        return Ok(tensor.clone().unbind());
    }
    let fast = dlpack_import::try_import_fast(obj)?;
    let tensor = if fast.is_some() || dlpack_import::is_dlpack_source(obj)? {
        let shared = match fast {
            Some(tensor) => tensor,
            None => dlpack_import::import_any(obj)?,
        };
        match dtype {
            Some(dtype) if dtype != shared.dtype() => copy_to(py, &shared, dtype)?,
            _ => shared,
        }
    } else {
        nested::tensor_from_nested(obj, dtype)?
    };
    PyTensor::wrap(py, tensor)
}

/// Always copies into fresh, writable, C-contiguous memory.
#[pyfunction]
#[pyo3(signature = (obj, dtype=None))]
pub fn tensor(obj: &Bound<'_, PyAny>, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyTensor>> {
    let py = obj.py();
    let dtype = optional_dtype(dtype)?;
    let tensor = if dlpack_import::is_dlpack_source(obj)? {
        let shared = dlpack_import::import_copy(obj)?;
        copy_to(py, &shared, dtype.unwrap_or(shared.dtype()))?
    } else {
        nested::tensor_from_nested(obj, dtype)?
    };
    PyTensor::wrap(py, tensor)
}

/// Imports a DLPack producer or capsule (array API `from_dlpack`).
#[pyfunction]
#[pyo3(signature = (obj, *, device=None, copy=None))]
pub fn from_dlpack(
    obj: &Bound<'_, PyAny>,
    device: Option<&Bound<'_, PyAny>>,
    copy: Option<bool>,
) -> PyResult<Py<PyTensor>> {
    device::check_device(device)?;
    let shared = dlpack_import::import(obj, copy)?;
    let tensor = if copy == Some(true) {
        copy_to(obj.py(), &shared, shared.dtype())?
    } else {
        shared
    };
    PyTensor::wrap(obj.py(), tensor)
}

/// `dlbridge.frombuffer`: a 1-d tensor sharing the memory of any object with
/// the buffer protocol (bytes, bytearray, array.array, mmap, memoryview), as
/// `torch.frombuffer` does. Read-only buffers give read-only tensors.
#[pyfunction]
#[pyo3(signature = (buffer, dtype, count=-1, offset=0))]
#[pyo3(text_signature = "(buffer, dtype, count=-1, offset=0)")]
pub fn frombuffer(
    buffer: &Bound<'_, PyAny>,
    dtype: &Bound<'_, PyAny>,
    count: isize,
    offset: isize,
) -> PyResult<Py<PyTensor>> {
    let dtype = extract_dtype(dtype)?;
    PyTensor::wrap(
        buffer.py(),
        buffer::import_buffer(buffer, dtype, count, offset)?,
    )
}

/// A deep copy of a tensor (`t.clone()`).
#[pyfunction]
pub fn clone(py: Python<'_>, tensor: &Bound<'_, PyAny>) -> PyResult<Py<PyTensor>> {
    let Ok(tensor) = tensor.cast::<PyTensor>() else {
        return Err(PyTypeError::new_err(format!(
            "clone() expects a dlbridge.Tensor, got {}",
            tensor.get_type().name()?
        )));
    };
    let inner = &tensor.get().inner;
    PyTensor::wrap(py, copy_to(py, inner, inner.dtype())?)
}

/// Rebuilds a pickled tensor from its row-major bytes (see `__reduce__`,
/// protocols 0 to 4): one copy, into fresh memory.
#[pyfunction]
#[pyo3(name = "_from_pickle")]
pub fn from_pickle(
    py: Python<'_>,
    data: &[u8],
    dtype: &str,
    shape: Vec<i128>,
    readonly: bool,
) -> PyResult<Py<PyTensor>> {
    let (dtype, shape) = pickled_layout(dtype, &shape, data.len())?;
    let tensor = Tensor::uninit(dtype, &shape)?;
    // SAFETY: the tensor is fresh and contiguous with exactly `data.len()`
    // bytes, and no one else can reach it.
    unsafe {
        std::ptr::copy_nonoverlapping(data.as_ptr(), tensor.data_ptr().cast_mut(), data.len())
    };
    PyTensor::wrap(py, with_readonly(tensor, readonly))
}

/// Rebuilds a tensor pickled with protocol 5 (see `__reduce_ex__`) from the
/// buffer pickle gives back: out of band, whatever the consumer handed
/// `pickle.loads` (a `PickleBuffer`, Ray's or Dask's shared memory), and in
/// band a `bytes` or `bytearray`. The buffer is adopted without copying and
/// held for as long as the tensor's memory is used; the tensor is read-only
/// when the pickled one was or when the buffer is (Ray's object store hands
/// out read-only memory).
#[pyfunction]
#[pyo3(name = "_from_pickle_buffer")]
pub fn from_pickle_buffer(
    py: Python<'_>,
    buffer: &Bound<'_, PyAny>,
    dtype: &str,
    shape: Vec<i128>,
    readonly: bool,
) -> PyResult<Py<PyTensor>> {
    let held = buffer::hold_c_contiguous(buffer, "a pickled tensor")?;
    let (dtype, shape) = pickled_layout(dtype, &shape, held.len_bytes())?;
    let tensor = if held.len_bytes() == 0 {
        // Nothing to share: an empty tensor owns no bytes.
        Tensor::zeros(dtype, &shape)?
    } else {
        buffer::adopt_buffer(held, dtype, &shape)?
    };
    let readonly = readonly || tensor.is_readonly();
    PyTensor::wrap(py, with_readonly(tensor, readonly))
}

/// Rebuilds a shared tensor another process sent through `multiprocessing`
/// (see `Tensor._shared_handle`): the segment behind `fd`, a descriptor this
/// call takes ownership of (it is closed on failure), mapped again. The
/// description is untrusted: the segment must be a sealed memory file that
/// holds every byte it reaches.
#[pyfunction]
#[pyo3(name = "_from_shared")]
pub fn from_shared(
    py: Python<'_>,
    fd: i32,
    offset: &Bound<'_, PyAny>,
    shape: &Bound<'_, PyAny>,
    strides: &Bound<'_, PyAny>,
    dtype: &Bound<'_, PyAny>,
    readonly: &Bound<'_, PyAny>,
) -> PyResult<Py<PyTensor>> {
    use std::os::fd::{FromRawFd, OwnedFd};
    if fd < 0 {
        return Err(PyValueError::new_err(format!(
            "invalid file descriptor {fd}"
        )));
    }
    // SAFETY: the caller hands this descriptor over (multiprocessing's
    // `DupFd.detach()` gives one that no one else owns); it is closed when the
    // tensor's storage, or any error below, drops it. The other arguments
    // are converted only now, so that a bad one closes it too.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let offset: u64 = offset.extract()?;
    let shape: Vec<i128> = shape.extract()?;
    let strides: Vec<isize> = strides.extract()?;
    let dtype = DType::from_name(dtype.extract::<&str>()?)?;
    let readonly: bool = readonly.extract()?;
    let Ok(shape) = shape
        .iter()
        .map(|&size| usize::try_from(size))
        .collect::<Result<Vec<usize>, _>>()
    else {
        return Err(PyValueError::new_err(format!(
            "invalid shape {shape:?} for a shared tensor"
        )));
    };
    crate::layout::check_ndim(shape.len())?;
    let tensor = Tensor::from_shared_handle(fd, offset, shape, strides, dtype, readonly)?;
    PyTensor::wrap(py, tensor)
}

/// Checks a pickle's dtype and shape against the bytes it carries, before
/// anything is allocated or adopted: a pickle is untrusted input.
fn pickled_layout(dtype: &str, shape: &[i128], nbytes: usize) -> PyResult<(DType, Vec<usize>)> {
    let dtype = DType::from_name(dtype)?;
    if let Some(&size) = shape.iter().find(|&&size| size < 0) {
        return Err(PyValueError::new_err(format!(
            "negative dimension {size} in shape {shape:?}"
        )));
    }
    let mismatch = || {
        PyValueError::new_err(format!(
            "{nbytes} bytes cannot hold a {dtype} tensor of shape {shape:?}"
        ))
    };
    let Ok(shape) = shape
        .iter()
        .map(|&size| usize::try_from(size))
        .collect::<Result<Vec<usize>, _>>()
    else {
        return Err(mismatch());
    };
    crate::layout::check_ndim(shape.len())?;
    let expected = crate::layout::numel(&shape).and_then(|n| n.checked_mul(dtype.itemsize()));
    if expected != Some(nbytes) {
        return Err(mismatch());
    }
    Ok((dtype, shape))
}

fn with_readonly(tensor: Tensor, readonly: bool) -> Tensor {
    if readonly {
        tensor.to_readonly()
    } else {
        tensor
    }
}

/// A shape for a new tensor, as torch takes one: `f(2, 3)`, `f((2, 3))` or
/// `f([2, 3])`; a negative size is torch's `RuntimeError`.
fn new_shape(size: &Bound<'_, PyTuple>) -> PyResult<DimVec<usize>> {
    let shape = index::shape_arguments(size)?;
    if let Some(&negative) = shape.iter().find(|&&size| size < 0) {
        return Err(crate::Error::InvalidShape {
            reason: format!(
                "Trying to create tensor with negative dimension {negative}: {shape:?}"
            ),
        }
        .into());
    }
    let shape: DimVec<usize> = shape.iter().map(|&size| size as usize).collect();
    crate::layout::check_ndim(shape.len())?;
    Ok(shape)
}

/// A tensor of `shape` and `dtype` (float32 when not given, as torch's
/// default) with every element `value`.
fn filled(shape: &[usize], dtype: Option<DType>, value: Option<Scalar>) -> PyResult<Tensor> {
    let dtype =
        dtype.unwrap_or_else(|| value.map_or(DType::Float32, |v| DType::default_for(v.kind())));
    let tensor = Tensor::zeros(dtype, shape)?;
    if let Some(value) = value {
        tensor.fill(value)?;
    }
    Ok(tensor)
}

/// `db.zeros(*size, dtype=None)`: a new tensor of zeros (float32 unless
/// `dtype` says otherwise), as torch's `zeros`.
#[pyfunction]
#[pyo3(signature = (*size, dtype=None))]
pub fn zeros(
    size: &Bound<'_, PyTuple>,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyTensor>> {
    let tensor = filled(&new_shape(size)?, optional_dtype(dtype)?, None)?;
    PyTensor::wrap(size.py(), tensor)
}

/// `db.ones(*size, dtype=None)`: a new tensor of ones, as torch's `ones`.
#[pyfunction]
#[pyo3(signature = (*size, dtype=None))]
pub fn ones(size: &Bound<'_, PyTuple>, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyTensor>> {
    let dtype = optional_dtype(dtype)?.unwrap_or(DType::Float32);
    let tensor = filled(&new_shape(size)?, Some(dtype), Some(Scalar::Int(1)))?;
    PyTensor::wrap(size.py(), tensor)
}

/// `db.empty(*size, dtype=None)`: a new tensor, as torch's `empty`. Its
/// memory is zeroed, where torch leaves it unset: Rust may not read memory
/// that was never written, and the kernel hands out zeroed pages anyway.
#[pyfunction]
#[pyo3(signature = (*size, dtype=None))]
pub fn empty(
    size: &Bound<'_, PyTuple>,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyTensor>> {
    zeros(size, dtype)
}

/// `db.full(size, fill_value, dtype=None)`: a new tensor with every element
/// `fill_value`, as torch's `full`; the dtype follows the value when not
/// given (bool, int64, float32 or complex64).
#[pyfunction]
#[pyo3(signature = (size, fill_value, *, dtype=None))]
pub fn full(
    size: &Bound<'_, PyAny>,
    fill_value: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyTensor>> {
    let py = size.py();
    let shape = new_shape(&PyTuple::new(py, [size])?)?;
    let value = scalar::extract_scalar(fill_value)?;
    PyTensor::wrap(py, filled(&shape, optional_dtype(dtype)?, Some(value))?)
}

/// A new tensor like `input` (any tensor dlbridge can import): its shape,
/// its dtype unless `dtype` says otherwise, and torch's `preserve_format`
/// layout (a transposed source gives a transposed result), with every
/// element `value` (zeros when `None`).
fn like(
    input: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
    value: Option<Scalar>,
) -> PyResult<Py<PyTensor>> {
    let source = dlpack_import::import_any(input)?;
    let dtype = optional_dtype(dtype)?.unwrap_or(source.dtype());
    let tensor = source.zeros_like(dtype)?;
    if let Some(value) = value {
        tensor.fill(value)?;
    }
    PyTensor::wrap(input.py(), tensor)
}

/// `db.zeros_like(input, dtype=None)`: zeros of `input`'s shape, dtype and
/// layout.
#[pyfunction]
#[pyo3(signature = (input, *, dtype=None))]
pub fn zeros_like(
    input: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyTensor>> {
    like(input, dtype, None)
}

/// `db.empty_like(input, dtype=None)`: as `zeros_like` (the memory is
/// zeroed; see `empty`).
#[pyfunction]
#[pyo3(signature = (input, *, dtype=None))]
pub fn empty_like(
    input: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyTensor>> {
    like(input, dtype, None)
}

/// `db.ones_like(input, dtype=None)`: ones of `input`'s shape, dtype and
/// layout.
#[pyfunction]
#[pyo3(signature = (input, *, dtype=None))]
pub fn ones_like(
    input: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyTensor>> {
    like(input, dtype, Some(Scalar::Int(1)))
}

/// `db.full_like(input, fill_value, dtype=None)`: `fill_value` everywhere,
/// with `input`'s shape, dtype and layout.
#[pyfunction]
#[pyo3(signature = (input, fill_value, *, dtype=None))]
pub fn full_like(
    input: &Bound<'_, PyAny>,
    fill_value: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyTensor>> {
    like(input, dtype, Some(scalar::extract_scalar(fill_value)?))
}

/// `db.arange(start, end=None, step=1, dtype=None)`: the values `start,
/// start + step, ...` up to `end` (excluded), as torch's `arange`:
/// `arange(n)` counts from 0, the dtype is int64 for integer arguments and
/// float32 when any is a float, unless `dtype` says otherwise. A bound may
/// be a bool (an int) or a 0-dim tensor, read by value.
#[pyfunction]
#[pyo3(signature = (start, end=None, step=None, *, dtype=None))]
pub fn arange(
    start: &Bound<'_, PyAny>,
    end: Option<&Bound<'_, PyAny>>,
    step: Option<&Bound<'_, PyAny>>,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyTensor>> {
    let py = start.py();
    let number = tensor_arguments::real_number;
    let (start, end) = match end {
        Some(end) => (number(start)?, number(end)?),
        None => (Scalar::Int(0), number(start)?),
    };
    let step = step.map(number).transpose()?.unwrap_or(Scalar::Int(1));
    let all_ints = [start, end, step]
        .iter()
        .all(|value| matches!(value, Scalar::Int(_) | Scalar::UInt(_)));
    let dtype = optional_dtype(dtype)?.unwrap_or(if all_ints {
        DType::Int64
    } else {
        DType::Float32
    });
    PyTensor::wrap(py, Tensor::arange(start, end, step, dtype)?)
}
