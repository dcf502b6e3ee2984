"""Round trips: NumPy -> dlbridge -> NumPy and torch -> dlbridge -> torch, one buffer.

Every dtype, and 0-d, empty, non-contiguous, transposed, broadcast and sliced layouts;
sharing is proven by pointers and by writes seen on the other side.
"""

import numpy as np
import pytest
import torch
from conftest import (
    ALL_DTYPE_NAMES,
    DTYPE_TABLE,
    NUMPY_DTYPE_NAMES,
    other_value,
    sample_values,
)

import dlbridge as db

# ---------------------------------------------------------------------------
# Every dtype
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NUMPY_DTYPE_NAMES)
@pytest.mark.parametrize(
    "back",
    [
        pytest.param(lambda t: t.numpy(), id="numpy()"),
        pytest.param(lambda t: np.from_dlpack(t), id="np.from_dlpack"),
        pytest.param(lambda t: np.asarray(t), id="np.asarray"),
    ],
)
def test_numpy_dlbridge_numpy_every_dtype(name, back):
    a = np.array(sample_values(name), dtype=name)
    t = db.from_numpy(a)
    assert t.dtype == getattr(db, name)
    assert t.itemsize == a.itemsize
    b = back(t)
    assert b.dtype == a.dtype
    assert b.ctypes.data == a.ctypes.data
    assert b.tolist() == a.tolist()
    b[0] = other_value(name)
    assert a[0] == b[0]
    assert t[0].item() == b[0].item()


def _torch_sample(name):
    return torch.tensor(sample_values(name), dtype=getattr(torch, DTYPE_TABLE[name][1]))


@pytest.mark.parametrize("name", ALL_DTYPE_NAMES)
@pytest.mark.parametrize(
    "into",
    [
        pytest.param(db.from_dlpack, id="from_dlpack"),
        pytest.param(db.as_tensor, id="as_tensor"),
    ],
)
def test_torch_dlbridge_torch_every_dtype(name, into):
    x = _torch_sample(name)
    t = into(x)
    assert t.dtype == getattr(db, name)
    assert t.data_ptr() == x.data_ptr()
    assert t.tolist() == x.tolist()
    y = torch.from_dlpack(t)
    assert y.dtype == x.dtype
    assert y.data_ptr() == x.data_ptr()
    y[0] = other_value(name)
    assert x[0].item() == other_value(name)
    assert t[0].item() == other_value(name)


@pytest.mark.parametrize("name", NUMPY_DTYPE_NAMES)
def test_numpy_dlbridge_torch_numpy_one_buffer(name):
    a = np.array(sample_values(name), dtype=name)
    t = db.from_numpy(a)
    x = torch.from_dlpack(t)
    assert x.data_ptr() == a.ctypes.data
    assert str(x.dtype) == f"torch.{DTYPE_TABLE[name][1]}"
    b = np.from_dlpack(x)
    assert b.ctypes.data == a.ctypes.data
    x[0] = other_value(name)
    assert a[0] == b[0]
    assert t[0].item() == b[0].item()
    assert a.tolist()[1:] == sample_values(name)[1:]


def test_numpy_to_torch_and_back_writes_seen_everywhere():
    a = np.zeros(4, dtype=np.float32)
    t = db.from_numpy(a)
    x = torch.from_dlpack(t)
    b = x.numpy()
    assert a.ctypes.data == t.data_ptr() == x.data_ptr() == b.ctypes.data
    a[0] = 1.0
    t[1] = 2.0
    x[2] = 3.0
    b[3] = 4.0
    expected = [1.0, 2.0, 3.0, 4.0]
    assert a.tolist() == t.tolist() == x.tolist() == b.tolist() == expected


def test_torch_to_numpy_and_back_through_dlbridge():
    x = torch.zeros(3, dtype=torch.int32)
    t = db.from_dlpack(x)
    b = t.numpy()
    x2 = torch.from_dlpack(db.from_numpy(b))
    assert x.data_ptr() == t.data_ptr() == b.ctypes.data == x2.data_ptr()
    x2[0] = 7
    b[1] = 8
    assert x.tolist() == [7, 8, 0]


def test_bfloat16_roundtrip_values_through_torch():
    x = torch.tensor([0.5, -1.25, 3.0, 256.0], dtype=torch.bfloat16)
    t = db.from_dlpack(x)
    assert t.dtype == db.bfloat16
    assert t.itemsize == 2
    assert t.tolist() == [0.5, -1.25, 3.0, 256.0]
    y = torch.from_dlpack(t)
    assert y.dtype == torch.bfloat16
    assert torch.equal(y.view(torch.int16), x.view(torch.int16))  # same bits


@pytest.mark.parametrize("name", ["uint16", "uint32", "uint64"])
def test_wide_unsigned_roundtrip_keeps_top_bit(name):
    bits = DTYPE_TABLE[name][2] * 8
    x = torch.tensor([2 ** (bits - 1), 2**bits - 1], dtype=getattr(torch, name))
    t = db.from_dlpack(x)
    assert t.tolist() == [2 ** (bits - 1), 2**bits - 1]
    b = t.numpy()
    assert b.dtype == np.dtype(name)
    assert b.tolist() == [2 ** (bits - 1), 2**bits - 1]


@pytest.mark.parametrize("name", ["complex64", "complex128"])
def test_complex_roundtrip(name):
    a = np.array([1 + 2j, -3.5 - 0.5j], dtype=name)
    t = db.from_numpy(a)
    assert t.tolist() == [1 + 2j, -3.5 - 0.5j]
    x = torch.from_dlpack(t)
    assert x.tolist() == [1 + 2j, -3.5 - 0.5j]
    x[1] = 2j
    assert a[1] == 2j


# ---------------------------------------------------------------------------
# Layouts
# ---------------------------------------------------------------------------

NUMPY_LAYOUTS = {
    "0-d": lambda: np.array(7, dtype=np.int64),
    "empty": lambda: np.zeros((0, 3), dtype=np.int64),
    "empty-middle": lambda: np.zeros((2, 0, 3), dtype=np.int64),
    "non-contiguous": lambda: np.arange(24, dtype=np.int64).reshape(4, 6)[:, 1::2],
    "transposed": lambda: np.arange(24, dtype=np.int64).reshape(4, 6).T,
    "broadcast": lambda: np.broadcast_to(np.arange(3, dtype=np.int64), (5, 3)),
    "sliced": lambda: np.arange(24, dtype=np.int64)[5:17],
    "sliced-2d": lambda: np.arange(24, dtype=np.int64).reshape(4, 6)[1:3, 2:5],
    "reversed": lambda: np.arange(24, dtype=np.int64)[::-1],
    "reversed-2d": lambda: np.arange(24, dtype=np.int64).reshape(4, 6)[::-1, ::-2],
    "new-axis": lambda: np.arange(6, dtype=np.int64)[:, None],
    "3d-permuted": lambda: np.arange(24, dtype=np.int64).reshape(2, 3, 4).transpose(2, 0, 1),
}


@pytest.mark.parametrize("layout", list(NUMPY_LAYOUTS))
@pytest.mark.parametrize(
    "back",
    [
        pytest.param(lambda t: t.numpy(), id="numpy()"),
        pytest.param(lambda t: np.from_dlpack(t), id="np.from_dlpack"),
        pytest.param(lambda t: np.asarray(t), id="np.asarray"),
    ],
)
def test_numpy_layout_roundtrip(layout, back):
    a = NUMPY_LAYOUTS[layout]()
    t = db.from_numpy(a)
    b = back(t)
    assert b.shape == a.shape
    assert b.tolist() == a.tolist()
    if a.size:
        assert b.ctypes.data == a.ctypes.data
        nontrivial = [i for i, n in enumerate(a.shape) if n > 1]
        assert [b.strides[i] for i in nontrivial] == [a.strides[i] for i in nontrivial]


@pytest.mark.parametrize("layout", [k for k in NUMPY_LAYOUTS if not k.startswith("reversed")])
def test_numpy_layout_to_torch(layout):
    # torch cannot hold negative strides, so reversed layouts are left out here.
    a = NUMPY_LAYOUTS[layout]()
    t = db.from_numpy(a)
    x = torch.from_dlpack(t)
    assert tuple(x.shape) == a.shape
    assert x.tolist() == a.tolist()
    if a.size:
        assert x.data_ptr() == a.ctypes.data
        nontrivial = [i for i, n in enumerate(a.shape) if n > 1]
        assert [x.stride()[i] for i in nontrivial] == [a.strides[i] // 8 for i in nontrivial]


def test_layout_writes_cross_transposed():
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    t = db.from_numpy(a.T)
    x = torch.from_dlpack(t)
    x[2, 0] = 60  # a[0, 2]
    b = t.numpy()
    b[0, 1] = 70  # a[1, 0]
    assert a.tolist() == [[0, 1, 60], [70, 4, 5]]


def test_layout_writes_cross_sliced():
    a = np.arange(10, dtype=np.int64)
    t = db.from_numpy(a[2:8:2])
    x = torch.from_dlpack(t)
    x[1] = -4
    assert a[4] == -4
    assert t.tolist() == [2, -4, 6]


def test_layout_writes_cross_reversed_numpy():
    a = np.arange(5, dtype=np.int64)
    t = db.from_numpy(a[::-1])
    b = np.from_dlpack(t)
    b[0] = 40
    assert a[4] == 40


def test_zero_d_roundtrip_writes():
    a = np.array(1.5)
    t = db.from_numpy(a)
    x = torch.from_dlpack(t)
    assert x.shape == ()
    assert x.data_ptr() == a.ctypes.data
    x.fill_(2.5)
    assert a[()] == 2.5
    assert t.item() == 2.5


TORCH_LAYOUTS = {
    "0-d": lambda: torch.tensor(3),
    "empty": lambda: torch.zeros(0, 4, dtype=torch.int64),
    "transposed": lambda: torch.arange(12).reshape(3, 4).T,
    "non-contiguous": lambda: torch.arange(12).reshape(3, 4)[:, ::2],
    "expanded": lambda: torch.arange(3).expand(4, 3),
    "sliced": lambda: torch.arange(12)[3:9],
    "size-1-stride": lambda: torch.arange(9)[::3][:1],
    "permuted": lambda: torch.arange(24).reshape(2, 3, 4).permute(2, 0, 1),
}


@pytest.mark.parametrize("layout", list(TORCH_LAYOUTS))
def test_torch_layout_roundtrip(layout):
    x = TORCH_LAYOUTS[layout]()
    t = db.from_dlpack(x)
    assert t.shape == tuple(x.shape)
    assert t.tolist() == x.tolist()
    y = torch.from_dlpack(t)
    assert y.shape == x.shape
    assert y.tolist() == x.tolist()
    if x.numel():
        assert t.data_ptr() == x.data_ptr()
        assert y.data_ptr() == x.data_ptr()
        nontrivial = [i for i, n in enumerate(x.shape) if n > 1]
        assert [t.strides[i] for i in nontrivial] == [x.stride()[i] for i in nontrivial]
        assert [y.stride()[i] for i in nontrivial] == [x.stride()[i] for i in nontrivial]


def test_torch_view_writes_cross():
    base = torch.zeros(3, 4, dtype=torch.int64)
    t = db.from_dlpack(base.T)
    t[3, 2] = 5  # base[2, 3]
    assert base[2, 3].item() == 5
    y = torch.from_dlpack(t)
    y[0, 1] = 6  # base[1, 0]
    assert base[1, 0].item() == 6
