//! The rust-numpy side of the extension-call benchmark: the same work as the
//! dlbridge and nanobind extensions, with rust-numpy's own types.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;

/// The sum of a contiguous float32 vector. Torch tensors come in as
/// `t.numpy()`: rust-numpy takes NumPy arrays only.
#[pyfunction]
fn sum_f32(a: PyReadonlyArray1<'_, f32>) -> PyResult<f32> {
    Ok(a.as_slice()?.iter().sum())
}

/// `[0, 1, ..., n-1]` as float32, allocated by Rust and handed to NumPy
/// without a copy. A caller who wants torch does `torch.from_numpy(make(n))`.
#[pyfunction]
fn make(py: Python<'_>, n: usize) -> Bound<'_, PyArray1<f32>> {
    (0..n)
        .map(|i| i as f32)
        .collect::<Vec<f32>>()
        .into_pyarray(py)
}

/// The module `ext_rust_numpy`.
#[pymodule]
fn ext_rust_numpy(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sum_f32, m)?)?;
    m.add_function(wrap_pyfunction!(make, m)?)?;
    Ok(())
}
