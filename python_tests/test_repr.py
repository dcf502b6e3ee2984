"""repr/str of tensors: exactly torch's, with 'torch.' spelled 'dlbridge.'."""

import numpy as np
import pytest
import torch

import dlbridge as db

CASES = {
    # int64
    "int64-1d-padded": lambda: np.array([10, 2, 3]),
    "int64-1d-negative": lambda: np.array([-1, 100, 7]),
    "int64-0d": lambda: np.array(5),
    "int64-2d": lambda: np.array([[1, 2], [3, 4]]),
    "int64-3d": lambda: np.arange(24).reshape(2, 3, 4),
    "int64-empty": lambda: np.zeros(0, dtype=np.int64),
    "int64-empty-2d": lambda: np.zeros((2, 0), dtype=np.int64),
    "int64-1000-wraps": lambda: np.arange(1000),
    "int64-2000-summarized": lambda: np.arange(2000),
    "int64-40x40-summarized": lambda: np.arange(1600).reshape(40, 40),
    "int64-single": lambda: np.array([[1]]),
    # int32 and other ints
    "int32-1d": lambda: np.array([1, 2], dtype=np.int32),
    "int32-0d": lambda: np.array(-3, dtype=np.int32),
    "int32-2d": lambda: np.array([[-1, 100], [7, 0]], dtype=np.int32),
    "int32-empty": lambda: np.zeros(0, dtype=np.int32),
    "int32-1001-summarized": lambda: np.arange(1001, dtype=np.int32),
    "uint8-1d": lambda: np.array([1, 2], dtype=np.uint8),
    "int16-1d": lambda: np.array([1, 2], dtype=np.int16),
    # float32
    "float32-whole": lambda: np.array([1.0, 2.0], dtype=np.float32),
    "float32-fraction": lambda: np.array([1.5, 2.0], dtype=np.float32),
    "float32-quarters": lambda: np.array([0.5, 0.25, 0.125], dtype=np.float32),
    "float32-negative": lambda: np.array([0.0, -0.5], dtype=np.float32),
    "float32-padded": lambda: np.array([100.0, 2.0], dtype=np.float32),
    "float32-0d": lambda: np.array(1.5, dtype=np.float32),
    "float32-2d": lambda: np.array([[1.5, 2.0], [3.0, -4.25]], dtype=np.float32),
    "float32-empty": lambda: np.zeros(0, dtype=np.float32),
    "float32-empty-2d": lambda: np.zeros((2, 0), dtype=np.float32),
    "float32-1200-summarized": lambda: np.ones(1200, dtype=np.float32),
    # float64
    "float64-whole": lambda: np.array([1.0, 2.0, 3.0]),
    "float64-fraction": lambda: np.array([1.5, 2.0]),
    "float64-0d": lambda: np.array(2.5),
    "float64-2d": lambda: np.array([[0.5, 1.0], [2.0, 4.0]]),
    "float64-empty": lambda: np.zeros(0),
    # bool
    "bool-1d": lambda: np.array([True, False]),
    "bool-0d": lambda: np.array(False),
    "bool-2d": lambda: np.array([[True, False], [False, True]]),
    "bool-empty": lambda: np.zeros(0, dtype=bool),
    "bool-2000-summarized": lambda: np.ones(2000, dtype=bool),
    # layouts: repr shows logical values
    "int64-transposed": lambda: np.arange(6).reshape(2, 3).T,
    "int64-reversed": lambda: np.arange(5)[::-1],
    "float32-broadcast": lambda: np.broadcast_to(np.array([0.5, 1.0], dtype=np.float32), (3, 2)),
}


def _torch_repr(a):
    x = torch.from_numpy(np.array(a, order="C", copy=True))
    return repr(x).replace("torch.", "dlbridge.")


@pytest.mark.parametrize("case", list(CASES))
def test_repr_matches_torch(case):
    a = CASES[case]()
    t = db.from_numpy(a)
    assert repr(t) == _torch_repr(a)


@pytest.mark.parametrize("case", list(CASES))
def test_str_matches_repr(case):
    t = db.from_numpy(CASES[case]())
    assert str(t) == repr(t)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: db.tensor([10, 2, 3]), "tensor([10,  2,  3])"),
        (lambda: db.tensor([1, 2], dtype=db.int32), "tensor([1, 2], dtype=dlbridge.int32)"),
        (lambda: db.tensor(5), "tensor(5)"),
        (lambda: db.tensor([1.0, 2.0]), "tensor([1., 2.])"),
        (lambda: db.tensor([1.5, 2.0]), "tensor([1.5000, 2.0000])"),
        (lambda: db.tensor([True, False]), "tensor([ True, False])"),
        (lambda: db.tensor([[1, 2], [3, 4]]), "tensor([[1, 2],\n        [3, 4]])"),
        (lambda: db.tensor([]), "tensor([])"),
        (lambda: db.tensor([1.5], dtype=db.float64), "tensor([1.5000], dtype=dlbridge.float64)"),
    ],
)
def test_repr_literal_examples(make, expected):
    assert repr(make()) == expected


def test_repr_of_large_tensor_is_summarized():
    r = repr(db.from_numpy(np.arange(2000)))
    assert r == "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"
    assert "..." in r


def test_repr_of_torch_imported_tensor_matches_torch():
    x = torch.tensor([[1.5, -2.0], [0.25, 8.0]], dtype=torch.float64)
    assert repr(db.from_dlpack(x)) == repr(x).replace("torch.", "dlbridge.")
