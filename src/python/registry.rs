//! One borrow registry for the whole process, shared by every compiled copy
//! of dlbridge through a capsule.
//!
//! Each extension built on dlbridge links its own copy of the crate, and with
//! it a registry of its own (`crate::borrow`). Like rust-numpy's shared
//! borrow-checking API, the copies agree on one table by getting or inserting
//! a capsule on a module attribute that all of them can reach, here
//! `dlbridge._dlbridge._BORROW_REGISTRY_API`. That module rather than NumPy's
//! (where rust-numpy puts its own):
//!
//! - every copy already needs the installed `dlbridge` package (returned
//!   tensors go through it, see `boundary.rs`), so nothing new is required;
//! - its module init inserts the capsule before any other copy can import it,
//!   so the table normally comes from the installed package, and a process
//!   has exactly one `dlbridge._dlbridge`;
//! - it is dlbridge's own namespace, and does not depend on where a NumPy
//!   release keeps its `multiarray` module (`numpy.core` or `numpy._core`).
//!
//! A copy joins at module init (the dlbridge module itself) and the first time
//! it takes a `Tensor` from Python or gives one back (extensions).

use crate::borrow::{self, InstallError, REGISTRY_API_VERSION, RegistryApi};
use pyo3::exceptions::{PyImportError, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyModule};
use std::ffi::CStr;
use std::ptr::NonNull;

/// The module every copy looks in.
const MODULE: &str = "dlbridge._dlbridge";
/// The attribute holding the capsule.
const ATTRIBUTE: &str = "_BORROW_REGISTRY_API";
/// The capsule's name, checked before its pointer is used.
const CAPSULE_NAME: &CStr = c"dlbridge._dlbridge._BORROW_REGISTRY_API";

/// Makes sure this copy of dlbridge uses the process-wide registry: a no-op
/// once it does, else imports `dlbridge._dlbridge` and joins the registry
/// there.
pub(crate) fn ensure_shared(py: Python<'_>) -> PyResult<()> {
    if borrow::is_shared() {
        return Ok(());
    }
    let module = py.import(MODULE).map_err(|error| {
        let explained = PyImportError::new_err(format!(
            "extensions built on dlbridge share one tensor borrow registry through the \
             dlbridge package, which could not be imported ({error}); install dlbridge"
        ));
        explained.set_cause(py, Some(error));
        explained
    })?;
    share_on(&module)
}

/// Joins the registry published on `module`, publishing this copy's fresh
/// table there first if there is none.
pub(crate) fn share_on(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let dict = module.dict();
    let found = match dict.get_item(ATTRIBUTE)? {
        Some(found) => found,
        None => {
            let table = borrow::new_shared_table();
            // SAFETY: the table is leaked, so it outlives the capsule.
            let capsule = unsafe {
                PyCapsule::new_with_pointer(py, NonNull::from(table).cast(), CAPSULE_NAME)
            }?;
            // `dict.setdefault` looks up and inserts with no Python code in
            // between (the key is a str), so copies racing here agree on one
            // table; a loser's fresh table stays unused.
            dict.call_method1("setdefault", (ATTRIBUTE, capsule))?
        }
    };
    let capsule = found.cast_into::<PyCapsule>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{MODULE}.{ATTRIBUTE} is not a dlbridge registry capsule"
        ))
    })?;
    let pointer = capsule.pointer_checked(Some(CAPSULE_NAME))?.cast::<u64>();
    // SAFETY: a capsule of this name points to a `RegistryApi` of some
    // version, and every version starts with its `u64` version field.
    let version = unsafe { pointer.read() };
    if version < REGISTRY_API_VERSION {
        return Err(install_error(InstallError::Version {
            found: version,
            needed: REGISTRY_API_VERSION,
        }));
    }
    // SAFETY: a table of this version or newer starts with every field of
    // this copy's `RegistryApi`; its contract (thread-safe functions, valid
    // until the process exits) is part of the capsule's, which dlbridge
    // copies publish only with a leaked table.
    let table: &'static RegistryApi = unsafe { pointer.cast::<RegistryApi>().as_ref() };
    // SAFETY: see the reference above.
    unsafe { borrow::install_shared(table) }.map_err(install_error)?;
    // Tables dlbridge publishes are leaked, but a newer copy's capsule might
    // own its table: keep the capsule alive for good now that it is in use.
    std::mem::forget(capsule);
    Ok(())
}

/// Registry errors are run-time state, like a borrow conflict: RuntimeError.
fn install_error(error: InstallError) -> PyErr {
    PyRuntimeError::new_err(error.to_string())
}
