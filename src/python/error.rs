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
