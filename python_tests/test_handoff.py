"""The hand-off table the installed dlbridge publishes for other compiled
copies of dlbridge (``src/python/handoff.rs``), called here through ctypes as
such a copy calls it, and as a hostile caller could: every tensor it makes
shares the memory it is given, every refusal is an exception with the
offending value, and the owner it is given is released exactly once, on
success and on failure alike.

The example extension's tests return tensors through it from a real compiled
copy (``examples/rust_extension/tests/test_handoff.py``), and check the DLPack
routes that serve an installed version without it."""

import ctypes
import gc
import sys

import numpy as np
import pytest
import torch

import dlbridge as db
from dlbridge import _dlbridge

RELEASE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class DType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class Parts(ctypes.Structure):
    """``TensorParts``, field for field."""

    _fields_ = [
        ("base", ctypes.c_void_p),
        ("extent_start", ctypes.c_ssize_t),
        ("extent_len", ctypes.c_size_t),
        ("shape", ctypes.POINTER(ctypes.c_size_t)),
        ("strides", ctypes.POINTER(ctypes.c_ssize_t)),
        ("ndim", ctypes.c_size_t),
        ("offset", ctypes.c_ssize_t),
        ("dtype", DType),
        ("readonly", ctypes.c_bool),
        ("owner", ctypes.c_void_p),
        ("release", RELEASE),
    ]


WRAP = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.POINTER(Parts))


class Api(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint64), ("wrap", WRAP)]


def _api():
    capsule = _dlbridge._TENSOR_HANDOFF_API
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    pointer = get(capsule, b"dlbridge._dlbridge._TENSOR_HANDOFF_API")
    return Api.from_address(pointer)


# Every owner lives to the end of the session: a tensor that outlives its
# test (kept by a failure's traceback) still calls its release callback.
_KEPT = []


class Owner:
    """A buffer and a release callback that records its calls."""

    def __init__(self, nbytes=64):
        _KEPT.append(self)
        self.buffer = (ctypes.c_uint8 * nbytes)()
        self.address = ctypes.addressof(self.buffer)
        self.released = []
        self.release = RELEASE(self.released.append)

    def parts(self, shape, strides, *, offset=0, dtype=(2, 32, 1), readonly=False, extent=None):
        start, length = extent if extent is not None else (0, len(self.buffer))
        self.shape = (ctypes.c_size_t * max(len(shape), 1))(*shape)
        self.strides = (ctypes.c_ssize_t * max(len(strides), 1))(*strides)
        return Parts(
            base=self.address,
            extent_start=start,
            extent_len=length,
            shape=self.shape,
            strides=self.strides,
            ndim=len(shape),
            offset=offset,
            dtype=DType(*dtype),
            readonly=readonly,
            owner=0x5EED,
            release=self.release,
        )


def test_the_table_is_published_with_its_version():
    api = _api()
    assert api.version == 1


def test_a_handed_tensor_shares_the_memory_and_releases_its_owner_once_and_last():
    owner = Owner()
    t = _api().wrap(ctypes.byref(owner.parts([4, 2], [1, 4], offset=1)))
    assert type(t) is db.Tensor
    assert (t.shape, t.stride(), t.storage_offset()) == ((4, 2), (1, 4), 1)
    assert t.data_ptr() == owner.address + 4
    a = np.from_dlpack(t)
    x = torch.from_dlpack(t)
    assert a.ctypes.data == x.data_ptr() == owner.address + 4
    x[3, 1] = 2.5  # element offset 1 + 3 + 4 = 8: bytes 32..36
    assert np.frombuffer(owner.buffer, dtype=np.float32)[8] == 2.5
    del t
    gc.collect()
    assert owner.released == [], "NumPy and torch still use the memory"
    del a
    gc.collect()
    assert owner.released == []
    del x
    gc.collect()
    assert owner.released == [0x5EED]


def test_the_whole_extent_stays_reachable_for_views():
    # The extent, not only the bytes the layout reaches, is the storage: a
    # view may go anywhere in it, as in the copy that handed it over.
    owner = Owner(64)
    t = _api().wrap(ctypes.byref(owner.parts([2], [1], offset=4)))
    whole = t.as_strided((16,), (1,), 0)
    assert whole.data_ptr() == owner.address
    with pytest.raises(RuntimeError):
        t.as_strided((17,), (1,), 0)


def test_read_only_and_dtypes_cross():
    owner = Owner()
    t = _api().wrap(ctypes.byref(owner.parts([8], [1], dtype=(0, 64, 1), readonly=True)))
    assert t.dtype == db.int64
    assert t.readonly
    assert not np.from_dlpack(t).flags.writeable
    codes = [(1, 8, db.uint8), (6, 8, db.bool), (5, 128, db.complex128), (4, 16, db.bfloat16)]
    for code, bits, dtype in codes:
        parts = owner.parts([2], [1], dtype=(code, bits, 1))
        assert _api().wrap(ctypes.byref(parts)).dtype == dtype


def test_zero_d_and_empty():
    owner = Owner()
    t = _api().wrap(ctypes.byref(owner.parts([], [], offset=3)))
    assert (t.shape, t.data_ptr()) == ((), owner.address + 12)
    empty = _api().wrap(ctypes.byref(owner.parts([0, 2**62], [2**62, 1], extent=(0, 0))))
    assert empty.shape == (0, 2**62)


BIG = sys.maxsize


@pytest.mark.parametrize(
    ("parts", "error", "words"),
    [
        # the layout reaches past the extent (the one bounds check)
        (dict(shape=[17], strides=[1]), RuntimeError, "17"),
        (dict(shape=[2], strides=[1], offset=15), RuntimeError, "15"),
        (dict(shape=[2], strides=[-1], offset=0), RuntimeError, "-1"),
        (dict(shape=[4], strides=[1], extent=(8, 8)), RuntimeError, "8"),
        # arithmetic that overflows (Layout::new)
        (dict(shape=[BIG], strides=[BIG]), RuntimeError, str(BIG)),
        (dict(shape=[2, 2**62], strides=[2**62, 1]), RuntimeError, str(2**62)),
        (dict(shape=[2], strides=[1], offset=-BIG - 1), RuntimeError, str(-BIG - 1)),
        # an extent that wraps the address space
        (dict(shape=[1], strides=[1], extent=(0, 2**64 - 1)), BufferError, "wraps"),
        (dict(shape=[1], strides=[1], extent=(-(2**62), 2**62)), BufferError, "wraps"),
        # a dtype dlbridge does not carry
        (dict(shape=[1], strides=[1], dtype=(2, 24, 1)), BufferError, "24"),
        (dict(shape=[1], strides=[1], dtype=(2, 32, 4)), BufferError, "4"),
    ],
)
def test_refusals_name_the_value_and_release_the_owner_once(parts, error, words):
    owner = Owner()
    shape, strides = parts.pop("shape"), parts.pop("strides")
    with pytest.raises(error, match=words):
        _api().wrap(ctypes.byref(owner.parts(shape, strides, **parts)))
    assert owner.released == [0x5EED]


def test_too_many_dimensions_are_refused_before_the_arrays_are_read():
    owner = Owner()
    parts = owner.parts([1], [1])
    parts.ndim = 2**40  # the arrays hold one entry: reading them would crash
    with pytest.raises(ValueError, match=str(2**40)):
        _api().wrap(ctypes.byref(parts))
    assert owner.released == [0x5EED]


@pytest.mark.parametrize("field", ["base", "shape", "strides"])
def test_a_null_pointer_is_refused(field):
    owner = Owner()
    parts = owner.parts([1], [1])
    setattr(parts, field, None)
    with pytest.raises(BufferError, match="NULL"):
        _api().wrap(ctypes.byref(parts))
    assert owner.released == [0x5EED]
