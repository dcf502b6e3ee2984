"""Hardening: malformed producers and capsules, exceptions in flight, threads
and leaks. Every refused capsule's deleter runs exactly once."""

import ctypes
import gc
import threading

import numpy as np
import pytest
import torch
from conftest import KDL_FLOAT, KDL_INT, CraftedCapsule, collect, tracked_array

import dlbridge as db

REFUSED = (BufferError, ValueError, TypeError)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"shape": (1,) * 70, "strides": (1,) * 70}, id="ndim-beyond-any-tensor"),
        pytest.param({"version": (1, 2), "shape": (2, 2)}, id="dlpack-1.2-without-strides"),
        pytest.param({"shape": (2, -2)}, id="negative-dimension"),
        pytest.param({"shape": (2**62, 4)}, id="element-count-overflows"),
        pytest.param({"strides": (2**62,), "shape": (4,)}, id="extent-overflows"),
        pytest.param({"dtype": (KDL_FLOAT, 8, 1)}, id="float8-bits"),
        pytest.param({"dtype": (KDL_INT, 64, 4)}, id="four-lanes"),
        pytest.param({"version": (3, 0)}, id="major-version-3"),
    ],
)
def test_malformed_descriptors_are_buffer_errors_and_released_once(kwargs):
    crafted = CraftedCapsule([1, 2, 3, 4], **kwargs)
    # Held in a variable: the test producer's capsule destructor is Python
    # code (ctypes), which must not run while the exception is in flight.
    capsule = crafted.take()
    with pytest.raises(BufferError):
        db.from_dlpack(capsule)
    del capsule
    collect()
    assert crafted.deleted == 1


def test_a_capsule_with_another_name_is_refused_and_left_alone():
    pycapsule_new = ctypes.pythonapi.PyCapsule_New
    pycapsule_new.restype = ctypes.py_object
    pycapsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    buffer = ctypes.c_int64(7)
    stranger = pycapsule_new(ctypes.addressof(buffer), b"not_a_tensor", None)
    with pytest.raises(REFUSED):
        db.from_dlpack(stranger)


class Producer:
    """A producer whose __dlpack__ misbehaves in a chosen way."""

    def __init__(self, behaviour):
        self.behaviour = behaviour

    def __dlpack_device__(self):
        return (1, 0)

    def __dlpack__(self, **kwargs):
        return self.behaviour()


def test_a_producer_that_raises_passes_its_exception_through():
    def fail():
        raise KeyError("producer broke")

    with pytest.raises(KeyError, match="producer broke"):
        db.from_dlpack(Producer(fail))


def test_a_producer_that_returns_a_consumed_capsule_is_refused():
    capsule = np.arange(3).__dlpack__()
    db.from_dlpack(capsule)
    with pytest.raises(ValueError, match="consumed"):
        db.from_dlpack(Producer(lambda: capsule))


@pytest.mark.parametrize("returned", [None, 42, "capsule", object()], ids=repr)
def test_a_producer_that_returns_a_non_capsule_is_a_type_error(returned):
    with pytest.raises(TypeError):
        db.from_dlpack(Producer(lambda: returned))


def test_releasing_during_an_exception_does_not_clobber_it():
    a, finalizer = tracked_array([1.0, 2.0])

    def unwind(array):
        # These locals are released while LookupError unwinds the frame: an
        # unconsumed capsule, a torch consumer, and tensors whose storage
        # drops the last reference to a NumPy array.
        t = db.from_numpy(array)
        capsule = t.__dlpack__(max_version=(1, 0))  # never consumed
        consumer = torch.from_dlpack(db.from_numpy(array))
        assert capsule is not None and consumer.shape == (2,)
        raise LookupError("in flight")

    with pytest.raises(LookupError, match="in flight") as caught:
        unwind(a)
    assert caught.value.__context__ is None
    del a, caught
    collect()
    assert not finalizer.alive


def test_a_capsule_raced_by_two_threads_is_taken_once():
    for _ in range(50):
        capsule = np.arange(4.0).__dlpack__()
        barrier = threading.Barrier(2)
        taken, refused = [], []

        def consume(capsule=capsule, barrier=barrier, taken=taken, refused=refused):
            barrier.wait()
            try:
                taken.append(db.from_dlpack(capsule))
            except ValueError:
                refused.append(1)

        threads = [threading.Thread(target=consume) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert (len(taken), len(refused)) == (1, 1)
        assert taken[0].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_many_threads_import_export_slice_and_write_disjoint_rows():
    rows, cols, rounds = 8, 64, 200
    shared = np.zeros((rows, cols), dtype=np.float64)
    errors = []

    def worker(row):
        try:
            for k in range(rounds):
                t = db.from_numpy(shared)[row]
                t[k % cols] = float(row * 1000 + k)
                x = torch.from_dlpack(t)
                x[(k + 1) % cols] += 0.0
                copy = db.tensor(t).clone()
                assert copy.shape == (cols,)
                back = np.from_dlpack(db.as_tensor(x))
                assert back.ctypes.data == shared[row].ctypes.data
        except Exception as error:  # reported below, in the main thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(row,)) for row in range(rows)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for row in range(rows):
        for k in range(rounds - cols, rounds):
            assert shared[row, k % cols] == row * 1000 + k


def resident_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def test_thousands_of_round_trips_leave_memory_flat():
    def round_trips(n):
        for i in range(n):
            a = np.full(256, float(i))
            t = db.from_numpy(a)
            x = torch.from_dlpack(t)
            y = np.from_dlpack(db.as_tensor(x))
            assert y.ctypes.data == a.ctypes.data
            t.__dlpack__(max_version=(1, 0))  # a capsule never consumed
            db.from_dlpack(x.__dlpack__())  # a capsule consumed
            db.tensor([1.0, 2.0]).clone().to(db.float16)

    round_trips(2000)  # warm up caches and allocator pools
    gc.collect()
    before = resident_bytes()
    round_trips(10_000)
    gc.collect()
    grown = resident_bytes() - before
    # A leak of even one 2 KiB array per round would be 20 MB.
    assert grown < 4 * 2**20, f"resident memory grew by {grown} bytes"


def test_sources_are_collected_once_every_user_is_gone():
    finalizers = []
    keep = []
    for i in range(500):
        a, finalizer = tracked_array([float(i)] * 4)
        finalizers.append(finalizer)
        t = db.from_numpy(a)
        keep.append((torch.from_dlpack(t), t.__dlpack__(max_version=(1, 0))))
        del a, t
    collect()
    assert all(f.alive for f in finalizers)
    keep.clear()
    collect()
    assert not any(f.alive for f in finalizers)
