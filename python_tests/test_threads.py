"""Python threads never refuse each other: dlbridge operations started from
Python check the borrow registry for Rust borrows but never register one, so a
write in one thread while a large copy runs without the GIL in another
succeeds, as it would with NumPy or torch."""

import threading
import time

import numpy as np

import dlbridge as db

# float32 elements: 4 MiB to read, 8 MiB to write as float64, well above the
# 1 MiB from which copies release the GIL.
N = 1 << 20
# Upper bound on the whole race, in seconds: enough for hundreds of copies.
TIME_LIMIT = 3.0


def race(copier, other, copies=200):
    """Runs `copier` up to `copies` times (or until TIME_LIMIT passes) in one
    thread, and `other` over and over in another for as long as the copier
    runs; returns every exception either raised."""
    errors = []
    started = threading.Barrier(2)
    done = threading.Event()
    deadline = time.monotonic() + TIME_LIMIT

    def copy_loop():
        started.wait()
        try:
            for _ in range(copies):
                if time.monotonic() > deadline:
                    break
                copier()
        except Exception as error:  # reported by the main thread
            errors.append(error)
        finally:
            done.set()

    def other_loop():
        started.wait()
        try:
            while not done.is_set():
                other()
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=f) for f in (copy_loop, other_loop)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_a_write_while_another_thread_converts_is_never_refused():
    t = db.as_tensor(np.zeros(N, dtype=np.float32))
    copies = []

    def convert():
        copies.append(t.to(db.float64).numel())

    def write():
        t[0] = 1.0
        t[N - 1 :] = 2.0

    assert race(convert, write) == []
    assert copies and set(copies) == {N}
    assert t[0].item() == 1.0 and t[N - 1].item() == 2.0


def test_reads_while_another_thread_clones_are_never_refused():
    t = db.as_tensor(np.ones(N, dtype=np.float32))
    reads = []

    def read():
        reads.append((t[:4].tolist(), repr(t[:2]), t[5].item(), bool(t[6])))
        t[:8] = t[8:16]  # a write from one view of the memory to another

    assert race(t.clone, read) == []
    assert reads, "the reader never ran while the copies did"
    assert reads[-1] == ([1.0] * 4, "tensor([1., 1.])", 1.0, True)
