//! The one mapping from core errors to the Python exceptions NumPy and
//! PyTorch users already catch.

use crate::error::Error;
use pyo3::PyErr;
use pyo3::exceptions::{
    PyBufferError, PyIndexError, PyMemoryError, PyOSError, PyOverflowError, PyRuntimeError,
    PyTypeError, PyValueError,
};

impl From<Error> for PyErr {
    fn from(error: Error) -> PyErr {
        let message = error.to_string();
        match error {
            // The DLPack spec and NumPy use BufferError for what cannot be
            // exchanged: dtypes, devices and malformed descriptors.
            Error::UnsupportedDLPackDType { .. }
            | Error::UnsupportedDevice { .. }
            | Error::InvalidDLPack { .. }
            | Error::InvalidMemory { .. }
            | Error::ReadOnlyLegacyExport => PyBufferError::new_err(message),
            // NumPy raises MemoryError for an allocation it cannot make.
            Error::OutOfMemory { .. } => PyMemoryError::new_err(message),
            // What the operating system refuses is an OSError in Python, as
            // `multiprocessing.shared_memory` raises it.
            Error::SharedMemory { .. } => PyOSError::new_err(message),
            // Python's own `float(1j)` raises TypeError.
            Error::ComplexToReal { .. } => PyTypeError::new_err(message),
            // torch.tensor(..., dtype="nope") raises TypeError.
            Error::UnknownDType { .. } | Error::DTypeMismatch { .. } => {
                PyTypeError::new_err(message)
            }
            // Like a RefCell: a conflict of run-time state, not of values.
            Error::AlreadyBorrowed { .. }
            | Error::ReachableFromPython
            | Error::SharedAcrossProcesses => PyRuntimeError::new_err(message),
            Error::IndexOutOfRange { .. }
            | Error::TooManyIndices { .. }
            | Error::InvalidPermutation { .. }
            | Error::DimOutOfRange { .. }
            | Error::MultipleEllipsis
            | Error::IndexRankTooLarge { .. } => PyIndexError::new_err(message),
            // torch refuses writes to overlapping memory with RuntimeError.
            Error::OverlappingWrite { .. } => PyRuntimeError::new_err(message),
            // PyTorch raises RuntimeError for shapes that do not fit, for
            // views it cannot make, and for sizes and layouts whose arithmetic
            // overflows ("numel: integer multiplication overflow").
            Error::InvalidShape { .. }
            | Error::NotViewable { .. }
            | Error::TooLarge { .. }
            | Error::LayoutOverflow { .. }
            | Error::OutOfBounds { .. }
            | Error::TooManyViews { .. }
            | Error::IncompatibleView { .. } => PyRuntimeError::new_err(message),
            Error::Overflow { .. } => PyOverflowError::new_err(message),
            // NumPy: "could not broadcast", "assignment destination is
            // read-only", "can only convert an array of size 1"; torch:
            // "expected sequence of length" for ragged lists.
            Error::LengthMismatch { .. }
            | Error::OwnerTooShort { .. }
            | Error::ZeroStep
            | Error::NotBroadcastable { .. }
            | Error::ReadOnly
            | Error::NotAScalar { .. }
            | Error::Ragged { .. }
            | Error::TooManyDimensions { .. }
            | Error::RankTooLarge { .. }
            | Error::ArrayWhereNumberExpected { .. }
            | Error::NotContiguous { .. }
            | Error::Misaligned { .. }
            | Error::OverlappingElements { .. }
            | Error::InvalidBool { .. } => PyValueError::new_err(message),
        }
    }
}

/// Runs the body of a C function that CPython or another compiled copy of
/// dlbridge calls with the thread attached, and answers in C's convention: a
/// new reference, or NULL with the error (a panic as PyO3's
/// `PanicException`) set as the current exception. What PyO3's own
/// trampolines do for `#[pymethods]`, for the entry points it cannot
/// generate (`dlpack_method.rs`, `handoff.rs`).
///
/// # Safety
///
/// The calling thread is attached to the interpreter.
pub(super) unsafe fn c_entry(
    body: impl FnOnce(pyo3::Python<'_>) -> pyo3::PyResult<pyo3::Py<pyo3::PyAny>>,
) -> *mut pyo3::ffi::PyObject {
    // SAFETY: the caller's contract.
    let py = unsafe { pyo3::Python::assume_attached() };
    // A panic must not unwind into C.
    let error = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(py))) {
        Ok(Ok(object)) => return object.into_ptr(),
        Ok(Err(error)) => error,
        Err(payload) => pyo3::panic::PanicException::new_err(panic_message(&*payload)),
    };
    error.restore(py);
    std::ptr::null_mut()
}

/// The text of a panic's payload, as PyO3 reports panics.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic from Rust code".to_owned()
    }
}
