"""Two extensions, each with its own compiled copy of dlbridge (this one and
``examples/rust_extension``), borrow the same NumPy memory: each sees the
other's borrows, because every copy uses the one registry published on
``dlbridge._dlbridge``. Before the registry was shared, each copy had its own
and both borrows below were granted."""

import ctypes
import sys

import dlbridge_example as example
import numpy as np
import pytest
import second_extension as second
import torch

import dlbridge


def test_a_mutable_borrow_in_one_extension_is_seen_by_the_other():
    a = np.arange(4.0)
    seen = []

    def while_held():
        # The example's copy of dlbridge is refused, whatever handle it gets.
        with pytest.raises(RuntimeError, match="already borrowed"):
            example.scale_(a, 2.0)
        with pytest.raises(RuntimeError, match="already borrowed"):
            example.sum(torch.from_numpy(a[1:]))
        assert example.try_borrow_twice(torch.zeros(3)) is False
        # So are dlbridge's own operations started from Python: reads, and
        # writes, which would otherwise change memory Rust holds `&mut`.
        t = dlbridge.from_numpy(a)
        with pytest.raises(RuntimeError, match="already borrowed"):
            t[0] = 10.0
        with pytest.raises(RuntimeError, match="already borrowed"):
            t.tolist()
        assert "mutably borrowed" in repr(t)
        seen.append(True)
        return "done"

    assert second.hold_mut(a, while_held) == "done"
    assert seen == [True]
    # Released: both copies may borrow again.
    example.scale_(a, 2.0)
    assert a.tolist() == [0.0, 2.0, 4.0, 6.0]
    assert second.can_borrow_mut(a) is True


def test_a_shared_borrow_allows_readers_in_the_other_extension_and_refuses_writers():
    a = np.ones(3)

    def while_held():
        assert example.sum(a) == 3.0
        assert second.can_borrow_mut(a[:1]) is False
        with pytest.raises(RuntimeError, match="already borrowed"):
            example.scale_(a[::-1], 2.0)
        assert dlbridge.from_numpy(a).tolist() == [1.0, 1.0, 1.0]
        return example.sum(a)

    assert second.hold_shared(a, while_held) == 3.0
    example.scale_(a, 2.0)
    assert a.tolist() == [2.0, 2.0, 2.0]


def test_disjoint_memory_is_not_a_conflict_across_extensions():
    a = np.zeros(8)

    def while_held():
        example.scale_(a[4:], 2.0)  # the other half of the buffer
        return second.can_borrow_mut(a[4:])

    assert second.hold_mut(a[:4], while_held) is True


def test_every_extension_joined_the_registry_of_the_installed_package():
    capsule = dlbridge._dlbridge._BORROW_REGISTRY_API
    assert "dlbridge._dlbridge._BORROW_REGISTRY_API" in repr(capsule)


PY_MOD_EXEC, PY_MOD_GIL, PY_MOD_GIL_USED = 2, 4, 0


class ModuleDefSlot(ctypes.Structure):
    _fields_ = [("slot", ctypes.c_int), ("value", ctypes.c_void_p)]


def module_def_slots(module, init_name):
    """The ``PyModuleDef`` of an extension, read through ctypes (as
    ``python_tests/conftest.py`` does for dlbridge): its name and slots."""
    # maturin wraps the extension in a package of the same name.
    extension = getattr(module, module.__name__)
    init = getattr(ctypes.PyDLL(extension.__file__), init_name)
    init.restype = ctypes.c_void_p
    definition = init()
    pointer = ctypes.sizeof(ctypes.c_void_p)
    fields = definition + object.__basicsize__ + 3 * pointer
    name = ctypes.c_char_p.from_address(fields).value
    slots_at = ctypes.c_void_p.from_address(fields + 4 * pointer).value
    slots = {}
    for index in range(64):
        slot = ModuleDefSlot.from_address(slots_at + index * ctypes.sizeof(ModuleDefSlot))
        if slot.slot == 0:
            break
        slots[slot.slot] = slot.value or 0
    return name, slots


@pytest.mark.skipif(sys.version_info >= (3, 15), reason="3.15 module definitions use PySlot")
@pytest.mark.parametrize(
    ("module", "init_name", "name"),
    [
        (example, "PyInit_dlbridge_example", b"dlbridge_example"),
        (second, "PyInit_second_extension", b"second_extension"),
    ],
)
def test_the_extensions_keep_the_gil_where_the_slot_exists(module, init_name, name):
    """On 3.13 and 3.14 the definition must carry ``Py_mod_gil =
    Py_MOD_GIL_USED``; before 3.13 the slot does not exist, so this only
    proves the definition was read and carries no slot an older CPython would
    refuse (``python_tests/test_soundness.py`` checks the declarations)."""
    found, slots = module_def_slots(module, init_name)
    assert found == name
    assert PY_MOD_EXEC in slots
    if sys.version_info >= (3, 13):
        assert slots.get(PY_MOD_GIL) == PY_MOD_GIL_USED
    else:
        assert PY_MOD_GIL not in slots
