"""``share_memory_()`` and ``is_shared()``, as torch has them: a tensor's memory
moves into a shared-memory segment in place, and ``multiprocessing`` then sends
a handle, not the bytes; both processes see each other's writes.

Adapted from PyTorch's test/test_multiprocessing.py (``test_fd_sharing``,
``test_fs_preserve_sharing``, ``test_is_shared``, ``_test_sharing``'s queue
round trips), with dlbridge tensors and both the fork and spawn start methods.
"""

import gc
import multiprocessing
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import dlbridge as db
from dlbridge import _dlbridge

# Not "fork" here: other tests load JAX, whose threads make forking this
# process unsafe (JAX warns); `test_fork_in_a_fresh_interpreter` covers it.
CONTEXTS = ["forkserver", "spawn"]
TIMEOUT = 120


def _segments():
    """This process's descriptors and mappings of dlbridge's memory files."""
    fds = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            fds += os.readlink(f"/proc/self/fd/{name}").startswith("/memfd:dlbridge")
        except OSError:
            pass  # the descriptor listdir itself used
    with open("/proc/self/maps") as maps:
        mappings = sum("/memfd:dlbridge" in line for line in maps)
    return fds, mappings


def _dev_shm():
    return set(os.listdir("/dev/shm"))


def _write_and_return(tensor, index, value):
    tensor[index] = value
    return tensor


def _describe(tensor):
    return tensor.is_shared(), tensor.readonly, tensor.tolist()


def _queue_worker(inbox, outbox):
    tensor = inbox.get(timeout=TIMEOUT)
    tensor[0] = -1.0
    outbox.put((tensor.is_shared(), tensor.tolist()))


def test_share_memory_moves_in_place_and_views_follow():
    t = db.tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    before = t.T  # a view made before the move
    assert not t.is_shared() and not before.is_shared()
    old_address = t.data_ptr()
    assert t.share_memory_() is t
    assert t.is_shared() and before.is_shared() and t[1:].is_shared()
    assert t.data_ptr() != old_address
    assert t.tolist() == np.arange(12, dtype=np.float32).reshape(3, 4).tolist()
    t[0, 1] = 100.0
    assert before[1, 0] == 100.0  # the view reads the shared memory too
    # A second call changes nothing.
    address = t.data_ptr()
    t.share_memory_()
    assert t.data_ptr() == address


@pytest.mark.parametrize("dtype", [db.bool, db.int8, db.float16, db.bfloat16, db.complex128])
def test_every_dtype_keeps_its_values(dtype):
    t = db.tensor([[1, 0, 1], [0, 1, 1]], dtype=dtype)
    values = t.tolist()
    t.share_memory_()
    assert t.tolist() == values and t.dtype == dtype


def test_views_with_negative_strides_and_offsets_move_their_whole_storage():
    base = db.tensor(np.arange(10, dtype=np.int64))
    reversed_tail = base[9:2:-1]
    reversed_tail.share_memory_()
    assert base.is_shared()
    assert reversed_tail.tolist() == list(range(9, 2, -1))
    base[0] = 50
    assert base.tolist()[0] == 50


def test_aliases_exported_before_the_move_keep_the_old_memory_alive():
    t = db.tensor(np.arange(4, dtype=np.float64))
    alias = np.from_dlpack(t)
    t.share_memory_()
    t[0] = 9.0
    del t
    gc.collect()
    # The NumPy view still reads valid memory: the values from before the move.
    assert alias.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_empty_and_read_only_tensors():
    empty = db.tensor(np.zeros((0, 3), dtype=np.float32))
    assert empty.share_memory_().is_shared() and empty.shape == (0, 3)
    frozen = np.arange(3.0)
    frozen.flags.writeable = False
    t = db.from_numpy(frozen).share_memory_()
    assert t.is_shared() and t.readonly


@pytest.mark.parametrize("method", CONTEXTS)
def test_process_pool_round_trip_shares_memory_both_ways(method):
    before_segments, before_shm = _segments(), _dev_shm()
    t = db.tensor(np.zeros(1000, dtype=np.float32)).share_memory_()
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        back = pool.submit(_write_and_return, t, 3, 7.0).result(timeout=TIMEOUT)
        assert t[3] == 7.0  # the child's write, seen here
        assert back.is_shared() and back.data_ptr() != t.data_ptr()
        back[4] = 8.0
        assert t[4] == 8.0  # one memory, mapped twice
        assert pool.submit(_describe, t).result(timeout=TIMEOUT)[0]
    del t, back
    gc.collect()
    assert _dev_shm() == before_shm  # nothing named, nothing left behind
    assert _segments() == before_segments  # every descriptor closed, every mapping gone


@pytest.mark.parametrize("method", CONTEXTS)
def test_queues_and_processes(method):
    context = multiprocessing.get_context(method)
    t = db.tensor([1.0, 2.0, 3.0]).share_memory_()
    inbox, outbox = context.Queue(), context.Queue()
    worker = context.Process(target=_queue_worker, args=(inbox, outbox))
    worker.start()
    try:
        inbox.put(t)
        assert outbox.get(timeout=TIMEOUT) == (True, [-1.0, 2.0, 3.0])
        assert t.tolist() == [-1.0, 2.0, 3.0]
    finally:
        worker.join(timeout=TIMEOUT)
    assert worker.exitcode == 0


def test_pool_map_receives_read_only_flags():
    frozen = np.arange(4.0)
    frozen.flags.writeable = False
    t = db.from_numpy(frozen).share_memory_()
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        [(shared, readonly, values)] = pool.map(_describe, [t], chunksize=1)
    assert (shared, readonly, values) == (True, True, [0.0, 1.0, 2.0, 3.0])


def test_tensors_not_shared_are_copied():
    t = db.tensor(np.zeros(4, dtype=np.float32))
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        back = pool.submit(_write_and_return, t, 0, 5.0).result(timeout=TIMEOUT)
    assert back.tolist()[0] == 5.0 and t.tolist()[0] == 0.0
    assert not back.is_shared()


def test_received_handles_are_checked():
    t = db.tensor(np.arange(4, dtype=np.float32)).share_memory_()
    fd, offset, shape, strides, dtype, readonly = t._shared_handle()

    good = dict(offset=offset, shape=shape, strides=strides, dtype=dtype, readonly=readonly)

    def rebuild(**changes):
        args = {**good, **changes}
        # The descriptor is the call's: kept by the tensor, or closed on failure.
        return _dlbridge._from_shared(os.dup(fd), **args)

    again = rebuild()
    assert again.tolist() == [0.0, 1.0, 2.0, 3.0]
    again[0] = 10.0
    assert t[0] == 10.0
    with pytest.raises(OSError, match="past the segment"):
        rebuild(offset=1 << 20)
    with pytest.raises(OSError, match="past the segment"):
        rebuild(shape=[1 << 20])
    with pytest.raises(ValueError, match="invalid shape"):
        rebuild(shape=[-1])
    with pytest.raises(TypeError, match="float128"):
        rebuild(dtype="float128")
    with open("/proc/self/stat") as plain:
        duplicate = os.dup(plain.fileno())
        with pytest.raises(OSError, match="not a memory file"):
            _dlbridge._from_shared(duplicate, 0, [1], [1], "uint8", False)
        with pytest.raises(OSError):
            os.fstat(duplicate)  # closed by the refused call
    for bad in (dict(offset=-1), dict(strides=[0.5]), dict(readonly="no")):
        duplicate = os.dup(fd)
        with pytest.raises((OverflowError, TypeError)):
            _dlbridge._from_shared(duplicate, **{**good, **bad})
        with pytest.raises(OSError):
            os.fstat(duplicate)  # closed by the refused call
    with pytest.raises(ValueError, match="invalid file descriptor -1"):
        _dlbridge._from_shared(-1, 0, [1], [1], "uint8", False)


def test_importing_dlbridge_does_not_import_multiprocessing():
    code = (
        "import sys, dlbridge\n"
        "assert 'multiprocessing' not in sys.modules\n"
        "import multiprocessing.reduction as r\n"
        "assert dlbridge.Tensor in r.ForkingPickler._extra_reducers\n"
    )
    subprocess.run([sys.executable, "-c", code], timeout=TIMEOUT, check=True)


def test_fork_in_a_fresh_interpreter():
    # Python's default start method on Linux before 3.14, in a process without
    # JAX's threads.
    code = """
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
import numpy as np
import dlbridge as db

def write(t):
    t[0] = 5.0
    return t

t = db.tensor(np.zeros(3, dtype=np.float32)).share_memory_()
with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
    back = pool.submit(write, t).result(timeout=60)
assert t.tolist() == [5.0, 0.0, 0.0] and back.is_shared()
"""
    subprocess.run([sys.executable, "-c", code], timeout=TIMEOUT, check=True)


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="memfd_create is Linux's")
def test_a_received_segment_must_be_sealed_and_long_enough():
    # A handle is untrusted: an unsealed memory file could be truncated under
    # the receiver's mapping (SIGBUS on the next access), a short one does not
    # hold the tensor, and a plain file is no segment at all.
    def receive(fd, shape=(4,)):
        return _dlbridge._from_shared(fd, 0, list(shape), [1], "float64", False)

    unsealed = os.memfd_create("dlbridge-test")
    os.ftruncate(unsealed, 64)
    with pytest.raises(OSError, match="sealed against shrinking"):
        receive(unsealed)
    import fcntl

    short = os.memfd_create("dlbridge-test", os.MFD_ALLOW_SEALING)
    os.ftruncate(short, 16)
    fcntl.fcntl(short, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW)
    with pytest.raises(OSError, match="16 bytes"):
        receive(short)
    with open(__file__, "rb") as plain:
        with pytest.raises(OSError):
            receive(os.dup(plain.fileno()))
    # The call owns the descriptor it is given, also when it refuses it.
    for fd in (unsealed, short):
        with pytest.raises(OSError):
            os.fstat(fd)
