"""Inputs that once crashed the interpreter or lost data, found in review:
each must raise a clear exception or give the value torch and NumPy give."""

import numpy as np
import pytest
import torch

import dlbridge as db


def huge_broadcast():
    return db.from_numpy(np.broadcast_to(np.zeros(1), (2**40,)))


def test_repr_of_a_vector_larger_than_memory_reads_only_its_edges():
    assert repr(huge_broadcast()) == (
        "tensor([0., 0., 0.,  ..., 0., 0., 0.], dtype=dlbridge.float64)"
    )


@pytest.mark.parametrize(
    "operation",
    [
        lambda t: t.tolist(),
        lambda t: t.clone(),
        lambda t: t.to(db.float32),
        lambda t: db.tensor(t),
        lambda t: db.from_dlpack(t, copy=True),
    ],
    ids=["tolist", "clone", "to", "tensor", "copy=True"],
)
def test_copies_larger_than_memory_raise_memory_error(operation):
    with pytest.raises(MemoryError, match="1099511627776"):
        operation(huge_broadcast())


def test_deep_and_self_referencing_lists_raise_value_error():
    deep = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match="too many dimensions"):
        db.tensor(deep)
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="too many dimensions"):
        db.tensor(loop)


def test_number_protocols_returning_the_wrong_type_raise_type_error():
    class SelfComplex:
        def __complex__(self):
            return self

    class SelfFloat:
        def __float__(self):
            return self

    for bad in (SelfComplex(), SelfFloat()):
        with pytest.raises(TypeError, match=type(bad).__name__):
            db.tensor([bad])


def test_torch_refusals_are_kept():
    # torch's __dlpack__ refuses these; its C exchange API would not.
    conj = torch.tensor([1 + 2j, 3 - 4j]).conj()
    with pytest.raises(BufferError, match="conjugate"):
        db.from_dlpack(conj)
    with pytest.raises(BufferError, match="gradient"):
        db.as_tensor(torch.arange(3.0, requires_grad=True))
    resolved = db.from_dlpack(conj.resolve_conj())
    assert resolved.tolist() == [1 - 2j, 3 + 4j]


@pytest.mark.parametrize(
    ("value", "dtype"),
    [
        ([np.array([1e300])], db.float64),
        ([torch.tensor([0.1], dtype=torch.float64)] * 2, db.float64),
        ([np.array([2**64 - 1], dtype=np.uint64)], db.uint64),
        ([np.int32(1), np.int32(2)], db.int32),
        (np.float64(0.1), db.float64),
        (np.int32(3), db.int32),
        # Python numbers beside typed elements count as int64, float32 or
        # complex64 and are promoted with them, as in torch.tensor.
        ([np.float16(1.0), 2.5], db.float32),
        ([np.array([1, 2], dtype=np.int16), [3, 4]], db.int64),
        ([torch.tensor(1, dtype=torch.int8), 2.5], db.float32),
        ([np.int8(1), 2], db.int64),
        ([np.uint8(1), -1], db.int64),
        ([True, np.int8(3)], db.int8),
        ([np.float64(1.0), 1.0], db.float64),
    ],
)
@pytest.mark.filterwarnings("ignore:Creating a tensor from a list of numpy.ndarrays")
def test_typed_elements_keep_their_dtype(value, dtype):
    t = db.tensor(value)
    assert t.dtype == dtype
    assert t.tolist() == np.asarray(value, dtype=dtype.name).tolist()
    if dtype != db.uint64:  # torch.tensor has no uint64 from NumPy arrays
        assert str(torch.tensor(value).dtype) == f"torch.{dtype.name}"


def test_an_array_where_a_number_belongs_is_ragged():
    with pytest.raises(ValueError, match=r"shape \[1\]"):
        db.tensor([1.0, np.array([2.0])])
    with pytest.raises(ValueError, match=r"shape \[2\]"):
        db.tensor([1.0, torch.tensor([2.0, 3.0])])


def test_numpy_integers_index_like_python_ints():
    t = db.tensor([[1, 2], [3, 4]])
    assert t[np.int64(1)].tolist() == [3, 4]
    assert t[0, np.int32(-1)].item() == 2
    assert t[np.array(1)].tolist() == [3, 4]
    with pytest.raises(TypeError):
        t[np.array([0, 1])]


def test_setitem_drops_leading_length_one_dimensions_like_numpy():
    t = db.tensor([5.0, 6.0])
    t[:] = np.ones((1, 2))
    assert t.tolist() == [1.0, 1.0]
    t[...] = [[[7.0, 8.0]]]
    assert t.tolist() == [7.0, 8.0]


def test_out_of_range_steps_are_clamped_as_python_does():
    t = db.tensor([1, 2, 3])
    assert t[:: -(2**63)].tolist() == [3]
    assert t[:: 2**62].tolist() == [1]
    grid = db.tensor([[1, 2], [3, 4]])
    assert grid[:: 2**62].tolist() == [[1, 2]]


def test_empty_imports_with_absurd_strides_stay_empty_views():
    e = db.from_dlpack(torch.empty_strided((0, 3), (1, 2**60)))
    assert e[:, 2].shape == (0,)
    assert e[:, ::16].shape == (0, 1)
    assert e.clone().shape == (0, 3)


@pytest.mark.parametrize(
    ("dtype", "value"),
    [(db.int8, 1e20), (db.uint8, -1.5), (db.int64, float("nan")), (db.int32, float("inf"))],
)
def test_floats_that_do_not_fit_an_int_dtype_raise_overflow_error(dtype, value):
    t = db.tensor([0, 0], dtype=dtype)
    with pytest.raises(OverflowError, match=dtype.name):
        t[0] = value
    assert t.tolist() == [0, 0]
    with pytest.raises(OverflowError):
        db.as_tensor([value], dtype=dtype)


def test_complex_with_imaginary_part_refuses_a_real_dtype():
    with pytest.raises(TypeError, match="imaginary"):
        db.tensor([1 + 2j], dtype=db.float32)
    t = db.tensor([0.0])
    with pytest.raises(TypeError):
        t[0] = 1 + 2j
    assert t.tolist() == [0.0]
    assert db.tensor([3 + 0j], dtype=db.float64).tolist() == [3.0]


@pytest.mark.parametrize("device", ["cpu:0", torch.device("cpu"), torch.device("cpu", 0)])
def test_cpu_devices_in_any_spelling(device):
    a = np.ones(2)
    assert db.from_dlpack(a, device=device).data_ptr() == a.ctypes.data


@pytest.mark.parametrize("device", ["cuda", torch.device("cuda"), (2, 0), "meta"])
def test_other_devices_are_buffer_errors(device):
    with pytest.raises(BufferError, match="device"):
        db.from_dlpack(np.ones(2), device=device)


def test_bfloat16_converts_for_numpy_when_a_dtype_is_given():
    t = db.tensor([1.5, -2.0], dtype=db.bfloat16)
    assert np.asarray(t, dtype=np.float32).tolist() == [1.5, -2.0]
    with pytest.raises(ValueError, match="copy"):
        t.__array__(np.float32, copy=False)


def test_truth_value_and_iteration_follow_numpy():
    assert bool(db.tensor(0)) is False
    assert bool(db.tensor([2.5])) is True
    with pytest.raises(ValueError, match="ambiguous"):
        bool(db.tensor([1, 2]))
    with pytest.raises(TypeError, match="0-d"):
        iter(db.tensor(0))
    a = np.arange(4).reshape(2, 2)
    rows = list(db.from_numpy(a))
    assert [r.tolist() for r in rows] == [[0, 1], [2, 3]]
    assert rows[1].data_ptr() == a.ctypes.data + 2 * a.itemsize


def test_numpy_dtype_spellings_are_accepted():
    assert db.tensor([1], dtype="f4").dtype == db.float32
    assert db.tensor([1], dtype="float").dtype == db.float64
    with pytest.raises(TypeError, match="float33"):
        db.tensor([1], dtype="float33")


def test_a_producer_returning_a_non_capsule_is_a_type_error():
    class Bad:
        def __dlpack__(self, **kwargs):
            return 42

    with pytest.raises(TypeError, match="int"):
        db.from_dlpack(Bad())
