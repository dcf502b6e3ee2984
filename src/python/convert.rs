//! Python values to tensors (scalars and nested sequences, PyTorch's
//! inference rules) and tensor elements back to Python objects.

use super::dtype;
use super::interop;
use crate::borrow::Participation;
use crate::dtype::{DType, Kind};
use crate::error::Error;
use crate::scalar::Scalar;
use crate::tensor::Tensor;
use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyComplex, PyFloat, PyInt, PyList, PySequence, PyTuple};

use super::fastlist::MAX_DIMS;

/// Values gathered from a nested Python sequence, in row-major order, with
/// what is known of their dtype.
struct Gathered {
    shape: Vec<usize>,
    values: Vec<Scalar>,
    /// The widest kind among plain Python numbers.
    python_kind: Option<Kind>,
    /// The promoted dtype of arrays, tensors and NumPy scalars among them.
    element_dtype: Option<DType>,
}

impl Gathered {
    fn saw_dtype(&mut self, dtype: DType) {
        self.element_dtype = Some(match self.element_dtype {
            Some(seen) => seen.promote(dtype),
            None => dtype,
        });
    }

    /// PyTorch's inference (`torch.tensor`'s `infer_scalar_type`): every
    /// element has a dtype, typed elements their own and plain Python
    /// numbers bool, int64, float32 or complex64, and the result is their
    /// promotion, so `[np.int8(1), 2]` is int64 as in torch and NumPy; an
    /// empty list is float32.
    fn inferred_dtype(&self) -> DType {
        match (self.element_dtype, self.python_kind) {
            (Some(dtype), Some(kind)) => dtype.promote(DType::default_for(kind)),
            (Some(dtype), None) => dtype,
            (None, Some(kind)) => DType::default_for(kind),
            (None, None) => DType::Float32,
        }
    }
}

/// Builds a fresh tensor from a Python scalar or nested list/tuple (which
/// may hold NumPy scalars, arrays and tensors).
///
/// With `dtype` None the dtype is inferred as PyTorch does (see
/// [`Gathered::inferred_dtype`]). Integers that do not fit the dtype raise
/// `OverflowError`.
pub fn tensor_from_nested(value: &Bound<'_, PyAny>, dtype: Option<DType>) -> PyResult<Tensor> {
    if let Some(tensor) = super::fastlist::try_build(value, dtype)? {
        return Ok(tensor);
    }
    let mut gathered = Gathered {
        shape: discover_shape(value)?,
        values: Vec::new(),
        python_kind: None,
        element_dtype: None,
    };
    gather(value, 0, &mut gathered)?;
    let dtype = dtype.unwrap_or_else(|| gathered.inferred_dtype());
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
            if shape.len() >= MAX_DIMS {
                return Err(Error::TooManyDimensions { limit: MAX_DIMS }.into());
            }
            let len = sequence.len()?;
            shape.push(len);
            if len == 0 {
                return Ok(shape);
            }
            current = sequence.get_item(0)?;
        } else if interop::is_dlpack_source(&current)? {
            shape.extend_from_slice(interop::import_copy(&current)?.shape());
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
        if depth >= ndim {
            return Err(Error::ArrayWhereNumberExpected {
                axis: depth,
                shape: vec![len],
            }
            .into());
        }
        if len != out.shape[depth] {
            return Err(ragged(out, depth, len));
        }
        for item in sequence.try_iter()? {
            gather(&item?, depth + 1, out)?;
        }
        return Ok(());
    }
    if interop::is_dlpack_source(value)? {
        // An array or tensor stands for the dimensions below `depth`; a 0-d
        // one (or a NumPy scalar) is one element.
        let tensor = interop::import_copy(value)?;
        if depth == ndim && tensor.ndim() > 0 {
            return Err(Error::ArrayWhereNumberExpected {
                axis: depth,
                shape: tensor.shape().to_vec(),
            }
            .into());
        }
        if tensor.shape() != &out.shape[depth.min(ndim)..] {
            let got = tensor.shape().first().copied().unwrap_or(0);
            return Err(ragged(out, depth, got));
        }
        out.saw_dtype(tensor.dtype());
        out.values
            .extend(tensor.to_scalars_with(Participation::CheckOnly)?);
        return Ok(());
    }
    if depth != ndim {
        return Err(ragged(out, depth, 0));
    }
    let builtin = value.is_exact_instance_of::<PyFloat>()
        || value.is_exact_instance_of::<PyInt>()
        || value.is_exact_instance_of::<PyBool>()
        || value.is_exact_instance_of::<PyComplex>();
    if !builtin && let Some(dtype) = numpy_scalar_dtype(value)? {
        out.saw_dtype(dtype);
        out.values
            .push(extract_scalar(&value.call_method0("item")?)?);
        return Ok(());
    }
    let scalar = extract_scalar(value)?;
    out.python_kind = out.python_kind.max(Some(scalar.kind()));
    out.values.push(scalar);
    Ok(())
}

/// The dtype of a NumPy scalar (`np.float64(1.0)`, `np.int32(3)`), which has
/// a `dtype` but no `__dlpack__`.
fn numpy_scalar_dtype(value: &Bound<'_, PyAny>) -> PyResult<Option<DType>> {
    let Ok(numpy) = value.py().import("numpy") else {
        return Ok(None);
    };
    if !value.is_instance(&numpy.getattr("generic")?)? {
        return Ok(None);
    }
    Ok(dtype::extract_dtype(&value.getattr("dtype")?).ok())
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

/// The tensor as nested Python lists (a plain scalar for 0-d tensors).
pub fn to_nested_list<'py>(py: Python<'py>, tensor: &Tensor) -> PyResult<Bound<'py, PyAny>> {
    let values = tensor.to_scalars_with(Participation::CheckOnly)?;
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
