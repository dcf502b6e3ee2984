"""The environment report and quick benchmark behind ``python -m dlbridge``.

Only the standard library and NumPy are imported up front; every other array
library is looked up, and imported only to check that its interop path works.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import platform
import sys
import timeit
from collections.abc import Callable

import numpy as np

import dlbridge as db

LIBRARIES = ["numpy", "torch", "ml_dtypes", "jax", "cupy", "array_api_strict"]


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _check(label: str, probe: Callable[[], bool]) -> tuple[str, str]:
    try:
        return label, "works" if probe() else "FAILED (pointers differ)"
    except Exception as error:  # the report says what failed instead of stopping
        return label, f"unavailable ({type(error).__name__}: {error})"


def _numpy_paths() -> list[tuple[str, str]]:
    def from_numpy() -> bool:
        a = np.arange(4.0)
        return db.from_numpy(a).data_ptr() == a.ctypes.data

    def to_numpy() -> bool:
        t = db.tensor([1.0, 2.0])
        return np.from_dlpack(t).ctypes.data == t.data_ptr() == t.numpy().ctypes.data

    def buffer() -> bool:
        t = db.tensor([1, 2], dtype=db.int32)
        return np.asarray(memoryview(t)).ctypes.data == t.data_ptr()

    return [
        _check("NumPy -> dlbridge (from_numpy)", from_numpy),
        _check("dlbridge -> NumPy (np.from_dlpack, t.numpy())", to_numpy),
        _check("dlbridge -> memoryview (buffer protocol)", buffer),
    ]


def _optional_paths() -> list[tuple[str, str]]:
    checks = []
    if importlib.util.find_spec("torch") is not None:

        def torch_paths() -> bool:
            import torch

            x = torch.arange(4.0)
            t = db.as_tensor(x)
            return t.data_ptr() == x.data_ptr() == torch.from_dlpack(t).data_ptr()

        checks.append(_check("PyTorch <-> dlbridge (as_tensor, torch.from_dlpack)", torch_paths))
    if importlib.util.find_spec("ml_dtypes") is not None:

        def bfloat16() -> bool:
            t = db.tensor([1.0], dtype=db.bfloat16)
            return t.numpy().ctypes.data == t.data_ptr()

        checks.append(_check("bfloat16 -> NumPy (ml_dtypes)", bfloat16))
    if importlib.util.find_spec("jax") is not None:

        def jax_paths() -> bool:
            import jax.dlpack
            import jax.numpy as jnp

            t = db.tensor([1.0, 2.0])
            back = db.from_dlpack(jnp.asarray([1.0, 2.0]))
            return jax.dlpack.from_dlpack(t).shape == (2,) and back.shape == (2,)

        checks.append(_check("JAX <-> dlbridge (from_dlpack)", jax_paths))
    return checks


def report() -> str:
    """The versions found and which interop paths work, as text."""
    lines = [
        f"dlbridge {db.__version__} on Python {platform.python_version()} "
        f"({platform.system()} {platform.machine()})",
        "",
        "Array libraries:",
    ]
    for name in LIBRARIES:
        version = _version(name.replace("_", "-")) or _version(name)
        lines.append(f"  {name:<18} {version or 'not installed'}")
    lines += ["", "Interop paths (checked now, by data pointers):"]
    for label, result in _numpy_paths() + _optional_paths():
        lines.append(f"  {label:<52} {result}")
    return "\n".join(lines)


def bench(number_scale: float = 1.0) -> str:
    """A quick dlbridge-vs-anchor table on this machine (medians of a few runs)."""
    rows: list[tuple[str, Callable[[], object], str, Callable[[], object]]] = []
    small = np.arange(16, dtype=np.float32)
    big = np.random.default_rng(0).random(4 << 20, dtype=np.float32)  # 16 MB
    floats = np.random.default_rng(1).random(100_000).tolist()
    t_big = db.from_numpy(big)
    rows.append(
        (
            "db.from_numpy(a), 16 floats",
            lambda: db.from_numpy(small),
            "np.asarray(a)",
            lambda: np.asarray(small),
        )
    )
    rows.append(("db.tensor(a), 16 MB", lambda: db.tensor(big), "a.copy()", big.copy))
    rows.append(
        (
            "t.to(db.float16), 16 MB",
            lambda: t_big.to(db.float16),
            "a.astype(np.float16)",
            lambda: big.astype(np.float16),
        )
    )
    rows.append(
        (
            "db.tensor(list of 1e5 floats)",
            lambda: db.tensor(floats),
            "np.array(list)",
            lambda: np.array(floats),
        )
    )
    if importlib.util.find_spec("torch") is not None:
        import torch

        x = torch.arange(16.0)
        rows.append(
            (
                "db.as_tensor(torch_t)",
                lambda: db.as_tensor(x),
                "np.from_dlpack(torch_t)",
                lambda: np.from_dlpack(x),
            )
        )
        rows.append(
            ("t.clone(), 16 MB", t_big.clone, "torch_t.clone()", torch.from_numpy(big).clone)
        )

    def seconds(fn: Callable[[], object]) -> float:
        number = max(1, int(number_scale * 20))
        return min(timeit.repeat(fn, number=number, repeat=5)) / number

    lines = [
        f"{'operation':<34} {'dlbridge':>10}   {'anchor':<26} {'anchor':>10}  ratio",
    ]
    for name, ours, anchor_name, anchor in rows:
        o, a = seconds(ours), seconds(anchor)
        lines.append(
            f"{name:<34} {o * 1e6:>8.1f}µs   {anchor_name:<26} {a * 1e6:>8.1f}µs  {o / a:5.2f}"
        )
    lines.append(
        "(ratio = dlbridge time / anchor time; below 1 is faster. "
        "benches/compare.py in the repository measures every goal.)"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
    sys.exit(0)
