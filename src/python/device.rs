//! `dlbridge.Device` and the device arguments functions accept.

use crate::device::Device;
use pyo3::exceptions::PyBufferError;
use pyo3::prelude::*;
use pyo3::types::PyString;

/// The device of a tensor; `str(t.device) == "cpu"`.
#[pyclass(frozen, module = "dlbridge", name = "Device")]
pub struct PyDevice {
    device: Device,
}

impl From<Device> for PyDevice {
    fn from(device: Device) -> PyDevice {
        PyDevice { device }
    }
}

#[pymethods]
impl PyDevice {
    /// The device type name, as `torch.device.type`.
    #[getter]
    fn r#type(&self) -> String {
        self.device.to_string()
    }

    fn __str__(&self) -> String {
        self.device.to_string()
    }

    fn __repr__(&self) -> String {
        format!("device(type='{}')", self.device)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<PyDevice>() {
            Ok(other) => other.get().device == self.device,
            Err(_) => other
                .str()
                .is_ok_and(|s| s.to_string() == self.device.to_string()),
        }
    }

    /// Consistent with `__eq__`, which also accepts the device's name:
    /// `hash(t.device) == hash("cpu")`.
    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        PyString::new(py, &self.device.to_string()).hash()
    }
}

/// Checks the `device` argument of `from_dlpack`: None, `"cpu"` (also
/// `"cpu:0"` and `torch.device("cpu")`) or `(1, 0)`. Any other device is a
/// `BufferError`, the array API's error for a device the consumer cannot use.
pub(crate) fn check_device(device: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
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
