//! DLPack out of dlbridge: the export behind `Tensor.__dlpack__` (through
//! dlpark's producer helpers, with the parts of the array API's `__dlpack__`
//! that dlpark leaves to producers; the method itself, which reads the
//! arguments, is `dlpack_method.rs`) and the C exchange API that torch and
//! tvm-ffi consumers call without a Python round trip.

use super::tensor::PyTensor;
use crate::borrow::Participation;
use crate::dlpack;
use crate::tensor::Tensor;
use dlpark::ffi::{
    DLDevice, DLManagedTensor, DLManagedTensorVersioned, DLPACK_MAJOR_VERSION, DLTensor,
};
use dlpark::python::{
    DlpackExchangeProducer, DlpackExporter, ExportAbi, ExportRequest, export_dlpack,
};
use dlpark::{DlpackFlags, Managed};
use pyo3::exceptions::{PyBufferError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt};

/// Reads `__dlpack__`'s `max_version`: any sequence of two ints, as NumPy
/// and torch accept (`[1, 0]` too). A negative major asks for no versioned
/// capsule, like 0; numbers past `u32` are clamped, since only their order
/// against dlbridge's version matters.
pub fn parse_max_version(version: &Bound<'_, PyAny>) -> PyResult<(u32, u32)> {
    let clamp = |v: i64| v.clamp(0, i64::from(u32::MAX)) as u32;
    // The tuple every consumer passes, without building a list.
    if let Ok((major, minor)) = version.extract::<(i64, i64)>() {
        return Ok((clamp(major), clamp(minor)));
    }
    let parts: Vec<i64> = version.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "max_version must be a (major, minor) pair of ints, got {}",
            version
                .repr()
                .map_or_else(|_| "?".into(), |r| r.to_string())
        ))
    })?;
    let [major, minor] = parts[..] else {
        return Err(PyTypeError::new_err(format!(
            "max_version must be a (major, minor) pair of ints, got {parts:?}"
        )));
    };
    Ok((clamp(major), clamp(minor)))
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
        if !stream.is_instance_of::<PyInt>() || stream.is_instance_of::<PyBool>() {
            // The array API types `stream` as `int | None`; torch raises
            // TypeError for anything else.
            return Err(PyTypeError::new_err(format!(
                "stream must be an int or None, got {}",
                stream.get_type().name()?
            )));
        }
        // The array API: on CPU the only valid stream is None.
        return Err(PyValueError::new_err(format!(
            "stream must be None for a CPU tensor, got {}",
            stream.repr()?
        )));
    }
    // The request NumPy's and torch's `from_dlpack` make: a versioned capsule,
    // no device, no copy. dlpark's request checks all pass for it (no copy
    // asked, the source's device, and a versioned ABI that carries the
    // READ_ONLY flag), so the capsule is made directly, as `export_dlpack`
    // would make it.
    if max_version.is_some_and(|(major, _)| major >= DLPACK_MAJOR_VERSION)
        && dl_device.is_none()
        && copy != Some(true)
    {
        return Ok(dlpack::export::<DLManagedTensorVersioned>(tensor)?
            .into_pyobject(py)?
            .into_any()
            .unbind());
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
            // Started from Python: the copies only check for Rust borrows.
            ExportAbi::Versioned => Ok(dlpack::export_copy_with::<DLManagedTensorVersioned>(
                tensor,
                Participation::CheckOnly,
            )?
            .into_pyobject(py)?
            .into_any()
            .unbind()),
            ExportAbi::Legacy => Ok(dlpack::export::<DLManagedTensor>(
                &tensor.to_dtype_with(tensor.dtype(), Participation::CheckOnly)?,
            )?
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

// SAFETY: the borrowed view (`HAS_DLTENSOR_VIEW`) points into the frozen
// `PyTensor`'s own layout vectors and storage, which never change and live
// as long as the object, so they stay valid until the producer next regains
// control and beyond; managed tensors come from `dlpack::export`, which
// follows DLPack's ownership contract (the storage stays alive until the
// deleter runs); a CPU tensor has no stream, so the null stream is the live
// one.
unsafe impl DlpackExchangeProducer for PyTensor {
    const HAS_DLTENSOR_VIEW: bool = true;

    fn managed_tensor_no_sync(
        &self,
        _py: Python<'_>,
    ) -> PyResult<Managed<DLManagedTensorVersioned>> {
        Ok(dlpack::export(&self.inner)?)
    }

    /// A `DLTensor` borrowing this tensor's shape and strides, for consumers
    /// that only look at the tensor while the caller holds it (torch fills
    /// the same slot). It has no flags, so a read-only tensor is refused, as
    /// the legacy export refuses it.
    fn tensor_view_no_sync(&self, _py: Python<'_>) -> PyResult<DLTensor> {
        let tensor = &self.inner;
        if tensor.is_readonly() {
            return Err(PyBufferError::new_err(
                "a borrowed DLTensor carries no read-only flag, so a read-only tensor is not \
                 lent as one; use managed_tensor_from_py_object_no_sync, whose versioned \
                 tensor is flagged READ_ONLY",
            ));
        }
        // `usize` and `isize` have `i64`'s size and alignment here, and every
        // shape and stride fits `isize`, so the vectors read as `i64` arrays.
        const _: () = assert!(size_of::<usize>() == size_of::<i64>());
        Ok(DLTensor {
            data: tensor.data_ptr().cast_mut().cast(),
            device: tensor.device().to_dlpack(),
            ndim: tensor.ndim() as i32,
            dtype: tensor.dtype().to_dlpack(),
            shape: tensor.shape().as_ptr().cast_mut().cast(),
            strides: tensor.strides().as_ptr().cast_mut().cast(),
            byte_offset: 0,
        })
    }

    fn current_work_stream(_py: Python<'_>, device: DLDevice) -> PyResult<*mut std::ffi::c_void> {
        crate::Device::from_dlpack(device)?;
        Ok(std::ptr::null_mut())
    }

    /// A fresh zeroed CPU tensor shaped like `prototype` (its data, strides
    /// and offset are ignored, as the DLPack exchange API specifies).
    fn allocate(prototype: &DLTensor) -> Result<Managed<DLManagedTensorVersioned>, String> {
        let refuse = |error: crate::Error| error.to_string();
        crate::Device::from_dlpack(prototype.device).map_err(refuse)?;
        let dtype = crate::DType::from_dlpack(prototype.dtype).map_err(refuse)?;
        let ndim = usize::try_from(prototype.ndim)
            .map_err(|_| format!("negative ndim {} in the prototype", prototype.ndim))?;
        crate::layout::check_ndim(ndim).map_err(refuse)?;
        let shape: &[i64] = match ndim {
            0 => &[],
            _ if prototype.shape.is_null() => {
                return Err(format!("NULL shape for a prototype of {ndim} dimensions"));
            }
            // SAFETY: the caller passes a valid prototype, whose `shape`
            // points to `ndim` sizes (checked non-NULL above).
            _ => unsafe { std::slice::from_raw_parts(prototype.shape, ndim) },
        };
        let shape = shape
            .iter()
            .map(|&size| usize::try_from(size))
            .collect::<Result<Vec<usize>, _>>()
            .map_err(|_| format!("negative shape {shape:?} in the prototype"))?;
        let tensor = Tensor::zeros(dtype, &shape).map_err(refuse)?;
        dlpack::export(&tensor).map_err(refuse)
    }

    fn from_managed_tensor_no_sync(
        py: Python<'_>,
        tensor: Managed<DLManagedTensorVersioned>,
    ) -> PyResult<Py<PyTensor>> {
        PyTensor::wrap(py, dlpack::import(tensor)?)
    }
}
