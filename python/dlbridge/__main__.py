"""``python -m dlbridge``: an environment report and a live demonstration of
dlbridge's zero-copy rules (``--env`` for the report alone, ``--bench`` for a quick
comparison with NumPy and PyTorch on this machine).

It replays the four examples of PyTorch's zero-copy contract (``from_numpy`` and
``as_tensor`` share memory, ``tensor`` and ``clone`` copy) with dlbridge instead of
torch, then, when PyTorch is installed, lets torch read the dlbridge tensors through
``torch.from_dlpack``. Every "shared" or "fresh copy" it prints comes from comparing
data pointers (``a.ctypes.data``, ``t.data_ptr()``, ``x.data_ptr()``), never from the
documentation; if one disagrees with the contract, the demo says so and exits with 1.

torch is imported here only, never by ``import dlbridge``.
"""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stdout
from typing import Any

import numpy as np

import dlbridge as db

SHARED = "shared"
COPY = "fresh copy"


class _Session:
    """Runs demo lines like an interactive interpreter and checks pointer claims."""

    def __init__(self, torch: Any | None) -> None:
        self.torch = torch
        self.ns: dict[str, Any] = {"np": np, "db": db, "torch": torch}
        self.surprises: list[str] = []

    def title(self, number: int, text: str) -> None:
        print(f"\n{number}. {text}")

    def note(self, text: str) -> None:
        print(f"   {text}")

    def run(self, *lines: str) -> None:
        """Echo each line with a ``>>>`` prompt, then execute it as the REPL would.

        Compiling in "single" mode prints the repr of bare expressions, exactly like
        typing them at the prompt, so the text shown is the code that ran.
        """
        for line in lines:
            print(f"   >>> {line}")
            out = io.StringIO()
            with redirect_stdout(out):
                exec(compile(line, "<dlbridge demo>", "single"), self.ns)
            for printed in out.getvalue().splitlines():
                print(f"   {printed}")

    def pointers(self, source: str, derived: str, expect: str, *, short: bool = False) -> None:
        """Print two data pointers and whether they are equal; record a surprise.

        With ``short``, only ``derived`` is printed, followed by "shared with <source>".
        """
        p = int(eval(source, self.ns))
        q = int(eval(derived, self.ns))
        seen = SHARED if p == q else COPY
        if short:
            print(f"   {derived} = {q:#x}   -> {seen} with {source}")
        else:
            width = max(len(source), len(derived))
            print(f"   {source:<{width}} = {p:#x}")
            print(f"   {derived:<{width}} = {q:#x}   -> {seen}")
        if seen != expect:
            message = f"{derived} vs {source}: expected {expect}, got {seen}"
            print(f"   !! {message}")
            self.surprises.append(message)

    def torch_reads(self, name: str) -> None:
        """Let PyTorch consume ``name`` through DLPack and compare its data pointer."""
        if self.torch is None:
            return
        self.note(f"PyTorch consumes {name} through DLPack, without copying:")
        self.run(f"x = torch.from_dlpack({name})")
        self.pointers(f"{name}.data_ptr()", "x.data_ptr()", expect=SHARED, short=True)


def _version(dist: str, module: Any) -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version(dist)
    except (ImportError, PackageNotFoundError):
        return str(getattr(module, "__version__", "unknown"))


def main(argv: list[str] | None = None) -> int:
    import argparse

    from dlbridge import _report

    parser = argparse.ArgumentParser(prog="python -m dlbridge", description=__doc__)
    parser.add_argument("--env", action="store_true", help="print the environment report only")
    parser.add_argument("--bench", action="store_true", help="time dlbridge against the anchors")
    args = parser.parse_args(argv)
    print(_report.report())
    print()
    if args.env:
        return 0
    if args.bench:
        print(_report.bench())
        return 0
    return demo()


def demo() -> int:
    """The seed document's examples, run through dlbridge, with pointer checks."""
    try:
        import torch
    except ImportError:
        torch = None

    s = _Session(torch)
    versions = f"numpy {np.__version__}"
    versions += f", torch {torch.__version__}" if torch is not None else ", torch not installed"
    print(f"dlbridge {_version('dlbridge', db)}: zero-copy demo ({versions})")
    print("Pointers are compared at run time: equal addresses mean shared memory.")

    s.title(1, "db.from_numpy(arr) shares memory with the NumPy array")
    s.run(
        "arr = np.array([1, 2, 3])",
        "t = db.from_numpy(arr)  # zero-copy",
        "t[0] = 10",
        "print(arr)",
    )
    s.pointers("arr.ctypes.data", "t.data_ptr()", expect=SHARED)
    s.torch_reads("t")
    if torch is not None:
        s.run("x[1] = 20  # a write through torch reaches the NumPy array", "print(arr)")

    s.title(2, "db.as_tensor(arr) shares memory when no conversion is needed")
    s.run(
        "arr = np.array([1, 2, 3])",
        "t = db.as_tensor(arr)  # zero-copy with NumPy",
        "t[0] = 20",
        "print(arr)",
    )
    s.pointers("arr.ctypes.data", "t.data_ptr()", expect=SHARED)
    s.torch_reads("t")
    s.note("A dtype change cannot share memory, so it copies:")
    s.run("f = db.as_tensor(arr, dtype=db.float64)", "f")
    s.pointers("arr.ctypes.data", "f.data_ptr()", expect=COPY)
    s.note("A Python list has no buffer to share: as_tensor copies it into a new tensor.")
    s.run("db.as_tensor([1, 2, 3])")

    s.title(3, "db.tensor(arr) always copies")
    s.run(
        "arr = np.array([1, 2, 3])",
        "t = db.tensor(arr)  # data is copied",
        "t[0] = 30",
        "print(arr)",
    )
    s.pointers("arr.ctypes.data", "t.data_ptr()", expect=COPY)
    s.torch_reads("t")

    s.title(4, "t.clone() makes an independent copy")
    s.run(
        "original = db.tensor([1, 2, 3])",
        "cloned = original.clone()",
        "cloned[0] = 40",
        "print(original)",
    )
    s.pointers("original.data_ptr()", "cloned.data_ptr()", expect=COPY)
    s.torch_reads("cloned")

    s.title(5, "Back to NumPy: t.numpy() and np.from_dlpack(t) share memory too")
    s.run("t = db.from_numpy(np.arange(4.0))", "v = t.numpy()", "w = np.from_dlpack(t)")
    s.pointers("t.data_ptr()", "v.ctypes.data", expect=SHARED)
    s.pointers("t.data_ptr()", "w.ctypes.data", expect=SHARED, short=True)

    if torch is None:
        print("\n(PyTorch is not installed: `pip install torch` to watch torch.from_dlpack")
        print(" read dlbridge tensors without copying.)")

    if s.surprises:
        print("\ndlbridge did NOT follow PyTorch's zero-copy contract here:", file=sys.stderr)
        for message in s.surprises:
            print(f"  - {message}", file=sys.stderr)
        return 1
    print("\nEvery pointer comparison matched PyTorch's zero-copy contract.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
