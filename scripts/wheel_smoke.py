"""A smoke test for an installed dlbridge wheel, with NumPy alone (no torch).

    python scripts/wheel_smoke.py

Run by ``scripts/wheels.sh`` in a fresh virtual environment of each CPython it
finds, with no Rust toolchain on ``PATH``: it checks that the installed wheel is the
compiled extension (not an empty module) and that its zero-copy contract holds.
"""

import pickle
import sys

import numpy as np

import dlbridge as db

# The module is the compiled one, with its whole API.
for name in db.__all__:
    assert hasattr(db, name), f"dlbridge.{name} is missing"
assert db.Tensor.__module__.startswith("dlbridge")

# from_numpy shares memory both ways; tensor() copies.
a = np.arange(6, dtype=np.float32).reshape(2, 3)
shared = db.from_numpy(a)
assert shared.data_ptr() == a.ctypes.data
shared[0, 0] = 42.0
assert a[0, 0] == 42.0
fresh = db.tensor(a)
assert fresh.data_ptr() != a.ctypes.data

# DLPack out: NumPy sees the same memory.
back = np.from_dlpack(shared)
assert back.ctypes.data == a.ctypes.data

# Buffer protocol and pickle protocol 5 (out of band, no copy).
assert bytes(memoryview(db.tensor([1, 2], dtype=db.uint8))) == b"\x01\x02"
buffers = []
data = pickle.dumps(fresh, protocol=5, buffer_callback=buffers.append)
assert len(buffers) == 1 and pickle.loads(data, buffers=buffers).data_ptr() == fresh.data_ptr()

# Shared memory, where the platform has it.
if sys.platform.startswith("linux"):
    assert db.tensor([1.0, 2.0]).share_memory_().is_shared()

print(f"wheel smoke test passed on Python {sys.version.split()[0]}, dlbridge {db.__version__}")
