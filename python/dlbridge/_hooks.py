"""Run a function when a module has finished loading, without importing it.

dlbridge registers itself with Dask (``_dask.py``) and with ``multiprocessing``
(``_multiprocessing.py``) through their registries, which live in modules that
``import dlbridge`` must not import. So the registration runs at once when the
module is already loaded, and otherwise right after it loads: a finder on
``sys.meta_path`` that finds nothing itself, wraps the real loader of a watched
module so that the callbacks run after the module's code, and steps aside once
nothing is watched any more. (The post-import hooks of PEP 369 and of ``wrapt``
work the same way.)
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

Callback = Callable[[ModuleType], None]

_lock = threading.Lock()
_watched: dict[str, list[Callback]] = {}


def when_imported(name: str, callback: Callback) -> None:
    """Call ``callback(module)`` once module ``name`` is loaded: now if it is."""
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None)
    if module is not None and not getattr(spec, "_initializing", False):
        callback(module)
        return
    with _lock:
        _watched.setdefault(name, []).append(callback)
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        with _lock:
            callbacks = _watched.pop(fullname, None)
            if not _watched and _finder in sys.meta_path:
                sys.meta_path.remove(_finder)
        if callbacks is None:
            return None
        # No longer watched, so this finds the module the usual way.
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenCall(spec.loader, callbacks)
        return spec


class _ThenCall(importlib.abc.Loader):
    """Loads a module with ``loader``, then calls ``callbacks`` with it."""

    def __init__(self, loader: importlib.abc.Loader, callbacks: list[Callback]) -> None:
        self._loader = loader
        self._callbacks = callbacks

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        for callback in self._callbacks:
            callback(module)

    def __getattr__(self, name: str) -> Any:
        # Everything else (get_code, get_source, is_package, ...) is the real loader's.
        return getattr(self._loader, name)


_finder = _Finder()
