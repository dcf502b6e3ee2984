"""Tensors this extension returns reach Python through the hand-off table of
the installed dlbridge (its storage and layout, no DLPack descriptor), and
through DLPack where the installed version has no usable table."""

import subprocess
import sys
import textwrap

import dlbridge_example as ex
import numpy as np
import pytest
import torch

import dlbridge


def test_returned_tensors_share_rust_memory_with_their_layout():
    t, address = ex.arange(6)
    assert type(t) is dlbridge.Tensor
    assert t.data_ptr() == address
    assert (t.shape, t.stride(), t.storage_offset()) == ((6,), (1,), 0)
    x = torch.from_dlpack(t)
    x[5] = -1.0
    assert np.from_dlpack(t)[5] == -1.0
    e = ex.eye(3, 4)
    assert (e.shape, e.stride()) == ((3, 4), (4, 1))
    assert e.tolist()[2] == [0.0, 0.0, 1.0, 0.0]


def test_imported_tensors_handed_back_keep_sharing():
    # `keep` returns its (imported) argument as a Tensor: handed back, it is
    # still the caller's memory, with the caller's strides.
    source = torch.arange(12, dtype=torch.float32).reshape(3, 4)[:, 1::2]
    kept = ex.keep(source)
    assert type(kept) is dlbridge.Tensor
    assert (kept.shape, kept.stride()) == ((3, 2), (4, 2))
    assert kept.data_ptr() == source.data_ptr()
    source[2, 1] = -7.0
    assert kept.tolist()[2][1] == -7.0
    del source
    assert kept.tolist() == [[1.0, 3.0], [5.0, 7.0], [9.0, -7.0]]


def test_many_returns_release_every_storage():
    # Each return hands the Rust storage to the installed copy, which lets it
    # go once: a leak would grow the process by 200 MB here, a double free
    # crash it (hence the subprocess).
    code = """
        import resource, dlbridge_example as ex
        for _ in range(1000):
            ex.arange(10_000)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for _ in range(5000):
            ex.arange(10_000)
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(grown)
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) < 20_000  # kB


@pytest.mark.parametrize("table", ["missing", "old version", "foreign capsule"])
@pytest.mark.parametrize("exchange_api", [True, False])
def test_returns_fall_back_to_dlpack_without_a_usable_table(table, exchange_api):
    # An installed dlbridge without the table (or with one this copy cannot
    # use): returns go through the DLPack C exchange API of dlbridge.Tensor,
    # and without that through dlbridge.from_dlpack. Set up before the
    # extension's first return, which looks both up once.
    code = f"""
        import ctypes, dlbridge, numpy as np
        from dlbridge import _dlbridge
        table = {table!r}
        if table == "missing":
            del _dlbridge._TENSOR_HANDOFF_API
        else:
            version = (ctypes.c_uint64 * 2)(0, 0)
            name = b"dlbridge._dlbridge._TENSOR_HANDOFF_API" if table == "old version" else b"other"
            new = ctypes.pythonapi.PyCapsule_New
            new.restype = ctypes.py_object
            new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
            _dlbridge._TENSOR_HANDOFF_API = new(ctypes.addressof(version), name, None)
        if not {exchange_api!r}:
            del dlbridge.Tensor.__dlpack_c_exchange_api__
        import dlbridge_example as ex
        t, address = ex.arange(3)
        assert type(t) is dlbridge.Tensor and t.data_ptr() == address
        assert np.from_dlpack(t).ctypes.data == address
        print(t.tolist())
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[0.0, 1.0, 2.0]"
