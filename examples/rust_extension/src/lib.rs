//! A downstream extension built on dlbridge: it accepts torch tensors and
//! NumPy arrays without copying them, reads and writes them in place from
//! Rust, and returns Rust-allocated tensors that torch and NumPy share.
//!
//! The first items, down to `Accumulator`, are the ones
//! `docs/first-extension.md` walks through: that page quotes them from this
//! file, and `tests/test_first_extension_page.py` checks that it still does.

mod owners;

use dlbridge::ndarray::{Ix2, IxDyn};
use dlbridge::python::{Converted, FloatKind, Framework, TensorMut, TensorRef};
use dlbridge::{DType, Tensor};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Multiplies every element of a float32 tensor of any rank and layout by
/// `factor`, in place, and returns the caller's own object (as torch's `mul_`
/// does): the caller's array or tensor holds the new values, nothing is
/// copied.
#[pyfunction]
fn scale<'py>(mut x: TensorMut<'py, f32, IxDyn>, factor: f32) -> Bound<'py, PyAny> {
    x.as_array_mut().mapv_inplace(|v| v * factor);
    x.object().clone()
}

/// `a + b` for two 2-d float64 tensors of one shape, in the framework of `a`:
/// NumPy in, NumPy out; torch in, torch out; anything else (a dlbridge
/// tensor, another DLPack producer) gives a `dlbridge.Tensor`.
#[pyfunction]
fn add<'py>(
    a: TensorRef<'py, f64, Ix2>,
    b: TensorRef<'py, f64, Ix2>,
) -> PyResult<Bound<'py, PyAny>> {
    if a.shape() != b.shape() {
        return Err(PyValueError::new_err(format!(
            "a has shape {:?} but b has shape {:?}",
            a.shape(),
            b.shape()
        )));
    }
    // Fresh memory that only Rust reaches until it is returned: written
    // through `view_mut`, which needs no GIL token.
    let sum = Tensor::zeros(DType::Float64, a.shape())?;
    {
        let mut out = sum.view_mut::<f64>()?;
        out.zip_mut_with(&a.as_array(), |out, &a| *out = a);
        out.zip_mut_with(&b.as_array(), |out, &b| *out += b);
    }
    let framework = a.framework().unwrap_or(Framework::DLBridge);
    sum.into_framework(a.py(), framework)
}

/// `x / ||x||` (the Euclidean norm of all the elements) as float32, for a
/// tensor of any floating-point dtype and rank, in the caller's framework.
/// float32 is read in place; float16, bfloat16 and float64 are cast into a
/// float32 copy; complex, integer and bool tensors are refused with a
/// `TypeError` (`Converted<FloatKind>`) rather than cast.
#[pyfunction]
fn normalize<'py>(
    x: TensorRef<'py, f32, IxDyn, Converted<FloatKind>>,
) -> PyResult<Bound<'py, PyAny>> {
    let values = x.as_slice();
    let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
    let unit: Vec<f32> = values
        .iter()
        .map(|v| if norm > 0.0 { v / norm } else { 0.0 })
        .collect();
    let framework = x.framework().unwrap_or(Framework::DLBridge);
    Tensor::from_vec(unit, x.shape())?.into_framework(x.py(), framework)
}

/// A running total of float64 batches of one shape, kept between calls in a
/// tensor the object owns (a `Tensor` field keeps its memory alive, whoever
/// allocated it) and handed out without a copy.
#[pyclass]
struct Accumulator {
    total: Tensor,
    batches: usize,
}

#[pymethods]
impl Accumulator {
    /// Zeros of `shape`, allocated by Rust.
    #[new]
    fn new(shape: Vec<usize>) -> PyResult<Self> {
        Ok(Accumulator {
            total: Tensor::zeros(DType::Float64, &shape)?,
            batches: 0,
        })
    }

    /// Adds a float64 batch of the total's shape to the total, in place.
    fn add(&mut self, batch: TensorRef<'_, f64, IxDyn>) -> PyResult<()> {
        if batch.shape() != self.total.shape() {
            return Err(PyValueError::new_err(format!(
                "batch has shape {:?} but the total has shape {:?}",
                batch.shape(),
                self.total.shape()
            )));
        }
        // The getter below hands the total to Python, which may then write
        // it: the guard is one bound to the GIL (`view_mut_py`).
        let mut total = self.total.view_mut_py::<f64>(batch.py())?;
        total.zip_mut_with(&batch.as_array(), |total, &value| *total += value);
        self.batches += 1;
        Ok(())
    }

    /// The total itself, not a copy: a `dlbridge.Tensor` over the object's
    /// memory, which lives as long as either does.
    #[getter]
    fn total(&self) -> Tensor {
        self.total.clone()
    }

    /// How many batches were added.
    #[getter]
    fn batches(&self) -> usize {
        self.batches
    }
}

// What the functions below use besides: they are the other tests' subjects.
use dlbridge::Error;
use dlbridge::ndarray::Ix1;
use dlbridge::python::{Contiguous, RealKind};
use numpy::IntoPyArray;
use pyo3::exceptions::PyTypeError;

/// The name of a framework, as the tests spell it.
fn framework_name(framework: Option<Framework>) -> Option<&'static str> {
    framework.map(|framework| match framework {
        Framework::NumPy => "numpy",
        Framework::Torch => "torch",
        Framework::Jax => "jax",
        Framework::DLBridge => "dlbridge",
        _ => "other",
    })
}

/// What a converting argument says of the caller's tensor: its dtype (before
/// the cast to float64), its framework, and whether `object()` is the very
/// object passed.
#[pyfunction]
fn caller_of_converted<'py>(
    x: TensorRef<'py, f64, IxDyn, Converted<RealKind>>,
    passed: &Bound<'py, PyAny>,
) -> (&'static str, Option<&'static str>, bool) {
    let same = x.object().is(passed);
    (x.dtype().name(), framework_name(x.framework()), same)
}

/// The same for a writable argument.
#[pyfunction]
fn caller_of_writable<'py>(
    x: TensorMut<'py, f32, IxDyn>,
    passed: &Bound<'py, PyAny>,
) -> (&'static str, Option<&'static str>, bool) {
    let same = x.object().is(passed);
    (x.dtype().name(), framework_name(x.framework()), same)
}

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

/// A float32 tensor of any rank and layout as a typed argument sees it: its
/// elements in row-major order, the address of its first element and its
/// shape, to compare with what NumPy and torch say of the same memory.
#[pyfunction]
fn seen_f32(x: TensorRef<'_, f32, IxDyn>) -> (Vec<f32>, usize, Vec<usize>) {
    let values = x.as_array().iter().copied().collect();
    (values, x.as_ptr() as usize, x.shape().to_vec())
}

/// The argument as a `dlbridge.Tensor` over the same memory, kept beyond
/// the call (`TensorRef::to_tensor`).
#[pyfunction]
fn keep(x: TensorRef<'_, f32, IxDyn>) -> PyResult<Tensor> {
    x.to_tensor()
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

/// `copy_into`'s first argument, extracted under its name: a later argument
/// whose borrow conflicts with it then names it (PyO3 tells an extractor
/// nothing of its argument's name).
fn target_argument<'py>(
    target: &Bound<'py, PyAny>,
) -> PyResult<TensorMut<'py, f32, Ix1, Contiguous>> {
    TensorMut::extract_named(target, "target")
}

/// Writes `source` into `target`: a source that is the target's own memory
/// is refused when the second argument is extracted (its borrow conflicts),
/// naming both ("tensor memory is already borrowed mutably, by argument
/// 'target'", noted "while processing 'source'").
#[pyfunction]
fn copy_into(
    #[pyo3(from_py_with = target_argument)] mut target: TensorMut<'_, f32, Ix1, Contiguous>,
    source: TensorRef<'_, f32, Ix1, Contiguous>,
) {
    target.as_slice_mut().copy_from_slice(source.as_slice());
}

/// The sum of a float32 or float64 tensor of any layout (strided, transposed,
/// reversed, broadcast), read in place. The memory comes from Python, so the
/// view is taken attached to the interpreter (`view_py`): its guard cannot
/// leave this thread while the GIL keeps Python's writers out.
#[pyfunction]
fn sum(py: Python<'_>, tensor: Tensor) -> PyResult<f64> {
    match tensor.dtype() {
        DType::Float32 => Ok(tensor
            .view_py::<f32>(py)?
            .iter()
            .map(|&v| f64::from(v))
            .sum()),
        DType::Float64 => Ok(tensor.view_py::<f64>(py)?.sum()),
        other => Err(PyTypeError::new_err(format!(
            "sum() takes a float32 or float64 tensor, got {other}"
        ))),
    }
}

/// Multiplies every element of a float tensor by `factor`, in place: the
/// caller's torch tensor or NumPy array sees the change.
#[pyfunction]
fn scale_(py: Python<'_>, tensor: Tensor, factor: f64) -> PyResult<()> {
    match tensor.dtype() {
        DType::Float32 => tensor
            .view_mut_py::<f32>(py)?
            .mapv_inplace(|v| v * factor as f32),
        DType::Float64 => tensor.view_mut_py::<f64>(py)?.mapv_inplace(|v| v * factor),
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
/// slice API at work: each row is filled through `as_slice_mut`, which needs
/// no interpreter, since the memory is Rust's alone until it is returned.
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
fn try_borrow_twice(py: Python<'_>, tensor: Tensor) -> PyResult<bool> {
    let _first = tensor.as_slice_py::<f32>(py)?;
    match tensor.as_slice_mut_py::<f32>(py) {
        Ok(_) => Ok(true),
        Err(Error::AlreadyBorrowed { .. }) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

/// The sum of a float64 tensor through `view`, the accessor without the
/// interpreter's token: granted for memory only Rust can reach, refused
/// (`RuntimeError`) for memory that came from Python, which Python threads
/// may write whenever the GIL is free.
#[pyfunction]
fn sum_without_token(tensor: Tensor) -> PyResult<f64> {
    Ok(tensor.view::<f64>()?.sum())
}

/// How many times the first element of a contiguous uint64 tensor changed
/// while an attached guard over it was held for `reads` reads. Each read is
/// volatile, so the compiler cannot assume the value: a write landing under
/// the guard would be counted. The guard is bound to the GIL, which this
/// function never releases, so no Python thread can write meanwhile: the
/// answer is 0.
#[pyfunction]
fn watch_first(py: Python<'_>, tensor: Tensor, reads: usize) -> PyResult<usize> {
    let values = tensor.as_slice_py::<u64>(py)?;
    let Some(first) = values.first() else {
        return Ok(0);
    };
    let mut changes = 0;
    for _ in 0..reads {
        // SAFETY: `first` is a live, aligned reference to an initialised u64.
        if unsafe { std::ptr::read_volatile(first) } != *first {
            changes += 1;
        }
    }
    Ok(changes)
}

/// Releases the GIL for `millis` milliseconds, holding no guard: other
/// Python threads run meanwhile.
#[pyfunction]
fn release_gil(py: Python<'_>, millis: u64) {
    py.detach(|| std::thread::sleep(std::time::Duration::from_millis(millis)));
}

/// Whether a mutable, attached guard of a float64 tensor is granted right
/// now (released at once).
#[pyfunction]
fn can_write(py: Python<'_>, tensor: Tensor) -> PyResult<bool> {
    match tensor.view_mut_py::<f64>(py) {
        Ok(_) => Ok(true),
        Err(Error::AlreadyBorrowed { .. }) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

/// How many typed arguments this thread took through dlbridge's NumPy fast
/// path (for the tests that must fail if it is switched off).
#[pyfunction]
fn numpy_fast_path_count() -> u64 {
    dlbridge::python::numpy_fast_path_count()
}

/// Reads a framework name: `"numpy"`, `"torch"`, `"jax"` or `"dlbridge"`.
fn framework(name: &str) -> PyResult<Framework> {
    match name {
        "numpy" => Ok(Framework::NumPy),
        "torch" => Ok(Framework::Torch),
        "jax" => Ok(Framework::Jax),
        "dlbridge" => Ok(Framework::DLBridge),
        other => Err(PyValueError::new_err(format!(
            "unknown framework {other:?}"
        ))),
    }
}

/// `[0, 1, ..., n-1]` as float32 in Rust memory, returned as a
/// `numpy.ndarray` without a copy, with the memory's address.
#[pyfunction]
fn arange_numpy(py: Python<'_>, n: usize) -> PyResult<(Bound<'_, PyAny>, usize)> {
    let values: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let address = values.as_ptr() as usize;
    Ok((Tensor::from_vec(values, &[n])?.into_numpy(py)?, address))
}

/// The same as a `torch.Tensor`.
#[pyfunction]
fn arange_torch(py: Python<'_>, n: usize) -> PyResult<(Bound<'_, PyAny>, usize)> {
    let values: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let address = values.as_ptr() as usize;
    Ok((Tensor::from_vec(values, &[n])?.into_torch(py)?, address))
}

/// The same in the framework of `like` (a NumPy array gives a NumPy array,
/// a torch tensor a torch tensor, anything else a `dlbridge.Tensor`).
#[pyfunction]
fn arange_like<'py>(
    py: Python<'py>,
    n: usize,
    like: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyAny>, usize)> {
    let values: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let address = values.as_ptr() as usize;
    let framework = Framework::of(like).unwrap_or(Framework::DLBridge);
    Ok((
        Tensor::from_vec(values, &[n])?.into_framework(py, framework)?,
        address,
    ))
}

/// The name of `value`'s framework, or None.
#[pyfunction]
fn framework_of(value: &Bound<'_, PyAny>) -> Option<&'static str> {
    framework_name(Framework::of(value))
}

/// Any tensor handed back in the framework named: the same memory, whatever
/// its dtype, layout or read-only flag.
#[pyfunction]
fn share_as<'py>(py: Python<'py>, tensor: Tensor, name: &str) -> PyResult<Bound<'py, PyAny>> {
    tensor.into_framework(py, framework(name)?)
}

/// The squares of a float32 tensor, in an output allocated by the framework
/// of the argument (torch's own allocator for a torch tensor) and filled from
/// Rust; with the output's address as Rust saw it. Typed: the argument note
/// ("while processing 'x'") stays on every refusal.
#[pyfunction]
fn squares<'py>(x: TensorRef<'py, f32, IxDyn>) -> PyResult<(Bound<'py, PyAny>, usize)> {
    let py = x.py();
    let framework = x.framework().unwrap_or(Framework::DLBridge);
    let (output, filled) = framework.zeros(py, DType::Float32, x.shape())?;
    filled
        .view_mut_py::<f32>(py)?
        .zip_mut_with(&x.as_array(), |out, &value| *out = value * value);
    Ok((output, filled.data_ptr() as usize))
}

/// An output of zeros allocated by the framework named, with the address Rust
/// sees.
#[pyfunction]
fn zeros_in<'py>(
    py: Python<'py>,
    name: &str,
    shape: Vec<usize>,
) -> PyResult<(Bound<'py, PyAny>, usize)> {
    let (output, tensor) = framework(name)?.zeros(py, DType::Float64, &shape)?;
    Ok((output, tensor.data_ptr() as usize))
}

/// For timing: a fresh 16-element float32 buffer from Rust.
fn fresh16() -> PyResult<Tensor> {
    let values: Vec<f32> = (0..16).map(|i| i as f32).collect();
    Ok(Tensor::from_vec(values, &[16])?)
}

/// For timing: [`fresh16`] as a `dlbridge.Tensor` (no argument, like the
/// baseline, so that only the conversions differ).
#[pyfunction]
fn fresh16_dlbridge(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    fresh16()?.into_pyobject(py)
}

/// For timing: [`fresh16`] as a `numpy.ndarray`.
#[pyfunction]
fn fresh16_numpy(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    fresh16()?.into_numpy(py)
}

/// For timing: [`fresh16`] as a `torch.Tensor`.
#[pyfunction]
fn fresh16_torch(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    fresh16()?.into_torch(py)
}

/// For timing, the baseline: the same buffer through rust-numpy's
/// `into_pyarray` alone.
#[pyfunction]
fn fresh16_rust_numpy(py: Python<'_>) -> Bound<'_, PyAny> {
    let values: Vec<f32> = (0..16).map(|i| i as f32).collect();
    values.into_pyarray(py).into_any()
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
    m.add_function(wrap_pyfunction!(scale, m)?)?;
    m.add_function(wrap_pyfunction!(add, m)?)?;
    m.add_function(wrap_pyfunction!(normalize, m)?)?;
    m.add_class::<Accumulator>()?;
    m.add_function(wrap_pyfunction!(caller_of_converted, m)?)?;
    m.add_function(wrap_pyfunction!(caller_of_writable, m)?)?;
    m.add_function(wrap_pyfunction!(sum, m)?)?;
    m.add_function(wrap_pyfunction!(scale_, m)?)?;
    m.add_function(wrap_pyfunction!(arange, m)?)?;
    m.add_function(wrap_pyfunction!(eye, m)?)?;
    m.add_function(wrap_pyfunction!(try_borrow_twice, m)?)?;
    m.add_function(wrap_pyfunction!(sum_without_token, m)?)?;
    m.add_function(wrap_pyfunction!(watch_first, m)?)?;
    m.add_function(wrap_pyfunction!(release_gil, m)?)?;
    m.add_function(wrap_pyfunction!(can_write, m)?)?;
    m.add_function(wrap_pyfunction!(numpy_fast_path_count, m)?)?;
    m.add_function(wrap_pyfunction!(sum_f32, m)?)?;
    m.add_function(wrap_pyfunction!(row_sums, m)?)?;
    m.add_function(wrap_pyfunction!(fill_, m)?)?;
    m.add_function(wrap_pyfunction!(address_f32, m)?)?;
    m.add_function(wrap_pyfunction!(seen_f32, m)?)?;
    m.add_function(wrap_pyfunction!(keep, m)?)?;
    m.add_function(wrap_pyfunction!(copy_into, m)?)?;
    m.add_function(wrap_pyfunction!(mean_converted, m)?)?;
    m.add_function(wrap_pyfunction!(arange_numpy, m)?)?;
    m.add_function(wrap_pyfunction!(arange_torch, m)?)?;
    m.add_function(wrap_pyfunction!(arange_like, m)?)?;
    m.add_function(wrap_pyfunction!(framework_of, m)?)?;
    m.add_function(wrap_pyfunction!(share_as, m)?)?;
    m.add_function(wrap_pyfunction!(squares, m)?)?;
    m.add_function(wrap_pyfunction!(zeros_in, m)?)?;
    m.add_function(wrap_pyfunction!(fresh16_dlbridge, m)?)?;
    m.add_function(wrap_pyfunction!(fresh16_numpy, m)?)?;
    m.add_function(wrap_pyfunction!(fresh16_torch, m)?)?;
    m.add_function(wrap_pyfunction!(fresh16_rust_numpy, m)?)?;
    owners::register(m)?;
    Ok(())
}
