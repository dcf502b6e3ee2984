"""Across processes: dlbridge against NumPy and torch through pickle protocol 5,
Ray, Dask distributed and multiprocessing, in one run.

    python benches/processes.py [--mb 200] [--rounds 3] [--out FILE]

Needs ray and distributed (``pip install ray distributed``; the test script
installs both). Each cell is the best of ``--rounds`` rounds on a float32 tensor of
``--mb`` megabytes; the table goes to stdout and, with ``--out``, to a file
(docs/processes.md quotes it). Timings are not tests: nothing here asserts. A
local Ray instance (two CPUs, no dashboard) and a Dask ``LocalCluster`` (two worker
processes) are started and shut down here.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import pickle
import platform
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

import dlbridge as db

MB = 1 << 20
LIBS = ("numpy", "dlbridge", "torch")


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / MB


def best(rounds: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def fmt_time(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def identity(x):
    return x


def first(x):
    return x[0].item() if hasattr(x[0], "item") else x[0]


def make(mb: int) -> dict[str, object]:
    a = np.arange(mb * MB // 4, dtype=np.float32)
    return {"numpy": a, "dlbridge": db.tensor(a), "torch": torch.from_numpy(a.copy())}


def pickle_row(values: dict[str, object], rounds: int) -> dict[str, str]:
    row = {}
    for lib, x in values.items():
        buffers: list[pickle.PickleBuffer] = []

        def dump(x=x, buffers=buffers):
            buffers.clear()
            return pickle.dumps(x, protocol=5, buffer_callback=buffers.append)

        seconds = best(rounds, dump)
        row[lib] = f"{len(buffers)} buffer(s), {len(dump())} B in band, {fmt_time(seconds)}"
    return row


def ray_rows(values: dict[str, object], rounds: int, mb: int) -> list[tuple[str, dict[str, str]]]:
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=8 * mb * MB,
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        remote_identity = ray.remote(identity)
        get_row, task_row = {}, {}
        for lib, x in values.items():
            ref = ray.put(x)
            added = []

            def get(ref=ref, added=added):
                before = rss_mb()
                y = ray.get(ref)
                added.append(rss_mb() - before)
                del y

            seconds = best(rounds, get)
            get_row[lib] = f"{fmt_time(seconds)}, +{min(added):.1f} MB"

            def task(x=x):
                return ray.get(remote_identity.remote(x), timeout=600)

            task(x)  # the worker starts and imports once, outside the timing
            task_row[lib] = fmt_time(best(rounds, task))
            del ref
        return [
            ("`ray.get` of a stored object (time, RSS added)", get_row),
            ("Ray task round trip (`ray.get(f.remote(x))`)", task_row),
        ]
    finally:
        ray.shutdown()


def dask_row(values: dict[str, object], rounds: int) -> dict[str, str]:
    from distributed import Client, LocalCluster

    row = {}
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        for lib, x in values.items():

            def round_trip(x=x):
                future = client.scatter(x)
                return client.submit(identity, future, pure=False).result(timeout=600)

            round_trip()
            row[lib] = fmt_time(best(rounds, round_trip))
    return row


def pool_row(values: dict[str, object], rounds: int) -> dict[str, str]:
    shared = {
        "numpy": values["numpy"],  # no shared memory: pickled
        "dlbridge": db.tensor(values["numpy"]).share_memory_(),
        "torch": torch.from_numpy(values["numpy"].copy()).share_memory_(),
    }
    row = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        for lib, x in shared.items():
            pool.submit(first, x).result()  # the worker imports once, outside the timing

            def round_trip(x=x):
                return pool.submit(identity, x).result(timeout=600)

            row[lib] = fmt_time(best(rounds, round_trip))
    row["numpy"] += " (pickled)"
    row["dlbridge"] += " (`share_memory_()`)"
    row["torch"] += " (`share_memory_()`)"
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="tensor size in MB")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per cell (best counts)")
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args()

    values = make(args.mb)
    rows = [("`pickle.dumps(x, protocol=5, buffer_callback=...)`", pickle_row(values, args.rounds))]
    rows += ray_rows(values, args.rounds, args.mb)
    rows.append(("Dask `scatter` + task round trip", dask_row(values, args.rounds)))
    rows.append(("`ProcessPoolExecutor` round trip (spawn)", pool_row(values, args.rounds)))

    import distributed
    import ray

    lines = [
        f"{args.mb} MB float32, best of {args.rounds}; `python benches/processes.py` on "
        f"{platform.machine()}, Python {platform.python_version()}, numpy {np.__version__}, "
        f"torch {torch.__version__}, Ray {ray.__version__}, Dask {distributed.__version__}.",
        "",
        "| | NumPy | dlbridge | torch |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {name} | " + " | ".join(row[lib] for lib in LIBS) + " |" for name, row in rows]
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "w") as out:
            out.write(table + "\n")


if __name__ == "__main__":
    main()
