//! Python index keys (`t[1, ::2, ..., None]`) to core index items, and shape
//! arguments (`t.view(2, -1)`, `db.zeros((2, 3))`) to a shape.

use crate::layout::{DimVec, IndexItem};
use pyo3::exceptions::{PyIndexError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyEllipsis, PyInt, PyList, PyNone, PySlice, PyTuple};

/// Parses a `__getitem__`/`__setitem__` key.
///
/// Only basic indexing is supported, because it always gives a view: integers,
/// slices, `...` and `None`, alone or in a tuple. Advanced indexing (lists,
/// arrays, boolean masks) would copy and is refused with `TypeError`.
pub fn parse_key(key: &Bound<'_, PyAny>) -> PyResult<Vec<IndexItem>> {
    match key.cast::<PyTuple>() {
        Ok(tuple) => tuple.iter().map(|item| parse_item(&item)).collect(),
        Err(_) => Ok(vec![parse_item(key)?]),
    }
}

fn parse_item(item: &Bound<'_, PyAny>) -> PyResult<IndexItem> {
    if item.is_instance_of::<PyBool>() {
        return Err(PyIndexError::new_err(
            "boolean indices are not supported (dlbridge indexing always returns a view)",
        ));
    }
    if item.is_instance_of::<PyEllipsis>() {
        return Ok(IndexItem::Ellipsis);
    }
    if item.is_instance_of::<PyNone>() {
        return Ok(IndexItem::NewAxis);
    }
    if let Ok(slice) = item.cast::<PySlice>() {
        return Ok(IndexItem::Slice {
            start: slice_bound(&slice.getattr("start")?)?,
            stop: slice_bound(&slice.getattr("stop")?)?,
            step: slice_bound(&slice.getattr("step")?)?,
        });
    }
    if item.is_instance_of::<PyInt>() {
        return Ok(IndexItem::Int(index_value(item)?));
    }
    // Arrays and tensors (NumPy, torch, dlbridge) index as integers only
    // when 0-d and of an integer dtype, as in NumPy: anything else is
    // advanced indexing (a torch `tensor([1])` or boolean mask would answer
    // `__index__` and silently act as an integer), which would copy.
    if let Some(ndim) = item
        .getattr(pyo3::intern!(item.py(), "ndim"))
        .ok()
        .and_then(|ndim| ndim.extract::<usize>().ok())
    {
        let is_bool = item
            .getattr(pyo3::intern!(item.py(), "dtype"))
            .and_then(|dtype| dtype.str().map(|name| name.to_string()))
            .is_ok_and(|name| name.ends_with("bool"));
        if ndim != 0 || is_bool {
            return Err(PyTypeError::new_err(format!(
                "only integers, slices (`:`), ellipsis (`...`) and None are valid indices, got \
                 a {} of {ndim} dimensions{}; advanced indexing would copy, use t.numpy() for it",
                item.get_type().name()?,
                if is_bool { " holding booleans" } else { "" }
            )));
        }
    }
    let valid = || {
        format!(
            "only integers, slices (`:`), ellipsis (`...`) and None are valid indices, got {}",
            item.get_type()
                .name()
                .map_or_else(|_| "?".into(), |name| name.to_string())
        )
    };
    // NumPy integer scalars and 0-d integer arrays are integers too. An
    // `__index__` that fails (a float array's, or one that raises) makes the
    // object no integer: `IndexError`, as NumPy and torch say, with the
    // method's own error as the cause.
    if item.hasattr("__index__")? {
        return match item.call_method0("__index__") {
            Ok(index) => Ok(IndexItem::Int(index_value(&index)?)),
            Err(error) => {
                let refused = PyIndexError::new_err(valid());
                refused.set_cause(item.py(), Some(error));
                Err(refused)
            }
        };
    }
    // Sequences would be advanced indexing (`TypeError`, the refusal of a
    // copying index); anything else is no index at all, as NumPy and torch
    // answer `t[1.0]` and `t[{}]`.
    if item.is_instance_of::<PyList>() || item.is_instance_of::<PyTuple>() {
        return Err(PyTypeError::new_err(format!(
            "{}; advanced indexing would copy, use t.numpy() for it",
            valid()
        )));
    }
    Err(PyIndexError::new_err(valid()))
}

fn index_value(item: &Bound<'_, PyAny>) -> PyResult<isize> {
    let index = item.call_method0("__index__")?;
    index
        .extract::<isize>()
        .map_err(|_| PyIndexError::new_err(format!("index {index} is out of bounds")))
}

/// A slice bound: None, or an integer clamped to `isize` (Python slices clamp
/// huge bounds the same way).
fn slice_bound(value: &Bound<'_, PyAny>) -> PyResult<Option<isize>> {
    if value.is_none() {
        return Ok(None);
    }
    if !value.hasattr("__index__")? {
        return Err(PyTypeError::new_err(format!(
            "slice indices must be integers or None or have an __index__ method, got {}",
            value.get_type().name()?
        )));
    }
    // An `__index__` that raises: its own error, as CPython's slices give.
    let index = value.call_method0("__index__")?;
    Ok(Some(index.extract::<isize>().unwrap_or_else(|_| {
        if index.lt(0).unwrap_or(false) {
            isize::MIN
        } else {
            isize::MAX
        }
    })))
}

/// torch's shape arguments: `f(2, 3)`, `f((2, 3))` or `f([2, 3])`, read
/// straight into a [`DimVec`] (no allocation up to its inline rank).
pub fn shape_arguments(args: &Bound<'_, PyTuple>) -> PyResult<DimVec<isize>> {
    int_arguments(args, "a shape, such as (2, 3) or ()")
}

/// torch's lists of ints given as `f(1, 0)`, `f((1, 0))` or `f([1, 0])`
/// (shapes, `permute`'s dims): `what` names them in the errors.
pub fn int_arguments(args: &Bound<'_, PyTuple>, what: &str) -> PyResult<DimVec<isize>> {
    let int = |item: &Bound<'_, PyAny>| {
        item.extract::<isize>().map_err(|_| {
            PyTypeError::new_err(format!(
                "{what} takes ints, got {}",
                item.get_type()
                    .name()
                    .map_or_else(|_| "?".into(), |name| name.to_string())
            ))
        })
    };
    match args.len() {
        // torch's `view()`, `expand()`, `zeros()`, `permute()` with nothing:
        // a TypeError (a 0-d shape is `()`).
        0 => Err(PyTypeError::new_err(format!(
            "missing 1 required positional argument: {what}"
        ))),
        1 if !args
            .get_item(0)?
            .hasattr(pyo3::intern!(args.py(), "__index__"))? =>
        {
            args.get_item(0)?
                .try_iter()?
                .map(|item| int(&item?))
                .collect()
        }
        _ => args.iter().map(|item| int(&item)).collect(),
    }
}

/// A dimension or dimensions, as torch's `squeeze(dim)` takes them: an int
/// or a sequence of ints.
pub fn dims_argument(dims: &Bound<'_, PyAny>) -> PyResult<DimVec<isize>> {
    if dims.hasattr(pyo3::intern!(dims.py(), "__index__"))? {
        return Ok(DimVec::from_elem(dims.extract::<isize>()?, 1));
    }
    int_arguments(&PyTuple::new(dims.py(), [dims])?, "dims")
}
