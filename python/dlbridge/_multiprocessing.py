"""``multiprocessing`` sends a shared tensor as a handle, not its bytes.

After ``t.share_memory_()``, a tensor sent to another process through
``multiprocessing`` (a ``Queue``, ``Pool``, ``ProcessPoolExecutor``, a
``Process``'s arguments) goes as the file descriptor of its shared-memory
segment plus its description, as torch's tensors do
(torch/multiprocessing/reductions.py, the ``file_descriptor`` strategy). The
descriptor travels the way ``multiprocessing`` sends descriptors
(``multiprocessing.reduction.DupFd``: duplicated into a child being spawned, or
passed over a Unix socket by ``multiprocessing.resource_sharer``), and the
other process maps the same segment: both see each other's writes. A tensor
that is not shared is pickled as usual, its bytes copied.

The reducer is registered with ``multiprocessing.reduction.ForkingPickler``
when that module is loaded, without ``import dlbridge`` importing it
(``_hooks.py``).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from . import _dlbridge, _hooks


def _rebuild_shared(
    fd: Any, offset: int, shape: tuple, strides: tuple, dtype: str, readonly: bool
) -> _dlbridge.Tensor:
    """Map the segment behind ``fd`` (a ``DupFd``) again, in the receiving process."""
    return _dlbridge._from_shared(fd.detach(), offset, list(shape), list(strides), dtype, readonly)


def _register(reduction: ModuleType) -> None:
    def reduce_tensor(tensor: _dlbridge.Tensor) -> tuple[Any, tuple[Any, ...]]:
        handle = tensor._shared_handle()
        if handle is None:
            return tensor.__reduce__()
        fd, offset, shape, strides, dtype, readonly = handle
        return (
            _rebuild_shared,
            (reduction.DupFd(fd), offset, tuple(shape), tuple(strides), dtype, readonly),
        )

    reduction.ForkingPickler.register(_dlbridge.Tensor, reduce_tensor)


def install() -> None:
    """Register with ``multiprocessing`` now if it is loaded, else when it loads."""
    _hooks.when_imported("multiprocessing.reduction", _register)
