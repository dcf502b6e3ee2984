"""Run a function when a module has finished loading, without importing it.

dlbridge registers itself with Dask (``_dask.py``) and with ``multiprocessing``
(``_multiprocessing.py``) through their registries, which live in modules that
``import dlbridge`` must not import. So the registration runs at once when the
module is already loaded, and otherwise right after it loads: a finder on
``sys.meta_path`` that finds nothing itself, wraps the real loader of a watched
module so that the callbacks run after the module's code, and steps aside once
nothing is watched any more. (The post-import hooks of PEP 369 and of ``wrapt``
work the same way.)

- The callbacks are taken when the module's code has run, not when it is found,
  so a ``find_spec`` probe that loads nothing does not use them up.
- A module that was still loading when it was watched (found before the finder
  was in place) is noticed by the next import of anything, once it has loaded.
- A callback that fails is reported as a ``RuntimeWarning``; the import it
  follows still succeeds.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

Callback = Callable[[ModuleType], None]

# Reentrant: a callback, or the garbage collector, may import while it is held.
_lock = threading.RLock()
_watched: dict[str, list[Callback]] = {}
# Names whose real spec is being looked up, so the finder does not answer itself.
_finding: set[str] = set()


def when_imported(name: str, callback: Callback) -> None:
    """Call ``callback(module)`` once module ``name`` is loaded: now if it is."""
    with _lock:
        module = _loaded(name)
        if module is None:
            _watched.setdefault(name, []).append(callback)
            if _finder not in sys.meta_path:
                sys.meta_path.insert(0, _finder)
            return
    _call(callback, module)


def _loaded(name: str) -> ModuleType | None:
    """Module ``name`` if it is in ``sys.modules`` and has finished loading."""
    module = sys.modules.get(name)
    if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
        return None
    return module


def _call(callback: Callback, module: ModuleType) -> None:
    try:
        callback(module)
    except Exception as error:  # the other package's import must not fail
        warnings.warn(
            f"dlbridge could not register with {module.__name__}: {error!r}",
            RuntimeWarning,
            stacklevel=2,
        )


def _take(name: str) -> list[Callback]:
    """The callbacks for ``name``, no longer watched."""
    with _lock:
        callbacks = _watched.pop(name, [])
        if not _watched and _finder in sys.meta_path:
            sys.meta_path.remove(_finder)
    return callbacks


def _fire_loaded() -> None:
    """Run the callbacks of watched modules that have loaded meanwhile."""
    with _lock:
        ready = [(name, module) for name in list(_watched) if (module := _loaded(name))]
    for name, module in ready:
        for callback in _take(name):
            _call(callback, module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        _fire_loaded()
        with _lock:
            if fullname not in _watched or fullname in _finding:
                return None
            _finding.add(fullname)
        try:
            # The other finders' answer: this finder declines while it asks.
            spec = importlib.util.find_spec(fullname)
        finally:
            with _lock:
                _finding.discard(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenCall(spec.loader, fullname)
        return spec


class _ThenCall(importlib.abc.Loader):
    """Loads a module with ``loader``, then runs the callbacks watching it."""

    def __init__(self, loader: importlib.abc.Loader, name: str) -> None:
        self._loader = loader
        self._name = name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        for callback in _take(self._name):
            _call(callback, module)

    def __getattr__(self, name: str) -> Any:
        # Everything else (get_code, get_source, is_package, ...) is the real loader's.
        return getattr(self._loader, name)


_finder = _Finder()
