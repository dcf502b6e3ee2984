"""db.DType and the dtype arguments every function accepts."""

import numpy as np
import pytest
import torch
from conftest import ALL_DTYPE_NAMES, DTYPE_TABLE, NUMPY_DTYPE_NAMES

import dlbridge as db


@pytest.mark.parametrize("name", ALL_DTYPE_NAMES)
def test_module_exposes_dtype(name):
    dt = getattr(db, name)
    assert isinstance(dt, db.DType)
    assert dt.name == name
    assert dt.itemsize == DTYPE_TABLE[name][2]


@pytest.mark.parametrize("name", ALL_DTYPE_NAMES)
def test_dtype_repr(name):
    assert repr(getattr(db, name)) == f"dlbridge.{name}"


@pytest.mark.parametrize("name", ALL_DTYPE_NAMES)
def test_dtype_equals_itself_and_its_name(name):
    dt = getattr(db, name)
    assert dt == dt
    assert dt == name
    assert not (dt != name)
    assert dt == getattr(db, name)


def test_dtype_differs_from_other_dtypes_and_names():
    assert db.float32 != db.float64
    assert db.float32 != "float64"
    assert not (db.float32 == "float64")
    assert db.int64 != db.uint64
    assert db.bool != "int8"
    assert db.float32 != 4
    assert db.float32 is not None


def test_all_dtypes_are_distinct():
    dts = [getattr(db, n) for n in ALL_DTYPE_NAMES]
    assert len(set(dts)) == len(ALL_DTYPE_NAMES)


def test_dtype_is_hashable_and_consistent_with_equality():
    table = {db.float32: "f", db.int64: "i"}
    assert table[db.float32] == "f"
    assert table[db.int64] == "i"
    assert db.float32 in {db.float32, db.int8}
    # Equal objects must hash equal (Python data model): DType == name.
    assert hash(db.float32) == hash("float32")


def test_tensor_dtype_is_the_module_constant():
    t = db.tensor([1.0])
    assert t.dtype == db.float32
    assert isinstance(t.dtype, db.DType)


def test_bfloat16_itemsize():
    assert db.bfloat16.itemsize == 2
    assert db.bfloat16 != db.float16


# ---------------------------------------------------------------------------
# Accepted dtype arguments
# ---------------------------------------------------------------------------


def _specs():
    for name in ALL_DTYPE_NAMES:
        np_type, torch_name, _, _ = DTYPE_TABLE[name]
        yield pytest.param(getattr(db, name), name, id=f"DType-{name}")
        yield pytest.param(name, name, id=f"str-{name}")
        yield pytest.param(getattr(torch, torch_name), name, id=f"torch-{name}")
        if np_type is not None:
            yield pytest.param(np_type, name, id=f"np-type-{name}")
            yield pytest.param(np.dtype(np_type), name, id=f"np-dtype-{name}")
    yield pytest.param(bool, "bool", id="builtin-bool")
    yield pytest.param(int, "int64", id="builtin-int")
    yield pytest.param(float, "float64", id="builtin-float")
    yield pytest.param(complex, "complex128", id="builtin-complex")
    yield pytest.param(np.dtype("int16"), "int16", id="np-dtype-str")
    yield pytest.param(np.dtype("<f4"), "float32", id="np-dtype-little-endian")


@pytest.mark.parametrize(("spec", "name"), list(_specs()))
def test_dtype_argument_forms(spec, name):
    t = db.tensor([1, 0], dtype=spec)
    assert t.dtype == getattr(db, name)
    assert t.itemsize == DTYPE_TABLE[name][2]
    u = db.tensor([1, 0]).to(spec)
    assert u.dtype == getattr(db, name)


def test_builtin_dtypes_follow_torch():
    # torch maps the Python builtins the same way.
    assert torch.tensor([1], dtype=int).dtype == torch.int64
    assert torch.tensor([1], dtype=float).dtype == torch.float64
    assert torch.tensor([1], dtype=complex).dtype == torch.complex128
    assert db.as_tensor([1], dtype=int).dtype == db.int64
    assert db.as_tensor([1], dtype=float).dtype == db.float64
    assert db.as_tensor([1], dtype=complex).dtype == db.complex128
    assert db.as_tensor([1], dtype=bool).dtype == db.bool


@pytest.mark.parametrize(
    "spec",
    ["float33", "", np.str_, np.dtype("U3"), object, 3.5, torch.complex32],
    ids=["float33", "empty", "np-str", "np-U3", "object", "number", "torch-complex32"],
)
def test_unknown_dtype_is_refused(spec):
    with pytest.raises(TypeError):
        db.tensor([1], dtype=spec)


def test_unknown_dtype_message_names_it():
    with pytest.raises(TypeError, match="float33"):
        db.tensor([1], dtype="float33")


@pytest.mark.parametrize("name", NUMPY_DTYPE_NAMES)
def test_numpy_dtype_maps_to_same_name(name):
    a = np.zeros(2, dtype=name)
    assert db.from_numpy(a).dtype == name
    assert db.from_numpy(a).itemsize == a.itemsize
