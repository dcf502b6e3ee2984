//! Modules another package may have imported, found in `sys.modules`
//! without importing them: dlbridge never imports torch or JAX on its own,
//! and an object of a module that is not imported cannot exist.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyModule, PyString};

/// The module `name` if it is in `sys.modules` (a real module, not a `None`
/// placed there to block its import), else `None`; never imports it.
pub(crate) fn imported<'py>(py: Python<'py>, name: &str) -> Option<Bound<'py, PyModule>> {
    let name = PyString::new(py, name);
    // SAFETY: `PyImport_GetModule` takes a live str and returns a new
    // reference to the entry of `sys.modules`, or NULL: without an error
    // when the module is not imported (the common case, so no exception
    // object is made for it), with one only if the lookup itself failed.
    let found = unsafe { Bound::from_owned_ptr_or_opt(py, ffi::PyImport_GetModule(name.as_ptr())) };
    let Some(found) = found else {
        drop(PyErr::take(py));
        return None;
    };
    found.cast_into::<PyModule>().ok()
}
