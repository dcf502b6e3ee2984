//! The fast path for nested lists and tuples of plain Python numbers: two
//! walks over the Python objects (one to check shape and infer the dtype,
//! one to convert) writing straight into the final tensor, with no
//! intermediate list of values. Anything else (NumPy scalars, arrays and
//! tensors among the elements) is left to `convert`'s general path.

use crate::dtype::{DType, Kind};
use crate::error::Error;
use crate::scalar::Scalar;
use crate::tensor::Tensor;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyComplex, PyFloat, PyInt, PyList, PyTuple};

/// Deepest nesting accepted: the rank limit of every layout.
pub use crate::layout::MAX_NDIM as MAX_DIMS;

/// The kind of a plain Python number (`bool`, `int`, `float`, `complex`
/// exactly, not subclasses such as `np.float64`), or `None`.
fn plain_kind(value: &Bound<'_, PyAny>) -> Option<Kind> {
    if value.is_exact_instance_of::<PyFloat>() {
        Some(Kind::Float)
    } else if value.is_exact_instance_of::<PyInt>() {
        Some(Kind::Int)
    } else if value.is_exact_instance_of::<PyBool>() {
        Some(Kind::Bool)
    } else if value.is_exact_instance_of::<PyComplex>() {
        Some(Kind::Complex)
    } else {
        None
    }
}

/// A list or tuple, walked without copying out its items.
enum Sequence<'py> {
    List(Bound<'py, PyList>),
    Tuple(Bound<'py, PyTuple>),
}

impl<'py> Sequence<'py> {
    fn of(value: &Bound<'py, PyAny>) -> Option<Sequence<'py>> {
        if let Ok(list) = value.cast::<PyList>() {
            Some(Sequence::List(list.clone()))
        } else if let Ok(tuple) = value.cast::<PyTuple>() {
            Some(Sequence::Tuple(tuple.clone()))
        } else {
            None
        }
    }

    fn len(&self) -> usize {
        match self {
            Sequence::List(list) => list.len(),
            Sequence::Tuple(tuple) => tuple.len(),
        }
    }

    fn first(&self) -> Option<Bound<'py, PyAny>> {
        match self {
            Sequence::List(list) => list.iter().next(),
            Sequence::Tuple(tuple) => tuple.iter().next(),
        }
    }

    /// Calls `f` on each item in order, stopping when it returns false.
    fn each(&self, mut f: impl FnMut(&Bound<'py, PyAny>) -> PyResult<bool>) -> PyResult<bool> {
        match self {
            Sequence::List(list) => {
                // Indexing (not an iterator) so that a list the callback
                // shrinks cannot be read past its end.
                let mut i = 0;
                while let Ok(item) = list.get_item(i) {
                    if !f(&item)? {
                        return Ok(false);
                    }
                    i += 1;
                }
            }
            Sequence::Tuple(tuple) => {
                for item in tuple.iter() {
                    if !f(&item)? {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    }
}

/// Builds the tensor if `value` is a plain number or a rectangular nesting of
/// lists and tuples of plain numbers; `Ok(None)` sends anything else to the
/// general path. Ragged nesting is a `ValueError` here already.
pub fn try_build(value: &Bound<'_, PyAny>, dtype: Option<DType>) -> PyResult<Option<Tensor>> {
    let mut shape = Vec::new();
    let mut first = value.clone();
    while let Some(sequence) = Sequence::of(&first) {
        if shape.len() >= MAX_DIMS {
            return Err(Error::TooManyDimensions { limit: MAX_DIMS }.into());
        }
        shape.push(sequence.len());
        match sequence.first() {
            Some(item) => first = item,
            None => break,
        }
    }
    let mut kind: Option<Kind> = None;
    let simple = visit(value, &shape, 0, &mut |leaf| match plain_kind(leaf) {
        Some(k) => {
            kind = kind.max(Some(k));
            Ok(true)
        }
        None => Ok(false),
    })?;
    if !simple {
        return Ok(None);
    }
    let dtype = dtype.unwrap_or_else(|| kind.map_or(DType::Float32, DType::default_for));
    let tensor = Tensor::uninit(dtype, &shape)?;
    let base = tensor.data_ptr().cast_mut();
    let mut index = 0usize;
    let itemsize = dtype.itemsize();
    let numel = tensor.numel();
    visit(value, &shape, 0, &mut |leaf| {
        if index >= numel {
            // Only Python code could have grown a list between the walks,
            // and plain numbers run none; checked all the same.
            return Err(Error::LengthMismatch {
                len: index + 1,
                shape: shape.clone(),
                numel,
            }
            .into());
        }
        // SAFETY: `tensor` is fresh, contiguous and holds `numel` elements,
        // so element `index < numel` is in bounds; no one else sees it yet.
        unsafe { write_leaf(leaf, dtype, base.add(index * itemsize))? };
        index += 1;
        Ok(true)
    })?;
    if index != numel {
        return Err(Error::LengthMismatch {
            len: index,
            shape,
            numel,
        }
        .into());
    }
    Ok(Some(tensor))
}

/// Calls `leaf` on every number in row-major order, checking that every
/// sequence at depth `d` has length `shape[d]`. Stops early, returning false,
/// when `leaf` does.
fn visit(
    value: &Bound<'_, PyAny>,
    shape: &[usize],
    depth: usize,
    leaf: &mut impl FnMut(&Bound<'_, PyAny>) -> PyResult<bool>,
) -> PyResult<bool> {
    let Some(sequence) = Sequence::of(value) else {
        if depth == shape.len() {
            return leaf(value);
        }
        // A number where a sequence belongs: ragged, unless it is not a plain
        // number at all (the general path explains those better).
        if plain_kind(value).is_none() {
            return Ok(false);
        }
        return Err(Error::Ragged {
            axis: depth,
            expected: shape[depth],
            got: 0,
        }
        .into());
    };
    let expected = shape.get(depth).copied();
    if expected != Some(sequence.len()) {
        return Err(Error::Ragged {
            axis: depth,
            expected: expected.unwrap_or(0),
            got: sequence.len(),
        }
        .into());
    }
    if depth + 1 == shape.len() {
        // The innermost sequence: its items are the numbers themselves (the
        // leaf callback refuses anything else), so no further dispatch.
        return sequence.each(|item| leaf(item));
    }
    sequence.each(|item| visit(item, shape, depth + 1, leaf))
}

/// Converts one plain number and writes it as `dtype`.
///
/// # Safety
///
/// `at` must be valid for writing one element of `dtype`.
unsafe fn write_leaf(leaf: &Bound<'_, PyAny>, dtype: DType, at: *mut u8) -> PyResult<()> {
    // The common pairs are written directly; they cannot fail.
    if let Ok(float) = leaf.cast_exact::<PyFloat>() {
        let v = float.value();
        match dtype {
            DType::Float32 => {
                // SAFETY: the caller guarantees room for one element.
                unsafe { at.cast::<f32>().write_unaligned(v as f32) };
                return Ok(());
            }
            DType::Float64 => {
                // SAFETY: as above.
                unsafe { at.cast::<f64>().write_unaligned(v) };
                return Ok(());
            }
            _ => {}
        }
    }
    let scalar = super::convert::extract_scalar(leaf)?;
    if let (Scalar::Int(v), DType::Int64) = (scalar, dtype) {
        // SAFETY: as above.
        unsafe { at.cast::<i64>().write_unaligned(v) };
        return Ok(());
    }
    let value = scalar.checked_for(dtype)?;
    // SAFETY: as above.
    unsafe { value.write(at, dtype) };
    Ok(())
}
