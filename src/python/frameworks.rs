//! Results in the caller's framework: a [`Tensor`] handed back to Python as a
//! NumPy array, a torch tensor or a JAX array over the same memory, the
//! framework of an argument told by its type ([`Framework::of`]), and outputs
//! allocated by the caller's framework for Rust to fill
//! ([`Framework::zeros`]).
//!
//! None of these calls Python code on its fast path:
//!
//! - NumPy: the array is built with NumPy's C API (`PyArray_NewFromDescr`,
//!   strides in bytes), with a capsule holding the tensor's storage as its
//!   base object, as rust-numpy's `IntoPyArray` does with its
//!   `PySliceContainer` (rust-numpy `src/array.rs`, `new_with_data`).
//! - torch: the managed tensor is handed to torch's DLPack 1.3 C exchange
//!   API (`torch.Tensor.__dlpack_c_exchange_api__`,
//!   `managed_tensor_to_py_object_no_sync`), looked up once per process.
//!   torch is imported the first time a tensor goes to torch, never before.
//! - JAX has no C exchange API: `jax.dlpack.from_dlpack` is called with the
//!   installed `dlbridge.Tensor`.

use super::exchange::ExchangeTable;
use super::imported::imported;
use super::ndarray;
use super::registry;
use super::tensor::PyTensor;
use crate::dlpack;
use crate::dtype::DType;
use crate::storage::Storage;
use crate::tensor::Tensor;
use dlpark::ffi::DLManagedTensorVersioned;
use numpy::npyffi::{self, NPY_ARRAY_WRITEABLE, NPY_TYPES, PY_ARRAY_API, npy_intp};
use numpy::{Complex32, Complex64, PyArrayDescr, PyUntypedArray};
use pyo3::exceptions::{PyBufferError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use std::ffi::{CStr, c_int, c_void};
use std::sync::Arc;

/// A Python tensor framework a result can be returned in.
///
/// [`Framework::of`] tells an argument's framework, so that a
/// `#[pyfunction]` can answer in the caller's own type;
/// [`Tensor::into_framework`] returns a tensor in it, and
/// [`Framework::zeros`] allocates an output there for Rust to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Framework {
    /// `numpy.ndarray`.
    NumPy,
    /// `torch.Tensor`.
    Torch,
    /// `jax.Array`.
    Jax,
    /// The installed `dlbridge.Tensor`.
    DLBridge,
}

impl Framework {
    /// The framework whose tensor type `object` is an instance of, or `None`
    /// (a list, a CuPy array, ...).
    ///
    /// Decided by type alone, and cheaply: the classes are looked up in
    /// `sys.modules`, never imported (an object of a framework that is not
    /// imported cannot exist), and kept once found. NumPy, torch and dlbridge
    /// classes are checked by their method resolution order (subclasses
    /// count); `jax.Array` is an abstract base class, so it is an
    /// `isinstance` check, made last.
    ///
    /// ```
    /// use dlbridge::python::Framework;
    /// use pyo3::prelude::*;
    ///
    /// Python::initialize();
    /// Python::attach(|py| -> PyResult<()> {
    /// #   if py.import("numpy").is_err() {
    /// #       return Ok(()); // no NumPy where the doctest runs
    /// #   }
    ///     let array = py.import("numpy")?.call_method1("zeros", (3,))?;
    ///     assert_eq!(Framework::of(&array), Some(Framework::NumPy));
    ///     let list = pyo3::types::PyList::empty(py);
    ///     assert_eq!(Framework::of(&list), None);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), PyErr>(())
    /// ```
    pub fn of(object: &Bound<'_, PyAny>) -> Option<Framework> {
        static NDARRAY: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        static TORCH_TENSOR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        static DLBRIDGE_TENSOR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        static JAX_ARRAY: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        let py = object.py();
        if object.is_instance_of::<PyTensor>() {
            return Some(Framework::DLBridge);
        }
        let kind = object.get_type();
        let candidates = [
            (&NDARRAY, "numpy", "ndarray", Framework::NumPy),
            (&TORCH_TENSOR, "torch", "Tensor", Framework::Torch),
            (&DLBRIDGE_TENSOR, "dlbridge", "Tensor", Framework::DLBridge),
        ];
        for (cell, module, name, framework) in candidates {
            if let Some(class) = loaded_class(py, cell, module, name)
                // SAFETY: both are live type objects; `PyType_IsSubtype` only
                // walks the first one's method resolution order.
                && unsafe { ffi::PyType_IsSubtype(kind.as_type_ptr(), class.as_type_ptr()) } != 0
            {
                return Some(framework);
            }
        }
        loaded_class(py, &JAX_ARRAY, "jax", "Array")
            .filter(|class| object.is_instance(class).unwrap_or(false))
            .map(|_| Framework::Jax)
    }

    /// A new C-contiguous tensor of zeros allocated by this framework: the
    /// framework's object (`numpy.ndarray`, `torch.Tensor`, `dlbridge.Tensor`)
    /// and a [`Tensor`] over the same memory, for Rust to fill before the
    /// object is returned.
    ///
    /// torch allocates through the `managed_tensor_allocator` of its DLPack C
    /// exchange API, so the memory is torch's own (its allocator, its
    /// alignment) and stays alive while either the torch tensor or the
    /// [`Tensor`] does. DLPack's `DLPackManagedTensorAllocator` promises
    /// nothing about the contents of the memory, so it is zeroed here before
    /// anything can read it: Rust must never read uninitialised bytes through
    /// `as_slice`. NumPy allocates with `PyArray_Zeros`. JAX arrays are
    /// immutable, so [`Framework::Jax`] is a `TypeError`: fill a NumPy or
    /// dlbridge output and return it with [`Tensor::into_jax`].
    ///
    /// ```
    /// use dlbridge::python::Framework;
    /// use dlbridge::DType;
    /// use pyo3::prelude::*;
    ///
    /// # use dlbridge::python::dlbridge_module;
    /// # pyo3::append_to_inittab!(dlbridge_module);
    /// Python::initialize();
    /// Python::attach(|py| -> PyResult<()> {
    /// #   py.import("_dlbridge")?; // the installed package, in an extension
    /// #   if py.import("torch").is_err() {
    /// #       return Ok(()); // no torch where the doctest runs
    /// #   }
    ///     // "An output like this argument": a torch tensor, allocated by torch.
    ///     let (output, tensor) = Framework::Torch.zeros(py, DType::Float32, &[2, 3])?;
    ///     tensor.as_slice_mut_py::<f32>(py)?[4] = 7.0; // filled from Rust, attached
    ///     let address: usize = output.call_method0("data_ptr")?.extract()?;
    ///     assert_eq!(address, tensor.data_ptr() as usize);
    ///     let sum: f32 = output.call_method0("sum")?.call_method0("item")?.extract()?;
    ///     assert_eq!(sum, 7.0);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), PyErr>(())
    /// ```
    pub fn zeros<'py>(
        self,
        py: Python<'py>,
        dtype: DType,
        shape: &[usize],
    ) -> PyResult<(Bound<'py, PyAny>, Tensor)> {
        if self != Framework::Jax {
            registry::ensure_shared(py)?;
        }
        match self {
            Framework::NumPy => numpy_zeros(py, dtype, shape),
            Framework::Torch => torch_zeros(py, dtype, shape),
            Framework::DLBridge => {
                let tensor = Tensor::zeros(dtype, shape)?;
                Ok((tensor.clone().into_pyobject(py)?, tensor))
            }
            Framework::Jax => Err(PyTypeError::new_err(
                "JAX arrays are immutable, so JAX cannot allocate an output for Rust to fill; \
                 fill a NumPy or dlbridge output and return it with Tensor::into_jax",
            )),
        }
    }
}

/// `module.name` if `module` is already imported, kept in `cell` once found.
fn loaded_class<'a>(
    py: Python<'a>,
    cell: &'a PyOnceLock<Py<PyType>>,
    module: &str,
    name: &str,
) -> Option<&'a Bound<'a, PyType>> {
    if let Some(class) = cell.get(py) {
        return Some(class.bind(py));
    }
    let found = imported(py, module)?;
    let class = found.getattr(name).ok()?.cast_into::<PyType>().ok()?;
    let _ = cell.set(py, class.unbind());
    cell.get(py).map(|class| class.bind(py))
}

/// The NumPy descriptor of `dtype`: NumPy's own for every dtype but
/// bfloat16, which is `ml_dtypes.bfloat16`'s when ml_dtypes is installed.
fn numpy_descr(py: Python<'_>, dtype: DType) -> PyResult<Bound<'_, PyArrayDescr>> {
    numpy_api(py)?;
    Ok(match dtype {
        DType::Bool => numpy::dtype::<bool>(py),
        DType::Int8 => numpy::dtype::<i8>(py),
        DType::Int16 => numpy::dtype::<i16>(py),
        DType::Int32 => numpy::dtype::<i32>(py),
        DType::Int64 => numpy::dtype::<i64>(py),
        DType::UInt8 => numpy::dtype::<u8>(py),
        DType::UInt16 => numpy::dtype::<u16>(py),
        DType::UInt32 => numpy::dtype::<u32>(py),
        DType::UInt64 => numpy::dtype::<u64>(py),
        DType::Float16 => {
            // rust-numpy names float16 only with its `half` feature; the
            // type number is NumPy's own.
            // SAFETY: NumPy's C API is loaded; `PyArray_DescrFromType`
            // returns a new reference, or NULL with an error set.
            let descr =
                unsafe { PY_ARRAY_API.PyArray_DescrFromType(py, NPY_TYPES::NPY_HALF as c_int) };
            // SAFETY: a non-NULL result is a dtype object.
            unsafe { Bound::from_owned_ptr_or_err(py, descr.cast())?.cast_into_unchecked() }
        }
        DType::BFloat16 => bfloat16_descr(py)?,
        DType::Float32 => numpy::dtype::<f32>(py),
        DType::Float64 => numpy::dtype::<f64>(py),
        DType::Complex64 => numpy::dtype::<Complex32>(py),
        DType::Complex128 => numpy::dtype::<Complex64>(py),
    })
}

/// Imports numpy once, so that a missing NumPy is an `ImportError` here
/// rather than a panic in rust-numpy's loading of the C API.
fn numpy_api(py: Python<'_>) -> PyResult<()> {
    static NUMPY: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    NUMPY.get_or_try_init(py, || py.import("numpy").map(Bound::unbind))?;
    Ok(())
}

/// `numpy.dtype(ml_dtypes.bfloat16)`, or the `TypeError` of
/// `dlbridge.Tensor.numpy()` without ml_dtypes.
///
/// Looked up on every call (an import found in `sys.modules`), not kept: the
/// answer follows `sys.modules`, as `import ml_dtypes` in Python would.
fn bfloat16_descr(py: Python<'_>) -> PyResult<Bound<'_, PyArrayDescr>> {
    let Ok(ml_dtypes) = py.import("ml_dtypes") else {
        return Err(PyTypeError::new_err(
            "NumPy has no bfloat16 dtype; install ml_dtypes to share bfloat16 memory with \
             NumPy, or convert to float32 first (t.to(dlbridge.float32) in Python, \
             Tensor::to_dtype(DType::Float32) in Rust)",
        ));
    };
    PyArrayDescr::new(py, &ml_dtypes.getattr("bfloat16")?)
}

/// Name of the capsules that keep a storage alive as a NumPy array's base.
const STORAGE_CAPSULE: &CStr = c"dlbridge.storage";

/// The destructor of a [`storage_capsule`]: lets go of its storage.
unsafe extern "C" fn release_storage(capsule: *mut ffi::PyObject) {
    // SAFETY: CPython calls this once, with the GIL held, when the capsule
    // made by `storage_capsule` dies; its pointer is the `Arc::into_raw` of
    // one strong reference, given back here exactly once. A NULL pointer (a
    // wrong name, impossible for our own capsules) leaks instead.
    unsafe {
        let pointer = ffi::PyCapsule_GetPointer(capsule, STORAGE_CAPSULE.as_ptr());
        if pointer.is_null() {
            ffi::PyErr_Clear();
            return;
        }
        drop(Arc::from_raw(pointer.cast::<Storage>().cast_const()));
    }
}

/// A capsule owning one reference to `storage`: the cheapest Python object
/// that keeps the memory alive (rust-numpy uses a `#[pyclass]` instance,
/// whose creation costs more).
fn storage_capsule(py: Python<'_>, storage: Arc<Storage>) -> PyResult<Bound<'_, PyAny>> {
    let pointer = Arc::into_raw(storage);
    // SAFETY: the pointer is non-NULL, the name a static string, and the
    // destructor gives the reference back.
    let capsule = unsafe {
        ffi::PyCapsule_New(
            pointer.cast_mut().cast(),
            STORAGE_CAPSULE.as_ptr(),
            Some(release_storage),
        )
    };
    if capsule.is_null() {
        // SAFETY: the capsule was not made, so the reference is still ours.
        drop(unsafe { Arc::from_raw(pointer) });
        return Err(PyErr::fetch(py));
    }
    // SAFETY: a new reference to a live capsule.
    Ok(unsafe { Bound::from_owned_ptr(py, capsule) })
}

impl Tensor {
    /// A `numpy.ndarray` over this tensor's memory, without copying: a
    /// write through either is seen by the other, and the memory stays alive
    /// as long as the array (or any view of it) does. A read-only tensor gives
    /// a read-only array.
    ///
    /// The array is built with NumPy's C API, with no Python call: its base
    /// object is a capsule holding the tensor's storage. NumPy has no
    /// bfloat16: with `ml_dtypes` installed a bfloat16 tensor gives an
    /// `ml_dtypes.bfloat16` array, without it a `TypeError` (as
    /// `dlbridge.Tensor.numpy()`). Fails with `ImportError` without NumPy, and
    /// with `ValueError` past NumPy's dimension limit (64 in NumPy 2).
    ///
    /// ```
    /// use dlbridge::Tensor;
    /// use pyo3::prelude::*;
    ///
    /// # // In an extension the installed dlbridge package is there; here the
    /// # // module is registered in the embedded interpreter.
    /// # use dlbridge::python::dlbridge_module;
    /// # pyo3::append_to_inittab!(dlbridge_module);
    /// Python::initialize();
    /// Python::attach(|py| -> PyResult<()> {
    /// #   py.import("_dlbridge")?;
    /// #   if py.import("numpy").is_err() {
    /// #       return Ok(()); // no NumPy where the doctest runs
    /// #   }
    ///     let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3])?;
    ///     let address = t.data_ptr() as usize;
    ///     let array = t.into_numpy(py)?;
    ///     let data: usize = array.getattr("ctypes")?.getattr("data")?.extract()?;
    ///     assert_eq!(data, address); // the same memory
    ///     Ok(())
    /// })?;
    /// # Ok::<(), PyErr>(())
    /// ```
    pub fn into_numpy(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        registry::ensure_shared(py)?;
        let descr = numpy_descr(py, self.dtype())?;
        let ndim = self.ndim();
        let itemsize = self.itemsize() as isize;
        // The dimensions and byte strides, which NumPy copies into the array:
        // on the stack up to 8 dimensions (zeroing the `MAX_NDIM` of 64 would
        // cost more than the rest of a small result), on the heap past that.
        const INLINE: usize = 8;
        let mut inline = [[0 as npy_intp; INLINE]; 2];
        let mut heap;
        let (dims, strides) = if ndim <= INLINE {
            let [dims, strides] = &mut inline;
            (&mut dims[..ndim], &mut strides[..ndim])
        } else {
            heap = vec![0 as npy_intp; 2 * ndim];
            heap.split_at_mut(ndim)
        };
        for (axis, (&size, &stride)) in self.shape().iter().zip(self.strides()).enumerate() {
            dims[axis] = size as npy_intp;
            // Every element the layout addresses lies in the storage, so
            // the byte stride of a dimension longer than 1 fits `isize`; the
            // stride of a dimension of size 0 or 1 is never used to address
            // anything, and wraps harmlessly if it is absurd.
            strides[axis] = stride.wrapping_mul(itemsize) as npy_intp;
        }
        let flags = if self.is_readonly() {
            0
        } else {
            NPY_ARRAY_WRITEABLE
        };
        let data = self.data_ptr().cast_mut().cast::<c_void>();
        self.expose()?;
        let base = storage_capsule(py, self.into_storage())?;
        // SAFETY: NumPy's C API is loaded (`numpy_descr`). The descriptor
        // reference is stolen by NumPy (even on failure); `dims` and
        // `strides` hold `ndim` entries, which NumPy copies; `data` points to
        // memory that holds every element the shape and byte strides address
        // (the tensor's layout is validated) and is kept alive by `base`,
        // set as the array's base object below. NumPy computes the
        // contiguity and alignment flags itself (`PyArray_UpdateFlags`), and
        // is told `WRITEABLE` only for a writable tensor.
        let array = unsafe {
            PY_ARRAY_API.PyArray_NewFromDescr(
                py,
                npyffi::get_type_object(py, npyffi::NpyTypes::PyArray_Type),
                descr.into_ptr().cast(),
                ndim as c_int,
                dims.as_mut_ptr(),
                strides.as_mut_ptr(),
                data,
                flags,
                std::ptr::null_mut(),
            )
        };
        // SAFETY: a new reference, or NULL with NumPy's error set (too many
        // dimensions, say); then `base` is dropped and lets go of the storage.
        let array = unsafe { Bound::from_owned_ptr_or_err(py, array)? };
        // SAFETY: `array` is a fresh ndarray without a base, which does not
        // own its data; `PyArray_SetBaseObject` steals the reference to
        // `base`, also when it fails (then the array is dropped, and frees
        // only itself).
        let status = unsafe {
            PY_ARRAY_API.PyArray_SetBaseObject(py, array.as_ptr().cast(), base.into_ptr())
        };
        if status < 0 {
            return Err(PyErr::fetch(py));
        }
        Ok(array)
    }

    /// A `torch.Tensor` over this tensor's memory, without copying: a write
    /// through either is seen by the other, and the memory stays alive as
    /// long as the torch tensor (or any view of it) does.
    ///
    /// The managed tensor goes to torch through the DLPack C exchange API
    /// (`managed_tensor_to_py_object_no_sync`), with no Python call; where
    /// torch has no such API (before 2.10), through `torch.from_dlpack`.
    /// torch is imported on the first call, and the table kept for the
    /// process.
    ///
    /// torch has no read-only tensors, and its `from_dlpack` silently shares
    /// a capsule flagged `READ_ONLY` as a writable tensor (torch 2.15): a
    /// read-only tensor (a read-only NumPy array, a `bytes` object) is
    /// therefore refused with `BufferError` rather than made writable. Copy it
    /// first ([`Tensor::deep_copy`]). torch has no negative strides either: a
    /// reversed view is a `ValueError`, as in `torch.from_numpy`.
    ///
    /// ```
    /// use dlbridge::Tensor;
    /// use pyo3::prelude::*;
    ///
    /// # use dlbridge::python::dlbridge_module;
    /// # pyo3::append_to_inittab!(dlbridge_module);
    /// Python::initialize();
    /// Python::attach(|py| -> PyResult<()> {
    /// #   py.import("_dlbridge")?; // the installed package, in an extension
    /// #   if py.import("torch").is_err() {
    /// #       return Ok(()); // no torch where the doctest runs
    /// #   }
    ///     let t = Tensor::from_vec(vec![1i64, 2, 3], &[3])?;
    ///     let address = t.data_ptr() as usize;
    ///     let x = t.into_torch(py)?;
    ///     let data_ptr: usize = x.call_method0("data_ptr")?.extract()?;
    ///     assert_eq!(data_ptr, address); // the same memory
    ///
    ///     let read_only = Tensor::from_vec(vec![1.0f32], &[1])?.to_readonly();
    ///     assert!(read_only.into_torch(py).is_err()); // BufferError
    ///     Ok(())
    /// })?;
    /// # Ok::<(), PyErr>(())
    /// ```
    pub fn into_torch(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        registry::ensure_shared(py)?;
        if self.is_readonly() {
            return Err(PyBufferError::new_err(
                "torch has no read-only tensors, so a read-only tensor is not handed to torch \
                 (its writes would reach memory marked read-only); return a copy instead \
                 (Tensor::deep_copy)",
            ));
        }
        if let Some(axis) = self
            .shape()
            .iter()
            .zip(self.strides())
            .position(|(&size, &stride)| size > 1 && stride < 0)
        {
            // torch's `fromDLPack` fails on them with a C++ error (its
            // storage-size computation overflows), as `torch.from_numpy`
            // refuses them with this `ValueError`.
            return Err(PyValueError::new_err(format!(
                "torch tensors cannot have negative strides (dimension {axis} of strides {:?}); \
                 return a copy instead (Tensor::contiguous)",
                self.strides()
            )));
        }
        let torch = torch_api(py)?;
        let managed = dlpack::export::<DLManagedTensorVersioned>(&self)?;
        match torch.exchange {
            Some(table) => table.to_py_object(py, managed),
            None => torch
                .from_dlpack
                .bind(py)
                .call1((managed.into_pyobject(py)?,)),
        }
    }

    /// A `jax.Array` over this tensor's memory where JAX can share it
    /// (through `jax.dlpack.from_dlpack`; JAX copies memory that is not
    /// aligned as XLA needs, such as a `Vec` of small elements). JAX arrays
    /// are immutable: do not write the memory from Rust afterwards. JAX asks
    /// for an unversioned capsule, which cannot carry the read-only flag, so a
    /// read-only tensor is a `BufferError`. jax is imported on the first call.
    pub fn into_jax(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        static FROM_DLPACK: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let from_dlpack = FROM_DLPACK.get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("jax.dlpack")?.getattr("from_dlpack")?.unbind())
        })?;
        let tensor = self.into_pyobject(py)?;
        from_dlpack.bind(py).call1((tensor,))
    }

    /// This tensor in `framework`'s type, sharing its memory: the
    /// `into_*` method of that framework, or the installed `dlbridge.Tensor`
    /// (the tensor's `IntoPyObject`) for [`Framework::DLBridge`].
    ///
    /// With [`Framework::of`] a function answers in its caller's framework:
    /// `tensor.into_framework(py, Framework::of(&arg).unwrap_or(Framework::DLBridge))`.
    ///
    /// ```
    /// use dlbridge::python::Framework;
    /// use dlbridge::Tensor;
    /// use pyo3::prelude::*;
    ///
    /// # use dlbridge::python::dlbridge_module;
    /// # pyo3::append_to_inittab!(dlbridge_module);
    /// Python::initialize();
    /// Python::attach(|py| -> PyResult<()> {
    /// #   py.import("_dlbridge")?; // the installed package, in an extension
    /// #   if py.import("numpy").is_err() {
    /// #       return Ok(()); // no NumPy where the doctest runs
    /// #   }
    ///     let numpy = py.import("numpy")?;
    ///     let argument = numpy.call_method1("ones", (2,))?;
    ///     let framework = Framework::of(&argument).unwrap_or(Framework::DLBridge);
    ///     let result = Tensor::from_vec(vec![1.0f64, 2.0], &[2])?.into_framework(py, framework)?;
    ///     assert!(result.get_type().is(&argument.get_type())); // numpy.ndarray
    ///     Ok(())
    /// })?;
    /// # Ok::<(), PyErr>(())
    /// ```
    pub fn into_framework(
        self,
        py: Python<'_>,
        framework: Framework,
    ) -> PyResult<Bound<'_, PyAny>> {
        match framework {
            Framework::NumPy => self.into_numpy(py),
            Framework::Torch => self.into_torch(py),
            Framework::Jax => self.into_jax(py),
            Framework::DLBridge => self.into_pyobject(py),
        }
    }
}

/// What the torch route needs, looked up once: `torch.from_dlpack`, and the
/// C exchange table of `torch.Tensor` where torch has one.
struct TorchApi {
    from_dlpack: Py<PyAny>,
    exchange: Option<ExchangeTable>,
}

fn torch_api(py: Python<'_>) -> PyResult<&TorchApi> {
    static TORCH: PyOnceLock<TorchApi> = PyOnceLock::new();
    TORCH.get_or_try_init(py, || {
        let torch = py.import("torch")?;
        let exchange = match torch
            .getattr("Tensor")?
            .getattr("__dlpack_c_exchange_api__")
        {
            Ok(capsule) => ExchangeTable::from_capsule(&capsule),
            Err(_) => None,
        };
        Ok(TorchApi {
            from_dlpack: torch.getattr("from_dlpack")?.unbind(),
            exchange,
        })
    })
}

/// `Framework::NumPy.zeros`: `PyArray_Zeros`, then the array's memory read as
/// `from_numpy` reads it.
fn numpy_zeros<'py>(
    py: Python<'py>,
    dtype: DType,
    shape: &[usize],
) -> PyResult<(Bound<'py, PyAny>, Tensor)> {
    let descr = numpy_descr(py, dtype)?;
    crate::layout::check_ndim(shape.len())?;
    let mut dims = shape
        .iter()
        .map(|&size| size as npy_intp)
        .collect::<Vec<_>>();
    // SAFETY: NumPy's C API is loaded (`numpy_descr`); the descriptor
    // reference is stolen, `dims` holds `ndim` sizes that NumPy copies; the
    // result is a new reference or NULL with an error set.
    let array = unsafe {
        let array = PY_ARRAY_API.PyArray_Zeros(
            py,
            dims.len() as c_int,
            dims.as_mut_ptr(),
            descr.into_ptr().cast(),
            0,
        );
        Bound::from_owned_ptr_or_err(py, array)?
    };
    let tensor = ndarray::import_ndarray(array.cast::<PyUntypedArray>()?)?;
    Ok((array, tensor))
}

/// `Framework::Torch.zeros`: torch's exchange allocator, its tensor object,
/// and that object's memory imported back, zeroed.
fn torch_zeros<'py>(
    py: Python<'py>,
    dtype: DType,
    shape: &[usize],
) -> PyResult<(Bound<'py, PyAny>, Tensor)> {
    let Some(table) = torch_api(py)?.exchange else {
        // A torch without the exchange API: its own `zeros`, through Python.
        let torch = py.import("torch")?;
        let options = pyo3::types::PyDict::new(py);
        options.set_item("dtype", torch.getattr(dtype.name())?)?;
        let object = torch.call_method("zeros", (shape.to_vec(),), Some(&options))?;
        let tensor = super::dlpack_import::import_any(&object)?;
        return Ok((object, tensor));
    };
    let managed = table.allocate(dtype, shape)?;
    let object = table.to_py_object(py, managed)?;
    let tensor = table.import(&object)?;
    if !tensor.is_contiguous() || tensor.shape() != shape || tensor.dtype() != dtype {
        return Err(PyRuntimeError::new_err(format!(
            "torch's allocator gave a {} tensor of shape {:?} and strides {:?} for a \
             contiguous {dtype} one of shape {shape:?}",
            tensor.dtype(),
            tensor.shape(),
            tensor.strides()
        )));
    }
    // SAFETY: the memory was just allocated by torch for this contiguous
    // tensor, so `nbytes` bytes from its first element are its own and
    // writable; no Python code has seen the torch tensor yet and no Rust
    // reference into it exists.
    unsafe { std::ptr::write_bytes(tensor.data_ptr().cast_mut(), 0, tensor.nbytes()) };
    Ok((object, tensor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeros_in_jax_is_refused_without_importing_jax() {
        Python::initialize();
        Python::attach(|py| {
            let error = Framework::Jax.zeros(py, DType::Float32, &[2]).unwrap_err();
            assert!(error.is_instance_of::<PyTypeError>(py));
        });
    }
}
