"""Ray's object store: dlbridge tensors come back from ``ray.get`` as read-only
tensors over the store's shared memory, with no copy, as NumPy arrays do.

Ray serialises with pickle protocol 5 and sends every ``PickleBuffer`` out of
band into its shared-memory object store; ``Tensor.__reduce_ex__`` hands the
tensor's memory over as one, and the rebuild adopts the store's read-only
buffer. A local Ray instance (two CPUs, no dashboard) is started by the
fixture and shut down after the module.
"""

import numpy as np
import pytest
import ray

import dlbridge as db

# Ray's own import and start-up warn about things that are not dlbridge's.
pytestmark = pytest.mark.filterwarnings("ignore")

MB = 1 << 20


@pytest.fixture(scope="module")
def local_ray():
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=400 * MB,
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        yield ray
    finally:
        ray.shutdown()


def _rss_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / MB


def _mapping_of(address):
    """The line of /proc/self/maps whose range holds ``address``."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            low, high = (int(bound, 16) for bound in line.split()[0].split("-"))
            if low <= address < high:
                return line
    raise AssertionError(f"{address:#x} is not mapped")


def test_ray_get_is_a_read_only_view_of_the_object_store(local_ray):
    t = db.tensor(np.arange(12_500_000, dtype=np.float32))  # 50 MB
    ref = local_ray.put(t)
    before = _rss_mb()
    back = local_ray.get(ref)
    added = _rss_mb() - before
    assert added < 5, f"ray.get added {added:.1f} MB: the tensor was copied"
    assert back.readonly
    assert back.shape == t.shape and back.dtype == db.float32
    # The memory is the store's shared-memory mapping, not a private copy.
    assert "plasma" in _mapping_of(back.data_ptr())
    assert np.from_dlpack(back)[-1] == 12_499_999.0
    with pytest.raises(ValueError, match="read-only"):
        back[0] = 1.0
    # Writable only by an explicit copy.
    writable = back.clone()
    writable[0] = 1.0
    assert not writable.readonly and back[0] == 0.0


def test_tensors_inside_containers_and_strided_views(local_ray):
    t = db.tensor(np.arange(1_000_000, dtype=np.int64))
    got = local_ray.get(local_ray.put({"whole": t, "parts": [t[::2], t[:10]]}))
    assert all(x.readonly for x in (got["whole"], *got["parts"]))
    assert "plasma" in _mapping_of(got["whole"].data_ptr())
    assert got["parts"][0].tolist()[:3] == [0, 2, 4]
    assert got["parts"][1].tolist() == list(range(10))


def test_tasks_receive_and_return_tensors(local_ray):
    @local_ray.remote
    def describe_and_double(x):
        import numpy

        import dlbridge

        doubled = dlbridge.tensor(numpy.from_dlpack(x) * 2)
        return type(x).__name__, x.readonly, doubled

    t = db.tensor(np.arange(1000, dtype=np.float64))
    name, readonly, doubled = local_ray.get(
        describe_and_double.remote(local_ray.put(t)), timeout=120
    )
    assert (name, readonly) == ("Tensor", True)
    assert doubled.readonly and doubled.tolist()[:3] == [0.0, 2.0, 4.0]


def test_actors_receive_tensors_read_only_and_keep_copies(local_ray):
    @local_ray.remote
    class Accumulator:
        def __init__(self):
            self.total = None

        def add(self, x):
            import numpy

            import dlbridge

            assert x.readonly  # a view of the object store
            values = numpy.from_dlpack(x)
            self.total = values.copy() if self.total is None else self.total + values
            return dlbridge.tensor(self.total)

    actor = Accumulator.remote()
    t = db.tensor(np.arange(5, dtype=np.float64))
    local_ray.get(actor.add.remote(t), timeout=120)
    total = local_ray.get(actor.add.remote(t), timeout=120)
    assert total.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]
