//! A second extension with its own compiled copy of dlbridge, next to
//! `examples/rust_extension`: the tests borrow one NumPy array from both and
//! check that each sees the other's borrows, which only holds if every copy
//! uses the one process-wide registry.

use dlbridge::{DType, Error, Tensor};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

fn require_float64(tensor: &Tensor) -> PyResult<()> {
    match tensor.dtype() {
        DType::Float64 => Ok(()),
        other => Err(PyTypeError::new_err(format!(
            "expected a float64 tensor, got {other}"
        ))),
    }
}

/// Holds a mutable borrow of a float64 tensor while `callback()` runs, and
/// returns what it returned.
///
/// The callback runs Python code while Rust holds `&mut` access, which is
/// only sound if nothing writes to or reads the memory meanwhile: dlbridge
/// refuses its own accesses (in every extension), and the callback must
/// leave NumPy or torch access to this memory alone.
#[pyfunction]
fn hold_mut(py: Python<'_>, tensor: Tensor, callback: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    require_float64(&tensor)?;
    let _held = tensor.view_mut_py::<f64>(py)?;
    Ok(callback.call0()?.unbind())
}

/// Holds a shared borrow of a float64 tensor while `callback()` runs, and
/// returns what it returned. The callback must not write to the memory
/// except through dlbridge, which refuses.
#[pyfunction]
fn hold_shared(py: Python<'_>, tensor: Tensor, callback: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    require_float64(&tensor)?;
    let _held = tensor.view_py::<f64>(py)?;
    Ok(callback.call0()?.unbind())
}

/// Whether a mutable borrow of the tensor is granted right now (it is
/// released at once): false while any other borrow of its memory is alive.
#[pyfunction]
fn can_borrow_mut(py: Python<'_>, tensor: Tensor) -> PyResult<bool> {
    require_float64(&tensor)?;
    match tensor.view_mut_py::<f64>(py) {
        Ok(_) => Ok(true),
        Err(Error::AlreadyBorrowed { .. }) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

/// The module `second_extension`.
///
/// `gil_used = true`: the functions above hold Rust references into tensor
/// memory on the premise that the GIL keeps other Python threads out, so a
/// free-threaded interpreter must keep the GIL on for this module (PyO3 0.28
/// and newer would otherwise declare it safe without one).
#[pymodule(gil_used = true)]
fn second_extension(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(hold_mut, m)?)?;
    m.add_function(wrap_pyfunction!(hold_shared, m)?)?;
    m.add_function(wrap_pyfunction!(can_borrow_mut, m)?)?;
    Ok(())
}
