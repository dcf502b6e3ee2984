//! Typed tensor arguments for extensions: [`TensorRef`] and [`TensorMut`]
//! carry the element type and dimensionality (and optionally C-contiguity)
//! in the signature, are checked when PyO3 extracts the argument, and then
//! give slices, fixed-dimension `ndarray` views and pointers with no second
//! check, as rust-numpy's `PyReadonlyArray2<f32>` and nanobind's
//! `nb::ndarray<float, nb::ndim<2>>` do.
//!
//! A mismatch is a `TypeError` saying what was expected and what was given,
//! `expected a 2-d float32 tensor, got a 1-d float64 tensor`, to which PyO3
//! adds the note `while processing 'x'` naming the argument (shown under the
//! message in a traceback). Nothing is copied, and the argument is any DLPack
//! producer (NumPy, torch, JAX, dlbridge), as for a plain [`Tensor`]
//! argument.
//!
//! A NumPy array that matches as it is, the common case, is read from its
//! own fields (`numpy_view.rs`) with no allocation and no `Tensor`, at
//! rust-numpy's cost; everything else is imported as a `Tensor`, and a
//! refusal is always worded from that general import.

use super::dlpack_import;
use super::ndarray::import_ndarray;
use super::numpy_view;
use super::registry;
use crate::access::Holder;
use crate::borrow::{Borrow, Participation};
use crate::dtype::{DType, Element};
use crate::error::Error;
use crate::tensor::Tensor;
use ndarray::{ArrayView, ArrayViewMut, Dimension, IxDyn};
use numpy::PyUntypedArray;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    /// How many typed arguments this thread extracted through the NumPy fast
    /// path (no `Tensor` built): what tests read to prove the path is taken.
    static NUMPY_FAST_PATH: Cell<u64> = const { Cell::new(0) };
}

/// Whether [`numpy_fast_path_count`] has been asked: until then the fast
/// path counts nothing (a thread-local in a shared library is a call to
/// `__tls_get_addr`, a twentieth of a typed call's time).
static COUNTING: AtomicBool = AtomicBool::new(false);

/// How many typed arguments ([`TensorRef`], [`TensorMut`]) the calling
/// thread has extracted through the NumPy fast path, which reads a matching
/// array's fields and builds no `Tensor`, since the process first called
/// this function (which starts the count). For tests that must fail if that
/// path is switched off; not part of the stable API.
#[doc(hidden)]
pub fn numpy_fast_path_count() -> u64 {
    COUNTING.store(true, Ordering::Relaxed);
    NUMPY_FAST_PATH.with(Cell::get)
}

fn count_fast_path() {
    if COUNTING.load(Ordering::Relaxed) {
        NUMPY_FAST_PATH.with(|count| count.set(count.get() + 1));
    }
}

/// The layout a typed argument asks for: [`Strided`] (any), [`Contiguous`]
/// (C order, no gaps), or [`Converted`] (C order, copied and cast when the
/// source is not already so).
pub trait LayoutConstraint: sealed::Sealed {
    /// Whether the argument ends up C-contiguous.
    const CONTIGUOUS: bool;
    /// Whether a source of another dtype or layout is copied rather than
    /// refused.
    const CONVERTS: bool;
}

/// The layouts a [`TensorMut`] may ask for: writing to a converted copy would
/// be lost, so [`Converted`] is not one.
pub trait WritableLayout: LayoutConstraint {}

/// Any layout: strided, transposed, reversed (and, for [`TensorRef`],
/// broadcast). Access is through [`TensorRef::as_array`].
#[derive(Debug)]
pub struct Strided;

/// C-contiguous only: the elements also come as one slice
/// ([`TensorRef::as_slice`]).
#[derive(Debug)]
pub struct Contiguous;

/// Opt-in conversion, as nanobind's implicit conversion and rust-numpy's
/// `AllowTypeChange`: a source of another dtype, or not C-contiguous, is
/// copied into a C-contiguous tensor of `T` (values cast as
/// `Tensor::to_dtype` casts them); a matching one is shared as usual. The
/// number of dimensions must still match. Read-only arguments only.
#[derive(Debug)]
pub struct Converted;

impl LayoutConstraint for Strided {
    const CONTIGUOUS: bool = false;
    const CONVERTS: bool = false;
}

impl LayoutConstraint for Contiguous {
    const CONTIGUOUS: bool = true;
    const CONVERTS: bool = false;
}

impl LayoutConstraint for Converted {
    const CONTIGUOUS: bool = true;
    const CONVERTS: bool = true;
}

impl WritableLayout for Strided {}
impl WritableLayout for Contiguous {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Strided {}
    impl Sealed for super::Contiguous {}
    impl Sealed for super::Converted {}
}

/// A read-only tensor argument of element type `T` and dimensionality `D`
/// (`ndarray::Ix1`, `Ix2`, ..., or `IxDyn` for any), of any layout or, with
/// `L` = [`Contiguous`], C-contiguous.
///
/// Extraction checks the dtype, the number of dimensions and the layout
/// (a mismatch is a `TypeError`, noted with the argument's name), then registers a
/// shared borrow of the memory, which lasts until the argument is dropped:
/// a [`TensorMut`] of the same memory is refused meanwhile, in this extension
/// and every other built on dlbridge.
///
/// The `'py` lifetime ties the argument to the GIL, as PyO3's `Bound` does:
/// it is neither `Send` nor `Sync`, so it cannot be used inside `py.detach`,
/// and no other Python thread runs while the views it gives are alive. (Python
/// code the extension itself calls meanwhile could still write to the memory,
/// as with rust-numpy's arrays: the borrow registry sees Rust borrows only.
/// Writes through a `TensorMut` do not bump torch's version counter, so
/// autograd does not see them.)
///
/// ```compile_fail
/// use dlbridge::python::TensorRef;
/// use pyo3::prelude::*;
///
/// fn sum_without_the_gil(py: Python<'_>, x: TensorRef<'_, f32, ndarray::Ix1>) -> f32 {
///     py.detach(|| x.as_array().sum()) // error: `TensorRef` cannot be shared between threads
/// }
/// ```
///
/// ```no_run
/// use dlbridge::python::{Contiguous, TensorMut, TensorRef};
/// use ndarray::{Ix1, Ix2};
/// use pyo3::prelude::*;
///
/// /// Row sums of a 2-d float32 tensor into a 1-d one (NumPy or torch).
/// #[pyfunction]
/// fn row_sums(x: TensorRef<'_, f32, Ix2>, mut out: TensorMut<'_, f32, Ix1>) {
///     let x = x.as_array();
///     for (row, total) in x.rows().into_iter().zip(out.as_array_mut().iter_mut()) {
///         *total = row.sum();
///     }
/// }
///
/// /// The sum of a contiguous float32 tensor of any rank, as one slice.
/// #[pyfunction]
/// fn sum(x: TensorRef<'_, f32, ndarray::IxDyn, Contiguous>) -> f32 {
///     x.as_slice().iter().sum()
/// }
/// ```
pub struct TensorRef<'py, T: Element, D: Dimension = IxDyn, L: LayoutConstraint = Strided> {
    // Field order matters: the view is dropped before the borrow that
    // protects it, and both before the source that keeps the memory alive.
    view: ArrayView<'static, T, D>,
    _borrow: Borrow,
    source: Source<'py>,
    _marker: PhantomData<L>,
}

/// A writable tensor argument: as [`TensorRef`], and also refused when the
/// source is read-only or several indices reach one element (a broadcast
/// view), with an exclusive borrow of the memory while it lives.
///
/// Writes are seen by the caller's NumPy array or torch tensor, which share
/// the memory.
pub struct TensorMut<'py, T: Element, D: Dimension = IxDyn, L: WritableLayout = Strided> {
    // As in `TensorRef`: view, then borrow, then the source.
    view: ArrayViewMut<'static, T, D>,
    _borrow: Borrow,
    source: Source<'py>,
    _marker: PhantomData<L>,
}

/// What keeps an argument's memory alive: the tensor it was imported as or,
/// for a NumPy array that matched the signature as it is, the array itself
/// (no `Tensor` is built for the common case).
enum Source<'py> {
    Tensor(Tensor),
    Array(Bound<'py, PyAny>),
}

impl Source<'_> {
    /// A tensor handle on the source's memory.
    fn to_tensor(&self) -> PyResult<Tensor> {
        match self {
            Source::Tensor(tensor) => Ok(tensor.clone()),
            Source::Array(array) => import_ndarray(array.cast::<PyUntypedArray>()?),
        }
    }
}

impl<'py, T: Element, D: Dimension, L: LayoutConstraint> TensorRef<'py, T, D, L> {
    /// The elements as an `ndarray` view of dimension `D`.
    pub fn as_array(&self) -> ArrayView<'_, T, D> {
        self.view.view()
    }

    /// The address of the first element (for an empty tensor, a dangling
    /// aligned address).
    pub fn as_ptr(&self) -> *const T {
        self.view.as_ptr()
    }

    /// The size of each dimension.
    pub fn shape(&self) -> &[usize] {
        self.view.shape()
    }

    /// A [`Tensor`] handle on the same memory, to keep beyond the call or
    /// hand to dlbridge's core API (for a NumPy argument it is made now,
    /// the argument itself holding only the array).
    pub fn to_tensor(&self) -> PyResult<Tensor> {
        self.source.to_tensor()
    }
}

impl<'py, T: Element, D: Dimension> TensorRef<'py, T, D, Contiguous> {
    /// The elements in row-major order.
    pub fn as_slice(&self) -> &[T] {
        self.view
            .as_slice()
            .expect("a C-contiguous argument is one slice")
    }
}

impl<'py, T: Element, D: Dimension> TensorRef<'py, T, D, Converted> {
    /// The elements in row-major order.
    pub fn as_slice(&self) -> &[T] {
        self.view
            .as_slice()
            .expect("a converted argument is one C-contiguous slice")
    }
}

impl<'py, T: Element, D: Dimension, L: WritableLayout> TensorMut<'py, T, D, L> {
    /// The elements as an `ndarray` view of dimension `D`.
    pub fn as_array(&self) -> ArrayView<'_, T, D> {
        self.view.view()
    }

    /// The elements as a mutable `ndarray` view of dimension `D`.
    pub fn as_array_mut(&mut self) -> ArrayViewMut<'_, T, D> {
        self.view.view_mut()
    }

    /// The address of the first element.
    pub fn as_mut_ptr(&mut self) -> *mut T {
        self.view.as_mut_ptr()
    }

    /// The size of each dimension.
    pub fn shape(&self) -> &[usize] {
        self.view.shape()
    }

    /// A [`Tensor`] handle on the same memory, to keep beyond the call or
    /// hand to dlbridge's core API (for a NumPy argument it is made now,
    /// the argument itself holding only the array).
    pub fn to_tensor(&self) -> PyResult<Tensor> {
        self.source.to_tensor()
    }
}

impl<'py, T: Element, D: Dimension> TensorMut<'py, T, D, Contiguous> {
    /// The elements in row-major order.
    pub fn as_slice(&self) -> &[T] {
        self.view
            .as_slice()
            .expect("a C-contiguous argument is one slice")
    }

    /// The elements in row-major order, writable.
    pub fn as_slice_mut(&mut self) -> &mut [T] {
        self.view
            .as_slice_mut()
            .expect("a C-contiguous argument is one slice")
    }
}

impl<'a, 'py, T: Element, D: Dimension, L: LayoutConstraint> FromPyObject<'a, 'py>
    for TensorRef<'py, T, D, L>
{
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        // Before the borrow is taken, this copy of dlbridge must use the
        // process-wide registry, or other extensions' borrows would not see it.
        registry::ensure_shared(obj.py())?;
        let obj = obj.to_owned();
        if let Some(parts) = numpy_view::view_parts::<T, D>(&obj, L::CONTIGUOUS, false) {
            match Borrow::acquire_reachable(parts.range, false) {
                Ok(borrow) => {
                    // SAFETY: the argument holds the array (and with it the
                    // memory) and the shared borrow for as long as the view,
                    // and is tied to the GIL (`'py`): no other Python thread
                    // runs while the view, lent out reborrowed from `&self`,
                    // is alive.
                    let view = unsafe { parts.into_view() };
                    count_fast_path();
                    return Ok(TensorRef {
                        view,
                        _borrow: borrow,
                        source: Source::Array(obj),
                        _marker: PhantomData,
                    });
                }
                // A segment other processes write: converted below.
                Err(Error::SharedAcrossProcesses) if L::CONVERTS => {}
                Err(error) => return Err(error.into()),
            }
        }
        let mut tensor = import_checked::<T, D, L>(&obj, false)?;
        // SAFETY: the argument keeps `tensor`, and with it the storage,
        // alive, and holds the borrow, for as long as the view; the view is
        // only lent out reborrowed from `&self`, on the GIL's thread (`'py`).
        let viewed = unsafe { tensor.view_unbound::<T>(Holder::Attached) };
        let (view, borrow) = match viewed {
            Ok(parts) => parts,
            // Memory in a shared-memory segment, which the registry knows
            // whichever copy of dlbridge mapped it: a converting argument
            // takes a private copy instead.
            Err(Error::SharedAcrossProcesses) if L::CONVERTS => {
                tensor = tensor.to_dtype_with(T::DTYPE, Participation::CheckOnly)?;
                // SAFETY: as above.
                unsafe { tensor.view_unbound::<T>(Holder::Attached)? }
            }
            Err(error) => return Err(error.into()),
        };
        let view = view
            .into_dimensionality::<D>()
            .expect("the number of dimensions was checked");
        Ok(TensorRef {
            view,
            _borrow: borrow,
            source: Source::Tensor(tensor),
            _marker: PhantomData,
        })
    }
}

impl<'a, 'py, T: Element, D: Dimension, L: WritableLayout> FromPyObject<'a, 'py>
    for TensorMut<'py, T, D, L>
{
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        // As for `TensorRef`.
        registry::ensure_shared(obj.py())?;
        let obj = obj.to_owned();
        if let Some(parts) = numpy_view::view_parts::<T, D>(&obj, L::CONTIGUOUS, true) {
            let borrow = Borrow::acquire_reachable(parts.range, true)?;
            // SAFETY: as for `TensorRef`, with an exclusive borrow; the
            // mutable view is only lent out reborrowed from `&mut self`.
            let view = unsafe { parts.into_view_mut() };
            count_fast_path();
            return Ok(TensorMut {
                view,
                _borrow: borrow,
                source: Source::Array(obj),
                _marker: PhantomData,
            });
        }
        let tensor = import_checked::<T, D, L>(&obj, true)?;
        // SAFETY: as for `TensorRef`; the mutable view is only lent out
        // reborrowed from `&mut self`.
        let (view, borrow) = unsafe { tensor.view_mut_unbound::<T>(Holder::Attached)? };
        let view = view
            .into_dimensionality::<D>()
            .expect("the number of dimensions was checked");
        Ok(TensorMut {
            view,
            _borrow: borrow,
            source: Source::Tensor(tensor),
            _marker: PhantomData,
        })
    }
}

/// Imports `obj` without copying and checks it against the signature: a
/// `TypeError` saying what was expected and what was given.
fn import_checked<T: Element, D: Dimension, L: LayoutConstraint>(
    obj: &Bound<'_, PyAny>,
    writable: bool,
) -> PyResult<Tensor> {
    let expected = || {
        if L::CONVERTS {
            // Only the rank (and being a tensor) can fail a converting argument.
            let any = describe(&[(writable, "writable")], D::NDIM, None);
            format!("{any} (converted to {})", T::DTYPE.name())
        } else {
            let qualities = [(writable, "writable"), (L::CONTIGUOUS, "C-contiguous")];
            describe(&qualities, D::NDIM, Some(T::DTYPE))
        }
    };
    // NumPy arrays, dlbridge tensors and torch tensors first, with no
    // attribute look-up; then other producers; anything else is refused in
    // the signature's terms.
    let tensor = match dlpack_import::try_import_fast(obj)? {
        Some(tensor) => tensor,
        None if dlpack_import::is_dlpack_source(obj)? => {
            dlpack_import::import_through_capsule(obj, None)?
        }
        None => {
            return Err(PyTypeError::new_err(format!(
                "expected {}, got {}",
                expected(),
                obj.get_type().name()?
            )));
        }
    };
    let rank_matches = D::NDIM.is_none_or(|ndim| ndim == tensor.ndim());
    // Misaligned memory is shared by every import (NumPy and torch share it
    // too), but no Rust reference may point into it.
    let address = tensor.data_ptr() as usize;
    let misaligned = tensor.numel() > 0 && !address.is_multiple_of(std::mem::align_of::<T>());
    if L::CONVERTS && rank_matches {
        // (A segment other processes write is converted by the caller, when
        // the registry refuses the view: one check for every route.)
        return if tensor.dtype() == T::DTYPE && tensor.is_contiguous() && !misaligned {
            Ok(tensor)
        } else {
            // A fresh, C-contiguous tensor of `T` that no one else sees; the
            // source is only read, checked against Rust borrows.
            Ok(tensor.to_dtype_with(T::DTYPE, Participation::CheckOnly)?)
        };
    }
    let readonly = writable && tensor.is_readonly();
    let strided = L::CONTIGUOUS && !tensor.is_contiguous();
    if tensor.dtype() != T::DTYPE
        || D::NDIM.is_some_and(|ndim| ndim != tensor.ndim())
        || strided
        || readonly
    {
        // What was given, in the terms of what was asked.
        let given = describe(
            &[(readonly, "read-only"), (strided, "non-contiguous")],
            Some(tensor.ndim()),
            Some(tensor.dtype()),
        );
        return Err(PyTypeError::new_err(format!(
            "expected {}, got {given}",
            expected()
        )));
    }
    if misaligned {
        return Err(PyTypeError::new_err(format!(
            "expected {}, got one whose data at {address:#x} is not aligned to {} bytes, which a Rust reference to {} needs; pass an aligned copy (NumPy's copy(), torch's or dlbridge's clone())",
            expected(),
            std::mem::align_of::<T>(),
            T::DTYPE.name(),
        )));
    }
    Ok(tensor)
}

/// "a writable C-contiguous 2-d float32 tensor", with the qualities that
/// apply.
fn describe(qualities: &[(bool, &str)], ndim: Option<usize>, dtype: Option<DType>) -> String {
    let mut words: Vec<String> = qualities
        .iter()
        .filter(|(applies, _)| *applies)
        .map(|(_, word)| word.to_string())
        .collect();
    if let Some(ndim) = ndim {
        words.push(format!("{ndim}-d"));
    }
    if let Some(dtype) = dtype {
        words.push(dtype.name().to_string());
    }
    words.push("tensor".to_string());
    // "an int8", "an 8-d", "an 11-d": the article goes by the sound.
    let first = &words[0];
    let vowel = first.starts_with(['a', 'e', 'i', 'o', 'u', '8'])
        || first.starts_with("11-")
        || first.starts_with("18-");
    format!("{} {}", if vowel { "an" } else { "a" }, words.join(" "))
}
