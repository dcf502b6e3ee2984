"""db.as_tensor (shares when possible) and db.tensor (always a fresh copy).

Inference rules for Python data follow torch.tensor: bool -> bool, int -> int64,
float -> float32, complex -> complex64, mixed kinds promoted bool < int < float < complex.
"""

import numpy as np
import pytest
import torch

import dlbridge as db


class ForeignArray:
    """An 'other array library': only the DLPack protocol, keyword-only as in the spec."""

    def __init__(self, a):
        self.a = a

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        return self.a.__dlpack__(
            stream=stream, max_version=max_version, dl_device=dl_device, copy=copy
        )

    def __dlpack_device__(self):
        return (1, 0)


# ---------------------------------------------------------------------------
# as_tensor shares DLPack producers
# ---------------------------------------------------------------------------


def test_as_tensor_numpy_shares_and_writes_cross():
    a = np.arange(5, dtype=np.int64)
    t = db.as_tensor(a)
    assert t.data_ptr() == a.ctypes.data
    t[0] = 10
    assert a[0] == 10
    a[4] = 44
    assert t[4].item() == 44


def test_as_tensor_torch_shares_and_writes_cross():
    x = torch.arange(5, dtype=torch.float32)
    t = db.as_tensor(x)
    assert t.data_ptr() == x.data_ptr()
    assert t.dtype == db.float32
    t[1] = 2.5
    assert x[1].item() == 2.5
    x[3] = -1.0
    assert t[3].item() == -1.0


def test_as_tensor_dlbridge_tensor_shares():
    a = np.arange(4, dtype=np.int32)
    t = db.from_numpy(a)
    u = db.as_tensor(t)
    assert u.data_ptr() == a.ctypes.data
    u[2] = 20
    assert a[2] == 20


def test_as_tensor_foreign_producer_shares():
    a = np.arange(4, dtype=np.float64)
    t = db.as_tensor(ForeignArray(a))
    assert t.data_ptr() == a.ctypes.data
    t[0] = 9.0
    assert a[0] == 9.0


@pytest.mark.parametrize("dtype", [None, db.int64, "int64", np.int64, torch.int64, int])
def test_as_tensor_same_dtype_shares(dtype):
    a = np.arange(3, dtype=np.int64)
    t = db.as_tensor(a, dtype=dtype)
    assert t.data_ptr() == a.ctypes.data
    assert t.dtype == db.int64


def test_as_tensor_other_dtype_gives_converted_copy():
    a = np.array([1, 2, 3], dtype=np.int64)
    t = db.as_tensor(a, dtype=db.float32)
    assert t.dtype == db.float32
    assert t.data_ptr() != a.ctypes.data
    assert t.tolist() == [1.0, 2.0, 3.0]
    t[0] = 5.0
    assert a[0] == 1


def test_as_tensor_torch_other_dtype_gives_converted_copy():
    x = torch.tensor([1.7, -1.7, 2.2], dtype=torch.float64)
    t = db.as_tensor(x, dtype=db.int32)
    assert t.dtype == db.int32
    assert t.data_ptr() != x.data_ptr()
    assert t.tolist() == [1, -1, 2]  # truncation toward zero, like torch


def test_as_tensor_readonly_numpy_shares_readonly():
    a = np.arange(3)
    a.flags.writeable = False
    t = db.as_tensor(a)
    assert t.data_ptr() == a.ctypes.data
    assert t.readonly is True


def test_as_tensor_strided_numpy_shares_layout():
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    v = a[:, 1::2]
    t = db.as_tensor(v)
    assert t.data_ptr() == v.ctypes.data
    assert t.strides == (4, 2)
    assert t.tolist() == v.tolist()


def test_as_tensor_list_copies():
    data = [1, 2, 3]
    t = db.as_tensor(data)
    t[0] = 100
    assert data == [1, 2, 3]


def test_as_tensor_list_with_dtype():
    t = db.as_tensor([1, 2, 3], dtype=db.float64)
    assert t.dtype == db.float64
    assert t.tolist() == [1.0, 2.0, 3.0]


# ---------------------------------------------------------------------------
# tensor always copies
# ---------------------------------------------------------------------------


def test_tensor_numpy_copies():
    a = np.arange(4, dtype=np.int64)
    t = db.tensor(a)
    assert t.data_ptr() != a.ctypes.data
    assert t.tolist() == [0, 1, 2, 3]
    t[0] = 7
    assert a[0] == 0
    a[1] = 8
    assert t[1].item() == 1


def test_tensor_torch_copies():
    x = torch.arange(4)
    t = db.tensor(x)
    assert t.data_ptr() != x.data_ptr()
    t[0] = 7
    assert x[0].item() == 0


def test_tensor_dlbridge_copies():
    s = db.tensor([1.0, 2.0])
    t = db.tensor(s)
    assert t.data_ptr() != s.data_ptr()
    t[0] = 5.0
    assert s.tolist() == [1.0, 2.0]


def test_tensor_from_readonly_is_writable():
    a = np.arange(4)
    a.flags.writeable = False
    t = db.tensor(a)
    assert t.readonly is False
    t[0] = 9
    assert t.tolist() == [9, 1, 2, 3]
    assert a.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: np.arange(12).reshape(3, 4)[:, ::2], id="strided"),
        pytest.param(lambda: np.arange(12).reshape(3, 4).T, id="transposed"),
        pytest.param(lambda: np.arange(12)[::-1], id="reversed"),
        pytest.param(lambda: np.broadcast_to(np.arange(3), (2, 3)), id="broadcast"),
    ],
)
def test_tensor_from_strided_source_is_c_contiguous(make):
    a = make()
    t = db.tensor(a)
    assert t.is_contiguous()
    expected = []
    stride = 1
    for n in reversed(a.shape):
        expected.insert(0, stride)
        stride *= n
    assert t.strides == tuple(expected)
    assert t.readonly is False
    assert t.tolist() == a.tolist()
    assert t.data_ptr() != a.ctypes.data


def test_tensor_with_dtype_converts():
    t = db.tensor(np.array([1.9, -1.9]), dtype=db.int64)
    assert t.dtype == db.int64
    assert t.tolist() == [1, -1]


# ---------------------------------------------------------------------------
# Python scalars and nested sequences: torch's inference
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [db.tensor, db.as_tensor], ids=["tensor", "as_tensor"])
@pytest.mark.parametrize(
    ("data", "name"),
    [
        (True, "bool"),
        (5, "int64"),
        (1.5, "float32"),
        (1j, "complex64"),
        ([True, False], "bool"),
        ([1, 2], "int64"),
        ([1.0, 2.0], "float32"),
        ([1j, 2], "complex64"),
        ([True, 2], "int64"),
        ([1, 2.5], "float32"),
        ([True, 1.5], "float32"),
        ([True, 1j], "complex64"),
        ([1.5, 2j], "complex64"),
        ([[1, 2], [3, 4.5]], "float32"),
        (((1, 2), (3, 4)), "int64"),
        ([], "float32"),
        ((), "float32"),
        ([[], []], "float32"),
    ],
)
def test_inference_matches_torch(fn, data, name):
    t = fn(data)
    ref = torch.tensor(data)
    assert t.dtype == getattr(db, name)
    assert str(ref.dtype) == f"torch.{name}"  # the table above is torch's rule
    assert t.shape == tuple(ref.shape)
    assert t.tolist() == ref.tolist()


def test_scalar_gives_zero_d_tensor():
    t = db.tensor(7)
    assert t.shape == ()
    assert t.ndim == 0
    assert t.item() == 7


def test_empty_list_is_shape_0_float32():
    t = db.tensor([])
    assert t.shape == (0,)
    assert t.dtype == db.float32
    assert db.as_tensor([]).shape == (0,)


def test_nested_list_shape():
    t = db.tensor([[[1], [2]], [[3], [4]], [[5], [6]]])
    assert t.shape == (3, 2, 1)
    assert t.tolist() == [[[1], [2]], [[3], [4]], [[5], [6]]]


@pytest.mark.parametrize(
    ("data", "dtype", "name", "expected"),
    [
        ([1, 2], float, "float64", [1.0, 2.0]),
        ([1, 2], "float64", "float64", [1.0, 2.0]),
        ([1.7, -1.7], db.int64, "int64", [1, -1]),
        ([1.7, -1.7], "int32", "int32", [1, -1]),
        ([0, 2], db.bool, "bool", [False, True]),
        ([True, False], db.float32, "float32", [1.0, 0.0]),
        ([1, 2], complex, "complex128", [1 + 0j, 2 + 0j]),
        ([127, -128], db.int8, "int8", [127, -128]),
        ([65535], db.uint16, "uint16", [65535]),
        ([2**63], db.uint64, "uint64", [2**63]),
        ([2**64 - 1], db.uint64, "uint64", [2**64 - 1]),
        ([2**63 - 1], None, "int64", [2**63 - 1]),
        ([-(2**63)], None, "int64", [-(2**63)]),
        ([0.5, 1.5], db.float16, "float16", [0.5, 1.5]),
        ([0.5, 1.5], db.bfloat16, "bfloat16", [0.5, 1.5]),
    ],
)
def test_explicit_dtype_for_python_data(data, dtype, name, expected):
    t = db.tensor(data, dtype=dtype)
    assert t.dtype == getattr(db, name)
    assert t.tolist() == expected


def test_explicit_dtype_builtin_float_is_float64():
    assert db.tensor([1, 2], dtype=float).dtype == db.float64
    assert db.tensor([1, 2], dtype=int).dtype == db.int64
    assert db.tensor([1, 2], dtype=bool).dtype == db.bool
    assert db.tensor([1, 2], dtype=complex).dtype == db.complex128


@pytest.mark.parametrize(
    ("data", "dtype"),
    [
        ([300], db.uint8),
        ([-1], db.uint8),
        ([128], db.int8),
        ([-129], db.int8),
        ([2**64], None),
        ([2**63], None),
        ([-(2**63) - 1], None),
        ([2**64], db.uint64),
        ([-1], db.uint64),
        ([1, 2, 70000], db.int16),
        (300, db.uint8),
    ],
)
def test_int_out_of_range_raises_overflow_error(data, dtype):
    with pytest.raises(OverflowError):
        db.tensor(data, dtype=dtype)
    with pytest.raises(OverflowError):
        db.as_tensor(data, dtype=dtype)


@pytest.mark.parametrize(
    "data",
    [
        [[1, 2], [3]],
        [[1], [2, 3]],
        [[[1, 2]], [[3]]],
        [[1, 2], []],
    ],
)
def test_ragged_nesting_raises_value_error(data):
    with pytest.raises(ValueError):
        db.tensor(data)
    with pytest.raises(ValueError):
        db.as_tensor(data)


@pytest.mark.parametrize("data", [[[1, 2], 3], [1, [2, 3]]])
def test_mixed_scalar_and_sequence_raises(data):
    # torch raises TypeError here; a ValueError (ragged) is also a fair answer.
    with pytest.raises(ValueError):
        db.tensor(data)


@pytest.mark.parametrize(
    "data",
    [
        "abc",
        ["a", "b"],
        [1, "a"],
        None,
        [None],
        [1, None],
        object(),
        [object()],
        {1: 2},
        {1, 2},
    ],
    ids=[
        "str",
        "list-str",
        "mixed-str",
        "None",
        "list-None",
        "mixed-None",
        "object",
        "list-object",
        "dict",
        "set",
    ],
)
def test_unsupported_python_data_raises_type_error(data):
    with pytest.raises(TypeError):
        db.tensor(data)
    with pytest.raises(TypeError):
        db.as_tensor(data)


def test_python_data_result_is_writable_and_contiguous():
    t = db.tensor([[1, 2, 3], [4, 5, 6]])
    assert t.readonly is False
    assert t.is_contiguous()
    assert t.strides == (3, 1)
    t[1, 2] = 60
    assert t.tolist() == [[1, 2, 3], [4, 5, 60]]


def test_unsupported_numpy_dtype_raises():
    with pytest.raises(TypeError):
        db.as_tensor(np.array(["a", "b"]))
    with pytest.raises(BufferError):
        db.tensor(np.array([object()], dtype=object))


def test_overflow_message_names_value_and_dtype():
    with pytest.raises(OverflowError) as info:
        db.tensor([1, 300], dtype=db.uint8)
    assert "300" in str(info.value)
    assert "uint8" in str(info.value)


def test_type_error_message_names_the_bad_type():
    with pytest.raises(TypeError, match="str"):
        db.tensor([1, "a"])
    with pytest.raises(TypeError, match="NoneType|None"):
        db.tensor([1, None])
