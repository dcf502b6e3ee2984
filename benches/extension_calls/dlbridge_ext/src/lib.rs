//! The dlbridge side of the extension-call benchmark: the same work as the
//! rust-numpy and nanobind extensions, written as a dlbridge user would:
//! a typed argument (`TensorRef`), and results in the caller's framework
//! (`Tensor::into_torch`, `Tensor::into_numpy`).

use dlbridge::Tensor;
use dlbridge::python::{Contiguous, TensorRef};
use ndarray::Ix1;
use pyo3::prelude::*;

/// The sum of a contiguous 1-d float32 tensor from any DLPack producer (NumPy
/// array, torch tensor, dlbridge tensor), read in place as one slice; dtype,
/// rank and layout are checked when the argument is extracted.
#[pyfunction]
fn sum_f32(t: TensorRef<'_, f32, Ix1, Contiguous>) -> f32 {
    t.as_slice().iter().sum()
}

/// `[0, 1, ..., n-1]` as float32, allocated by Rust, returned as a
/// `dlbridge.Tensor` sharing that memory.
#[pyfunction]
fn make(n: usize) -> PyResult<Tensor> {
    Ok(Tensor::from_vec(values(n), &[n])?)
}

/// `make(n)` returned as a torch tensor sharing the Rust memory (torch's
/// DLPack C exchange API, no Python-level call).
#[pyfunction]
fn make_torch(py: Python<'_>, n: usize) -> PyResult<Bound<'_, PyAny>> {
    Tensor::from_vec(values(n), &[n])?.into_torch(py)
}

/// `make(n)` returned as a NumPy array sharing the Rust memory (NumPy's C
/// API, no Python-level call).
#[pyfunction]
fn make_numpy(py: Python<'_>, n: usize) -> PyResult<Bound<'_, PyAny>> {
    Tensor::from_vec(values(n), &[n])?.into_numpy(py)
}

/// `make(n)` held by a Rust owner that is not a `Vec` (a `Box<[f32]>`, through
/// `Tensor::from_owner`, kept boxed inside the storage) and returned as a
/// read-only NumPy array sharing its memory.
#[pyfunction]
fn make_owner_numpy(py: Python<'_>, n: usize) -> PyResult<Bound<'_, PyAny>> {
    Tensor::from_owner(values(n).into_boxed_slice(), &[n])?.into_numpy(py)
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
    m.add_function(wrap_pyfunction!(make_owner_numpy, m)?)?;
    Ok(())
}
