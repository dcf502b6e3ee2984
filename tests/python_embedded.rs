//! The extension module in an embedded interpreter: capsule lifetimes seen
//! from Rust, and the mapping of every core error to its Python exception.
#![cfg(feature = "python")]

use dlbridge::python::dlbridge_module;
use dlbridge::{DType, Error, Tensor, dlpack};
use dlpark::ffi::{DLDataType, DLDevice, DLManagedTensorVersioned};
use dlpark::metadata::Dynamic;
use pyo3::exceptions::{
    PyBufferError, PyIndexError, PyOverflowError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};

/// Whether an exception has the expected Python type.
type ExceptionCheck = fn(Python<'_>, &PyErr) -> bool;

fn python() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        pyo3::append_to_inittab!(dlbridge_module);
        Python::initialize();
    });
}

/// A tensor over a producer's buffer, and a flag set when that buffer is
/// released: after the last tensor, view or capsule using the memory is gone.
/// (The storage's reference count is crate-private; the DLPack deleter a
/// producer gives is the public way to watch the release.)
fn watched(values: Vec<f64>) -> (Tensor, Arc<AtomicBool>) {
    struct Buffer {
        data: Vec<f64>,
        released: Arc<AtomicBool>,
    }
    impl Drop for Buffer {
        fn drop(&mut self) {
            self.released.store(true, Ordering::SeqCst);
        }
    }
    let released = Arc::new(AtomicBool::new(false));
    let len = values.len() as i64;
    let buffer = Box::new(Buffer {
        data: values,
        released: Arc::clone(&released),
    });
    let data = buffer.data.as_ptr().cast_mut().cast();
    let mut initialized = Dynamic::new(vec![len], vec![1])
        .initialize_as::<DLManagedTensorVersioned>(buffer)
        .unwrap();
    initialized
        .set_data(data)
        .set_dtype(DLDataType::F64)
        .set_device(DLDevice::CPU);
    // SAFETY: the descriptor describes `data`, which the context owns.
    let managed = unsafe { initialized.finish() };
    (dlpack::import(managed).unwrap(), released)
}

/// `tensor` as a `_dlbridge.Tensor`, through the public path: a DLPack
/// capsule given to the module's `from_dlpack`.
fn to_python<'py>(py: Python<'py>, tensor: &Tensor) -> PyResult<Bound<'py, PyAny>> {
    let capsule = dlpack::export::<DLManagedTensorVersioned>(tensor)?.into_pyobject(py)?;
    py.import("_dlbridge")?
        .getattr("from_dlpack")?
        .call1((capsule,))
}

fn run(py: Python<'_>, code: &std::ffi::CStr, globals: &Bound<'_, PyDict>) -> PyResult<()> {
    py.run(code, Some(globals), None)
}

#[test]
fn an_unconsumed_capsule_releases_its_storage_reference() {
    python();
    Python::attach(|py| -> PyResult<()> {
        let (tensor, released) = watched(vec![1.0, 2.0, 3.0]);
        let object = to_python(py, &tensor)?;
        drop(tensor);
        let globals = PyDict::new(py);
        globals.set_item("t", object)?;
        run(py, c"capsule = t.__dlpack__(max_version=(1, 0))", &globals)?;
        run(py, c"del t", &globals)?;
        assert!(
            !released.load(Ordering::SeqCst),
            "the capsule holds the storage"
        );
        run(py, c"del capsule; import gc; gc.collect()", &globals)?;
        assert!(
            released.load(Ordering::SeqCst),
            "collected capsule released it"
        );
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_consumed_capsule_keeps_memory_until_its_consumer_is_gone() {
    python();
    Python::attach(|py| -> PyResult<()> {
        let (tensor, released) = watched(vec![1.5, 2.5]);
        let globals = PyDict::new(py);
        globals.set_item("t", to_python(py, &tensor)?)?;
        drop(tensor);
        run(
            py,
            c"import _dlbridge as db\n\
capsule = t.__dlpack__()\n\
u = db.from_dlpack(capsule)\n\
del t\n\
try:\n    db.from_dlpack(capsule)\nexcept ValueError as e:\n    second = e\n",
            &globals,
        )?;
        assert!(globals.get_item("second")?.is_some(), "second use raises");
        run(py, c"del capsule; import gc; gc.collect()", &globals)?;
        assert!(
            !released.load(Ordering::SeqCst),
            "the consumer still uses it"
        );
        run(
            py,
            c"assert u.tolist() == [1.5, 2.5]; del u; gc.collect()",
            &globals,
        )?;
        assert!(released.load(Ordering::SeqCst));
        Ok(())
    })
    .unwrap();
}

#[test]
fn every_core_error_maps_to_the_exception_users_catch() {
    python();
    Python::attach(|py| {
        let cases: Vec<(Error, ExceptionCheck)> = vec![
            (Error::UnknownDType { name: "x".into() }, |py, e| {
                e.is_instance_of::<PyTypeError>(py)
            }),
            (
                Error::UnsupportedDevice {
                    device_type: 2,
                    device_id: 0,
                },
                |py, e| e.is_instance_of::<PyBufferError>(py),
            ),
            (
                Error::UnsupportedDLPackDType {
                    code: 2,
                    bits: 32,
                    lanes: 4,
                },
                |py, e| e.is_instance_of::<PyBufferError>(py),
            ),
            (
                Error::IndexOutOfRange {
                    index: 5,
                    axis: 0,
                    size: 3,
                },
                |py, e| e.is_instance_of::<PyIndexError>(py),
            ),
            (
                Error::Overflow {
                    value: "300".into(),
                    dtype: DType::UInt8,
                },
                |py, e| e.is_instance_of::<PyOverflowError>(py),
            ),
            (Error::ReadOnly, |py, e| {
                e.is_instance_of::<PyValueError>(py)
            }),
            // Sizes and layouts whose arithmetic overflows are torch's
            // RuntimeError ("numel: integer multiplication overflow").
            (
                Error::TooLarge {
                    shape: vec![1 << 62, 4],
                },
                |py, e| e.is_instance_of::<PyRuntimeError>(py),
            ),
            (
                Error::LayoutOverflow {
                    shape: vec![1 << 31, 1 << 33],
                    strides: vec![1, 1],
                    offset: 0,
                },
                |py, e| e.is_instance_of::<PyRuntimeError>(py),
            ),
            (
                Error::OutOfBounds {
                    shape: vec![4],
                    strides: vec![1],
                    offset: 1,
                    itemsize: 8,
                    low: 1,
                    high: 4,
                    start: 0,
                    len: 32,
                },
                |py, e| e.is_instance_of::<PyRuntimeError>(py),
            ),
            (Error::TooManyViews { count: 1 << 62 }, |py, e| {
                e.is_instance_of::<PyRuntimeError>(py)
            }),
            (
                Error::Ragged {
                    axis: 1,
                    expected: 2,
                    got: 3,
                },
                |py, e| e.is_instance_of::<PyValueError>(py),
            ),
        ];
        for (error, check) in cases {
            let message = error.to_string();
            let python_error: PyErr = error.into();
            assert!(check(py, &python_error), "{message}");
            assert_eq!(python_error.value(py).to_string(), message);
        }
    });
}

/// A way a tensor is returned to Python in a framework's type.
type Route = fn(Tensor, Python<'_>) -> PyResult<Bound<'_, PyAny>>;

#[test]
fn numpy_and_torch_results_hold_the_rust_memory_exactly_as_long_as_they_live() {
    python();
    Python::attach(|py| -> PyResult<()> {
        // Importing the module joins the borrow registry, as the installed
        // package does for an extension.
        py.import("_dlbridge")?;
        let mut routes: Vec<(&str, Route)> = Vec::new();
        if py.import("numpy").is_ok() {
            routes.push(("a.ctypes.data", Tensor::into_numpy));
        }
        if py.import("torch").is_ok() {
            routes.push(("a.data_ptr()", Tensor::into_torch));
        }
        for (address_of, route) in routes {
            let (tensor, released) = watched(vec![1.0, 2.0, 3.0]);
            let address = tensor.data_ptr() as usize;
            let globals = PyDict::new(py);
            globals.set_item("a", route(tensor, py)?)?;
            globals.set_item("address", address)?;
            let check = format!(
                "assert {address_of} == address\n\
                 v = a[1:]\n\
                 a[2] = 30.0\n\
                 del a\n\
                 import gc; gc.collect()\n\
                 assert v.tolist() == [2.0, 30.0]\n"
            );
            run(py, &std::ffi::CString::new(check).unwrap(), &globals)?;
            assert!(
                !released.load(Ordering::SeqCst),
                "released while a view lives"
            );
            run(py, c"del v\nimport gc; gc.collect()", &globals)?;
            assert!(
                released.load(Ordering::SeqCst),
                "{address_of}: not released"
            );
        }
        Ok(())
    })
    .unwrap();
}
