"""Tensor attributes and methods: shape, strides, data_ptr, contiguous, clone, to, ..."""

import numpy as np
import pytest
import torch

import dlbridge as db


def test_shape_ndim_numel_len():
    t = db.from_numpy(np.zeros((2, 3, 4), dtype=np.float32))
    assert isinstance(t.shape, tuple)
    assert t.shape == (2, 3, 4)
    assert t.ndim == 3
    assert t.numel() == 24
    assert len(t) == 2


def test_zero_d_shape_and_len():
    t = db.tensor(5)
    assert t.shape == ()
    assert t.ndim == 0
    assert t.numel() == 1
    assert t.strides == ()
    with pytest.raises(TypeError):
        len(t)


def test_dtype_itemsize_nbytes():
    t = db.from_numpy(np.zeros((3, 5), dtype=np.int16))
    assert t.dtype == db.int16
    assert t.itemsize == 2
    assert t.nbytes == 30


def test_nbytes_of_broadcast_counts_logical_elements():
    # Like numpy's and torch's nbytes: numel * itemsize.
    b = np.broadcast_to(np.arange(3, dtype=np.int32), (4, 3))
    t = db.from_numpy(b)
    assert t.nbytes == b.nbytes == 48
    assert torch.from_dlpack(b).nbytes == 48


def test_device_is_cpu():
    t = db.tensor([1])
    assert str(t.device) == "cpu"


def test_strides_in_elements_like_torch():
    a = np.zeros((2, 3, 4), dtype=np.float64)
    t = db.from_numpy(a)
    assert isinstance(t.strides, tuple)
    assert t.strides == (12, 4, 1) == torch.from_numpy(a).stride()


def test_strides_of_views():
    a = np.arange(24, dtype=np.int32).reshape(4, 6)
    assert db.from_numpy(a.T).strides == (1, 6)
    assert db.from_numpy(a[:, ::2]).strides == (6, 2)
    assert db.from_numpy(a[::-1]).strides == (-6, 1)
    assert db.from_numpy(np.broadcast_to(a[0], (3, 6))).strides == (0, 1)


def test_data_ptr_of_view_includes_offset():
    a = np.arange(10, dtype=np.int64)
    t = db.from_numpy(a)
    assert t[1:].data_ptr() == t.data_ptr() + 8
    assert t[5:].data_ptr() == a.ctypes.data + 40


def test_is_contiguous():
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    assert db.from_numpy(a).is_contiguous() is True
    assert db.from_numpy(a.T).is_contiguous() is False
    assert db.from_numpy(a[:, ::2]).is_contiguous() is False
    assert db.from_numpy(a[::-1]).is_contiguous() is False
    assert db.from_numpy(a[1:]).is_contiguous() is True
    assert db.from_numpy(np.zeros((0, 3))).is_contiguous() is True
    assert db.from_numpy(np.array(1.0)).is_contiguous() is True


def test_size_one_dimensions_do_not_break_contiguity():
    a = np.arange(9, dtype=np.int64)[::3][:1]  # shape (1,), stride 3 elements
    assert torch.from_numpy(a).is_contiguous()  # torch's rule
    assert db.from_numpy(a).is_contiguous() is True
    b = np.arange(12, dtype=np.int64).reshape(3, 4)[:1, :]
    assert db.from_numpy(b).is_contiguous() is True


def test_readonly_property():
    a = np.arange(3)
    assert db.from_numpy(a).readonly is False
    a.flags.writeable = False
    assert db.from_numpy(a).readonly is True


# ---------------------------------------------------------------------------
# contiguous()
# ---------------------------------------------------------------------------


def test_contiguous_returns_self_when_contiguous():
    t = db.tensor([[1, 2], [3, 4]])
    assert t.contiguous() is t


def test_contiguous_copies_transposed():
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    t = db.from_numpy(a.T)
    c = t.contiguous()
    assert c is not t
    assert c.is_contiguous()
    assert c.strides == (2, 1)
    assert c.tolist() == [[0, 3], [1, 4], [2, 5]]
    c[0, 0] = 100
    assert a[0, 0] == 0


def test_contiguous_of_reversed_and_broadcast():
    a = np.arange(4, dtype=np.int32)
    r = db.from_numpy(a[::-1]).contiguous()
    assert r.strides == (1,)
    assert r.tolist() == [3, 2, 1, 0]
    b = db.from_numpy(np.broadcast_to(a, (2, 4))).contiguous()
    assert b.strides == (4, 1)
    assert b.readonly is False
    b[0, 0] = 9
    assert b.tolist() == [[9, 1, 2, 3], [0, 1, 2, 3]]
    assert a[0] == 0


# ---------------------------------------------------------------------------
# clone()
# ---------------------------------------------------------------------------


def test_clone_is_deep_copy():
    a = np.arange(4, dtype=np.float32)
    t = db.from_numpy(a)
    c = t.clone()
    assert c.data_ptr() != t.data_ptr()
    assert c.dtype == t.dtype
    assert c.shape == t.shape
    assert c.tolist() == t.tolist()
    c[0] = 50.0
    assert a[0] == 0.0
    a[1] = 60.0
    assert c[1].item() == 1.0


def test_clone_function_matches_method():
    t = db.tensor([[1, 2], [3, 4]], dtype=db.int16)
    c = db.clone(t)
    assert c.dtype == db.int16
    assert c.tolist() == [[1, 2], [3, 4]]
    assert c.data_ptr() != t.data_ptr()


def test_clone_of_strided_tensor_keeps_values():
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    t = db.from_numpy(a[::-1, ::2])
    c = t.clone()
    assert c.tolist() == a[::-1, ::2].tolist()
    c[0, 0] = -1
    assert a[2, 0] == 8


def test_clone_of_readonly_tensor_is_writable():
    a = np.arange(3)
    a.flags.writeable = False
    c = db.from_numpy(a).clone()
    assert c.readonly is False
    c[0] = 7
    assert c.tolist() == [7, 1, 2]


def test_clone_of_zero_d_and_empty():
    assert db.tensor(2.5).clone().item() == 2.5
    assert db.tensor(2.5).clone().shape == ()
    e = db.from_numpy(np.zeros((0, 2), dtype=np.int8)).clone()
    assert e.shape == (0, 2)
    assert e.dtype == db.int8


# ---------------------------------------------------------------------------
# to(dtype)
# ---------------------------------------------------------------------------


def test_to_same_dtype_returns_self():
    t = db.tensor([1, 2])
    assert t.to(db.int64) is t
    assert t.to("int64") is t
    assert t.to(np.int64) is t
    assert t.to(torch.int64) is t


def test_to_other_dtype_is_converted_copy():
    a = np.array([1, 2, 3], dtype=np.int32)
    t = db.from_numpy(a)
    f = t.to(db.float64)
    assert f.dtype == db.float64
    assert f.tolist() == [1.0, 2.0, 3.0]
    f[0] = 10.0
    assert a[0] == 1


def test_to_float_to_int_truncates_toward_zero():
    t = db.tensor([2.7, -2.7, 0.5, -0.5, 3.0])
    assert t.to(db.int64).tolist() == [2, -2, 0, 0, 3]
    assert torch.tensor([2.7, -2.7, 0.5, -0.5, 3.0]).to(torch.int64).tolist() == [2, -2, 0, 0, 3]


def test_to_bool_and_back():
    t = db.tensor([0, 3, -1])
    assert t.to(db.bool).tolist() == [False, True, True]
    assert t.to(db.bool).to(db.int8).tolist() == [0, 1, 1]


def test_to_bfloat16_and_float16():
    t = db.tensor([0.5, 1.5, -2.0])
    assert t.to(db.bfloat16).tolist() == [0.5, 1.5, -2.0]
    assert t.to(db.float16).to(db.float64).tolist() == [0.5, 1.5, -2.0]


def test_to_complex():
    t = db.tensor([1.0, -2.0])
    assert t.to(db.complex64).tolist() == [1 + 0j, -2 + 0j]


def test_to_of_strided_source():
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    t = db.from_numpy(a.T).to(db.float32)
    assert t.tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]


def test_to_unknown_dtype_raises():
    with pytest.raises(TypeError):
        db.tensor([1]).to("float33")


# ---------------------------------------------------------------------------
# tolist() and item()
# ---------------------------------------------------------------------------


def test_tolist_python_types():
    assert db.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert type(db.tensor([1]).tolist()[0]) is int
    assert type(db.tensor([1.5]).tolist()[0]) is float
    assert type(db.tensor([True]).tolist()[0]) is bool
    assert type(db.tensor([1j]).tolist()[0]) is complex


def test_tolist_of_zero_d_is_scalar():
    assert db.tensor(1.5).tolist() == 1.5
    assert torch.tensor(1.5).tolist() == 1.5


def test_tolist_of_unsigned_extremes():
    t = db.from_numpy(np.array([2**64 - 1, 0], dtype=np.uint64))
    assert t.tolist() == [2**64 - 1, 0]


def test_item_of_one_element_tensors():
    assert db.tensor(7).item() == 7
    assert db.tensor([[7]]).item() == 7
    assert db.tensor([2.5]).item() == 2.5
    assert db.tensor([True]).item() is True
    assert type(db.tensor([3]).item()) is int


@pytest.mark.parametrize("data", [[1, 2], [], [[1, 2]]])
def test_item_of_other_sizes_raises(data):
    with pytest.raises(ValueError):
        db.tensor(data).item()
