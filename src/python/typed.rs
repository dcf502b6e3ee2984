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
//!
//! An argument also answers what a function needs to reply in the caller's
//! own terms: its [`dtype`](TensorRef::dtype) (before any conversion), its
//! [`framework`](TensorRef::framework) and the caller's
//! [`object`](TensorRef::object). Nothing is looked up for them until they
//! are asked: the fast path records only the array it already holds.
//!
//! PyO3 tells an extractor nothing of its argument's name (it adds the note
//! to the error afterwards), so a borrow conflict names the argument being
//! extracted through that note, and the argument holding the earlier borrow
//! only when that one was extracted with [`TensorRef::extract_named`] or
//! [`TensorMut::extract_named`] (a `#[pyo3(from_py_with = ...)]` function):
//! those record their name in a per-thread ledger while they live, which is
//! read only when a conflict is being worded.

use super::dlpack_import;
use super::frameworks::Framework;
use super::ndarray::import_ndarray;
use super::numpy_view;
use super::registry;
use crate::access::Holder;
use crate::borrow::{Borrow, Participation};
use crate::dtype::Kind;
use crate::dtype::{DType, Element};
use crate::error::Error;
use crate::tensor::Tensor;
use ndarray::{ArrayView, ArrayViewMut, Dimension, IxDyn};
use numpy::PyUntypedArray;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use std::cell::{Cell, RefCell};
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
/// source is not already so, from the dtype kinds it names).
pub trait LayoutConstraint: sealed::Sealed {
    /// Whether the argument ends up C-contiguous.
    const CONTIGUOUS: bool;
    /// Whether a source of another dtype or layout is copied rather than
    /// refused.
    const CONVERTS: bool;
    /// Which sources a converting layout takes, by dtype kind (every kind for
    /// the layouts that do not convert: their dtype must be `T` anyway).
    #[doc(hidden)]
    type Kinds: DTypeKinds;
}

/// The dtype kinds a [`Converted`] argument takes a source of: [`AnyKind`]
/// (every dtype, the default), [`FloatKind`], [`IntKind`], [`RealKind`] or
/// [`ComplexKind`]. A source of another kind is refused with a `TypeError`,
/// never cast: `Converted<FloatKind>` to `f32` refuses a complex tensor
/// rather than drop its imaginary parts, and an integer or bool one rather
/// than pass it for a float.
pub trait DTypeKinds: sealed::Sealed {
    /// Whether a source of dtype kind `kind` is taken.
    fn accepts(kind: Kind) -> bool;
    /// The kinds in words, "floating-point" (empty for [`AnyKind`]), as the
    /// refusal says what was expected.
    const DESCRIPTION: &'static str;
}

/// Every dtype: a `Converted` argument casts any source, as
/// `Tensor::to_dtype` does (complex to real keeps the real part).
#[derive(Debug)]
pub struct AnyKind;

/// Floating point only: `float16`, `bfloat16`, `float32`, `float64`.
/// Integer, bool and complex sources are refused.
#[derive(Debug)]
pub struct FloatKind;

/// Integers only, signed and unsigned. Bool, float and complex sources are
/// refused.
#[derive(Debug)]
pub struct IntKind;

/// Real numbers: bool, integers and floating point. Complex sources are
/// refused, so no imaginary part is ever dropped.
#[derive(Debug)]
pub struct RealKind;

/// Complex only: `complex64`, `complex128`.
#[derive(Debug)]
pub struct ComplexKind;

impl DTypeKinds for AnyKind {
    fn accepts(_: Kind) -> bool {
        true
    }
    const DESCRIPTION: &'static str = "";
}

impl DTypeKinds for FloatKind {
    fn accepts(kind: Kind) -> bool {
        kind == Kind::Float
    }
    const DESCRIPTION: &'static str = "floating-point";
}

impl DTypeKinds for IntKind {
    fn accepts(kind: Kind) -> bool {
        kind == Kind::Int
    }
    const DESCRIPTION: &'static str = "integer";
}

impl DTypeKinds for RealKind {
    fn accepts(kind: Kind) -> bool {
        kind != Kind::Complex
    }
    const DESCRIPTION: &'static str = "real (bool, integer or floating-point)";
}

impl DTypeKinds for ComplexKind {
    fn accepts(kind: Kind) -> bool {
        kind == Kind::Complex
    }
    const DESCRIPTION: &'static str = "complex";
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
///
/// `K` restricts the sources by dtype kind: `Converted` (= `Converted<AnyKind>`)
/// takes every dtype, `Converted<FloatKind>` only floating-point ones (so a
/// complex, integer or bool tensor is a `TypeError`, "expected a 1-d
/// floating-point tensor (converted to float32), got a 1-d complex128
/// tensor"), and likewise [`IntKind`], [`RealKind`], [`ComplexKind`].
/// [`TensorRef::dtype`] is the caller's dtype, before the cast.
///
/// ```no_run
/// use dlbridge::ndarray::Ix1;
/// use dlbridge::python::{Converted, FloatKind, TensorRef};
/// use pyo3::prelude::*;
///
/// /// The mean of any floating-point 1-d tensor, read as float64.
/// #[pyfunction]
/// fn mean(x: TensorRef<'_, f64, Ix1, Converted<FloatKind>>) -> f64 {
///     x.as_slice().iter().sum::<f64>() / x.as_slice().len().max(1) as f64
/// }
/// ```
#[derive(Debug)]
pub struct Converted<K: DTypeKinds = AnyKind>(PhantomData<K>);

impl LayoutConstraint for Strided {
    const CONTIGUOUS: bool = false;
    const CONVERTS: bool = false;
    type Kinds = AnyKind;
}

impl LayoutConstraint for Contiguous {
    const CONTIGUOUS: bool = true;
    const CONVERTS: bool = false;
    type Kinds = AnyKind;
}

impl<K: DTypeKinds> LayoutConstraint for Converted<K> {
    const CONTIGUOUS: bool = true;
    const CONVERTS: bool = true;
    type Kinds = K;
}

impl WritableLayout for Strided {}
impl WritableLayout for Contiguous {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Strided {}
    impl Sealed for super::Contiguous {}
    impl<K: super::DTypeKinds> Sealed for super::Converted<K> {}
    impl Sealed for super::AnyKind {}
    impl Sealed for super::FloatKind {}
    impl Sealed for super::IntKind {}
    impl Sealed for super::RealKind {}
    impl Sealed for super::ComplexKind {}
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
/// use dlbridge::ndarray::{Ix1, Ix2};
/// use dlbridge::python::{Contiguous, TensorMut, TensorRef};
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
/// fn sum(x: TensorRef<'_, f32, dlbridge::ndarray::IxDyn, Contiguous>) -> f32 {
///     x.as_slice().iter().sum()
/// }
/// ```
pub struct TensorRef<'py, T: Element, D: Dimension = IxDyn, L: LayoutConstraint = Strided> {
    // Field order matters: the view is dropped before the borrow that
    // protects it, and both before the source that keeps the memory alive.
    view: ArrayView<'static, T, D>,
    _borrow: Borrow,
    _name: Named,
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
    _name: Named,
    source: Source<'py>,
    _marker: PhantomData<L>,
}

/// What keeps an argument's memory alive: the tensor it was imported as or,
/// for a NumPy array that matched the signature as it is, the array itself
/// (no `Tensor` is built for the common case).
enum Source<'py> {
    /// Imported (and, for a converting argument, maybe converted): the
    /// tensor viewed, the caller's object, and the caller's dtype.
    Tensor {
        tensor: Tensor,
        object: Bound<'py, PyAny>,
        dtype: DType,
    },
    /// Exactly a `numpy.ndarray` of the signature's dtype.
    Array(Bound<'py, PyAny>),
}

impl<'py> Source<'py> {
    /// A tensor handle on the source's memory.
    fn to_tensor(&self) -> PyResult<Tensor> {
        match self {
            Source::Tensor { tensor, .. } => Ok(tensor.clone()),
            Source::Array(array) => import_ndarray(array.cast::<PyUntypedArray>()?),
        }
    }

    /// The object the caller passed.
    fn object(&self) -> &Bound<'py, PyAny> {
        match self {
            Source::Tensor { object, .. } | Source::Array(object) => object,
        }
    }

    /// The caller's framework: an exact ndarray needs no look-up.
    fn framework(&self) -> Option<Framework> {
        match self {
            Source::Tensor { object, .. } => Framework::of(object),
            Source::Array(_) => Some(Framework::NumPy),
        }
    }

    /// The caller's dtype: an array read in place has the signature's.
    fn dtype<T: Element>(&self) -> DType {
        match self {
            Source::Tensor { dtype, .. } => *dtype,
            Source::Array(_) => T::DTYPE,
        }
    }
}

/// What both typed arguments answer about the caller's tensor, so that a
/// function can allocate its result like it and answer in the caller's
/// framework with no untyped argument.
macro_rules! caller_accessors {
    () => {
        /// The caller's dtype. For a [`Converted`] argument it is the
        /// source's own, before the cast to `T` (`float16` for a float16
        /// array read as `f32`); otherwise always `T`'s.
        pub fn dtype(&self) -> DType {
            self.source.dtype::<T>()
        }

        /// The framework of the caller's object ([`Framework::of`]): `NumPy`,
        /// `Torch`, `Jax`, `DLBridge`, or `None` for another DLPack producer.
        /// Allocate a result there with [`Framework::zeros`], or return one
        /// with [`Tensor::into_framework`], to answer in the caller's type.
        /// Nothing is looked up until this is called (a NumPy array read in
        /// place answers without a look-up).
        pub fn framework(&self) -> Option<Framework> {
            self.source.framework()
        }

        /// The object the caller passed (a converting argument's original,
        /// not its copy): to return it, or to read an attribute dlbridge
        /// does not model.
        pub fn object(&self) -> &Bound<'py, PyAny> {
            self.source.object()
        }

        /// The GIL token the argument is bound to, for the calls that need
        /// one ([`Framework::zeros`], [`Tensor::into_framework`]).
        pub fn py(&self) -> Python<'py> {
            self.source.object().py()
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
    };
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

    caller_accessors!();

    /// Extracts `obj` as the `#[pyfunction]` argument `name`: as
    /// `FromPyObject` does, and while the argument lives, a later argument
    /// whose borrow conflicts with it names it ("tensor memory is already
    /// borrowed, by argument 'x'"; PyO3's note names the later one). PyO3
    /// tells an extractor nothing of its argument's name, so the name is
    /// given here, through `#[pyo3(from_py_with = ...)]`:
    ///
    /// ```no_run
    /// use dlbridge::ndarray::Ix1;
    /// use dlbridge::python::{TensorMut, TensorRef};
    /// use pyo3::prelude::*;
    ///
    /// fn named_x<'py>(x: &Bound<'py, PyAny>) -> PyResult<TensorRef<'py, f32, Ix1>> {
    ///     TensorRef::extract_named(x, "x")
    /// }
    ///
    /// /// `out += x`; `add_into(a, a)` is refused naming both arguments.
    /// #[pyfunction]
    /// fn add_into(
    ///     #[pyo3(from_py_with = named_x)] x: TensorRef<'_, f32, Ix1>,
    ///     mut out: TensorMut<'_, f32, Ix1>,
    /// ) {
    ///     out.as_array_mut().zip_mut_with(&x.as_array(), |o, &v| *o += v);
    /// }
    /// ```
    pub fn extract_named(obj: &Bound<'py, PyAny>, name: &'static str) -> PyResult<Self> {
        Self::extract_as(obj.as_borrowed(), Some(name))
    }

    fn extract_as(obj: Borrowed<'_, 'py, PyAny>, name: Option<&'static str>) -> PyResult<Self> {
        // Before the borrow is taken, this copy of dlbridge must use the
        // process-wide registry, or other extensions' borrows would not see it.
        let py = obj.py();
        registry::ensure_shared(py)?;
        let obj = obj.to_owned();
        // (A converting argument whose own `T` is not of the kinds it takes
        // goes the general way, which refuses such a source.)
        if <L::Kinds as DTypeKinds>::accepts(T::DTYPE.kind())
            && let Some(parts) = numpy_view::view_parts::<T, D>(&obj, L::CONTIGUOUS, false)
        {
            match Borrow::acquire_reachable(parts.range, false) {
                Ok(borrow) => {
                    let range = parts.range;
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
                        _name: Named::record(range, false, name),
                        source: Source::Array(obj),
                        _marker: PhantomData,
                    });
                }
                // A segment other processes write: converted below.
                Err(Error::SharedAcrossProcesses) if L::CONVERTS => {}
                Err(error) => return Err(refusal(py, error, parts.range, false)),
            }
        }
        let (mut tensor, dtype) = import_checked::<T, D, L>(&obj, false)?;
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
            Err(error) => return Err(refusal(py, error, tensor.byte_range(), false)),
        };
        let view = view
            .into_dimensionality::<D>()
            .expect("the number of dimensions was checked");
        Ok(TensorRef {
            view,
            _borrow: borrow,
            _name: Named::record(tensor.byte_range(), false, name),
            source: Source::Tensor {
                tensor,
                object: obj,
                dtype,
            },
            _marker: PhantomData,
        })
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

impl<'py, T: Element, D: Dimension, K: DTypeKinds> TensorRef<'py, T, D, Converted<K>> {
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

    caller_accessors!();

    /// Extracts `obj` as the `#[pyfunction]` argument `name`, for
    /// `#[pyo3(from_py_with = ...)]`: as [`TensorRef::extract_named`], with
    /// the exclusive borrow of a writable argument.
    pub fn extract_named(obj: &Bound<'py, PyAny>, name: &'static str) -> PyResult<Self> {
        Self::extract_as(obj.as_borrowed(), Some(name))
    }

    fn extract_as(obj: Borrowed<'_, 'py, PyAny>, name: Option<&'static str>) -> PyResult<Self> {
        // As for `TensorRef`.
        let py = obj.py();
        registry::ensure_shared(py)?;
        let obj = obj.to_owned();
        if let Some(parts) = numpy_view::view_parts::<T, D>(&obj, L::CONTIGUOUS, true) {
            let range = parts.range;
            let borrow = Borrow::acquire_reachable(range, true)
                .map_err(|error| refusal(py, error, range, true))?;
            // SAFETY: as for `TensorRef`, with an exclusive borrow; the
            // mutable view is only lent out reborrowed from `&mut self`.
            let view = unsafe { parts.into_view_mut() };
            count_fast_path();
            return Ok(TensorMut {
                view,
                _borrow: borrow,
                _name: Named::record(range, true, name),
                source: Source::Array(obj),
                _marker: PhantomData,
            });
        }
        let (tensor, dtype) = import_checked::<T, D, L>(&obj, true)?;
        let range = tensor.byte_range();
        // SAFETY: as for `TensorRef`; the mutable view is only lent out
        // reborrowed from `&mut self`.
        let (view, borrow) = unsafe { tensor.view_mut_unbound::<T>(Holder::Attached) }
            .map_err(|error| refusal(py, error, range, true))?;
        let view = view
            .into_dimensionality::<D>()
            .expect("the number of dimensions was checked");
        Ok(TensorMut {
            view,
            _borrow: borrow,
            _name: Named::record(range, true, name),
            source: Source::Tensor {
                tensor,
                object: obj,
                dtype,
            },
            _marker: PhantomData,
        })
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
        Self::extract_as(obj, None)
    }
}

impl<'a, 'py, T: Element, D: Dimension, L: WritableLayout> FromPyObject<'a, 'py>
    for TensorMut<'py, T, D, L>
{
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Self::extract_as(obj, None)
    }
}

/// One live named argument: the byte range it borrows, how, and its name.
#[derive(Clone, Copy, PartialEq, Eq)]
struct LedgerEntry {
    start: usize,
    end: usize,
    exclusive: bool,
    name: &'static str,
}

thread_local! {
    /// The named typed arguments alive on this thread, innermost last. Typed
    /// arguments are bound to the GIL's thread (`'py`, neither `Send` nor
    /// `Sync`), so each is recorded and removed on one thread; unnamed ones
    /// never touch it.
    static LEDGER: RefCell<Vec<LedgerEntry>> = const { RefCell::new(Vec::new()) };
}

/// A named argument's ledger entry, removed when the argument is dropped
/// (nothing for an unnamed argument, or one with no elements, which borrows
/// nothing). Boxed: named arguments are the rare case, and the box keeps
/// every typed argument one word larger, not five, on the fast path that
/// moves it.
struct Named(Option<Box<LedgerEntry>>);

impl Named {
    /// Records `name` for the argument borrowing `range`; for an unnamed
    /// argument (every one but `extract_named`'s) a test and nothing else,
    /// inlined into the typed argument's fast path.
    #[inline(always)]
    fn record(range: Option<(usize, usize)>, exclusive: bool, name: Option<&'static str>) -> Named {
        match (range, name) {
            (Some((start, end)), Some(name)) => Named::push(LedgerEntry {
                start,
                end,
                exclusive,
                name,
            }),
            _ => Named(None),
        }
    }

    #[cold]
    #[inline(never)]
    fn push(entry: LedgerEntry) -> Named {
        LEDGER.with(|ledger| ledger.borrow_mut().push(entry));
        Named(Some(Box::new(entry)))
    }

    #[cold]
    #[inline(never)]
    fn remove(entry: &LedgerEntry) {
        // (`try_with`: an argument dropped while the thread's locals are
        // being destroyed has nothing left to remove itself from.)
        let _ = LEDGER.try_with(|ledger| {
            let mut ledger = ledger.borrow_mut();
            if let Some(at) = ledger.iter().rposition(|live| live == entry) {
                ledger.remove(at);
            }
        });
    }
}

impl Drop for Named {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(entry) = self.0.as_deref() {
            Named::remove(entry);
        }
    }
}

/// `error` as the Python exception the one mapping (`error.rs`) makes of it;
/// a borrow conflict over `range` that a live named argument explains also
/// names that argument, in an exception of the same type.
fn refusal(py: Python<'_>, error: Error, range: Option<(usize, usize)>, exclusive: bool) -> PyErr {
    let holder = match (&error, range) {
        (Error::AlreadyBorrowed { .. }, Some((start, end))) => LEDGER
            .try_with(|ledger| {
                ledger
                    .borrow()
                    .iter()
                    .rev()
                    .find(|live| {
                        live.start < end && start < live.end && (exclusive || live.exclusive)
                    })
                    .map(|live| live.name)
            })
            .ok()
            .flatten(),
        _ => None,
    };
    let Some(holder) = holder else {
        return error.into();
    };
    let message = format!("{error}, by argument '{holder}'");
    let mapped = PyErr::from(error);
    PyErr::from_type(mapped.get_type(py), message)
}

/// Imports `obj` without copying and checks it against the signature: a
/// `TypeError` saying what was expected and what was given. Returns the
/// tensor to view (a converting argument's copy, when it needs one) and the
/// caller's dtype.
fn import_checked<T: Element, D: Dimension, L: LayoutConstraint>(
    obj: &Bound<'_, PyAny>,
    writable: bool,
) -> PyResult<(Tensor, DType)> {
    let expected = || {
        if L::CONVERTS {
            // Only the rank, the dtype's kind (and being a tensor) can fail a
            // converting argument.
            let kinds = <L::Kinds as DTypeKinds>::DESCRIPTION;
            let any = describe(&[(writable, "writable")], D::NDIM, kinds);
            format!("{any} (converted to {})", T::DTYPE.name())
        } else {
            let qualities = [(writable, "writable"), (L::CONTIGUOUS, "C-contiguous")];
            describe(&qualities, D::NDIM, T::DTYPE.name())
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
    let dtype = tensor.dtype();
    let kind_taken = <L::Kinds as DTypeKinds>::accepts(dtype.kind());
    if L::CONVERTS && rank_matches && kind_taken {
        // (A segment other processes write is converted by the caller, when
        // the registry refuses the view: one check for every route.)
        return if dtype == T::DTYPE && tensor.is_contiguous() && !misaligned {
            Ok((tensor, dtype))
        } else {
            // A fresh, C-contiguous tensor of `T` that no one else sees; the
            // source is only read, checked against Rust borrows.
            match tensor.to_dtype_with(T::DTYPE, Participation::CheckOnly) {
                Ok(copy) => Ok((copy, dtype)),
                Err(error) => Err(refusal(obj.py(), error, tensor.byte_range(), false)),
            }
        };
    }
    let readonly = writable && tensor.is_readonly();
    let strided = L::CONTIGUOUS && !tensor.is_contiguous();
    if (!L::CONVERTS && dtype != T::DTYPE) || !kind_taken || !rank_matches || strided || readonly {
        // What was given, in the terms of what was asked.
        let given = describe(
            &[(readonly, "read-only"), (strided, "non-contiguous")],
            Some(tensor.ndim()),
            dtype.name(),
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
    Ok((tensor, dtype))
}

/// "a writable C-contiguous 2-d float32 tensor", with the qualities that
/// apply; `what` is a dtype's name, the kinds a conversion takes
/// ("floating-point"), or empty.
fn describe(qualities: &[(bool, &str)], ndim: Option<usize>, what: &str) -> String {
    let mut words: Vec<String> = qualities
        .iter()
        .filter(|(applies, _)| *applies)
        .map(|(_, word)| word.to_string())
        .collect();
    if let Some(ndim) = ndim {
        words.push(format!("{ndim}-d"));
    }
    if !what.is_empty() {
        words.push(what.to_string());
    }
    words.push("tensor".to_string());
    // "an int8", "an 8-d", "an 11-d": the article goes by the sound.
    let first = &words[0];
    let vowel = first.starts_with(['a', 'e', 'i', 'o', 'u', '8'])
        || first.starts_with("11-")
        || first.starts_with("18-");
    format!("{} {}", if vowel { "an" } else { "a" }, words.join(" "))
}
