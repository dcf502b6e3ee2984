"""dlbridge against PyTorch and NumPy, side by side, in one run.

    python benches/compare.py [--quick] [--out docs]

Each row times a dlbridge operation and its anchor on the same data, reports both
medians and their ratio (dlbridge / anchor; below 1 means dlbridge is faster), and
checks it against the goal from the speed issue. The table goes to stdout and to
``<out>/benchmarks.md``; with matplotlib installed, a plot goes to
``<out>/benchmarks.png``. The extension-call section that
``benches/extension_calls/run.sh`` measured (``benches/extension_calls/results.md``)
is kept at the end of the page. Timings are not tests: nothing here asserts.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import dlbridge as db

MB = 1 << 20
# benches/extension_calls/runner.py writes its table to this file and under this
# marker at the end of benchmarks.md; rewriting the page here keeps that section.
EXTENSION_CALLS = Path(__file__).parent / "extension_calls" / "results.md"
EXTENSION_MARKER = "<!-- extension_calls: written by benches/extension_calls/runner.py -->"


@dataclass
class Row:
    name: str
    anchor_name: str
    goal: float
    ours: float
    anchor: float

    @property
    def ratio(self) -> float:
        return self.ours / self.anchor

    @property
    def met(self) -> bool:
        return self.ratio <= self.goal


def median_time(fn: Callable[[], object], *, budget: float, min_runs: int = 5) -> float:
    """Median seconds per call: calls are batched so a batch takes >= 1 ms,
    and batches repeat until `budget` seconds or `min_runs` batches."""
    fn()
    batch = 1
    while True:
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= 1e-3 or batch >= 1 << 20:
            break
        batch *= 4
    samples = [elapsed / batch]
    deadline = time.perf_counter() + budget
    while len(samples) < min_runs or time.perf_counter() < deadline:
        gc.collect()
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter() - start) / batch)
        if len(samples) >= 200:
            break
    return statistics.median(samples)


def rows(quick: bool) -> list[Row]:
    budget = 0.3 if quick else 1.5
    big = 25 * MB // 4 if quick else 100 * MB // 4  # float32 elements
    side = 1024 if quick else 4096
    n_list = 100_000 if quick else 1_000_000

    small = np.arange(16, dtype=np.float32)
    torch_small = torch.arange(16, dtype=torch.float32)
    t_small = db.from_numpy(small.copy())
    a_big = np.random.default_rng(0).random(big, dtype=np.float32)
    torch_big = torch.from_numpy(a_big.copy())
    t_big = db.from_numpy(a_big.copy())
    a_sq = np.random.default_rng(1).random((side, side), dtype=np.float32)
    torch_sq = torch.from_numpy(a_sq.copy())
    t_sq_t = db.from_numpy(a_sq.copy()).T
    floats = np.random.default_rng(2).random(n_list).tolist()
    ints = list(range(n_list))
    t_set = db.tensor(np.zeros(64, dtype=np.float32))
    torch_set = torch.zeros(64)

    def set_ours():
        t_set[3] = 1.5

    def set_torch():
        torch_set[3] = 1.5

    specs = [
        (
            "from_numpy(a), 16 floats",
            "torch.from_numpy(a)",
            0.8,
            lambda: db.from_numpy(small),
            lambda: torch.from_numpy(small),
        ),
        (
            "as_tensor(torch_t)",
            "np.from_dlpack(torch_t)",
            0.15,
            lambda: db.as_tensor(torch_small),
            lambda: np.from_dlpack(torch_small),
        ),
        (
            "torch.from_dlpack(t)",
            "torch.from_dlpack(numpy_array)",
            1.1,
            lambda: torch.from_dlpack(t_small),
            lambda: torch.from_dlpack(small),
        ),
        (
            "np.from_dlpack(t)",
            "np.from_dlpack(numpy_array)",
            1.1,
            lambda: np.from_dlpack(t_small),
            lambda: np.from_dlpack(small),
        ),
        (
            f"tensor(a), {big * 4 // MB} MB float32",
            "a.copy()",
            1.0,
            lambda: db.tensor(a_big),
            lambda: a_big.copy(),
        ),
        (
            f"t.clone(), {big * 4 // MB} MB",
            "torch_t.clone()",
            1.0,
            lambda: t_big.clone(),
            lambda: torch_big.clone(),
        ),
        (
            f"contiguous() of transposed {side}x{side} f32",
            "torch_t.T.contiguous()",
            1.0,
            lambda: t_sq_t.contiguous(),
            lambda: torch_sq.T.contiguous(),
        ),
        (
            f"to(float16), {big * 4 // MB} MB float32",
            "torch_t.to(torch.float16)",
            1.0,
            lambda: t_big.to(db.float16),
            lambda: torch_big.to(torch.float16),
        ),
        (
            f"tensor(list of {n_list:.0e} floats)",
            "np.array(list)",
            0.8,
            lambda: db.tensor(floats),
            lambda: np.array(floats),
        ),
        (
            f"tensor(list of {n_list:.0e} ints)",
            "torch.tensor(list)",
            0.25,
            lambda: db.tensor(ints),
            lambda: torch.tensor(ints),
        ),
        ("t[i] = scalar", "torch_t[i] = scalar", 1.0, set_ours, set_torch),
    ]
    out = []
    for name, anchor_name, goal, ours, anchor in specs:
        # Interleave so that drift on the machine affects both sides alike.
        a1 = median_time(anchor, budget=budget / 2)
        o1 = median_time(ours, budget=budget / 2)
        a2 = median_time(anchor, budget=budget / 2)
        o2 = median_time(ours, budget=budget / 2)
        row = Row(name, anchor_name, goal, min(o1, o2), min(a1, a2))
        out.append(row)
        print(f"  {name:<42} {row.ratio:6.2f}  (goal <= {goal})", file=sys.stderr)
    return out


MEMORY_PROBE = r"""
import sys
import numpy as np
import dlbridge as db
def rss(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
def reset_peak():
    # Linux: writing 5 to clear_refs resets VmHWM (the peak RSS) to the current RSS.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
kind = sys.argv[1]
if kind == "from_numpy":
    a = np.ones(1 << 28, dtype=np.float32)  # 1 GiB, touched
    reset_peak()
    before = rss("VmRSS")
    t = db.from_numpy(a)
    print(rss("VmHWM") - before, 0)
else:
    values = [float(i) for i in range(4_000_000)]
    reset_peak()
    before = rss("VmRSS")
    t = db.tensor(values)
    print(rss("VmHWM") - before, t.nbytes)
"""


def memory() -> list[tuple[str, str, bool]]:
    out = []
    run = [sys.executable, "-c", MEMORY_PROBE]
    grown, _ = map(int, subprocess.check_output([*run, "from_numpy"]).split())
    out.append(("from_numpy of a 1 GiB array: peak RSS added", f"{grown / MB:.2f} MiB", grown < MB))
    grown, final = map(int, subprocess.check_output([*run, "list"]).split())
    # The list already exists before the call, so the allowance is 1.1x the tensor.
    out.append(
        (
            "tensor(list of 4e6 floats): peak RSS added / final tensor",
            f"{grown / final:.2f}x",
            grown <= 1.1 * final,
        )
    )
    return out


def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def table(results: list[Row], mem: list[tuple[str, str, bool]]) -> str:
    lines = [
        "| operation | dlbridge | anchor | anchor time | ratio | goal | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| `{r.name}` | {fmt_time(r.ours)} | `{r.anchor_name}` | {fmt_time(r.anchor)} "
            f"| {r.ratio:.2f} | <= {r.goal} | {'yes' if r.met else '**no**'} |"
        )
    lines += ["", "| memory | measured | met |", "| --- | --- | --- |"]
    for name, value, met in mem:
        lines.append(f"| {name} | {value} | {'yes' if met else '**no**'} |")
    return "\n".join(lines)


def plot(results: list[Row], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(9, 5.5))
    names = [r.name for r in results][::-1]
    ratios = [r.ratio for r in results][::-1]
    goals = [r.goal for r in results][::-1]
    colors = ["#2a9d8f" if r <= g else "#e76f51" for r, g in zip(ratios, goals, strict=True)]
    ax.barh(names, ratios, color=colors)
    ax.scatter(goals, names, marker="|", s=300, color="black", label="goal")
    ax.set_xscale("log")
    ax.axvline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("dlbridge time / anchor time (log scale; lower is faster)")
    ax.set_title("dlbridge vs PyTorch and NumPy")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, shorter runs")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent.parent / "docs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"dlbridge {db.__version__}, numpy {np.__version__}, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        file=sys.stderr,
    )
    results = rows(args.quick)
    mem = memory()
    text = table(results, mem)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    header = (
        "# Benchmarks\n\n"
        f"`python benches/compare.py{' --quick' if args.quick else ''}` on "
        f"{platform.machine()} ({os.cpu_count()} cores), Python {platform.python_version()}, "
        f"numpy {np.__version__}, torch {torch.__version__} (torch.set_num_threads(1)). "
        "Medians; ratio = dlbridge / anchor.\n\n"
    )
    page = header + text + "\n\n![ratios](benchmarks.png)\n"
    if EXTENSION_CALLS.exists():
        page += f"\n{EXTENSION_MARKER}\n\n{EXTENSION_CALLS.read_text()}"
    (args.out / "benchmarks.md").write_text(page)
    plot(results, args.out / "benchmarks.png")


if __name__ == "__main__":
    main()
