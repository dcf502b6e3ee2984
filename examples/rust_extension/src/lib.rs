//! A downstream extension built on dlbridge: it accepts torch tensors and
//! NumPy arrays without copying them, reads and writes them in place from
//! Rust, and returns Rust-allocated tensors that torch and NumPy share.

use dlbridge::python::{Contiguous, Converted, TensorMut, TensorRef};
use dlbridge::{DType, Error, Tensor};
use ndarray::{Ix1, Ix2, IxDyn};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

/// The sum of a contiguous 1-d float32 tensor, read as one slice: the
/// signature does the checking (dtype, rank, layout), the body none.
#[pyfunction]
fn sum_f32(x: TensorRef<'_, f32, Ix1, Contiguous>) -> f32 {
    x.as_slice().iter().sum()
}

/// Each row's sum of a 2-d float32 tensor of any layout, written into `out`,
/// a writable 1-d float32 tensor (the caller's array or tensor sees it).
#[pyfunction]
fn row_sums(x: TensorRef<'_, f32, Ix2>, mut out: TensorMut<'_, f32, Ix1>) -> PyResult<()> {
    if out.shape()[0] != x.shape()[0] {
        return Err(PyTypeError::new_err(format!(
            "out has {} elements for {} rows",
            out.shape()[0],
            x.shape()[0]
        )));
    }
    let x = x.as_array();
    for (row, total) in x.rows().into_iter().zip(out.as_array_mut().iter_mut()) {
        *total = row.sum();
    }
    Ok(())
}

/// Sets every element of a float64 tensor of any rank to `value`, in place.
#[pyfunction]
fn fill_(mut x: TensorMut<'_, f64, IxDyn>, value: f64) {
    x.as_array_mut().fill(value);
}

/// The address of the first element of a 1-d float32 tensor as the typed
/// argument sees it, to check that nothing was copied.
#[pyfunction]
fn address_f32(x: TensorRef<'_, f32, Ix1>) -> usize {
    x.as_ptr() as usize
}

/// The mean of a 1-d tensor of any dtype and layout, read as contiguous
/// float64 (converted, by a copy, only when it is not already), with the
/// address read, to show when the caller's memory is used directly.
#[pyfunction]
fn mean_converted(x: TensorRef<'_, f64, Ix1, Converted>) -> (f64, usize) {
    let values = x.as_slice();
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    (mean, x.as_ptr() as usize)
}

/// Writes `source` into `target`: a source that is the target's own memory
/// is refused when the second argument is extracted (its borrow conflicts).
#[pyfunction]
fn copy_into(
    mut target: TensorMut<'_, f32, Ix1, Contiguous>,
    source: TensorRef<'_, f32, Ix1, Contiguous>,
) {
    target.as_slice_mut().copy_from_slice(source.as_slice());
}

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
    m.add_function(wrap_pyfunction!(sum_f32, m)?)?;
    m.add_function(wrap_pyfunction!(row_sums, m)?)?;
    m.add_function(wrap_pyfunction!(fill_, m)?)?;
    m.add_function(wrap_pyfunction!(address_f32, m)?)?;
    m.add_function(wrap_pyfunction!(copy_into, m)?)?;
    m.add_function(wrap_pyfunction!(mean_converted, m)?)?;
    Ok(())
}
