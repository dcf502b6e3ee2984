//! `Tensor.__dlpack__` as a C method with CPython's vectorcall convention
//! (`METH_FASTCALL | METH_KEYWORDS`), reading its keywords itself.
//!
//! Every consumer calls `__dlpack__` with keywords: NumPy's `from_dlpack`
//! passes `dl_device`, `copy` and `max_version`, torch's `max_version`. A
//! `#[pymethods]` method matches each keyword name against the signature by
//! its UTF-8 text, which cost more than making the capsule itself (half of
//! `t.__dlpack__()`, measured with callgrind). Keyword names reach a method
//! as interned strings (CPython interns the identifiers in code objects,
//! NumPy its own keyword names), so they are matched here by identity with
//! interned copies first, as CPython's own argument clinic does
//! (`Python/getargs.c`, `find_keyword`), and by value only when that fails.
//!
//! The method is put on the class when the module is built, like
//! `torch_only.rs`'s descriptors; the export itself is `dlpack_export.rs`'s.

use super::dlpack_export;
use super::error;
use super::tensor::PyTensor;
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyString, PyTuple};
use std::ffi::CStr;

/// The keyword-only parameters, in the signature's order.
const PARAMETERS: [&str; 4] = ["stream", "max_version", "dl_device", "copy"];

/// The docstring, led by the signature that `inspect.signature` reads
/// (`__text_signature__`).
const DOC: &CStr =
    c"__dlpack__($self, /, *, stream=None, max_version=None, dl_device=None, copy=None)
--

Exports a DLPack capsule sharing this tensor's memory (array API 2023.12
signature): a versioned capsule when max_version allows one, flagged
READ_ONLY for a read-only tensor; copy=True exports a private copy.";

/// Puts `__dlpack__` on `dlbridge.Tensor`.
pub(super) fn install(py: Python<'_>) -> PyResult<()> {
    let class = py.get_type::<PyTensor>();
    // CPython keeps the pointer for as long as the descriptor lives, which
    // may be the whole process: the definition is leaked (one per module
    // initialisation).
    let definition = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: c"__dlpack__".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionFastWithKeywords: dlpack_method,
        },
        ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
        ml_doc: DOC.as_ptr(),
    }));
    // SAFETY: the class is a type object; the definition is valid and
    // outlives the descriptor (leaked above).
    let descriptor = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyDescr_NewMethod(class.as_type_ptr(), definition))
    }?;
    class.setattr("__dlpack__", descriptor)
}

/// The C entry point. CPython calls it with the thread attached, `slf` an
/// instance of the class (method descriptors check it before calling),
/// `args` holding `nargs` positional arguments followed by one value per
/// name in the `kwnames` tuple (or NULL when there are none).
unsafe extern "C" fn dlpack_method(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls methods with the thread attached, with the
    // arguments `call` expects.
    unsafe { error::c_entry(|py| call(py, slf, args, nargs, kwnames)) }
}

/// Reads the arguments and exports.
///
/// # Safety
///
/// As for [`dlpack_method`].
unsafe fn call(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<Py<PyAny>> {
    // SAFETY: `slf` is a live object CPython lends for the call.
    let slf = unsafe { Borrowed::from_ptr(py, slf) };
    let tensor = slf.cast::<PyTensor>()?;
    if nargs != 0 {
        return Err(PyTypeError::new_err(format!(
            "Tensor.__dlpack__() takes 0 positional arguments but {nargs} {} given",
            if nargs == 1 { "was" } else { "were" }
        )));
    }
    let mut values: [Option<Borrowed<'_, '_, PyAny>>; 4] = [None; 4];
    if !kwnames.is_null() {
        // SAFETY: a non-NULL `kwnames` is a tuple of str CPython lends for
        // the call.
        let names = unsafe { Borrowed::from_ptr(py, kwnames).cast_unchecked::<PyTuple>() };
        for (position, name) in names.iter_borrowed().enumerate() {
            let index = parameter_index(py, &name)?;
            // SAFETY: `args` holds `nargs` (0) positional values, then one
            // value per keyword name.
            let value = unsafe { Borrowed::from_ptr(py, *args.add(position)) };
            if values[index].replace(value).is_some() {
                return Err(PyTypeError::new_err(format!(
                    "Tensor.__dlpack__() got multiple values for argument '{}'",
                    PARAMETERS[index]
                )));
            }
        }
    }
    // `None` is the same as leaving an argument out.
    let [stream, max_version, dl_device, copy] =
        values.map(|value| value.filter(|value| !value.is_none()));
    let max_version = max_version
        .map(|version| dlpack_export::parse_max_version(&version))
        .transpose()?;
    let dl_device = dl_device
        .map(|device| {
            device
                .extract::<(u32, i32)>()
                .map_err(|error| argument_error(py, "dl_device", error))
        })
        .transpose()?;
    let copy = copy
        .map(|copy| {
            copy.extract::<bool>()
                .map_err(|error| argument_error(py, "copy", error))
        })
        .transpose()?;
    dlpack_export::export(
        &tensor.get().inner,
        py,
        stream.as_deref(),
        max_version,
        dl_device,
        copy,
    )
}

/// Which of [`PARAMETERS`] a keyword names: by identity with the interned
/// names, else by value; any other keyword is a `TypeError`, as Python's.
fn parameter_index(py: Python<'_>, name: &Borrowed<'_, '_, PyAny>) -> PyResult<usize> {
    let interned = interned_names(py);
    if let Some(index) = interned
        .iter()
        .position(|known| known.as_ptr() == name.as_ptr())
    {
        return Ok(index);
    }
    let name = name.cast::<PyString>()?;
    let text = name.to_cow()?;
    PARAMETERS
        .iter()
        .position(|parameter| *parameter == text)
        .ok_or_else(|| {
            PyTypeError::new_err(format!(
                "Tensor.__dlpack__() got an unexpected keyword argument '{text}'"
            ))
        })
}

/// [`PARAMETERS`] as interned Python strings, made once.
fn interned_names(py: Python<'_>) -> &[Py<PyString>; 4] {
    static NAMES: PyOnceLock<[Py<PyString>; 4]> = PyOnceLock::new();
    NAMES.get_or_init(py, || {
        PARAMETERS.map(|parameter| PyString::intern(py, parameter).unbind())
    })
}

/// A conversion error of one argument, named as PyO3 names it for its own
/// methods ("argument 'copy': ..."), of the same type, the original kept as
/// its cause.
fn argument_error(py: Python<'_>, name: &str, error: PyErr) -> PyErr {
    let named = PyErr::from_type(
        error.get_type(py),
        format!("argument '{name}': {}", error.value(py)),
    );
    named.set_cause(py, Some(error));
    named
}
