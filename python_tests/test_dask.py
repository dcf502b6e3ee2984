"""Dask distributed: dlbridge tensors travel as one out-of-band frame, through
a serializer of dlbridge's own in Dask's "dask" family (``dlbridge/_dask.py``),
as NumPy arrays do, because Dask's scheduler pins pickle to protocol 4 and a
pickled tensor would go in band there.

A ``LocalCluster`` with two worker processes is started by the fixture and
closed after the module.
"""

import subprocess
import sys

import numpy as np
import pytest
from distributed import Client, LocalCluster
from distributed.protocol import deserialize, serialize

import dlbridge as db

# Dask's start-up and shutdown warn about things that are not dlbridge's.
pytestmark = pytest.mark.filterwarnings("ignore")


def _address(frame):
    return np.frombuffer(memoryview(frame).cast("B"), dtype=np.uint8).ctypes.data


def test_the_frame_is_the_tensors_memory_and_is_adopted_back():
    t = db.tensor(np.arange(1000, dtype=np.float64).reshape(10, 100))
    header, frames = serialize(t)
    assert header["serializer"] == "dask"
    # A spacer, then the tensor's own memory (the spacer is what makes Dask's
    # TCP comm read the tensor's bytes into a host array of their own).
    [_, frame] = frames
    assert _address(frame) == t.data_ptr()
    # Past one shard, the bytes alone: Dask's shards of them then stay contiguous.
    big = db.tensor(np.zeros(65 << 20, dtype=np.uint8))
    [big_frame] = serialize(big)[1]
    assert _address(big_frame) == big.data_ptr()
    back = deserialize(header, frames)
    assert back.data_ptr() == t.data_ptr()
    assert back.shape == (10, 100) and back.dtype == db.float64
    assert not back.readonly


def test_read_only_and_strided_tensors():
    a = np.arange(12, dtype=np.int16).reshape(3, 4)
    a.flags.writeable = False
    frozen = db.from_numpy(a)
    back = deserialize(*serialize(frozen))
    assert back.readonly and back.data_ptr() == a.ctypes.data
    strided = db.from_numpy(np.arange(12.0).reshape(3, 4)).T
    back = deserialize(*serialize(strided))
    assert back.tolist() == strided.tolist() and back.is_contiguous()


def test_a_writable_tensor_in_read_only_memory_is_copied_to_stay_writable():
    t = db.tensor([1.0, 2.0])
    header, [spacer, frame] = serialize(t)
    back = deserialize(header, [spacer, bytes(frame)])
    assert not back.readonly and back.tolist() == [1.0, 2.0]


def test_a_misaligned_frame_is_adopted_without_a_copy():
    # Dask's TCP comm reads every frame of a message into one buffer, so a
    # frame can start at any offset; misaligned memory is shared as NumPy
    # shares it.
    t = db.tensor(np.arange(8, dtype=np.float64))
    header, [spacer, frame] = serialize(t)
    raw = np.zeros(1 + t.nbytes, dtype=np.uint8)
    raw[1:] = np.frombuffer(frame, dtype=np.uint8)
    back = deserialize(header, [spacer, memoryview(raw)[1:]])
    assert back.tolist() == list(range(8))
    assert back.data_ptr() == raw.ctypes.data + 1
    back[0] = 42.0
    assert raw[1:9].view(np.float64)[0] == 42.0


@pytest.mark.parametrize("first", ["dlbridge", "distributed"])
def test_the_serializer_is_registered_in_either_import_order(first):
    second = "distributed.protocol" if first == "dlbridge" else "dlbridge"
    code = (
        f"import {first}\nimport {second}\n"
        "import dlbridge, distributed.protocol as p\n"
        "assert 'torch' not in __import__('sys').modules\n"
        "print(p.serialize(dlbridge.tensor([1.0]))[0]['serializer'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "dask"


def test_importing_dlbridge_does_not_import_dask():
    code = (
        "import sys, dlbridge\n"
        "assert not any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], timeout=120, check=True)


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster, timeout=60) as client,
    ):
        yield client


def _describe(x):
    return type(x).__name__, x.readonly, x.shape, x.tolist()[:3]


def _double(x):
    import numpy

    import dlbridge

    return dlbridge.tensor(numpy.from_dlpack(x) * 2)


def test_scatter_tasks_and_gather(client):
    t = db.tensor(np.arange(1_000_000, dtype=np.float32))
    future = client.scatter(t)
    assert client.submit(_describe, future).result(timeout=120) == (
        "Tensor",
        False,
        (1_000_000,),
        [0.0, 1.0, 2.0],
    )
    doubled = client.submit(_double, future).result(timeout=120)
    assert isinstance(doubled, db.Tensor)
    assert doubled.tolist()[:3] == [0.0, 2.0, 4.0]
    gathered = client.gather(future)
    assert gathered.tolist() == t.tolist()
