"""Typed arguments (`dlbridge::python::TensorRef` / `TensorMut`): checked when
the argument is extracted, with a `TypeError` saying what was expected and
what was given, named by PyO3's note ("while processing 'x'", shown under the
message in a traceback), and no copy."""

import dlbridge_example as ex
import numpy as np
import pytest
import torch

import dlbridge


@pytest.mark.parametrize(
    "make",
    [
        lambda values: np.array(values, dtype=np.float32),
        lambda values: torch.tensor(values, dtype=torch.float32),
        lambda values: dlbridge.tensor(values, dtype=dlbridge.float32),
    ],
    ids=["numpy", "torch", "dlbridge"],
)
def test_sum_f32_reads_any_framework_in_place(make):
    x = make([1.0, 2.0, 3.5])
    assert ex.sum_f32(x) == 6.5


def test_typed_argument_shares_memory():
    a = np.arange(4, dtype=np.float32)
    assert ex.address_f32(a) == a.ctypes.data
    t = torch.arange(4, dtype=torch.float32)
    assert ex.address_f32(t) == t.data_ptr()
    # A strided view is fine without `Contiguous`: still its own memory.
    assert ex.address_f32(a[::2]) == a[::2].ctypes.data
    reversed_view = a[::-1]
    assert ex.address_f32(reversed_view) == reversed_view.ctypes.data


def test_writes_through_typed_arguments_reach_the_caller():
    x = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    out = torch.zeros(2, dtype=torch.float32)
    ex.row_sums(x, out)
    assert out.tolist() == [3.0, 12.0]
    # Any layout: the transpose of a NumPy array, written into a strided view.
    a = np.arange(6, dtype=np.float32).reshape(3, 2)
    target = np.zeros(4, dtype=np.float32)
    ex.row_sums(a.T, target[::2])
    assert target.tolist() == [6.0, 0.0, 9.0, 0.0]
    grid = np.zeros((2, 2, 2))
    ex.fill_(grid, 1.5)
    assert (grid == 1.5).all()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: ex.sum_f32(np.zeros(3, dtype=np.float64)),
            "argument 'x': expected a C-contiguous 1-d float32 tensor, got a 1-d float64 tensor",
        ),
        (
            lambda: ex.sum_f32(np.zeros((2, 2), dtype=np.float32)),
            "argument 'x': expected a C-contiguous 1-d float32 tensor, got a 2-d float32 tensor",
        ),
        (
            lambda: ex.sum_f32(np.zeros(4, dtype=np.float32)[::2]),
            "argument 'x': expected a C-contiguous 1-d float32 tensor, "
            "got a non-contiguous 1-d float32 tensor",
        ),
        (
            lambda: ex.sum_f32([1.0, 2.0]),
            "argument 'x': expected a C-contiguous 1-d float32 tensor, got list",
        ),
        (
            lambda: ex.row_sums(torch.zeros(2, 3, dtype=torch.int64), torch.zeros(2)),
            "argument 'x': expected a 2-d float32 tensor, got a 2-d int64 tensor",
        ),
        (
            lambda: ex.row_sums(torch.zeros(2, 3), torch.zeros(2, 1)),
            "argument 'out': expected a writable 1-d float32 tensor, got a 2-d float32 tensor",
        ),
        (
            lambda: ex.fill_(np.zeros(3, dtype=np.int8), 1.0),
            "argument 'x': expected a writable float64 tensor, got a 1-d int8 tensor",
        ),
        (
            lambda: ex.address_f32(np.zeros((), dtype=np.float32)),
            "argument 'x': expected a 1-d float32 tensor, got a 0-d float32 tensor",
        ),
    ],
)
def test_mismatches_are_type_errors_naming_the_argument(call, message):
    name, expected = message.split(": ", 1)
    with pytest.raises(TypeError) as raised:
        call()
    assert str(raised.value) == expected
    assert raised.value.__notes__ == [f"while processing {name.removeprefix('argument ')}"]


def test_read_only_sources_are_refused_for_writing_only():
    frozen = np.zeros((2, 2))
    frozen.flags.writeable = False
    with pytest.raises(TypeError) as raised:
        ex.fill_(frozen, 1.0)
    assert str(raised.value) == (
        "expected a writable float64 tensor, got a read-only 2-d float64 tensor"
    )
    assert raised.value.__notes__ == ["while processing 'x'"]
    assert ex.sum_f32(np.ones(2, dtype=np.float32)) == 2.0  # reading is fine


def test_broadcast_views_cannot_be_written():
    row = np.zeros(3)
    broadcast = np.broadcast_to(row, (4, 3))
    # NumPy marks broadcast views read-only: refused by the signature.
    with pytest.raises(TypeError, match="got a read-only 2-d float64 tensor"):
        ex.fill_(broadcast, 1.0)
    # A torch expand is writable in torch, but several indices reach one
    # element: refused by the borrow check, and nothing is written.
    expanded = torch.zeros(3, dtype=torch.float64).expand(4, 3)
    with pytest.raises(ValueError, match="overlap"):
        ex.fill_(expanded, 1.0)
    assert expanded.sum() == 0


def test_a_second_argument_over_the_same_memory_is_refused():
    a = np.arange(4, dtype=np.float32)
    with pytest.raises(RuntimeError, match="borrow"):
        ex.copy_into(a, a)
    b = np.zeros(4, dtype=np.float32)
    ex.copy_into(b, a)
    assert b.tolist() == [0.0, 1.0, 2.0, 3.0]
    # The borrows ended with the call: the same arrays work again.
    ex.copy_into(a, b)


def test_converted_arguments_copy_only_when_they_must():
    matching = np.array([1.0, 2.0, 4.0])
    mean, address = ex.mean_converted(matching)
    assert (mean, address) == (7.0 / 3.0, matching.ctypes.data)  # shared
    ints = torch.tensor([1, 2, 6], dtype=torch.int32)
    mean, address = ex.mean_converted(ints)
    assert mean == 3.0 and address != ints.data_ptr()  # cast into a copy
    strided = np.arange(6, dtype=np.float64)[::2]
    mean, address = ex.mean_converted(strided)
    assert mean == 2.0 and address != strided.ctypes.data  # made contiguous
    with pytest.raises(TypeError) as raised:
        ex.mean_converted(np.zeros((2, 2), dtype=np.float32))
    assert str(raised.value) == (
        "expected a 1-d tensor (converted to float64), got a 2-d float32 tensor"
    )


def test_jax_arrays_are_read_through_typed_arguments():
    jnp = pytest.importorskip("jax.numpy")
    assert ex.sum_f32(jnp.arange(4, dtype=jnp.float32)) == 6.0
    with pytest.raises(TypeError, match="expected a C-contiguous 1-d float32 tensor"):
        ex.sum_f32(jnp.zeros((2, 2), dtype=jnp.float32))


def test_read_only_dlbridge_tensors_are_read_but_not_written():
    frozen = dlbridge.from_numpy(np.ones(3, dtype=np.float32))
    frozen_array = np.ones(3)
    frozen_array.flags.writeable = False
    assert ex.sum_f32(frozen) == 3.0
    with pytest.raises(TypeError, match="got a read-only 1-d float64 tensor"):
        ex.fill_(dlbridge.from_numpy(frozen_array), 0.0)


def _numpy_layouts():
    """NumPy arrays of every layout a typed argument reads: the common ones
    are read from the array's fields (no `Tensor` built), the rest through
    the general import; either way the view must be the array's own."""
    base = np.arange(24, dtype=np.float32)
    grid = base.reshape(4, 6)
    odd_unit_strides = np.lib.stride_tricks.as_strided(base, shape=(1, 6, 1), strides=(1000, 4, 12))
    return {
        "contiguous": base,
        "reversed": base[::-1],
        "every third": base[::3],
        "2-d": grid,
        "transposed": grid.T,
        "reversed columns": grid[:, ::-2],
        "length-1 axes with any stride": odd_unit_strides,
        "broadcast": np.broadcast_to(base[:3], (2, 3)),
        "0-d": np.array(1.5, dtype=np.float32),
        "empty": base[:0],
        "empty 2-d": np.zeros((0, 3), dtype=np.float32),
        "read-only": np.frombuffer(base.tobytes(), dtype=np.float32),
    }


@pytest.mark.parametrize("name", list(_numpy_layouts()))
def test_numpy_arguments_are_viewed_in_place_in_any_layout(name):
    array = _numpy_layouts()[name]
    values, address, shape = ex.seen_f32(array)
    assert values == array.ravel().tolist()
    assert tuple(shape) == array.shape
    if array.size:
        assert address == array.ctypes.data
    # The same memory, kept as a dlbridge tensor beyond the call.
    kept = ex.keep(array)
    assert kept.shape == array.shape
    if array.size:
        assert kept.data_ptr() == array.ctypes.data
        assert np.from_dlpack(kept).tolist() == array.tolist()


def test_numpy_arguments_that_cannot_be_viewed_are_refused():
    raw = np.zeros(17, dtype=np.uint8)
    misaligned = raw[1:].view(np.float32)
    with pytest.raises(TypeError, match="not aligned to 4 bytes.*aligned copy"):
        ex.seen_f32(misaligned)
    swapped = np.zeros(3, dtype=">f4")
    with pytest.raises(TypeError, match="byte order"):
        ex.seen_f32(swapped)

    # A subclass goes the general way, where its own `__dlpack__` decides.
    class Refusing(np.ndarray):
        def __dlpack__(self, **kwargs):
            raise BufferError("not shared")

    with pytest.raises(BufferError, match="not shared"):
        ex.seen_f32(np.zeros(3, dtype=np.float32).view(Refusing))


def test_numpy_arguments_are_written_in_place_in_any_writable_layout():
    fortran = np.zeros((3, 2), order="F")
    ex.fill_(fortran, 2.0)
    assert (fortran == 2.0).all()
    strided = np.zeros(6)
    ex.fill_(strided[::-2], 1.0)
    assert strided.tolist() == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    overlapping = np.lib.stride_tricks.as_strided(np.zeros(4), shape=(3, 3), strides=(8, 8))
    with pytest.raises(ValueError, match="overlap"):
        ex.fill_(overlapping, 1.0)


def test_numpy_and_torch_arguments_over_one_memory_see_each_others_borrows():
    a = np.arange(4, dtype=np.float32)
    # The target comes through torch (a `Tensor` import), the source is read
    # from the NumPy array's fields: the borrows still meet in one registry.
    with pytest.raises(RuntimeError, match="borrow"):
        ex.copy_into(torch.from_numpy(a), a)
    with pytest.raises(RuntimeError, match="borrow"):
        ex.copy_into(a[1:], a[:3])
    ex.copy_into(a[2:], a[:2])
    assert a.tolist() == [0.0, 1.0, 0.0, 1.0]


def test_matching_numpy_arguments_take_the_fast_path_and_nothing_else_does():
    # The NumPy fast path (fields read in place, no `Tensor` built) is counted
    # per thread; this fails if the path is switched off or taken wrongly.
    a = np.arange(6, dtype=np.float32)
    before = ex.numpy_fast_path_count()
    assert ex.sum_f32(a) == 15.0
    assert ex.address_f32(a[::-2]) == a[::-2].ctypes.data  # strided, in place
    ex.fill_(np.zeros((2, 3)), 1.0)  # a writable argument
    assert ex.numpy_fast_path_count() == before + 3
    # Everything else goes through the general import, and is not counted:
    # torch and dlbridge tensors, a dtype to convert, a refusal.
    assert ex.sum_f32(torch.arange(3, dtype=torch.float32)) == 3.0
    assert ex.sum_f32(dlbridge.ones(2)) == 2.0
    assert ex.mean_converted(np.arange(3, dtype=np.int64))[0] == 1.0
    with pytest.raises(TypeError):
        ex.sum_f32(np.ones(2, dtype=np.float64))
    assert ex.numpy_fast_path_count() == before + 3
