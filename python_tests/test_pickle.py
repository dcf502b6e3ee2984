"""Pickle protocol 5 (PEP 574): a tensor's memory travels as one out-of-band
buffer, and is adopted again without a copy.

Several tests are adapted from NumPy's ``TestPickling``
(numpy/_core/tests/test_multiarray.py: ``test_with_buffercallback``,
``test_non_contiguous_array``, ``test_record_array_with_object_field``'s
protocol loop), with dlbridge tensors in place of arrays.
"""

import gc
import pickle
import weakref

import numpy as np
import pytest

import dlbridge as db
from dlbridge import _dlbridge


def _dumps_out_of_band(value):
    buffers = []
    data = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    return data, buffers


def test_with_buffercallback_shares_memory():
    # numpy: TestPickling.test_with_buffercallback.
    a = np.arange(10, dtype=np.int64)
    t = db.from_numpy(a)
    data, buffers = _dumps_out_of_band(t)
    assert len(buffers) == 1
    assert len(data) < 1024  # only the description is in band
    back = pickle.loads(data, buffers=buffers)
    assert back.data_ptr() == a.ctypes.data
    a[0] = -1
    assert back[0] == -1
    assert not back.readonly


def test_the_out_of_band_buffer_is_the_tensors_memory():
    t = db.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    _, [buffer] = _dumps_out_of_band(t)
    raw = buffer.raw()
    assert raw.nbytes == t.nbytes and raw.readonly is False
    assert np.frombuffer(raw, dtype=np.uint8).ctypes.data == t.data_ptr()


def test_read_only_tensors_go_read_only_and_come_back_read_only():
    a = np.arange(4.0)
    a.flags.writeable = False
    t = db.from_numpy(a)
    data, [buffer] = _dumps_out_of_band(t)
    assert buffer.raw().readonly
    back = pickle.loads(data, buffers=[buffer])
    assert back.readonly and back.data_ptr() == a.ctypes.data
    # In band too.
    assert pickle.loads(pickle.dumps(t, protocol=5)).readonly


def test_a_read_only_buffer_gives_a_read_only_tensor():
    # What Ray's object store hands back: read-only memory for a writable tensor.
    t = db.tensor([1.0, 2.0, 3.0])
    data, [buffer] = _dumps_out_of_band(t)
    frozen = bytes(buffer.raw())
    back = pickle.loads(data, buffers=[frozen])
    assert back.readonly
    assert back.tolist() == [1.0, 2.0, 3.0]
    assert back.data_ptr() == np.frombuffer(frozen, dtype=np.uint8).ctypes.data
    with pytest.raises(ValueError, match="read-only"):
        back[0] = 5.0


def test_non_contiguous_tensors_are_made_contiguous_once():
    # numpy: TestPickling.test_non_contiguous_array.
    a = np.arange(12, dtype=np.int32).reshape(3, 4)
    t = db.from_numpy(a)[:, ::2]
    data, [buffer] = _dumps_out_of_band(t)
    assert buffer.raw().nbytes == t.nbytes
    back = pickle.loads(data, buffers=[buffer])
    assert back.tolist() == a[:, ::2].tolist()
    assert back.is_contiguous()
    assert back.data_ptr() != a.ctypes.data
    data, buffers = _dumps_out_of_band(db.from_numpy(a).T)
    assert pickle.loads(data, buffers=buffers).tolist() == a.T.tolist()


ALL_DTYPES = [
    db.bool,
    db.int8,
    db.int16,
    db.int32,
    db.int64,
    db.uint8,
    db.uint16,
    db.uint32,
    db.uint64,
    db.float16,
    db.bfloat16,
    db.float32,
    db.float64,
    db.complex64,
    db.complex128,
]


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_every_dtype_round_trips_out_of_band(dtype):
    t = db.tensor([[1, 0, 1], [0, 1, 1]], dtype=dtype)
    data, buffers = _dumps_out_of_band(t)
    back = pickle.loads(data, buffers=buffers)
    assert back.dtype == dtype and back.shape == (2, 3)
    assert back.tolist() == t.tolist()
    assert back.data_ptr() == t.data_ptr()


@pytest.mark.parametrize(
    "dtype",
    [db.bool, db.int8, db.uint16, db.int64, db.float16, db.bfloat16, db.float64, db.complex128],
)
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_protocol_gives_an_equal_tensor(dtype, protocol):
    # numpy: TestPickling's loops over every protocol.
    t = db.tensor([[1, 0, 1], [0, 1, 1]], dtype=dtype)[:, ::-1]
    back = pickle.loads(pickle.dumps(t, protocol=protocol))
    assert back.dtype == dtype and back.shape == t.shape
    assert back.tolist() == t.tolist()
    assert back.data_ptr() != t.data_ptr()


@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 2, 5)])
def test_empty_tensors(shape):
    t = db.tensor(np.zeros(shape, dtype=np.float32))
    data, buffers = _dumps_out_of_band(t)
    back = pickle.loads(data, buffers=buffers)
    assert back.shape == shape and back.dtype == db.float32


def test_zero_dimensional_tensors():
    t = db.tensor(2.5)
    data, buffers = _dumps_out_of_band(t)
    back = pickle.loads(data, buffers=buffers)
    assert back.shape == () and back.item() == 2.5
    assert back.data_ptr() == t.data_ptr()


def test_the_buffer_owner_lives_as_long_as_the_tensor():
    owner = np.arange(4, dtype=np.float64)
    alive = weakref.ref(owner)
    data, _ = _dumps_out_of_band(db.tensor(owner))
    back = pickle.loads(data, buffers=[memoryview(owner)])
    del owner
    gc.collect()
    assert alive() is not None
    assert back.tolist() == [0.0, 1.0, 2.0, 3.0]
    del back
    gc.collect()
    assert alive() is None


def test_a_misaligned_buffer_is_adopted_without_a_copy():
    t = db.tensor([1.0, 2.0, 3.0], dtype=db.float64)
    data, [buffer] = _dumps_out_of_band(t)
    raw = np.zeros(1 + t.nbytes, dtype=np.uint8)
    raw[1:] = np.frombuffer(buffer.raw(), dtype=np.uint8)
    back = pickle.loads(data, buffers=[memoryview(raw)[1:]])
    assert back.tolist() == [1.0, 2.0, 3.0]
    assert back.data_ptr() == raw.ctypes.data + 1


@pytest.mark.parametrize(
    ("buffer", "dtype", "shape", "error", "match"),
    [
        (b"\0" * 12, "float32", [4], ValueError, "12 bytes cannot hold a float32 tensor of shape"),
        (b"\0" * 4, "float32", [2**20, 2**20], ValueError, "cannot hold"),
        (b"\0" * 4, "float32", [2**62, 2**62], ValueError, "cannot hold"),
        (b"\0" * 4, "float32", [-1], ValueError, "negative dimension -1"),
        (b"", "float32", [1] * 65, ValueError, "65"),
        (b"\0" * 4, "float128", [1], TypeError, "float128"),
        (np.zeros(8, dtype=np.uint8)[::2], "uint8", [4], BufferError, "C-contiguous"),
        (3, "uint8", [1], TypeError, "bytes-like"),
    ],
)
def test_malformed_pickles_are_refused_before_anything_is_adopted(
    buffer, dtype, shape, error, match
):
    with pytest.raises(error, match=match):
        _dlbridge._from_pickle_buffer(buffer, dtype, shape, False)


def test_protocols_below_5_keep_one_copy_in_band():
    t = db.tensor(np.arange(1000, dtype=np.float64))
    data = pickle.dumps(t, protocol=4)
    assert len(data) > t.nbytes
    back = pickle.loads(data)
    assert back.tolist() == t.tolist() and back.data_ptr() != t.data_ptr()
