//! The Python extension module `dlbridge._dlbridge`: the only place PyO3
//! appears. `python/dlbridge/__init__.py` re-exports everything defined here.

mod boundary;
mod buffer;
mod compare;
mod convert;
mod dtype;
mod error;
mod fastlist;
mod index;
mod interop;
mod ndarray;
mod registry;
mod tensor;

use pyo3::prelude::*;

pub use dtype::PyDType;
pub use tensor::{PyDevice, PyTensor};

/// Runs `release` with the GIL held, or leaks what it captures if the
/// interpreter is already gone.
///
/// Storage that holds a Python resource (a NumPy array, a buffer) is
/// released wherever its last user lets go: in a DLPack capsule's destructor
/// or a consumer's deleter, which CPython or another library calls, maybe on
/// another thread. PyO3 would only queue a decref there (it cannot see that
/// the GIL is held), keeping the resource alive until PyO3 next runs, so the
/// GIL is taken here and the release happens at once. After finalization
/// nothing may touch Python, and the resource is leaked, as NumPy does for
/// its DLPack deleters (numpy#22507).
///
/// PyO3's `Python::try_attach` makes the checks (the interpreter initialised,
/// not finalizing where CPython can tell, not inside a GC traversal); when it
/// refuses, what `release` captures is forgotten rather than dropped.
pub(crate) fn release_with_gil(release: impl FnOnce()) {
    let mut pending = Some(release);
    Python::try_attach(|_py| {
        if let Some(release) = pending.take() {
            release();
        }
    });
    // Not attached: nothing may touch Python, so nothing is released.
    std::mem::forget(pending);
}

/// Builds the `dlbridge._dlbridge` module.
///
/// `gil_used = true`: since PyO3 0.28 a bare `#[pymodule]` declares itself safe
/// to run without the GIL (`Py_mod_gil = Py_MOD_GIL_NOT_USED`), and dlbridge is
/// not: its soundness arguments (Rust references into tensor memory, writes
/// that no Python thread can interleave) rely on the GIL being held, so a
/// free-threaded interpreter must re-enable the GIL when it imports this module.
/// The slot only exists on Python 3.13 and newer.
#[pymodule(gil_used = true)]
#[pyo3(name = "_dlbridge")]
pub fn dlbridge_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Publish the process-wide borrow registry before anything else can use
    // this copy's, and before any other extension looks for it here.
    registry::share_on(m)?;
    m.add_class::<PyTensor>()?;
    // The DLPack 1.3 C exchange API, for consumers that look for it on the
    // type (tvm-ffi, and dlbridge itself when compiled into another
    // extension): tensors cross in C, with no Python call and no capsule.
    dlpark::python::install_exchange_api::<PyTensor>(m.py())?;
    m.add_class::<PyDType>()?;
    m.add_class::<PyDevice>()?;
    for dtype in crate::DType::ALL {
        m.add(dtype.name(), dtype::instance(m.py(), dtype))?;
    }
    m.add_function(wrap_pyfunction!(tensor::from_numpy, m)?)?;
    m.add_function(wrap_pyfunction!(tensor::as_tensor, m)?)?;
    m.add_function(wrap_pyfunction!(tensor::tensor, m)?)?;
    m.add_function(wrap_pyfunction!(tensor::from_dlpack, m)?)?;
    m.add_function(wrap_pyfunction!(tensor::clone, m)?)?;
    m.add_function(wrap_pyfunction!(buffer::frombuffer, m)?)?;
    m.add_function(wrap_pyfunction!(tensor::from_pickle, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
