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


def _dtype_by_name(name: str) -> DType:
    """Return the dtype called ``name``; used to unpickle ``DType`` objects."""
    return globals()[name]


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
