"""The downstream extension against real PyTorch and NumPy: reads in place,
writes seen by the caller, and Rust-allocated results shared without a copy."""

import gc

import dlbridge_example as ex
import numpy as np
import pytest
import torch

import dlbridge


def test_sum_reads_any_layout_in_place():
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    assert ex.sum(x) == 66.0
    assert ex.sum(x.T) == 66.0
    assert ex.sum(x[:, ::2]) == 0 + 2 + 4 + 6 + 8 + 10
    a = np.arange(10, dtype=np.float64)
    assert ex.sum(a[::-3]) == 9 + 6 + 3 + 0
    assert ex.sum(np.broadcast_to(a[:3], (4, 3))) == 4 * (0 + 1 + 2)


def test_sum_refuses_other_dtypes_with_the_dtype_in_the_message():
    with pytest.raises(TypeError, match="int64"):
        ex.sum(torch.arange(3))


def test_scale_writes_through_to_the_torch_tensor_passed_in():
    x = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    address = x.data_ptr()
    ex.scale_(x, 2.0)
    assert x.data_ptr() == address
    assert x.tolist() == [[0.0, 2.0, 4.0], [6.0, 8.0, 10.0]]
    # A strided view: only its elements change.
    ex.scale_(x[:, ::2], -1.0)
    assert x.tolist() == [[-0.0, 2.0, -4.0], [-6.0, 8.0, -10.0]]


def test_scale_writes_through_to_numpy_and_refuses_read_only_arrays():
    a = np.ones(4)
    ex.scale_(a, 3.0)
    assert a.tolist() == [3.0] * 4
    ex.scale_(a[::-2], 2.0)  # a reversed, strided view
    assert a.tolist() == [3.0, 6.0, 3.0, 6.0]
    a.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ex.scale_(a, 2.0)
    assert a.tolist() == [3.0, 6.0, 3.0, 6.0]
    with pytest.raises(ValueError, match="overlaps itself"):
        ex.scale_(torch.ones(3).expand(2, 3), 2.0)


def test_returned_tensor_is_the_installed_dlbridge_class():
    t, _ = ex.arange(5)
    assert type(t) is dlbridge.Tensor
    assert isinstance(t, dlbridge.Tensor)
    assert t.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_rust_allocated_tensor_is_shared_by_torch_and_numpy():
    t, rust_address = ex.arange(4)
    assert t.data_ptr() == rust_address
    x = torch.from_dlpack(t)
    a = np.from_dlpack(t)
    assert x.data_ptr() == rust_address
    assert a.ctypes.data == rust_address
    x[0] = 42.0
    assert a[0] == 42.0
    assert t.tolist()[0] == 42.0
    del t
    assert a.tolist() == [42.0, 1.0, 2.0, 3.0]


def test_rust_memory_outlives_the_rust_handle_while_torch_uses_it():
    x = torch.from_dlpack(ex.arange(1000)[0])
    gc.collect()
    assert x.sum().item() == sum(range(1000))


def test_slices_written_from_rust():
    t = ex.eye(2, 3)
    assert t.dtype == dlbridge.float64
    assert t.tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


def test_conflicting_rust_borrows_are_refused():
    assert ex.try_borrow_twice(torch.zeros(3)) is False


def test_installed_dlbridge_tensors_cross_through_the_c_exchange_api():
    # The extension's own copy of dlbridge takes installed dlbridge tensors
    # through the DLPack C exchange API their type publishes.
    assert type(dlbridge.Tensor.__dlpack_c_exchange_api__).__name__ == "PyCapsule"
    t = dlbridge.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert ex.sum(t.T) == 10.0
    ex.scale_(t[1], 10.0)
    assert t.tolist() == [[1.0, 2.0], [30.0, 40.0]]
    read_only = dlbridge.from_numpy(np.ones(2)).numpy()
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ex.scale_(dlbridge.from_numpy(read_only), 2.0)
