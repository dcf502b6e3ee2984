"""Dask distributed moves dlbridge tensors as it moves NumPy arrays: the
tensor's bytes as one out-of-band frame, adopted again without a copy.

Why a serializer of our own: Dask's scheduler pins pickle to protocol 4 on
its connections (``handshake_overrides={"pickle-protocol": 4}`` in
distributed/scheduler.py), so an object that Dask pickles travels in band
there, copied into the pickle stream. NumPy arrays and torch tensors avoid
that with serializers in Dask's ``"dask"`` family (distributed/protocol/numpy.py
and torch.py); this module registers one for ``dlbridge.Tensor``.

The registration happens when ``distributed.protocol.serialize`` is loaded,
in whichever order the two packages are imported, and never imports Dask
itself (``_hooks.py``).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from . import _dlbridge, _hooks


def serialize(tensor: _dlbridge.Tensor) -> tuple[dict[str, Any], list[memoryview]]:
    """The tensor as a header and its bytes in row-major order, as one frame
    (after a one-byte spacer when it fits in one of Dask's shards).

    The bytes are the tensor's own memory for a C-contiguous tensor (a strided
    one is made contiguous once), exactly what pickle protocol 5 hands out.

    The spacer is about a separate buffer on the receiving side. Dask's TCP comm reads
    the first uncompressed buffer of a message into the same host buffer as
    the message header, at whatever offset the header leaves (often odd), and
    every later one into a host array of its own (distributed/comm/tcp.py,
    "Always store 2+ separate numpy/parquet objects onto separate buffers").
    Behind a spacer, bytes that fit in one shard (64 MiB by default) arrive
    in their own, aligned host array and are adopted as they are. Larger
    bytes are sent in shards, which Dask would then read apart and join with
    a copy; without the spacer they stay contiguous after the header and are
    adopted at whatever offset they have (misaligned memory is shared, as
    NumPy shares it).
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
    serialize_module.dask_serialize.register(_dlbridge.Tensor)(serialize)
    serialize_module.dask_deserialize.register(_dlbridge.Tensor)(deserialize)


def install() -> None:
    """Register with Dask now if its protocol module is loaded, else when it loads."""
    _hooks.when_imported("distributed.protocol.serialize", _register)
