"""What dlbridge's soundness rests on, seen from Python: one borrow registry
for the process, published on ``dlbridge._dlbridge``, and a module that asks a
free-threaded interpreter to keep the GIL on. (That Python threads never
refuse each other is in ``test_threads.py``; that two extensions share the
registry, in ``tests/second_extension``.)"""

import re
import sys
from pathlib import Path

import pytest
from conftest import PY_MOD_EXEC, PY_MOD_GIL, PY_MOD_GIL_USED, module_def_slots

import dlbridge._dlbridge

ROOT = Path(__file__).resolve().parent.parent
# Every #[pymodule] in the repository: the package's and the test extensions'.
PYMODULE_SOURCES = [
    "src/python/mod.rs",
    "examples/rust_extension/src/lib.rs",
    "tests/second_extension/src/lib.rs",
]


def test_the_module_publishes_the_process_wide_borrow_registry():
    capsule = dlbridge._dlbridge._BORROW_REGISTRY_API
    assert type(capsule).__name__ == "PyCapsule"
    assert "dlbridge._dlbridge._BORROW_REGISTRY_API" in repr(capsule)


@pytest.mark.parametrize("source", PYMODULE_SOURCES)
def test_every_module_declares_that_it_needs_the_gil(source):
    """The declaration itself, in the source: on this interpreter (before
    3.13) CPython has no ``Py_mod_gil`` slot, PyO3 emits none, and the flag
    cannot be observed at run time; this is what keeps it from regressing."""
    text = (ROOT / source).read_text()
    attributes = re.findall(r"^\s*(#\[pymodule[^\]]*\])", text, re.MULTILINE)
    assert attributes == ["#[pymodule(gil_used = true)]"]


@pytest.mark.skipif(sys.version_info >= (3, 15), reason="3.15 module definitions use PySlot")
def test_the_module_definition_keeps_the_gil_where_the_slot_exists():
    """Reads the ``PyModuleDef`` PyO3 generated. On 3.13 and 3.14 it must
    carry ``Py_mod_gil = Py_MOD_GIL_USED``. Before 3.13 the slot does not
    exist and PyO3 must leave it out (CPython would reject the module), so
    there this only proves that the definition was read correctly and has no
    slot an older CPython would refuse, not the flag itself."""
    name, slots = module_def_slots(dlbridge._dlbridge.__file__, "PyInit__dlbridge")
    assert name == b"_dlbridge"
    kinds = dict(slots)
    assert PY_MOD_EXEC in kinds
    if sys.version_info >= (3, 13):
        assert kinds.get(PY_MOD_GIL) == PY_MOD_GIL_USED
    else:
        assert PY_MOD_GIL not in kinds
