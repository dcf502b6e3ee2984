"""Rust-owned memory reaches NumPy and torch without a copy, and its owner is
dropped exactly once, after the last user lets go (src/owners.rs, built on
``Tensor::from_owner``, ``from_owner_mut``, ``from_bytes_owner`` and
``from_array``)."""

import gc
import os
import pickle
import threading

import dlbridge_example as ex
import numpy as np
import pytest
import torch

import dlbridge


def mappings_of(path):
    """The address ranges of this process's mappings of `path` (/proc/self/maps)."""
    target = os.path.realpath(path)
    ranges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].strip() == target:
                low, high = (int(bound, 16) for bound in fields[0].split("-"))
                ranges.append((low, high))
    return ranges


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs Linux's /proc")
def test_a_memory_mapped_file_reaches_numpy_inside_the_mapping(tmp_path):
    values = np.arange(1000, dtype=np.float32) * 0.5
    path = tmp_path / "values.f32"
    values.tofile(path)
    a = ex.map_floats(path)
    assert isinstance(a, np.ndarray)
    assert (a.dtype, a.shape) == (np.float32, (1000,))
    np.testing.assert_array_equal(a, values)
    # The array's memory is the mapping itself, not a copy of the file.
    start, end = a.ctypes.data, a.ctypes.data + a.nbytes
    assert any(low <= start and end <= high for low, high in mappings_of(path))
    # Read-only: the file is not written through the array, nor through torch.
    assert not a.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        a[0] = 1.0
    with pytest.raises(ValueError):
        a.flags.writeable = True
    # Rust's handle is gone since the call returned; a view keeps the mapping
    # alive, after the file's name is gone too, and after the array.
    view = a[10:20]
    real_path = os.path.realpath(path)
    del a
    gc.collect()
    assert mappings_of(path)
    np.testing.assert_array_equal(view, values[10:20])
    # The last user lets go: the map is dropped, and the file unmapped.
    del view
    gc.collect()
    assert mappings_of(real_path) == []


def test_mapping_refuses_what_is_not_float32_values(tmp_path):
    odd = tmp_path / "odd.bin"
    odd.write_bytes(b"12345")
    with pytest.raises(ValueError, match="holds 5 bytes, not a whole number of float32"):
        ex.map_floats(odd)
    with pytest.raises(FileNotFoundError):
        ex.map_floats(tmp_path / "missing.f32")
    empty = tmp_path / "empty.f32"
    empty.write_bytes(b"")
    assert ex.map_floats(empty).shape == (0,)


def test_a_table_rust_keeps_using_is_shared_read_only():
    handles = ex.gamma_table_handles()
    a, b = ex.gamma_table(), ex.gamma_table()
    # Both arrays are Rust's one table: no copy.
    assert a.ctypes.data == b.ctypes.data
    assert not a.flags.writeable
    assert ex.gamma_table_handles() == handles + 2
    # Rust keeps reading the table while NumPy holds it.
    assert ex.linearize(255) == a[255] == 1.0
    assert ex.linearize(128) == pytest.approx(float(b[128]))
    del a
    gc.collect()
    assert ex.gamma_table_handles() == handles + 1
    del b
    gc.collect()
    assert ex.gamma_table_handles() == handles
    assert ex.linearize(0) == 0.0


def address_of(value):
    if isinstance(value, np.ndarray):
        return value.ctypes.data
    return value.data_ptr()


@pytest.mark.parametrize("kind", ["numpy", "numpy_mut", "torch", "dlbridge"])
def test_the_owner_is_dropped_once_after_the_last_user(kind):
    drops = ex.owner_drops()
    returned, address = ex.counted_floats(8, kind)
    # The owner's own memory, not a copy.
    assert address_of(returned) == address
    assert ex.owner_drops() == drops
    # Other users of the same memory, then the returned object let go.
    if kind == "numpy":
        assert not returned.flags.writeable
        others = [returned[2:], np.asarray(returned)]
    elif kind == "numpy_mut":
        returned[3] = 42.0
        others = [torch.from_numpy(returned), returned[::2]]
    elif kind == "torch":
        returned[3] = 42.0
        others = [returned.numpy(), returned[1:]]
    else:
        returned[3] = 42.0
        others = [torch.from_dlpack(returned), np.from_dlpack(returned)]
    assert all(address_of(other) in (address, address + 4, address + 8) for other in others)
    del returned
    gc.collect()
    assert ex.owner_drops() == drops
    if kind != "numpy":
        assert float(others[0][3]) == 42.0
    # The last user goes on another thread.
    thread = threading.Thread(target=others.clear)
    thread.start()
    thread.join()
    gc.collect()
    assert ex.owner_drops() == drops + 1
    gc.collect()
    assert ex.owner_drops() == drops + 1


@pytest.mark.parametrize("kind", ["numpy", "numpy_mut", "torch", "dlbridge"])
def test_an_empty_owner_is_dropped_once_too(kind):
    drops = ex.owner_drops()
    returned, _ = ex.counted_floats(0, kind)
    assert tuple(returned.shape) == (0,)
    assert ex.owner_drops() == drops
    del returned
    gc.collect()
    assert ex.owner_drops() == drops + 1


def test_owners_made_and_dropped_on_many_threads_are_each_dropped_once():
    drops = ex.owner_drops()
    kinds = ["numpy", "numpy_mut", "torch", "dlbridge"]
    rounds, workers = 200, 8
    handed = []

    def work(worker):
        for i in range(rounds):
            returned, address = ex.counted_floats(1 + i % 5, kinds[(worker + i) % 4])
            assert address_of(returned) == address
            # Every other one is let go by another thread.
            if i % 2:
                handed.append(returned)
            else:
                del returned

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ex.owner_drops() == drops + rounds * workers // 2
    handed.clear()
    gc.collect()
    assert ex.owner_drops() == drops + rounds * workers


def test_a_pickle_buffer_keeps_the_owner_until_it_is_released():
    drops = ex.owner_drops()
    t, address = ex.counted_floats(6, "dlbridge")
    buffers = []
    data = pickle.dumps(t, protocol=5, buffer_callback=buffers.append)
    del t
    gc.collect()
    assert ex.owner_drops() == drops
    restored = pickle.loads(data, buffers=buffers)
    assert type(restored) is dlbridge.Tensor
    assert restored.data_ptr() == address
    assert restored.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    del restored, buffers
    gc.collect()
    assert ex.owner_drops() == drops + 1


@pytest.mark.parametrize(
    ("kind", "element_strides"),
    [("c", (6, 1)), ("fortran", (1, 4)), ("reversed", (-6, 1)), ("sliced", (12, -2))],
)
def test_ndarray_arrays_reach_numpy_with_their_own_layout(kind, element_strides):
    a, address, strides = ex.ndarray_as_numpy(kind)
    # NumPy's view of the same memory: the address and strides ndarray had.
    assert a.ctypes.data == address
    assert tuple(strides) == element_strides
    assert a.strides == tuple(8 * s for s in element_strides)
    assert a.flags.writeable
    grid = np.arange(24, dtype=np.float64).reshape(4, 6)
    expected = {"c": grid, "fortran": grid, "reversed": grid[::-1], "sliced": grid[1::2, -1:0:-2]}
    np.testing.assert_array_equal(a, expected[kind])
    assert a.flags.f_contiguous == (kind == "fortran")
    # Writes are seen through every view of the memory (torch.from_numpy
    # refuses negative strides; dlbridge shares them).
    t = dlbridge.from_numpy(a)
    assert (t.data_ptr(), t.stride()) == (address, element_strides)
    t[0, 0] = -1.0
    assert a[0, 0] == -1.0


def test_tensors_from_python_are_not_taken_as_owned_arrays():
    # A NumPy array's memory is NumPy's; a dlbridge tensor is still held by
    # the caller's object. Either way the sum is read in place, not copied.
    total, reason = ex.owned_sum(np.arange(4, dtype=np.float32))
    assert total == 6.0
    assert "another framework" in reason
    t = dlbridge.tensor([1.0, 2.0], dtype="float32")
    total, reason = ex.owned_sum(t)
    assert total == 3.0
    assert "another copy of dlbridge" in reason
