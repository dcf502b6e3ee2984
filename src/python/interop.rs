//! DLPack at the Python boundary: consuming producers and capsules through
//! dlpark, and the parts of `__dlpack__` that dlpark leaves to producers.

use super::tensor::PyTensor;
use crate::dlpack;
use crate::tensor::Tensor;
use dlpark::ffi::{
    DLDevice, DLManagedTensor, DLManagedTensorVersioned, DLPACK_MAJOR_VERSION, DLPACK_MINOR_VERSION,
};
use dlpark::python::consumer::exchange::ExchangeApi;
use dlpark::python::{
    DlpackExchangeProducer, DlpackExporter, ExportAbi, ExportRequest, ImportedDlpack, export_dlpack,
};
use dlpark::{DlpackFlags, Managed};
use numpy::PyUntypedArray;
use pyo3::exceptions::{PyBufferError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyCapsule, PyDict, PyFloat, PyInt, PyList, PyTuple};

/// Whether `value` can be imported: a dlbridge tensor, a DLPack capsule, or an
/// object with `__dlpack__`.
pub fn is_dlpack_source(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    if is_plain_python(value) {
        return Ok(false);
    }
    Ok(value.is_instance_of::<PyTensor>()
        || value.is_instance_of::<PyCapsule>()
        || value.hasattr(intern!(value.py(), "__dlpack__"))?)
}

/// Lists, tuples and plain numbers: never DLPack producers, and checked
/// first because asking them for `__dlpack__` (or their type for the exchange
/// API) would raise and discard an AttributeError each time.
fn is_plain_python(value: &Bound<'_, PyAny>) -> bool {
    value.is_exact_instance_of::<PyList>()
        || value.is_exact_instance_of::<PyTuple>()
        || value.is_exact_instance_of::<PyFloat>()
        || value.is_exact_instance_of::<PyInt>()
        || value.is_exact_instance_of::<PyBool>()
}

/// Imports any DLPack source, sharing its memory.
pub fn import_any(value: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    import(value, None)
}

/// Imports `value` without copying.
///
/// dlbridge tensors, NumPy arrays and C exchange API producers need no
/// capsule ([`try_import_fast`]); everything else is asked through its
/// Python-level `__dlpack__`.
///
/// `copy` is passed to the producer only as `False` (the array API's "must
/// not copy"); `copy=True` is honoured by the caller copying locally, because
/// producers such as PyTorch never set `IS_COPIED` and dlpark would then
/// refuse their answer (see DLPACK-NOTES.md).
pub fn import(value: &Bound<'_, PyAny>, copy: Option<bool>) -> PyResult<Tensor> {
    if let Some(tensor) = try_import_fast(value)? {
        return Ok(tensor);
    }
    let capsule = if value.is_instance_of::<PyCapsule>() {
        value.clone()
    } else {
        request_capsule(value, copy)?
    };
    let imported = consume(&capsule)?;
    let tensor = match imported {
        ImportedDlpack::Legacy(managed) => dlpack::import(managed)?,
        ImportedDlpack::Versioned(managed) => {
            if copy == Some(false) && managed.flags().contains(DlpackFlags::IS_COPIED) {
                return Err(PyBufferError::new_err(
                    "copy=False, but the producer could only provide a copy",
                ));
            }
            dlpack::import(managed)?
        }
    };
    Ok(tensor)
}

/// The imports that need no capsule: a dlbridge tensor (shared directly), a
/// NumPy array (its fields read directly), and a producer with the C exchange
/// API. `None` for everything else.
pub fn try_import_fast(value: &Bound<'_, PyAny>) -> PyResult<Option<Tensor>> {
    if let Ok(tensor) = value.cast::<PyTensor>() {
        return Ok(Some(tensor.get().inner.clone()));
    }
    if let Ok(array) = value.cast::<PyUntypedArray>() {
        // What NumPy's `__dlpack__` would give, without the capsule.
        return super::ndarray::import_ndarray(array).map(Some);
    }
    if is_plain_python(value) {
        return Ok(None);
    }
    import_through_exchange_api(value)
}

/// Imports through the DLPack 1.3 C exchange API (`__dlpack_c_exchange_api__`
/// on the type, as torch 2.15 tensors have): the producer hands over a managed
/// tensor from C, with no Python call and no capsule.
///
/// PyTorch's exchange callback skips the checks its `__dlpack__` makes, so
/// they are made here first, and a tensor that fails them goes the
/// `__dlpack__` way, which raises torch's own `BufferError`: one that requires
/// grad, and a complex one whose conjugate or negative bit is set (its values
/// differ from its memory). Returns `None` when the object has no exchange API
/// or fails those checks.
fn import_through_exchange_api(value: &Bound<'_, PyAny>) -> PyResult<Option<Tensor>> {
    let py = value.py();
    if value.is_instance_of::<PyCapsule>() {
        return Ok(None);
    }
    let Some(api) = ExchangeApi::from_object(value.as_borrowed())? else {
        return Ok(None);
    };
    if let Ok(requires_grad) = value.getattr(intern!(py, "requires_grad"))
        && requires_grad.is_truthy()?
    {
        return Ok(None);
    }
    let (managed, _stream) = api
        .import_managed_no_sync(value.as_borrowed())?
        .into_parts();
    let tensor = dlpack::import(managed)?;
    if tensor.dtype().is_complex() {
        for flag in [intern!(py, "is_conj"), intern!(py, "is_neg")] {
            if value.hasattr(flag)? && value.call_method0(flag)?.is_truthy()? {
                return Ok(None);
            }
        }
    }
    Ok(Some(tensor))
}

/// Calls `value.__dlpack__`, as the array API's `from_dlpack` does: with
/// `max_version` (the newest DLPack dlpark reads) and, for `copy=False`, with
/// `copy`; producers written before the 2023.12 standard take no keywords, and
/// are asked again without them on `TypeError`, as NumPy and PyTorch do.
fn request_capsule<'py>(
    value: &Bound<'py, PyAny>,
    copy: Option<bool>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = value.py();
    let Ok(method) = value.getattr(intern!(py, "__dlpack__")) else {
        return Err(PyTypeError::new_err(format!(
            "object of type '{}' does not support the DLPack protocol (no __dlpack__ method)",
            value.get_type().name()?
        )));
    };
    let kwargs = PyDict::new(py);
    kwargs.set_item(
        intern!(py, "max_version"),
        (DLPACK_MAJOR_VERSION, DLPACK_MINOR_VERSION),
    )?;
    if copy == Some(false) {
        kwargs.set_item(intern!(py, "copy"), false)?;
    }
    match method.call((), Some(&kwargs)) {
        Err(error) if error.is_instance_of::<PyTypeError>(py) => method.call0().map_err(|_| error),
        result => result,
    }
}

/// Consumes a capsule through dlpark, with its one error that has a
/// spec-mandated type fixed: a capsule whose DLPack major version is newer
/// than ours (dlpark releases it and raises `RuntimeError`) is a
/// `BufferError` in the spec and in NumPy.
fn consume(capsule: &Bound<'_, PyAny>) -> PyResult<ImportedDlpack> {
    let py = capsule.py();
    if !capsule.is_instance_of::<PyCapsule>() {
        return Err(PyTypeError::new_err(format!(
            "__dlpack__ must return a DLPack capsule, got {}",
            capsule.get_type().name()?
        )));
    }
    dlpark::python::from_dlpack(capsule.as_borrowed(), None, None).map_err(|error| {
        if error.is_instance_of::<PyRuntimeError>(py)
            && error
                .value(py)
                .to_string()
                .starts_with("incompatible DLPack major version")
        {
            PyBufferError::new_err(error.value(py).to_string())
        } else {
            error
        }
    })
}

/// Parses the `device` argument of `from_dlpack`: None, `"cpu"` (also
/// `"cpu:0"` and `torch.device("cpu")`) or `(1, 0)`. Any other device is a
/// `BufferError`, the array API's error for a device the consumer cannot use.
pub fn check_device(device: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    let Some(device) = device.filter(|d| !d.is_none()) else {
        return Ok(());
    };
    if let Ok((device_type, device_id)) = device.extract::<(i64, i64)>() {
        return if (device_type, device_id) == (1, 0) {
            Ok(())
        } else {
            Err(PyBufferError::new_err(format!(
                "unsupported device ({device_type}, {device_id}): dlbridge tensors live on the \
                 CPU, (1, 0)"
            )))
        };
    }
    let name = device.str()?;
    match name.to_str()? {
        "cpu" | "cpu:0" => Ok(()),
        other => Err(PyBufferError::new_err(format!(
            "unsupported device {other:?}: dlbridge tensors live on the CPU"
        ))),
    }
}

/// Answers `__dlpack__` for a dlbridge tensor.
pub fn export(
    tensor: &Tensor,
    py: Python<'_>,
    stream: Option<&Bound<'_, PyAny>>,
    max_version: Option<(u32, u32)>,
    dl_device: Option<(u32, i32)>,
    copy: Option<bool>,
) -> PyResult<Py<PyAny>> {
    if let Some(stream) = stream.filter(|s| !s.is_none()) {
        // The array API: on CPU the only valid stream is None.
        return Err(PyValueError::new_err(format!(
            "stream must be None for a CPU tensor, got {}",
            stream.repr()?
        )));
    }
    let legacy = max_version.is_none_or(|(major, _)| major < 1);
    if legacy && tensor.is_readonly() && copy != Some(true) {
        // Checked before dlpark's request validation, whose message for this
        // case does not say what to do; `dlpack::export` refuses it too.
        return Err(crate::Error::ReadOnlyLegacyExport.into());
    }
    let exporter = Exporter { tensor };
    if copy == Some(true) {
        // dlpark's exporter only shares; a requested copy is made here and
        // flagged IS_COPIED where the ABI can say so.
        let request = ExportRequest::parse(None, max_version, dl_device, None)?;
        request.validate_zero_copy(exporter.device(), DlpackFlags::empty())?;
        return match request.abi() {
            ExportAbi::Versioned => Ok(dlpack::export_copy::<DLManagedTensorVersioned>(tensor)?
                .into_pyobject(py)?
                .into_any()
                .unbind()),
            ExportAbi::Legacy => Ok(dlpack::export::<DLManagedTensor>(&tensor.deep_copy()?)?
                .into_pyobject(py)?
                .into_any()
                .unbind()),
        };
    }
    let request = ExportRequest::parse(None, max_version, dl_device, copy)?;
    export_dlpack(&exporter, py, request)
}

/// A tensor seen through dlpark's reusable-producer interface.
struct Exporter<'a> {
    tensor: &'a Tensor,
}

impl DlpackExporter for Exporter<'_> {
    fn device(&self) -> dlpark::ffi::DLDevice {
        self.tensor.device().to_dlpack()
    }

    fn flags(&self) -> DlpackFlags {
        if self.tensor.is_readonly() {
            DlpackFlags::READ_ONLY
        } else {
            DlpackFlags::empty()
        }
    }

    fn prepare_export(&self, _py: Python<'_>, _request: &ExportRequest<'_>) -> PyResult<()> {
        // CPU memory needs no stream synchronisation.
        Ok(())
    }

    fn export_legacy(&self, _py: Python<'_>) -> PyResult<Managed<DLManagedTensor>> {
        Ok(dlpack::export(self.tensor)?)
    }

    fn export_versioned(&self, _py: Python<'_>) -> PyResult<Managed<DLManagedTensorVersioned>> {
        Ok(dlpack::export(self.tensor)?)
    }
}

// SAFETY: no borrowed view is published (`HAS_DLTENSOR_VIEW` is false);
// managed tensors come from `dlpack::export`, which follows DLPack's ownership
// contract (the storage stays alive until the deleter runs); a CPU tensor has
// no stream, so the null stream is the live one.
unsafe impl DlpackExchangeProducer for PyTensor {
    fn managed_tensor_no_sync(
        &self,
        _py: Python<'_>,
    ) -> PyResult<Managed<DLManagedTensorVersioned>> {
        Ok(dlpack::export(&self.inner)?)
    }

    fn current_work_stream(_py: Python<'_>, device: DLDevice) -> PyResult<*mut std::ffi::c_void> {
        crate::Device::from_dlpack(device)?;
        Ok(std::ptr::null_mut())
    }

    fn from_managed_tensor_no_sync(
        py: Python<'_>,
        tensor: Managed<DLManagedTensorVersioned>,
    ) -> PyResult<Py<PyTensor>> {
        Py::new(
            py,
            PyTensor {
                inner: dlpack::import(tensor)?,
            },
        )
    }
}
