//! DLPack into dlbridge: every way another framework's tensor becomes a
//! dlbridge tensor without copying. dlbridge tensors and NumPy arrays are
//! read directly, producers with the DLPack C exchange API (torch) are called
//! from C, and everything else is asked for a capsule through `__dlpack__`
//! and consumed with dlpark.

use super::ndarray;
use super::tensor::PyTensor;
use crate::dlpack;
use crate::tensor::Tensor;
use dlpark::ffi::{
    DLManagedTensorVersioned, DLPACK_MAJOR_VERSION, DLPACK_MINOR_VERSION, DLPackExchangeAPI,
    DLPackExchangeAPIHeader,
};
use dlpark::python::ImportedDlpack;
use dlpark::{DlpackFlags, Managed};
use numpy::{PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyBufferError, PyRuntimeError, PyTypeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::type_object::PyTypeInfo;
use pyo3::types::{PyBool, PyCapsule, PyDict, PyFloat, PyInt, PyList, PyTuple};

/// Whether `value` can be imported: a dlbridge tensor, a DLPack capsule, or an
/// object with `__dlpack__`.
pub fn is_dlpack_source(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    if is_plain_python(value) {
        return Ok(false);
    }
    Ok(value.is_instance_of::<PyTensor>()
        || value.is_instance_of::<PyCapsule>()
        || value.hasattr(intern!(value.py(), "__dlpack__"))?)
}

/// Lists, tuples and plain numbers: never DLPack producers, and checked
/// first because asking them for `__dlpack__` (or their type for the exchange
/// API) would raise and discard an AttributeError each time.
fn is_plain_python(value: &Bound<'_, PyAny>) -> bool {
    value.is_exact_instance_of::<PyList>()
        || value.is_exact_instance_of::<PyTuple>()
        || value.is_exact_instance_of::<PyFloat>()
        || value.is_exact_instance_of::<PyInt>()
        || value.is_exact_instance_of::<PyBool>()
}

/// Imports any DLPack source, sharing its memory.
pub fn import_any(value: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    import(value, None)
}

/// Imports any DLPack source whose values are about to be copied
/// (`tensor()`, assignment, nested lists): a torch tensor whose memory does
/// not hold its values (negative or conjugate bit) or that requires grad is
/// resolved by torch first, as `torch.tensor(y)` would, instead of refused.
///
/// Likewise a NumPy array that cannot be shared only because of how its
/// memory is laid out (unaligned, or byte-swapped) is first copied by NumPy
/// into an aligned, native one, as `torch.tensor` and `np.array` accept it.
pub fn import_copy(value: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    if let Ok(array) = value.cast::<PyUntypedArray>()
        && needs_native_copy(array)
    {
        let native = array
            .dtype()
            .call_method1(intern!(value.py(), "newbyteorder"), ("=",))?;
        return import_any(&array.call_method1(intern!(value.py(), "astype"), (native,))?);
    }
    match resolve_for_copy(value)? {
        Some(resolved) => import_any(&resolved),
        None => import_any(value),
    }
}

/// Whether an array's memory is unaligned or byte-swapped.
fn needs_native_copy(array: &Bound<'_, PyUntypedArray>) -> bool {
    // SAFETY: `array` is a live ndarray, so its flags field is readable.
    let flags = unsafe { (*array.as_array_ptr()).fields.flags };
    flags & numpy::npyffi::NPY_ARRAY_ALIGNED == 0
        || array.dtype().is_native_byteorder() == Some(false)
}

/// Why a tensor's memory cannot stand for its values: torch's lazy
/// negation and conjugation flip signs on read (`y = x.conj().imag` holds
/// `+2.0` in memory and means `-2.0`), and DLPack carries no such bit. The
/// conjugate bit is only looked at when `complex` (torch sets it on complex
/// tensors alone).
fn lazy_bit(value: &Bound<'_, PyAny>, complex: bool) -> PyResult<Option<&'static str>> {
    let py = value.py();
    let flags = [
        (intern!(py, "is_neg"), "negative"),
        (intern!(py, "is_conj"), "conjugate"),
    ];
    for (method, what) in &flags[..if complex { 2 } else { 1 }] {
        if let Ok(flag) = value.call_method0(method)
            && flag.is_truthy()?
        {
            return Ok(Some(what));
        }
    }
    Ok(None)
}

/// Refuses to share a tensor whose memory does not hold its values.
fn refuse_lazy_bits(value: &Bound<'_, PyAny>, complex: bool) -> PyResult<()> {
    match lazy_bit(value, complex)? {
        Some(bit) => Err(PyBufferError::new_err(format!(
            "cannot share a tensor with its {bit} bit set: its memory does not hold its \
             values; call resolve_neg() / resolve_conj() first, or copy with dlbridge.tensor()"
        ))),
        None => Ok(()),
    }
}

/// For a copy: `value` with torch's lazy bits resolved and gradient
/// tracking dropped, or `None` when it needs neither (or is not a torch
/// tensor).
fn resolve_for_copy<'py>(value: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = value.py();
    if is_plain_python(value)
        || value.is_instance_of::<PyTensor>()
        || value.is_instance_of::<PyUntypedArray>()
        || value.is_instance_of::<PyCapsule>()
        || !value.hasattr(intern!(py, "is_neg"))?
    {
        return Ok(None);
    }
    let requires_grad = value
        .getattr(intern!(py, "requires_grad"))
        .is_ok_and(|flag| flag.is_truthy().unwrap_or(false));
    if !requires_grad && lazy_bit(value, true)?.is_none() {
        return Ok(None);
    }
    let mut resolved = value.clone();
    if requires_grad {
        resolved = resolved.call_method0(intern!(py, "detach"))?;
    }
    for method in [intern!(py, "resolve_conj"), intern!(py, "resolve_neg")] {
        resolved = resolved.call_method0(method)?;
    }
    Ok(Some(resolved))
}

/// Imports `value` without copying.
///
/// dlbridge tensors, NumPy arrays and C exchange API producers need no
/// capsule ([`try_import_fast`]); everything else is asked through its
/// Python-level `__dlpack__`.
///
/// `copy` is passed to the producer only as `False` (the array API's "must
/// not copy"); `copy=True` is honoured by the caller copying locally, because
/// producers such as PyTorch never set `IS_COPIED` and dlpark would then
/// refuse their answer (dlpark checks that a copy it asked for is flagged).
pub fn import(value: &Bound<'_, PyAny>, copy: Option<bool>) -> PyResult<Tensor> {
    let fast = try_import_fast(value).map_err(|error| {
        // What NumPy cannot export (datetimes, byte-swapped or structured
        // dtypes) is a `BufferError` from its `__dlpack__`, and so from
        // `from_dlpack`; `from_numpy` keeps torch's TypeError.
        if value.is_instance_of::<PyUntypedArray>()
            && error.is_instance_of::<PyTypeError>(value.py())
        {
            PyBufferError::new_err(error.value(value.py()).to_string())
        } else {
            error
        }
    })?;
    match fast {
        Some(tensor) => Ok(tensor),
        None => import_through_capsule(value, copy),
    }
}

/// Imports `value`, a capsule or a producer that [`try_import_fast`] did not
/// take, through a DLPack capsule (its `__dlpack__`'s, for a producer).
pub(crate) fn import_through_capsule(
    value: &Bound<'_, PyAny>,
    copy: Option<bool>,
) -> PyResult<Tensor> {
    let capsule = if value.is_instance_of::<PyCapsule>() {
        value.clone()
    } else {
        refuse_lazy_bits(value, true)?;
        request_capsule(value, copy)?
    };
    let imported = consume(&capsule)?;
    let tensor = match imported {
        ImportedDlpack::Legacy(managed) => dlpack::import_reachable(managed)?,
        ImportedDlpack::Versioned(managed) => {
            if copy == Some(false) && managed.flags().contains(DlpackFlags::IS_COPIED) {
                return Err(PyBufferError::new_err(
                    "copy=False, but the producer could only provide a copy",
                ));
            }
            dlpack::import_reachable(managed)?
        }
    };
    Ok(tensor)
}

/// The imports that need no capsule: a dlbridge tensor (shared directly), a
/// NumPy array (its fields read directly), and a producer with the C exchange
/// API. `None` for everything else.
pub fn try_import_fast(value: &Bound<'_, PyAny>) -> PyResult<Option<Tensor>> {
    if let Ok(tensor) = value.cast::<PyTensor>() {
        return Ok(Some(tensor.get().inner.clone()));
    }
    if let Ok(array) = value.cast::<PyUntypedArray>()
        && !overrides_dlpack(value)?
    {
        // What NumPy's `__dlpack__` would give, without the capsule.
        return ndarray::import_ndarray(array).map(Some);
    }
    if is_plain_python(value) {
        return Ok(None);
    }
    import_through_exchange_api(value)
}

/// Whether `value`, an ndarray, is of a subclass with its own `__dlpack__`:
/// that method decides what is exported (it may refuse), so the fast path,
/// which reads the array's fields as NumPy's own `__dlpack__` would, must
/// not bypass it.
fn overrides_dlpack(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = value.py();
    let kind = value.get_type();
    let ndarray = numpy::PyUntypedArray::type_object(py);
    if kind.is(&ndarray) {
        return Ok(false);
    }
    let name = intern!(py, "__dlpack__");
    Ok(!kind.getattr(name)?.is(&ndarray.getattr(name)?))
}

/// Whether `value`'s class overrides the `__dlpack__` of the class that
/// published the C exchange API it inherits (a `torch.Tensor` subclass with
/// its own `__dlpack__`, say): that method decides what is exported, so the
/// C table, which knows nothing of it, must not bypass it.
///
/// The answer depends on the class alone and is kept per class.
fn overrides_exchange_owner_dlpack(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    static ANSWERS: PyOnceLock<Py<PyDict>> = PyOnceLock::new();
    let py = value.py();
    let kind = value.get_type();
    let answers = ANSWERS
        .get_or_init(py, || PyDict::new(py).unbind())
        .bind(py);
    if let Some(answer) = answers.get_item(&kind)? {
        return answer.is_truthy();
    }
    let api = intern!(py, "__dlpack_c_exchange_api__");
    let dlpack = intern!(py, "__dlpack__");
    let own = kind.getattr(dlpack)?;
    let mut overrides = false;
    for base in kind.getattr(intern!(py, "__mro__"))?.try_iter()? {
        let base = base?;
        if base.getattr(intern!(py, "__dict__"))?.contains(api)? {
            overrides = !base.getattr(dlpack)?.is(&own);
            break;
        }
    }
    answers.set_item(&kind, overrides)?;
    Ok(overrides)
}

/// Imports through the DLPack 1.3 C exchange API (`__dlpack_c_exchange_api__`
/// on the type, as torch 2.15 tensors have): the producer hands over a managed
/// tensor from C, with no Python call and no capsule.
///
/// PyTorch's exchange callback skips the checks its `__dlpack__` makes, so
/// they are made here first, and a tensor that fails them goes the
/// `__dlpack__` way, which raises torch's own `BufferError`: one that requires
/// grad, and a complex one whose conjugate or negative bit is set (its values
/// differ from its memory). Returns `None` when the object has no exchange API
/// or fails those checks.
fn import_through_exchange_api(value: &Bound<'_, PyAny>) -> PyResult<Option<Tensor>> {
    let py = value.py();
    if value.is_instance_of::<PyCapsule>() {
        return Ok(None);
    }
    // A class may opt out by setting the attribute to None (or to anything
    // that is not the API's capsule): then there is no API, and `__dlpack__`
    // decides, as torch's and NumPy's consumers fall back.
    let Some(from_py_object) = exchange_import_callback(value) else {
        return Ok(None);
    };
    if overrides_exchange_owner_dlpack(value)? {
        return Ok(None);
    }
    if let Ok(requires_grad) = value.getattr(intern!(py, "requires_grad"))
        && requires_grad.is_truthy()?
    {
        return Ok(None);
    }
    if !is_strided(value)? {
        return Ok(None);
    }
    let mut out = std::ptr::null_mut();
    // SAFETY: `from_py_object` is the `managed_tensor_from_py_object_no_sync`
    // entry of the exchange table published on `value`'s type (found just
    // now), called with that type's object, as DLPack's `dlpack.h` specifies;
    // the GIL is held. On success it stores an owning versioned tensor in
    // `out`.
    let status = unsafe { from_py_object(value.as_ptr().cast(), &mut out) };
    if status != 0 {
        // The callback refuses what torch's `__dlpack__` refuses too
        // (quantized and meta tensors, say), but with a C++ error; that way
        // gives torch's own `BufferError`. Its exception is dropped here.
        drop(PyErr::take(py));
        return Ok(None);
    }
    // SAFETY: a zero status hands over ownership of `out` (or NULL, which
    // `from_raw` refuses), a managed tensor whose deleter may be called once.
    let Ok(managed) = (unsafe { Managed::<DLManagedTensorVersioned>::from_raw(out) }) else {
        return Ok(None);
    };
    // The exchange API's `current_work_stream` is not asked: it names the
    // stream to launch device work on, and dlbridge imports CPU tensors
    // only (`dlpack::import` refuses every other device), which have none.
    // What dlpark's `import_managed_no_sync` validates before that query is
    // validated here, falling back to `__dlpack__` the same way.
    if managed.validate().is_err() {
        return Ok(None);
    }
    let tensor = dlpack::import_reachable(managed)?;
    // Checked on the import, whose dtype tells whether the conjugate bit can
    // be set at all (a refused import's deleter runs when it is dropped).
    refuse_lazy_bits(value, tensor.dtype().is_complex())?;
    Ok(Some(tensor))
}

/// The `managed_tensor_from_py_object_no_sync` entry of the DLPack C exchange
/// API that `value`'s type publishes, as dlpark's `ExchangeApi::from_object`
/// finds it (the `__dlpack_c_exchange_api__` capsule named
/// `dlpack_exchange_api` on the type, then the first table in its
/// `prev_api` chain with dlbridge's DLPack major version), or `None` when
/// there is none or it is unusable; a failed look-up's exception is dropped.
///
/// Looked up on every call, not cached per type, so that a class which
/// changes or removes the attribute later is seen as it is now.
fn exchange_import_callback(value: &Bound<'_, PyAny>) -> ManagedFromPyObject {
    /// Bounds the chain walk, as dlpark does: no framework chains anywhere
    /// near this deep, and a cyclic chain cannot hang the import.
    const MAX_CHAIN_DEPTH: usize = 16;
    let py = value.py();
    let capsule = value
        .get_type()
        .getattr(intern!(py, "__dlpack_c_exchange_api__"))
        .ok()?;
    // SAFETY: `capsule` is a live object and the name a NUL-terminated
    // string; `PyCapsule_GetPointer` checks that it is a capsule of that name
    // and otherwise returns NULL with an exception set (taken below).
    let table = unsafe {
        pyo3::ffi::PyCapsule_GetPointer(capsule.as_ptr(), c"dlpack_exchange_api".as_ptr())
    };
    if table.is_null() {
        drop(PyErr::take(py));
        return None;
    }
    let mut header = table.cast::<DLPackExchangeAPIHeader>();
    for _ in 0..=MAX_CHAIN_DEPTH {
        // SAFETY: DLPack's `dlpack.h` makes the table (and every table in its
        // `prev_api` chain) a full `DLPackExchangeAPI`, beginning with its
        // header, owned by the producer and alive for the whole process; a
        // NULL `prev_api` ends the chain.
        let current = unsafe { header.as_ref()? };
        if current.version.major == DLPACK_MAJOR_VERSION {
            // SAFETY: as above, a same-major header starts a full table.
            let api = unsafe { &*header.cast::<DLPackExchangeAPI>() };
            return api.managed_tensor_from_py_object_no_sync;
        }
        header = current.prev_api;
    }
    None
}

/// The exchange API's callback that exports an object as a managed tensor.
type ManagedFromPyObject = dlpark::ffi::DLPackManagedTensorFromPyObjectNoSync;

/// Whether a torch tensor is strided: sparse and mkldnn tensors have no
/// memory DLPack can describe, and torch's exchange callback skips the check
/// its `__dlpack__` makes. Objects without a `layout` (other producers) pass.
///
/// `torch.strided` is recognised by name once, then by identity, which
/// keeps the check off the fast path's profile without importing torch.
fn is_strided(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    static STRIDED: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = value.py();
    let Ok(layout) = value.getattr(intern!(py, "layout")) else {
        return Ok(true);
    };
    if STRIDED.get(py).is_some_and(|strided| layout.is(strided)) {
        return Ok(true);
    }
    if layout.str()?.to_str()? != "torch.strided" {
        return Ok(false);
    }
    let _ = STRIDED.set(py, layout.unbind());
    Ok(true)
}

/// Calls `value.__dlpack__`, as the array API's `from_dlpack` does: with
/// `max_version` (the newest DLPack dlpark reads) and, for `copy=False`, with
/// `copy`; producers written before the 2023.12 standard take no keywords, and
/// are asked again without them on `TypeError`, as NumPy and PyTorch do.
fn request_capsule<'py>(
    value: &Bound<'py, PyAny>,
    copy: Option<bool>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = value.py();
    let Ok(method) = value.getattr(intern!(py, "__dlpack__")) else {
        return Err(PyTypeError::new_err(format!(
            "object of type '{}' does not support the DLPack protocol (no __dlpack__ method)",
            value.get_type().name()?
        )));
    };
    let kwargs = PyDict::new(py);
    kwargs.set_item(
        intern!(py, "max_version"),
        (DLPACK_MAJOR_VERSION, DLPACK_MINOR_VERSION),
    )?;
    if copy == Some(false) {
        kwargs.set_item(intern!(py, "copy"), false)?;
    }
    match method.call((), Some(&kwargs)) {
        // A producer that does not take the keywords may be asked again
        // without them, but only when nothing was asked that the retry would
        // silently drop: with `copy=False` the first error stands, as in
        // NumPy's `from_dlpack`. The retry's own error is the producer's
        // real complaint, so it is the one raised (chained to the first).
        Err(error) if error.is_instance_of::<PyTypeError>(py) && copy != Some(false) => method
            .call0()
            .inspect_err(|retry_error| retry_error.set_cause(py, Some(error))),
        result => result,
    }
}

/// Consumes a capsule through dlpark, with its one error that has a
/// spec-mandated type fixed: a capsule whose DLPack major version is newer
/// than ours (dlpark releases it and raises `RuntimeError`) is a
/// `BufferError` in the spec and in NumPy.
fn consume(capsule: &Bound<'_, PyAny>) -> PyResult<ImportedDlpack> {
    let py = capsule.py();
    if !capsule.is_instance_of::<PyCapsule>() {
        return Err(PyTypeError::new_err(format!(
            "__dlpack__ must return a DLPack capsule, got {}",
            capsule.get_type().name()?
        )));
    }
    dlpark::python::from_dlpack(capsule.as_borrowed(), None, None).map_err(|error| {
        if error.is_instance_of::<PyRuntimeError>(py)
            && error
                .value(py)
                .to_string()
                .starts_with("incompatible DLPack major version")
        {
            PyBufferError::new_err(error.value(py).to_string())
        } else {
            error
        }
    })
}
