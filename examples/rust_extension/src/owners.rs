//! Rust-owned memory handed to Python without a copy: a memory-mapped file
//! as a read-only NumPy array, a table Rust keeps using while NumPy reads it,
//! owned `ndarray` arrays of any layout, and (for the tests) an owner that
//! counts its drops.

use dlbridge::ndarray::{Array2, Ix1, ShapeBuilder, s};
use dlbridge::{DType, Tensor};
use memmap2::Mmap;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The float32 values of the file at `path` as a read-only NumPy array over a
/// memory map of the file: nothing is read or copied until NumPy touches the
/// pages, and the mapping lives as long as the array (or any view of it),
/// whatever happens to Rust's handle.
///
/// The file must not be truncated or written while the array lives: a
/// mapping shows every write to the file, by any process, and a truncated
/// one faults. That is why mapping is `unsafe` in `memmap2`, and why the
/// array is read-only.
#[pyfunction]
fn map_floats(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyAny>> {
    let file = File::open(&path)?;
    // SAFETY: the caller promises (above) that the file is neither truncated
    // nor written while it is mapped; the map is only read.
    let map = unsafe { Mmap::map(&file)? };
    let itemsize = DType::Float32.itemsize();
    if map.len() % itemsize != 0 {
        return Err(PyValueError::new_err(format!(
            "{} holds {} bytes, not a whole number of float32 values",
            path.display(),
            map.len()
        )));
    }
    let count = map.len() / itemsize;
    Tensor::from_bytes_owner(map, DType::Float32, &[count], 0)?.into_numpy(py)
}

/// A gamma-decoding table that Rust computes once and keeps using
/// ([`linearize`]), shared with every NumPy array `gamma_table` returns.
fn table() -> &'static Arc<[f32]> {
    static TABLE: OnceLock<Arc<[f32]>> = OnceLock::new();
    TABLE.get_or_init(|| (0..256).map(|i| (i as f32 / 255.0).powf(2.2)).collect())
}

/// The gamma table as a read-only NumPy array over Rust's own `Arc<[f32]>`:
/// no copy, and no writes (Rust reads the table at the same time).
#[pyfunction]
fn gamma_table(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    Tensor::from_owner(Arc::clone(table()), &[256])?.into_numpy(py)
}

/// What Rust reads from the table it keeps: the linear value of `level`.
#[pyfunction]
fn linearize(level: u8) -> f32 {
    table()[usize::from(level)]
}

/// How many handles to the table exist (Rust's own, and one for each
/// storage that `gamma_table` made and that Python still holds).
#[pyfunction]
fn gamma_table_handles() -> usize {
    Arc::strong_count(table())
}

/// Drops of [`Counted`] owners so far.
static OWNER_DROPS: AtomicUsize = AtomicUsize::new(0);

/// An owner of float32 values that counts its drops.
struct Counted(Vec<f32>);

impl Drop for Counted {
    fn drop(&mut self) {
        OWNER_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

impl AsRef<[f32]> for Counted {
    fn as_ref(&self) -> &[f32] {
        &self.0
    }
}

impl AsMut<[f32]> for Counted {
    fn as_mut(&mut self) -> &mut [f32] {
        &mut self.0
    }
}

/// For the tests: `[0, 1, ..., n-1]` in a counted owner, returned as `kind`
/// ("numpy": read-only, through `from_owner`; "numpy_mut", "torch",
/// "dlbridge": writable, through `from_owner_mut`), with the owner's address.
#[pyfunction]
fn counted_floats<'py>(
    py: Python<'py>,
    n: usize,
    kind: &str,
) -> PyResult<(Bound<'py, PyAny>, usize)> {
    let owner = Counted((0..n).map(|i| i as f32).collect());
    let address = owner.0.as_ptr() as usize;
    let returned = match kind {
        "numpy" => Tensor::from_owner(owner, &[n])?.into_numpy(py)?,
        "numpy_mut" => Tensor::from_owner_mut(owner, &[n])?.into_numpy(py)?,
        "torch" => Tensor::from_owner_mut(owner, &[n])?.into_torch(py)?,
        "dlbridge" => Tensor::from_owner_mut(owner, &[n])?
            .into_pyobject(py)?
            .into_any(),
        other => return Err(PyValueError::new_err(format!("unknown kind {other:?}"))),
    };
    Ok((returned, address))
}

/// For the tests: how many counted owners have been dropped.
#[pyfunction]
fn owner_drops() -> usize {
    OWNER_DROPS.load(Ordering::SeqCst)
}

/// An owned `ndarray` array of `kind` ("c", "fortran", "reversed" for
/// negative strides, "sliced" for a `slice_move` with steps that starts
/// inside its vector), holding `0, 1, ...` in row-major order of the 4 x 6
/// grid it was cut from, returned as a NumPy array over the array's own
/// memory; with the array's address and strides (in elements) as ndarray
/// saw them.
#[pyfunction]
fn ndarray_as_numpy<'py>(
    py: Python<'py>,
    kind: &str,
) -> PyResult<(Bound<'py, PyAny>, usize, Vec<isize>)> {
    let grid = Array2::from_shape_vec((4, 6), (0..24).map(|i| i as f64).collect())
        .expect("24 values for a 4 x 6 grid");
    let array = match kind {
        "c" => grid,
        "fortran" => {
            let mut fortran = Array2::zeros((4, 6).f());
            fortran.assign(&grid);
            fortran
        }
        "reversed" => grid.slice_move(s![..;-1, ..]),
        "sliced" => grid.slice_move(s![1..;2, 1..;-2]),
        other => return Err(PyValueError::new_err(format!("unknown kind {other:?}"))),
    };
    let (address, strides) = (array.as_ptr() as usize, array.strides().to_vec());
    Ok((Tensor::from_array(array)?.into_numpy(py)?, address, strides))
}

/// The sum of a 1-d float32 tensor taken as an owned `ndarray` array, which
/// needs no copy when the tensor is the only user of a Rust vector. A tensor
/// from Python never is (the caller's object still holds its memory), so
/// this returns `try_into_array`'s reason with the sum, read in place.
#[pyfunction]
fn owned_sum(py: Python<'_>, tensor: Tensor) -> PyResult<(f32, Option<String>)> {
    match tensor.try_into_array::<f32, Ix1>() {
        Ok(array) => Ok((array.sum(), None)),
        Err(refused) => {
            let reason = refused.reason().to_string();
            let tensor = refused.into_tensor();
            // Python can reach this memory: read it with the thread attached.
            let sum = tensor.view_py::<f32>(py)?.sum();
            Ok((sum, Some(reason)))
        }
    }
}

/// Adds this module's functions to the extension.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(map_floats, m)?)?;
    m.add_function(wrap_pyfunction!(gamma_table, m)?)?;
    m.add_function(wrap_pyfunction!(linearize, m)?)?;
    m.add_function(wrap_pyfunction!(gamma_table_handles, m)?)?;
    m.add_function(wrap_pyfunction!(counted_floats, m)?)?;
    m.add_function(wrap_pyfunction!(owner_drops, m)?)?;
    m.add_function(wrap_pyfunction!(ndarray_as_numpy, m)?)?;
    m.add_function(wrap_pyfunction!(owned_sum, m)?)?;
    Ok(())
}
