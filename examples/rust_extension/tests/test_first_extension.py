"""The functions docs/first-extension.md walks through, against real NumPy and torch:
nothing is copied (addresses compared), writes are seen on the other side, results come
back in the caller's framework, and every refusal is checked by type, message and the
argument it names."""

import dlbridge_example as ex
import numpy as np
import pytest
import torch

import dlbridge


def test_scale_writes_any_rank_in_place():
    x = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    address = x.data_ptr()
    assert ex.scale(x, 2.0) is x  # the caller's own object back
    assert x.data_ptr() == address
    assert x.tolist() == [[0.0, 2.0, 4.0], [6.0, 8.0, 10.0]]
    a = np.ones((2, 2, 2), dtype=np.float32)
    ex.scale(a[:, ::-1].transpose(2, 0, 1), 3.0)  # any layout, in place
    assert (a == 3.0).all()
    shared = torch.from_numpy(a)  # a write seen through the other framework
    ex.scale(shared, 0.5)
    assert (a == 1.5).all()


def test_scale_refuses_what_it_cannot_write():
    with pytest.raises(TypeError) as raised:
        ex.scale(np.ones(3, dtype=np.float64), 2.0)
    assert str(raised.value) == "expected a writable float32 tensor, got a 1-d float64 tensor"
    assert raised.value.__notes__ == ["while processing 'x'"]
    frozen = np.ones(3, dtype=np.float32)
    frozen.flags.writeable = False
    with pytest.raises(TypeError) as raised:
        ex.scale(frozen, 2.0)
    assert str(raised.value) == (
        "expected a writable float32 tensor, got a read-only 1-d float32 tensor"
    )
    assert raised.value.__notes__ == ["while processing 'x'"]
    assert (frozen == 1.0).all()


def test_add_answers_in_the_callers_framework():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    b = np.ones((2, 3))
    before = ex.numpy_fast_path_count()
    out = ex.add(a, b)
    assert ex.numpy_fast_path_count() == before + 2  # both read in place
    assert type(out) is np.ndarray and out.dtype == np.float64
    assert out.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    t = torch.from_numpy(a)
    out = ex.add(t, t.T.contiguous().T)  # any layout
    assert type(out) is torch.Tensor and out.dtype == torch.float64
    assert torch.equal(out, t + t)
    out = ex.add(dlbridge.from_numpy(a), b)
    assert type(out) is dlbridge.Tensor
    assert out.tolist() == (a + b).tolist()
    # The result is one memory, shared with whoever reads it next.
    out = ex.add(a, b)
    view = torch.from_numpy(out)
    view[0, 0] = 42.0
    assert out[0, 0] == 42.0 and view.data_ptr() == out.ctypes.data


@pytest.mark.parametrize(
    ("a", "b", "error", "message", "name"),
    [
        (
            np.zeros((2, 3)),
            np.zeros((2, 3), dtype=np.float32),
            TypeError,
            "expected a 2-d float64 tensor, got a 2-d float32 tensor",
            "b",
        ),
        (
            np.zeros(3),
            np.zeros((1, 3)),
            TypeError,
            "expected a 2-d float64 tensor, got a 1-d float64 tensor",
            "a",
        ),
        ([[1.0]], np.zeros((1, 1)), TypeError, "expected a 2-d float64 tensor, got list", "a"),
    ],
)
def test_add_refusals_name_their_argument(a, b, error, message, name):
    with pytest.raises(error) as raised:
        ex.add(a, b)
    assert str(raised.value) == message
    assert raised.value.__notes__ == [f"while processing '{name}'"]


def test_add_refuses_shapes_that_differ():
    with pytest.raises(ValueError, match=r"^a has shape \[2, 3\] but b has shape \[3, 2\]$"):
        ex.add(torch.zeros(2, 3, dtype=torch.float64), torch.zeros(3, 2, dtype=torch.float64))


def test_normalize_reads_float32_in_place_and_casts_other_floats():
    a = np.array([3.0, 4.0], dtype=np.float32)
    before = ex.numpy_fast_path_count()
    out = ex.normalize(a)
    assert ex.numpy_fast_path_count() == before + 1  # float32: no copy
    assert type(out) is np.ndarray and out.dtype == np.float32
    assert out.tolist() == pytest.approx([0.6, 0.8])
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        out = ex.normalize(torch.tensor([[0.0, 3.0], [0.0, 4.0]], dtype=dtype))
        assert type(out) is torch.Tensor and out.dtype == torch.float32
        assert out.flatten().tolist() == pytest.approx([0.0, 0.6, 0.0, 0.8])
    assert ex.normalize(np.zeros(2, dtype=np.float16)).tolist() == [0.0, 0.0]


@pytest.mark.parametrize(
    ("x", "given"),
    [
        (np.array([1 + 5j, 3 - 7j]), "a 1-d complex128 tensor"),
        (torch.tensor([1 + 5j], dtype=torch.complex64), "a 1-d complex64 tensor"),
        (np.arange(3), "a 1-d int64 tensor"),
        (torch.tensor([[1, 2]], dtype=torch.uint8), "a 2-d uint8 tensor"),
        (np.array([True, False]), "a 1-d bool tensor"),
    ],
)
def test_normalize_refuses_every_dtype_that_is_not_a_float(x, given):
    with pytest.raises(TypeError) as raised:
        ex.normalize(x)
    assert str(raised.value) == (
        f"expected a floating-point tensor (converted to float32), got {given}"
    )
    assert raised.value.__notes__ == ["while processing 'x'"]


def test_accumulator_keeps_its_tensor_between_calls():
    acc = ex.Accumulator([2, 2])
    acc.add(np.ones((2, 2)))
    acc.add(torch.full((2, 2), 2.0, dtype=torch.float64))
    assert acc.batches == 2
    total = acc.total
    assert type(total) is dlbridge.Tensor
    assert total.tolist() == [[3.0, 3.0], [3.0, 3.0]]
    # Not a copy: the next batch shows through the tensor handed out before,
    # and NumPy shares the same memory.
    acc.add(np.ones((2, 2)))
    assert total.tolist() == [[4.0, 4.0], [4.0, 4.0]]
    assert acc.total.data_ptr() == total.data_ptr() == np.from_dlpack(total).ctypes.data
    # The memory outlives the object while a tensor over it lives.
    del acc
    assert total.tolist() == [[4.0, 4.0], [4.0, 4.0]]


def test_accumulator_refusals():
    acc = ex.Accumulator([3])
    with pytest.raises(ValueError, match=r"^batch has shape \[2\] but the total has shape \[3\]$"):
        acc.add(np.ones(2))
    with pytest.raises(TypeError) as raised:
        acc.add(np.ones(3, dtype=np.float32))
    assert str(raised.value) == "expected a float64 tensor, got a 1-d float32 tensor"
    assert raised.value.__notes__ == ["while processing 'batch'"]
    # Its own total as a batch: the batch's borrow keeps the total from being
    # written under it.
    with pytest.raises(RuntimeError, match="already borrowed"):
        acc.add(acc.total)
    assert acc.batches == 0 and acc.total.tolist() == [0.0, 0.0, 0.0]


def test_a_conflict_between_two_arguments_names_both():
    a = np.arange(4, dtype=np.float32)
    with pytest.raises(RuntimeError) as raised:
        ex.copy_into(a, a)
    assert str(raised.value) == "tensor memory is already borrowed mutably, by argument 'target'"
    assert raised.value.__notes__ == ["while processing 'source'"]
    # Through torch (a `Tensor` import) and over part of the memory, too.
    with pytest.raises(RuntimeError) as raised:
        ex.copy_into(torch.from_numpy(a)[1:], a[:3])
    assert str(raised.value) == "tensor memory is already borrowed mutably, by argument 'target'"
    assert raised.value.__notes__ == ["while processing 'source'"]
    # Memory apart: no conflict, and the ledger was emptied by the calls before.
    ex.copy_into(a[2:], a[:2])
    assert a.tolist() == [0.0, 1.0, 0.0, 1.0]


def test_an_unnamed_holder_is_not_named():
    # `target` is named, `source` is not: a conflict found while extracting an
    # argument after an unnamed one keeps the registry's own words.
    a = np.arange(4, dtype=np.float32)
    with pytest.raises(RuntimeError) as raised:
        ex.row_sums(a.reshape(2, 2), a[:2])
    message = "tensor memory is already borrowed (a mutable borrow needs it alone)"
    assert str(raised.value) == message
    assert raised.value.__notes__ == ["while processing 'out'"]


def test_typed_arguments_tell_the_callers_dtype_framework_and_object():
    for passed, dtype, framework in (
        (np.arange(3, dtype=np.int16), "int16", "numpy"),
        (np.arange(3, dtype=np.float64), "float64", "numpy"),  # read in place
        (torch.ones(2, 2, dtype=torch.bfloat16), "bfloat16", "torch"),
        (dlbridge.ones(2, dtype=dlbridge.float16), "float16", "dlbridge"),
    ):
        assert ex.caller_of_converted(passed, passed) == (dtype, framework, True)
    with pytest.raises(TypeError, match=r"^expected a real \(bool, integer or floating-point\)"):
        ex.caller_of_converted(np.zeros(2, dtype=np.complex64), None)
    for passed, framework in (
        (np.zeros(2, dtype=np.float32), "numpy"),
        (torch.zeros(2), "torch"),
        (dlbridge.zeros(2), "dlbridge"),
    ):
        assert ex.caller_of_writable(passed, passed) == ("float32", framework, True)
