"""Who may hold a Rust reference, tried against real writers: a NumPy thread,
a forked process, a large copy running without the GIL, and the registry
capsule of an older dlbridge.

Safe Rust must never hold `&[T]` over memory another party can write (a
data race is undefined behaviour): memory that came from Python only gets
guards bound to the GIL, shared-memory segments get none.
"""

import multiprocessing
import subprocess
import sys
import textwrap
import threading
import time

import dlbridge_example as ex
import numpy as np
import pytest
import torch

import dlbridge


def test_a_guard_without_the_token_is_refused_for_memory_from_python():
    for source in (
        np.ones(3),
        torch.ones(3, dtype=torch.float64),
        dlbridge.ones(3, dtype=dlbridge.float64),
    ):
        with pytest.raises(RuntimeError, match="shared with Python"):
            ex.sum_without_token(source)
    # Memory Rust made and still holds alone is Rust's to reference freely
    # (`eye` fills its own tensor through `as_slice_mut`, with no token).
    assert np.from_dlpack(ex.eye(2, 2)).tolist() == [[1.0, 0.0], [0.0, 1.0]]


def _write_forever(array, stop):
    while not stop.is_set():
        array[0] += 1


def test_a_numpy_thread_never_writes_under_an_attached_guard():
    array = np.zeros(4, dtype=np.uint64)
    stop = threading.Event()
    writer = threading.Thread(target=_write_forever, args=(array, stop))
    writer.start()
    try:
        # The writer runs whenever the GIL is free: the control.
        before = int(array[0])
        ex.release_gil(50)
        assert int(array[0]) > before, "the writer thread is not running"
        # Under the guard, for tens of millions of volatile reads, nothing
        # lands (the guard cannot leave the GIL-holding thread).
        for _ in range(5):
            assert ex.watch_first(array, 20_000_000) == 0
        before = int(array[0])
        ex.release_gil(50)
        assert int(array[0]) > before
    finally:
        stop.set()
        writer.join()


def _write_shared(tensor, started, stop):
    array = np.from_dlpack(tensor)
    started.set()
    while not stop.is_set():
        array[0] += 1


@pytest.mark.skipif(sys.platform != "linux", reason="shared memory segments are Linux-only")
def test_a_forked_process_writing_shared_memory_gets_no_guard_in_its_way():
    tensor = dlbridge.zeros(4, dtype=dlbridge.uint64)
    tensor.share_memory_()
    context = multiprocessing.get_context("fork")
    started, stop = context.Event(), context.Event()
    child = context.Process(target=_write_shared, args=(tensor, started, stop))
    child.start()
    try:
        assert started.wait(60)
        seen = np.from_dlpack(tensor)
        before = int(seen[0])
        deadline = time.monotonic() + 30
        while int(seen[0]) == before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert int(seen[0]) != before, "the child's writes are not seen"
        # No safe reference into a segment another process writes, attached or not.
        with pytest.raises(RuntimeError, match="shared-memory segment"):
            ex.watch_first(tensor, 1000)
        with pytest.raises(RuntimeError, match="shared-memory segment"):
            ex.can_write(dlbridge.zeros(2, dtype=dlbridge.float64).share_memory_())
        # Nor through another framework's object over the segment: the
        # registry knows the segment's addresses, whatever the route (a NumPy
        # array matched by the typed fast path, a torch tensor).
        shared32 = dlbridge.ones(3).share_memory_()
        with pytest.raises(RuntimeError, match="shared-memory segment"):
            ex.sum_f32(np.from_dlpack(shared32))
        with pytest.raises(RuntimeError, match="shared-memory segment"):
            ex.sum(torch.from_dlpack(shared32))
        # Copies out are the way, and a converting typed argument copies.
        assert tensor.clone().tolist()[1:] == [0, 0, 0]
        shared = dlbridge.arange(4, dtype=dlbridge.float64).share_memory_()
        for route in (shared, np.from_dlpack(shared)):
            mean, address = ex.mean_converted(route)
            assert mean == 1.5
            assert address != shared.data_ptr()
    finally:
        stop.set()
        child.join(60)
    assert child.exitcode == 0


def test_a_large_copy_without_the_gil_refuses_rust_writers_meanwhile():
    # 64 MiB: each clone runs without the GIL for milliseconds, under a
    # Python borrow that only Rust's mutable guards conflict with.
    tensor = dlbridge.zeros(8 << 20, dtype=dlbridge.float64)
    copies = 0

    def clone_repeatedly():
        nonlocal copies
        for _ in range(20):
            tensor.clone()
            copies += 1

    cloning = threading.Thread(target=clone_repeatedly)
    answers = set()
    cloning.start()
    while cloning.is_alive():
        answers.add(ex.can_write(tensor))
        # Python operations are never refused by the copy's borrow.
        assert tensor[0].item() == 0.0
    cloning.join()
    assert copies == 20
    assert False in answers, "no mutable guard was refused during a detached copy"
    assert ex.can_write(tensor)


def test_an_older_registry_capsule_is_refused_with_an_upgrade_message():
    # A fresh interpreter whose dlbridge module publishes a version-1 table
    # (a real capsule, made with ctypes), as an older dlbridge package would:
    # this extension's copy of dlbridge needs version 2 and says so.
    script = textwrap.dedent(
        """
        import ctypes
        import dlbridge._dlbridge as module

        table = (ctypes.c_uint64 * 8)(1)  # version 1, the rest never read
        new_capsule = ctypes.pythonapi.PyCapsule_New
        new_capsule.restype = ctypes.py_object
        new_capsule.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)
        # The capsule keeps a pointer to its name: the bytes must outlive it.
        name = b"dlbridge._dlbridge._BORROW_REGISTRY_API"
        module._BORROW_REGISTRY_API = new_capsule(ctypes.addressof(table), name, None)

        import numpy as np
        import dlbridge_example as ex
        try:
            ex.sum(np.ones(2))
        except RuntimeError as error:
            print("refused:", error)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "refused: the process-wide tensor borrow registry has version 1" in result.stdout
    assert "needs version 2 or newer (upgrade the dlbridge package)" in result.stdout
