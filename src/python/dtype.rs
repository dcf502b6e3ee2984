//! `dlbridge.DType` and the dtype arguments every function accepts.

use crate::dtype::DType;
use dlpark::ffi::{DLDataType, DLDataTypeCode};
use numpy::{PyArrayDescr, PyArrayDescrMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyComplex, PyFloat, PyInt, PyString, PyType};

/// The element type of a tensor, e.g. `dlbridge.float32`.
#[pyclass(frozen, module = "dlbridge", name = "DType")]
pub struct PyDType {
    /// The core dtype.
    pub dtype: DType,
}

#[pymethods]
impl PyDType {
    /// The canonical name (`"float32"`).
    #[getter]
    fn name(&self) -> &'static str {
        self.dtype.name()
    }

    /// Size of one element in bytes.
    #[getter]
    fn itemsize(&self) -> usize {
        self.dtype.itemsize()
    }

    /// Whether this is `complex64` or `complex128` (torch's `is_complex`).
    #[getter]
    fn is_complex(&self) -> bool {
        self.dtype.is_complex()
    }

    fn __repr__(&self) -> String {
        format!("dlbridge.{}", self.dtype.name())
    }

    fn __str__(&self) -> String {
        self.__repr__()
    }

    /// Equal to the same dtype and to its name, so `t.dtype == "float32"`.
    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> Py<PyAny> {
        let py = other.py();
        let equal = if let Ok(other) = other.cast::<PyDType>() {
            Some(other.get().dtype == self.dtype)
        } else if let Ok(name) = other.cast::<PyString>() {
            Some(name.to_str().is_ok_and(|name| name == self.dtype.name()))
        } else {
            None
        };
        let answer = |value: bool| PyBool::new(py, value).to_owned().into_any().unbind();
        match (op, equal) {
            (CompareOp::Eq, Some(equal)) => answer(equal),
            (CompareOp::Ne, Some(equal)) => answer(!equal),
            _ => py.NotImplemented(),
        }
    }

    /// Hashes like the name, consistent with `__eq__`.
    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        PyString::new(py, self.dtype.name()).hash()
    }

    fn __reduce__(&self, py: Python<'_>) -> PyResult<(Py<PyAny>, (&'static str,))> {
        let module = py.import("dlbridge")?;
        Ok((
            module.getattr("_dtype_by_name")?.unbind(),
            (self.dtype.name(),),
        ))
    }
}

type Instances = [Py<PyDType>; 15];

/// The one `PyDType` object of each dtype, so `t.dtype is dlbridge.float32`.
pub fn instance(py: Python<'_>, dtype: DType) -> Py<PyDType> {
    static INSTANCES: PyOnceLock<Instances> = PyOnceLock::new();
    let instances = INSTANCES.get_or_init(py, || {
        DType::ALL.map(|dtype| Py::new(py, PyDType { dtype }).expect("allocating a DType"))
    });
    let position = DType::ALL
        .iter()
        .position(|&candidate| candidate == dtype)
        .expect("ALL lists every dtype");
    instances[position].clone_ref(py)
}

/// Interprets a dtype argument: a `dlbridge.DType`, a name, a builtin type
/// (`bool`, `int`, `float`, `complex`, as torch maps them), a torch dtype, or
/// anything `numpy.dtype()` accepts. Never imports torch.
pub fn extract_dtype(value: &Bound<'_, PyAny>) -> PyResult<DType> {
    let py = value.py();
    if let Ok(dtype) = value.cast::<PyDType>() {
        return Ok(dtype.get().dtype);
    }
    if let Ok(name) = value.cast::<PyString>()
        && let Ok(dtype) = DType::from_name(name.to_str()?)
    {
        return Ok(dtype);
    }
    if let Ok(builtin) = value.cast::<PyType>() {
        let builtins = [
            (py.get_type::<PyBool>(), DType::Bool),
            (py.get_type::<PyInt>(), DType::Int64),
            (py.get_type::<PyFloat>(), DType::Float64),
            (py.get_type::<PyComplex>(), DType::Complex128),
        ];
        if let Some((_, dtype)) = builtins.iter().find(|(ty, _)| builtin.is(ty)) {
            return Ok(*dtype);
        }
    }
    let ty = value.get_type();
    if ty.module()?.to_str()? == "torch" && ty.name()?.to_str()? == "dtype" {
        // str(torch.float32) == "torch.float32"; aliases (torch.float,
        // torch.half, torch.cfloat) print their canonical names.
        let text = value.str()?;
        let name = text.to_str()?.trim_start_matches("torch.");
        return DType::from_name(name).map_err(|_| {
            PyTypeError::new_err(format!("torch dtype {text} has no dlbridge counterpart"))
        });
    }
    numpy_dtype(value)
}

/// An optional dtype argument: None (or absent) is `None`, anything else as
/// [`extract_dtype`] reads it.
pub(crate) fn optional_dtype(dtype: Option<&Bound<'_, PyAny>>) -> PyResult<Option<DType>> {
    dtype
        .filter(|d| !d.is_none())
        .map(extract_dtype)
        .transpose()
}

/// NumPy's reading of a dtype argument (`np.float32`, `"f4"`, `"float"`).
fn numpy_dtype(value: &Bound<'_, PyAny>) -> PyResult<DType> {
    let not_a_dtype = || {
        PyTypeError::new_err(format!(
            "cannot interpret {} as a dlbridge dtype",
            value
                .repr()
                .map_or_else(|_| "<object>".into(), |r| r.to_string())
        ))
    };
    let descr = PyArrayDescr::new(value.py(), value).map_err(|_| not_a_dtype())?;
    descr_to_dtype(&descr)
}

/// Maps a NumPy dtype to a dlbridge dtype, refusing what DLPack cannot carry
/// (object, strings, datetimes, structured, non-native byte order).
///
/// The dtype's kind character and size name a DLPack type code and width,
/// which the core maps; only dtypes NumPy does not define itself (such as
/// `ml_dtypes.bfloat16`) are looked up by name.
pub(crate) fn descr_to_dtype(descr: &Bound<'_, PyArrayDescr>) -> PyResult<DType> {
    if descr.is_native_byteorder() == Some(false) || descr.has_fields() {
        return Err(unsupported(descr));
    }
    let code = match descr.kind() {
        b'b' => Some(DLDataTypeCode::BOOL),
        b'i' => Some(DLDataTypeCode::INT),
        b'u' => Some(DLDataTypeCode::UINT),
        b'f' => Some(DLDataTypeCode::FLOAT),
        b'c' => Some(DLDataTypeCode::COMPLEX),
        _ => None,
    };
    if let Some(code) = code {
        let bits = u8::try_from(descr.itemsize() * 8).map_err(|_| unsupported(descr))?;
        return DType::from_dlpack(DLDataType::new(code, bits, 1)).map_err(|_| unsupported(descr));
    }
    // Not a NumPy number: a dtype registered by another package, if its name
    // is one of ours.
    let name = descr.getattr(pyo3::intern!(descr.py(), "name"))?;
    match DType::from_name(name.cast::<PyString>()?.to_str()?) {
        // A name is only a claim: the elements must also have our size.
        Ok(dtype) if dtype.itemsize() == descr.itemsize() => Ok(dtype),
        _ => Err(unsupported(descr)),
    }
}

fn unsupported(descr: &Bound<'_, PyArrayDescr>) -> PyErr {
    PyTypeError::new_err(format!(
        "dtype {} cannot be shared through DLPack; supported dtypes are bool, int8..int64, \
         uint8..uint64, float16, bfloat16, float32, float64, complex64 and complex128 in \
         native byte order",
        descr
            .str()
            .map_or_else(|_| "<unprintable>".into(), |s| s.to_string())
    ))
}
