"""Trust at the edges: inputs that crashed, hung or gave silently wrong values.

Each test names the behaviour torch or NumPy has for the same input; the
NumPy and PyTorch DLPack suites themselves are adapted in
``test_upstream_dlpack.py``.
"""

import ctypes
import operator
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

import dlbridge as db


def huge_broadcast():
    return db.from_numpy(np.broadcast_to(np.zeros(1), (2**40,)))


# --- one rank limit, everywhere a layout is made ------------------------------


def test_indexing_past_64_dimensions_is_an_index_error_not_a_crash():
    # Once a stack overflow in tolist() and repr(); NumPy raises IndexError.
    with pytest.raises(IndexError, match="25000"):
        db.tensor(1.0)[(None,) * 25000]
    with pytest.raises(IndexError, match="65"):
        db.tensor(1.0)[(None,) * 65]
    with pytest.raises(IndexError):
        np.zeros(())[(None,) * 65]


def test_64_dimensions_round_trip_through_every_path():
    t = db.tensor(1.0)[(None,) * 64]
    assert t.ndim == 64
    nested = 1.0
    for _ in range(64):
        nested = [nested]
    assert t.tolist() == nested
    assert "1." in repr(t)
    # dlbridge re-imports every tensor it makes (once 65 dimensions could be
    # built but not imported again).
    assert db.from_dlpack(t).shape == t.shape
    assert torch.from_dlpack(t).ndim == 64
    assert pickle.loads(pickle.dumps(t)).shape == t.shape


def test_nested_lists_deeper_than_64_are_refused_with_value_error():
    nested = 1
    for _ in range(65):
        nested = [nested]
    with pytest.raises(ValueError, match="64"):
        db.tensor(nested)
    assert db.tensor(nested[0]).ndim == 64


def test_crafted_pickles_are_checked_before_allocating():
    from dlbridge import _dlbridge

    with pytest.raises(ValueError, match="64, found 25000"):
        _dlbridge._from_pickle(b"", "float32", [1] * 25000, False)
    # 2**40 elements claimed, 4 bytes carried: refused without allocating.
    with pytest.raises(ValueError, match="4 bytes cannot hold"):
        _dlbridge._from_pickle(b"\0" * 4, "float32", [2**20, 2**20], False)
    with pytest.raises(ValueError, match="cannot hold"):
        _dlbridge._from_pickle(b"\0" * 4, "float32", [2**62, 2**62], False)


# --- iteration ------------------------------------------------------------------


def test_iteration_is_lazy():
    # Once built every row first: on 2**40 rows it never returned.
    it = iter(huge_broadcast())
    assert next(it).item() == 0.0
    assert operator.length_hint(it) == 2**40 - 1


def test_iteration_gives_views_row_by_row_and_stops():
    a = np.arange(6.0).reshape(3, 2)
    rows = list(db.from_numpy(a))
    assert [r.tolist() for r in rows] == a.tolist()
    rows[1][0] = 42.0
    assert a[1, 0] == 42.0
    it = iter(db.tensor([1]))
    next(it)
    with pytest.raises(StopIteration):
        next(it)
    with pytest.raises(StopIteration):
        next(it)
    with pytest.raises(TypeError):
        iter(db.tensor(1))


# --- == != in -------------------------------------------------------------------


def test_equality_is_element_wise_and_broadcasts_as_in_torch():
    t = db.tensor([[1, 2, 3], [4, 5, 6]])
    result = t == db.tensor([1, 5, 3])
    assert isinstance(result, db.Tensor)
    assert result.dtype == db.bool
    expected = torch.tensor([[1, 2, 3], [4, 5, 6]]) == torch.tensor([1, 5, 3])
    assert result.tolist() == expected.tolist()
    assert (t != db.tensor([1, 5, 3])).tolist() == (~expected).tolist()
    # Once identity: a copy compared False.
    assert (t == db.tensor(t)).tolist() == [[True] * 3] * 2
    assert (t == 2).tolist() == [[False, True, False], [False, False, False]]
    assert (2 == t).tolist() == (t == 2).tolist()
    with pytest.raises(ValueError, match="broadcast"):
        _ = t == db.tensor([1, 2])


def test_equality_with_torch_and_numpy_operands_and_nan():
    t = db.tensor([0.0, float("nan"), -0.0])
    assert (t == torch.tensor([0.0, float("nan"), 0.0])).tolist() == [True, False, True]
    assert (t != np.array([0.0, float("nan"), 0.0])).tolist() == [False, True, False]


def test_python_numbers_are_weak_as_in_torch():
    f32 = db.tensor([0.1], dtype=db.float32)
    assert (f32 == 0.1).tolist() == (torch.tensor([0.1]) == 0.1).tolist() == [True]
    ints = db.tensor([2, 3])
    assert (ints == 2.5).tolist() == [False, False]
    assert (ints == 2.0).tolist() == [True, False]
    assert (db.tensor([1 + 0j]) == 1).tolist() == [True]
    # An integer the dtype cannot hold equals nothing (NumPy 2; torch wraps).
    assert (db.tensor([0], dtype=db.uint8) == 256).tolist() == [False]
    assert (db.tensor([0], dtype=db.uint8) != 256).tolist() == [True]


def test_comparison_with_other_objects_is_identity_and_tensors_hash_by_identity():
    t = db.tensor([1, 2])
    assert (t == "x") is False
    assert (t != [1, 2]) is True
    assert t.__eq__("x") is NotImplemented
    assert len({t, t, db.tensor([1, 2])}) == 2


def test_contains_matches_torch():
    t = db.tensor([1, 2, 3])
    assert 2 in t
    assert 4 not in t
    assert 2.0 in t
    assert db.tensor([3]) in t
    assert torch.tensor(1) in t
    assert float("nan") not in db.tensor([float("nan")])
    with pytest.raises(RuntimeError, match="only supports Tensor or scalar"):
        "a" in t  # noqa: B015


# --- number protocols -------------------------------------------------------------


def test_number_protocols_convert_one_element_tensors_as_torch_does():
    # Once CPython's buffer fallback: int(uint8 [49, 50]) was 12.
    assert int(db.tensor([49], dtype=db.uint8)) == 49
    assert float(db.tensor([1.5])) == 1.5
    assert int(db.tensor([[-2.7]])) == int(torch.tensor([[-2.7]])) == -2
    assert float(db.tensor(7)) == 7.0
    assert complex(db.tensor([1 + 2j])) == 1 + 2j
    assert complex(db.tensor(3)) == 3 + 0j
    assert bool(db.tensor([0.0])) is False
    assert int(db.tensor([2**64 - 1], dtype=db.uint64)) == 2**64 - 1
    assert operator.index(db.tensor([3])) == 3
    assert [10, 20][db.tensor(1)] == 20
    assert operator.index(db.tensor(True)) == 1


@pytest.mark.parametrize("convert", [int, float, complex])
def test_number_protocols_refuse_tensors_of_several_elements(convert):
    with pytest.raises(ValueError, match="only one element tensors"):
        convert(db.tensor([49, 50], dtype=db.uint8))
    with pytest.raises(ValueError, match="only one element tensors"):
        convert(torch.tensor([49, 50], dtype=torch.uint8))


def test_number_protocols_refuse_what_python_refuses():
    with pytest.raises(TypeError):
        int(db.tensor(1 + 2j))
    with pytest.raises(TypeError):
        float(db.tensor(1 + 2j))
    with pytest.raises(TypeError, match="only integer tensors"):
        operator.index(db.tensor(1.5))
    with pytest.raises(TypeError, match="only integer tensors"):
        operator.index(db.tensor([1, 2]))
    with pytest.raises(ValueError):
        int(db.tensor(float("nan")))
    with pytest.raises(OverflowError):
        int(db.tensor(float("inf")))


# --- tensors as indices -----------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        torch.tensor(False),
        torch.tensor(True),
        torch.tensor([1]),
        np.array([1]),
        np.array(True),
        np.True_,
        db.tensor([1]),
        db.tensor(True),
    ],
    ids=[
        "torch-false",
        "torch-true",
        "torch-1d",
        "np-1d",
        "np-0d-bool",
        "np-bool",
        "db-1d",
        "db-bool",
    ],
)
def test_array_indices_other_than_0d_integers_are_refused(key):
    # Once `t[torch.tensor(False)] = 5` wrote element 0, and
    # `t[torch.tensor([1])]` gave shape (3,) instead of (1, 3).
    t = db.tensor([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(TypeError, match="advanced indexing"):
        t[key]
    with pytest.raises(TypeError, match="advanced indexing"):
        t[key] = 5
    assert t.tolist() == [[1, 2, 3], [4, 5, 6]]


@pytest.mark.parametrize("key", [torch.tensor(1), np.array(1), np.int64(1), db.tensor(1)], ids=str)
def test_0d_integer_arrays_index_as_integers(key):
    t = db.tensor([[1, 2, 3], [4, 5, 6]])
    assert t[key].tolist() == [4, 5, 6]
    assert t[key].data_ptr() == t.data_ptr() + 3 * 8


# --- writes into overlapping memory -------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: db.from_dlpack(torch.zeros(1, 2).expand(2, 2)),
        lambda: db.from_numpy(np.lib.stride_tricks.as_strided(np.zeros(4), (2, 2), (8, 8))),
    ],
    ids=["torch-expand", "numpy-as-strided"],
)
def test_writes_into_overlapping_imports_are_refused_as_in_torch(make):
    t = make()
    before = t.tolist()
    with pytest.raises(RuntimeError, match="more than one element"):
        t[...] = db.tensor([1.0, 2.0])
    assert t.tolist() == before
    with pytest.raises(RuntimeError, match="more than one element"):
        torch.zeros(1, 3).expand(2, 3)[...] = torch.tensor([1.0, 2.0, 3.0])


def test_writes_into_distinct_strided_views_still_work():
    a = np.zeros((4, 4))
    t = db.from_numpy(a)
    t[::2, 1::2] = 1.0
    t.T[0] = 2.0
    assert a[0, 1] == 1.0 and a[2, 3] == 1.0 and (a[:, 0] == 2.0).all()


# --- one validator for foreign memory ------------------------------------------------


def test_frombuffer_shares_misaligned_offsets_as_torch_does():
    raw = bytearray(64)
    t = db.frombuffer(raw, dtype=db.float32, count=2, offset=1)
    theirs = torch.frombuffer(raw, dtype=torch.float32, count=2, offset=1)
    assert t.data_ptr() == theirs.data_ptr() and t.data_ptr() % 4 != 0
    t[1] = 1.5
    assert theirs[1].item() == 1.5
    assert db.from_dlpack(t).data_ptr() == t.data_ptr()
    # A byte dtype has no alignment to keep.
    t = db.frombuffer(raw, dtype=db.uint8, offset=1)
    assert db.from_dlpack(t).data_ptr() == t.data_ptr()
    # Every tensor dlbridge makes, it can import again.
    t = db.frombuffer(raw, dtype=db.float32, offset=4)
    assert db.from_dlpack(t).data_ptr() == t.data_ptr()


def test_numpy_size_one_dimensions_with_odd_strides_are_shared():
    base = np.zeros(64, dtype=np.uint8)
    a = np.ndarray(shape=(3, 1), dtype=np.float64, strides=(8, 3), buffer=base)
    for import_ in (db.from_numpy, db.as_tensor, db.from_dlpack):
        t = import_(a)
        assert t.data_ptr() == a.ctypes.data
        t[1, 0] = 5.0
        assert a[1, 0] == 5.0
        a[1, 0] = 0.0


# --- producers and arguments ---------------------------------------------------------


class OldProducer:
    """A producer from before the 2023.12 array API (no keywords)."""

    def __init__(self, array, error=None):
        self.array, self.error = array, error

    def __dlpack__(self, stream=None):
        if self.error is not None:
            raise self.error
        return self.array.__dlpack__(stream=stream)

    def __dlpack_device__(self):
        return self.array.__dlpack_device__()


def test_an_old_producers_own_error_is_reported():
    with pytest.raises(RuntimeError, match="producer is broken") as info:
        db.from_dlpack(OldProducer(np.zeros(2), RuntimeError("producer is broken")))
    assert "max_version" in str(info.value.__cause__)


def test_copy_false_is_not_dropped_by_the_retry():
    # Retrying without keywords would silently drop copy=False.
    with pytest.raises(TypeError, match="max_version"):
        db.from_dlpack(OldProducer(np.zeros(2)), copy=False)
    assert db.from_dlpack(OldProducer(np.zeros(2))).shape == (2,)


@pytest.mark.parametrize("stream", [object(), "0", 1.5])
def test_dlpack_stream_of_the_wrong_type_is_a_type_error(stream):
    with pytest.raises(TypeError, match="stream must be an int or None"):
        db.tensor([1.0]).__dlpack__(stream=stream)
    with pytest.raises(ValueError, match="stream must be None"):
        db.tensor([1.0]).__dlpack__(stream=1)


# --- torch's lazy bits ------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.tensor([1 + 2j]).conj().imag,
        lambda: torch.tensor([1 + 2j]).conj(),
    ],
    ids=["neg-float", "conj-complex"],
)
def test_lazy_bits_are_refused_when_sharing_and_resolved_when_copying(make):
    y = make()
    assert y.is_neg() or y.is_conj()
    expected = y.resolve_conj().resolve_neg().tolist()
    for share in (db.as_tensor, db.from_dlpack):
        with pytest.raises(BufferError, match="bit set"):
            share(y)
    assert db.tensor(y).tolist() == expected
    t = db.tensor([0] * len(expected), dtype=db.tensor(y).dtype)
    t[...] = y
    assert t.tolist() == expected
    assert db.tensor([y[0]]).tolist() == expected[:1]


def test_tensors_requiring_grad_are_copied_by_tensor_as_torch_does():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    assert db.tensor(x).tolist() == [1.0, 2.0]
    with pytest.raises(BufferError):
        db.from_dlpack(x)


# --- siblings found while fixing the above -------------------------------------------------


class RefusingTensor(torch.Tensor):
    """A torch subclass whose own __dlpack__ refuses export."""

    def __dlpack__(self, *args, **kwargs):
        raise BufferError("RefusingTensor does not export")


def test_a_torch_subclass_dlpack_override_is_honoured():
    # The C exchange API is inherited from torch.Tensor, but the subclass's
    # own __dlpack__ decides: the fast path must not bypass it.
    x = torch.zeros(3).as_subclass(RefusingTensor)
    with pytest.raises(BufferError, match="does not export"):
        db.from_dlpack(x)
    # A subclass without its own __dlpack__ keeps the fast path.
    p = torch.nn.Parameter(torch.zeros(3), requires_grad=False)
    assert db.from_dlpack(p).data_ptr() == p.data_ptr()


def test_broadcast_views_export_read_only_buffers():
    t = db.from_numpy(np.broadcast_to(np.arange(3.0), (2, 3)).copy())[None]
    wide = db.from_dlpack(torch.zeros(1, 3).expand(2, 3))
    assert memoryview(wide).readonly
    with pytest.raises(TypeError, match="overlap|not writable"):
        (ctypes.c_float * 6).from_buffer(wide)
    assert not memoryview(t).readonly


# --- found by an adversarial review of the above ---------------------------------------


def test_uint64_compares_exactly_with_signed_integers():
    # int64 is where torch promotes uint64 and int8 to; it would wrap 2**64-1
    # onto -1. NumPy answers False.
    big = db.tensor([2**64 - 1, 2**63, 1], dtype=db.uint64)
    signed = db.tensor([-1, -(2**63), 1], dtype=db.int64)
    assert (big == signed).tolist() == [False, False, True]
    assert (big == db.tensor([-1], dtype=db.int8)).tolist() == [False, False, False]
    assert db.tensor([2**63], dtype=db.uint64) not in db.tensor([-(2**63)])
    assert (big == np.array(-1, dtype=np.int8)).tolist() == [False, False, False]


def test_integers_past_uint64_compare_unequal_and_give_tensors():
    t = db.tensor([2.0**64, 1.0])
    assert (t == 2**64).tolist() == [False, False]
    assert (db.tensor([1]) != 2**64).tolist() == [True]
    assert 2**64 not in db.tensor([1])


def test_0d_tensors_are_weak_next_to_tensors_with_dimensions_as_in_torch():
    f32 = db.tensor([0.1], dtype=db.float32)
    zero_d = torch.tensor(0.1, dtype=torch.float64)
    assert (f32 == zero_d).tolist() == (torch.tensor([0.1]) == zero_d).tolist() == [True]
    assert (db.tensor([1, 2]) == torch.tensor(1.5, dtype=torch.float64)).tolist() == [False, False]
    # Two 0-d tensors promote as usual.
    assert (db.tensor(0.1, dtype=db.float32) == db.tensor(0.1, dtype=db.float64)).item() is False


def test_comparison_with_what_cannot_be_imported_falls_back_to_identity():
    t = db.tensor([1, 2])
    # NumPy, asked in turn, answers for its own arrays.
    assert (t == np.array(["a"])).tolist() == [False, False]

    class Refusing:
        def __dlpack__(self, **kwargs):
            raise BufferError("not today")

    assert (t == Refusing()) is False
    assert (t != Refusing()) is True


def test_comparison_memory_stays_near_the_result_size():
    # Once both sides were copied at the broadcast shape, and `in` built a
    # list of every element: 1.6 GiB for a 256 MiB tensor. Measured in a
    # fresh process, whose peak RSS no earlier test has raised.
    code = """
import resource
import numpy as np
import dlbridge as db
t = db.from_numpy(np.broadcast_to(np.zeros(1, dtype=np.float64), (1 << 26,)))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert 1.0 not in t
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    grown_mib = float(result.stdout)
    assert grown_mib < 3 * 64 + 32  # the 64 MiB bool result, not 1 GiB of copies


def test_pickles_with_dimensions_past_isize_are_refused():
    from dlbridge import _dlbridge

    for shape in ([2**63, 0], [0, 2**63], [2**63]):
        with pytest.raises(ValueError, match="cannot hold"):
            _dlbridge._from_pickle(b"", "int64", shape, False)
    with pytest.raises(ValueError, match="negative dimension"):
        _dlbridge._from_pickle(b"", "int64", [-1], False)


def test_to_none_changes_nothing_as_in_torch():
    t = db.tensor([1, 2])
    assert t.to(None) is t
    assert torch.tensor([1, 2]).to(None).dtype == torch.int64


class OptedOut(torch.Tensor):
    """A torch subclass that opts out of the C exchange API."""

    __dlpack_c_exchange_api__ = None


def test_a_class_that_opts_out_of_the_exchange_api_is_imported_through_dlpack():
    x = torch.arange(3.0).as_subclass(OptedOut)
    assert db.as_tensor(x).data_ptr() == x.data_ptr()
    assert db.from_dlpack(x).tolist() == [0.0, 1.0, 2.0]


class RaisingIndex:
    def __index__(self):
        raise ValueError("no index today")


def test_index_errors_match_numpy_and_torch():
    t = db.tensor([1, 2, 3])
    for key in (1.0, {}, "a", RaisingIndex()):
        with pytest.raises(IndexError):
            t[key]
        with pytest.raises(IndexError):
            np.array([1, 2, 3])[key]
    with pytest.raises(ValueError, match="no index today"):
        t[RaisingIndex() : 2]
    with pytest.raises(TypeError, match="slice indices"):
        t[1.5:2]

    class WeirdNdim:
        ndim = np.array([1, 2])

        def __index__(self):
            return 1

    assert t[WeirdNdim()].item() == 2
    with pytest.raises(TypeError, match="item deletion"):
        del t[0]


def test_copies_accept_unaligned_and_byte_swapped_numpy_arrays():
    unaligned = np.ndarray((3,), np.int64, buffer=bytearray(25), offset=1)
    unaligned[:] = [1, 2, 3]
    assert not unaligned.flags.aligned
    assert db.tensor(unaligned).tolist() == [1, 2, 3]
    swapped = np.array([1, 2, 3], dtype=">i4")
    assert db.tensor(swapped).tolist() == np.array(swapped).tolist() == [1, 2, 3]
    t = db.tensor([0, 0, 0])
    t[...] = unaligned
    assert t.tolist() == [1, 2, 3]
    # And sharing shares it, as torch.from_dlpack does.
    assert db.from_dlpack(unaligned).data_ptr() == unaligned.ctypes.data


def test_dlpack_argument_types_match_torch_and_numpy():
    t = db.tensor([1.0])
    with pytest.raises(TypeError, match="stream must be an int"):
        t.__dlpack__(stream=True)
    for version in ([1, 0], (1, 0), (-1, 0)):
        assert torch.from_dlpack(t.__dlpack__(max_version=version)).tolist() == [1.0]
    with pytest.raises(TypeError, match="max_version"):
        t.__dlpack__(max_version=(1,))


def test_tensors_take_weak_references_as_torch_tensors_do():
    import weakref

    t = db.tensor([1])
    ref = weakref.ref(t)
    assert ref() is t
    del t
    assert ref() is None


def test_device_hash_agrees_with_its_equality():
    device = db.tensor([1]).device
    assert device == "cpu"
    assert hash(device) == hash("cpu")
    assert {device: 1}["cpu"] == 1
