//! The Python buffer protocol in both directions: `memoryview(t)` shares a
//! tensor's memory, and `dlbridge.frombuffer` shares any buffer's.

use super::tensor::PyTensor;
use crate::dtype::DType;
use crate::foreign::{self, ForeignMemory, Strides};
use crate::storage::{Extent, Storage};
use crate::tensor::Tensor;
use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::{PyBufferError, PyValueError};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyMemoryView;
use std::ffi::{CStr, c_int};
use std::sync::Arc;

/// The PEP 3118 format of a dtype; `None` for bfloat16, which has none.
///
/// These are the buffer protocol's names (the `struct` module's codes, with
/// PEP 3118's `Z` for complex), a fact of Python's rather than of the dtype,
/// so they live here and not in the core's dtype table.
fn format(dtype: DType) -> Option<&'static CStr> {
    Some(match dtype {
        DType::Bool => c"?",
        DType::Int8 => c"b",
        DType::Int16 => c"h",
        DType::Int32 => c"i",
        DType::Int64 => c"q",
        DType::UInt8 => c"B",
        DType::UInt16 => c"H",
        DType::UInt32 => c"I",
        DType::UInt64 => c"Q",
        DType::Float16 => c"e",
        DType::Float32 => c"f",
        DType::Float64 => c"d",
        DType::Complex64 => c"Zf",
        DType::Complex128 => c"Zd",
        DType::BFloat16 => return None,
    })
}

/// Fills `view` for `memoryview(t)` and other buffer consumers.
///
/// # Safety
///
/// `view` must be a valid `Py_buffer` to fill, as CPython passes to
/// `bf_getbuffer`.
pub unsafe fn get_buffer(
    slf: Bound<'_, PyTensor>,
    view: *mut ffi::Py_buffer,
    flags: c_int,
) -> PyResult<()> {
    let tensor = slf.get().inner.clone();
    // A layout in which several indices reach one element (a broadcast view)
    // is exported read-only, as NumPy's `broadcast_to` is: writes through it
    // would keep whichever came last.
    let readonly = tensor.is_readonly() || !tensor.layout().has_unique_elements();
    if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE && readonly {
        return Err(PyBufferError::new_err(if tensor.is_readonly() {
            "the tensor is read-only"
        } else {
            "the tensor's elements overlap in memory (a broadcast view); clone() it to write"
        }));
    }
    let c_contiguous = tensor.is_contiguous();
    let f_contiguous = tensor.layout().is_f_contiguous();
    let wants = |bits: c_int| flags & bits == bits;
    if wants(ffi::PyBUF_C_CONTIGUOUS) && !c_contiguous {
        return Err(PyBufferError::new_err("the tensor is not C-contiguous"));
    }
    if wants(ffi::PyBUF_F_CONTIGUOUS) && !f_contiguous {
        return Err(PyBufferError::new_err(
            "the tensor is not Fortran-contiguous",
        ));
    }
    if wants(ffi::PyBUF_ANY_CONTIGUOUS) && !c_contiguous && !f_contiguous {
        return Err(PyBufferError::new_err("the tensor is not contiguous"));
    }
    if !wants(ffi::PyBUF_STRIDES) && !c_contiguous {
        return Err(PyBufferError::new_err(
            "the tensor is strided; ask for a strided buffer (PyBUF_STRIDES)",
        ));
    }
    let format = if wants(ffi::PyBUF_FORMAT) {
        match format(tensor.dtype()) {
            Some(format) => format.as_ptr().cast_mut(),
            None => {
                return Err(PyBufferError::new_err(
                    "bfloat16 has no buffer-protocol format; convert first, e.g. t.to(dlbridge.float32)",
                ));
            }
        }
    } else {
        std::ptr::null_mut()
    };
    let itemsize = tensor.itemsize() as isize;
    // Shape and byte strides live in one allocation that `internal` owns until
    // `release_buffer`.
    let mut dims: Box<[isize]> = tensor
        .shape()
        .iter()
        .map(|&n| n as isize)
        .chain(tensor.strides().iter().map(|&s| s * itemsize))
        .collect();
    let ndim = tensor.ndim();
    let dims_ptr = dims.as_mut_ptr();
    // SAFETY: `view` is valid to write (the caller's contract); the tensor's
    // storage stays alive while `obj` (a new reference to the tensor) does,
    // and `dims` until `release_buffer` frees it.
    unsafe {
        (*view).buf = tensor.data_ptr().cast_mut().cast();
        (*view).obj = slf.into_any().into_ptr();
        (*view).len = tensor.nbytes() as isize;
        (*view).readonly = c_int::from(readonly);
        (*view).itemsize = itemsize;
        (*view).format = format;
        (*view).ndim = ndim as c_int;
        (*view).shape = if wants(ffi::PyBUF_ND) {
            dims_ptr
        } else {
            std::ptr::null_mut()
        };
        (*view).strides = if wants(ffi::PyBUF_STRIDES) {
            dims_ptr.add(ndim)
        } else {
            std::ptr::null_mut()
        };
        (*view).suboffsets = std::ptr::null_mut();
        (*view).internal = Box::into_raw(Box::new(dims)).cast();
    }
    Ok(())
}

/// Frees what [`get_buffer`] allocated.
///
/// # Safety
///
/// `view` must have been filled by [`get_buffer`].
pub unsafe fn release_buffer(view: *mut ffi::Py_buffer) {
    // SAFETY: `internal` is the boxed shape-and-strides slice `get_buffer`
    // leaked, released once, here.
    unsafe {
        let internal = (*view).internal.cast::<Box<[isize]>>();
        if !internal.is_null() {
            drop(Box::from_raw(internal));
            (*view).internal = std::ptr::null_mut();
        }
    }
}

/// The buffer of `buffer`, which must be C-contiguous (`user` names who
/// needs it, for the error).
pub(crate) fn hold_c_contiguous(
    buffer: &Bound<'_, PyAny>,
    user: &str,
) -> PyResult<PyUntypedBuffer> {
    let held = match PyUntypedBuffer::get(buffer) {
        Ok(held) => held,
        // PyO3 asks for shape and strides and refuses an export without them,
        // which the buffer protocol allows for contiguous memory (ctypes
        // arrays, 0-d NumPy arrays); a byte view of the same export always
        // has both, and keeps its read-only flag.
        Err(error) if error.is_instance_of::<PyBufferError>(buffer.py()) => {
            let Ok(bytes) = PyMemoryView::from(buffer)
                .and_then(|view| view.call_method1(intern!(buffer.py(), "cast"), ("B",)))
            else {
                return Err(error);
            };
            PyUntypedBuffer::get(&bytes)?
        }
        Err(error) => return Err(error),
    };
    if !held.is_c_contiguous() {
        return Err(PyBufferError::new_err(format!(
            "{user} needs a C-contiguous buffer; this {} is not",
            buffer.get_type().name()?
        )));
    }
    Ok(held)
}

/// A row-major tensor of `dtype` and `shape` over all of `held`'s bytes,
/// whose length the caller has checked to be exactly the tensor's (and not
/// 0), adopting the buffer without a copy; read-only when the buffer is.
///
/// Also when its address is not aligned for `dtype` (pickle's in-band bytes,
/// a Dask frame at an odd offset): misaligned memory is shared as NumPy and
/// torch share it (`foreign.rs`).
pub(crate) fn adopt_buffer(
    held: PyUntypedBuffer,
    dtype: DType,
    shape: &[usize],
) -> PyResult<Tensor> {
    share_held(held, 0, shape.to_vec(), dtype)
}

/// A 1-d tensor sharing the memory of any object with the buffer protocol
/// (bytes, bytearray, array.array, mmap, memoryview), as `torch.frombuffer`
/// does: `count` elements of `dtype` from byte `offset` (all that fit when
/// `count` is negative). Read-only buffers give read-only tensors.
///
/// The buffer is held through PyO3's `PyUntypedBuffer`, which releases it
/// with the GIL when the storage's last user lets go (and not at all once
/// the interpreter is gone).
pub(crate) fn import_buffer(
    buffer: &Bound<'_, PyAny>,
    dtype: DType,
    count: isize,
    offset: isize,
) -> PyResult<Tensor> {
    let held = hold_c_contiguous(buffer, "frombuffer")?;
    let length = held.len_bytes() as isize;
    let itemsize = dtype.itemsize() as isize;
    if offset < 0 || offset > length {
        return Err(PyValueError::new_err(format!(
            "offset {offset} is outside the buffer of {length} bytes"
        )));
    }
    let available = length - offset;
    let count = if count < 0 {
        if available % itemsize != 0 {
            return Err(PyValueError::new_err(format!(
                "buffer length after offset ({available} bytes) is not a multiple of the {dtype} item size ({itemsize})"
            )));
        }
        available / itemsize
    } else {
        if count
            .checked_mul(itemsize)
            .is_none_or(|bytes| bytes > available)
        {
            return Err(PyValueError::new_err(format!(
                "{count} {dtype} elements do not fit in the {available} bytes after offset {offset}"
            )));
        }
        count
    };
    if count == 0 {
        return Err(PyValueError::new_err(format!(
            "the buffer of {length} bytes holds no {dtype} element after offset {offset}"
        )));
    }
    // The same gate as every other way memory enters. A buffer promises no
    // alignment, and `offset` can break it too: the tensor is then
    // misaligned, as NumPy's `frombuffer` array and torch's would be.
    share_held(held, offset as u64, vec![count as usize], dtype)
}

/// A row-major tensor over `held`'s bytes from `byte_offset`, through the
/// gate every foreign memory passes (`foreign::validate`: no wrap-around,
/// counts within `isize`); the storage keeps the buffer until its last user is gone.
/// Read-only when the buffer is. The caller has checked that `shape` fits
/// in the buffer's bytes after `byte_offset`.
fn share_held(
    held: PyUntypedBuffer,
    byte_offset: u64,
    shape: Vec<usize>,
    dtype: DType,
) -> PyResult<Tensor> {
    let readonly = held.readonly();
    let validated = foreign::validate(ForeignMemory {
        origin: "buffer",
        data: held.buf_ptr() as usize,
        byte_offset,
        shape: &shape,
        strides: Strides::RowMajor,
        dtype,
    })?;
    let extent = Extent::of_layout(&validated.layout, dtype.itemsize());
    // SAFETY: the exporter keeps the buffer's bytes valid until the buffer is
    // released, which the storage does when its last user is gone; the
    // layout addresses only bytes of the buffer after `byte_offset` (the
    // caller's check).
    let storage = unsafe { Storage::kept_alive_by(validated.base, extent, Box::new(held)) };
    // `foreign::validate` made the same checks, in the import's words.
    Ok(Tensor::from_parts(
        Arc::new(storage),
        validated.layout,
        dtype,
        readonly,
    )?)
}
