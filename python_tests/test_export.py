"""Exporting dlbridge tensors: __dlpack__, __dlpack_device__, numpy(), __array__."""

import sys

import numpy as np
import pytest
import torch
from conftest import (
    ALL_DTYPE_NAMES,
    DTYPE_TABLE,
    IS_COPIED,
    READ_ONLY,
    capsule_name,
    read_capsule,
)

import dlbridge as db


def _readonly_tensor(values=(0, 1, 2, 3)):
    a = np.array(values, dtype=np.int64)
    a.flags.writeable = False
    return db.from_numpy(a), a


# ---------------------------------------------------------------------------
# __dlpack_device__
# ---------------------------------------------------------------------------


def test_dlpack_device_is_cpu():
    assert tuple(db.tensor([1]).__dlpack_device__()) == (1, 0)


# ---------------------------------------------------------------------------
# __dlpack__: capsule kinds
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("max_version", [None, (0, 8), (0, 0)])
def test_legacy_capsule_when_no_version_or_major_below_one(max_version):
    t = db.tensor([1, 2, 3])
    cap = t.__dlpack__(max_version=max_version)
    assert capsule_name(cap) == "dltensor"
    assert "dltensor_versioned" not in repr(cap)


@pytest.mark.parametrize("max_version", [(1, 0), (1, 1), (1, 3), (2, 0), (99, 99)])
def test_versioned_capsule_when_major_at_least_one(max_version):
    t = db.tensor([1, 2, 3])
    cap = t.__dlpack__(max_version=max_version)
    assert capsule_name(cap) == "dltensor_versioned"
    info = read_capsule(cap)
    assert info.version[0] == 1  # the producer's own version


def test_capsule_describes_the_tensor():
    a = np.arange(24, dtype=np.int32).reshape(4, 6)[1:, ::-2]
    t = db.from_numpy(a)
    for max_version in (None, (1, 0)):
        info = read_capsule(t.__dlpack__(max_version=max_version))
        assert info.device == (1, 0)
        assert info.ndim == 2
        assert info.shape == (3, 3)
        assert info.strides == (6, -2)
        assert info.dtype == (0, 32, 1)
        assert info.first_element == a.ctypes.data
        assert info.has_deleter


def test_versioned_capsule_has_strides_for_contiguous_tensor():
    # DLPack 1.2: strides must not be NULL when ndim != 0.
    info = read_capsule(db.tensor([[1, 2], [3, 4]]).__dlpack__(max_version=(1, 0)))
    assert info.strides == (2, 1)


@pytest.mark.parametrize("name", ALL_DTYPE_NAMES)
def test_capsule_dtype_code(name):
    t = db.tensor([1, 0], dtype=getattr(db, name))
    code, bits = DTYPE_TABLE[name][3]
    assert read_capsule(t.__dlpack__(max_version=(1, 0))).dtype == (code, bits, 1)
    assert read_capsule(t.__dlpack__()).dtype == (code, bits, 1)


def test_every_call_makes_a_new_capsule_and_tensor_stays_usable():
    t = db.tensor([1, 2, 3])
    c1 = t.__dlpack__()
    c2 = t.__dlpack__()
    c3 = t.__dlpack__(max_version=(1, 0))
    assert c1 is not c2
    assert capsule_name(c1) == capsule_name(c2) == "dltensor"
    x = torch.from_dlpack(c1)
    y = torch.from_dlpack(c3)
    assert x.data_ptr() == y.data_ptr() == t.data_ptr()
    t[0] = 10
    assert x.tolist() == y.tolist() == [10, 2, 3]
    assert t.tolist() == [10, 2, 3]
    del c2


def test_zero_d_and_empty_capsules():
    info = read_capsule(db.tensor(5).__dlpack__(max_version=(1, 0)))
    assert info.ndim == 0
    assert info.shape == ()
    info = read_capsule(db.from_numpy(np.zeros((0, 4))).__dlpack__(max_version=(1, 0)))
    assert info.shape == (0, 4)


# ---------------------------------------------------------------------------
# __dlpack__: read-only tensors
# ---------------------------------------------------------------------------


def test_versioned_capsule_of_readonly_tensor_sets_read_only_flag():
    t, _ = _readonly_tensor()
    info = read_capsule(t.__dlpack__(max_version=(1, 0)))
    assert info.flags & READ_ONLY


def test_versioned_capsule_of_writable_tensor_has_no_read_only_flag():
    info = read_capsule(db.tensor([1]).__dlpack__(max_version=(1, 0)))
    assert not info.flags & READ_ONLY


def test_numpy_import_of_readonly_tensor_is_not_writeable():
    t, a = _readonly_tensor()
    x = np.from_dlpack(t)
    assert x.flags.writeable is False
    assert x.ctypes.data == a.ctypes.data


def test_readonly_tensor_refuses_legacy_capsule():
    t, _ = _readonly_tensor()
    with pytest.raises(BufferError):
        t.__dlpack__()
    with pytest.raises(BufferError):
        t.__dlpack__(max_version=(0, 8))
    assert t.tolist() == [0, 1, 2, 3]  # still usable


# ---------------------------------------------------------------------------
# __dlpack__: copy, stream, dl_device
# ---------------------------------------------------------------------------


def test_copy_true_exports_fresh_memory():
    a = np.arange(4, dtype=np.int64)
    t = db.from_numpy(a)
    x = np.from_dlpack(t, copy=True)
    assert x.ctypes.data != a.ctypes.data
    assert x.tolist() == [0, 1, 2, 3]
    x[0] = 100
    assert a[0] == 0
    assert t[0].item() == 0


def test_copy_true_sets_is_copied_flag():
    t = db.tensor([1, 2, 3])
    info = read_capsule(t.__dlpack__(max_version=(1, 0), copy=True))
    assert info.flags & IS_COPIED
    assert info.first_element != t.data_ptr()


def test_copy_true_of_strided_tensor_keeps_values():
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    t = db.from_numpy(a[::-1, 1::2])
    x = np.from_dlpack(t, copy=True)
    assert x.tolist() == a[::-1, 1::2].tolist()


def test_copy_false_and_none_share():
    a = np.arange(4, dtype=np.int64)
    t = db.from_numpy(a)
    assert np.from_dlpack(t, copy=False).ctypes.data == a.ctypes.data
    assert np.from_dlpack(t).ctypes.data == a.ctypes.data
    info = read_capsule(t.__dlpack__(max_version=(1, 0), copy=False))
    assert info.first_element == a.ctypes.data
    assert not info.flags & IS_COPIED


@pytest.mark.parametrize("stream", [0, 1, -1, 2])
def test_non_none_stream_is_refused_on_cpu(stream):
    t = db.tensor([1, 2])
    with pytest.raises(ValueError):
        t.__dlpack__(stream=stream)


def test_none_stream_is_accepted():
    t = db.tensor([1, 2])
    assert capsule_name(t.__dlpack__(stream=None)) == "dltensor"


def test_cpu_dl_device_is_accepted():
    t = db.tensor([1, 2])
    info = read_capsule(t.__dlpack__(dl_device=(1, 0), max_version=(1, 0)))
    assert info.first_element == t.data_ptr()


@pytest.mark.parametrize("dl_device", [(2, 0), (13, 0), (4, 0)])
def test_unsupported_dl_device_raises_buffer_error(dl_device):
    with pytest.raises(BufferError):
        db.tensor([1, 2]).__dlpack__(dl_device=dl_device, max_version=(1, 0))


def test_dlpack_arguments_are_keyword_only():
    with pytest.raises(TypeError, match="takes 0 positional arguments but 1 was given"):
        db.tensor([1]).__dlpack__(None)
    with pytest.raises(TypeError, match="but 2 were given"):
        db.tensor([1]).__dlpack__(None, (1, 0))


# __dlpack__ reads its keywords itself (src/python/dlpack_method.rs): by
# identity with interned names first, by value otherwise. These hold it to
# the array API's signature whichever way a name arrives.


def test_dlpack_signature_is_the_array_api_one():
    import inspect

    signature = inspect.signature(db.Tensor.__dlpack__)
    expected = "(self, /, *, stream=None, max_version=None, dl_device=None, copy=None)"
    assert str(signature) == expected
    assert "DLPack capsule" in db.Tensor.__dlpack__.__doc__


def test_dlpack_keywords_made_at_run_time_are_read_by_value():
    # Names built at run time are not interned: they must still match.
    t = db.tensor([1.0, 2.0])
    names = {"".join(["max_", "version"]): (1, 0), "".join(["co", "py"]): False}
    assert all(name is not sys.intern(name) for name in names)
    info = read_capsule(t.__dlpack__(**names))
    assert info.first_element == t.data_ptr()
    assert capsule_name(t.__dlpack__(**{"".join(["co", "py"]): True})) == "dltensor"

    class Name(str):
        pass

    assert capsule_name(t.__dlpack__(**{Name("max_version"): (1, 0)})) == "dltensor_versioned"


@pytest.mark.parametrize("name", ["max_versions", "Copy", "device", "", "stream\x00"])
def test_dlpack_unknown_keyword_is_named_in_a_type_error(name):
    with pytest.raises(TypeError, match="unexpected keyword argument") as raised:
        db.tensor([1]).__dlpack__(**{name: None})
    assert f"'{name}'" in str(raised.value)


def test_dlpack_keyword_order_and_none_do_not_matter():
    import itertools

    t = db.tensor([1, 2, 3], dtype=db.int16)
    given = {"stream": None, "max_version": (1, 1), "dl_device": (1, 0), "copy": False}
    for order in itertools.permutations(given):
        capsule = t.__dlpack__(**{name: given[name] for name in order})
        assert capsule_name(capsule) == "dltensor_versioned"
        assert read_capsule(capsule).first_element == t.data_ptr()
    # None is the same as leaving an argument out: a legacy capsule.
    nones = {"stream": None, "max_version": None, "dl_device": None, "copy": None}
    assert capsule_name(t.__dlpack__(**nones)) == "dltensor"


@pytest.mark.parametrize(
    ("keywords", "argument", "error"),
    [
        ({"copy": "yes"}, "copy", TypeError),
        ({"copy": 1}, "copy", TypeError),
        ({"dl_device": "cpu"}, "dl_device", TypeError),
        ({"dl_device": (1, 2**40)}, "dl_device", OverflowError),
        ({"dl_device": (1,)}, "dl_device", ValueError),
    ],
)
def test_dlpack_argument_of_the_wrong_type_is_named(keywords, argument, error):
    with pytest.raises(error, match=f"argument '{argument}'"):
        db.tensor([1]).__dlpack__(max_version=(1, 0), **keywords)


def test_dlpack_descriptor_refuses_other_objects():
    with pytest.raises(TypeError, match="doesn't apply"):
        db.Tensor.__dlpack__(np.zeros(2))


def test_numpy_from_dlpack_keywords_share_memory():
    # np.from_dlpack passes dl_device, copy and max_version as keywords.
    t = db.zeros(4, dtype=db.float32)
    a = np.from_dlpack(t)
    assert a.ctypes.data == t.data_ptr()
    a[2] = 5.0
    assert t.tolist() == [0.0, 0.0, 5.0, 0.0]
    b = np.from_dlpack(t, copy=False, device="cpu")
    assert b.ctypes.data == t.data_ptr()
    assert np.from_dlpack(t, copy=True).ctypes.data != t.data_ptr()


# ---------------------------------------------------------------------------
# Consumers: torch and numpy
# ---------------------------------------------------------------------------


def test_torch_from_dlpack_shares_both_ways():
    t = db.tensor([1.0, 2.0, 3.0])
    x = torch.from_dlpack(t)
    assert x.data_ptr() == t.data_ptr()
    x[0] = 10.0
    assert t[0].item() == 10.0
    t[2] = 30.0
    assert x[2].item() == 30.0


def test_torch_as_tensor_of_dlbridge_tensor_shares():
    t = db.tensor([1, 2, 3])
    x = torch.as_tensor(t)
    assert x.data_ptr() == t.data_ptr()
    x[1] = 20
    assert t.tolist() == [1, 20, 3]


def test_numpy_from_dlpack_shares_both_ways():
    t = db.tensor([1, 2, 3], dtype=db.int16)
    x = np.from_dlpack(t)
    assert x.dtype == np.int16
    assert x.ctypes.data == t.data_ptr()
    x[0] = 10
    assert t[0].item() == 10
    t[1] = 20
    assert x[1] == 20


def test_numpy_from_dlpack_of_negative_strides():
    a = np.arange(6, dtype=np.float64)
    t = db.from_numpy(a)[::-2]
    x = np.from_dlpack(t)
    assert x.strides == (-16,)
    assert x.ctypes.data == a.ctypes.data + 40
    assert x.tolist() == [5.0, 3.0, 1.0]


# ---------------------------------------------------------------------------
# numpy()
# ---------------------------------------------------------------------------


def test_numpy_shares_memory_both_ways():
    t = db.tensor([1, 2, 3])
    x = t.numpy()
    assert isinstance(x, np.ndarray)
    assert x.dtype == np.int64
    assert x.ctypes.data == t.data_ptr()
    assert x.flags.writeable
    x[0] = 10
    assert t[0].item() == 10
    t[2] = 30
    assert x[2] == 30


def test_numpy_of_strided_tensor_keeps_layout():
    a = np.arange(12, dtype=np.int32).reshape(3, 4)
    t = db.from_numpy(a)[::-1, ::2]
    x = t.numpy()
    assert x.strides == a[::-1, ::2].strides
    assert x.ctypes.data == a[::-1, ::2].ctypes.data
    assert x.tolist() == a[::-1, ::2].tolist()


def test_numpy_of_readonly_tensor_is_not_writeable():
    t, a = _readonly_tensor()
    x = t.numpy()
    assert x.flags.writeable is False
    assert x.ctypes.data == a.ctypes.data
    with pytest.raises(ValueError):
        x[0] = 1


def test_numpy_of_zero_d_and_empty():
    x = db.tensor(2.5).numpy()
    assert x.shape == ()
    assert x[()] == np.float32(2.5)
    e = db.from_numpy(np.zeros((0, 3), dtype=np.int8)).numpy()
    assert e.shape == (0, 3)
    assert e.dtype == np.int8


def test_numpy_of_bfloat16_without_ml_dtypes_raises_type_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)  # as if not installed
    t = db.tensor([1.0], dtype=db.bfloat16)
    with pytest.raises(TypeError, match="bfloat16"):
        t.numpy()


def test_numpy_of_bfloat16_with_ml_dtypes_shares_memory():
    import ml_dtypes  # installed by scripts/test.sh; never skipped

    t = db.tensor([1.5, -2.0, 3.0], dtype=db.bfloat16)
    a = t.numpy()
    assert a.dtype == ml_dtypes.bfloat16
    assert a.ctypes.data == t.data_ptr()
    a[0] = 8.0
    assert t.tolist() == [8.0, -2.0, 3.0]
    t[1] = 0.5
    assert float(a[1]) == 0.5
    back = db.from_numpy(a[::-1])
    assert back.dtype == db.bfloat16
    assert back.data_ptr() == a[::-1].ctypes.data
    assert back.tolist() == [3.0, 0.5, 8.0]


# ---------------------------------------------------------------------------
# __array__ (NumPy 2 protocol)
# ---------------------------------------------------------------------------


def test_np_asarray_shares():
    t = db.tensor([1.0, 2.0])
    x = np.asarray(t)
    assert x.ctypes.data == t.data_ptr()
    x[0] = 5.0
    assert t[0].item() == 5.0


def test_np_array_copies():
    t = db.tensor([1.0, 2.0])
    x = np.array(t)
    assert x.ctypes.data != t.data_ptr()
    assert x.tolist() == [1.0, 2.0]
    x[0] = 5.0
    assert t[0].item() == 1.0


def test_np_asarray_with_other_dtype_converts():
    t = db.tensor([1, 2])
    x = np.asarray(t, dtype=np.float64)
    assert x.dtype == np.float64
    assert x.tolist() == [1.0, 2.0]
    assert x.ctypes.data != t.data_ptr()


def test_np_asarray_with_same_dtype_shares():
    t = db.tensor([1, 2])
    x = np.asarray(t, dtype=np.int64)
    assert x.ctypes.data == t.data_ptr()


def test_np_array_copy_false_shares_and_refuses_when_impossible():
    t = db.tensor([1, 2])
    assert np.array(t, copy=False).ctypes.data == t.data_ptr()
    with pytest.raises(ValueError):
        np.array(t, dtype=np.float64, copy=False)


def test_array_dunder_direct_call():
    t = db.tensor([1, 2, 3], dtype=db.int32)
    x = t.__array__()
    assert x.ctypes.data == t.data_ptr()
    y = t.__array__(copy=True)
    assert y.ctypes.data != t.data_ptr()
    z = t.__array__(dtype=np.float32)
    assert z.dtype == np.float32
    assert z.tolist() == [1.0, 2.0, 3.0]


def test_np_asarray_of_readonly_tensor_is_not_writeable():
    t, a = _readonly_tensor()
    x = np.asarray(t)
    assert x.ctypes.data == a.ctypes.data
    assert x.flags.writeable is False


def test_numpy_ufunc_on_tensor():
    t = db.tensor([1.0, 4.0, 9.0])
    assert np.sqrt(t).tolist() == [1.0, 2.0, 3.0]


def test_stream_error_message_mentions_stream():
    with pytest.raises(ValueError, match="stream"):
        db.tensor([1]).__dlpack__(stream=1)


def test_torch_ignores_read_only_so_its_writes_land_in_the_source():
    # What docs/dlpack.md says: the versioned export carries READ_ONLY (NumPy
    # honours it), the legacy one is refused, and torch, which has no
    # read-only tensors, imports the memory writable; clone() is the way.
    source = np.arange(4, dtype=np.int32)
    source.flags.writeable = False
    t = db.from_numpy(source)
    assert t.readonly
    assert not np.from_dlpack(t).flags.writeable
    with pytest.raises(BufferError):
        t.__dlpack__()
    alias = torch.from_dlpack(t)
    assert alias.data_ptr() == source.ctypes.data
    alias[0] = 7
    assert source[0] == 7
    copy = torch.from_dlpack(t.clone())
    copy[1] = 9
    assert source[1] == 1
