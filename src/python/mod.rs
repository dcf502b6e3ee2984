//! The Python extension module `dlbridge._dlbridge`: the only place PyO3
//! appears. `python/dlbridge/__init__.py` re-exports everything defined here.

mod boundary;
mod buffer;
mod convert;
mod dtype;
mod error;
mod fastlist;
mod index;
mod interop;
mod ndarray;
mod tensor;

use pyo3::prelude::*;

pub use dtype::PyDType;
pub use tensor::{PyDevice, PyTensor};

/// Builds the `dlbridge._dlbridge` module.
#[pymodule]
#[pyo3(name = "_dlbridge")]
pub fn dlbridge_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
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
