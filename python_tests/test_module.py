"""The public surface of the dlbridge module."""

import subprocess
import sys

import pytest
from conftest import ALL_DTYPE_NAMES

import dlbridge as db


def test_import_does_not_import_torch():
    code = "import sys, dlbridge; assert 'torch' not in sys.modules, 'torch imported'"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("name", ["from_numpy", "as_tensor", "tensor", "from_dlpack", "clone"])
def test_functions_exist(name):
    assert callable(getattr(db, name))


def test_types_exist():
    assert isinstance(db.Tensor, type)
    assert isinstance(db.DType, type)
    assert isinstance(db.tensor([1]), db.Tensor)


@pytest.mark.parametrize("name", ALL_DTYPE_NAMES)
def test_dtype_constants_exist(name):
    assert isinstance(getattr(db, name), db.DType)
