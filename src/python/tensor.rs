//! The `dlbridge.Tensor` class itself: a Python object holding one core
//! [`Tensor`].
//!
//! Only the type lives here, so that every module that hands tensors to
//! Python (imports, the buffer protocol, the DLPack exchange API) can name it
//! without importing the modules that implement its behaviour. Its Python
//! methods, which call into all of those, are in `tensor_methods.rs`, at the
//! top of the module graph.

use crate::tensor::Tensor;
use pyo3::prelude::*;

/// An n-dimensional tensor that shares memory with NumPy and PyTorch through
/// DLPack.
///
/// The class is `frozen`: its tensor never changes after construction, which
/// is what lets the buffer protocol and the DLPack exchange API lend its
/// shape and strides without copying them.
#[pyclass(frozen, weakref, module = "dlbridge", name = "Tensor")]
pub struct PyTensor {
    /// The core tensor.
    pub inner: Tensor,
}

impl PyTensor {
    /// A new Python `dlbridge.Tensor` holding `inner`, whose memory Python
    /// can reach from now on (`Tensor::expose`).
    #[inline]
    pub(crate) fn wrap(py: Python<'_>, inner: Tensor) -> PyResult<Py<PyTensor>> {
        inner.expose()?;
        Py::new(py, PyTensor { inner })
    }
}
