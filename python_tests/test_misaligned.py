"""Misaligned memory is shared, copied and exported as NumPy and torch treat it.

DLPack places no alignment requirement on CPU data pointers: ``torch.from_numpy``,
``torch.from_dlpack`` and ``np.from_dlpack`` all share a float64 array at an odd
address, and torch computes on it. dlbridge does the same on every import path;
only typed Rust access refuses it (``examples/rust_extension/tests/test_typed.py``).

Adapted from JAX's DLPack tests, ``tests/array_interoperability_test.py`` in
jax-ml/jax (Apache-2.0): ``_get_alignment``, ``_get_alignment_offset``,
``_ensure_alignment`` and ``test_ensure_alignment`` are theirs unchanged;
``testNumpyToJax`` (every shape and dtype, ``copy`` in False/True/None, aligned
or at alignment exactly 2) becomes ``test_numpy_to_dlbridge`` with dlbridge in
place of JAX, checking pointers as well as values; ``testJaxToNumpy`` becomes
``test_dlbridge_to_numpy_and_torch``. JAX on the CPU copies misaligned input
(XLA needs 64-byte alignment), so ``copy=False`` raises there; dlbridge shares.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import NUMPY_DTYPES

import dlbridge as db

NONEMPTY_NONSCALAR = [(4,), (3, 4), (2, 3, 4), (3, 1), (1, 4), (2, 1, 4)]
EMPTY = [(0,), (0, 4), (3, 0)]
ALL_SHAPES = [(), *NONEMPTY_NONSCALAR, *EMPTY]


# --- from JAX, unchanged ---------------------------------------------------------


def _get_alignment(x: int):
    """Return alignment of x."""
    return x & ((~x) + 1)


def _get_alignment_offset(ptr: int, alignment: int):
    """Return minimal positive offset such that
      _get_alignment(ptr + offset) == alignment

    Note that 0 <= offset < 2 * alignment.
    """
    if _get_alignment(ptr) == alignment:
        return 0
    offset = alignment - (ptr & (alignment - 1))
    if _get_alignment(ptr + offset) == alignment:
        return offset
    return offset + alignment


def _ensure_alignment(arr, desired_alignment):
    """Return a copy of numpy array such that its data pointer has the
    desired alignment exactly. The desired alignment must be power of
    two.
    """
    assert desired_alignment > 1, desired_alignment
    buf = np.empty(2 * desired_alignment + arr.nbytes, dtype=np.int8)
    ptr = buf.__array_interface__["data"][0]
    start = _get_alignment_offset(ptr, desired_alignment)
    # if arr.nbytes == 0 and start > 0 then buf[start:start+arr.nbytes]
    # incorrectly returns the original buffer, so we must use
    # buf[start:][:arr.nbytes]:
    new = buf[start:][: arr.nbytes].view(arr.dtype).reshape(arr.shape)
    np.copyto(new, arr, casting="unsafe")
    new_ptr = new.__array_interface__["data"][0]
    assert new_ptr & (desired_alignment - 1) == 0  # sanity check
    assert new_ptr & (desired_alignment * 2 - 1) != 0  # sanity check
    return new


def test_ensure_alignment():
    def reference(ptr, alignment):
        start = 0
        while _get_alignment(ptr + start) != alignment:
            start += 1
        return start

    for alignment in [2, 4, 8, 16, 32, 64, 128]:
        max_start = 1
        for ptr in range(1000):
            start = _get_alignment_offset(ptr, alignment)
            expected = reference(ptr, alignment)
            max_start = max(max_start, start)
            assert start == expected
        assert max_start == alignment * 2 - 1


# --- adapted ---------------------------------------------------------------------


def values(shape, dtype):
    """Distinct values of `dtype` (JAX's `rand_default`, made deterministic)."""
    n = int(np.prod(shape))
    raw = (np.arange(n) % 7) - 3
    if np.dtype(dtype).kind == "c":
        return (raw + 1j * raw[::-1]).astype(dtype).reshape(shape)
    return raw.astype(dtype).reshape(shape)


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("copy", [False, True, None])
@pytest.mark.parametrize("dtype", NUMPY_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", ALL_SHAPES, ids=str)
def test_numpy_to_dlbridge(shape, dtype, copy, aligned):
    # JAX's `_get_max_align_bits` is 64 on the CPU: an aligned array is at a
    # 64-byte boundary, a misaligned one at exactly 2 (odd for every dtype of
    # more than 2 bytes).
    x_np = _ensure_alignment(values(shape, dtype), desired_alignment=64 if aligned else 2)
    t = db.from_dlpack(x_np, copy=copy)
    assert t.shape == x_np.shape
    assert t.tolist() == x_np.tolist()
    if x_np.size:
        shared = t.data_ptr() == x_np.ctypes.data
        assert shared is (copy is not True)
        if copy is True:
            assert t.data_ptr() % 64 == 0  # a fresh allocation, aligned


@pytest.mark.parametrize("dtype", NUMPY_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", ALL_SHAPES, ids=str)
def test_dlbridge_to_numpy_and_torch(shape, dtype):
    x_np = _ensure_alignment(values(shape, dtype), desired_alignment=2)
    t = db.from_numpy(x_np)
    back = np.from_dlpack(t)
    theirs = torch.from_dlpack(t)
    assert back.tolist() == x_np.tolist() == theirs.tolist()
    if x_np.size:
        assert back.ctypes.data == theirs.data_ptr() == x_np.ctypes.data


def odd_float64(n=5):
    """A float64 array at an odd address (one byte into a uint8 buffer)."""
    raw = np.zeros(8 * n + 1, dtype=np.uint8)
    a = raw[1:].view(np.float64)
    a[:] = np.arange(n) + 0.5
    assert a.ctypes.data % 2 == 1
    return a


@pytest.mark.parametrize(
    "share",
    [
        db.from_numpy,
        db.from_dlpack,
        db.as_tensor,
        lambda a: db.frombuffer(a.base, db.float64, offset=1),
        lambda a: db.from_dlpack(torch.from_numpy(a)),
    ],
    ids=["from_numpy", "from_dlpack", "as_tensor", "frombuffer", "torch"],
)
def test_every_import_shares_an_odd_address_both_ways(share):
    a = odd_float64()
    t = share(a)
    assert t.data_ptr() == a.ctypes.data
    t[1] = -1.0
    assert a[1] == -1.0
    a[2] = 9.0
    assert t[2].item() == 9.0
    # torch and NumPy take it back without a copy, and torch computes on it.
    x = torch.from_dlpack(t)
    assert x.data_ptr() == a.ctypes.data
    assert (x * 2).tolist() == [2 * v for v in a.tolist()]
    assert np.from_dlpack(t).ctypes.data == a.ctypes.data
    assert memoryview(t).tolist() == a.tolist()


def test_a_misaligned_tensor_copies_once_into_aligned_memory_with_no_alias():
    a = odd_float64()
    t = db.from_numpy(a)
    for copy in (t.clone(), db.tensor(t), t.to(db.float32), t[::-1].contiguous()):
        assert copy.data_ptr() % 64 == 0
        start, end = a.ctypes.data, a.ctypes.data + a.nbytes
        assert not start <= copy.data_ptr() < end
    c = t.clone()
    assert c.tolist() == a.tolist()
    c[0] = 123.0
    assert a[0] == 0.5  # a copy, not an alias
    assert t.to(db.float32).tolist() == a.astype(np.float32).tolist()
    assert t.to(db.float16).tolist() == a.astype(np.float16).tolist()
    # Writes and casts into misaligned memory.
    t[...] = db.tensor([1, 2, 3, 4, 5], dtype=db.int32)
    assert a.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert (t == t).tolist() == [True] * 5
    assert repr(t).startswith("tensor([1., 2., 3., 4., 5.]")


def test_a_misaligned_view_keeps_its_strides_and_source():
    raw = np.zeros(8 * 12 + 1, dtype=np.uint8)
    a = raw[1:].view(np.float64).reshape(3, 4)
    a[:] = np.arange(12).reshape(3, 4)
    view = a[::-1, 1::2]
    t = db.from_numpy(view)
    assert t.stride() == (-4, 2)
    assert t.data_ptr() == view.ctypes.data
    assert t.tolist() == view.tolist()
    assert np.from_dlpack(t).ctypes.data == view.ctypes.data  # torch has no negative strides
