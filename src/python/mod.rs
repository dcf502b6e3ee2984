//! The Python extension module `dlbridge._dlbridge`: the only place PyO3
//! appears. `python/dlbridge/__init__.py` re-exports everything defined here.
//!
//! What a Rust extension built on dlbridge uses from this layer: the typed
//! arguments [`TensorRef`] and [`TensorMut`] (element type, dimensionality
//! and layout checked when the argument is extracted), and
//! [`Tensor`](crate::Tensor) itself as a `#[pyfunction]` argument and result
//! (its `FromPyObject` and `IntoPyObject` impls): it accepts any DLPack
//! producer and returns an instance of the installed `dlbridge.Tensor`.
//! To answer in the caller's own framework instead, [`Tensor::into_numpy`](crate::Tensor::into_numpy),
//! [`Tensor::into_torch`](crate::Tensor::into_torch), [`Tensor::into_jax`](crate::Tensor::into_jax) and
//! [`Tensor::into_framework`](crate::Tensor::into_framework) return a NumPy array, torch tensor or JAX array
//! over the same memory; [`Framework::of`] tells an argument's framework and
//! [`Framework::zeros`] allocates an output there for Rust to fill.
//! The Python classes are not public: an extension links its own copy of
//! this crate, and a class made from that copy would be a second Python type
//! that `isinstance(x, dlbridge.Tensor)` does not recognise.
//! [`dlbridge_module`] is public for programs that embed Python and register
//! the module themselves (`pyo3::append_to_inittab!`).

// The modules form layers: each uses only modules listed above it, so
// there is no import cycle; `tests/layers.rs` checks it.
//
// 1. The classes and what every module builds on:
mod attached; // typed access bound to the interpreter (`as_slice_py`, ...)
mod device; // `dlbridge.Device` and device arguments
mod dtype; // `dlbridge.DType` and dtype arguments (NumPy dtypes too)
mod error; // core errors to Python exceptions
mod gil; // releasing Python resources; copies without the GIL
mod imported; // modules already in `sys.modules`, never imported
mod index; // `t[...]` keys to core index items
mod registry; // the process-wide borrow registry capsule
mod scalar; // one Python number to a core scalar and back
mod tensor; // the `dlbridge.Tensor` class itself
// 2. Memory in and out:
mod buffer; // the buffer protocol, both directions
mod dlpack_export; // `__dlpack__`'s export and the C exchange API producer
mod dlpack_method; // `__dlpack__` itself, reading its keywords in C's convention
mod exchange; // other frameworks' C exchange tables, called as a consumer
mod handoff; // tensors handed between compiled copies of dlbridge
mod ndarray; // NumPy arrays read field by field
mod numpy_view; // matching NumPy arrays as typed views, no `Tensor` built
// 3. On those:
mod dlpack_import; // every DLPack import route (uses `ndarray`)
// 4. Built from imports:
mod boundary; // `Tensor` as an extension's argument and result
mod compare; // `==`, `!=`, `in`
mod frameworks; // results as NumPy, torch and JAX objects; outputs they allocate
mod nested; // nested lists to tensors and back
mod tensor_arguments; // numbers or tensors, as torch's arguments take both
mod typed; // typed tensor arguments of extensions
// 5. The Python-facing surface:
mod constructors; // `tensor`, `as_tensor`, `from_numpy`, ...
mod torch_only; // torch's methods that dlbridge leaves to torch, as hints
// 6. The methods, each a thin call into the layers above:
mod tensor_methods; // `dlbridge.Tensor`'s methods

use pyo3::prelude::*;

pub use attached::Attached;
pub use frameworks::Framework;
#[doc(hidden)]
pub use typed::numpy_fast_path_count;
pub use typed::{
    AnyKind, ComplexKind, Contiguous, Converted, DTypeKinds, FloatKind, IntKind, LayoutConstraint,
    RealKind, Strided, TensorMut, TensorRef, WritableLayout,
};

use device::PyDevice;
use dtype::PyDType;
use tensor::PyTensor;

/// Builds the `dlbridge._dlbridge` module.
///
/// `gil_used = true`: since PyO3 0.28 a bare `#[pymodule]` declares itself safe
/// to run without the GIL (`Py_mod_gil = Py_MOD_GIL_NOT_USED`), and dlbridge is
/// not: its soundness arguments (Rust references into tensor memory, writes
/// that no Python thread can interleave) rely on the GIL being held, so a
/// free-threaded interpreter must re-enable the GIL when it imports this module.
/// The slot only exists on Python 3.13 and newer.
#[pymodule(gil_used = true)]
#[pyo3(name = "_dlbridge")]
pub fn dlbridge_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Publish the process-wide borrow registry before anything else can use
    // this copy's, and before any other extension looks for it here.
    registry::share_on(m)?;
    // And the table other copies hand their tensors to.
    handoff::publish(m)?;
    m.add_class::<PyTensor>()?;
    // Before `torch_only` looks for the names the class lacks.
    dlpack_method::install(m.py())?;
    torch_only::install(m.py())?;
    // The DLPack 1.3 C exchange API, for consumers that look for it on the
    // type (tvm-ffi, and dlbridge itself when compiled into another
    // extension): tensors cross in C, with no Python call and no capsule.
    dlpark::python::install_exchange_api::<PyTensor>(m.py())?;
    m.add_class::<PyDType>()?;
    m.add_class::<PyDevice>()?;
    for dtype in crate::DType::ALL {
        m.add(dtype.name(), dtype::instance(m.py(), dtype))?;
    }
    m.add_function(wrap_pyfunction!(constructors::from_numpy, m)?)?;
    m.add_function(wrap_pyfunction!(constructors::as_tensor, m)?)?;
    m.add_function(wrap_pyfunction!(constructors::tensor, m)?)?;
    m.add_function(wrap_pyfunction!(constructors::from_dlpack, m)?)?;
    m.add_function(wrap_pyfunction!(constructors::clone, m)?)?;
    m.add_function(wrap_pyfunction!(constructors::frombuffer, m)?)?;
    m.add_function(wrap_pyfunction!(constructors::from_pickle, m)?)?;
    m.add_function(wrap_pyfunction!(constructors::from_pickle_buffer, m)?)?;
    m.add_function(wrap_pyfunction!(constructors::from_shared, m)?)?;
    for function in [
        wrap_pyfunction!(constructors::zeros, m)?,
        wrap_pyfunction!(constructors::ones, m)?,
        wrap_pyfunction!(constructors::empty, m)?,
        wrap_pyfunction!(constructors::full, m)?,
        wrap_pyfunction!(constructors::zeros_like, m)?,
        wrap_pyfunction!(constructors::ones_like, m)?,
        wrap_pyfunction!(constructors::empty_like, m)?,
        wrap_pyfunction!(constructors::full_like, m)?,
        wrap_pyfunction!(constructors::arange, m)?,
    ] {
        m.add_function(function)?;
    }
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
