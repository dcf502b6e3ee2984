"""NumPy's and PyTorch's own DLPack tests, adapted to dlbridge.

Where each part comes from:

* ``TestNumpyDLPack`` adapts ``TestDLPack`` from numpy/numpy,
  ``numpy/_core/tests/test_dlpack.py`` (main, commit 1f90bbb55e65). ``TestNumpyScalarDLPack``
  adapts ``TestScalarDLPack`` and ``TestNumpyRegisteredDtype`` adapts
  ``TestRegisterDlpackDtype`` from the same file; both need NumPy features newer than
  the NumPy installed here (scalar ``__dlpack__``, ``np.dtypes.register_dlpack_dtype``)
  and skip without them.
* ``TestTorchDLPack`` adapts ``TestTorchDlPack`` from pytorch/pytorch,
  ``test/test_dlpack.py`` (main, commit 01f9ef32eae5, plus the newer revision of the same
  file that adds ``test_dlpack_copy_fallback`` and ``test_dlpack_exchange_api``).
  ``TestTorchExchangeAPI`` adapts that ``test_dlpack_exchange_api``: upstream drives
  torch's ``__dlpack_c_exchange_api__`` table from inline C++, here ctypes drives
  dlbridge's table, and torch's against dlbridge's.

Every test names the upstream test it comes from. Each upstream case is run in both
directions where that makes sense: dlbridge as the producer (NumPy or torch consumes a
dlbridge tensor) and dlbridge as the consumer (``db.from_dlpack``, ``db.as_tensor``,
``db.tensor`` take a NumPy array or torch tensor). Zero copy is proven with pointers
(``data_ptr()``, ``__array_interface__``) and with writes seen on the other side, never
with equal values alone.

Adaptations:

* CPU only. Upstream tests that exist only for CUDA/ROCm/MPS or several devices
  (``test_dlpack_conversion_with_streams``, ``test_dlpack_convert_default_stream``,
  ``test_dlpack_cuda_per_thread_stream``, ``test_dlpack_invalid_rocm_streams``,
  ``test_dlpack_invalid_cuda_streams``, ``test_dlpack_tensor_on_different_device``,
  ``test_copy``/``test_no_copy``/``test_needs_copy_error`` across devices) become
  their CPU meaning: the only stream is ``None``, the only device ``(kDLCPU, 0)``.
* dtypes: dlbridge's fifteen. NumPy has no bfloat16 (skipped with a reason where
  NumPy is involved); torch's float8/float4/complex32 types, which dlbridge does not
  carry, must be refused with ``BufferError`` (the narrow-precision stream tests).
* Where dlbridge deliberately differs from NumPy or torch (each follows the other, or
  the DLPack spec), the test asserts dlbridge's documented behaviour (docs/dlpack.md)
  and says so.
"""

from __future__ import annotations

import ctypes
import gc
import sys
import warnings

import numpy as np
import pytest
import torch
from conftest import (
    NUMPY_DTYPES,
    DLDataType,
    DLDevice,
    DLPackVersion,
    DLTensor,
    capsule_name,
    tracked_array,
)
from torch.testing import make_tensor
from torch.utils.dlpack import from_dlpack as torch_utils_from_dlpack
from torch.utils.dlpack import to_dlpack

import dlbridge as db

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

KDL_CPU = 1
KDL_HEXAGON = 16

# torch's all_types_and_complex_and(half, bfloat16, bool, uint16, uint32, uint64):
# exactly dlbridge's fifteen dtypes.
TORCH_DTYPES = [
    torch.bool,
    torch.uint8,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.uint16,
    torch.uint32,
    torch.uint64,
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
    torch.complex64,
    torch.complex128,
]

# Upstream's test_dlpack_tensor_invalid_stream: all_types_and_complex_and(half, bfloat16).
TORCH_STREAM_DTYPES = [
    torch.uint8,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
    torch.complex64,
    torch.complex128,
]

# torch dtypes with a DLPack code that dlbridge does not carry.
TORCH_UNSUPPORTED_DTYPES = [
    torch.float8_e5m2,
    torch.float8_e5m2fnuz,
    torch.float8_e4m3fn,
    torch.float8_e4m3fnuz,
    torch.float8_e8m0fnu,
    torch.float4_e2m1fn_x2,
    torch.complex32,
]


def np_ptr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def db_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def db_dtype(dtype) -> db.DType:
    if isinstance(dtype, torch.dtype):
        return getattr(db, db_name(dtype))
    return getattr(db, np.dtype(dtype).name)


def db_owned(values, dtype) -> db.Tensor:
    """A tensor whose memory dlbridge allocated itself (no foreign owner)."""
    return db.tensor(values, dtype=db_dtype(dtype))


def torch_sample(dtype: torch.dtype, shape=(5,)) -> torch.Tensor:
    return make_tensor(shape, dtype=dtype, device="cpu")


def bumped(value):
    """A value different from ``value``, of the same kind, exact in every dtype."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, complex):
        return value + (20 + 0j)
    return value + 20


def new_and_old_dlpack():
    """numpy's helper: a plain array and a subclass with an old-style ``__dlpack__``."""

    class OldDLPack(np.ndarray):
        # Supports only the "old" signature: no max_version, dl_device or copy.
        def __dlpack__(self, stream=None):
            return super().__dlpack__(stream=None)

    return [np.arange(5), np.arange(5).view(OldDLPack)]


class OldStyleProducer:
    """A dlbridge tensor behind a producer from before DLPack 1.0 (legacy capsules)."""

    def __init__(self, tensor):
        self.tensor = tensor

    def __dlpack__(self, stream=None):
        return self.tensor.__dlpack__(stream=stream)

    def __dlpack_device__(self):
        return self.tensor.__dlpack_device__()


class TensorDLPackWrapper:
    """torch's wrapper: exposes only ``__dlpack__`` and ``__dlpack_device__``."""

    def __init__(self, tensor):
        self.tensor = tensor

    def __dlpack__(self, *args, **kwargs):
        return self.tensor.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self, *args, **kwargs):
        return self.tensor.__dlpack_device__(*args, **kwargs)


def quiet(make):
    """Build a torch object whose constructor warns (sparse, quantized, complex32)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make()


# ===========================================================================
# numpy/numpy: numpy/_core/tests/test_dlpack.py, class TestDLPack
# ===========================================================================


class TestNumpyDLPack:
    # -- test_dunder_dlpack_refcount ---------------------------------------

    @pytest.mark.parametrize("max_version", [(0, 0), None, (1, 0), (100, 3)])
    def test_dunder_dlpack_refcount_db_producer(self, max_version):
        """numpy TestDLPack.test_dunder_dlpack_refcount, dlbridge as the producer.

        A dlbridge capsule holds the tensor's storage (not the Python tensor object, so
        the upstream "refcount drops by one" becomes "the capsule keeps the memory
        alive, and releases exactly what it took when it goes").
        """
        arr, fin = tracked_array([0, 1, 2, 3, 4])
        t = db.from_numpy(arr)
        start_arr, start_t = sys.getrefcount(arr), sys.getrefcount(t)
        y = t.__dlpack__(max_version=max_version)
        del y
        assert sys.getrefcount(arr) == start_arr
        assert sys.getrefcount(t) == start_t

        y = t.__dlpack__(max_version=max_version)
        del t, arr
        gc.collect()
        assert fin.alive, "the capsule must keep the exported memory alive"
        del y
        gc.collect()
        assert not fin.alive, "the capsule leaked the exported memory"

    # -- test_dunder_dlpack_stream / torch test_dlpack_invalid_cpu_stream ----

    def test_dunder_dlpack_stream_db_producer(self):
        """numpy TestDLPack.test_dunder_dlpack_stream, dlbridge as the producer.

        NumPy (main) raises ValueError for ``stream=1``; dlbridge does the same.
        """
        t = db.tensor([0, 1, 2, 3, 4])
        t.__dlpack__(stream=None)
        with pytest.raises(ValueError):
            t.__dlpack__(stream=1)

    # -- test_dunder_dlpack_copy -------------------------------------------

    def test_dunder_dlpack_copy_db_producer(self):
        """numpy TestDLPack.test_dunder_dlpack_copy, dlbridge as the producer.

        NumPy raises ValueError for ``copy=np.array([1, 2, 3])`` (the array's ambiguous
        truth value); dlbridge documents a TypeError for an argument of the wrong type.
        Either way the call must fail.
        """
        t = db.tensor([0, 1, 2, 3, 4])
        t.__dlpack__(copy=True)
        t.__dlpack__(copy=None)
        t.__dlpack__(copy=False)
        with pytest.raises(TypeError):
            t.__dlpack__(copy=np.array([1, 2, 3]))

    # -- test_strides_not_multiple_of_itemsize ------------------------------

    def test_strides_not_multiple_of_itemsize_db_consumer(self):
        """numpy TestDLPack.test_strides_not_multiple_of_itemsize, dlbridge consuming."""
        dt = np.dtype([("int", np.int32), ("char", np.int8)])
        y = np.zeros((5,), dtype=dt)
        z = y["int"]
        with pytest.raises(BufferError):
            db.from_dlpack(z)
        with pytest.raises(BufferError):
            db.from_numpy(z)

    # -- test_from_dlpack_refcount -----------------------------------------

    @pytest.mark.parametrize("arr", new_and_old_dlpack(), ids=["new", "old"])
    def test_from_dlpack_refcount_db_consumer(self, arr):
        """numpy TestDLPack.test_from_dlpack_refcount, dlbridge as the consumer."""
        arr = arr.copy()
        y = db.from_dlpack(arr)
        assert y.data_ptr() == np_ptr(arr)
        startcount = sys.getrefcount(arr)
        del y
        assert startcount - sys.getrefcount(arr) == 1

    # -- test_dtype_passthrough --------------------------------------------

    @pytest.mark.parametrize("dtype", NUMPY_DTYPES)
    @pytest.mark.parametrize("arr", new_and_old_dlpack(), ids=["new", "old"])
    def test_dtype_passthrough_db_consumer(self, arr, dtype):
        """numpy TestDLPack.test_dtype_passthrough, dlbridge as the consumer."""
        x = arr.astype(dtype)
        y = db.from_dlpack(x)
        assert y.dtype == db_dtype(dtype)
        assert y.data_ptr() == np_ptr(x)
        assert y.tolist() == x.tolist()

    @pytest.mark.parametrize("dtype", NUMPY_DTYPES)
    @pytest.mark.parametrize("old", [False, True], ids=["new", "old"])
    def test_dtype_passthrough_db_producer(self, old, dtype):
        """numpy TestDLPack.test_dtype_passthrough, dlbridge as the producer (the old
        variant exports a legacy capsule through an old-style ``__dlpack__``)."""
        values = np.arange(5).astype(dtype).tolist()
        t = db_owned(values, dtype)
        y = np.from_dlpack(OldStyleProducer(t) if old else t)
        assert y.dtype == np.dtype(dtype)
        assert np_ptr(y) == t.data_ptr()
        assert y.tolist() == values

    # -- test_invalid_dtype ------------------------------------------------

    def test_invalid_dtype_db_consumer(self):
        """numpy TestDLPack.test_invalid_dtype: datetime64 has no DLPack dtype."""
        x = np.asarray(np.datetime64("2021-05-27"))
        with pytest.raises(BufferError):
            db.from_dlpack(x)

    # -- test_invalid_byte_swapping ----------------------------------------

    def test_invalid_byte_swapping_db_consumer(self):
        """numpy TestDLPack.test_invalid_byte_swapping: DLPack data is native-endian."""
        dt = np.dtype("=i8").newbyteorder()
        x = np.arange(5, dtype=dt)
        with pytest.raises(BufferError):
            db.from_dlpack(x)

    # -- test_non_contiguous -----------------------------------------------

    def test_non_contiguous_db_consumer(self):
        """numpy TestDLPack.test_non_contiguous, dlbridge as the consumer."""
        x = np.arange(25).reshape((5, 5))
        views = [x[0], x[:, 0], x[1, :], x[1], np.diagonal(x).copy(), x.T, x[::-2, 1::2]]
        for view in views:
            y = db.from_dlpack(view)
            assert y.data_ptr() == np_ptr(view)
            assert y.strides == tuple(s // view.itemsize for s in view.strides)
            assert y.tolist() == view.tolist()

    def test_non_contiguous_db_producer(self):
        """numpy TestDLPack.test_non_contiguous, dlbridge as the producer (dlbridge
        has no ``diagonal``: a transpose and a reversed, stepped view stand in)."""
        t = db_owned(np.arange(25).reshape((5, 5)).tolist(), np.int64)
        expected = np.arange(25).reshape((5, 5))
        views = [
            (t[0], expected[0]),
            (t[:, 0], expected[:, 0]),
            (t[1, :], expected[1, :]),
            (t[1], expected[1]),
            (t.T, expected.T),
            (t[::-2, 1::2], expected[::-2, 1::2]),
        ]
        for view, want in views:
            y = np.from_dlpack(view)
            assert np_ptr(y) == view.data_ptr()
            assert tuple(s // y.itemsize for s in y.strides) == view.strides
            assert y.tolist() == want.tolist()

    # -- test_higher_dims --------------------------------------------------

    @pytest.mark.parametrize("ndim", range(33))
    def test_higher_dims_db_consumer(self, ndim):
        """numpy TestDLPack.test_higher_dims, dlbridge as the consumer."""
        shape = (1,) * ndim
        x = np.zeros(shape, dtype=np.float64)
        y = db.from_dlpack(x)
        assert y.shape == shape
        assert y.data_ptr() == np_ptr(x)

    @pytest.mark.parametrize("ndim", range(33))
    def test_higher_dims_db_producer(self, ndim):
        """numpy TestDLPack.test_higher_dims, dlbridge as the producer."""
        shape = (1,) * ndim
        t = db.from_numpy(np.zeros(shape, dtype=np.float64)).clone()
        y = np.from_dlpack(t)
        assert y.shape == shape
        assert np_ptr(y) == t.data_ptr()

    # -- test_dlpack_device ------------------------------------------------

    def test_dlpack_device_db_consumer(self):
        """numpy TestDLPack.test_dlpack_device, dlbridge as the consumer."""
        x = np.arange(5)
        assert x.__dlpack_device__() == (1, 0)
        y = db.from_dlpack(x)
        assert tuple(y.__dlpack_device__()) == (1, 0)
        z = y[::2]
        assert tuple(z.__dlpack_device__()) == (1, 0)

    def test_dlpack_device_db_producer(self):
        """numpy TestDLPack.test_dlpack_device, dlbridge as the producer."""
        t = db.tensor([0, 1, 2, 3, 4])
        assert tuple(t.__dlpack_device__()) == (1, 0)
        y = np.from_dlpack(t)
        assert y.__dlpack_device__() == (1, 0)
        assert np.from_dlpack(t[::2]).__dlpack_device__() == (1, 0)

    # -- test_dlpack_destructor_exception ----------------------------------

    @staticmethod
    def _dlpack_deleter_exception(max_version):
        t = db.tensor([0, 1, 2, 3, 4])
        _ = t.__dlpack__(max_version=max_version)
        raise RuntimeError

    @pytest.mark.parametrize("max_version", [None, (1, 0)])
    def test_dlpack_destructor_exception_db_producer(self, max_version):
        """numpy TestDLPack.test_dlpack_destructor_exception: an unconsumed capsule
        destroyed while an exception is pending must not clobber or crash."""
        with pytest.raises(RuntimeError):
            self._dlpack_deleter_exception(max_version=max_version)

    # -- test_readonly -----------------------------------------------------

    def test_readonly_db_producer(self):
        """numpy TestDLPack.test_readonly, dlbridge as the producer."""
        x = np.arange(5)
        x.flags.writeable = False
        t = db.from_numpy(x)
        assert t.readonly
        # No legacy capsule (it cannot carry READ_ONLY) ...
        with pytest.raises(BufferError):
            t.__dlpack__()
        # ... but a versioned one, which NumPy honours.
        y = np.from_dlpack(t)
        assert not y.flags.writeable
        assert np_ptr(y) == np_ptr(x)

    def test_readonly_db_consumer(self):
        """numpy TestDLPack.test_readonly, dlbridge as the consumer."""
        x = np.arange(5)
        x.flags.writeable = False
        for source in (x, x.__dlpack__(max_version=(1, 0))):
            y = db.from_dlpack(source)
            assert y.readonly
            assert y.data_ptr() == np_ptr(x)
            with pytest.raises(ValueError):
                y[0] = 7
        assert x.tolist() == [0, 1, 2, 3, 4]

    # -- test_writeable ----------------------------------------------------

    def test_writeable_db_consumer(self):
        """numpy TestDLPack.test_writeable, dlbridge as the consumer.

        Deliberate difference: NumPy imports a legacy capsule (old-style producer) as
        read-only "for backwards compatibility"; dlbridge imports it writable, as torch
        does (docs/dlpack.md: "legacy capsules have no flags and are imported
        writable"). Both imports share memory, and the subclass's own ``__dlpack__`` is
        the one asked.
        """
        x_new, x_old = new_and_old_dlpack()
        calls = []

        class CountingOld(type(x_old)):
            def __dlpack__(self, stream=None):
                calls.append(stream)
                return super().__dlpack__(stream=stream)

        x_old = x_old.view(CountingOld)

        y = db.from_dlpack(x_new)
        assert not y.readonly
        y[0] = 40
        assert x_new[0] == 40

        y = db.from_dlpack(x_old)
        assert calls == [None], "the subclass's __dlpack__ was not used"
        assert not y.readonly
        assert y.data_ptr() == np_ptr(x_old)
        y[1] = 41
        assert x_old[1] == 41

    # -- test_ndim0 --------------------------------------------------------

    def test_ndim0_db_consumer(self):
        """numpy TestDLPack.test_ndim0, dlbridge as the consumer."""
        x = np.array(1.0)
        y = db.from_dlpack(x)
        assert y.shape == ()
        assert y.item() == 1.0
        assert y.data_ptr() == np_ptr(x)

    def test_ndim0_db_producer(self):
        """numpy TestDLPack.test_ndim0, dlbridge as the producer."""
        t = db.tensor(1.0, dtype=db.float64)
        y = np.from_dlpack(t)
        assert y.shape == ()
        assert y[()] == 1.0
        assert np_ptr(y) == t.data_ptr()

    # -- test_size1dims_arrays ---------------------------------------------

    @staticmethod
    def _size1dims_array():
        # The size-1 last dimension has a 4-byte stride: not a multiple of 8.
        return np.ndarray(
            dtype="f8",
            shape=(10, 5, 1),
            strides=(8, 80, 4),
            buffer=np.ones(1000, dtype=np.uint8),
            order="F",
        )

    @pytest.mark.parametrize("importer", ["from_dlpack", "from_numpy", "as_tensor"])
    def test_size1dims_arrays_db_consumer(self, importer):
        """numpy TestDLPack.test_size1dims_arrays: a size-1 dimension's stride is never
        used to address memory, so an odd one must be accepted, without a copy."""
        x = self._size1dims_array()
        y = getattr(db, importer)(x)
        assert y.shape == x.shape
        assert y.data_ptr() == np_ptr(x)
        assert y.tolist() == x.tolist()

    def test_size1dims_arrays_roundtrip(self):
        """numpy TestDLPack.test_size1dims_arrays, through dlbridge and back to NumPy."""
        x = self._size1dims_array()
        y = np.from_dlpack(db.from_dlpack(x))
        assert y.shape == x.shape
        assert np_ptr(y) == np_ptr(x)
        assert y.tolist() == x.tolist()

    # -- test_copy ---------------------------------------------------------

    def test_copy_db_consumer(self):
        """numpy TestDLPack.test_copy, dlbridge as the consumer."""
        x = np.arange(5)
        y = db.from_dlpack(x)
        assert y.data_ptr() == np_ptr(x)
        y = db.from_dlpack(x, copy=False)
        assert y.data_ptr() == np_ptr(x)
        y[0] = 10
        assert x[0] == 10
        y = db.from_dlpack(x, copy=True)
        assert y.data_ptr() != np_ptr(x)
        y[0] = 20
        assert x[0] == 10
        assert y.tolist() == [20, 1, 2, 3, 4]

    def test_copy_db_producer(self):
        """numpy TestDLPack.test_copy, dlbridge as the producer."""
        t = db.tensor([0, 1, 2, 3, 4])
        y = np.from_dlpack(t)
        assert np_ptr(y) == t.data_ptr()
        y = np.from_dlpack(t, copy=False)
        assert np_ptr(y) == t.data_ptr()
        y[0] = 10
        assert t[0].item() == 10
        y = np.from_dlpack(t, copy=True)
        assert np_ptr(y) != t.data_ptr()
        y[0] = 20
        assert t[0].item() == 10

    # -- test_device -------------------------------------------------------

    def test_device(self):
        """numpy TestDLPack.test_device, dlbridge on both sides.

        Deliberate difference: ``np.from_dlpack(x, device="gpu")`` is a ValueError in
        NumPy; dlbridge documents BufferError for any device other than the CPU.
        """
        t = db.tensor([0, 1, 2, 3, 4])
        x = np.arange(5)
        t.__dlpack__(dl_device=(1, 0))
        db.from_dlpack(x, device="cpu")
        db.from_dlpack(x, device=None)
        db.from_dlpack(t, device="cpu")
        np.from_dlpack(t, device="cpu")
        with pytest.raises(BufferError):
            t.__dlpack__(dl_device=(10, 0))
        with pytest.raises(BufferError):
            db.from_dlpack(x, device="gpu")

    # -- subclasses and old producers (new_and_old_dlpack's OldDLPack) -------

    def test_subclass_dlpack_error_propagates(self):
        """numpy's OldDLPack pattern: an ndarray subclass's own ``__dlpack__`` is the
        export NumPy uses. When it refuses, dlbridge must not share the memory anyway."""

        class Refusing(np.ndarray):
            def __dlpack__(self, *args, **kwargs):
                raise BufferError("Refusing: this array cannot be exported")

        x = np.arange(5).view(Refusing)
        with pytest.raises(BufferError, match="Refusing"):
            np.from_dlpack(x)
        with pytest.raises(BufferError, match="Refusing"):
            db.from_dlpack(x)

    def test_old_producer_error_propagates(self):
        """numpy's OldDLPack (``__dlpack__(self, stream=None)``): when the old-style
        producer itself fails, its error comes out, not a TypeError about the
        ``max_version`` keyword it was first asked with."""

        class OldFailing:
            def __dlpack__(self, stream=None):
                raise RuntimeError("OldFailing: producer is broken")

            def __dlpack_device__(self):
                return (1, 0)

        with pytest.raises(RuntimeError, match="OldFailing"):
            db.from_dlpack(OldFailing())


# ===========================================================================
# numpy/numpy: numpy/_core/tests/test_dlpack.py, class TestScalarDLPack
# ===========================================================================

requires_scalar_dlpack = pytest.mark.skipif(
    not hasattr(np.float64(2), "__dlpack__"),
    reason="NumPy scalars have no __dlpack__ in this NumPy (added after 2.4)",
)


@requires_scalar_dlpack
class TestNumpyScalarDLPack:
    @pytest.mark.parametrize(
        "dtype",
        [np.bool_, np.uint8, np.int32, np.int64, np.float16, np.float32, np.float64, np.complex128],
    )
    def test_dlpack(self, dtype):
        """numpy TestScalarDLPack.test_dlpack, dlbridge as the consumer."""
        x = dtype(2)
        for copy in (None, False):
            y = db.from_dlpack(x, copy=copy)
            assert y.dtype == db_dtype(dtype)
            assert y.shape == ()
            assert y.item() == x

    def test_dlpack_copy(self):
        """numpy TestScalarDLPack.test_dlpack_copy, dlbridge as the consumer."""
        x = np.float64(2)
        y = db.from_dlpack(x, copy=True)
        assert y.shape == ()
        y[()] = 3
        assert x == 2
        assert y.item() == 3

    def test_dlpack_read_only(self):
        """numpy TestScalarDLPack.test_dlpack_read_only, dlbridge as the consumer."""
        y = db.from_dlpack(np.float64(2), copy=False)
        assert y.readonly
        with pytest.raises(ValueError):
            y[()] = 3

    @pytest.mark.parametrize("dtype", [np.str_, np.datetime64])
    def test_invalid_dtype(self, dtype):
        """numpy TestScalarDLPack.test_invalid_dtype, dlbridge as the consumer."""
        with pytest.raises(BufferError):
            db.from_dlpack(dtype("2021-05-27"))

    def test_device(self):
        """numpy TestScalarDLPack.test_device, dlbridge as the consumer."""
        x = np.float64(2)
        db.from_dlpack(x, device="cpu")
        db.from_dlpack(x, device=None)
        with pytest.raises(BufferError):
            db.from_dlpack(x, device="gpu")


# ===========================================================================
# numpy/numpy: numpy/_core/tests/test_dlpack.py, class TestRegisterDlpackDtype
# ===========================================================================


@pytest.mark.skipif(
    not hasattr(np.dtypes, "register_dlpack_dtype"),
    reason="np.dtypes.register_dlpack_dtype is not in this NumPy (added after 2.4)",
)
class TestNumpyRegisteredDtype:
    @pytest.fixture(autouse=True)
    def dlpack_registry_clear(self):
        registry = np._core._multiarray_umath
        prev = registry._dlpack_registry_replace({}, {})
        yield
        registry._dlpack_registry_replace(*prev)

    def test_roundtrip(self):
        """numpy TestRegisterDlpackDtype.test_roundtrip: NumPy exports "S1" as
        kDLFloat8_e3m4 once registered; dlbridge does not carry that dtype."""
        np.dtypes.register_dlpack_dtype((7, 8), np.dtype("S1"))
        x = np.array([1.0, 2.0], dtype="S1")
        with pytest.raises(BufferError):
            db.from_dlpack(x)
        with pytest.raises(BufferError):
            db.from_dlpack(x.__dlpack__(max_version=(1, 0)))


# ===========================================================================
# pytorch/pytorch: test/test_dlpack.py, class TestTorchDlPack
# ===========================================================================


class TestTorchDLPack:
    # -- test_dlpack_capsule_conversion ------------------------------------

    @pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=db_name)
    def test_dlpack_capsule_conversion_torch_to_db(self, dtype):
        """torch test_dlpack_capsule_conversion: ``to_dlpack`` capsule into dlbridge."""
        x = torch_sample(dtype)
        z = db.from_dlpack(to_dlpack(x))
        assert z.dtype == db_dtype(dtype)
        assert z.data_ptr() == x.data_ptr()
        assert z.tolist() == x.tolist()

    @pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=db_name)
    def test_dlpack_capsule_conversion_db_to_torch(self, dtype):
        """torch test_dlpack_capsule_conversion: dlbridge capsule into torch."""
        x = torch_sample(dtype)
        t = db_owned(x.tolist(), dtype)
        z = torch_utils_from_dlpack(t.__dlpack__())
        assert z.dtype == dtype
        assert z.data_ptr() == t.data_ptr()
        assert torch.equal(z, x)

    # -- test_dlpack_protocol_conversion -----------------------------------

    @pytest.mark.parametrize("wrap", [False, True], ids=["tensor", "wrapper"])
    @pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=db_name)
    def test_dlpack_protocol_conversion_torch_to_db(self, dtype, wrap):
        """torch test_dlpack_protocol_conversion, dlbridge consuming a torch tensor
        (directly: the C exchange API; wrapped: the ``__dlpack__`` protocol)."""
        x = torch_sample(dtype)
        z = db.from_dlpack(TensorDLPackWrapper(x) if wrap else x)
        assert z.dtype == db_dtype(dtype)
        assert z.data_ptr() == x.data_ptr()
        assert z.tolist() == x.tolist()

    @pytest.mark.parametrize("wrap", [False, True], ids=["tensor", "wrapper"])
    @pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=db_name)
    def test_dlpack_protocol_conversion_db_to_torch(self, dtype, wrap):
        """torch test_dlpack_protocol_conversion, torch consuming a dlbridge tensor."""
        x = torch_sample(dtype)
        t = db_owned(x.tolist(), dtype)
        z = torch_utils_from_dlpack(TensorDLPackWrapper(t) if wrap else t)
        assert z.dtype == dtype
        assert z.data_ptr() == t.data_ptr()
        assert torch.equal(z, x)

    # -- test_dlpack_shared_storage ----------------------------------------

    def test_dlpack_shared_storage_torch_to_db(self):
        """torch test_dlpack_shared_storage, dlbridge importing torch's capsule."""
        x = torch_sample(torch.float64)
        before = x[0].item()
        z = db.from_dlpack(to_dlpack(x))
        z[0] = z[0].item() + 20.0
        assert x[0].item() == before + 20.0
        assert z.tolist() == x.tolist()

    def test_dlpack_shared_storage_db_to_torch(self):
        """torch test_dlpack_shared_storage, torch importing dlbridge's capsule."""
        t = db_owned(torch_sample(torch.float64).tolist(), torch.float64)
        before = t[0].item()
        z = torch_utils_from_dlpack(t.__dlpack__())
        z[0] = z[0] + 20.0
        assert t[0].item() == before + 20.0
        assert t.tolist() == z.tolist()

    # -- test_from_dlpack, test_from_dlpack_dtype --------------------------

    @pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=db_name)
    def test_from_dlpack_torch_to_db(self, dtype):
        """torch test_from_dlpack and test_from_dlpack_dtype: ``db.from_dlpack``."""
        x = torch_sample(dtype)
        y = db.from_dlpack(x)
        assert y.dtype == db_dtype(dtype)
        assert y.data_ptr() == x.data_ptr()
        assert y.tolist() == x.tolist()
        if y.numel():
            y[0] = bumped(y[0].item())
            assert x[0].item() == y[0].item()

    @pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=db_name)
    def test_from_dlpack_db_to_torch(self, dtype):
        """torch test_from_dlpack and test_from_dlpack_dtype: ``torch.from_dlpack``."""
        x = torch_sample(dtype)
        t = db_owned(x.tolist(), dtype)
        y = torch.from_dlpack(t)
        assert y.dtype == dtype
        assert y.data_ptr() == t.data_ptr()
        assert torch.equal(y, x)
        y[0] = bumped(y[0].item())
        assert t[0].item() == y[0].item()

    # -- test_from_dlpack_noncontinguous -----------------------------------

    @pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=db_name)
    def test_from_dlpack_noncontinguous_torch_to_db(self, dtype):
        """torch test_from_dlpack_noncontinguous, dlbridge as the consumer."""
        x = torch_sample(dtype, (25,)).reshape(5, 5)
        for view in (x[0], x[:, 0], x[1, :], x[1], x.t()):
            y = db.from_dlpack(view)
            assert y.data_ptr() == view.data_ptr()
            assert y.strides == view.stride()
            assert y.tolist() == view.tolist()

    @pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=db_name)
    def test_from_dlpack_noncontinguous_db_to_torch(self, dtype):
        """torch test_from_dlpack_noncontinguous, dlbridge as the producer."""
        x = torch_sample(dtype, (25,)).reshape(5, 5)
        t = db_owned(x.tolist(), dtype)
        pairs = [(t[0], x[0]), (t[:, 0], x[:, 0]), (t[1, :], x[1, :]), (t[1], x[1]), (t.T, x.t())]
        for view, want in pairs:
            y = torch.from_dlpack(view)
            assert y.data_ptr() == view.data_ptr()
            assert y.stride() == view.strides
            assert torch.equal(y, want)

    # -- test_dlpack_conversion_with_diff_streams (CPU: the stream is None) ---

    @pytest.mark.parametrize("dtype", TORCH_STREAM_DTYPES, ids=db_name)
    def test_dlpack_conversion_with_diff_streams_db_to_torch(self, dtype):
        """torch test_dlpack_conversion_with_diff_streams on the CPU: the only stream
        a CPU producer takes is ``None``."""
        x = torch_sample(dtype)
        t = db_owned(x.tolist(), dtype)
        z = torch.from_dlpack(t.__dlpack__(stream=None))
        assert z.data_ptr() == t.data_ptr()
        assert torch.equal(z, x)

    @pytest.mark.parametrize("dtype", TORCH_STREAM_DTYPES, ids=db_name)
    def test_dlpack_conversion_with_diff_streams_torch_to_db(self, dtype):
        """torch test_dlpack_conversion_with_diff_streams on the CPU, into dlbridge."""
        x = torch_sample(dtype)
        z = db.from_dlpack(x.__dlpack__(stream=None))
        assert z.data_ptr() == x.data_ptr()
        assert z.tolist() == x.tolist()

    # -- test_dlpack_conversion_with_streams_narrow_precision (dtypes) -------

    @pytest.mark.parametrize("dtype", TORCH_UNSUPPORTED_DTYPES, ids=db_name)
    @pytest.mark.parametrize("how", ["tensor", "capsule", "wrapper"])
    def test_narrow_precision_dtypes_refused_torch_to_db(self, dtype, how):
        """torch test_dlpack_conversion_with_streams_narrow_precision: float8, float4 and
        complex32 are dtypes dlbridge does not carry; their DLPack codes are refused
        with BufferError (never read as some other dtype)."""
        if dtype == torch.complex32:
            x = quiet(lambda: torch.zeros(4, dtype=torch.complex32))
        else:
            x = torch.zeros(5, dtype=torch.uint8).view(dtype)
        source = {
            "tensor": lambda: x,
            "capsule": lambda: x.__dlpack__(max_version=(1, 0)),
            "wrapper": lambda: TensorDLPackWrapper(x),
        }[how]()
        with pytest.raises(BufferError):
            db.from_dlpack(source)

    # -- test_dlpack_default_stream (CPU: the consumer passes no stream) -----

    def test_dlpack_default_stream_db_consumer(self):
        """torch test_dlpack_default_stream on the CPU: a consumer importing CPU data
        asks with ``stream=None`` (or leaves it out), whatever the producer's style."""
        seen = []

        class NewStyle:
            def __init__(self, tensor):
                self.tensor = tensor

            def __dlpack_device__(self):
                return self.tensor.__dlpack_device__()

            def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
                seen.append(stream)
                return self.tensor.__dlpack__(
                    stream=stream, max_version=max_version, dl_device=dl_device, copy=copy
                )

        class OldStyle:
            def __init__(self, tensor):
                self.tensor = tensor

            def __dlpack_device__(self):
                return self.tensor.__dlpack_device__()

            def __dlpack__(self, stream=None):
                seen.append(stream)
                return self.tensor.__dlpack__(stream=stream)

        x = torch_sample(torch.float32)
        for wrapper in (NewStyle(x), OldStyle(x)):
            z = db.from_dlpack(wrapper)
            assert z.data_ptr() == x.data_ptr()
        assert seen == [None, None]

    # -- test_dlpack_tensor_invalid_stream ---------------------------------

    @pytest.mark.parametrize("dtype", TORCH_STREAM_DTYPES, ids=db_name)
    def test_dlpack_tensor_invalid_stream_db_producer(self, dtype):
        """torch test_dlpack_tensor_invalid_stream: a stream that is not an int (or
        None) is a TypeError."""
        t = db_owned(torch_sample(dtype).tolist(), dtype)
        with pytest.raises(TypeError):
            t.__dlpack__(stream=object())

    # -- test_dlpack_invalid_cpu_stream ------------------------------------

    @pytest.mark.parametrize("stream", [0, 1, 2, -1])
    def test_dlpack_invalid_cpu_stream_db_producer(self, stream):
        """torch test_dlpack_invalid_cpu_stream: an int stream on the CPU is refused.

        Deliberate difference: torch raises AssertionError ("stream should be None on
        cpu."); dlbridge raises ValueError, as NumPy does (docs/dlpack.md).
        """
        t = db.tensor([1.0, 2.0, 3.0])
        with pytest.raises(ValueError):
            t.__dlpack__(stream=stream)

    # -- test_dlpack_export_requires_grad ----------------------------------

    @pytest.mark.parametrize("importer", ["from_dlpack", "as_tensor"])
    def test_dlpack_export_requires_grad_torch_to_db(self, importer):
        """torch test_dlpack_export_requires_grad: dlbridge must not share a tensor
        that requires grad (torch's own BufferError); a detached one is shared."""
        x = torch.zeros(10, dtype=torch.float32, requires_grad=True)
        with pytest.raises(BufferError, match="require gradient"):
            getattr(db, importer)(x)
        assert getattr(db, importer)(x.detach()).data_ptr() == x.data_ptr()

    # -- test_dlpack_export_is_conj ----------------------------------------

    @pytest.mark.parametrize("importer", ["from_dlpack", "as_tensor"])
    def test_dlpack_export_is_conj_torch_to_db(self, importer):
        """torch test_dlpack_export_is_conj: a lazily conjugated tensor's memory is
        not its values; sharing it must be refused."""
        x = torch.tensor([-1 + 1j, -2 + 2j, 3 - 3j])
        y = torch.conj(x)
        with pytest.raises(BufferError, match="conjugate bit"):
            getattr(db, importer)(y)

    def test_dlpack_export_is_conj_torch_to_db_tensor(self):
        """torch test_dlpack_export_is_conj, through the copying ``db.tensor``: it may
        refuse, but must never give the unconjugated memory as values."""
        y = torch.conj(torch.tensor([-1 + 1j, -2 + 2j, 3 - 3j]))
        try:
            values = db.tensor(y).tolist()
        except BufferError:
            return
        assert values == [-1 - 1j, -2 - 2j, 3 + 3j]

    @pytest.mark.parametrize("importer", ["from_dlpack", "as_tensor"])
    def test_dlpack_export_is_neg_torch_to_db(self, importer):
        """torch test_dlpack_export_is_conj, for the negative bit: the imaginary part
        of a conjugated view is a lazily negated float tensor (memory 2.0, value
        -2.0). Sharing it would give the wrong values, so it must be refused."""
        y = torch.tensor([1 + 2j]).conj().imag
        assert y.is_neg() and y.tolist() == [-2.0]
        with pytest.raises(BufferError):
            getattr(db, importer)(y)

    def test_dlpack_export_is_neg_torch_to_db_tensor(self):
        """torch test_dlpack_export_is_conj, negative bit, through the copying
        ``db.tensor``: it gives the values torch shows, as ``torch.tensor`` does."""
        y = torch.tensor([1 + 2j]).conj().imag
        assert db.tensor(y).tolist() == [-2.0]

    # -- test_dlpack_export_non_strided, test_dlpack_unsupported_dtype_error --

    @pytest.mark.parametrize("kind", ["sparse", "sparse_conj", "mkldnn", "quantized", "meta"])
    @pytest.mark.parametrize("importer", ["from_dlpack", "as_tensor"])
    def test_dlpack_export_non_strided_torch_to_db(self, kind, importer):
        """torch test_dlpack_export_non_strided (sparse), test_dlpack_unsupported_dtype_error
        (quantized) and skipMeta's meta tensors: torch cannot describe these in DLPack,
        and dlbridge must say so with BufferError, as ``torch.from_dlpack`` does."""
        make = {
            "sparse": lambda: torch.sparse_coo_tensor([[0]], [1], size=(1,)),
            "sparse_conj": lambda: torch.conj(torch.sparse_coo_tensor([[0]], [1], size=(1,))),
            "mkldnn": lambda: torch.randn(3, 4).to_mkldnn(),
            "quantized": lambda: torch.quantize_per_tensor(torch.randn(()), 0.1, 10, torch.qint8),
            "meta": lambda: torch.empty(3, device="meta"),
        }[kind]
        x = quiet(make)
        with pytest.raises(BufferError):
            x.__dlpack__()
        with pytest.raises(BufferError):
            getattr(db, importer)(x)

    # -- test_dlpack_normalize_strides -------------------------------------

    def test_dlpack_normalize_strides_torch_to_db(self):
        """torch test_dlpack_normalize_strides: size-1 strides are kept as they are."""
        x = torch.rand(16)
        y = x[::3][:1]
        assert y.shape == (1,) and y.stride() == (3,)
        for source in (y, to_dlpack(y), TensorDLPackWrapper(y)):
            z = db.from_dlpack(source)
            assert z.shape == (1,)
            assert z.strides == (3,)
            assert z.data_ptr() == y.data_ptr()

    def test_dlpack_normalize_strides_db_to_torch(self):
        """torch test_dlpack_normalize_strides, dlbridge as the producer."""
        t = db.from_numpy(np.random.rand(16))[::3][:1]
        assert t.shape == (1,) and t.strides == (3,)
        z = torch_utils_from_dlpack(t)
        assert z.shape == (1,)
        assert z.stride() == (3,)
        assert z.data_ptr() == t.data_ptr()

    # -- test_automatically_select_in_creation -----------------------------

    def test_automatically_select_in_creation_torch_to_db(self):
        """torch test_automatically_select_in_creation: ``db.tensor`` (copy) and
        ``db.as_tensor`` (share) of an object that offers only DLPack."""
        x = torch.rand(10)
        wrap = TensorDLPackWrapper(x)
        new = db.tensor(wrap)
        assert new.tolist() == x.tolist()
        assert new.data_ptr() != x.data_ptr()
        shared = db.as_tensor(wrap)
        assert shared.data_ptr() == x.data_ptr()

    def test_automatically_select_in_creation_db_to_torch(self):
        """torch test_automatically_select_in_creation, torch reading a dlbridge tensor."""
        t = db_owned(torch.rand(10).tolist(), torch.float32)
        new = torch.tensor(TensorDLPackWrapper(t))
        assert new.tolist() == t.tolist()
        assert new.data_ptr() != t.data_ptr()

    # -- test_max_version --------------------------------------------------

    MAX_VERSION_CASES = [
        {},
        {"max_version": (0, 8)},
        {"max_version": (1, 0)},
        {"max_version": (2, 0)},
    ]

    @staticmethod
    def _expected_capsule_name(kwargs):
        versioned = "max_version" in kwargs and kwargs["max_version"][0] >= 1
        return "dltensor_versioned" if versioned else "dltensor"

    @pytest.mark.parametrize("kwargs", MAX_VERSION_CASES, ids=str)
    def test_max_version_db_to_torch(self, kwargs):
        """torch test_max_version, dlbridge as the producer."""
        x = torch_sample(torch.float32)
        t = db_owned(x.tolist(), torch.float32)
        capsule = t.__dlpack__(**kwargs)
        assert capsule_name(capsule) == self._expected_capsule_name(kwargs)
        out = torch.from_dlpack(capsule)
        assert out.data_ptr() == t.data_ptr()
        assert torch.equal(out, x)

    @pytest.mark.parametrize("kwargs", MAX_VERSION_CASES, ids=str)
    def test_max_version_torch_to_db(self, kwargs):
        """torch test_max_version, dlbridge as the consumer."""
        x = torch_sample(torch.float32)
        capsule = x.__dlpack__(**kwargs)
        assert capsule_name(capsule) == self._expected_capsule_name(kwargs)
        out = db.from_dlpack(capsule)
        assert out.data_ptr() == x.data_ptr()
        assert out.tolist() == x.tolist()

    # -- test_numpy_dlpack_protocol_conversion -----------------------------

    @pytest.mark.parametrize(
        "dtype",
        [
            pytest.param(d, marks=pytest.mark.skip(reason="NumPy has no bfloat16"))
            if d == torch.bfloat16
            else d
            for d in TORCH_DTYPES
        ],
        ids=db_name,
    )
    def test_numpy_dlpack_protocol_conversion(self, dtype):
        """torch test_numpy_dlpack_protocol_conversion, with dlbridge in torch's place:
        NumPy reads a dlbridge tensor, and dlbridge reads it back from NumPy."""
        t = db_owned(torch_sample(dtype).tolist(), dtype)
        arr = np.from_dlpack(t)
        assert np_ptr(arr) == t.data_ptr()
        assert arr.tolist() == t.tolist()

        t_arr = t.numpy()
        res = db.from_dlpack(t_arr)
        assert res.tolist() == t.tolist()
        assert res.data_ptr() == t.data_ptr()

    # -- _test_from_dlpack: test_copy / test_no_copy (CPU devices) ----------

    @pytest.mark.parametrize("copy", [None, False, True])
    @pytest.mark.parametrize(
        "out_device", [None, "cpu", "cpu:0", (KDL_CPU, 0), torch.device("cpu")], ids=str
    )
    def test_copy_torch_to_db(self, out_device, copy):
        """torch _test_from_dlpack (test_copy, test_no_copy) on the CPU, into dlbridge:
        shared unless ``copy=True``."""
        inp = torch_sample(torch.float32)
        out = db.from_dlpack(inp, device=out_device, copy=copy)
        assert out.tolist() == inp.tolist()
        assert tuple(out.__dlpack_device__()) == (KDL_CPU, 0)
        if copy is True:
            assert out.data_ptr() != inp.data_ptr()
            out[0] = out[0].item() + 1.0
            assert inp[0].item() != out[0].item()
        else:
            assert out.data_ptr() == inp.data_ptr()

    @pytest.mark.parametrize("copy", [None, False, True])
    @pytest.mark.parametrize("out_device", [None, "cpu", torch.device("cpu")], ids=str)
    def test_copy_db_to_torch(self, out_device, copy):
        """torch _test_from_dlpack (test_copy, test_no_copy) on the CPU, from dlbridge."""
        x = torch_sample(torch.float32)
        t = db_owned(x.tolist(), torch.float32)
        out = torch.from_dlpack(t, device=out_device, copy=copy)
        assert torch.equal(out, x)
        assert out.device == torch.device("cpu")
        if copy is True:
            assert out.data_ptr() != t.data_ptr()
            out[0] += 1.0
            assert t[0].item() != out[0].item()
        else:
            assert out.data_ptr() == t.data_ptr()

    # -- test_dlpack_copy_fallback -----------------------------------------

    def test_dlpack_copy_fallback_np_to_db(self):
        """torch test_dlpack_copy_fallback, with dlbridge consuming NumPy."""
        np_array = np.array([1.0, 2.0, 3.0], dtype=np.float32)
        t = db.from_dlpack(np_array, copy=True)
        t[0] = 999.0
        assert np_array[0] == 1.0

        np_array2 = np.array([10.0, 20.0, 30.0], dtype=np.float32)
        t2 = db.from_dlpack(np_array2)
        t2[0] = 999.0
        assert np_array2[0] == 999.0

    def test_dlpack_copy_fallback_db_to_torch(self):
        """torch test_dlpack_copy_fallback, with torch consuming dlbridge."""
        t = db.tensor([1.0, 2.0, 3.0])
        z = torch.from_dlpack(t, copy=True)
        z[0] = 999.0
        assert t[0].item() == 1.0

        t2 = db.tensor([10.0, 20.0, 30.0])
        z2 = torch.from_dlpack(t2)
        z2[0] = 999.0
        assert t2[0].item() == 999.0

    # -- test_unsupported_device_error -------------------------------------

    def test_unsupported_device_error_db_producer(self):
        """torch test_unsupported_device_error: export to kDLHexagon is refused."""
        t = db.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
        with pytest.raises(BufferError):
            t.__dlpack__(max_version=(1, 0), dl_device=(KDL_HEXAGON, 0))

    def test_unsupported_device_error_db_consumer(self):
        """torch test_unsupported_device_error: import onto kDLHexagon is refused."""
        x = torch_sample(torch.float32)
        with pytest.raises(BufferError):
            db.from_dlpack(x, device=(KDL_HEXAGON, 0))


# ===========================================================================
# pytorch/pytorch: test/test_dlpack.py, TestTorchDlPack.test_dlpack_exchange_api
# ===========================================================================


class ExchangeManaged(ctypes.Structure):
    """DLManagedTensorVersioned, with the deleter kept as a plain address."""

    _fields_ = [
        ("version", DLPackVersion),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", ctypes.c_void_p),
        ("flags", ctypes.c_uint64),
        ("dl_tensor", DLTensor),
    ]


class ExchangeAPIHeader(ctypes.Structure):
    _fields_ = [("version", DLPackVersion), ("prev_api", ctypes.c_void_p)]


class ExchangeAPI(ctypes.Structure):
    _fields_ = [
        ("header", ExchangeAPIHeader),
        ("managed_tensor_allocator", ctypes.c_void_p),
        ("managed_tensor_from_py_object_no_sync", ctypes.c_void_p),
        ("managed_tensor_to_py_object_no_sync", ctypes.c_void_p),
        ("dltensor_from_py_object_no_sync", ctypes.c_void_p),
        ("current_work_stream", ctypes.c_void_p),
    ]


# PYFUNCTYPE: the GIL stays held during the call (these functions touch Python
# objects), and a Python error the callee sets is raised when it returns.
_SET_ERROR = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p)
_ALLOCATOR = ctypes.PYFUNCTYPE(
    ctypes.c_int,
    ctypes.POINTER(DLTensor),
    ctypes.POINTER(ctypes.POINTER(ExchangeManaged)),
    ctypes.c_void_p,
    _SET_ERROR,
)
_FROM_PY = ctypes.PYFUNCTYPE(
    ctypes.c_int, ctypes.py_object, ctypes.POINTER(ctypes.POINTER(ExchangeManaged))
)
_TO_PY = ctypes.PYFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ExchangeManaged), ctypes.POINTER(ctypes.c_void_p)
)
_VIEW = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object, ctypes.POINTER(DLTensor))
_STREAM = ctypes.PYFUNCTYPE(
    ctypes.c_int, ctypes.c_int32, ctypes.c_int32, ctypes.POINTER(ctypes.c_void_p)
)
_DELETER = ctypes.PYFUNCTYPE(None, ctypes.c_void_p)

_CapsuleGetPointer = ctypes.pythonapi["PyCapsule_GetPointer"]
_CapsuleGetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_CapsuleGetPointer.restype = ctypes.c_void_p
_DecRef = ctypes.pythonapi["Py_DecRef"]
_DecRef.argtypes = [ctypes.c_void_p]
_DecRef.restype = None


def exchange_api(cls) -> ExchangeAPI:
    capsule = cls.__dlpack_c_exchange_api__
    assert type(capsule).__name__ == "PyCapsule"
    assert 'capsule object "dlpack_exchange_api"' in repr(capsule)
    return ExchangeAPI.from_address(_CapsuleGetPointer(capsule, b"dlpack_exchange_api"))


def managed_from(api: ExchangeAPI, obj):
    out = ctypes.POINTER(ExchangeManaged)()
    assert _FROM_PY(api.managed_tensor_from_py_object_no_sync)(obj, ctypes.byref(out)) == 0
    assert out
    return out


def to_python(api: ExchangeAPI, managed):
    """Hand ``managed`` to ``api``'s import (it takes ownership) and return the object."""
    raw = ctypes.c_void_p()
    assert _TO_PY(api.managed_tensor_to_py_object_no_sync)(managed, ctypes.byref(raw)) == 0
    assert raw.value
    obj = ctypes.cast(raw.value, ctypes.py_object).value
    _DecRef(raw.value)  # the new reference the call returned; ``obj`` holds its own
    return obj


def delete(managed) -> None:
    if managed.contents.deleter:
        _DELETER(managed.contents.deleter)(ctypes.cast(managed, ctypes.c_void_p))


def shape_of(dl: DLTensor) -> tuple[int, ...]:
    return tuple(dl.shape[i] for i in range(dl.ndim))


class TestTorchExchangeAPI:
    """torch TestTorchDlPack.test_dlpack_exchange_api, driven from ctypes against
    dlbridge's ``db.Tensor.__dlpack_c_exchange_api__`` (its Tests 1-6), then across
    the two tables."""

    def test_api_structure_and_version(self):
        """Test 1: the capsule, the version and the required function pointers."""
        api = exchange_api(db.Tensor)
        assert api.header.version.major == 1
        assert api.header.version.minor >= 3
        assert api.managed_tensor_allocator
        assert api.managed_tensor_from_py_object_no_sync
        assert api.managed_tensor_to_py_object_no_sync
        assert api.current_work_stream
        # Deliberate difference: torch fills dltensor_from_py_object_no_sync; the
        # DLPack header lets a producer leave it NULL, and dlbridge does.

    def test_managed_tensor_allocator(self):
        """Test 2: allocate a (3, 4, 5) float32 CPU tensor through the table."""
        api = exchange_api(db.Tensor)
        shape = (ctypes.c_int64 * 3)(3, 4, 5)
        prototype = DLTensor()
        prototype.device = DLDevice(KDL_CPU, 0)
        prototype.ndim = 3
        prototype.shape = ctypes.cast(shape, ctypes.POINTER(ctypes.c_int64))
        prototype.strides = ctypes.POINTER(ctypes.c_int64)()
        prototype.dtype = DLDataType(2, 32, 1)
        prototype.data = None
        prototype.byte_offset = 0
        errors = []
        on_error = _SET_ERROR(lambda _ctx, kind, msg: errors.append((kind, msg)))
        out = ctypes.POINTER(ExchangeManaged)()
        rc = _ALLOCATOR(api.managed_tensor_allocator)(
            ctypes.byref(prototype), ctypes.byref(out), None, on_error
        )
        assert rc == 0, f"allocator failed: {errors}"
        assert out
        dl = out.contents.dl_tensor
        assert dl.ndim == 3
        assert shape_of(dl) == (3, 4, 5)
        assert (dl.dtype.code, dl.dtype.bits, dl.dtype.lanes) == (2, 32, 1)
        assert (dl.device.device_type, dl.device.device_id) == (KDL_CPU, 0)
        assert dl.data
        delete(out)

    def test_managed_tensor_from_py_object_no_sync(self):
        """Test 3: export a dlbridge tensor as an owning managed tensor, zero copy."""
        api = exchange_api(db.Tensor)
        t = db.from_numpy(np.arange(24, dtype=np.float32).reshape(2, 3, 4)).clone()
        out = managed_from(api, t)
        m = out.contents
        assert m.version.major == 1
        dl = m.dl_tensor
        assert dl.ndim == 3
        assert shape_of(dl) == (2, 3, 4)
        assert (dl.dtype.code, dl.dtype.bits) == (2, 32)
        assert (dl.data or 0) + dl.byte_offset == t.data_ptr()
        delete(out)

    def test_managed_tensor_to_py_object_no_sync(self):
        """Test 4: a managed tensor from the table comes back as a dlbridge tensor."""
        api = exchange_api(db.Tensor)
        t = db.from_numpy(np.arange(24, dtype=np.float32).reshape(2, 3, 4)).clone()
        back = to_python(api, managed_from(api, t))
        assert isinstance(back, db.Tensor)
        assert back.shape == (2, 3, 4)
        assert back.dtype == db.float32
        assert back.data_ptr() == t.data_ptr()
        back[0, 0, 0] = -1.0
        assert t[0, 0, 0].item() == -1.0

    def test_dltensor_from_py_object_no_sync(self):
        """Test 5: the optional non-owning view, when the table offers it."""
        api = exchange_api(db.Tensor)
        if not api.dltensor_from_py_object_no_sync:
            pytest.skip("dlbridge leaves the optional dltensor_from_py_object_no_sync NULL")
        t = db.from_numpy(np.arange(24, dtype=np.float32).reshape(2, 3, 4)).clone()
        dl = DLTensor()
        assert _VIEW(api.dltensor_from_py_object_no_sync)(t, ctypes.byref(dl)) == 0
        assert shape_of(dl) == (2, 3, 4)
        assert (dl.data or 0) + dl.byte_offset == t.data_ptr()

    def test_current_work_stream(self):
        """Test 6: on the CPU the work stream is NULL (the upstream test only checks a
        stream on CUDA)."""
        api = exchange_api(db.Tensor)
        stream = ctypes.c_void_p(1)
        assert _STREAM(api.current_work_stream)(KDL_CPU, 0, ctypes.byref(stream)) == 0
        assert not stream.value

    def test_torch_table_into_dlbridge_table(self):
        """Across the tables: torch exports a managed tensor, dlbridge's table imports
        it; the dlbridge tensor shares torch's memory."""
        torch_api = exchange_api(torch.Tensor)
        db_api = exchange_api(db.Tensor)
        x = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
        t = to_python(db_api, managed_from(torch_api, x))
        assert isinstance(t, db.Tensor)
        assert t.shape == (2, 3, 4)
        assert t.data_ptr() == x.data_ptr()
        t[1, 2, 3] = -5.0
        assert x[1, 2, 3].item() == -5.0

    def test_dlbridge_table_into_torch_table(self):
        """Across the tables: dlbridge exports a managed tensor, torch's table imports
        it; the torch tensor shares dlbridge's memory."""
        torch_api = exchange_api(torch.Tensor)
        db_api = exchange_api(db.Tensor)
        t = db.from_numpy(np.arange(24, dtype=np.float32).reshape(2, 3, 4)).clone()
        x = to_python(torch_api, managed_from(db_api, t))
        assert isinstance(x, torch.Tensor)
        assert tuple(x.shape) == (2, 3, 4)
        assert x.data_ptr() == t.data_ptr()
        x[1, 2, 3] = -5.0
        assert t[1, 2, 3].item() == -5.0
