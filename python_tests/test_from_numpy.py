"""db.from_numpy: numpy.ndarray only, always shares memory, layouts kept as they are."""

import gc

import numpy as np
import pytest
from conftest import NUMPY_DTYPE_NAMES, TrackedArray, sample_values

import dlbridge as db


def test_shares_buffer_pointer():
    a = np.arange(6, dtype=np.int64)
    t = db.from_numpy(a)
    assert t.data_ptr() == a.ctypes.data


def test_write_through_tensor_seen_in_array():
    a = np.arange(6, dtype=np.int64)
    t = db.from_numpy(a)
    t[2] = 100
    assert a[2] == 100


def test_write_through_array_seen_in_tensor():
    a = np.arange(6, dtype=np.float32)
    t = db.from_numpy(a)
    a[4] = -7.5
    assert t[4].item() == -7.5
    assert t.tolist() == [0.0, 1.0, 2.0, 3.0, -7.5, 5.0]


def test_source_deleted_first_tensor_stays_valid():
    a = np.arange(5, dtype=np.int64) * 11
    ptr = a.ctypes.data
    t = db.from_numpy(a)
    del a
    gc.collect()
    # Churn the allocator so freed memory would likely be reused.
    junk = [np.full(5, -1, dtype=np.int64) for _ in range(100)]
    assert t.data_ptr() == ptr
    assert t.tolist() == [0, 11, 22, 33, 44]
    t[0] = 99
    assert t.tolist() == [99, 11, 22, 33, 44]
    del junk


@pytest.mark.parametrize("name", NUMPY_DTYPE_NAMES)
def test_every_numpy_dtype_is_shared(name):
    np_dtype = np.dtype(name)
    a = np.array(sample_values(name), dtype=np_dtype)
    t = db.from_numpy(a)
    assert t.dtype == getattr(db, name)
    assert t.data_ptr() == a.ctypes.data
    assert t.tolist() == a.tolist()


def test_subclass_is_accepted_and_shared():
    a = np.arange(4, dtype=np.int32).view(TrackedArray)
    t = db.from_numpy(a)
    assert t.data_ptr() == a.ctypes.data
    t[1] = 50
    assert a[1] == 50


def test_masked_array_subclass_is_accepted():
    a = np.ma.masked_array(np.arange(3, dtype=np.int64), mask=[False, True, False])
    t = db.from_numpy(a)
    assert t.data_ptr() == a.data.ctypes.data
    assert t.tolist() == [0, 1, 2]  # raw data, mask ignored


@pytest.mark.parametrize(
    ("obj", "type_name"),
    [
        ([1, 2, 3], "list"),
        ((1, 2), "tuple"),
        (5, "int"),
        (1.5, "float"),
        ("abc", "str"),
        (None, "NoneType"),
        (b"abc", "bytes"),
        (memoryview(b"abcd"), "memoryview"),
        (np.float64(1.5), "float64"),
    ],
)
def test_non_ndarray_raises_type_error_naming_the_type(obj, type_name):
    with pytest.raises(TypeError, match=type_name):
        db.from_numpy(obj)


def test_torch_tensor_is_rejected_by_from_numpy():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="Tensor"):
        db.from_numpy(torch.arange(3))


def test_dlbridge_tensor_is_rejected_by_from_numpy():
    t = db.from_numpy(np.arange(3))
    with pytest.raises(TypeError, match="Tensor"):
        db.from_numpy(t)


# ---------------------------------------------------------------------------
# Read-only arrays
# ---------------------------------------------------------------------------


def test_readonly_array_gives_readonly_tensor():
    a = np.arange(4, dtype=np.int64)
    a.flags.writeable = False
    t = db.from_numpy(a)
    assert t.readonly is True
    assert t.data_ptr() == a.ctypes.data


def test_writable_array_gives_writable_tensor():
    t = db.from_numpy(np.arange(4))
    assert t.readonly is False


def test_readonly_tensor_rejects_writes_and_keeps_values():
    a = np.arange(4, dtype=np.int64)
    a.flags.writeable = False
    t = db.from_numpy(a)
    with pytest.raises(ValueError):
        t[0] = 100
    assert a.tolist() == [0, 1, 2, 3]
    assert t.tolist() == [0, 1, 2, 3]


def test_readonly_view_of_writable_base_is_readonly():
    base = np.arange(4, dtype=np.int64)
    view = base[:]
    view.flags.writeable = False
    t = db.from_numpy(view)
    assert t.readonly is True
    base[0] = 9  # the owner may still write, and the tensor sees it
    assert t[0].item() == 9


# ---------------------------------------------------------------------------
# Layouts are shared as they are
# ---------------------------------------------------------------------------


def _element_strides(a):
    return tuple(s // a.itemsize for s in a.strides)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: np.arange(24, dtype=np.int64).reshape(4, 6)[:, ::2], id="columns"),
        pytest.param(lambda: np.arange(24, dtype=np.int64).reshape(4, 6).T, id="transposed"),
        pytest.param(lambda: np.arange(24, dtype=np.int64)[3:15], id="sliced"),
        pytest.param(lambda: np.arange(24, dtype=np.int64)[::-1], id="reversed"),
        pytest.param(
            lambda: np.arange(24, dtype=np.int64).reshape(4, 6)[::-2, ::3], id="neg-step-2d"
        ),
        pytest.param(lambda: np.broadcast_to(np.arange(3, dtype=np.int64), (4, 3)), id="broadcast"),
        pytest.param(lambda: np.arange(24, dtype=np.int16).reshape(2, 3, 4)[1], id="subarray"),
        pytest.param(lambda: np.asfortranarray(np.arange(6.0).reshape(2, 3)), id="fortran"),
    ],
)
def test_layout_is_shared_with_strides(make):
    a = make()
    t = db.from_numpy(a)
    assert t.shape == a.shape
    assert t.strides == _element_strides(a)
    assert t.data_ptr() == a.ctypes.data
    assert t.tolist() == a.tolist()


def test_negative_strides_are_kept():
    a = np.arange(5, dtype=np.int32)
    r = a[::-1]
    t = db.from_numpy(r)
    assert t.strides == (-1,)
    assert t.data_ptr() == a.ctypes.data + 4 * 4  # points at the last element
    assert t.tolist() == [4, 3, 2, 1, 0]
    t[0] = 40  # first element of the reversed view is a[4]
    assert a[4] == 40


def test_broadcast_array_has_zero_strides_and_sees_source_writes():
    src = np.arange(3, dtype=np.int64)
    b = np.broadcast_to(src, (4, 3))
    t = db.from_numpy(b)
    assert t.strides == (0, 1)
    assert t.data_ptr() == src.ctypes.data
    assert t.readonly is True  # np.broadcast_to returns a read-only view
    src[1] = 70
    assert t.tolist() == [[0, 70, 2]] * 4


def test_writable_zero_stride_array_writes_one_element():
    src = np.zeros(1, dtype=np.int64)
    z = np.lib.stride_tricks.as_strided(src, shape=(5,), strides=(0,))
    t = db.from_numpy(z)
    assert t.strides == (0,)
    assert t.readonly is False
    t[3] = 8
    assert src[0] == 8
    assert t.tolist() == [8] * 5


def test_transposed_array_writes_land_in_the_right_place():
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    t = db.from_numpy(a.T)
    assert t.shape == (3, 2)
    assert t.strides == (1, 3)
    t[2, 1] = 99  # == a[1, 2]
    assert a[1, 2] == 99
    assert t.is_contiguous() is False


def test_zero_d_array_is_shared():
    a = np.array(3.5)
    t = db.from_numpy(a)
    assert t.shape == ()
    assert t.ndim == 0
    assert t.data_ptr() == a.ctypes.data
    assert t.item() == 3.5


def test_empty_array_is_accepted():
    a = np.zeros((0, 3), dtype=np.float32)
    t = db.from_numpy(a)
    assert t.shape == (0, 3)
    assert t.numel() == 0
    assert t.dtype == db.float32
    assert t.tolist() == []


def test_stride_not_multiple_of_itemsize_is_refused():
    # A field of a packed structured array: int32 elements 6 bytes apart.
    rec = np.zeros(3, dtype=[("a", "<i4"), ("b", "<i2")])
    field = rec["a"]
    assert field.strides == (6,)
    with pytest.raises(BufferError):
        db.from_numpy(field)


# ---------------------------------------------------------------------------
# Dtypes DLPack cannot carry
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "accepted"),
    [
        pytest.param(lambda: np.array([object(), 1], dtype=object), ["object", "|O"], id="object"),
        pytest.param(lambda: np.array(["a", "b"]), ["U1", "str32"], id="unicode"),
        pytest.param(lambda: np.array([b"abc"]), ["S3", "bytes24"], id="bytes"),
        pytest.param(
            lambda: np.array(["2020-01-01"], dtype="datetime64[s]"), ["datetime64", "M8"], id="dt64"
        ),
        pytest.param(
            lambda: np.array([1], dtype="timedelta64[s]"), ["timedelta64", "m8"], id="td64"
        ),
        pytest.param(
            lambda: np.zeros(2, dtype=[("a", "<i4"), ("b", "<f4")]),
            ["V8", "void", "structured", "('a'"],
            id="structured",
        ),
        pytest.param(lambda: np.zeros(2, dtype=">i4"), [">i4"], id="big-endian-i4"),
        pytest.param(lambda: np.zeros(2, dtype=">f8"), [">f8"], id="big-endian-f8"),
    ],
)
def test_unsupported_dtype_raises_naming_the_dtype(make, accepted):
    a = make()
    with pytest.raises(TypeError) as info:
        db.from_numpy(a)
    message = str(info.value)
    assert any(s in message for s in accepted), message
