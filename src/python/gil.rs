//! Work that must or must not hold the GIL: releasing Python resources from
//! wherever the last user of their memory lets go, and large copies that let
//! other Python threads run meanwhile.

use crate::borrow::Participation;
use crate::dtype::DType;
use crate::tensor::Tensor;
use pyo3::prelude::*;

/// Runs `release` with the GIL held, or leaks what it captures if the
/// interpreter is already gone.
///
/// Storage that holds a Python resource (a NumPy array, a buffer) is
/// released wherever its last user lets go: in a DLPack capsule's destructor
/// or a consumer's deleter, which CPython or another library calls, maybe on
/// another thread. PyO3 would only queue a decref there (it cannot see that
/// the GIL is held), keeping the resource alive until PyO3 next runs, so the
/// GIL is taken here and the release happens at once. After finalization
/// nothing may touch Python, and the resource is leaked, as NumPy does for
/// its DLPack deleters (numpy#22507).
///
/// PyO3's `Python::try_attach` makes the checks (the interpreter initialised,
/// not finalizing where CPython can tell, not inside a GC traversal); when it
/// refuses, what `release` captures is forgotten rather than dropped.
pub(crate) fn release_with_gil(release: impl FnOnce()) {
    let mut pending = Some(release);
    Python::try_attach(|_py| {
        if let Some(release) = pending.take() {
            release();
        }
    });
    // Not attached: nothing may touch Python, so nothing is released.
    std::mem::forget(pending);
}

/// Copies of at least this many bytes release the GIL while they run.
const DETACH_BYTES: usize = 1 << 20;

/// `source` converted to `dtype` in fresh memory, without holding the GIL
/// when the copy is large, so other Python threads run meanwhile.
///
/// Other Python threads (dlbridge writes included) are never refused
/// because of the copy: like NumPy's, it may see some of their writes and not
/// others (registering an ordinary borrow is what once made `t[0] = 1` in one
/// thread raise "already borrowed" while another ran `t.to(...)`). A copy
/// holding the GIL only checks that no Rust borrow holds the memory mutably:
/// no Rust guard of memory Python reaches can start while the GIL is held
/// elsewhere. One without the GIL registers a Python borrow
/// ([`Participation::Detached`]), which refuses a Rust thread's mutable
/// guard (`as_slice_mut_py`) until the copy is done and nothing else.
pub(crate) fn copy_to(py: Python<'_>, source: &Tensor, dtype: DType) -> PyResult<Tensor> {
    let bytes = source
        .numel()
        .saturating_mul(dtype.itemsize().max(source.itemsize()));
    let result = if bytes >= DETACH_BYTES {
        py.detach(|| source.to_dtype_with(dtype, Participation::Detached))
    } else {
        source.to_dtype_with(dtype, Participation::CheckOnly)
    };
    Ok(result?)
}

/// A copy of every byte of `tensor`'s storage (`Tensor::storage_copy`, for
/// `copy.deepcopy`), made as [`copy_to`] makes its copies: without the GIL
/// when large.
pub(crate) fn storage_copy(py: Python<'_>, tensor: &Tensor) -> PyResult<Tensor> {
    let result = if tensor.storage().extent().len >= DETACH_BYTES {
        py.detach(|| tensor.storage_copy(Participation::Detached))
    } else {
        tensor.storage_copy(Participation::CheckOnly)
    };
    Ok(result?)
}

/// Moves `tensor`'s memory into shared memory (`Tensor::share_memory`),
/// without holding the GIL when the copy is large. Unlike `copy_to`, the
/// move registers an exclusive borrow: a write another Python thread makes
/// meanwhile would land in the memory being left behind and be lost, so it
/// is refused ("already borrowed") instead.
pub(crate) fn share_memory(py: Python<'_>, tensor: &Tensor) -> PyResult<()> {
    let share = || tensor.share_memory();
    if tensor.nbytes() >= DETACH_BYTES {
        py.detach(share)?;
    } else {
        share()?;
    }
    Ok(())
}
