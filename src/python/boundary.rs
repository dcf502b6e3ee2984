//! `Tensor` as a PyO3 argument and return type, for extensions built on
//! dlbridge.
//!
//! A downstream extension compiles its own copy of this crate, and with it its
//! own copy of the `PyTensor` class. Handing that class to Python would create
//! a second `dlbridge.Tensor` type that `isinstance` does not recognise, so a
//! returned tensor goes through the installed `dlbridge` package instead:
//! its storage and layout handed to the installed copy's hand-off table
//! (`handoff.rs`), with no Python call and no DLPack descriptor. For an
//! installed version without that table, a versioned managed tensor
//! (zero-copy, read-only flag included) goes to the DLPack C exchange API of
//! the installed `dlbridge.Tensor` class, or, older still, a capsule to
//! `dlbridge.from_dlpack`. In the dlbridge module itself the two classes are
//! one, and the tensor is wrapped directly.

use super::dlpack_import;
use super::exchange::ExchangeTable;
use super::handoff;
use super::registry;
use super::tensor::PyTensor;
use crate::dlpack;
use crate::tensor::Tensor;
use dlpark::ffi::DLManagedTensorVersioned;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

/// Accepts any DLPack producer (NumPy, PyTorch, dlbridge, others) or capsule,
/// sharing its memory; read-only sources give read-only tensors.
impl<'a, 'py> FromPyObject<'a, 'py> for Tensor {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Tensor> {
        // Before the extension can borrow the tensor, its copy of dlbridge
        // must use the process-wide registry, or its borrows and those of
        // other extensions would not see each other.
        registry::ensure_shared(obj.py())?;
        dlpack_import::import_any(&obj.to_owned())
    }
}

/// Returns the tensor to Python as an instance of the installed
/// `dlbridge.Tensor` class, sharing its memory.
impl<'py> IntoPyObject<'py> for Tensor {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        // An extension that only makes tensors still borrows them (`eye`
        // fills one through `as_slice_mut`): once one is in Python, other
        // extensions can reach its memory, so join the shared registry too.
        registry::ensure_shared(py)?;
        let installed = installed_tensor_class(py)?;
        if installed.is(py.get_type::<PyTensor>()) {
            return Ok(PyTensor::wrap(py, self)?.into_bound(py).into_any());
        }
        if let Some(api) = handoff::installed(py) {
            return handoff::hand_off(api, py, self);
        }
        let managed = dlpack::export::<DLManagedTensorVersioned>(&self)?;
        if let Some(table) = installed_exchange_table(py) {
            return table.to_py_object(py, managed);
        }
        py.import("dlbridge")?
            .getattr("from_dlpack")?
            .call1((managed.into_pyobject(py)?,))
    }
}

/// The DLPack C exchange table of the installed `dlbridge.Tensor`, looked up
/// once; `None` for an installed version that has none.
fn installed_exchange_table(py: Python<'_>) -> Option<ExchangeTable> {
    static TABLE: PyOnceLock<Option<ExchangeTable>> = PyOnceLock::new();
    *TABLE.get_or_init(py, || {
        let class = installed_tensor_class(py).ok()?;
        let capsule = class.getattr("__dlpack_c_exchange_api__").ok()?;
        ExchangeTable::from_capsule(&capsule)
    })
}

/// `dlbridge.Tensor` of the installed package, looked up once.
fn installed_tensor_class(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    static CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    CLASS.import(py, "dlbridge", "Tensor")
}
