"""Memory is released exactly once, when the last tensor, view, capsule or consumer is gone.

Three probes:
* ``tracked_array``: a NumPy array with a weakref.finalize; it is freed only when no
  dlbridge tensor, view, capsule or consumer still uses its buffer.
* ``sys.getrefcount`` on the source array returns to its starting value: a count below
  it means a reference was released twice, above it means a leak.
* ``CraftedCapsule``: its DLPack deleter counts calls; it must end at exactly 1.
"""

import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import torch
from conftest import CraftedCapsule, collect, tracked_array

import dlbridge as db

pytestmark = pytest.mark.usefixtures("fresh_gc")


# ---------------------------------------------------------------------------
# NumPy source, tracked with weakref.finalize
# ---------------------------------------------------------------------------


def test_from_numpy_keeps_source_alive_until_tensor_dies():
    a, fin = tracked_array([1, 2, 3])
    t = db.from_numpy(a)
    del a
    collect()
    assert fin.alive
    assert t.tolist() == [1, 2, 3]
    del t
    collect()
    assert not fin.alive


def test_view_keeps_source_alive():
    a, fin = tracked_array([1, 2, 3, 4])
    t = db.from_numpy(a)
    v = t[1::2]
    del a, t
    collect()
    assert fin.alive
    assert v.tolist() == [2, 4]
    v[0] = 20
    assert v.tolist() == [20, 4]
    del v
    collect()
    assert not fin.alive


@pytest.mark.parametrize("max_version", [None, (1, 0)], ids=["legacy", "versioned"])
def test_unconsumed_capsule_keeps_source_alive_then_frees_it(max_version):
    a, fin = tracked_array([1, 2, 3])
    t = db.from_numpy(a)
    cap = t.__dlpack__(max_version=max_version)
    del a, t
    collect()
    assert fin.alive
    del cap
    collect()
    assert not fin.alive


def test_torch_consumer_keeps_memory_alive_after_everything_else_is_gone():
    a, fin = tracked_array([5, 6, 7])
    t = db.from_numpy(a)
    x = torch.from_dlpack(t)
    del t, a
    collect()
    assert fin.alive
    assert x.tolist() == [5, 6, 7]
    x[0] = 50
    x += 1
    assert x.tolist() == [51, 7, 8]
    del x
    collect()
    assert not fin.alive


def test_torch_consumer_of_capsule_keeps_memory_alive():
    a, fin = tracked_array([5, 6, 7])
    cap = db.from_numpy(a).__dlpack__(max_version=(1, 0))
    x = torch.from_dlpack(cap)
    del a, cap
    collect()
    assert fin.alive
    assert x.tolist() == [5, 6, 7]
    del x
    collect()
    assert not fin.alive


@pytest.mark.parametrize(
    "consume",
    [
        pytest.param(lambda t: np.from_dlpack(t), id="np.from_dlpack"),
        pytest.param(lambda t: t.numpy(), id="numpy()"),
        pytest.param(lambda t: np.asarray(t), id="np.asarray"),
        pytest.param(lambda t: db.from_dlpack(t), id="db.from_dlpack"),
        pytest.param(lambda t: db.as_tensor(t), id="db.as_tensor"),
        pytest.param(lambda t: t[...], id="view"),
    ],
)
def test_consumer_keeps_memory_alive(consume):
    a, fin = tracked_array([1, 2, 3])
    t = db.from_numpy(a)
    y = consume(t)
    del t, a
    collect()
    assert fin.alive
    assert y.tolist() == [1, 2, 3]
    y[1] = 9
    assert y.tolist() == [1, 9, 3]
    del y
    collect()
    assert not fin.alive


def test_chain_numpy_dlbridge_torch_numpy_releases_at_the_end():
    a, fin = tracked_array([1.0, 2.0], dtype=np.float64)
    ptr = a.ctypes.data
    t = db.from_numpy(a)
    x = torch.from_dlpack(t)
    b = x.numpy()
    del a, t, x
    collect()
    assert fin.alive
    assert b.ctypes.data == ptr
    assert b.tolist() == [1.0, 2.0]
    del b
    collect()
    assert not fin.alive


def test_raw_numpy_capsule_import_releases_when_tensor_dies():
    a, fin = tracked_array([1, 2, 3])
    cap = a.__dlpack__(max_version=(1, 0))
    t = db.from_dlpack(cap)
    del a, cap
    collect()
    assert fin.alive
    assert t.tolist() == [1, 2, 3]
    del t
    collect()
    assert not fin.alive


def test_copy_import_does_not_hold_the_source():
    a, fin = tracked_array([1, 2, 3])
    t = db.from_dlpack(a, copy=True)
    del a
    collect()
    assert not fin.alive
    assert t.tolist() == [1, 2, 3]


def test_tensor_copy_does_not_hold_the_source():
    a, fin = tracked_array([1, 2, 3])
    t = db.tensor(a)
    c = db.from_numpy(np.arange(3)).clone()
    del a
    collect()
    assert not fin.alive
    assert t.tolist() == [1, 2, 3]
    assert c.tolist() == [0, 1, 2]


# ---------------------------------------------------------------------------
# Exactly once: reference counts come back to where they started
# ---------------------------------------------------------------------------


def _scenarios():
    def from_numpy(a):
        t = db.from_numpy(a)
        assert t.data_ptr() == a.ctypes.data

    def views(a):
        t = db.from_numpy(a)
        v = t[1:][::-1][None]
        del t
        assert v.shape == (1, 3)

    def legacy_capsule_unconsumed(a):
        db.from_numpy(a).__dlpack__()

    def versioned_capsule_unconsumed(a):
        db.from_numpy(a).__dlpack__(max_version=(1, 0))

    def torch_consumer(a):
        x = torch.from_dlpack(db.from_numpy(a))
        x[0] = 1

    def numpy_consumer(a):
        x = np.from_dlpack(db.from_numpy(a))
        x[0] = 1

    def numpy_method(a):
        db.from_numpy(a).numpy()[0] = 1

    def from_dlpack_numpy(a):
        db.from_dlpack(a)

    def raw_capsule(a):
        db.from_dlpack(a.__dlpack__(max_version=(1, 0)))

    def capsule_consumed_twice(a):
        cap = db.from_numpy(a).__dlpack__(max_version=(1, 0))
        x = torch.from_dlpack(cap)
        try:
            db.from_dlpack(cap)
        except (RuntimeError, ValueError, BufferError):
            pass
        else:
            raise AssertionError("capsule consumed twice")
        del x

    def failed_export(a):
        t = db.from_numpy(a)
        try:
            t.__dlpack__(stream=1)
        except (ValueError, BufferError):
            pass
        try:
            t.__dlpack__(dl_device=(2, 0), max_version=(1, 0))
        except BufferError:
            pass

    def export_copy(a):
        np.from_dlpack(db.from_numpy(a), copy=True)

    def as_tensor_with_dtype(a):
        db.as_tensor(a, dtype=db.float32)

    return [
        from_numpy,
        views,
        legacy_capsule_unconsumed,
        versioned_capsule_unconsumed,
        torch_consumer,
        numpy_consumer,
        numpy_method,
        from_dlpack_numpy,
        raw_capsule,
        capsule_consumed_twice,
        failed_export,
        export_copy,
        as_tensor_with_dtype,
    ]


@pytest.mark.parametrize("scenario", _scenarios(), ids=lambda f: f.__name__)
def test_refcount_of_source_returns_to_start(scenario):
    a = np.arange(4, dtype=np.int64)
    collect()
    start = sys.getrefcount(a)
    for _ in range(5):
        scenario(a)
    collect()
    assert sys.getrefcount(a) == start


def test_readonly_source_refcount_returns_to_start():
    a = np.arange(4, dtype=np.int64)
    a.flags.writeable = False
    collect()
    start = sys.getrefcount(a)
    for _ in range(5):
        t = db.from_numpy(a)
        try:
            t.__dlpack__()  # legacy capsule of a read-only tensor: refused
        except BufferError:
            pass
        np.from_dlpack(t)
        del t
    collect()
    assert sys.getrefcount(a) == start


# ---------------------------------------------------------------------------
# Hand-made capsules: the DLPack deleter runs exactly once
# ---------------------------------------------------------------------------


def test_imported_capsule_deleter_runs_once_when_tensor_dies():
    c = CraftedCapsule([1, 2, 3])
    cap = c.take()
    t = db.from_dlpack(cap)
    del cap
    collect()
    assert c.deleted == 0
    assert t.tolist() == [1, 2, 3]
    del t
    collect()
    assert c.deleted == 1


@pytest.mark.parametrize("versioned", [False, True], ids=["legacy", "versioned"])
def test_unconsumed_crafted_capsule_is_released_by_its_destructor(versioned):
    c = CraftedCapsule([1, 2, 3], versioned=versioned)
    cap = c.take()
    del cap
    collect()
    assert c.deleted == 1


def test_capsule_outliving_tensor_does_not_release_twice():
    c = CraftedCapsule([1, 2, 3])
    cap = c.take()
    t = db.from_dlpack(cap)
    del t
    collect()
    assert c.deleted == 1
    del cap  # the used capsule's destructor must not free again
    collect()
    assert c.deleted == 1


def test_view_of_imported_tensor_keeps_capsule_memory():
    c = CraftedCapsule([1, 2, 3, 4])
    t = db.from_dlpack(c.take())
    v = t[::-1]
    del t
    collect()
    assert c.deleted == 0
    assert v.tolist() == [4, 3, 2, 1]
    del v
    collect()
    assert c.deleted == 1


def test_reexport_to_torch_keeps_capsule_memory():
    c = CraftedCapsule([1, 2, 3])
    t = db.from_dlpack(c.take())
    x = torch.from_dlpack(t)
    assert x.data_ptr() == c.address
    del t
    collect()
    assert c.deleted == 0
    assert x.tolist() == [1, 2, 3]
    x[0] = 10
    assert c.buffer[0] == 10
    del x
    collect()
    assert c.deleted == 1


def test_reexport_to_numpy_keeps_capsule_memory():
    c = CraftedCapsule([1, 2, 3])
    t = db.from_dlpack(c.take())
    y = t.numpy()
    z = np.from_dlpack(t)
    del t
    collect()
    assert c.deleted == 0
    del y
    collect()
    assert c.deleted == 0
    assert z.tolist() == [1, 2, 3]
    del z
    collect()
    assert c.deleted == 1


def test_reexported_capsule_never_consumed_releases_once():
    c = CraftedCapsule([1, 2, 3])
    t = db.from_dlpack(c.take())
    caps = [t.__dlpack__(), t.__dlpack__(max_version=(1, 0))]
    del t
    collect()
    assert c.deleted == 0
    del caps
    collect()
    assert c.deleted == 1


def test_copy_import_of_crafted_capsule_releases_source():
    c = CraftedCapsule([1, 2, 3])
    cap = c.take()
    t = db.from_dlpack(cap, copy=True)
    del cap
    collect()
    assert c.deleted == 1
    assert t.data_ptr() != c.address
    assert t.tolist() == [1, 2, 3]


def test_empty_crafted_capsule_is_released():
    c = CraftedCapsule([], shape=(0,), null_data=True)
    t = db.from_dlpack(c.take())
    assert t.shape == (0,)
    del t
    collect()
    assert c.deleted == 1


def test_many_imports_release_each_once():
    capsules = [CraftedCapsule([i, i + 1]) for i in range(50)]
    tensors = [db.from_dlpack(c.take()) for c in capsules]
    views = [t[1:] for t in tensors]
    del tensors
    collect()
    assert all(c.deleted == 0 for c in capsules)
    assert [v.tolist() for v in views] == [[i + 1] for i in range(50)]
    del views
    collect()
    assert all(c.deleted == 1 for c in capsules)


def _drop_in_thread(box):
    th = threading.Thread(target=box.clear)
    th.start()
    th.join()


def test_last_reference_dropped_in_another_thread_releases_capsule():
    c = CraftedCapsule([1, 2, 3])
    box = [db.from_dlpack(c.take())]
    _drop_in_thread(box)
    collect()
    assert c.deleted == 1


def test_last_reference_dropped_in_another_thread_releases_numpy_source():
    a, fin = tracked_array([1, 2, 3])
    box = [db.from_numpy(a), torch.from_dlpack(db.from_numpy(a))]
    del a
    collect()
    assert fin.alive
    _drop_in_thread(box)
    collect()
    assert not fin.alive


# ---------------------------------------------------------------------------
# Source deleted first, torch source
# ---------------------------------------------------------------------------


def test_torch_source_deleted_first():
    x = torch.arange(6, dtype=torch.float32) * 2
    t = db.from_dlpack(x)
    ptr = x.data_ptr()
    del x
    collect()
    junk = [torch.full((6,), -1.0) for _ in range(50)]
    assert t.data_ptr() == ptr
    assert t.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    t[0] = 1.0
    assert t[0].item() == 1.0
    del junk


# ---------------------------------------------------------------------------
# Interpreter shutdown with live tensors, capsules and consumers
# ---------------------------------------------------------------------------


def test_exit_with_live_objects_is_clean():
    code = textwrap.dedent(
        """
        import numpy as np
        import torch
        import dlbridge as db

        a = np.arange(10)
        t = db.from_numpy(a)
        v = t[::2]
        legacy = t.__dlpack__()
        versioned = t.__dlpack__(max_version=(1, 0))
        x = torch.from_dlpack(t)
        y = np.from_dlpack(t)
        u = db.from_dlpack(torch.arange(3))
        cycle = [t, v]
        cycle.append(cycle)
        print("ok")
        """
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"
    assert "Exception ignored" not in res.stderr
