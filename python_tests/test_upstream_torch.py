"""PyTorch's own tests for the view vocabulary, adapted to dlbridge, and the
same operations compared with torch on shared memory.

The tests here come from PyTorch's test suite (github.com/pytorch/pytorch):
``test/test_view_ops.py``, ``test/test_shape_ops.py``, ``test/test_torch.py``,
``test/test_tensor_creation_ops.py``, and the OpInfo sample and error inputs of
``torch/testing/_internal/common_methods_invocations.py`` that ``test/test_ops.py``
runs. Each adapted test names its upstream function in a comment. They cover:
``squeeze`` with a tuple of dims, ``permute`` checks and its sequence form,
``copy.deepcopy`` of views, ``narrow`` with a 0-dim tensor start, ``arange`` of
bools and 0-dim tensors, the ``*_like`` constructors' ``preserve_format``
strides, ``view(dtype)`` across element sizes, and the aliases ``view_as``,
``reshape_as``, ``expand_as``, ``swapaxes``, ``swapdims``, ``moveaxis``,
``ravel``, ``t``, ``select``, ``tensor_split``, ``as_strided`` and
``storage_offset``.

Most adapted tests take the ``lib`` fixture and run twice, once with torch and
once with dlbridge: the torch run proves that every expectation written here is
torch's own behaviour, the dlbridge run holds dlbridge to it. The
``*_matches_torch`` tests apply one operation to a torch tensor and to a
dlbridge tensor over the same memory (``db.from_dlpack`` of it, or
``db.from_numpy`` of the array torch also wraps) and compare shape, strides,
values, ``data_ptr`` (and a write seen through the other tensor) for views,
fresh memory for copies, and the exception type where torch raises.
"""

import copy
import itertools
import math
import random
import sys

import numpy as np
import pytest
import torch

import dlbridge as db

BIG = [sys.maxsize, -sys.maxsize - 1, 2**62]


@pytest.fixture(params=[torch, db], ids=["torch", "dlbridge"])
def lib(request):
    """The library under test: torch (the reference) or dlbridge."""
    return request.param


# -- helpers ------------------------------------------------------------------


def outcome(call):
    """(result, None) or (None, the exception) of call()."""
    try:
        return call(), None
    except Exception as error:  # compared with torch's
        return None, error


def kind(error):
    return None if error is None else type(error)


def dtype_name(dtype):
    """'int8' for torch.int8 and for db.int8."""
    if isinstance(dtype, torch.dtype):
        return str(dtype).removeprefix("torch.")
    return dtype.name


def same_values(a, b):
    """Equal nested lists, NaN equal to NaN (bit patterns viewed as floats),
    and a bool never equal to an int."""
    if isinstance(a, list) or isinstance(b, list):
        return (
            isinstance(a, list)
            and isinstance(b, list)
            and len(a) == len(b)
            and all(same_values(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, complex) or isinstance(b, complex):
        a, b = complex(a), complex(b)
        return same_values(a.real, b.real) and same_values(a.imag, b.imag)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def storage_start(t):
    """Address of element 0 of t's storage (torch's or dlbridge's)."""
    return t.data_ptr() - t.storage_offset() * t.element_size()


def first_index(t):
    return (0,) * t.dim() if t.dim() else ()


def assert_write_visible(writer, reader):
    """A write of one element through `writer` is read back through `reader`
    (both views of the same memory, the same shape)."""
    index = first_index(writer)
    current = reader[index].item()
    new = (not current) if isinstance(current, bool) else (0 if current != 0 else 1)
    writer[index] = new
    assert reader[index].item() == new


def torch_shares(expected, source):
    return expected.untyped_storage().data_ptr() == source.untyped_storage().data_ptr()


def assert_matches(result, expected, source_torch):
    """The dlbridge `result` matches torch's `expected`, both computed from
    tensors over the same memory: the same view of it (shape, strides, data
    pointer, a write seen through the other), or fresh contiguous memory where
    torch copied."""
    assert isinstance(result, db.Tensor), type(result)
    assert result.shape == tuple(expected.shape)
    assert dtype_name(result.dtype) == dtype_name(expected.dtype)
    assert same_values(result.tolist(), expected.tolist())
    if torch_shares(expected, source_torch):
        # (An empty tensor's strides and address point at nothing.)
        if expected.numel():
            assert result.stride() == expected.stride()
            assert result.data_ptr() == expected.data_ptr()
            if 0 not in expected.stride():
                assert_write_visible(result, expected)
    else:
        assert result.is_contiguous()
        if source_torch.numel() and result.numel():
            start = source_torch.untyped_storage().data_ptr()
            end = start + source_torch.untyped_storage().nbytes()
            assert not start <= result.data_ptr() < end


def compare(t, op):
    """Applies op(x, lib) to torch tensor `t` and to dlbridge's import of the
    same memory; the outcomes must match (the same exception type, or the same
    tensors). Returns (dlbridge result or error, torch result or error)."""
    d = db.from_dlpack(t)
    if t.numel():
        assert d.data_ptr() == t.data_ptr() and d.stride() == t.stride()
    expected, torch_error = outcome(lambda: op(t, torch))
    result, db_error = outcome(lambda: op(d, db))
    assert kind(db_error) is kind(torch_error), (db_error, torch_error)
    if torch_error is not None:
        return db_error, torch_error
    if isinstance(expected, tuple | list):
        assert isinstance(result, tuple | list) and len(result) == len(expected)
        for piece, expected_piece in zip(result, expected, strict=True):
            assert_matches(piece, expected_piece, t)
    elif isinstance(expected, torch.Tensor):
        assert_matches(result, expected, t)
    else:
        assert result == expected
    return result, expected


def arange_like(shape, lib, dtype=None):
    """lib.arange over `shape` (0-dim and empty shapes included)."""
    return lib.arange(math.prod(shape), dtype=dtype).reshape(shape)


# -- 1. squeeze with a tuple of dims -------------------------------------------

S = 5

# Adapted from pytorch/pytorch torch/testing/_internal/common_methods_invocations.py
# ::sample_inputs_squeeze_multiple (the squeeze.multiple OpInfo samples that
# test/test_ops.py runs), with list and keyword forms and a few more shapes.
SQUEEZE_DIMS = [
    ((1, 1, 1, 1), ()),
    ((S, 1, S, 1), (1,)),
    ((S, 1, S, 1), (-1,)),
    ((S, 1, S, 1), (1, 3)),
    ((S, 1, S, 1), (1, 2)),
    ((), (0,)),
    ((), (-1,)),
    ((1, 3, 1, 4), (0, 2)),
    ((1, 3, 1, 4), (2, 0)),
    ((1, 3, 1, 4), (-2, -4)),
    ((1, 3, 1, 4), (0, 1, 2, 3)),
    ((1, 1, 1, 1), (0, 1, 2, 3)),
    ((1, 0, 1), (0, 2)),
]


@pytest.mark.parametrize(("shape", "dims"), SQUEEZE_DIMS)
@pytest.mark.parametrize("form", ["tuple", "list", "keyword"])
def test_squeeze_multiple_dims(lib, shape, dims, form):
    x = arange_like(shape, lib)
    squeezed = {d % len(shape) for d in dims} if shape else set()
    kept = [i for i, size in enumerate(shape) if not (i in squeezed and size == 1)]
    call = {
        "tuple": lambda: x.squeeze(tuple(dims)),
        "list": lambda: x.squeeze(list(dims)),
        "keyword": lambda: x.squeeze(dim=tuple(dims)),
    }[form]
    v = call()
    assert tuple(v.shape) == tuple(shape[i] for i in kept)
    if x.numel():
        assert v.stride() == tuple(x.stride(i) for i in kept)
        assert v.data_ptr() == x.data_ptr()
        assert v.tolist() == x.reshape(tuple(v.shape)).tolist()
        v[first_index(v)] = 100  # a view: the write shows in x
        assert x.reshape(-1)[0].item() == 100


@pytest.mark.parametrize(
    ("shape", "dims", "error", "value"),
    [
        ((1, 3, 1, 4), (0, 0), RuntimeError, None),  # "dim 0 appears multiple times"
        ((1, 3, 1, 4), (0, -4), RuntimeError, None),
        ((1, 3, 1, 4), (4,), IndexError, "4"),  # "Dimension out of range"
        ((1, 3, 1, 4), (0, 7), IndexError, "7"),
        ((1, 3, 1, 4), (-5,), IndexError, "-5"),
        ((1, 3, 1, 4), (sys.maxsize,), IndexError, str(sys.maxsize)),
        ((1, 3, 1, 4), (-sys.maxsize - 1,), IndexError, str(-sys.maxsize - 1)),
        ((1, 3, 1, 4), (2**62,), IndexError, str(2**62)),
        ((), (0, -1), RuntimeError, None),
        ((), (1,), IndexError, None),
        ((1, 3, 1, 4), (0.0,), TypeError, None),
    ],
)
def test_squeeze_multiple_dims_errors(lib, shape, dims, error, value):
    x = arange_like(shape, lib)
    with pytest.raises(error) as raised:
        x.squeeze(dims)
    if value is not None:
        assert value in str(raised.value)


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.arange(12).reshape(1, 3, 1, 4),
        lambda: torch.arange(12).reshape(1, 3, 1, 4).permute(3, 2, 1, 0),
        lambda: torch.arange(48).reshape(2, 3, 2, 4)[:1, :, 1:, ::2],
        lambda: torch.arange(4).reshape(4, 1).expand(4, 3).unsqueeze(0),
        lambda: torch.tensor(7),
    ],
)
@pytest.mark.parametrize("dims", [(), (0,), (-1,), (0, 2), [2, 0], (1, 3), (0, 0), (5,)])
def test_squeeze_dims_matches_torch(make, dims):
    compare(make(), lambda x, lib: x.squeeze(dims))


# -- 2. permute ---------------------------------------------------------------


# Adapted from pytorch/pytorch test/test_torch.py::TestTorch::test_permute
# (randperm replaced by a seeded shuffle; the sequence forms added).
def test_permute(lib):
    orig = [1, 2, 3, 4, 5, 6, 7]
    x = lib.zeros(*orig)
    shuffle = random.Random(0)
    for _ in range(10):
        perm = list(range(7))
        shuffle.shuffle(perm)
        for permuted in (x.permute(*perm), x.permute(tuple(perm)), x.permute(list(perm))):
            new = [i - 1 for i in permuted.size()]
            assert perm == new
            assert permuted.data_ptr() == x.data_ptr()
        assert list(x.size()) == orig


# Adapted from pytorch/pytorch test/test_view_ops.py::TestViewOps::test_permute_view
def test_permute_view(lib):
    t = lib.ones(5, 5)
    for v in (t.permute(1, 0), t.permute((1, 0)), t.permute([1, 0])):
        assert v.data_ptr() == t.data_ptr() and v.stride() == (1, 5)
        v[0, 1] = 0
        assert t[1, 0].item() == v[0, 1].item() == 0
        t[1, 0] = 1


# Adapted from pytorch/pytorch torch/testing/_internal/common_methods_invocations.py
# ::sample_inputs_permute and ::reference_inputs_permute (every ordering of
# already permuted, and stepped, inputs).
PERMUTE_CASES = [
    ((1, 2, 3, 4), (0, 2, 3, 1)),
    ((1, 2, 3, 4), (0, -2, -1, 1)),
    ((), ()),
    ((1, 2, 3, 4), (2, 1, 3, 0)),
    ((1,), (0,)),
    ((2, 2), (1, 0)),
    ((2, 2), (0, 1)),
    ((2, 0, 1), (0, 2, 1)),
    ((3, 4, 2), (2, 1, 0)),
    ((3, 4, 2), (1, 0, 2)),
    ((3, 4, 2), (0, 1, 2)),
]


@pytest.mark.parametrize(("shape", "permutation"), PERMUTE_CASES)
@pytest.mark.parametrize("stepped", [False, True])
def test_permute_matches_torch(shape, permutation, stepped):
    for p in itertools.permutations(range(len(shape))):
        base = torch.arange(max(1, math.prod(shape)) * 2)
        t = base[::2] if stepped else base[: math.prod(shape)]
        t = t[: math.prod(shape)].reshape(shape).permute(p)
        compare(t, lambda x, lib, q=permutation: x.permute(q))
        compare(t, lambda x, lib, q=permutation: x.permute(*q))
        compare(t, lambda x, lib, q=permutation: x.permute(list(q)))


@pytest.mark.parametrize(
    ("dims", "error", "value"),
    [
        ((1, 0), RuntimeError, None),  # fewer dims than the tensor has
        ((0, 1, 2, 0), RuntimeError, None),  # more dims
        ((0, 0, 1), RuntimeError, None),  # "duplicate dims are not allowed"
        ((0, -3, 1), RuntimeError, None),  # -3 is 0 again
        ((2, 1, 2), RuntimeError, None),
        ((0, 1, 3), IndexError, "3"),  # "Dimension out of range"
        ((0, 1, -4), IndexError, "-4"),
        ((0, 1, sys.maxsize), IndexError, str(sys.maxsize)),
        ((0, 1, -sys.maxsize - 1), IndexError, str(-sys.maxsize - 1)),
        ((0, 1, 2**62), IndexError, str(2**62)),
        ((0, 1, 2.0), TypeError, None),
    ],
)
@pytest.mark.parametrize("form", ["varargs", "tuple", "list"])
def test_permute_errors(lib, dims, error, value, form):
    x = arange_like((2, 3, 4), lib)
    call = {
        "varargs": lambda: x.permute(*dims),
        "tuple": lambda: x.permute(tuple(dims)),
        "list": lambda: x.permute(list(dims)),
    }[form]
    with pytest.raises(error) as raised:
        call()
    if value is not None:
        assert value in str(raised.value)


def test_permute_needs_dims(lib):
    # torch: "permute() missing 1 required positional arguments: "dims"",
    # even for a 0-dim tensor, which takes permute(()) instead.
    with pytest.raises(TypeError):
        arange_like((2, 3), lib).permute()
    with pytest.raises(TypeError):
        lib.tensor(5).permute()
    scalar = lib.tensor(5)
    assert scalar.permute(()).tolist() == 5 and scalar.permute([]).shape == ()


# -- 3. copy.deepcopy of views ---------------------------------------------------


# Adapted from pytorch/pytorch test/test_torch.py::TestTorchDeviceType::test_deepcopy
# (storages dropped: the list holds a, b and the view c = a.view(25)).
@pytest.mark.parametrize("dtype", ["float32", "complex64"])
def test_deepcopy(lib, dtype):
    dt = getattr(lib, dtype)
    a = lib.arange(25).to(dt).reshape(5, 5)
    b = lib.arange(25, 50).to(dt).reshape(5, 5)
    c = a.view(25)
    q = [a, b, c]
    w = copy.deepcopy(q)
    for copied, original in zip(w, q, strict=True):
        assert copied.tolist() == original.tolist()
        assert copied.shape == original.shape and copied.stride() == original.stride()
        assert copied.dtype == original.dtype
        assert copied.data_ptr() != original.data_ptr()
    # Check that deepcopy preserves sharing: the copies of a and of its view
    # c share one new memory, b's copy is on its own.
    assert w[2].data_ptr() == w[0].data_ptr()
    w[0][1, 1] = 100
    assert w[2][6].item() == 100
    assert a[1, 1].item() == 6 and c[6].item() == 6  # the originals are untouched
    w[1][0, 0] = -1
    assert w[0][0, 0].item() == 0 and b[0, 0].item() == 25


VIEWS_OF_A_BASE = {
    "slice": lambda base: base[5:],
    "transposed": lambda base: base.view(4, 6).T,
    "stepped": lambda base: base[1::3],
    "expanded": lambda base: base[:3].expand(4, 3),
    "element": lambda base: base[7],
    "diagonal": lambda base: base[:16].view(4, 4).diagonal(),
    "rows": lambda base: base.view(4, 6)[1:3],
}


# Adapted from pytorch/pytorch test/test_torch.py::TestTorchDeviceType::test_deepcopy
# (a view's copy is a view of a copy of its whole storage, as torch's
# Tensor.__deepcopy__ copies the storage and keeps the offset and strides).
@pytest.mark.parametrize("name", list(VIEWS_OF_A_BASE))
def test_deepcopy_of_a_view_keeps_its_layout(lib, name):
    base = lib.arange(24)
    v = VIEWS_OF_A_BASE[name](base)
    c = copy.deepcopy(v)
    assert c.shape == v.shape and c.stride() == v.stride()
    assert c.storage_offset() == v.storage_offset()
    assert c.tolist() == v.tolist() and c.dtype == v.dtype
    assert not storage_start(v) <= c.data_ptr() < storage_start(v) + 24 * 8
    if 0 not in c.stride():
        c[first_index(c)] = -5
        assert v[first_index(v)].item() != -5


def test_deepcopy_copies_the_whole_storage(lib):
    base = lib.arange(24)
    c = copy.deepcopy(base[5:])
    assert c.storage_offset() == 5
    assert c.as_strided((5,), (1,), 0).tolist() == [0, 1, 2, 3, 4]


def test_deepcopy_memo_shares_one_storage_between_views(lib):
    base = lib.arange(24)
    a = base.view(4, 6)
    w = copy.deepcopy([base[5:], base[:3], (a.T, {"row": a[1]})])
    tail, head, (at, rows) = w
    starts = {storage_start(x) for x in (tail, head, at, rows["row"])}
    assert len(starts) == 1 and storage_start(base) not in starts
    assert (tail.storage_offset(), head.storage_offset(), rows["row"].storage_offset()) == (5, 0, 6)
    assert at.stride() == (1, 6)
    head[2] = -2  # element 2 of the new storage
    assert at[2, 0].item() == -2 and base[2].item() == 2
    tail[1] = -6  # element 6
    assert rows["row"][0].item() == -6
    # The same object twice is copied once.
    same = copy.deepcopy([base, base])
    assert same[0] is same[1]
    # Tensors over different memory stay apart.
    apart = copy.deepcopy([lib.arange(3), lib.arange(3)])
    assert apart[0].data_ptr() != apart[1].data_ptr()


# -- 4. narrow with a 0-dim tensor start ------------------------------------------


# Adapted from pytorch/pytorch test/test_view_ops.py::TestOldViewOps::test_narrow_tensor
# (upstream asserts `Exception`; torch raises RuntimeError for each).
def test_narrow_tensor(lib):
    x = lib.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    assert x.narrow(0, lib.tensor(0), 1).tolist() == [[0, 1, 2]]
    with pytest.raises(RuntimeError):
        x.narrow(0, lib.tensor(0.0), 1)
    with pytest.raises(RuntimeError):
        x.narrow(0, lib.tensor([0]), 1)
    with pytest.raises(RuntimeError):
        x.narrow(0, lib.tensor([0, 1]), 1)


# Adapted from pytorch/pytorch test/test_view_ops.py::TestOldViewOps::test_narrow
# with every start given as a 0-dim tensor, as
# torch/testing/_internal/common_methods_invocations.py
# ::sample_inputs_narrow_narrow_copy yields ("narrow also accepts the start
# argument being a Tensor").
@pytest.mark.parametrize(
    ("dim", "start", "length", "expected"),
    [
        (0, 0, 1, [[0, 1, 2]]),
        (0, 0, 2, [[0, 1, 2], [3, 4, 5]]),
        (0, 1, 1, [[3, 4, 5]]),
        (0, -1, 1, [[6, 7, 8]]),
        (0, -2, 2, [[3, 4, 5], [6, 7, 8]]),
        (0, -3, 3, [[0, 1, 2], [3, 4, 5], [6, 7, 8]]),
        (-1, -1, 1, [[2], [5], [8]]),
        (-2, -1, 1, [[6, 7, 8]]),
        (1, 3, 0, [[], [], []]),
    ],
)
@pytest.mark.parametrize("int_dtype", ["int64", "int32", "int16", "int8", "uint8"])
@pytest.mark.parametrize(
    ("lib", "start_lib"),
    [(torch, torch), (db, torch), (db, db)],
    ids=["torch", "dlbridge-torch-start", "dlbridge"],
)
def test_narrow_with_0dim_tensor_start(lib, start_lib, dim, start, length, expected, int_dtype):
    if int_dtype == "uint8" and start < 0:
        return
    x = lib.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    start_tensor = start_lib.tensor(start, dtype=getattr(start_lib, int_dtype))
    v = x.narrow(dim, start_tensor, length)
    assert v.tolist() == expected
    assert v.stride() == x.stride()
    first = start + 3 if start < 0 else start
    row, col = (first, 0) if dim % 2 == 0 else (0, first)
    assert v.storage_offset() == 3 * row + col
    if v.numel():
        assert v.data_ptr() == x.data_ptr() + v.storage_offset() * 8
        v[0, 0] = -1
        assert x[row, col].item() == -1


@pytest.mark.parametrize(
    ("make_start", "error", "value"),
    [
        (
            lambda lib: lib.tensor(0.0),
            RuntimeError,
            None,
        ),  # "start must be an 0-dim integral Tensor."
        (lambda lib: lib.tensor(1.5, dtype=lib.float64), RuntimeError, None),
        (lambda lib: lib.tensor(True), RuntimeError, None),  # bool is not integral here
        (lambda lib: lib.tensor(1 + 0j), RuntimeError, None),
        (lambda lib: lib.tensor([0]), RuntimeError, None),  # 1-d, even with one element
        (lambda lib: lib.tensor([0, 1]), RuntimeError, None),
        (lambda lib: lib.tensor([[0]]), RuntimeError, None),
        (lambda lib: lib.tensor(5), IndexError, "5"),  # "start out of range"
        (lambda lib: lib.tensor(-4), IndexError, "-4"),
        (lambda lib: lib.tensor(sys.maxsize), IndexError, str(sys.maxsize)),
        (lambda lib: lib.tensor(-sys.maxsize - 1), IndexError, str(-sys.maxsize - 1)),
        (lambda lib: lib.tensor(2**62), IndexError, str(2**62)),
    ],
)
@pytest.mark.parametrize(
    ("lib", "start_lib"),
    [(torch, torch), (db, torch), (db, db)],
    ids=["torch", "dlbridge-torch-start", "dlbridge"],
)
def test_narrow_tensor_start_errors(lib, start_lib, make_start, error, value):
    x = lib.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    with pytest.raises(error) as raised:
        x.narrow(0, make_start(start_lib), 1)
    if value is not None:
        assert value in str(raised.value)


def test_narrow_tensor_start_length_checks(lib):
    x = lib.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    # torch: "start (2) + length (2) exceeds dimension size (3)."
    with pytest.raises(RuntimeError):
        x.narrow(0, lib.tensor(2), 2)
    with pytest.raises(RuntimeError):
        x.narrow(0, lib.tensor(0), sys.maxsize)
    # 0-dim integer tensors also pass as the length, and NumPy integers as start.
    assert x.narrow(1, lib.tensor(1), lib.tensor(2)).tolist() == [[1, 2], [4, 5], [7, 8]]
    assert x.narrow(0, np.int64(2), 1).tolist() == [[6, 7, 8]]


@pytest.mark.parametrize(
    "start",
    [
        torch.tensor(1),
        torch.tensor(-1),
        torch.tensor(2, dtype=torch.int16),
        torch.tensor(0.0),
        torch.tensor([0]),
        torch.tensor(True),
        torch.tensor(7),
        torch.tensor(sys.maxsize),
    ],
)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_narrow_tensor_start_matches_torch(start, dim):
    t = torch.arange(12).reshape(3, 4)
    compare(t, lambda x, lib: x.narrow(dim, start, 1))
    compare(t.T, lambda x, lib: x.narrow(dim, start, 1))


# -- 5. arange of bools and of 0-dim tensors ----------------------------------------


# Adapted from pytorch/pytorch test/test_tensor_creation_ops.py::TestTensorCreation
# ::test_arange ("Bool Input matching numpy semantics") and the bool sample of
# torch/testing/_internal/common_methods_invocations.py::sample_inputs_arange.
def test_arange_bool(lib):
    r = lib.arange(True)
    assert r[0].item() == 0 and r.tolist() == [0]
    r2 = lib.arange(False)
    assert len(r2) == 0 and r2.shape == (0,)
    assert r.dtype == lib.int64 and r2.dtype == lib.int64
    r3 = lib.arange(False, True, True)
    assert r3.tolist() == [0] and r3.dtype == lib.int64
    r4 = lib.arange(True, 3)
    assert r4.tolist() == [1, 2] and r4.dtype == lib.int64


# Adapted from pytorch/pytorch test/test_tensor_creation_ops.py::TestTensorCreation
# ::test_arange_inference (the default dtype is float32; values checked too).
def test_arange_inference(lib):
    t = lib.tensor
    cases = [
        # end only
        (lambda: lib.arange(1.0), lib.float32, [0.0]),
        (lambda: lib.arange(t(1.0)), lib.float32, [0.0]),
        (lambda: lib.arange(t(1.0, dtype=lib.float64)), lib.float32, [0.0]),
        (lambda: lib.arange(1), lib.int64, [0]),
        (lambda: lib.arange(t(1)), lib.int64, [0]),
        (lambda: lib.arange(t(1, dtype=lib.int16)), lib.int64, [0]),
        # start, end, [step]
        (lambda: lib.arange(1.0, 3), lib.float32, [1.0, 2.0]),
        (lambda: lib.arange(t(1.0, dtype=lib.float64), 3), lib.float32, [1.0, 2.0]),
        (lambda: lib.arange(1, 3.0), lib.float32, [1.0, 2.0]),
        (lambda: lib.arange(t(1, dtype=lib.int16), t(3.0)), lib.float32, [1.0, 2.0]),
        (lambda: lib.arange(1, 3, 1.0), lib.float32, [1.0, 2.0]),
        (
            lambda: lib.arange(t(1), t(3, dtype=lib.int16), t(1.0, dtype=lib.float64)),
            lib.float32,
            [1.0, 2.0],
        ),
        (lambda: lib.arange(1, 3), lib.int64, [1, 2]),
        (lambda: lib.arange(t(1), 3), lib.int64, [1, 2]),
        (lambda: lib.arange(t(1), t(3, dtype=lib.int16)), lib.int64, [1, 2]),
        (lambda: lib.arange(1, 3, 1), lib.int64, [1, 2]),
        (lambda: lib.arange(t(1), t(3), t(1, dtype=lib.int16)), lib.int64, [1, 2]),
    ]
    for make, dtype, values in cases:
        r = make()
        assert r.dtype == dtype and r.tolist() == values


@pytest.mark.parametrize(
    ("args", "dtype", "values"),
    [
        ((3.0,), "float32", [0.0, 1.0, 2.0]),
        ((2.5,), "float32", [0.0, 1.0, 2.0]),
        ((3.0, "float64"), "float32", [0.0, 1.0, 2.0]),
        ((3.0, "float16"), "float32", [0.0, 1.0, 2.0]),
        ((3,), "int64", [0, 1, 2]),
        ((3, "int16"), "int64", [0, 1, 2]),
        ((3, "uint8"), "int64", [0, 1, 2]),
        ((3, "int32"), "int64", [0, 1, 2]),
        ((True,), "int64", [0]),
        ((False,), "int64", []),
    ],
)
@pytest.mark.parametrize("tensor_lib", [torch, db], ids=["torch-0d", "dlbridge-0d"])
def test_arange_of_a_0dim_tensor_matches_torch(args, dtype, values, tensor_lib):
    value, *as_dtype = args

    def make(lib):
        return lib.tensor(value, dtype=getattr(lib, as_dtype[0])) if as_dtype else lib.tensor(value)

    end = make(tensor_lib)
    expected = torch.arange(make(torch))
    assert dtype_name(expected.dtype) == dtype and expected.tolist() == values
    r = db.arange(end)
    assert dtype_name(r.dtype) == dtype and r.tolist() == values
    # As start and step too, and an explicit dtype still wins.
    assert db.arange(end, 5).tolist() == torch.arange(torch.tensor(value), 5).tolist()
    assert db.arange(0, 6, tensor_lib.tensor(2)).tolist() == [0, 2, 4]
    assert db.arange(end, dtype=db.float64).dtype == db.float64


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda lib: lib.arange(lib.tensor([3])), TypeError),  # "must be Number, not Tensor"
        (lambda lib: lib.arange(lib.tensor([3, 4])), TypeError),
        (lambda lib: lib.arange(0, 5, lib.tensor(0)), RuntimeError),  # "step must be nonzero"
        (lambda lib: lib.arange(lib.tensor(2**62)), RuntimeError),
        (lambda lib: lib.arange(sys.maxsize), RuntimeError),
        (lambda lib: lib.arange(2**62), RuntimeError),
        (lambda lib: lib.arange(-sys.maxsize - 1, 0), RuntimeError),
        (lambda lib: lib.arange(0, 1, 1 / sys.maxsize), RuntimeError),
    ],
)
def test_arange_tensor_and_extreme_errors(lib, make, error):
    with pytest.raises(error):
        make(lib)


def test_arange_takes_torch_0dim_tensors():
    assert db.arange(torch.tensor(4)).tolist() == [0, 1, 2, 3]
    with pytest.raises(TypeError):
        db.arange(torch.tensor([4]))


# -- 6. *_like keep torch's preserve_format strides ------------------------------------

# (name, make(lib), the strides torch.zeros_like gives)
LIKE_LAYOUTS = [
    ("transposed", lambda lib: lib.arange(6).reshape(2, 3).T, (1, 3)),
    (
        "permuted (2, 0, 1)",
        lambda lib: lib.arange(24).reshape(2, 3, 4).permute(2, 0, 1),
        (1, 12, 4),
    ),
    (
        "permuted (1, 2, 0)",
        lambda lib: lib.arange(24).reshape(2, 3, 4).permute(1, 2, 0),
        (4, 1, 12),
    ),
    ("stepped columns", lambda lib: lib.arange(24).reshape(4, 6)[:, ::2], (3, 1)),
    ("stepped columns, transposed", lambda lib: lib.arange(24).reshape(4, 6)[:, ::2].T, (1, 3)),
    ("stepped rows", lambda lib: lib.arange(24).reshape(4, 6)[::2], (6, 1)),
    ("narrowed columns", lambda lib: lib.arange(24).reshape(4, 6)[:, 1:4], (3, 1)),
    ("offset block", lambda lib: lib.arange(12).reshape(3, 4)[1:, 1:], (3, 1)),
    (
        "sliced and permuted",
        lambda lib: lib.arange(60).reshape(3, 4, 5)[:, ::2, 1:].permute(2, 0, 1),
        (1, 8, 4),
    ),
    (
        "channels-last, stepped",
        lambda lib: lib.zeros(2, 8, 10, 3).permute(0, 3, 1, 2)[..., ::2, ::2],
        (60, 1, 15, 3),
    ),
    ("expanded rows", lambda lib: lib.arange(3).expand(4, 3), (3, 1)),
    ("expanded columns", lambda lib: lib.arange(3).reshape(3, 1).expand(3, 4), (4, 1)),
    ("expanded middle", lambda lib: lib.arange(6).reshape(2, 1, 3).expand(2, 4, 3), (12, 3, 1)),
    (
        "expanded and permuted",
        lambda lib: lib.arange(6).reshape(2, 3).unsqueeze(1).expand(2, 5, 3).permute(2, 1, 0),
        (1, 3, 15),
    ),
    ("overlapping windows", lambda lib: lib.arange(6).unfold(0, 3, 1), (3, 1)),
    ("diagonal", lambda lib: lib.arange(9).reshape(3, 3).diagonal(), (1,)),
    ("size-1 dim, transposed", lambda lib: lib.zeros(1, 3).T, (1, 3)),
    ("size-1 dim, permuted", lambda lib: lib.zeros(3, 1, 4).permute(1, 0, 2), (4, 4, 1)),
    (
        "7-d permuted",
        lambda lib: lib.zeros(3, 4, 5, 6, 7, 8, 9).permute(3, 1, 6, 0, 2, 5, 4),
        (504, 15120, 1, 60480, 3024, 9, 72),
    ),
    ("0-dim", lambda lib: lib.tensor(5), ()),
    ("contiguous", lambda lib: lib.arange(6).reshape(2, 3), (3, 1)),
]

LIKES = ["zeros_like", "ones_like", "empty_like"]


# Adapted from pytorch/pytorch test/test_torch.py::TestTorchDeviceType
# ::test_memory_format_factory_like_functions_preserve (via
# ::_test_memory_format_transformations: a channels-last tensor made non-dense
# by stepping keeps channels-last strides) and from
# torch/testing/_internal/common_methods_invocations.py::reference_inputs_like_fns
# (transposed and non-contiguous inputs); the strides are torch's.
@pytest.mark.parametrize(
    ("name", "make", "strides"), LIKE_LAYOUTS, ids=[c[0] for c in LIKE_LAYOUTS]
)
@pytest.mark.parametrize("like", LIKES)
def test_like_preserves_strides(lib, name, make, strides, like):
    x = make(lib)
    r = getattr(lib, like)(x)
    assert r.shape == x.shape and r.dtype == x.dtype
    assert r.stride() == strides
    assert r.storage_offset() == 0
    if x.numel():
        assert r.data_ptr() != x.data_ptr()
    if like != "empty_like":
        fill = 0 if like == "zeros_like" else 1
        assert r.tolist() == np.full(tuple(x.shape), fill).tolist()
    other = getattr(lib, like)(x, dtype=lib.float64)
    assert other.dtype == lib.float64 and other.stride() == strides


# Adapted from pytorch/pytorch test/test_torch.py::TestTorchDeviceType
# ::_test_memory_format_transformations (the last loop: ten random
# permutations of a 7-d tensor keep their strides through preserve_format).
@pytest.mark.parametrize("like", LIKES)
def test_like_preserves_strides_of_permutations(lib, like):
    x = lib.zeros(3, 4, 5, 6, 7, 8, 9)
    shuffle = random.Random(0)
    for _ in range(10):
        permutation = list(range(x.dim()))
        shuffle.shuffle(permutation)
        x = x.permute(permutation)
        assert x.stride() == getattr(lib, like)(x).stride()


@pytest.mark.parametrize(
    ("name", "make", "strides"), LIKE_LAYOUTS, ids=[c[0] for c in LIKE_LAYOUTS]
)
@pytest.mark.parametrize("like", LIKES)
@pytest.mark.parametrize("source", ["dlbridge", "torch"])
def test_like_matches_torch(name, make, strides, like, source):
    t = make(torch)
    d = db.from_dlpack(t)
    assert d.stride() == t.stride()
    expected = getattr(torch, like)(t)
    result = getattr(db, like)(d if source == "dlbridge" else t)
    assert isinstance(result, db.Tensor)
    assert result.shape == tuple(expected.shape) and result.stride() == expected.stride()
    assert dtype_name(result.dtype) == dtype_name(expected.dtype)
    if like != "empty_like":
        assert result.tolist() == expected.tolist()
    if t.numel():
        start = t.untyped_storage().data_ptr()
        assert not start <= result.data_ptr() < start + t.untyped_storage().nbytes()


# -- 7. view(dtype) across element sizes ----------------------------------------------

VIEW_DTYPES = [
    "bool",
    "uint8",
    "int8",
    "int16",
    "int32",
    "int64",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "complex64",
    "complex128",
]


def torch_values(n, dtype):
    """make_tensor(low=-5, high=5), made deterministic."""
    ints = torch.arange(n) % 11 - 5
    if dtype is torch.bool:
        return ints > 0
    values = ints.to(dtype)
    if dtype.is_complex:
        values = values + 1j * (torch.arange(n) % 7 - 3).to(dtype)
    return values


# test_view_dtype_new's inputs: (name, base shape, layout applied to a 1-d base)
VIEW_DTYPE_INPUTS = [
    ("contiguous", (4, 4, 64), lambda x: x.view(4, 4, 64)),
    ("permuted (1, 0, 2)", (4, 4, 64), lambda x: x.view(4, 4, 64).permute(1, 0, 2)),
    ("permuted (2, 0, 1)", (4, 64, 4), lambda x: x.view(4, 64, 4).permute(2, 0, 1)),
    ("expanded", (1, 5, 1), lambda x: x.view(1, 5, 1).expand(5, 5, 64)),
    ("sliced", (2, 5, 256), lambda x: x.view(2, 5, 256)[1::2, 1:, ::2]),
    ("empty", (0, 5, 64), lambda x: x.view(0, 5, 64)),
    ("0-dim", (1,), lambda x: x[0]),
]


def expected_size_and_stride(a, dtype_size, view_dtype_size):
    """test_view_dtype_new's calc_expected_size_and_stride."""
    if dtype_size == view_dtype_size:
        return tuple(a.shape), a.stride()
    if dtype_size > view_dtype_size:
        ratio = dtype_size // view_dtype_size
        size = list(a.shape)
        size[-1] = size[-1] * ratio
        stride = [s * ratio for s in a.stride()]
        stride[-1] = 1
        return tuple(size), tuple(stride)
    ratio = view_dtype_size // dtype_size
    size = list(a.shape)
    size[-1] = size[-1] // ratio
    stride = [s // ratio for s in a.stride()]
    stride[-1] = 1
    return tuple(size), tuple(stride)


# Adapted from pytorch/pytorch test/test_view_ops.py::TestViewOps::test_view_dtype_new
# (compared with torch on the same memory instead of with NumPy; bool is left
# out as a view dtype, as upstream does).
@pytest.mark.parametrize("dtype", VIEW_DTYPES)
def test_view_dtype_new(dtype):
    torch_dtype = getattr(torch, dtype)
    for _, shape, layout in VIEW_DTYPE_INPUTS:
        base = torch_values(math.prod(shape), torch_dtype)
        a = layout(base)
        d = layout(db.from_dlpack(base))
        assert d.shape == tuple(a.shape) and dtype_name(d.dtype) == dtype
        if a.numel():
            assert d.stride() == a.stride() and d.data_ptr() == a.data_ptr()
        for view_dtype in VIEW_DTYPES[1:]:
            torch_view_dtype = getattr(torch, view_dtype)
            dtype_size = torch_dtype.itemsize
            view_dtype_size = torch_view_dtype.itemsize
            expected, torch_error = outcome(lambda a=a, t=torch_view_dtype: a.view(t))
            result, db_error = outcome(lambda d=d, v=view_dtype: d.view(getattr(db, v)))
            assert kind(db_error) is kind(torch_error), (view_dtype, db_error, torch_error)
            if dtype_size != view_dtype_size and a.dim() == 0:
                assert isinstance(torch_error, RuntimeError)  # "self.dim() cannot be 0"
                continue
            if dtype_size != view_dtype_size and a.stride(-1) != 1:
                assert isinstance(torch_error, RuntimeError)  # "self.stride(-1) must be 1"
                continue
            assert torch_error is None
            size, stride = expected_size_and_stride(a, dtype_size, view_dtype_size)
            assert tuple(expected.shape) == size and expected.stride() == stride
            assert result.shape == size and dtype_name(result.dtype) == view_dtype
            assert same_values(result.tolist(), expected.tolist())
            if a.numel():
                assert result.stride() == stride
                assert result.data_ptr() == d.data_ptr() == expected.data_ptr()
            back = result.view(getattr(db, dtype))
            assert back.shape == d.shape and same_values(back.tolist(), d.tolist())


# Adapted from pytorch/pytorch test/test_view_ops.py::TestViewOps
# ::test_view_dtype_upsize_errors
@pytest.mark.parametrize("dtype", VIEW_DTYPES)
def test_view_dtype_upsize_errors(lib, dtype):
    dtype_size = getattr(torch, dtype).itemsize
    for view_dtype in VIEW_DTYPES:
        view_dtype_size = getattr(torch, view_dtype).itemsize
        if view_dtype_size <= dtype_size:
            continue
        size_ratio = view_dtype_size // dtype_size
        target = getattr(lib, view_dtype)
        a = lib.zeros((4, 4, size_ratio + 1), dtype=getattr(lib, dtype))
        # torch: "self.size(-1) must be divisible by {size_ratio} to view ..."
        with pytest.raises(RuntimeError) as raised:
            a.view(target)
        assert str(size_ratio + 1) in str(raised.value)
        # torch: "self.storage_offset() must be divisible by {size_ratio} ..."
        with pytest.raises(RuntimeError):
            a[:, :, 1:].view(target)
        a = lib.zeros((4, 4, size_ratio), dtype=getattr(lib, dtype))
        a = a.as_strided((4, 4, size_ratio), (size_ratio, 1, 1))
        # torch: "self.stride(1) must be divisible by {size_ratio} ..."
        with pytest.raises(RuntimeError):
            a.view(target)


# (source values, source dtype, view dtype, layout): torch gives the expected
VIEW_DTYPE_PAIRS = [
    ([-4, -3, -2, -1, 0, 1, 2, 3], "int8", "int32", lambda x: x),
    ([-4, -3, -2, -1, 0, 1, 2, 3], "int8", "int32", lambda x: x.view(2, 4)),
    ([-4, -3, -2, -1, 0, 1, 2, 3], "int8", "int64", lambda x: x),
    ([-4, -3, -2, -1, 0, 1, 2, 3], "int8", "int16", lambda x: x[2:]),
    ([1, -2, 256], "int32", "int8", lambda x: x),
    ([1, 2, 3, 4], "int32", "int8", lambda x: x.view(2, 2)[:, :1]),
    ([1.0, -2.0], "float32", "int16", lambda x: x),
    ([1 + 2j, 3 - 4j], "complex64", "float32", lambda x: x),
    ([1 + 2j, 3 - 4j, 5j, -6], "complex64", "float32", lambda x: x.view(2, 2)),
    ([1.0, 2.0, 3.0, 4.0], "float32", "complex64", lambda x: x),
    ([1.0, -0.5], "float64", "uint8", lambda x: x),
    ([1.0, -0.5, 2.0, 3.0], "float64", "uint8", lambda x: x.view(2, 2)),
    ([1.0, 2.0], "float16", "float32", lambda x: x),
    ([1.0, 2.0], "bfloat16", "float16", lambda x: x),
    ([True, False], "bool", "int8", lambda x: x),
    ([1, 0, 1], "int8", "bool", lambda x: x),
    ([True, False], "bool", "int16", lambda x: x),
    ([1, 2], "int8", "int16", lambda x: x.expand(3, 2)),
    (list(range(30)), "int32", "int8", lambda x: x[:28].view(4, 7)[:, :4]),
    # errors in torch: RuntimeError
    ([1, 2, 3, 4, 5, 6, 7, 8], "int8", "int16", lambda x: x.view(2, 4).T),  # stride(-1)
    ([1, 2, 3, 4, 5, 6, 7, 8], "int8", "int16", lambda x: x[1:7]),  # storage_offset()
    ([1, 2, 3, 4, 5, 6], "int8", "int32", lambda x: x),  # size(-1)
    ([1], "int8", "int16", lambda x: x[0]),  # dim() == 0
    ([1], "int8", "int16", lambda x: x.expand(4)),  # stride(-1) == 0
    ([1, 2, 3, 4], "int16", "int8", lambda x: x.view(2, 2)[:, ::2]),  # stride(-1) == 2
    (list(range(30)), "int8", "int32", lambda x: x[:28].view(4, 7)[:, :4]),  # stride(0) == 7
    (list(range(30)), "int8", "int16", lambda x: x.unfold(0, 2, 1)),  # stride(0) == 1
]


@pytest.mark.parametrize(("values", "dtype", "view_dtype", "layout"), VIEW_DTYPE_PAIRS)
def test_view_dtype_matches_torch(values, dtype, view_dtype, layout):
    # The layout is applied after the import: torch and dlbridge then agree on
    # the storage offset that the view checks.
    base = torch.tensor(values, dtype=getattr(torch, dtype))
    compare(base, lambda x, lib: layout(x).view(getattr(lib, view_dtype)))


# Adapted from pytorch/pytorch test/test_view_ops.py::TestViewOps::test_view_as_complex
# and ::test_view_as_real: view(complex64) / view(float32) keep the last dim
# (of size 1 / 2) where view_as_complex / view_as_real drop or add it, and a
# transposed complex tensor is refused (stride(-1) must be 1).
def test_view_as_complex_and_real_through_view_dtype(lib):
    t = lib.arange(12.0).reshape(3, 2, 2)
    c = t.view(lib.complex64)
    assert c.shape == (3, 2, 1) and c.stride() == (2, 1, 1) and c.data_ptr() == t.data_ptr()
    assert c.reshape(3, 2).tolist() == [[0 + 1j, 2 + 3j], [4 + 5j, 6 + 7j], [8 + 9j, 10 + 11j]]
    swapped = t.transpose(0, 1).view(lib.complex64)  # last dim still of size 2, stride 1
    assert swapped.shape == (2, 3, 1) and swapped.stride() == (1, 2, 1)
    assert swapped.reshape(2, 3).tolist() == [[0 + 1j, 4 + 5j, 8 + 9j], [2 + 3j, 6 + 7j, 10 + 11j]]
    with pytest.raises(RuntimeError):  # the last dim would be of size 3
        lib.arange(18.0).reshape(3, 2, 3).view(lib.complex64)
    with pytest.raises(RuntimeError):  # the last dim would not have stride 1
        t.transpose(1, 2).view(lib.complex64)
    with pytest.raises(RuntimeError):  # a stride not divisible by 2 for all but the last dim
        lib.arange(9.0).as_strided((2, 2), (1, 1)).view(lib.complex64)
    with pytest.raises(RuntimeError):  # zero dimension tensor
        lib.tensor(2.0).view(lib.complex64)
    # tensors with zero elements
    x = lib.tensor([])
    assert x.view(lib.complex64).shape == (0,)
    assert x.reshape(0, 2).view(lib.complex64).shape == (0, 1)
    # view_as_real's counterpart
    z = lib.arange(12.0).reshape(3, 4).to(lib.complex64)
    r = z.view(lib.float32)
    assert r.shape == (3, 8) and r.stride() == (8, 1) and r.data_ptr() == z.data_ptr()
    assert r[:, ::2].tolist() == lib.arange(12.0).reshape(3, 4).tolist()
    with pytest.raises(RuntimeError):
        z.T.view(lib.float32)
    assert lib.tensor(2 + 3j, dtype=lib.complex64).view(lib.complex64).shape == ()
    assert lib.tensor([], dtype=lib.complex64).view(lib.float32).shape == (0,)


def test_view_dtype_writes_go_through(lib):
    a = lib.tensor([1, 2, 3, 4, 5, 6, 7, 8], dtype=lib.int8)
    words = a.view(lib.int32)
    assert words.data_ptr() == a.data_ptr() and words.shape == (2,)
    words[1] = 0x04030201
    assert a.tolist() == [1, 2, 3, 4, 1, 2, 3, 4]  # little-endian
    halves = lib.tensor([1 + 2j], dtype=lib.complex64).view(lib.float32)
    assert halves.tolist() == [1.0, 2.0]
    halves[1] = -7.0
    assert halves.view(lib.complex64).tolist() == [1 - 7j]


# -- 8. aliases -----------------------------------------------------------------


# Adapted from pytorch/pytorch test/test_view_ops.py::TestViewOps::test_view_as_view
# and ::TestOldViewOps::test_view (view_as(template)).
def test_view_as(lib):
    t = lib.ones(5, 5)
    e = lib.empty((25,))
    v = t.view_as(e)
    assert v.shape == (25,) and v.data_ptr() == t.data_ptr()
    v[6] = 0
    assert t[1, 1].item() == v[6].item() == 0
    tensor = lib.arange(15)
    template = lib.zeros(3, 5, dtype=lib.int8)  # the template's dtype does not matter
    assert tuple(tensor.view_as(template).size()) == (3, 5)
    empty = lib.empty(0)
    assert empty.view_as(empty).shape == (0,)
    with pytest.raises(RuntimeError):  # "shape '[5]' is invalid for input of size 15"
        tensor.view_as(lib.zeros(5))
    with pytest.raises(RuntimeError):  # "view size is not compatible with ..."
        lib.arange(12).reshape(3, 4).T.view_as(lib.zeros(12))
    with pytest.raises(TypeError):  # "argument 'other' must be Tensor, not list"
        tensor.view_as([3, 5])


# Adapted from pytorch/pytorch test/test_view_ops.py::TestViewOps::test_reshape_as_view
# and ::TestOldViewOps::test_reshape (reshape_as part).
def test_reshape_as(lib):
    t = lib.ones(5, 5)
    v = t.reshape_as(lib.empty((25,)))
    assert v.data_ptr() == t.data_ptr()
    v[6] = 0
    assert t[1, 1].item() == 0
    x = lib.arange(9).reshape(3, 3)
    assert x.data_ptr() == x.reshape_as(lib.zeros(9)).data_ptr()
    assert x.data_ptr() == x.reshape_as(lib.zeros(1, 9, 1)).data_ptr()
    with pytest.raises(RuntimeError):
        x.reshape_as(lib.zeros(10))
    # Not viewable: a contiguous copy (test_reshape_nonview).
    nv = x.T.reshape_as(lib.zeros(9))
    assert nv.tolist() == [0, 3, 6, 1, 4, 7, 2, 5, 8] and nv.is_contiguous()
    nv[0] = -1
    assert x[0, 0].item() == 0


# Adapted from pytorch/pytorch test/test_view_ops.py::TestViewOps::test_expand_as_view
# and ::TestOldViewOps::test_expand (expand_as part), and the cases of
# torch/testing/_internal/common_methods_invocations.py::sample_inputs_expand_as.
def test_expand_as(lib):
    t = lib.ones(5, 1)
    v = t.expand_as(lib.empty((5, 5)))
    assert v.data_ptr() == t.data_ptr() and v.stride() == (1, 0)
    v[2, 2] = 0
    assert t[2, 0].item() == 0
    template = lib.zeros(4, 8, 5)
    assert tuple(lib.zeros(1, 8, 1).expand_as(template).size()) == (4, 8, 5)
    assert tuple(lib.zeros(5).expand_as(template).size()) == (4, 8, 5)
    assert lib.arange(S).reshape(S, 1, 1).expand_as(lib.zeros(S, S, S)).stride() == (1, 0, 0)
    assert lib.tensor(3).expand_as(lib.tensor(0)).shape == ()
    assert lib.tensor(3).expand_as(lib.zeros(1, 1)).tolist() == [[3]]
    with pytest.raises(RuntimeError):  # "The expanded size of the tensor (4) must match ..."
        lib.arange(3).expand_as(lib.zeros(2, 4))
    with pytest.raises(RuntimeError):  # "the number of sizes provided (1) must be greater ..."
        lib.zeros(2, 3).expand_as(lib.zeros(3))


# Adapted from pytorch/pytorch test/test_view_ops.py::TestViewOps::test_transpose_view
def test_swapaxes_swapdims_view(lib):
    for fn in ("swapdims", "swapaxes", "transpose"):
        t = lib.ones(5, 5)
        v = getattr(t, fn)(0, 1)
        assert v.data_ptr() == t.data_ptr() and v.stride() == (1, 5)
        v[0, 1] = 0
        assert t[1, 0].item() == 0


# Adapted from pytorch/pytorch test/test_view_ops.py::TestOldViewOps
# ::test_transpose_invalid and ::test_transpose_vs_numpy
def test_swapaxes_swapdims_vs_numpy(lib):
    a = np.arange(2 * 3 * 5 * 7).reshape(2, 3, 5, 7)
    x = lib.arange(2 * 3 * 5 * 7).reshape(2, 3, 5, 7)
    for fn in ("swapdims", "swapaxes"):
        for src, dst in itertools.product(range(-4, 4), repeat=2):
            v = getattr(x, fn)(src, dst)
            expected = np.swapaxes(a, src, dst)
            assert tuple(v.shape) == expected.shape and v.tolist() == expected.tolist()
            assert v.stride() == tuple(s // 8 for s in expected.strides)
            assert v.data_ptr() == x.data_ptr()
        for bad in (4, -5, sys.maxsize, -sys.maxsize - 1, 2**62):
            with pytest.raises(IndexError) as raised:  # "Dimension out of range"
                getattr(x, fn)(bad, 0)
            assert str(bad) in str(raised.value)
            with pytest.raises(IndexError):
                getattr(x, fn)(0, bad)


# Adapted from pytorch/pytorch test/test_view_ops.py::TestViewOps::test_movedim_view
def test_moveaxis_view(lib):
    for fn in ("movedim", "moveaxis"):
        for source, destination in (((0, 1), (1, 0)), (0, 1)):
            t = lib.zeros(3, 3)
            out = getattr(t, fn)(source, destination)
            assert out.data_ptr() == t.data_ptr()
            for idx_1, idx_2 in ((0, 1), (2, 0), (1, 2)):
                out[idx_1, idx_2] = 10 * idx_1 + idx_2 + 1
                assert t[idx_2, idx_1].item() == out[idx_1, idx_2].item()


# Adapted from pytorch/pytorch test/test_shape_ops.py::TestShapeOps::test_movedim
# (against np.moveaxis) and ::test_movedim_invalid
def test_moveaxis_vs_numpy_and_invalid(lib):
    a = np.arange(2 * 3 * 5 * 7).reshape(2, 3, 5, 7)
    x = lib.arange(2 * 3 * 5 * 7).reshape(2, 3, 5, 7)
    cases = list(itertools.product(range(-4, 4), repeat=2))
    cases += [
        ((0, 1), (1, 0)),
        ((0, 1), (0, 1)),
        ((), ()),
        ((3, -4), (1, 2)),
        ((0, 2, 3), (3, 1, 0)),
    ]
    for source, destination in cases:
        v = x.moveaxis(source, destination)
        expected = np.moveaxis(a, source, destination)
        assert tuple(v.shape) == expected.shape and v.tolist() == expected.tolist()
        assert v.data_ptr() == x.data_ptr()
    with pytest.raises(IndexError):  # "Dimension out of range"
        x.moveaxis(5, 0)
    with pytest.raises(IndexError):
        x.moveaxis(0, 5)
    with pytest.raises(IndexError):
        x.moveaxis(sys.maxsize, 0)
    with pytest.raises(RuntimeError):  # "movedim: Invalid source or destination dims"
        x.moveaxis((1, 0), (0,))
    with pytest.raises(RuntimeError):  # "movedim: repeated dim in `source`"
        x.moveaxis((0, 0), (0, 1))
    with pytest.raises(RuntimeError):
        x.moveaxis((0, 1, 0), (0, 1, 2))
    with pytest.raises(RuntimeError):  # "movedim: repeated dim in `destination`"
        x.moveaxis((0, 1), (1, 1))
    with pytest.raises(RuntimeError):
        x.moveaxis((0, 1, 2), (1, 0, 1))


# Adapted from pytorch/pytorch test/test_view_ops.py::TestOldViewOps::test_ravel
# (quantized tensors dropped; the view/copy split checked by pointers and writes).
def test_ravel(lib):
    def check_ravel(tensors, size, nc=False):
        for src in tensors:
            # Contiguous tensor -> view
            flat = src.ravel()
            assert flat.shape == (size,)
            assert flat.tolist() == src.view(-1).tolist()
            assert flat.is_contiguous()
            if size:
                assert flat.data_ptr() == src.data_ptr()
                flat[0] = 42
                assert src.view(-1)[0].item() == 42
            # Non-contiguous tensor -> copy
            if nc:
                nc_src = src.t()
                nc_flat = nc_src.ravel()
                assert nc_flat.shape == (size,)
                assert nc_flat.tolist() == nc_src.contiguous().view(-1).tolist()
                assert nc_flat.is_contiguous()
                assert nc_flat.data_ptr() != src.data_ptr()
                nc_flat[1] = -42
                assert -42 not in src.view(-1).tolist()

    # ravel of a 0-dim tensor is 1-dim
    zero_dim_tensor = lib.tensor(123)
    flat0 = zero_dim_tensor.ravel()
    one_dim_tensor = lib.tensor([123])
    nc_ones_tensor = lib.ones(10)[::2]
    flat2 = nc_ones_tensor.ravel()
    assert zero_dim_tensor.shape == ()
    assert flat0.shape == (1,) and flat0.tolist() == one_dim_tensor.tolist()
    assert flat0.data_ptr() == zero_dim_tensor.data_ptr()
    assert nc_ones_tensor.shape == (5,) and flat2.shape == (5,)
    assert flat0.is_contiguous() and flat2.is_contiguous()
    assert flat2.data_ptr() != nc_ones_tensor.data_ptr()

    check_ravel([lib.arange(625.0).reshape(5, 5, 5, 5)], 625)
    check_ravel([lib.zeros(0, 2, 3), lib.zeros(3, 0, 2)], 0)
    check_ravel([lib.arange(25.0).reshape(5, 5)], 25, True)


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.arange(12).reshape(3, 4),
        lambda: torch.arange(12).reshape(3, 4).T,
        lambda: torch.arange(12).reshape(3, 4)[1:],
        lambda: torch.arange(12).reshape(3, 4)[:, 1:],
        lambda: torch.arange(10)[::2],
        lambda: torch.tensor(7),
        lambda: torch.arange(3).expand(2, 3),
        lambda: torch.arange(12).reshape(3, 4).unsqueeze(1),
        lambda: torch.arange(24.0).reshape(2, 3, 4).permute(2, 0, 1),
    ],
)
def test_ravel_matches_torch(make):
    compare(make(), lambda x, lib: x.ravel())


# Adapted from pytorch/pytorch test/test_view_ops.py::TestViewOps::test_t_view,
# ::TestOldViewOps::test_t (sparse parts dropped) and
# torch/testing/_internal/common_methods_invocations.py::error_inputs_t
def test_t(lib):
    t = lib.ones(5, 5)
    v = t.t()
    assert v.data_ptr() == t.data_ptr() and v.stride() == (1, 5)
    v[0, 1] = 0
    assert t[1, 0].item() == 0
    # 0-D and 1-D tensors come back as they are
    x = lib.tensor(2.5)
    assert x.t().tolist() == 2.5 and x.t().data_ptr() == x.data_ptr()
    x = lib.arange(4)
    assert x.t().tolist() == [0, 1, 2, 3] and x.t().stride() == (1,)
    x = lib.arange(6).reshape(2, 3)
    assert x.t().tolist() == x.transpose(0, 1).tolist()
    with pytest.raises(RuntimeError) as raised:  # "... <= 2 dimensions, but self is 3D"
        lib.zeros(2, 2, 2).t()
    assert "3" in str(raised.value)
    with pytest.raises(RuntimeError) as raised:
        lib.zeros(2, 3, 4, 5).t()
    assert "4" in str(raised.value)


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.arange(6).reshape(2, 3),
        lambda: torch.arange(12).reshape(3, 4)[:, ::2],
        lambda: torch.arange(4),
        lambda: torch.tensor(1.5),
        lambda: torch.zeros(2, 3, 4),
    ],
)
def test_t_matches_torch(make):
    compare(make(), lambda x, lib: x.t())


# Adapted from pytorch/pytorch test/test_view_ops.py::TestViewOps::test_select_view,
# the cases of torch/testing/_internal/common_methods_invocations.py
# ::sample_inputs_select, and test/test_shape_ops.py::TestShapeOps::test_unbind
# (select(dim, i) equals unbind(dim)[i]).
def test_select(lib):
    t = lib.ones(5, 5)
    v = t.select(0, 2)
    assert v.data_ptr() == t.data_ptr() + 10 * t.element_size()
    v[0] = 0
    assert t[2, 0].item() == 0
    for shape, (dim, index) in [
        ((S, S, S), (1, 2)),
        ((S, S, S), (-1, 2)),
        ((S, S, S), (-1, -1)),
        ((S, S, S), (1, -1)),
        ((S, S), (-1, 2)),
        ((S,), (0, 2)),
    ]:
        x = arange_like(shape, lib)
        expected = np.arange(math.prod(shape)).reshape(shape).take(index, axis=dim)
        r = x.select(dim, index)
        assert tuple(r.shape) == expected.shape and r.tolist() == expected.tolist()
        assert r.storage_offset() == int(expected.flat[0])  # x holds arange
    x = lib.arange(120).reshape(2, 3, 4, 5)
    for dim in range(4):
        pieces = x.unbind(dim)
        for i in range(x.size(dim)):
            assert x.select(dim, i).tolist() == pieces[i].tolist()
            assert x.select(dim, i).data_ptr() == pieces[i].data_ptr()


@pytest.mark.parametrize(
    ("shape", "dim", "index", "error", "value"),
    [
        ((3, 4), 0, 3, IndexError, "3"),  # "select(): index 3 out of range for tensor of size"
        ((3, 4), 0, -4, IndexError, "-4"),
        ((3, 4), 1, 7, IndexError, "7"),
        ((3, 4), 0, sys.maxsize, IndexError, str(sys.maxsize)),
        ((3, 4), 0, -sys.maxsize - 1, IndexError, str(-sys.maxsize - 1)),
        ((3, 4), 0, 2**62, IndexError, str(2**62)),
        ((0, 3), 0, 0, IndexError, None),
        ((3, 4), 2, 0, IndexError, None),  # "Dimension out of range"
        ((3, 4), sys.maxsize, 0, IndexError, str(sys.maxsize)),
        ((), 0, 0, IndexError, None),  # "select() cannot be applied to a 0-dim tensor."
        ((3, 4), 0, 1.0, TypeError, None),
    ],
)
def test_select_errors(lib, shape, dim, index, error, value):
    x = arange_like(shape, lib)
    with pytest.raises(error) as raised:
        x.select(dim, index)
    if value is not None:
        assert value in str(raised.value)


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.arange(24).reshape(2, 3, 4),
        lambda: torch.arange(24).reshape(2, 3, 4).permute(2, 0, 1),
        lambda: torch.arange(48).reshape(4, 12)[::2, 1::3],
        lambda: torch.arange(3).expand(4, 3),
        lambda: torch.zeros(0, 3),
    ],
)
@pytest.mark.parametrize(("dim", "index"), [(0, 0), (0, -1), (1, 1), (-1, 2), (0, 9), (3, 0)])
def test_select_matches_torch(make, dim, index):
    compare(make(), lambda x, lib: x.select(dim, index))


TENSOR_SPLIT_SIZES = [(0,), (10,), (10, 0), (0, 10), (4, 10), (12, 3)]


def check_pieces_against_numpy(pieces, a, expected):
    assert isinstance(pieces, tuple) and len(pieces) == len(expected)
    for piece, e in zip(pieces, expected, strict=True):
        assert tuple(piece.shape) == e.shape and piece.tolist() == e.tolist()
        if piece.numel():
            assert piece.stride() == a.stride()  # views of a
            assert piece.storage_offset() == int(e.flat[0])  # a holds arange


# Adapted from pytorch/pytorch test/test_view_ops.py::TestOldViewOps
# ::test_tensor_split_sections (against np.array_split; transposed inputs too).
@pytest.mark.parametrize("input_size", TENSOR_SPLIT_SIZES)
def test_tensor_split_sections(lib, input_size):
    a_base = arange_like(input_size, lib)
    n_base = np.arange(math.prod(input_size)).reshape(input_size)
    for a, a_n in (
        [(a_base, n_base), (a_base.t(), n_base.T)] if a_base.dim() == 2 else [(a_base, n_base)]
    ):
        for dim in range(-a.dim(), a.dim()):
            for sections in range(1, 2 * a.size(dim)):
                result = a.tensor_split(sections, dim)
                check_pieces_against_numpy(result, a, np.array_split(a_n, sections, dim))
                keyword = a.tensor_split(sections, dim=dim)
                assert [p.tolist() for p in keyword] == [p.tolist() for p in result]


# Adapted from pytorch/pytorch test/test_view_ops.py::TestOldViewOps
# ::test_tensor_split_indices (indices beyond the size, negative and decreasing
# ones included; tuples and lists).
@pytest.mark.parametrize("input_size", TENSOR_SPLIT_SIZES)
def test_tensor_split_indices(lib, input_size):
    indices_args = [(), (0,), (3,), (10,), (-1,), (-10,), (2, -1), (3, 4, 10), (0, -1, 0, 10)]
    indices_args += [(1, 5, 2, 8), (12,), (-11,), (sys.maxsize,), (-sys.maxsize - 1,), (2**62, 1)]
    a_base = arange_like(input_size, lib)
    n_base = np.arange(math.prod(input_size)).reshape(input_size)
    for a, a_n in (
        [(a_base, n_base), (a_base.t(), n_base.T)] if a_base.dim() == 2 else [(a_base, n_base)]
    ):
        for dim in range(-a.dim(), a.dim()):
            for indices in indices_args:
                clamped = [min(max(i, -(2**40)), 2**40) for i in indices]  # NumPy's slices
                expected = np.array_split(a_n, clamped, dim)
                check_pieces_against_numpy(a.tensor_split(indices, dim), a, expected)
                check_pieces_against_numpy(a.tensor_split(list(indices), dim), a, expected)


# Adapted from pytorch/pytorch test/test_view_ops.py::TestViewOps::test_view_tensor_split
def test_view_tensor_split(lib):
    a = lib.arange(1200).reshape(40, 30)
    for dim in (0, 1):
        for piece in a.tensor_split(7, dim):
            assert storage_start(piece) == a.data_ptr()
            piece[0, 0] = -1
    assert a[0, 0].item() == -1 and a[6, 0].item() == -1 and a[0, 5].item() == -1


# Adapted from pytorch/pytorch test/test_view_ops.py::TestOldViewOps
# ::test_tensor_split_errors (tensor arguments dropped), plus extreme values.
@pytest.mark.parametrize(
    ("input_size", "sections_or_indices", "dim", "error", "value"),
    [
        ((10,), 10, 1, IndexError, "1"),  # "Dimension out of range"
        ((), 10, 0, RuntimeError, None),  # "expected at least a 1-dimensional tensor"
        ((10,), (10,), 1, IndexError, "1"),
        ((), (10,), 0, RuntimeError, None),
        ((10,), 0, 0, RuntimeError, "0"),  # "number of sections must be larger than 0, got 0"
        ((10,), -1, 0, RuntimeError, "-1"),
        ((10,), -sys.maxsize - 1, 0, RuntimeError, str(-sys.maxsize - 1)),
        ((10,), 3, sys.maxsize, IndexError, str(sys.maxsize)),
        ((10,), sys.maxsize, 0, RuntimeError, None),  # torch: "cannot create std::vector ..."
        ((10,), 2**62, 0, RuntimeError, None),
        ((10,), 2.0, 0, TypeError, None),
    ],
)
def test_tensor_split_errors(lib, input_size, sections_or_indices, dim, error, value):
    a = arange_like(input_size, lib)
    with pytest.raises(error) as raised:
        a.tensor_split(sections_or_indices, dim)
    if value is not None:
        assert value in str(raised.value)


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.arange(10),
        lambda: torch.arange(30).reshape(5, 6).T,
        lambda: torch.arange(60).reshape(6, 10)[::2, 1:],
        lambda: torch.arange(4).expand(3, 4),
    ],
)
@pytest.mark.parametrize(
    ("sections_or_indices", "dim"),
    [(3, 0), (4, -1), (7, 0), (1, 0), ((2, 4), 0), ([1, 5, 2, 8], -1), ((0, -1, 0, 10), 0)],
)
def test_tensor_split_matches_torch(make, sections_or_indices, dim):
    compare(make(), lambda x, lib: x.tensor_split(sections_or_indices, dim))


# (name, op(x, lib) on x = lib.tensor(range(24)) of int64, or of float32)
FRESH_TENSOR_OPS = [
    ("view_as", lambda x, lib: x.view(4, 6).view_as(lib.zeros(2, 12))),
    ("view_as, not viewable", lambda x, lib: x.view(4, 6).T.view_as(lib.zeros(24))),
    ("reshape_as, a view", lambda x, lib: x.view(4, 6).reshape_as(lib.zeros(3, 8))),
    ("reshape_as, a copy", lambda x, lib: x.view(4, 6).T.reshape_as(lib.zeros(24))),
    ("expand_as", lambda x, lib: x[:6].view(6, 1).expand_as(lib.zeros(6, 3))),
    ("expand_as, too few dims", lambda x, lib: x.view(4, 6).expand_as(lib.zeros(6))),
    ("swapaxes", lambda x, lib: x.view(2, 3, 4).swapaxes(0, 2)),
    ("swapdims", lambda x, lib: x.view(2, 3, 4)[:, 1:].swapdims(-1, 0)),
    ("swapaxes, out of range", lambda x, lib: x.view(2, 3, 4).swapaxes(3, 0)),
    ("moveaxis", lambda x, lib: x.view(2, 3, 4).moveaxis((0, 1), (2, 0))),
    ("moveaxis, repeated", lambda x, lib: x.view(2, 3, 4).moveaxis((0, 0), (1, 2))),
    ("ravel, a view", lambda x, lib: x.view(4, 6)[1:].ravel()),
    ("ravel, a copy", lambda x, lib: x.view(4, 6).T.ravel()),
    ("t", lambda x, lib: x.view(4, 6)[:, ::2].t()),
    ("t, 3-d", lambda x, lib: x.view(2, 3, 4).t()),
    ("select", lambda x, lib: x.view(2, 3, 4).select(1, -2)),
    ("select, out of range", lambda x, lib: x.view(2, 3, 4).select(1, 3)),
    ("tensor_split, sections", lambda x, lib: x.view(4, 6).tensor_split(5, 1)),
    ("tensor_split, indices", lambda x, lib: x.view(4, 6).tensor_split((1, 4, 2), -1)),
    ("tensor_split, 0 sections", lambda x, lib: x.tensor_split(0)),
    ("as_strided", lambda x, lib: x[5:].as_strided((3, 3), (4, 1), 2)),
    ("as_strided, own offset", lambda x, lib: x[5:].as_strided((3, 3), (4, 1))),
    ("as_strided, out of bounds", lambda x, lib: x[5:].as_strided((3, 3), (8, 1))),
    ("storage_offset", lambda x, lib: x.view(4, 6)[1:, 2:].storage_offset()),
    ("squeeze dims", lambda x, lib: x.view(1, 4, 1, 6).squeeze((0, 2))),
    ("permute sequence", lambda x, lib: x.view(2, 3, 4).permute((2, 0, 1))),
    ("permute, too few dims", lambda x, lib: x.view(2, 3, 4).permute([1, 0])),
    ("narrow, tensor start", lambda x, lib: x.view(4, 6).narrow(0, lib.tensor(2), 2)),
    ("narrow, 1-d tensor start", lambda x, lib: x.view(4, 6).narrow(0, lib.tensor([2]), 2)),
    ("view(int32)", lambda x, lib: x.view(4, 6).view(lib.int32)),
    ("view(int8)", lambda x, lib: x.view(4, 6)[1:].view(lib.int8)),
    ("view(complex128), odd size", lambda x, lib: x.view(4, 6)[:, :3].view(lib.complex128)),
    ("view(float16)", lambda x, lib: x.to(lib.float32).view(2, 12).view(lib.float16)),
]


@pytest.mark.parametrize(("name", "op"), FRESH_TENSOR_OPS, ids=[c[0] for c in FRESH_TENSOR_OPS])
def test_aliases_on_separate_tensors_match_torch(name, op):
    """The same data built by torch.tensor and db.tensor (separate memory):
    results at the same offsets from their sources, with torch's shapes,
    strides, values and exception types."""
    t = torch.tensor(list(range(24)))
    d = db.tensor(list(range(24)))
    expected, torch_error = outcome(lambda: op(t, torch))
    result, db_error = outcome(lambda: op(d, db))
    assert kind(db_error) is kind(torch_error), (db_error, torch_error)
    if torch_error is not None:
        return
    if not isinstance(expected, tuple):
        expected, result = (expected,), (result,)
    assert isinstance(result, tuple) and len(result) == len(expected)
    for r, e in zip(result, expected, strict=True):
        if not isinstance(e, torch.Tensor):
            assert r == e
            continue
        assert r.shape == tuple(e.shape) and dtype_name(r.dtype) == dtype_name(e.dtype)
        assert same_values(r.tolist(), e.tolist())
        if torch_shares(e, t):
            if e.numel():
                assert r.stride() == e.stride()
                assert r.data_ptr() - d.data_ptr() == e.data_ptr() - t.data_ptr()
        elif r.numel():
            assert r.is_contiguous()
            assert not d.data_ptr() <= r.data_ptr() < d.data_ptr() + d.nbytes


# -- as_strided and storage_offset -------------------------------------------------


def test_storage_offset(lib):
    base = lib.arange(24)
    grid = base.view(4, 6)
    for view, offset in [
        (base, 0),
        (base[5:], 5),
        (grid[1:, 2:], 8),
        (grid.T[1], 1),
        (base[7], 7),
        (grid[:, 3], 3),
        (grid.narrow(1, 2, 3), 2),
        (grid.diagonal(1), 1),
        (base[1::3].unfold(0, 2, 1), 1),
        (grid[2:].T.expand(3, 6, 2), 12),
        (grid[1:][1:][1:], 18),
    ]:
        assert view.storage_offset() == offset
        assert isinstance(view.storage_offset(), int)
        assert view.data_ptr() == base.data_ptr() + offset * 8


@pytest.mark.parametrize(
    "make",
    [
        lambda x: x,
        lambda x: x[5:],
        lambda x: x.view(4, 6)[1:, 2:],
        lambda x: x.view(4, 6).T[1],
        lambda x: x[7],
        lambda x: x.view(4, 6)[:, 3],
        lambda x: x[1::3].unfold(0, 2, 1),
    ],
)
def test_storage_offset_matches_torch(make):
    compare(torch.arange(24), lambda x, lib: make(x).storage_offset())


def read_strided(storage, size, stride, offset):
    """The values as_strided reads from a storage holding `storage`."""
    if not size:
        return storage[offset]
    return [
        read_strided(storage, size[1:], stride[1:], offset + i * stride[0]) for i in range(size[0])
    ]


# (storage size, make(root) -> input, size, stride, storage_offset, writable)
AS_STRIDED_CASES = [
    # torch/testing/_internal/common_methods_invocations.py::sample_inputs_as_strided
    (1, lambda x: x, (1,), (1,), 0, True),
    (9, lambda x: x.view(3, 3), (2, 2), (1, 2), 0, True),
    (9, lambda x: x.view(3, 3), (2, 2), (1, 2), 1, True),
    (16, lambda x: x, (2, 2, 2, 2), (1, 1, 1, 1), 0, False),
    (16, lambda x: x, (2, 1, 1, 2), (1, 7, 7, 1), 0, False),
    # ::sample_inputs_as_strided_partial_views (the default offset is the input's)
    (20, lambda x: x[5:15], (2, 2), (1, 2), None, True),
    (20, lambda x: x[5:15], (2, 2), (1, 2), 0, True),
    (20, lambda x: x[5:15], (2, 2), (1, 2), 10, True),
    # test/test_view_ops.py::TestViewOps::test_as_strided_gradients
    (25, lambda x: x.view(5, 5), (3, 3), (6, 2), 2, True),
    (12, lambda x: x, (1, 2, 1, 5), (0, 5, 100, 1), 2, True),  # a crazy stride at a size-1 dim
    (5, lambda x: x, (3, 3, 3), (0, 1, 0), 2, False),  # expand
    (5, lambda x: x, (3, 3, 3), (0, 0, 0), 4, False),
    (5, lambda x: x.expand(5, 5), (5, 5), (0, 1), 0, False),
    (35, lambda x: x, (6, 6), (5, 1), 2, False),  # non-expand overlapping
    (15, lambda x: x, (3, 2), (3, 6), 2, False),
    (12, lambda x: x.view(3, 4), (4, 3), (1, 4), None, True),  # transpose
    (12, lambda x: x.view(6, 2)[3:], (3, 2), (2, 1), 0, True),  # outside the input: x[:3]
    (6, lambda x: x.view(2, 3).expand(10, 2, 3), (2, 3), (3, 1), 0, True),
    # 0-dim results, empty results, the last element
    (24, lambda x: x[5:], (), (), None, True),
    (24, lambda x: x[5:], (), (), 23, True),
    (24, lambda x: x, (0, 3), (1, 1), 24, False),
    (24, lambda x: x, (4,), (1,), 20, True),
    (24, lambda x: x[5:], [2, 3], [3, 1], 2, True),  # lists
]


# Adapted from pytorch/pytorch test/test_view_ops.py::TestViewOps::test_as_strided_view
# and the inputs of ::test_as_strided_gradients, plus the OpInfo samples
# torch/testing/_internal/common_methods_invocations.py::sample_inputs_as_strided
# and ::sample_inputs_as_strided_partial_views (offsets count from the start of
# the storage, not from the input's first element).
@pytest.mark.parametrize(("n", "make", "size", "stride", "offset", "writable"), AS_STRIDED_CASES)
def test_as_strided(lib, n, make, size, stride, offset, writable):
    root = lib.arange(n)
    x = make(root)
    r = x.as_strided(size, stride) if offset is None else x.as_strided(size, stride, offset)
    expected_offset = x.storage_offset() if offset is None else offset
    assert tuple(r.shape) == tuple(size) and r.stride() == tuple(stride)
    assert r.storage_offset() == expected_offset
    assert r.tolist() == read_strided(list(range(n)), tuple(size), tuple(stride), expected_offset)
    if r.numel():
        assert r.data_ptr() == root.data_ptr() + expected_offset * 8
    if offset is None:
        assert x.as_strided(size, stride, None).tolist() == r.tolist()
    if writable:
        r[first_index(r)] = -1
        assert root[expected_offset].item() == -1


# Adapted from pytorch/pytorch test/test_view_ops.py::TestViewOps::test_as_strided_view
def test_as_strided_view(lib):
    t = lib.ones(5, 5)
    v = t.as_strided((25,), (1,))
    assert v.data_ptr() == t.data_ptr()
    v[6] = 0
    assert t[1, 1].item() == v[6].item() == 0
    # test_as_strided_gradients: "getting things outside the input"
    x = lib.arange(12.0).view(6, 2)
    assert x[3:].as_strided([3, 2], [2, 1], 0).tolist() == x[:3].tolist()
    # keyword arguments, as torch names them
    y = lib.arange(24)[5:].as_strided(size=(2, 3), stride=(3, 1), storage_offset=2)
    assert y.tolist() == [[2, 3, 4], [5, 6, 7]]


# (size, stride, storage_offset, error type, a value torch's message names)
AS_STRIDED_ERRORS = [
    # "setStorage: sizes [25], strides [1], storage offset 5, and itemsize 8
    # requiring a storage size of 240 are out of bounds for storage of size 192"
    ((25,), (1,), None, RuntimeError, "25"),
    ((4,), (1,), 21, RuntimeError, "21"),
    ((2,), (24,), None, RuntimeError, "24"),
    ((), (), 24, RuntimeError, "24"),
    # "as_strided: Negative strides are not supported at the moment, got strides: [-1]"
    ((2,), (-1,), 5, RuntimeError, "-1"),
    ((2, 2), (3, -1), 5, RuntimeError, "-1"),
    ((2,), (-sys.maxsize - 1,), None, RuntimeError, str(-sys.maxsize - 1)),
    # "Storage size calculation overflowed with sizes=[-1] and strides=[1]"
    ((-1,), (1,), None, RuntimeError, "-1"),
    # "Tensor: invalid storage offset -1"
    ((2,), (1,), -1, RuntimeError, "-1"),
    ((1,), (1,), -sys.maxsize - 1, RuntimeError, str(-sys.maxsize - 1)),
    # "Storage size calculation overflowed with sizes=[2] and strides=[9223372036854775807]"
    ((2,), (sys.maxsize,), None, RuntimeError, str(sys.maxsize)),
    ((2, 2), (sys.maxsize, 1), None, RuntimeError, str(sys.maxsize)),
    ((2**62,), (1,), None, RuntimeError, str(2**62)),
    ((2**62, 4), (1, 1), None, RuntimeError, str(2**62)),
    ((1,), (1,), 2**62, RuntimeError, None),  # torch names the sizes, not the offset
    ((1,), (1,), sys.maxsize, RuntimeError, None),
    ((2**32, 2**32), (1, 1), None, RuntimeError, str(2**32)),
    ((2, 2), (2**62, 2**62), None, RuntimeError, str(2**62)),
    ((2, 2), (2**61, 1), None, RuntimeError, str(2**61)),  # its size in bytes overflows
    (
        (sys.maxsize, 2),
        (0, 1),
        None,
        RuntimeError,
        None,
    ),  # "numel: integer multiplication overflow"
    # test/test_tensor_creation_ops.py::TestTensorCreation::test_strided_mismatched_stride_shape:
    # "mismatch in length of strides and shape"
    ((1, 2), (1,), None, RuntimeError, None),
    ((1,), (), None, RuntimeError, None),
    ((2.0,), (1,), None, TypeError, None),
]


# Adapted from pytorch/pytorch test/test_tensor_creation_ops.py::TestTensorCreation
# ::test_strided_mismatched_stride_shape (the rest: torch's bounds checks).
@pytest.mark.parametrize(("size", "stride", "offset", "error", "value"), AS_STRIDED_ERRORS)
def test_as_strided_errors(lib, size, stride, offset, error, value):
    x = lib.arange(24)[5:]
    with pytest.raises(error) as raised:
        x.as_strided(size, stride) if offset is None else x.as_strided(size, stride, offset)
    if value is not None:
        assert value in str(raised.value)


@pytest.mark.parametrize(
    ("size", "stride", "offset"),
    [
        ((0, 3), (sys.maxsize, 1), 0),
        ((1, 3), (sys.maxsize, 1), 0),
        ((sys.maxsize,), (0,), 0),
        ((2**61,), (0,), 0),
    ],
)
def test_as_strided_extremes_torch_accepts(size, stride, offset):
    # torch takes these (an empty tensor needs no storage, a size-1 dim's
    # stride is never used, a stride-0 dim repeats one element). dlbridge may
    # refuse the ones whose byte size overflows, with torch's error type, but
    # must not crash; what it returns must be torch's.
    t = torch.arange(24)
    expected = t.as_strided(size, stride, offset)
    result, error = outcome(lambda: db.from_dlpack(t).as_strided(size, stride, offset))
    if error is not None:
        assert isinstance(error, RuntimeError), error
        return
    assert result.shape == tuple(expected.shape) and result.stride() == expected.stride()
    if expected.numel():
        assert result.data_ptr() == expected.data_ptr()
    if expected.numel() < 100:
        assert result.tolist() == expected.tolist()


@pytest.mark.parametrize(
    ("view", "size", "stride", "offset"),
    [
        (lambda x: x[5:], (2, 3), (3, 1), 0),  # reads from the start of the storage
        (lambda x: x[5:], (2, 3), (3, 1), None),
        (lambda x: x[5:], (2, 3), (3, 1), 2),
        (lambda x: x.view(4, 6).T, (6, 4), (1, 6), None),
        (lambda x: x[::2], (3, 3), (1, 1), 0),
        (lambda x: x[10], (), (), None),
        (lambda x: x.expand(2, 24), (24,), (1,), 0),
        (lambda x: x[5:], (25,), (1,), 0),
        (lambda x: x[5:], (2,), (-1,), 5),
        (lambda x: x, (2,), (sys.maxsize,), 0),
        (lambda x: x, (2**62,), (1,), 0),
        (lambda x: x, (1,), (1,), 2**62),
    ],
)
def test_as_strided_on_a_shared_base_matches_torch(view, size, stride, offset):
    def op(x, lib):
        return view(x).as_strided(size, stride, offset)

    compare(torch.arange(24), op)
    # The same through NumPy: torch and dlbridge both wrap the array.
    a = np.arange(24)
    t = torch.from_numpy(a)
    d = db.from_numpy(a)
    assert d.data_ptr() == t.data_ptr()
    expected, torch_error = outcome(lambda: op(t, torch))
    result, db_error = outcome(lambda: op(d, db))
    assert kind(db_error) is kind(torch_error), (db_error, torch_error)
    if torch_error is None:
        assert_matches(result, expected, t)


# -- properties: as_strided and view(dtype) against torch, extreme values drawn ---------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

PROPERTY_SETTINGS = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Small values most of the time, and the ones that overflow: ±sys.maxsize,
# 2**62, 2**61, 2**32, and sizes next to them.
EXTREME = st.sampled_from([sys.maxsize, -sys.maxsize - 1, 2**62, 2**61, 2**32, -1, -2])
SMALL = st.integers(0, 6)
EXTENT = st.one_of(SMALL, SMALL, SMALL, EXTREME)


@PROPERTY_SETTINGS
@given(
    st.integers(0, 3).flatmap(
        lambda ndim: st.tuples(
            st.lists(EXTENT, min_size=ndim, max_size=ndim),
            st.lists(EXTENT, min_size=ndim, max_size=ndim),
        )
    ),
    st.one_of(st.none(), EXTENT),
    st.sampled_from([(0, 24), (5, 24), (3, 10)]),
)
def test_as_strided_property_matches_torch(size_stride, offset, window):
    """Any as_strided call on a view of a 24-element storage: torch's outcome,
    or, where only the size in bytes overflows, torch's exception type; a
    result reads exactly the elements torch reads (never outside the
    storage)."""
    size, stride = size_stride
    start, stop = window
    t = torch.arange(24)
    d = db.from_dlpack(t)
    expected, torch_error = outcome(lambda: t[start:stop].as_strided(size, stride, offset))
    result, db_error = outcome(lambda: d[start:stop].as_strided(size, stride, offset))
    if torch_error is not None:
        assert isinstance(db_error, type(torch_error)), (db_error, torch_error)
        return
    if db_error is not None:
        # Only where the view's size in bytes cannot be a Rust allocation
        # (torch keeps such views of a small storage: stride 0, or empty), or
        # where torch makes a tensor with a negative dimension: it skips its
        # checks once it sees a size of 0, so as_strided((0, -1), ...) is
        # torch's tensor([], size=(0, -1)).
        assert isinstance(db_error, RuntimeError), db_error
        assert (
            expected.numel() * 8 > sys.maxsize
            or any(s > sys.maxsize // 8 for s in size)
            or any(s < 0 for s in expected.shape)
        )
        return
    assert result.shape == tuple(expected.shape) and result.stride() == expected.stride()
    assert result.storage_offset() == expected.storage_offset()
    if expected.numel():
        assert result.data_ptr() == expected.data_ptr()
    if expected.numel() <= 64 and max(expected.shape, default=0) <= 64:
        # (an empty tensor of a huge dimension is a list of that many lists)
        assert result.tolist() == expected.tolist()


@PROPERTY_SETTINGS
@given(
    st.sampled_from(VIEW_DTYPES),
    st.sampled_from(VIEW_DTYPES[1:]),
    st.sampled_from(
        [
            lambda x: x,
            lambda x: x[1:],
            lambda x: x[2:10],
            lambda x: x[:24].view(4, 6),
            lambda x: x[:24].view(4, 6)[:, 2:],
            lambda x: x[:24].view(4, 6)[1:, :4],
            lambda x: x[:24].view(4, 6).T,
            lambda x: x[:24].view(2, 3, 4).permute(1, 0, 2),
            lambda x: x[:24].view(2, 12)[:, ::2],
            lambda x: x[:0],
            lambda x: x[:24].view(6, 4)[:, :0],
            lambda x: x[3],
            lambda x: x[:4].expand(3, 4),
        ]
    ),
)
def test_view_dtype_property_matches_torch(dtype, view_dtype, layout):
    """view(dtype) of any layout of a 32-element tensor of any dtype: torch's
    shape, strides, offset, values and data pointer, or its exception type."""
    base = torch_values(32, getattr(torch, dtype))
    compare(base, lambda x, lib: layout(x).view(getattr(lib, view_dtype)))
