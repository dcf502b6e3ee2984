//! Arguments that torch takes either as Python numbers or as tensors:
//! `narrow`'s start, `tensor_split`'s sections or indices, `arange`'s
//! bounds. Each follows the rule torch's own argument parser applies, so the
//! same call succeeds or fails the same way with either library.

use super::dlpack_import;
use super::scalar;
use super::tensor::PyTensor;
use crate::dtype::Kind;
use crate::scalar::Scalar;
use crate::tensor::Tensor;
use pyo3::exceptions::{PyIndexError, PyRuntimeError, PyTypeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt};

/// A tensor argument (anything with `__dlpack__`, a NumPy scalar included),
/// imported without a copy; `None` for anything else.
fn as_tensor(value: &Bound<'_, PyAny>) -> PyResult<Option<Tensor>> {
    if value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>() {
        return Ok(None);
    }
    if !value.hasattr(intern!(value.py(), "__dlpack__"))? {
        return Ok(None);
    }
    dlpack_import::import_any(value).map(Some)
}

/// An integer scalar as an index (`what` names it), refused (`IndexError`,
/// naming it) where it does not fit `isize`.
fn index_of(value: Scalar, what: &str) -> PyResult<isize> {
    match value {
        Scalar::Int(v) => isize::try_from(v).ok(),
        Scalar::UInt(v) => isize::try_from(v).ok(),
        _ => None,
    }
    .ok_or_else(|| PyIndexError::new_err(format!("{what} ({value}) out of range")))
}

/// `narrow`'s `start`: an int (or anything with `__index__`), or a 0-dim
/// integral tensor (torch's `narrow.Tensor` overload); any other tensor is
/// torch's `RuntimeError`, "start must be an 0-dim integral Tensor.".
pub fn narrow_start(start: &Bound<'_, PyAny>) -> PyResult<isize> {
    if let Some(tensor) = as_tensor(start)? {
        if tensor.ndim() != 0 || tensor.dtype().kind() != Kind::Int {
            return Err(PyRuntimeError::new_err(format!(
                "start must be an 0-dim integral Tensor, got a {}-d {} tensor",
                tensor.ndim(),
                tensor.dtype()
            )));
        }
        return index_of(tensor.item()?, "start");
    }
    start.extract::<isize>()
}

/// `tensor_split`'s second argument.
pub enum Sections {
    /// That many pieces of (nearly) equal length.
    Count(isize),
    /// Split before each of these indices.
    Indices(Vec<isize>),
}

/// `tensor_split`'s `indices_or_sections`: an int (sections), a sequence of
/// ints (indices), or an integral tensor, 0-dim (sections) or 1-dim
/// (indices), as torch's `tensor_split.tensor_indices_or_sections`.
pub fn sections_or_indices(value: &Bound<'_, PyAny>) -> PyResult<Sections> {
    if let Some(tensor) = as_tensor(value)? {
        if tensor.ndim() > 1 || tensor.dtype().kind() != Kind::Int {
            return Err(PyRuntimeError::new_err(format!(
                "tensor_split expected tensor_indices_or_sections to be a zero-dimensional or one-dimensional tensor of integers, but got a {}-d {} tensor",
                tensor.ndim(),
                tensor.dtype()
            )));
        }
        let values = tensor
            .to_scalars()?
            .into_iter()
            .map(|value| index_of(value, "index"))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(if tensor.ndim() == 0 {
            Sections::Count(values[0])
        } else {
            Sections::Indices(values)
        });
    }
    if value.hasattr(intern!(value.py(), "__index__"))? {
        return Ok(Sections::Count(value.extract()?));
    }
    value.extract::<Vec<isize>>().map(Sections::Indices).map_err(|_| {
        PyTypeError::new_err(format!(
            "tensor_split(): argument 'indices_or_sections' must be an int, a sequence of ints or an integral tensor, not {}",
            value.get_type().name().map_or_else(|_| "?".into(), |name| name.to_string())
        ))
    })
}

/// One of `arange`'s bounds or its step: a real Python number (a bool
/// counts as the int it is, as in torch and NumPy), or a 0-dim tensor of
/// them read by value; a tensor with dimensions is torch's `TypeError`.
pub fn real_number(value: &Bound<'_, PyAny>) -> PyResult<Scalar> {
    let number = match as_tensor(value)? {
        Some(tensor) if tensor.ndim() != 0 => {
            return Err(PyTypeError::new_err(format!(
                "arange(): argument must be a number or a 0-dim tensor, not a {}-d tensor of shape {:?}",
                tensor.ndim(),
                tensor.shape()
            )));
        }
        Some(tensor) => tensor.item()?,
        None => scalar::extract_scalar(value)?,
    };
    match number {
        Scalar::Bool(flag) => Ok(Scalar::Int(i64::from(flag))),
        scalar @ (Scalar::Int(_) | Scalar::UInt(_) | Scalar::Float(_)) => Ok(scalar),
        other => Err(PyTypeError::new_err(format!(
            "arange() takes real numbers, got {other:?}"
        ))),
    }
}

/// The shape of `other`, any tensor (a `dlbridge.Tensor`, or anything with
/// `__dlpack__` and a `shape`), for `view_as` and friends; anything else is
/// torch's `TypeError`, "argument 'other' must be Tensor".
pub fn shape_of(other: &Bound<'_, PyAny>) -> PyResult<Vec<isize>> {
    if let Ok(tensor) = other.cast::<PyTensor>() {
        return Ok(tensor
            .get()
            .inner
            .shape()
            .iter()
            .map(|&size| size as isize)
            .collect());
    }
    if other.hasattr(intern!(other.py(), "__dlpack__"))? {
        return other.getattr(intern!(other.py(), "shape"))?.extract();
    }
    Err(PyTypeError::new_err(format!(
        "argument 'other' must be a tensor, not {}",
        other
            .get_type()
            .name()
            .map_or_else(|_| "?".into(), |name| name.to_string())
    )))
}
