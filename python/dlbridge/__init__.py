"""Zero-copy tensors between NumPy, PyTorch and Rust, built on DLPack.

``from_numpy`` and ``as_tensor`` share memory with their source; ``tensor`` and
``clone`` always make fresh memory, as in PyTorch. Every tensor exports
``__dlpack__``, so ``torch.from_dlpack(t)`` and ``np.from_dlpack(t)`` share it too.
Importing dlbridge never imports torch.
"""

from typing import Any

from . import _dask, _dlbridge, _multiprocessing
from ._dlbridge import (
    Device,
    DType,
    Tensor,
    __version__,
    arange,
    as_tensor,
    bfloat16,
    bool,
    clone,
    complex64,
    complex128,
    empty,
    empty_like,
    float16,
    float32,
    float64,
    from_dlpack,
    from_numpy,
    frombuffer,
    full,
    full_like,
    int8,
    int16,
    int32,
    int64,
    ones,
    ones_like,
    tensor,
    uint8,
    uint16,
    uint32,
    uint64,
    zeros,
    zeros_like,
)

__all__ = [
    "DType",
    "Device",
    "Tensor",
    "__version__",
    "as_tensor",
    "bfloat16",
    "bool",
    "clone",
    "complex64",
    "complex128",
    "float16",
    "float32",
    "float64",
    "from_dlpack",
    "from_numpy",
    "frombuffer",
    "zeros",
    "ones",
    "empty",
    "full",
    "zeros_like",
    "ones_like",
    "empty_like",
    "full_like",
    "arange",
    "int8",
    "int16",
    "int32",
    "int64",
    "tensor",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
]


# The only objects ``_dtype_by_name`` gives back: a pickle names a dtype, never
# another global of this module (an allow-list unpickler that trusts
# ``dlbridge._dtype_by_name`` must not be handed the builtins or ``Tensor``).
_DTYPES_BY_NAME = {
    dtype.name: dtype
    for dtype in (
        bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64,
        float16, bfloat16, float32, float64, complex64, complex128,
    )
}  # fmt: skip


def _dtype_by_name(name: str) -> DType:
    """Return the dtype called ``name``; used to unpickle ``DType`` objects.

    Raises ``pickle.UnpicklingError`` for any other name.
    """
    try:
        return _DTYPES_BY_NAME[name]
    except (KeyError, TypeError):
        import pickle

        raise pickle.UnpicklingError(f"dlbridge has no dtype named {name!r}") from None


def _rebuild_tensor(data: bytes, dtype: str, shape: tuple, readonly: bool) -> Tensor:
    """Rebuild a pickled tensor (``Tensor.__reduce__`` names this function)."""
    return _dlbridge._from_pickle(data, dtype, list(shape), readonly)


def _rebuild_tensor_from_buffer(buffer: Any, dtype: str, shape: tuple, readonly: bool) -> Tensor:
    """Rebuild a tensor pickled with protocol 5 (``Tensor.__reduce_ex__`` names this
    function), adopting ``buffer``, in band or out of band, without a copy."""
    return _dlbridge._from_pickle_buffer(buffer, dtype, list(shape), readonly)


# Dask distributed and multiprocessing: dlbridge's serializer (`_dask.py`) and its
# reducer for shared tensors (`_multiprocessing.py`), registered when their modules
# load, without importing them here.
_dask.install()
_multiprocessing.install()
