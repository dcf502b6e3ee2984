//! The DLPack C exchange tables of other frameworks, seen as a consumer:
//! found once on a class (`__dlpack_c_exchange_api__`, DLPack 1.3), then
//! called from C with no Python call. torch's table turns dlbridge's managed
//! tensors into torch tensors and allocates torch memory; the installed
//! dlbridge package's turns them into its `dlbridge.Tensor`.
//!
//! dlpark's `ExchangeApi` covers importing from an object; what it does not
//! offer is reaching the table from a class with no instance at hand, the
//! allocator, and a table that can be kept for the process, so this module
//! reads the table itself.

use crate::dtype::DType;
use crate::tensor::Tensor;
use dlpark::Managed;
use dlpark::ffi::{
    DLManagedTensorVersioned, DLPACK_MAJOR_VERSION, DLPackExchangeAPI, DLPackExchangeAPIHeader,
    DLTensor,
};
use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use std::ffi::{CStr, c_char, c_void};

/// A producer's DLPack C exchange table (`DLPackExchangeAPI`, DLPack 1.3
/// `dlpack.h`), of our major version, with the functions this module calls.
#[derive(Clone, Copy)]
pub(crate) struct ExchangeTable(&'static DLPackExchangeAPI);

// SAFETY: DLPack requires the table to be a static of the producer, alive and
// unchanged for the life of the process ("The DLPackExchangeAPI* must stay
// alive throughout the lifetime of the process"); it is only read, and its
// functions are only called with the GIL held.
unsafe impl Send for ExchangeTable {}
// SAFETY: as for `Send`.
unsafe impl Sync for ExchangeTable {}

impl ExchangeTable {
    /// The table in a `dlpack_exchange_api` capsule, walking the
    /// `prev_api` chain to our major version (as dlpark's consumer does);
    /// `None` when there is none, or it lacks the conversions both ways.
    pub(crate) fn from_capsule(capsule: &Bound<'_, PyAny>) -> Option<ExchangeTable> {
        // SAFETY: `PyCapsule_GetPointer` checks the object is a capsule of
        // that name, and returns NULL with an error set otherwise.
        let pointer =
            unsafe { ffi::PyCapsule_GetPointer(capsule.as_ptr(), c"dlpack_exchange_api".as_ptr()) };
        if pointer.is_null() {
            drop(PyErr::take(capsule.py()));
            return None;
        }
        let mut header = pointer.cast::<DLPackExchangeAPIHeader>().cast_const();
        // A bound on the walk: a chain that loops cannot hang the import.
        for _ in 0..16 {
            if header.is_null() {
                return None;
            }
            // SAFETY: each header of the chain begins a full, static
            // exchange table (DLPack: `prev_api` points to an older
            // `DLPackExchangeAPI`), so a table of our major version has
            // every field this build reads.
            let current = unsafe { &*header };
            if current.version.major == DLPACK_MAJOR_VERSION {
                // SAFETY: as above: a static table of our major version.
                let table: &'static DLPackExchangeAPI = unsafe { &*header.cast() };
                let complete = table.managed_tensor_to_py_object_no_sync.is_some()
                    && table.managed_tensor_from_py_object_no_sync.is_some();
                return complete.then_some(ExchangeTable(table));
            }
            header = current.prev_api;
        }
        None
    }

    /// Hands `managed` to the producer, which returns its own tensor object
    /// over the memory.
    pub(crate) fn to_py_object<'py>(
        self,
        py: Python<'py>,
        managed: Managed<DLManagedTensorVersioned>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let convert = self
            .0
            .managed_tensor_to_py_object_no_sync
            .expect("checked in from_capsule");
        let mut object = std::ptr::null_mut();
        // SAFETY: the GIL is held; the producer takes ownership of the managed
        // tensor, also when it fails (DLPack: "the ownership of the tensor is
        // stolen"), so it is not dropped here; on success `object` is a new
        // reference, on failure a Python error is set.
        let status = unsafe { convert(managed.into_raw(), &mut object) };
        if status != 0 {
            return Err(PyErr::take(py).unwrap_or_else(|| {
                PyRuntimeError::new_err("the DLPack exchange API failed without an error")
            }));
        }
        // SAFETY: a new reference to the producer's tensor (NULL is an error).
        unsafe { Bound::from_owned_ptr_or_err(py, object.cast()) }
    }

    /// The memory of `object`, one of the producer's tensors, as a tensor.
    pub(crate) fn import(self, object: &Bound<'_, PyAny>) -> PyResult<Tensor> {
        let py = object.py();
        let convert = self
            .0
            .managed_tensor_from_py_object_no_sync
            .expect("checked in from_capsule");
        let mut managed = std::ptr::null_mut();
        // SAFETY: the GIL is held and `object` is of the type the table was
        // found on; on success `managed` is an owning managed tensor, on
        // failure a Python error is set.
        let status = unsafe { convert(object.as_ptr().cast(), &mut managed) };
        if status != 0 {
            return Err(PyErr::take(py).unwrap_or_else(|| {
                PyRuntimeError::new_err("the DLPack exchange API failed without an error")
            }));
        }
        // SAFETY: an owning managed tensor, given to dlpark once.
        let managed = unsafe { Managed::from_raw(managed) }
            .map_err(|error| PyRuntimeError::new_err(error.to_string()))?;
        Ok(crate::dlpack::import_reachable(managed)?)
    }

    /// A fresh C-contiguous CPU tensor from the producer's allocator
    /// (`managed_tensor_allocator`), whose contents DLPack leaves unspecified.
    pub(crate) fn allocate(
        self,
        dtype: DType,
        shape: &[usize],
    ) -> PyResult<Managed<DLManagedTensorVersioned>> {
        let Some(allocate) = self.0.managed_tensor_allocator else {
            return Err(PyTypeError::new_err(
                "this framework's DLPack exchange API has no allocator",
            ));
        };
        crate::layout::check_ndim(shape.len())?;
        let mut sizes = shape
            .iter()
            .map(|&size| i64::try_from(size))
            .collect::<Result<Vec<i64>, _>>()
            .map_err(|_| crate::Error::TooLarge {
                shape: shape.to_vec(),
            })?;
        // Only dtype, ndim, shape and device are read (DLPack's
        // `DLPackManagedTensorAllocator`).
        let mut prototype = DLTensor {
            data: std::ptr::null_mut(),
            device: crate::Device::Cpu.to_dlpack(),
            ndim: shape.len() as i32,
            dtype: dtype.to_dlpack(),
            shape: sizes.as_mut_ptr(),
            strides: std::ptr::null_mut(),
            byte_offset: 0,
        };
        let mut error: Option<(String, String)> = None;
        let mut out = std::ptr::null_mut();
        // SAFETY: the GIL is held; the prototype and its `sizes` outlive the
        // call; `error` is only written by `record_error`, through the
        // context pointer, during the call, while nothing else borrows it.
        let status = unsafe {
            allocate(
                &mut prototype,
                &mut out,
                (&raw mut error).cast(),
                Some(record_error),
            )
        };
        if status != 0 || out.is_null() {
            let (kind, message) = error.unwrap_or_else(|| {
                (
                    "RuntimeError".into(),
                    "the allocator failed without an error".into(),
                )
            });
            return Err(match kind.as_str() {
                "MemoryError" => PyMemoryError::new_err(message),
                "ValueError" => PyValueError::new_err(message),
                "TypeError" => PyTypeError::new_err(message),
                _ => PyRuntimeError::new_err(format!("{kind}: {message}")),
            });
        }
        // SAFETY: an owning managed tensor from the allocator, given to
        // dlpark once.
        unsafe { Managed::from_raw(out) }
            .map_err(|error| PyRuntimeError::new_err(error.to_string()))
    }
}

/// The `set_error` callback of the exchange allocator: keeps the error's
/// kind and message in the `Option<(String, String)>` the context points to.
unsafe extern "C" fn record_error(
    context: *mut c_void,
    kind: *const c_char,
    message: *const c_char,
) {
    let read = |text: *const c_char| {
        if text.is_null() {
            String::new()
        } else {
            // SAFETY: DLPack passes NUL-terminated strings valid for the call.
            unsafe { CStr::from_ptr(text) }
                .to_string_lossy()
                .into_owned()
        }
    };
    // SAFETY: `context` is the `&raw mut` of the `Option` in `allocate`,
    // which nothing else borrows during the call.
    let slot = unsafe { &mut *context.cast::<Option<(String, String)>>() };
    *slot = Some((read(kind), read(message)));
}
