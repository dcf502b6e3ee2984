"""One call into three extensions doing the same work: dlbridge, rust-numpy, nanobind.

    python benches/extension_calls/runner.py [--quick] [--no-docs]

Each row times the same call through the three extensions (built by ``run.sh``),
interleaved in one process: every round times each library once, in turn, and the
best round counts (``timeit``, minimum over rounds, per call). The ratios are
dlbridge / rust-numpy and dlbridge / nanobind (below 1 means dlbridge is faster).

The table goes to stdout and to ``results.md`` next to this file; unless
``--no-docs``, it also replaces the extension-call section of
``docs/benchmarks.md`` (``benches/compare.py`` keeps that section when it
rewrites the page). Timings are not tests: nothing here asserts on speed.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

import ext_dlbridge
import ext_nanobind
import ext_rust_numpy
import numpy as np
import torch

import dlbridge as db

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RESULTS = HERE / "results.md"
DOC = REPO / "docs" / "benchmarks.md"
# Everything from this line on in docs/benchmarks.md is this benchmark's.
MARKER = "<!-- extension_calls: written by benches/extension_calls/runner.py -->"
LIBS = ("dlbridge", "rust-numpy", "nanobind")
N = 16

Call = Callable[[], object]


def rows() -> list[tuple[str, dict[str, tuple[str, Call]]]]:
    """The rows: a name, then per library what the caller writes and the call."""
    a = np.arange(N, dtype=np.float32)
    t = torch.arange(N, dtype=torch.float32)
    dl, rn, nb = ext_dlbridge, ext_rust_numpy, ext_nanobind
    return [
        (
            f"sum_f32(numpy f32[{N}])",
            {
                "dlbridge": ("sum_f32(a)", lambda: dl.sum_f32(a)),
                "rust-numpy": ("sum_f32(a)", lambda: rn.sum_f32(a)),
                "nanobind": ("sum_f32(a)", lambda: nb.sum_f32(a)),
            },
        ),
        (
            f"sum_f32(torch f32[{N}])",
            {
                "dlbridge": ("sum_f32(t)", lambda: dl.sum_f32(t)),
                "rust-numpy": ("sum_f32(t.numpy())", lambda: rn.sum_f32(t.numpy())),
                "nanobind": ("sum_f32(t)", lambda: nb.sum_f32(t)),
            },
        ),
        (
            f"make({N}), the library's own object",
            {
                "dlbridge": ("make(n)  # a dlbridge.Tensor", lambda: dl.make(N)),
                "rust-numpy": ("make(n)  # an ndarray", lambda: rn.make(N)),
                "nanobind": ("make(n)  # an ndarray", lambda: nb.make(N)),
            },
        ),
        (
            f"make({N}), caller gets a torch tensor",
            {
                "dlbridge": ("make_torch(n)", lambda: dl.make_torch(N)),
                "rust-numpy": ("torch.from_numpy(make(n))", lambda: torch.from_numpy(rn.make(N))),
                "nanobind": ("make_torch(n)", lambda: nb.make_torch(N)),
            },
        ),
        (
            f"make({N}), caller gets a NumPy array",
            {
                "dlbridge": ("make_numpy(n)", lambda: dl.make_numpy(N)),
                "rust-numpy": ("make(n)", lambda: rn.make(N)),
                "nanobind": ("make(n)", lambda: nb.make(N)),
            },
        ),
        (
            f"make({N}) from an owner (a Box, a capsule), to NumPy",
            {
                "dlbridge": ("make_owner_numpy(n)", lambda: dl.make_owner_numpy(N)),
                "rust-numpy": ("make(n)  # PyArray::from_vec", lambda: rn.make(N)),
                "nanobind": ("make(n)", lambda: nb.make(N)),
            },
        ),
    ]


def check() -> None:
    """The three extensions compute the same thing (a wrong build times nothing)."""
    a = np.arange(N, dtype=np.float32)
    t = torch.arange(N, dtype=torch.float32)
    total = float(sum(range(N)))
    for lib in (ext_dlbridge, ext_rust_numpy, ext_nanobind):
        assert lib.sum_f32(a) == total, lib
    assert ext_dlbridge.sum_f32(t) == ext_nanobind.sum_f32(t) == total
    assert ext_rust_numpy.sum_f32(t.numpy()) == total
    expected = np.arange(N, dtype=np.float32)
    assert isinstance(ext_dlbridge.make(N), db.Tensor)
    for made in (
        ext_dlbridge.make_numpy(N),
        ext_dlbridge.make_owner_numpy(N),
        ext_rust_numpy.make(N),
        ext_nanobind.make(N),
    ):
        assert isinstance(made, np.ndarray) and np.array_equal(made, expected)
    for made in (ext_dlbridge.make_torch(N), ext_nanobind.make_torch(N)):
        assert isinstance(made, torch.Tensor) and torch.equal(made, torch.from_numpy(expected))


def measure(calls: dict[str, tuple[str, Call]], rounds: int, batch_s: float) -> dict[str, float]:
    """Seconds per call for each library: minimum over interleaved rounds."""
    timers = {lib: timeit.Timer(fn) for lib, (_, fn) in calls.items()}
    numbers = {}
    for lib, timer in timers.items():
        # Calls per batch so that one batch takes about batch_s.
        number, elapsed = 1, 0.0
        while elapsed < batch_s / 10:
            number *= 10
            elapsed = timer.timeit(number)
        numbers[lib] = max(1, int(number * batch_s / elapsed))
    best = dict.fromkeys(timers, float("inf"))
    for _ in range(rounds):
        for lib, timer in timers.items():
            best[lib] = min(best[lib], timer.timeit(numbers[lib]) / numbers[lib])
    return best


def table(results: list[tuple[str, dict[str, tuple[str, Call]], dict[str, float]]]) -> str:
    lines = [
        "| call | dlbridge | rust-numpy | nanobind | dlbridge / rust-numpy | dlbridge / nanobind |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, _, best in results:
        cells = [f"{best[lib] * 1e6:.3f} µs" for lib in LIBS]
        lines.append(
            f"| {name} | {' | '.join(cells)} "
            f"| {best['dlbridge'] / best['rust-numpy']:.2f} "
            f"| {best['dlbridge'] / best['nanobind']:.2f} |"
        )
    lines += ["", "What the caller writes in each row:", ""]
    lines += ["| call | dlbridge | rust-numpy | nanobind |", "| --- | --- | --- | --- |"]
    for name, calls, _ in results:
        lines.append(f"| {name} | " + " | ".join(f"`{calls[lib][0]}`" for lib in LIBS) + " |")
    return "\n".join(lines)


def splice(doc: Path, section: str) -> None:
    """Replaces the extension-call section at the end of `doc` (or adds it)."""
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    head = text.split(MARKER)[0].rstrip("\n")
    doc.write_text(f"{head}\n\n{MARKER}\n\n{section}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone")
    args = parser.parse_args()
    torch.set_num_threads(1)
    check()
    rounds, batch_s = (10, 0.005) if args.quick else (50, 0.02)
    results = []
    for name, calls in rows():
        best = measure(calls, rounds, batch_s)
        results.append((name, calls, best))
        times = "  ".join(f"{best[lib] * 1e6:7.3f}" for lib in LIBS)
        print(f"  {name:<40} {times}", file=sys.stderr)
    text = table(results)
    print(text)
    import nanobind

    section = (
        "## One call into an extension: dlbridge, rust-numpy, nanobind\n\n"
        "Three extensions doing the same work, in `benches/extension_calls/`: "
        f"`sum_f32` of a float32 vector of {N} and `make(n)`, a Rust- or C++-allocated "
        "vector returned without a copy. "
        f"`bash benches/extension_calls/run.sh{' --quick' if args.quick else ''}` on "
        f"{platform.machine()} ({os.cpu_count()} cores), Python {platform.python_version()}, "
        f"numpy {np.__version__}, torch {torch.__version__}, nanobind {nanobind.__version__}. "
        "Each cell is the fastest of interleaved rounds (timeit); the second table is what "
        "the caller writes for each library. Ratios below 1 mean dlbridge is faster.\n\n"
        f"{text}\n"
    )
    RESULTS.write_text(section)
    if not args.no_docs:
        splice(DOC, section)


if __name__ == "__main__":
    main()
