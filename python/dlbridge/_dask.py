"""Dask distributed moves dlbridge tensors as it moves NumPy arrays: the
tensor's bytes as one out-of-band frame, adopted again without a copy.

Why a serializer of our own: Dask's scheduler pins pickle to protocol 4 on
its connections (``handshake_overrides={"pickle-protocol": 4}`` in
distributed/scheduler.py), so an object that Dask pickles travels in band
there, copied into the pickle stream. NumPy arrays and torch tensors avoid
that with serializers in Dask's ``"dask"`` family (distributed/protocol/numpy.py
and torch.py); this module registers one for ``dlbridge.Tensor``.

The registration happens when ``distributed.protocol.serialize`` is imported,
in whichever order the two packages are imported, and never imports Dask
itself: at ``import dlbridge`` it registers at once if Dask's protocol module
is already loaded, and otherwise watches for that one module to finish loading
(an import-system finder that steps aside after it has fired).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any

from . import _dlbridge

# Where Dask's `dask_serialize` and `dask_deserialize` dispatchers live.
_SERIALIZE_MODULE = "distributed.protocol.serialize"
_registered = False
_lock = threading.Lock()


def serialize(tensor: _dlbridge.Tensor) -> tuple[dict[str, Any], list[memoryview]]:
    """The tensor as a header and its bytes in row-major order, as one frame
    (after a one-byte spacer when it fits in one of Dask's shards).

    The bytes are the tensor's own memory for a C-contiguous tensor (a strided
    one is made contiguous once), exactly what pickle protocol 5 hands out.

    The spacer is about alignment on the receiving side. Dask's TCP comm reads
    the first uncompressed buffer of a message into the same host buffer as
    the message header, at whatever offset the header leaves (often odd), and
    every later one into a host array of its own (distributed/comm/tcp.py,
    "Always store 2+ separate numpy/parquet objects onto separate buffers").
    Behind a spacer, bytes that fit in one shard (64 MiB by default) arrive
    in their own, aligned host array and are adopted as they are. Larger
    bytes are sent in shards, which Dask would then read apart and join with
    a copy; without the spacer they stay contiguous after the header and are
    adopted when their offset is aligned for the dtype, and copied once when
    it is not (NumPy, which allows unaligned arrays, never copies here).
    """
    from distributed.protocol.utils import BIG_BYTES_SHARD_SIZE

    _, (buffer, dtype, shape, readonly) = tensor.__reduce_ex__(5)
    header = {"dtype": dtype, "shape": list(shape), "readonly": readonly}
    data = buffer.raw()
    if data.nbytes <= BIG_BYTES_SHARD_SIZE:
        return header, [memoryview(bytearray(1)), data]
    return header, [data]


def deserialize(header: dict[str, Any], frames: list[Any]) -> _dlbridge.Tensor:
    """Rebuild a tensor over the bytes Dask received, without a copy.

    A writable tensor that arrives in read-only memory is copied once, so
    that it stays writable, as Dask's NumPy serializer does; a read-only one
    is adopted as it is.
    """
    frame = memoryview(frames[-1])
    if frame.readonly and not header["readonly"]:
        frame = memoryview(bytearray(frame))
    return _dlbridge._from_pickle_buffer(
        frame, header["dtype"], list(header["shape"]), header["readonly"]
    )


def _register(serialize_module: ModuleType) -> None:
    global _registered
    with _lock:
        if _registered:
            return
        serialize_module.dask_serialize.register(_dlbridge.Tensor)(serialize)
        serialize_module.dask_deserialize.register(_dlbridge.Tensor)(deserialize)
        _registered = True


class _RegisterOnLoad(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when ``distributed.protocol.serialize`` is about
    to load, it takes itself off ``sys.meta_path``, lets the other finders
    find the module, and has the module's loader register dlbridge's
    serializer once the module has run."""

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _SERIALIZE_MODULE:
            return None
        _stop_watching()
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _ThenRegister(spec.loader)
        return spec


class _ThenRegister(importlib.abc.Loader):
    """Loads a module with ``loader``, then registers dlbridge's serializer in it."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _register(module)

    def __getattr__(self, name: str) -> Any:
        # Everything else (get_code, get_source, is_package, ...) is the real loader's.
        return getattr(self._loader, name)


_finder = _RegisterOnLoad()


def _stop_watching() -> None:
    try:
        sys.meta_path.remove(_finder)
    except ValueError:
        pass


def install() -> None:
    """Register with Dask now if its protocol module is loaded, else when it loads."""
    loaded = sys.modules.get(_SERIALIZE_MODULE)
    if loaded is not None and hasattr(loaded, "dask_deserialize"):
        _register(loaded)
    elif _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
