"""db.from_dlpack(obj, *, device=None, copy=None): array API standard semantics."""

import ctypes
import datetime
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import (
    KDL_FLOAT,
    KDL_INT,
    READ_ONLY,
    CraftedCapsule,
    capsule_name,
    collect,
)

import dlbridge as db

# A consumed capsule is a ValueError in dlbridge (as in dlpark and CuPy).
CONSUMED_ERROR = ValueError


class OldProducer:
    """A producer from before the keyword arguments: __dlpack__ takes none."""

    def __init__(self, a):
        self.a = a
        self.calls = 0

    def __dlpack__(self):
        self.calls += 1
        return self.a.__dlpack__()

    def __dlpack_device__(self):
        return (1, 0)


class OldProducerNoDevice:
    """An even older producer: no __dlpack_device__ at all."""

    def __init__(self, a):
        self.a = a

    def __dlpack__(self):
        return self.a.__dlpack__()


class RecordingProducer:
    """Records the keywords it was called with."""

    def __init__(self, a):
        self.a = a
        self.kwargs = []

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        self.kwargs.append(
            {"stream": stream, "max_version": max_version, "dl_device": dl_device, "copy": copy}
        )
        return self.a.__dlpack__(max_version=max_version, dl_device=dl_device, copy=copy)

    def __dlpack_device__(self):
        return (1, 0)


class CannotShare:
    """A producer whose memory cannot be shared: refuses copy=False, copies otherwise."""

    def __init__(self, a):
        self.a = a

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        if copy is False:
            raise BufferError("CannotShare: this producer cannot share its memory")
        return self.a.copy().__dlpack__(max_version=max_version)

    def __dlpack_device__(self):
        return (1, 0)


# ---------------------------------------------------------------------------
# Producers are shared
# ---------------------------------------------------------------------------


def test_numpy_producer_is_shared():
    a = np.arange(5, dtype=np.float64)
    t = db.from_dlpack(a)
    assert t.data_ptr() == a.ctypes.data
    t[0] = 3.25
    assert a[0] == 3.25
    a[1] = -1.0
    assert t[1].item() == -1.0


def test_torch_producer_is_shared():
    x = torch.arange(5, dtype=torch.int32)
    t = db.from_dlpack(x)
    assert t.dtype == db.int32
    assert t.data_ptr() == x.data_ptr()
    t[4] = 40
    assert x[4].item() == 40
    x[0] = -3
    assert t[0].item() == -3


def test_dlbridge_producer_is_shared():
    a = np.arange(5, dtype=np.int16)
    t = db.from_dlpack(db.from_numpy(a))
    assert t.data_ptr() == a.ctypes.data
    t[2] = 22
    assert a[2] == 22


def test_consumer_asks_for_a_versioned_capsule():
    a = np.arange(3)
    p = RecordingProducer(a)
    t = db.from_dlpack(p)
    assert t.data_ptr() == a.ctypes.data
    assert len(p.kwargs) == 1
    assert p.kwargs[0]["max_version"] is not None
    assert p.kwargs[0]["max_version"][0] >= 1
    assert p.kwargs[0]["stream"] is None


def test_readonly_numpy_producer_gives_readonly_tensor():
    a = np.arange(3)
    a.flags.writeable = False
    t = db.from_dlpack(a)
    assert t.data_ptr() == a.ctypes.data
    assert t.readonly is True
    with pytest.raises(ValueError):
        t[0] = 1
    assert a.tolist() == [0, 1, 2]


def test_strided_torch_producer_keeps_strides():
    x = torch.arange(12).reshape(3, 4)
    t = db.from_dlpack(x.T)
    assert t.shape == (4, 3)
    assert t.strides == (1, 4)
    assert t.data_ptr() == x.data_ptr()
    assert t.tolist() == x.T.tolist()


def test_expanded_torch_producer_has_zero_stride():
    x = torch.arange(3)
    t = db.from_dlpack(x.expand(2, 3))
    assert t.strides == (0, 1)
    assert t.data_ptr() == x.data_ptr()
    assert t.tolist() == [[0, 1, 2], [0, 1, 2]]


def test_offset_torch_view_points_at_first_element():
    x = torch.arange(10, dtype=torch.int64)
    t = db.from_dlpack(x[3:])
    assert t.data_ptr() == x.data_ptr() + 3 * 8
    assert t.tolist() == list(range(3, 10))


def test_negative_stride_numpy_producer():
    a = np.arange(6, dtype=np.int64)
    t = db.from_dlpack(a[::-2])
    assert t.strides == (-2,)
    assert t.data_ptr() == a.ctypes.data + 5 * 8
    assert t.tolist() == [5, 3, 1]


# ---------------------------------------------------------------------------
# Raw capsules
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("max_version", [None, (1, 0)], ids=["legacy", "versioned"])
def test_raw_numpy_capsule_is_shared_and_marked_used(max_version):
    a = np.arange(4, dtype=np.int64)
    cap = a.__dlpack__(max_version=max_version)
    name = capsule_name(cap)
    t = db.from_dlpack(cap)
    assert capsule_name(cap) == "used_" + name
    assert t.data_ptr() == a.ctypes.data
    a[3] = 30
    assert t[3].item() == 30


@pytest.mark.parametrize("max_version", [None, (1, 0)], ids=["legacy", "versioned"])
def test_raw_torch_capsule_is_shared(max_version):
    x = torch.arange(4, dtype=torch.float32)
    cap = x.__dlpack__(max_version=max_version)
    t = db.from_dlpack(cap)
    assert t.data_ptr() == x.data_ptr()
    x[0] = 0.5
    assert t[0].item() == 0.5


def test_raw_versioned_capsule_of_writable_array_is_writable():
    a = np.arange(4, dtype=np.int64)
    t = db.from_dlpack(a.__dlpack__(max_version=(1, 0)))
    assert t.readonly is False
    t[0] = 9
    assert a[0] == 9


def test_capsule_consumed_twice_raises():
    a = np.arange(4)
    cap = a.__dlpack__(max_version=(1, 0))
    t = db.from_dlpack(cap)
    with pytest.raises(CONSUMED_ERROR):
        db.from_dlpack(cap)
    assert t.tolist() == [0, 1, 2, 3]  # the first import is unharmed


def test_capsule_consumed_by_torch_then_dlbridge_raises():
    a = np.arange(4)
    cap = a.__dlpack__()
    x = torch.from_dlpack(cap)
    with pytest.raises(CONSUMED_ERROR):
        db.from_dlpack(cap)
    assert x.tolist() == [0, 1, 2, 3]


def test_foreign_capsule_is_refused_and_left_alone():
    cap = datetime.datetime_CAPI
    with pytest.raises(TypeError):
        db.from_dlpack(cap)
    assert capsule_name(cap) == "datetime.datetime_CAPI"
    assert datetime.datetime(2020, 1, 2).day == 2


def test_capsule_misuse_never_crashes_the_interpreter():
    code = textwrap.dedent(
        """
        import datetime, gc
        import numpy as np
        import dlbridge as db
        a = np.arange(4)
        cap = a.__dlpack__(max_version=(1, 0))
        t = db.from_dlpack(cap)
        for _ in range(3):
            try:
                db.from_dlpack(cap)
            except (RuntimeError, ValueError, BufferError):
                pass
            else:
                raise SystemExit("consumed capsule accepted twice")
        try:
            db.from_dlpack(datetime.datetime_CAPI)
        except (ValueError, TypeError, BufferError):
            pass
        del cap, a
        gc.collect()
        assert t.tolist() == [0, 1, 2, 3]
        print("ok")
        """
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"


# ---------------------------------------------------------------------------
# copy=
# ---------------------------------------------------------------------------


def _assert_fresh_copy(t, src_ptr, read_src):
    assert t.data_ptr() != src_ptr
    before = read_src()
    t[0] = 77
    assert read_src() == before


def test_copy_true_numpy_gives_fresh_memory():
    a = np.arange(4, dtype=np.int64)
    t = db.from_dlpack(a, copy=True)
    assert t.tolist() == [0, 1, 2, 3]
    _assert_fresh_copy(t, a.ctypes.data, lambda: a.tolist())


def test_copy_true_torch_gives_fresh_memory():
    x = torch.arange(4, dtype=torch.int64)
    t = db.from_dlpack(x, copy=True)
    assert t.tolist() == [0, 1, 2, 3]
    _assert_fresh_copy(t, x.data_ptr(), lambda: x.tolist())


def test_copy_true_old_producer_copies_locally():
    a = np.arange(4, dtype=np.int64)
    t = db.from_dlpack(OldProducer(a), copy=True)
    assert t.tolist() == [0, 1, 2, 3]
    _assert_fresh_copy(t, a.ctypes.data, lambda: a.tolist())


def test_copy_true_raw_capsule_copies_locally():
    a = np.arange(4, dtype=np.int64)
    t = db.from_dlpack(a.__dlpack__(), copy=True)
    assert t.tolist() == [0, 1, 2, 3]
    _assert_fresh_copy(t, a.ctypes.data, lambda: a.tolist())


def test_copy_true_from_readonly_source_is_writable():
    a = np.arange(4, dtype=np.int64)
    a.flags.writeable = False
    t = db.from_dlpack(a, copy=True)
    assert t.readonly is False
    _assert_fresh_copy(t, a.ctypes.data, lambda: a.tolist())


def test_copy_true_strided_source_keeps_values():
    a = np.arange(12, dtype=np.int64).reshape(3, 4)[::-1, ::2]
    t = db.from_dlpack(a, copy=True)
    assert t.shape == (3, 2)
    assert t.tolist() == a.tolist()
    assert t.data_ptr() != a.ctypes.data


def test_copy_false_shares():
    a = np.arange(4)
    t = db.from_dlpack(a, copy=False)
    assert t.data_ptr() == a.ctypes.data
    x = torch.arange(4)
    u = db.from_dlpack(x, copy=False)
    assert u.data_ptr() == x.data_ptr()


def test_copy_false_raises_buffer_error_when_sharing_is_impossible():
    with pytest.raises(BufferError):
        db.from_dlpack(CannotShare(np.arange(4)), copy=False)


def test_copy_none_falls_back_to_producer_copy():
    a = np.arange(4)
    t = db.from_dlpack(CannotShare(a))
    assert t.tolist() == [0, 1, 2, 3]
    assert t.data_ptr() != a.ctypes.data


def test_copy_is_keyword_only():
    with pytest.raises(TypeError):
        db.from_dlpack(np.arange(3), None, True)


# ---------------------------------------------------------------------------
# device=
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("device", [None, "cpu", (1, 0)])
def test_cpu_device_is_accepted(device):
    a = np.arange(3)
    t = db.from_dlpack(a, device=device)
    assert t.data_ptr() == a.ctypes.data
    assert str(t.device) == "cpu"


@pytest.mark.parametrize("device", ["cuda", "cuda:0", (2, 0), (13, 0), "gpu"])
def test_other_device_is_refused(device):
    with pytest.raises(BufferError):
        db.from_dlpack(np.arange(3), device=device)


def test_device_is_keyword_only():
    with pytest.raises(TypeError):
        db.from_dlpack(np.arange(3), "cpu")


# ---------------------------------------------------------------------------
# Old producers
# ---------------------------------------------------------------------------


def test_producer_without_keywords_is_retried():
    a = np.arange(4, dtype=np.int32)
    p = OldProducer(a)
    t = db.from_dlpack(p)
    assert t.data_ptr() == a.ctypes.data
    a[0] = 5  # legacy capsule: writability is the consumer's choice, so write the source
    assert t[0].item() == 5
    assert p.calls == 1  # the retry without keywords is the only successful call


def test_producer_without_dlpack_device_is_accepted():
    a = np.arange(4, dtype=np.int32)
    t = db.from_dlpack(OldProducerNoDevice(a))
    assert t.data_ptr() == a.ctypes.data
    a[1] = 11
    assert t[1].item() == 11


def test_as_tensor_accepts_old_producer():
    a = np.arange(4, dtype=np.int32)
    t = db.as_tensor(OldProducer(a))
    assert t.data_ptr() == a.ctypes.data


def test_producer_type_error_is_not_swallowed_when_retry_fails():
    class Broken:
        def __dlpack__(self, **kwargs):
            raise TypeError("Broken: cannot export")

        def __dlpack_device__(self):
            return (1, 0)

    with pytest.raises(TypeError, match="Broken"):
        db.from_dlpack(Broken())


def test_producer_buffer_error_propagates():
    with pytest.raises(BufferError):
        db.from_dlpack(np.array(["x", "y"]))


@pytest.mark.parametrize("obj", [[1, 2, 3], 5, "abc", None, object()])
def test_non_producer_raises_type_error(obj):
    with pytest.raises(TypeError):
        db.from_dlpack(obj)


# ---------------------------------------------------------------------------
# Hand-made capsules: descriptors libraries do not usually produce
# ---------------------------------------------------------------------------


def test_crafted_capsule_is_shared():
    c = CraftedCapsule([10, 20, 30])
    t = db.from_dlpack(c.take())
    assert t.data_ptr() == c.address
    assert t.tolist() == [10, 20, 30]
    t[1] = 21
    assert c.buffer[1] == 21


def test_byte_offset_is_honoured():
    c = CraftedCapsule([0, 1, 2, 3, 4, 5], shape=(4,), byte_offset=16)
    t = db.from_dlpack(c.take())
    assert t.data_ptr() == c.address + 16
    assert t.tolist() == [2, 3, 4, 5]


def test_null_strides_mean_row_major():
    c = CraftedCapsule(list(range(6)), shape=(2, 3), strides=None, versioned=False)
    t = db.from_dlpack(c.take())
    assert t.shape == (2, 3)
    assert t.strides == (3, 1)
    assert t.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_column_major_strides_are_read_correctly():
    c = CraftedCapsule(list(range(6)), shape=(2, 3), strides=(1, 2))
    t = db.from_dlpack(c.take())
    assert t.tolist() == [[0, 2, 4], [1, 3, 5]]
    assert t.is_contiguous() is False


def test_size_one_dimension_with_odd_stride_is_contiguous():
    # torch exports x[::3][:1] as shape [1], stride [3].
    c = CraftedCapsule([7, 8, 9], shape=(1,), strides=(3,))
    t = db.from_dlpack(c.take())
    assert t.tolist() == [7]
    assert t.is_contiguous() is True


def test_versioned_read_only_flag_gives_readonly_tensor():
    c = CraftedCapsule([1, 2, 3], flags=READ_ONLY)
    t = db.from_dlpack(c.take())
    assert t.readonly is True
    with pytest.raises(ValueError):
        t[0] = 5
    assert list(c.buffer) == [1, 2, 3]


def test_float_capsule_dtype():
    c = CraftedCapsule([1.5, -2.5], ctype=ctypes.c_double, dtype=(KDL_FLOAT, 64, 1))
    t = db.from_dlpack(c.take())
    assert t.dtype == db.float64
    assert t.tolist() == [1.5, -2.5]


def test_empty_tensor_with_null_data_is_accepted():
    c = CraftedCapsule([], shape=(0, 3), null_data=True)
    t = db.from_dlpack(c.take())
    assert t.shape == (0, 3)
    assert t.numel() == 0
    assert t.tolist() == []


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"version": (2, 0)}, id="major-too-new"),
        pytest.param({"dtype": (KDL_INT, 64, 2)}, id="lanes-2"),
        pytest.param({"dtype": (99, 64, 1)}, id="unknown-code"),
        pytest.param({"dtype": (KDL_FLOAT, 24, 1)}, id="float24"),
        pytest.param({"dtype": (KDL_INT, 64, 1), "null_data": True}, id="null-data"),
        pytest.param({"device": (2, 0)}, id="cuda-device"),
    ],
)
def test_invalid_descriptor_is_refused(kwargs):
    c = CraftedCapsule([1, 2, 3, 4], **kwargs)
    cap = c.take()
    with pytest.raises(BufferError):
        db.from_dlpack(cap)
    del cap
    collect()
    assert c.deleted == 1  # released exactly once, whoever did it


def test_crafted_capsule_consumed_twice_raises():
    c = CraftedCapsule([1, 2, 3])
    cap = c.take()
    t = db.from_dlpack(cap)
    with pytest.raises(CONSUMED_ERROR):
        db.from_dlpack(cap)
    assert c.deleted == 0
    assert t.tolist() == [1, 2, 3]
    del t, cap
    collect()
    assert c.deleted == 1
