//! One Python number to a core [`Scalar`] and back: what a tensor element
//! is on the Python side.

use crate::scalar::Scalar;
use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyComplex, PyFloat, PyInt};

/// Reads one Python number: bool, int (up to 2**64 - 1), float or complex,
/// or an object with `__index__`, `__float__` or `__complex__` whose method
/// returns one of those.
pub fn extract_scalar(value: &Bound<'_, PyAny>) -> PyResult<Scalar> {
    if let Ok(flag) = value.cast::<PyBool>() {
        return Ok(Scalar::Bool(flag.is_true()));
    }
    if value.is_instance_of::<PyInt>() {
        return extract_int(value);
    }
    if let Ok(float) = value.cast::<PyFloat>() {
        return Ok(Scalar::Float(float.value()));
    }
    if let Ok(complex) = value.cast::<PyComplex>() {
        return Ok(Scalar::Complex(complex.real(), complex.imag()));
    }
    if value.hasattr("__index__")? {
        let index = value.call_method0("__index__")?;
        if index.is_instance_of::<PyInt>() {
            return extract_int(&index);
        }
    } else if value.hasattr("__float__")? {
        let float = value.call_method0("__float__")?;
        if let Ok(float) = float.cast::<PyFloat>() {
            return Ok(Scalar::Float(float.value()));
        }
    } else if value.hasattr("__complex__")? {
        let complex = value.call_method0("__complex__")?;
        if let Ok(complex) = complex.cast::<PyComplex>() {
            return Ok(Scalar::Complex(complex.real(), complex.imag()));
        }
    }
    Err(PyTypeError::new_err(format!(
        "cannot convert an object of type '{}' to a tensor element; expected a bool, int, \
         float, complex or a (nested) list or tuple of them",
        value.get_type().name()?
    )))
}

fn extract_int(value: &Bound<'_, PyAny>) -> PyResult<Scalar> {
    if let Ok(v) = value.extract::<i64>() {
        return Ok(Scalar::Int(v));
    }
    if let Ok(v) = value.extract::<u64>() {
        return Ok(Scalar::UInt(v));
    }
    Err(PyOverflowError::new_err(format!(
        "value {} is out of range for any dlbridge integer dtype (int64, uint64)",
        value.str()?
    )))
}

/// One element as a Python object: bool, int, float or complex.
pub fn scalar_to_py<'py>(py: Python<'py>, value: Scalar) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Scalar::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
        Scalar::Int(v) => v.into_pyobject(py)?.into_any(),
        Scalar::UInt(v) => v.into_pyobject(py)?.into_any(),
        Scalar::Float(v) => PyFloat::new(py, v).into_any(),
        Scalar::Complex(re, im) => PyComplex::from_doubles(py, re, im).into_any(),
    })
}
