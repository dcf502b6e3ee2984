//! The dlbridge side of the extension-call benchmark: the same work as the
//! rust-numpy and nanobind extensions, with today's dlbridge API.
//!
//! Every function takes or returns a plain `dlbridge::Tensor`, so each can
//! switch to typed arguments (`dlbridge::python::TensorRef<'py, f32, Ix1>`)
//! and to `Tensor::into_torch` / `Tensor::into_numpy` once those exist; the
//! places to change are marked `SWITCH:`.

use dlbridge::Tensor;
use dlpark::ffi::DLManagedTensorVersioned;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// The sum of a contiguous float32 tensor from any DLPack producer (NumPy
/// array, torch tensor, dlbridge tensor), read in place.
///
/// SWITCH: `t: TensorRef<'_, f32, Ix1>`, which checks dtype and rank during
/// extraction.
#[pyfunction]
fn sum_f32(t: Tensor) -> PyResult<f32> {
    Ok(t.as_slice::<f32>()?.iter().sum())
}

/// `[0, 1, ..., n-1]` as float32, allocated by Rust, returned as a
/// `dlbridge.Tensor` sharing that memory.
#[pyfunction]
fn make(n: usize) -> PyResult<Tensor> {
    Ok(Tensor::from_vec(values(n), &[n])?)
}

/// `make(n)` returned as a torch tensor.
///
/// SWITCH: `Tensor::into_torch(py)`. Today's best path: a versioned DLPack
/// capsule straight from Rust handed to `torch.from_dlpack`, which skips the
/// `dlbridge.Tensor` object that `torch.from_dlpack(make(n))` would build.
#[pyfunction]
fn make_torch(py: Python<'_>, n: usize) -> PyResult<Bound<'_, PyAny>> {
    static FROM_DLPACK: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let tensor = Tensor::from_vec(values(n), &[n])?;
    let capsule = dlbridge::dlpack::export::<DLManagedTensorVersioned>(&tensor)?;
    FROM_DLPACK
        .import(py, "torch", "from_dlpack")?
        .call1((capsule.into_pyobject(py)?,))
}

/// `make(n)` returned as a NumPy array.
///
/// SWITCH: `Tensor::into_numpy(py)`. Today's best path: the
/// `dlbridge.Tensor` given to `numpy.from_dlpack`, which needs an object with
/// `__dlpack__` (it takes no bare capsule).
#[pyfunction]
fn make_numpy(py: Python<'_>, n: usize) -> PyResult<Bound<'_, PyAny>> {
    static FROM_DLPACK: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let tensor = Tensor::from_vec(values(n), &[n])?.into_pyobject(py)?;
    FROM_DLPACK
        .import(py, "numpy", "from_dlpack")?
        .call1((tensor,))
}

fn values(n: usize) -> Vec<f32> {
    (0..n).map(|i| i as f32).collect()
}

/// The module `ext_dlbridge`.
#[pymodule]
fn ext_dlbridge(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sum_f32, m)?)?;
    m.add_function(wrap_pyfunction!(make, m)?)?;
    m.add_function(wrap_pyfunction!(make_torch, m)?)?;
    m.add_function(wrap_pyfunction!(make_numpy, m)?)?;
    Ok(())
}
