//! Python values to tensors (scalars and nested sequences, PyTorch's
//! inference rules) and tensor elements back to Python objects.

use super::interop;
use crate::dtype::{DType, Kind};
use crate::error::Error;
use crate::scalar::Scalar;
use crate::tensor::Tensor;
use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyComplex, PyFloat, PyInt, PyList, PySequence, PyTuple};

/// Values gathered from a nested Python sequence, in row-major order.
struct Gathered {
    shape: Vec<usize>,
    values: Vec<Scalar>,
}

/// Builds a fresh tensor from a Python scalar or nested list/tuple.
///
/// With `dtype` None the dtype is inferred as PyTorch does: bool, int64,
/// float32 or complex64 for the widest kind present (float32 for an empty
/// list). Integers that do not fit the dtype raise `OverflowError`.
pub fn tensor_from_nested(value: &Bound<'_, PyAny>, dtype: Option<DType>) -> PyResult<Tensor> {
    let mut gathered = Gathered {
        shape: discover_shape(value)?,
        values: Vec::new(),
    };
    gather(value, 0, &mut gathered)?;
    let dtype = dtype.unwrap_or_else(|| {
        let kind = gathered
            .values
            .iter()
            .map(|v| v.kind())
            .max()
            .unwrap_or(Kind::Float);
        DType::default_for(kind)
    });
    Ok(Tensor::from_scalars(
        dtype,
        &gathered.shape,
        &gathered.values,
    )?)
}

fn as_sequence<'a, 'py>(value: &'a Bound<'py, PyAny>) -> Option<&'a Bound<'py, PySequence>> {
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        value.cast::<PySequence>().ok()
    } else {
        None
    }
}

/// The shape implied by the first element at every depth.
fn discover_shape(value: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    let mut shape = Vec::new();
    let mut current = value.clone();
    loop {
        if let Some(sequence) = as_sequence(&current) {
            let len = sequence.len()?;
            shape.push(len);
            if len == 0 {
                return Ok(shape);
            }
            current = sequence.get_item(0)?;
        } else if interop::is_dlpack_source(&current)? {
            shape.extend_from_slice(interop::import_any(&current)?.shape());
            return Ok(shape);
        } else {
            return Ok(shape);
        }
    }
}

fn gather(value: &Bound<'_, PyAny>, depth: usize, out: &mut Gathered) -> PyResult<()> {
    let ndim = out.shape.len();
    if let Some(sequence) = as_sequence(value) {
        let len = sequence.len()?;
        if depth >= ndim || len != out.shape[depth] {
            return Err(ragged(out, depth, len));
        }
        for item in sequence.try_iter()? {
            gather(&item?, depth + 1, out)?;
        }
        return Ok(());
    }
    if depth < ndim && interop::is_dlpack_source(value)? {
        let tensor = interop::import_any(value)?;
        if tensor.shape() != &out.shape[depth..] {
            let got = tensor.shape().first().copied().unwrap_or(0);
            return Err(ragged(out, depth, got));
        }
        out.values.extend(tensor.to_scalars()?);
        return Ok(());
    }
    if depth != ndim {
        return Err(ragged(out, depth, 0));
    }
    out.values.push(extract_scalar(value)?);
    Ok(())
}

fn ragged(out: &Gathered, axis: usize, got: usize) -> PyErr {
    let expected = out.shape.get(axis).copied().unwrap_or(0);
    Error::Ragged {
        axis,
        expected,
        got,
    }
    .into()
}

/// Reads one Python number: bool, int (up to 2**64 - 1), float or complex,
/// or any object with `__index__`, `__float__` or `__complex__` (NumPy
/// scalars among them).
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
    // NumPy scalars: np.bool_ is not an int, np.int64 is not a Python int.
    if let Ok(item) = value.getattr("dtype").and(value.call_method0("item"))
        && !item.is(value)
        && !item.hasattr("dtype")?
    {
        return extract_scalar(&item);
    }
    if value.hasattr("__index__")? {
        return extract_int(&value.call_method0("__index__")?);
    }
    if value.hasattr("__complex__")? && !value.hasattr("__float__")? {
        let complex = value.call_method0("__complex__")?;
        return extract_scalar(&complex);
    }
    if value.hasattr("__float__")? {
        return Ok(Scalar::Float(value.call_method0("__float__")?.extract()?));
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

/// The tensor as nested Python lists (a plain scalar for 0-d tensors).
pub fn to_nested_list<'py>(py: Python<'py>, tensor: &Tensor) -> PyResult<Bound<'py, PyAny>> {
    let values = tensor.to_scalars()?;
    let mut position = 0;
    build_list(py, tensor.shape(), &values, &mut position)
}

fn build_list<'py>(
    py: Python<'py>,
    shape: &[usize],
    values: &[Scalar],
    position: &mut usize,
) -> PyResult<Bound<'py, PyAny>> {
    let Some((&len, inner)) = shape.split_first() else {
        let value = values[*position];
        *position += 1;
        return scalar_to_py(py, value);
    };
    let items = (0..len)
        .map(|_| build_list(py, inner, values, position))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, items)?.into_any())
}
