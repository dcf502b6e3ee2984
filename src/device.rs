//! Where a tensor's memory lives.

use crate::error::{Error, Result};
use dlpark::ffi::{DLDevice, DLDeviceType};
use std::fmt;

/// The device of a tensor. dlbridge tensors live in host memory.
///
/// Non-exhaustive: accelerator memory would be a new variant, which must not
/// break a user's `match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Device {
    /// Host memory, DLPack device `(kDLCPU = 1, 0)`.
    Cpu,
}

impl Device {
    /// The DLPack descriptor, as `__dlpack_device__` reports it.
    pub const fn to_dlpack(self) -> DLDevice {
        match self {
            Device::Cpu => DLDevice::CPU,
        }
    }

    /// Maps a DLPack device to a dlbridge device.
    ///
    /// DLPack numbers host memory `(1, 0)`; CUDA-pinned host memory (`kDLCUDAHost`)
    /// is also readable from the CPU, but its lifetime is tied to a CUDA
    /// context, so only plain host memory is accepted.
    ///
    /// ```
    /// use dlbridge::{Device, Error};
    /// use dlpark::ffi::DLDevice;
    ///
    /// assert_eq!(Device::from_dlpack(DLDevice::CPU)?, Device::Cpu);
    /// assert_eq!(Device::Cpu.to_dlpack(), DLDevice::CPU);
    /// assert_eq!(
    ///     Device::from_dlpack(DLDevice::cuda(1)).unwrap_err(),
    ///     Error::UnsupportedDevice { device_type: 2, device_id: 1 }
    /// );
    /// # Ok::<(), Error>(())
    /// ```
    pub fn from_dlpack(device: DLDevice) -> Result<Device> {
        if device.device_type == DLDeviceType::CPU && device.device_id == 0 {
            Ok(Device::Cpu)
        } else {
            Err(Error::UnsupportedDevice {
                device_type: device.device_type.0,
                device_id: device.device_id,
            })
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
        }
    }
}
