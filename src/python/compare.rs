//! `==`, `!=` and `in` for `dlbridge.Tensor`, with PyTorch's meaning:
//! element-wise, broadcasting, giving a `bool` tensor.

use super::dlpack_import;
use super::scalar;
use crate::borrow::Participation;
use crate::dtype::{DType, Kind};
use crate::scalar::Scalar;
use crate::tensor::Tensor;
use pyo3::exceptions::{PyBufferError, PyOverflowError, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyList, PyString, PyTuple};

/// The right-hand side of a comparison with `tensor`, as a tensor, or
/// `None` when the comparison is not defined here (Python then falls back to
/// identity, as it does for torch tensors compared with lists or strings).
///
/// Python numbers are "weak", as in torch and NumPy 2 (NEP 50): a number of
/// the tensor's kind or a lower one takes the tensor's dtype
/// (`float32_tensor == 0.1` compares with `float32(0.1)`); a number of a
/// higher kind takes the default dtype of its kind (int64, float32,
/// complex64), promoted with the tensor's.
pub fn operand(tensor: &Tensor, other: &Bound<'_, PyAny>) -> PyResult<Option<Operand>> {
    let py = other.py();
    if other.is_instance_of::<PyList>()
        || other.is_instance_of::<PyTuple>()
        || other.is_instance_of::<PyString>()
    {
        return Ok(None);
    }
    if dlpack_import::is_dlpack_source(other)? {
        let right = match dlpack_import::import_copy(other) {
            Ok(right) => right,
            // What cannot be imported (a str array, a producer that refuses)
            // is not comparable here; Python falls back to identity, as
            // torch answers `False`.
            Err(error)
                if error.is_instance_of::<PyBufferError>(py)
                    || error.is_instance_of::<PyTypeError>(py) =>
            {
                return Ok(None);
            }
            Err(error) => return Err(error),
        };
        // A 0-d tensor next to a tensor with dimensions is weak like a
        // number, as in torch: it does not lift the dtype within its kind.
        if right.ndim() == 0 && tensor.ndim() > 0 {
            return weak(tensor, right.item()?, Some(right.dtype()));
        }
        return Ok(Some(Operand::Tensor(right)));
    }
    match scalar::extract_scalar(other) {
        Ok(value) => weak(tensor, value, None),
        // A Python int past uint64 equals no element of any dtype.
        Err(error)
            if error.is_instance_of::<PyOverflowError>(py) && other.is_instance_of::<PyInt>() =>
        {
            Ok(Some(Operand::Unequal))
        }
        Err(_) => Ok(None),
    }
}

/// A weak operand: a number, or the value of a 0-d tensor of `own` dtype.
/// Of the tensor's kind or a lower one, it takes the tensor's dtype; of a
/// higher kind, its own dtype (a Python number: the default of its kind,
/// int64, float32 or complex64), promoted with the tensor's.
fn weak(tensor: &Tensor, value: Scalar, own: Option<DType>) -> PyResult<Option<Operand>> {
    let dtype = if value.kind() <= tensor.dtype().kind() {
        tensor.dtype()
    } else {
        let own = own.unwrap_or(match value.kind() {
            Kind::Bool => DType::Bool,
            Kind::Int => DType::Int64,
            Kind::Float => DType::Float32,
            Kind::Complex => DType::Complex64,
        });
        own.promote(tensor.dtype())
    };
    // An integer the dtype cannot hold equals none of its elements (NumPy 2
    // compares such values exactly; torch would wrap them).
    let Ok(value) = value.checked_for(dtype) else {
        return Ok(Some(Operand::Unequal));
    };
    Ok(Some(Operand::Tensor(Tensor::from_scalars(
        dtype,
        &[],
        &[value],
    )?)))
}

/// A comparison's right-hand side.
pub enum Operand {
    /// Compared element by element.
    Tensor(Tensor),
    /// A number no element can equal.
    Unequal,
}

/// `tensor == other` (`equal`) or `tensor != other`; `None` for
/// `NotImplemented`.
pub fn compare(tensor: &Tensor, other: &Bound<'_, PyAny>, equal: bool) -> PyResult<Option<Tensor>> {
    Ok(match operand(tensor, other)? {
        None => None,
        // Started from Python: only checks for Rust borrows (see
        // `Participation`).
        Some(Operand::Tensor(right)) => {
            Some(tensor.compare_with(&right, equal, Participation::CheckOnly)?)
        }
        Some(Operand::Unequal) => {
            let result = Tensor::zeros(DType::Bool, tensor.shape())?;
            if !equal {
                result.fill(Scalar::Bool(true))?;
            }
            Some(result)
        }
    })
}

/// `element in tensor`: whether any element equals `element` (torch's
/// `(element == tensor).any()`), for numbers and tensors only.
pub fn contains(tensor: &Tensor, element: &Bound<'_, PyAny>) -> PyResult<bool> {
    match compare(tensor, element, true)? {
        Some(equal) => Ok(equal.any_with(Participation::CheckOnly)?),
        None => Err(PyRuntimeError::new_err(format!(
            "Tensor.__contains__ only supports Tensor or scalar, but you passed in a {}",
            element.get_type().name()?
        ))),
    }
}
