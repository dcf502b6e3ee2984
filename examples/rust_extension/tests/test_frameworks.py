"""Results in the caller's framework: Rust memory returned as a NumPy array, a
torch tensor or a JAX array without a copy, the caller's framework told from an
argument, and outputs allocated by torch or NumPy and filled from Rust."""

import gc
import subprocess
import sys
import weakref

import dlbridge_example as ex
import numpy as np
import pytest
import torch

import dlbridge

try:
    import ml_dtypes
except ImportError:  # pragma: no cover - ml_dtypes is in the test venv
    ml_dtypes = None


def test_numpy_result_is_a_real_ndarray_over_the_rust_memory():
    a, rust_address = ex.arange_numpy(5)
    assert type(a) is np.ndarray
    assert a.dtype == np.float32
    assert a.ctypes.data == rust_address
    assert a.__array_interface__["data"] == (rust_address, False)
    assert a.flags.writeable and a.flags.c_contiguous and a.flags.aligned
    assert a.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_torch_result_is_a_real_tensor_over_the_rust_memory():
    x, rust_address = ex.arange_torch(5)
    assert type(x) is torch.Tensor
    assert x.dtype == torch.float32
    assert x.data_ptr() == rust_address
    assert x.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    x[0] = 7.0
    assert x[0].item() == 7.0


def test_same_framework_as_the_argument():
    a, address = ex.arange_like(3, np.zeros(1))
    assert type(a) is np.ndarray and a.ctypes.data == address
    x, address = ex.arange_like(3, torch.zeros(1))
    assert type(x) is torch.Tensor and x.data_ptr() == address
    t, address = ex.arange_like(3, dlbridge.tensor([1.0]))
    assert type(t) is dlbridge.Tensor and t.data_ptr() == address
    # Not a tensor of a known framework: a dlbridge.Tensor.
    t, address = ex.arange_like(3, [1.0])
    assert type(t) is dlbridge.Tensor and t.data_ptr() == address


def test_framework_of_is_decided_by_type():
    assert ex.framework_of(np.zeros(2)) == "numpy"
    assert ex.framework_of(np.zeros(2).view(np.matrix)) == "numpy"  # a subclass
    assert ex.framework_of(torch.zeros(2)) == "torch"
    assert ex.framework_of(torch.nn.Parameter(torch.zeros(2))) == "torch"
    assert ex.framework_of(dlbridge.tensor([0.0])) == "dlbridge"
    for other in ([1.0], 3.0, np.float32(1.0), memoryview(b"ab"), None):
        assert ex.framework_of(other) is None


def test_framework_of_jax():
    jnp = pytest.importorskip("jax.numpy")
    assert ex.framework_of(jnp.zeros(2)) == "jax"


def test_importing_and_asking_never_imports_torch_or_jax():
    code = (
        "import sys, numpy as np, dlbridge, dlbridge_example as ex\n"
        "assert ex.framework_of(np.zeros(1)) == 'numpy'\n"
        "assert ex.framework_of([1]) is None\n"
        "a, _ = ex.arange_numpy(3)\n"
        "t, _ = ex.arange_like(3, np.zeros(1))\n"
        "assert 'torch' not in sys.modules and 'jax' not in sys.modules\n"
        "x, _ = ex.arange_torch(3)\n"
        "assert 'torch' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", ["numpy", "torch", "dlbridge"])
def test_writes_are_seen_on_both_sides(name):
    source = dlbridge.tensor([1.0, 2.0, 3.0])
    out = ex.share_as(source, name)
    out[1] = 20.0
    assert source.tolist() == [1.0, 20.0, 3.0]
    source[2] = 30.0
    assert out.tolist() == [1.0, 20.0, 30.0]
    ex.scale_(out, 2.0)  # and Rust writes through the result
    assert source.tolist() == [2.0, 40.0, 60.0]


def _address(obj):
    if isinstance(obj, np.ndarray):
        return obj.ctypes.data
    if isinstance(obj, torch.Tensor):
        return obj.data_ptr()
    return obj.data_ptr()


@pytest.mark.parametrize("name", ["numpy", "torch"])
def test_strided_views_keep_their_layout(name):
    base = np.arange(24, dtype=np.int32).reshape(4, 6)
    view = base[::2, 1::3]  # strided
    if name == "numpy":
        view = base[::2, ::-3]  # and reversed: NumPy has negative strides
    out = ex.share_as(view, name)
    assert _address(out) == view.ctypes.data
    assert np.asarray(out.tolist()).tolist() == view.tolist()
    if name == "numpy":
        assert out.strides == view.strides
    else:
        assert out.stride() == tuple(s // 4 for s in view.strides)


@pytest.mark.parametrize("name", ["numpy", "torch", "jax"])
def test_zero_dimensional_and_empty_results(name):
    if name == "jax":
        pytest.importorskip("jax")
    scalar = dlbridge.tensor(3.5)
    out = ex.share_as(scalar, name)
    assert tuple(out.shape) == () and float(out) == 3.5
    empty = dlbridge.tensor(np.zeros((0, 3)))
    out = ex.share_as(empty, name)
    assert tuple(out.shape) == (0, 3)


def test_torch_refuses_negative_strides_as_from_numpy_does():
    with pytest.raises(ValueError, match="negative strides"):
        ex.share_as(np.arange(4.0)[::-1], "torch")
    # A reversed dimension of one element has no stride that matters.
    assert ex.share_as(np.arange(4.0)[:1][::-1], "torch").tolist() == [0.0]


DTYPES = [
    ("bool", [True, False, True]),
    ("int8", [-1, 0, 2]),
    ("uint8", [0, 1, 255]),
    ("int16", [-300, 0, 300]),
    ("uint16", [0, 1, 65535]),
    ("int32", [-1, 0, 2**31 - 1]),
    ("uint32", [0, 1, 2**32 - 1]),
    ("int64", [-1, 0, 2**62]),
    ("uint64", [0, 1, 2**63]),
    ("float16", [0.5, -1.0, 2.0]),
    ("bfloat16", [0.5, -1.0, 2.0]),
    ("float32", [0.5, -1.0, 2.0]),
    ("float64", [0.5, -1.0, 2.0]),
    ("complex64", [1 + 2j, 0j, -1j]),
    ("complex128", [1 + 2j, 0j, -1j]),
]


@pytest.mark.parametrize(("dtype", "values"), DTYPES)
def test_every_dtype_to_numpy(dtype, values):
    t = dlbridge.tensor(values, dtype=dtype)
    a = ex.share_as(t, "numpy")
    assert a.ctypes.data == t.data_ptr()
    if dtype == "bfloat16":
        assert a.dtype == ml_dtypes.bfloat16
        assert a.astype(np.float32).tolist() == values
    else:
        assert a.dtype == np.dtype(dtype)
        assert a.tolist() == values


@pytest.mark.parametrize(("dtype", "values"), DTYPES)
def test_every_dtype_to_torch(dtype, values):
    t = dlbridge.tensor(values, dtype=dtype)
    x = ex.share_as(t, "torch")
    assert x.data_ptr() == t.data_ptr()
    assert x.dtype == getattr(torch, dtype)
    assert x.tolist() == values


def test_bfloat16_without_ml_dtypes_is_a_type_error():
    code = (
        "import sys; sys.modules['ml_dtypes'] = None\n"
        "import dlbridge, dlbridge_example as ex\n"
        "t = dlbridge.tensor([1.0], dtype='bfloat16')\n"
        "try:\n"
        "    ex.share_as(t, 'numpy')\n"
        "except TypeError as e:\n"
        "    assert 'ml_dtypes' in str(e), e\n"
        "else:\n"
        "    raise AssertionError('no TypeError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_read_only_stays_read_only_in_numpy_and_is_refused_by_torch():
    a = np.arange(4.0)
    a.flags.writeable = False
    out = ex.share_as(a, "numpy")
    assert out.ctypes.data == a.ctypes.data
    assert not out.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        out[0] = 1.0
    # NumPy refuses to make it writable again: its base is not a writable
    # buffer (the same as for np.from_dlpack of a read-only capsule).
    with pytest.raises(ValueError):
        out.flags.writeable = True
    with pytest.raises(BufferError, match="read-only"):
        ex.share_as(a, "torch")
    # Returned as a dlbridge.Tensor (through the installed class's C exchange
    # API), the flag is kept too.
    t = ex.share_as(a, "dlbridge")
    assert type(t) is dlbridge.Tensor and t.readonly and t.data_ptr() == a.ctypes.data
    with pytest.raises(ValueError, match="read-only"):
        t[0] = 1.0
    # bytes are read-only memory, never handed to torch as writable.
    with pytest.raises(BufferError, match="read-only"):
        ex.share_as(dlbridge.frombuffer(b"abcd", dtype="uint8"), "torch")


def test_the_source_stays_alive_while_the_result_lives_and_is_released_after():
    for name in ("numpy", "torch", "dlbridge"):
        a = np.arange(6.0)
        ref = weakref.ref(a)
        out = ex.share_as(a, name)
        del a
        gc.collect()
        assert ref() is not None, name
        view = out[2:]  # a view of the result keeps it alive too
        del out
        gc.collect()
        assert ref() is not None, name
        assert view.tolist() == [2.0, 3.0, 4.0, 5.0]
        del view
        gc.collect()
        assert ref() is None, name


def test_rust_memory_outlives_the_call():
    a, _ = ex.arange_numpy(1000)
    x, _ = ex.arange_torch(1000)
    gc.collect()
    assert a.sum() == sum(range(1000))
    assert x.sum().item() == sum(range(1000))


def test_no_leak_over_many_results():
    a = np.arange(8.0)
    before = sys.getrefcount(a)
    for _ in range(1000):
        ex.share_as(a, "numpy")
        ex.share_as(a, "torch")
    gc.collect()
    assert sys.getrefcount(a) == before


def test_jax_result():
    jax = pytest.importorskip("jax")
    t = dlbridge.tensor([1.0, 2.0, 3.0], dtype="float32")
    j = ex.share_as(t, "jax")
    assert isinstance(j, jax.Array)
    assert j.tolist() == [1.0, 2.0, 3.0]
    # dlbridge's own allocations are 64-byte aligned, so XLA shares them.
    assert j.unsafe_buffer_pointer() == t.data_ptr()
    a = np.arange(3.0)
    a.flags.writeable = False
    with pytest.raises(BufferError):
        ex.share_as(a, "jax")


def test_allocated_by_torch_and_filled_from_rust():
    x = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    out, rust_address = ex.squares(x)
    assert type(out) is torch.Tensor
    assert out.data_ptr() == rust_address  # Rust filled torch's memory
    assert out.tolist() == [[0.0, 1.0, 4.0], [9.0, 16.0, 25.0]]
    assert out.is_contiguous()
    # torch's own storage, resizable like any tensor torch allocated itself.
    out2, _ = ex.squares(x.T)
    assert out2.tolist() == (x.T * x.T).tolist()


def test_allocated_by_numpy_and_filled_from_rust():
    a = np.arange(4, dtype=np.float32)
    out, rust_address = ex.squares(a)
    assert type(out) is np.ndarray
    assert out.ctypes.data == rust_address
    assert out.tolist() == [0.0, 1.0, 4.0, 9.0]
    assert out.flags.owndata  # NumPy's own allocation


def test_zeros_in_each_framework():
    for name, kind in (
        ("torch", torch.Tensor),
        ("numpy", np.ndarray),
        ("dlbridge", dlbridge.Tensor),
    ):
        out, address = ex.zeros_in(name, [3, 4])
        assert type(out) is kind
        assert _address(out) == address
        assert out.tolist() == [[0.0] * 4] * 3
    out, _ = ex.zeros_in("torch", [])
    assert out.shape == () and out.item() == 0.0
    out, _ = ex.zeros_in("torch", [0, 5])
    assert tuple(out.shape) == (0, 5)
    with pytest.raises(TypeError, match="immutable"):
        ex.zeros_in("jax", [2])


def test_torch_allocated_memory_outlives_the_rust_view():
    x, _ = ex.zeros_in("torch", [1000])
    ref = weakref.ref(x)
    x += 1
    gc.collect()
    assert x.sum().item() == 1000.0
    del x
    gc.collect()
    assert ref() is None


def test_torch_without_the_exchange_api_goes_through_from_dlpack():
    # As on a torch older than the DLPack C exchange API: the class attribute
    # is shadowed before the first result goes to torch (the table is looked
    # up once per process, so in a fresh interpreter).
    code = (
        "import torch\n"
        "torch.Tensor.__dlpack_c_exchange_api__ = None\n"
        "import numpy as np, dlbridge_example as ex\n"
        "x, address = ex.arange_torch(3)\n"
        "assert type(x) is torch.Tensor and x.data_ptr() == address\n"
        "assert x.tolist() == [0.0, 1.0, 2.0]\n"
        "out, address = ex.zeros_in('torch', [2, 3])\n"
        "assert out.data_ptr() == address and out.tolist() == [[0.0] * 3] * 2\n"
        "out, address = ex.squares(torch.arange(3.0))\n"
        "assert out.data_ptr() == address and out.tolist() == [0.0, 1.0, 4.0]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
