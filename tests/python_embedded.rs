//! The extension module in an embedded interpreter: capsule lifetimes seen
//! from Rust, and the mapping of every core error to its Python exception.
#![cfg(feature = "python")]

use dlbridge::python::{PyTensor, dlbridge_module};
use dlbridge::{DType, Error, Tensor};
use pyo3::exceptions::{PyBufferError, PyIndexError, PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
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

fn run(py: Python<'_>, code: &std::ffi::CStr, globals: &Bound<'_, PyDict>) -> PyResult<()> {
    py.run(code, Some(globals), None)
}

#[test]
fn an_unconsumed_capsule_releases_its_storage_reference() {
    python();
    Python::attach(|py| -> PyResult<()> {
        let tensor = Tensor::from_vec(vec![1i64, 2, 3], &[3]).unwrap();
        let storage = Arc::downgrade(tensor.storage());
        let object = Py::new(py, PyTensor { inner: tensor })?;
        let globals = PyDict::new(py);
        globals.set_item("t", object)?;
        run(py, c"capsule = t.__dlpack__(max_version=(1, 0))", &globals)?;
        run(py, c"del t", &globals)?;
        assert!(storage.upgrade().is_some(), "the capsule holds the storage");
        run(py, c"del capsule; import gc; gc.collect()", &globals)?;
        assert!(storage.upgrade().is_none(), "collected capsule released it");
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_consumed_capsule_keeps_memory_until_its_consumer_is_gone() {
    python();
    Python::attach(|py| -> PyResult<()> {
        let tensor = Tensor::from_vec(vec![1.5f64, 2.5], &[2]).unwrap();
        let storage = Arc::downgrade(tensor.storage());
        let globals = PyDict::new(py);
        globals.set_item("t", Py::new(py, PyTensor { inner: tensor })?)?;
        run(
            py,
            c"import _dlbridge as db\n\
capsule = t.__dlpack__()\n\
u = db.from_dlpack(capsule)\n\
del t\n\
try:\n    db.from_dlpack(capsule)\nexcept (ValueError, RuntimeError, BufferError) as e:\n    second = e\n",
            &globals,
        )?;
        assert!(globals.get_item("second")?.is_some(), "second use raises");
        run(py, c"del capsule; import gc; gc.collect()", &globals)?;
        assert!(storage.upgrade().is_some(), "the consumer still uses it");
        run(py, c"assert u.tolist() == [1.5, 2.5]; del u; gc.collect()", &globals)?;
        assert!(storage.upgrade().is_none());
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
            (
                Error::TooLarge {
                    shape: vec![1 << 62, 4],
                },
                |py, e| e.is_instance_of::<PyValueError>(py),
            ),
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
