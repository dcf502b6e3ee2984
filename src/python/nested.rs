//! Nested Python sequences to tensors and back: `tensor([[1, 2], [3, 4]])`
//! and `t.tolist()`.
//!
//! One way through, in two walks over the Python objects:
//!
//! 1. the survey checks that the nesting is rectangular (its shape is set by
//!    the first element at every depth, as in PyTorch's `tensor_new.cpp`),
//!    infers the dtype, and converts every element that is not a plain
//!    Python number (NumPy scalars, arrays and tensors, objects with
//!    `__index__` or `__float__`) exactly once, keeping the results in order
//!    (arrays and tensors as copies of dlbridge's own);
//! 2. the write walk converts each element straight into the fresh tensor:
//!    plain numbers read again (cheaper than keeping them), the others taken
//!    from the survey's results, each only where the survey met the same
//!    object.
//!
//! Elements' own Python code (`__index__`, `__dlpack__`) runs during the
//! survey and may change the lists; the write walk refuses any difference it
//! can see (a length, an object where a number was), and never writes
//! outside the tensor or leaves an element unwritten.
//!
//! Nothing is written anywhere but the new tensor, which no one else can see
//! until it is returned, so an error at any point leaves nothing half-done.

use super::dlpack_import;
use super::dtype;
use super::imported::imported;
use super::scalar::{extract_scalar, scalar_to_py};
use crate::borrow::Participation;
use crate::dtype::{DType, Kind};
use crate::error::Error;
use crate::layout::MAX_NDIM;
use crate::scalar::Scalar;
use crate::tensor::Tensor;
use numpy::npyffi::{NpyTypes, PY_ARRAY_API, get_type_object};
use numpy::{PyArrayDescr, PyArrayDescrMethods};
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyComplex, PyFloat, PyInt, PyList, PyTuple};

/// Builds a fresh tensor from a Python number or nested list/tuple, which
/// may hold NumPy scalars, arrays and tensors anywhere a number or a
/// sub-list could be.
///
/// With `dtype` None the dtype is inferred as PyTorch does (see
/// [`Survey::inferred_dtype`]). Values that do not fit the dtype raise
/// `OverflowError`; ragged nesting raises `ValueError`.
pub(crate) fn tensor_from_nested(
    value: &Bound<'_, PyAny>,
    dtype: Option<DType>,
) -> PyResult<Tensor> {
    let mut survey = Survey::default();
    survey.visit(value, 0)?;
    let dtype = dtype.unwrap_or_else(|| survey.inferred_dtype());
    let tensor = Tensor::uninit(dtype, &survey.shape)?;
    let mut writer = Writer {
        shape: &survey.shape,
        dtype,
        base: tensor.data_ptr().cast_mut(),
        numel: tensor.numel(),
        written: 0,
        converted: survey.converted.into_iter(),
    };
    writer.visit(value, 0)?;
    if writer.written != writer.numel || writer.converted.next().is_some() {
        return Err(changed_during_conversion());
    }
    Ok(tensor)
}

/// The tensor as nested Python lists (a plain number for a 0-d tensor).
pub(crate) fn to_nested_list<'py>(py: Python<'py>, tensor: &Tensor) -> PyResult<Bound<'py, PyAny>> {
    let values = tensor.to_scalars_with(Participation::CheckOnly)?;
    let mut values = values.into_iter();
    build_list(py, tensor.shape(), &mut values)
}

fn build_list<'py>(
    py: Python<'py>,
    shape: &[usize],
    values: &mut std::vec::IntoIter<Scalar>,
) -> PyResult<Bound<'py, PyAny>> {
    let Some((&len, inner)) = shape.split_first() else {
        let value = values.next().expect("a tensor has one value per element");
        return scalar_to_py(py, value);
    };
    let items = (0..len)
        .map(|_| build_list(py, inner, values))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, items)?.into_any())
}

/// An element the survey converted, kept for the write walk with the object
/// it came from, which the write walk must meet at the same place.
struct Converted<'py> {
    source: Bound<'py, PyAny>,
    value: ConvertedValue,
}

enum ConvertedValue {
    /// One number (a NumPy scalar, or an object with `__index__`,
    /// `__float__` or `__complex__`).
    Number(Scalar),
    /// An array or tensor standing for the dimensions below its depth,
    /// copied into memory of dlbridge's own: Python code that runs before
    /// the write walk (another element's `__index__`, say) could free or
    /// change the source's memory (`torch_t.set_()`), which a shared view
    /// would then read.
    Block(Tensor),
}

/// What the first walk learns.
#[derive(Default)]
struct Survey<'py> {
    /// The shape, grown along the first descent.
    shape: Vec<usize>,
    /// Whether the first descent is over (it reached a number, an array or an
    /// empty sequence), so that `shape` is final and everything after is
    /// checked against it.
    complete: bool,
    /// The widest kind among plain Python numbers.
    python_kind: Option<Kind>,
    /// The promoted dtype of the typed elements (NumPy scalars, arrays,
    /// tensors).
    typed: Option<DType>,
    /// Every element that is not a plain number, converted, in order.
    converted: Vec<Converted<'py>>,
}

impl<'py> Survey<'py> {
    /// PyTorch's inference (`torch.tensor`'s `infer_scalar_type`): typed
    /// elements have their own dtype, plain Python numbers bool, int64,
    /// float32 or complex64, and the result is their promotion, so
    /// `[np.int8(1), 2]` is int64 as in torch and NumPy; an empty list is
    /// float32.
    fn inferred_dtype(&self) -> DType {
        let python = self.python_kind.map(DType::default_for);
        match (self.typed, python) {
            (Some(typed), Some(python)) => typed.promote(python),
            (Some(dtype), None) | (None, Some(dtype)) => dtype,
            (None, None) => DType::Float32,
        }
    }

    fn visit(&mut self, value: &Bound<'py, PyAny>, depth: usize) -> PyResult<()> {
        let Some(sequence) = Sequence::of(value) else {
            return self.element(value, depth);
        };
        let len = sequence.len();
        if !self.complete {
            // Still on the first descent: this sequence sets dimension `depth`.
            if self.shape.len() >= MAX_NDIM {
                return Err(Error::TooManyDimensions { limit: MAX_NDIM }.into());
            }
            self.shape.push(len);
            self.complete = len == 0;
        } else if depth >= self.shape.len() {
            return Err(Error::ArrayWhereNumberExpected {
                axis: depth,
                shape: vec![len],
            }
            .into());
        } else if len != self.shape[depth] {
            return Err(ragged(&self.shape, depth, len));
        }
        sequence.each(|item| {
            if self.complete && depth + 1 == self.shape.len() {
                // An item of an innermost sequence once the shape is known
                // (from the second item of the first one on): an element,
                // with no further descent to try, and most often a plain
                // number, which may stand here and needs nothing more.
                if let Some(kind) = plain_kind(item) {
                    self.python_kind = self.python_kind.max(Some(kind));
                    return Ok(());
                }
                self.element(item, depth + 1)
            } else {
                self.visit(item, depth + 1)
            }
        })
    }

    /// An element that is not a list or tuple at `depth`.
    fn element(&mut self, value: &Bound<'py, PyAny>, depth: usize) -> PyResult<()> {
        if let Some(kind) = plain_kind(value) {
            self.number_at(depth)?;
            self.python_kind = self.python_kind.max(Some(kind));
            return Ok(());
        }
        if let Some(sequence) = Sequence::of(value) {
            return Err(Error::ArrayWhereNumberExpected {
                axis: depth,
                shape: vec![sequence.len()],
            }
            .into());
        }
        if let Some((dtype, number)) = numpy_scalar(value)? {
            self.number_at(depth)?;
            self.saw(dtype);
            self.keep(value, ConvertedValue::Number(number));
            return Ok(());
        }
        if dlpack_import::is_dlpack_source(value)? {
            let shared = dlpack_import::import_copy(value)?;
            self.block_at(&shared, depth)?;
            self.saw(shared.dtype());
            // No Python code runs between the import and this copy.
            let owned = shared.to_dtype_with(shared.dtype(), Participation::CheckOnly)?;
            self.keep(value, ConvertedValue::Block(owned));
            return Ok(());
        }
        let number = extract_scalar(value)?;
        self.number_at(depth)?;
        self.python_kind = self.python_kind.max(Some(number.kind()));
        self.keep(value, ConvertedValue::Number(number));
        Ok(())
    }

    fn keep(&mut self, source: &Bound<'py, PyAny>, value: ConvertedValue) {
        self.converted.push(Converted {
            source: source.clone(),
            value,
        });
    }

    /// Checks that a number may stand at `depth`, ending the first descent.
    fn number_at(&mut self, depth: usize) -> PyResult<()> {
        if !self.complete {
            self.complete = true;
        } else if depth != self.shape.len() {
            // A number where a sequence belongs.
            return Err(ragged(&self.shape, depth, 0));
        }
        Ok(())
    }

    /// Checks that an array may stand for the dimensions below `depth`,
    /// ending the first descent (a 0-d array is one number).
    fn block_at(&mut self, block: &Tensor, depth: usize) -> PyResult<()> {
        if !self.complete {
            let ndim = self.shape.len() + block.ndim();
            if ndim > MAX_NDIM {
                return Err(Error::RankTooLarge { ndim }.into());
            }
            self.shape.extend_from_slice(block.shape());
            self.complete = true;
            return Ok(());
        }
        if depth == self.shape.len() && block.ndim() > 0 {
            return Err(Error::ArrayWhereNumberExpected {
                axis: depth,
                shape: block.shape().to_vec(),
            }
            .into());
        }
        if block.shape() != &self.shape[depth..] {
            let got = block.shape().first().copied().unwrap_or(0);
            return Err(ragged(&self.shape, depth, got));
        }
        Ok(())
    }

    fn saw(&mut self, dtype: DType) {
        self.typed = Some(match self.typed {
            Some(seen) => seen.promote(dtype),
            None => dtype,
        });
    }
}

/// The second walk: writes every element into the fresh tensor.
struct Writer<'a, 'py> {
    shape: &'a [usize],
    dtype: DType,
    /// The fresh, C-contiguous tensor's first element.
    base: *mut u8,
    numel: usize,
    /// Elements written so far.
    written: usize,
    /// The survey's conversions, consumed in the same order.
    converted: std::vec::IntoIter<Converted<'py>>,
}

impl Writer<'_, '_> {
    fn visit(&mut self, value: &Bound<'_, PyAny>, depth: usize) -> PyResult<()> {
        let Some(sequence) = Sequence::of(value) else {
            return self.element(value, depth);
        };
        if self.shape.get(depth) != Some(&sequence.len()) {
            return Err(changed_during_conversion());
        }
        if depth + 1 == self.shape.len() {
            // Innermost: the items are elements (a sequence among them finds
            // no conversion to match and is refused), most often plain
            // numbers of the tensor's own kind, written without dispatch.
            sequence.each(|item| {
                if self.write_common(item) {
                    return Ok(());
                }
                self.element(item, depth + 1)
            })
        } else {
            sequence.each(|item| self.visit(item, depth + 1))
        }
    }

    /// Writes `value` if it is one of the common cases, which cannot fail: a
    /// plain float into float32 or float64, a plain int into int64. Returns
    /// whether it did; everything else goes to [`Writer::element`]. (A `bool`,
    /// in a register, rather than a `PyResult` through memory: this runs once
    /// per number of the usual list.)
    #[inline(always)]
    fn write_common(&mut self, value: &Bound<'_, PyAny>) -> bool {
        if self.written == self.numel {
            return false;
        }
        // SAFETY: `written < numel`, so the element is inside the fresh
        // tensor, which no one else can reach yet.
        let at = unsafe { self.base.add(self.written * self.dtype.itemsize()) };
        if let Ok(float) = value.cast_exact::<PyFloat>() {
            match self.dtype {
                // SAFETY: `at` has room for one element (above).
                DType::Float32 => unsafe { at.cast::<f32>().write_unaligned(float.value() as f32) },
                // SAFETY: as above.
                DType::Float64 => unsafe { at.cast::<f64>().write_unaligned(float.value()) },
                _ => return false,
            }
        } else if self.dtype == DType::Int64 && value.is_exact_instance_of::<PyInt>() {
            // An int past int64 fails here and is refused by `element`.
            let Ok(int) = value.extract::<i64>() else {
                return false;
            };
            // SAFETY: as above.
            unsafe { at.cast::<i64>().write_unaligned(int) };
        } else {
            return false;
        }
        self.written += 1;
        true
    }

    fn element(&mut self, value: &Bound<'_, PyAny>, depth: usize) -> PyResult<()> {
        let below = &self.shape[depth.min(self.shape.len())..];
        if plain_kind(value).is_some() {
            if !below.is_empty() {
                // A number where a sequence belongs.
                return Err(changed_during_conversion());
            }
            let at = self.reserve(1)?;
            // SAFETY: `reserve` returned room for one element of the fresh
            // tensor, which no one else can reach yet.
            return unsafe { write_plain(value, self.dtype, at) };
        }
        // The next conversion must be this very object: a list changed since
        // the survey (an element replaced, moved or inserted) is refused
        // rather than written with another element's value.
        let Some(converted) = self.converted.next().filter(|c| c.source.is(value)) else {
            return Err(changed_during_conversion());
        };
        match converted.value {
            ConvertedValue::Number(number) if below.is_empty() => {
                let at = self.reserve(1)?;
                // SAFETY: as above.
                unsafe { number.checked_for(self.dtype)?.write(at, self.dtype) };
                Ok(())
            }
            ConvertedValue::Block(block) if block.shape() == below => {
                let values = block.to_scalars_with(Participation::CheckOnly)?;
                let at = self.reserve(values.len())?;
                let itemsize = self.dtype.itemsize();
                for (i, value) in values.into_iter().enumerate() {
                    let value = value.checked_for(self.dtype)?;
                    // SAFETY: `reserve` returned room for `values.len()`
                    // elements from `at`, so element `i` is in bounds.
                    unsafe { value.write(at.add(i * itemsize), self.dtype) };
                }
                Ok(())
            }
            _ => Err(changed_during_conversion()),
        }
    }

    /// The address of the next `count` elements, which are in bounds.
    fn reserve(&mut self, count: usize) -> PyResult<*mut u8> {
        if count > self.numel - self.written {
            return Err(changed_during_conversion());
        }
        // SAFETY: `written + count <= numel`, so the offset stays inside the
        // tensor's allocation.
        let at = unsafe { self.base.add(self.written * self.dtype.itemsize()) };
        self.written += count;
        Ok(at)
    }
}

/// Python code run by the survey (an element's `__dlpack__`, `__index__` or
/// `item`) changed a list the walks read; what was surveyed is not what
/// would be written.
fn changed_during_conversion() -> PyErr {
    PyRuntimeError::new_err("a list or tuple changed size or contents while it was converted")
}

fn ragged(shape: &[usize], axis: usize, got: usize) -> PyErr {
    Error::Ragged {
        axis,
        expected: shape.get(axis).copied().unwrap_or(0),
        got,
    }
    .into()
}

/// Whether `value` is a plain Python number (exactly `float`, `int`, `bool`
/// or `complex`, so converting it runs no Python code).
pub(crate) fn is_plain_number(value: &Bound<'_, PyAny>) -> bool {
    plain_kind(value).is_some()
}

/// The kind of a plain Python number (`bool`, `int`, `float`, `complex`
/// exactly, not subclasses such as `np.float64`), or `None`.
#[inline]
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

/// Converts one plain number and writes it as `dtype`, checked: an int that
/// does not fit is an `OverflowError`.
///
/// # Safety
///
/// `at` must be valid for writing one element of `dtype`.
unsafe fn write_plain(value: &Bound<'_, PyAny>, dtype: DType, at: *mut u8) -> PyResult<()> {
    let number = extract_scalar(value)?.checked_for(dtype)?;
    // SAFETY: the caller guarantees room for one element.
    unsafe { number.write(at, dtype) };
    Ok(())
}

/// A NumPy scalar (`np.float64(1.0)`, `np.int32(3)`: a dtype but no
/// `__dlpack__`) as its dtype and value; `None` for anything else.
///
/// NumPy's extended-precision scalars, for which dlbridge has no dtype, count
/// as float64 and complex128 (their values rounded to those); other NumPy
/// scalars (strings, bytes, datetimes, `void`) are a `TypeError`, as in
/// torch, rather than numbers parsed from them.
fn numpy_scalar(value: &Bound<'_, PyAny>) -> PyResult<Option<(DType, Scalar)>> {
    let py = value.py();
    let Some(generic) = numpy_generic_type(py) else {
        return Ok(None);
    };
    // SAFETY: `value` is a live object and `generic` a type object.
    if unsafe { pyo3::ffi::PyObject_TypeCheck(value.as_ptr(), generic) } == 0 {
        return Ok(None);
    }
    // SAFETY: `value` is a NumPy scalar (checked above) and NumPy's C API is
    // loaded (`numpy_generic_type` found it); the call returns a new
    // reference to the scalar's dtype, or NULL with an exception set.
    let descr = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            PY_ARRAY_API
                .PyArray_DescrFromScalar(py, value.as_ptr())
                .cast(),
        )?
    };
    let descr = descr.cast_into::<PyArrayDescr>()?;
    if let Ok(dtype) = dtype::descr_to_dtype(&descr) {
        let number = extract_scalar(&value.call_method0(intern!(py, "item"))?)?;
        return Ok(Some((dtype, number)));
    }
    match descr.kind() {
        b'f' => {
            let float = value.call_method0(intern!(py, "__float__"))?;
            Ok(Some((DType::Float64, Scalar::Float(float.extract()?))))
        }
        b'c' => {
            let complex = value.call_method0(intern!(py, "__complex__"))?;
            let complex = complex.cast::<PyComplex>()?;
            Ok(Some((
                DType::Complex128,
                Scalar::Complex(complex.real(), complex.imag()),
            )))
        }
        _ => Err(PyTypeError::new_err(format!(
            "cannot convert a NumPy scalar of dtype {} to a tensor element; expected a \
             number",
            descr.str()?
        ))),
    }
}

/// NumPy's `generic` scalar type, from NumPy's C API; `None` while NumPy is
/// not imported, when no NumPy scalar can exist.
///
/// rust-numpy loads the C API on first use and panics if it cannot, so that
/// first use waits until `numpy` is in `sys.modules`. After it, the type is
/// kept, and no per-element lookup is made.
fn numpy_generic_type(py: Python<'_>) -> Option<*mut pyo3::ffi::PyTypeObject> {
    static GENERIC: PyOnceLock<usize> = PyOnceLock::new();
    if let Some(&generic) = GENERIC.get(py) {
        return Some(generic as *mut pyo3::ffi::PyTypeObject);
    }
    imported(py, "numpy")?;
    // SAFETY: the GIL is held (`py`); NumPy is imported, so rust-numpy can
    // load its C API table, from which the type object is read.
    let generic = unsafe { get_type_object(py, NpyTypes::PyGenericArrType_Type) };
    let _ = GENERIC.set(py, generic as usize);
    Some(generic)
}

/// A list or tuple (subclasses too), walked without copying out its items.
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

    /// Calls `f` on each item in order.
    fn each(&self, mut f: impl FnMut(&Bound<'py, PyAny>) -> PyResult<()>) -> PyResult<()> {
        match self {
            Sequence::List(list) => {
                // PyO3's list iterator reads each item against the list's
                // current length (`BoundListIterator::next_unsynchronized`),
                // so a list the callback shrinks is never read past its end,
                // and without `PyList_GetItem`'s call and checks, a quarter
                // of the time of `tensor(list of floats)`. A list that
                // changes is refused by the write walk (a length, or an
                // object, that differs from the survey's).
                for item in list.iter() {
                    f(&item)?;
                }
            }
            Sequence::Tuple(tuple) => {
                for item in tuple.iter() {
                    f(&item)?;
                }
            }
        }
        Ok(())
    }
}
