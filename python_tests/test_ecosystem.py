"""The buffer protocol both ways, pickling and copying."""

import array
import copy
import ctypes
import gc
import mmap
import pickle

import numpy as np
import pytest

import dlbridge as db


def test_memoryview_shares_memory_with_format_shape_and_strides():
    a = np.arange(12, dtype=np.int32).reshape(3, 4)
    t = db.from_numpy(a)[:, ::2]
    view = memoryview(t)
    assert (view.format, view.itemsize, view.shape, view.strides) == ("i", 4, (3, 2), (16, 8))
    assert not view.readonly
    shared = np.asarray(view)
    assert shared.ctypes.data == a.ctypes.data
    shared[1, 1] = -5
    assert a[1, 2] == -5
    assert view.tolist() == a[:, ::2].tolist()


@pytest.mark.parametrize(
    ("dtype", "fmt"),
    [
        (db.bool, "?"),
        (db.int8, "b"),
        (db.uint64, "Q"),
        (db.float16, "e"),
        (db.float64, "d"),
        (db.complex64, "Zf"),
        (db.complex128, "Zd"),
    ],
)
def test_memoryview_formats(dtype, fmt):
    view = memoryview(db.tensor([1, 0, 1], dtype=dtype))
    assert view.format == fmt
    assert np.asarray(view).tolist() == db.tensor([1, 0, 1], dtype=dtype).tolist()


def test_read_only_tensors_give_read_only_views_and_bfloat16_has_no_format():
    a = np.ones(3)
    a.flags.writeable = False
    view = memoryview(db.from_numpy(a))
    assert view.readonly
    with pytest.raises(TypeError):
        view[0] = 2.0
    with pytest.raises(BufferError, match="bfloat16"):
        memoryview(db.tensor([1.0], dtype=db.bfloat16))


def test_memoryview_keeps_the_memory_alive():
    view = memoryview(db.tensor([1.5, 2.5]))
    assert view.tolist() == [1.5, 2.5]
    view.release()


def test_frombuffer_shares_a_bytearray_and_writes_go_both_ways():
    raw = bytearray(np.arange(6, dtype=np.float32).tobytes())
    t = db.frombuffer(raw, dtype=db.float32)
    assert t.shape == (6,) and not t.readonly
    t[0] = 42.0
    assert np.frombuffer(raw, dtype=np.float32)[0] == 42.0
    raw[4:8] = np.float32(-1.0).tobytes()
    assert t.tolist()[1] == -1.0
    with pytest.raises(BufferError):
        raw.extend(b"1234")  # the exporter refuses to move exported memory


def test_frombuffer_of_bytes_is_read_only_and_honours_count_and_offset():
    data = np.arange(8, dtype=np.int16).tobytes()
    t = db.frombuffer(data, dtype="int16", count=3, offset=4)
    assert t.readonly
    assert t.tolist() == [2, 3, 4]
    with pytest.raises(ValueError):
        t[0] = 1


def test_frombuffer_of_array_and_mmap():
    numbers = array.array("d", [1.0, 2.0, 3.0])
    t = db.frombuffer(numbers, dtype=db.float64)
    t[2] = 9.0
    assert numbers[2] == 9.0
    with mmap.mmap(-1, 16) as mapped:
        m = db.frombuffer(mapped, dtype=db.uint8)
        m[3] = 7
        assert mapped[3] == 7
        del m


def test_frombuffer_of_exports_without_shape_or_strides():
    # ctypes arrays and 0-d NumPy arrays export contiguous memory without
    # strides (or shape), as the buffer protocol allows.
    doubles = (ctypes.c_double * 2)(1.0, 2.0)
    t = db.frombuffer(doubles, dtype=db.float64)
    assert t.tolist() == [1.0, 2.0]
    t[1] = 9.0
    assert doubles[1] == 9.0
    assert t.data_ptr() == ctypes.addressof(doubles)
    scalar = np.array(5, dtype=np.int64)
    s = db.frombuffer(scalar, dtype=db.int64)
    assert s.data_ptr() == scalar.ctypes.data
    s[0] = 6
    assert scalar == 6
    frozen = np.array(5, dtype=np.int64)
    frozen.flags.writeable = False
    assert db.frombuffer(frozen, dtype=db.int64).readonly


def test_frombuffer_refuses_a_strided_buffer_and_releases_what_it_held():
    strided = memoryview(np.zeros((4, 8), np.uint8)[:, ::2])
    with pytest.raises(BufferError, match="C-contiguous"):
        db.frombuffer(strided, dtype=db.uint8)
    raw = bytearray(8)
    t = db.frombuffer(raw, dtype=db.uint8)
    del t
    gc.collect()
    raw.extend(b"1234")  # the buffer was released with the last tensor
    assert len(raw) == 12


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"offset": 40}, "offset"),
        ({"count": 100}, "do not fit"),
        ({"offset": 1}, "multiple"),
        ({"offset": 32}, "32 bytes holds no float32 element after offset 32"),
    ],
)
def test_frombuffer_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        db.frombuffer(bytes(32), dtype=db.float32, **kwargs)


@pytest.mark.parametrize("dtype", [db.int32, db.bfloat16, db.complex128, db.bool])
def test_pickle_and_deepcopy_give_equal_independent_tensors(dtype):
    t = db.tensor([[1, 0], [1, 1]], dtype=dtype)[:, ::-1]
    for clone in (pickle.loads(pickle.dumps(t)), copy.deepcopy(t)):
        assert clone.dtype == t.dtype and clone.shape == t.shape
        assert clone.tolist() == t.tolist()
        assert clone.data_ptr() != t.data_ptr()
        assert not clone.readonly


def test_pickle_keeps_the_read_only_flag_and_copy_shares_memory():
    a = np.arange(3.0)
    a.flags.writeable = False
    t = db.from_numpy(a)
    assert pickle.loads(pickle.dumps(t)).readonly
    assert copy.deepcopy(t).readonly
    shallow = copy.copy(db.from_numpy(np.arange(3.0)))
    w = db.from_numpy(np.arange(3.0))
    assert copy.copy(w).data_ptr() == w.data_ptr()
    assert shallow.tolist() == [0.0, 1.0, 2.0]


def test_dtypes_pickle_to_the_same_object():
    assert pickle.loads(pickle.dumps(db.float16)) is db.float16


def test_main_env_report_lists_libraries_and_checks_interop_paths():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "dlbridge", "--env"], capture_output=True, text=True, check=True
    ).stdout
    assert "numpy" in out and "torch" in out
    assert "PyTorch <-> dlbridge (as_tensor, torch.from_dlpack)  works" in out
    assert "FAILED" not in out


def test_quick_bench_table_has_every_row():
    from dlbridge import _report

    table = _report.bench(number_scale=0.05)
    for name in ("db.from_numpy(a)", "db.tensor(a)", "db.as_tensor(torch_t)", "t.clone()"):
        assert name in table


def test_jax_reads_dlbridge_tensors_in_place():
    import jax.dlpack

    t = db.tensor(np.arange(1000, dtype=np.float32))
    assert t.data_ptr() % 64 == 0  # XLA shares only 64-byte aligned buffers
    x = jax.dlpack.from_dlpack(t, copy=False)
    assert x.unsafe_buffer_pointer() == t.data_ptr()
    t[0] = 42.0
    assert float(x[0]) == 42.0


def test_dlbridge_imports_jax_arrays_in_place():
    import jax.numpy as jnp

    a = jnp.arange(8.0, dtype=jnp.float32)
    t = db.from_dlpack(a)
    assert t.data_ptr() == a.unsafe_buffer_pointer()
    assert t.tolist() == list(range(8))
    assert db.as_tensor(a).data_ptr() == a.unsafe_buffer_pointer()


def test_buffer_requests_for_a_memory_order_are_honoured():
    class PyBuffer(ctypes.Structure):
        _fields_ = [
            ("buf", ctypes.c_void_p),
            ("obj", ctypes.c_void_p),
            ("len", ctypes.c_ssize_t),
            ("itemsize", ctypes.c_ssize_t),
            ("readonly", ctypes.c_int),
            ("ndim", ctypes.c_int),
            ("format", ctypes.c_char_p),
            ("shape", ctypes.POINTER(ctypes.c_ssize_t)),
            ("strides", ctypes.POINTER(ctypes.c_ssize_t)),
            ("suboffsets", ctypes.c_void_p),
            ("internal", ctypes.c_void_p),
        ]

    get = ctypes.pythonapi.PyObject_GetBuffer
    get.argtypes = [ctypes.py_object, ctypes.POINTER(PyBuffer), ctypes.c_int]
    release = ctypes.pythonapi.PyBuffer_Release
    release.argtypes = [ctypes.POINTER(PyBuffer)]
    strides, nd, f_contiguous, c_contiguous = 0x10 | 0x8, 0x8, 0x40 | 0x18, 0x20 | 0x18

    def request(tensor, flags):
        view = PyBuffer()
        get(tensor, ctypes.byref(view), flags)
        shape = [view.shape[i] for i in range(view.ndim)]
        release(ctypes.byref(view))
        return shape

    rows = db.tensor([[1, 2, 3], [4, 5, 6]], dtype=db.int32)
    assert request(rows, c_contiguous) == [2, 3]
    with pytest.raises(BufferError, match="Fortran"):
        request(rows, f_contiguous)
    assert request(rows.T, f_contiguous) == [3, 2]
    with pytest.raises(BufferError, match="C-contiguous"):
        request(rows.T, c_contiguous)
    assert request(rows[:, ::2], strides | nd) == [2, 2]
