//! A downstream extension built on dlbridge: it accepts torch tensors and
//! NumPy arrays without copying them, reads and writes them in place from
//! Rust, and returns Rust-allocated tensors that torch and NumPy share.

use dlbridge::{DType, Error, Tensor};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

/// The sum of a float32 or float64 tensor of any layout (strided, transposed,
/// reversed, broadcast), read in place.
#[pyfunction]
fn sum(tensor: Tensor) -> PyResult<f64> {
    match tensor.dtype() {
        DType::Float32 => Ok(tensor.view::<f32>()?.iter().map(|&v| f64::from(v)).sum()),
        DType::Float64 => Ok(tensor.view::<f64>()?.sum()),
        other => Err(PyTypeError::new_err(format!(
            "sum() takes a float32 or float64 tensor, got {other}"
        ))),
    }
}

/// Multiplies every element of a float tensor by `factor`, in place: the
/// caller's torch tensor or NumPy array sees the change.
#[pyfunction]
fn scale_(tensor: Tensor, factor: f64) -> PyResult<()> {
    match tensor.dtype() {
        DType::Float32 => tensor
            .view_mut::<f32>()?
            .mapv_inplace(|v| v * factor as f32),
        DType::Float64 => tensor.view_mut::<f64>()?.mapv_inplace(|v| v * factor),
        other => {
            return Err(PyTypeError::new_err(format!(
                "scale_() takes a float32 or float64 tensor, got {other}"
            )));
        }
    }
    Ok(())
}

/// `[0, 1, ..., n-1]` as float32, in memory allocated by Rust, together with
/// that memory's address so callers can check that nothing copies it.
#[pyfunction]
fn arange(n: usize) -> PyResult<(Tensor, usize)> {
    let values: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let address = values.as_ptr() as usize;
    Ok((Tensor::from_vec(values, &[n])?, address))
}

/// A `rows x cols` float64 identity-like grid whose rows are the borrowed
/// slice API at work: each row is filled through `as_slice_mut`.
#[pyfunction]
fn eye(rows: usize, cols: usize) -> Result<Tensor, PyErr> {
    let tensor = Tensor::zeros(DType::Float64, &[rows, cols])?;
    {
        let mut values = tensor.as_slice_mut::<f64>()?;
        for i in 0..rows.min(cols) {
            values[i * cols + i] = 1.0;
        }
    }
    Ok(tensor)
}

/// Whether Rust can currently borrow the tensor's memory mutably: false while
/// another Rust borrow is alive, true otherwise.
#[pyfunction]
fn try_borrow_twice(tensor: Tensor) -> PyResult<bool> {
    let _first = tensor.as_slice::<f32>()?;
    match tensor.as_slice_mut::<f32>() {
        Ok(_) => Ok(true),
        Err(Error::AlreadyBorrowed { .. }) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

/// The module `dlbridge_example`.
///
/// `gil_used = true`: PyO3 0.28 and newer would otherwise declare the module
/// safe to run without the GIL, and it is not: `scale_` and `eye` hold
/// mutable Rust references into memory that Python code can also reach, which
/// is sound only because the GIL keeps other Python threads out meanwhile.
/// A free-threaded interpreter then keeps the GIL on for this module.
#[pymodule(gil_used = true)]
fn dlbridge_example(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sum, m)?)?;
    m.add_function(wrap_pyfunction!(scale_, m)?)?;
    m.add_function(wrap_pyfunction!(arange, m)?)?;
    m.add_function(wrap_pyfunction!(eye, m)?)?;
    m.add_function(wrap_pyfunction!(try_borrow_twice, m)?)?;
    Ok(())
}
