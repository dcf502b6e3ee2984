"""The four examples of the seed document (shared/seed/zero-copy-behavior.md).

Each example is written once with dlbridge in place of torch and once with torch
consuming dlbridge tensors. The seed's comments give the printed NumPy array; the
dlbridge results must match what the same code gives with torch.
"""

import numpy as np
import torch

import dlbridge as db

# ---------------------------------------------------------------------------
# dlbridge in place of torch
# ---------------------------------------------------------------------------


def test_seed_from_numpy_is_zero_copy():
    arr = np.array([1, 2, 3])
    tensor = db.from_numpy(arr)  # Zero-copy
    assert tensor.data_ptr() == arr.ctypes.data
    tensor[0] = 10
    assert str(arr) == "[10  2  3]"


def test_seed_as_tensor_with_numpy_is_zero_copy():
    arr = np.array([1, 2, 3])
    tensor = db.as_tensor(arr)  # Zero-copy with NumPy
    assert tensor.data_ptr() == arr.ctypes.data
    tensor[0] = 20
    assert str(arr) == "[20  2  3]"


def test_seed_as_tensor_with_list_copies():
    data = [1, 2, 3]
    tensor = db.as_tensor(data)
    tensor[0] = 20
    assert data == [1, 2, 3]
    assert tensor.tolist() == [20, 2, 3]
    assert tensor.dtype == db.int64


def test_seed_tensor_copies():
    arr = np.array([1, 2, 3])
    tensor = db.tensor(arr)  # Data is copied
    assert tensor.data_ptr() != arr.ctypes.data
    tensor[0] = 30
    assert str(arr) == "[1 2 3]"
    assert tensor.tolist() == [30, 2, 3]


def test_seed_clone_method_copies():
    original = db.tensor([1, 2, 3])
    cloned = original.clone()
    assert cloned.data_ptr() != original.data_ptr()
    cloned[0] = 40
    assert original.tolist() == [1, 2, 3]
    assert repr(original) == "tensor([1, 2, 3])"
    assert cloned.tolist() == [40, 2, 3]


def test_seed_clone_function_copies():
    original = db.tensor([1, 2, 3])
    cloned = db.clone(original)
    assert cloned.data_ptr() != original.data_ptr()
    cloned[0] = 40
    assert original.tolist() == [1, 2, 3]
    assert cloned.tolist() == [40, 2, 3]


# ---------------------------------------------------------------------------
# The same code run with torch and with dlbridge gives the same results
# ---------------------------------------------------------------------------


def _seed_examples(lib):
    out = []
    arr = np.array([1, 2, 3])
    tensor = lib.from_numpy(arr)
    tensor[0] = 10
    out.append(str(arr))

    arr = np.array([1, 2, 3])
    tensor = lib.as_tensor(arr)
    tensor[0] = 20
    out.append(str(arr))

    arr = np.array([1, 2, 3])
    tensor = lib.tensor(arr)
    tensor[0] = 30
    out.append(str(arr))

    original = lib.tensor([1, 2, 3])
    cloned = original.clone()
    cloned[0] = 40
    out.append(repr(original).replace("torch.", "dlbridge."))
    out.append(repr(cloned).replace("torch.", "dlbridge."))
    return out


def test_seed_examples_match_torch_output():
    expected = ["[10  2  3]", "[20  2  3]", "[1 2 3]", "tensor([1, 2, 3])", "tensor([40,  2,  3])"]
    assert _seed_examples(torch) == expected  # the seed document is right about torch
    assert _seed_examples(db) == expected


# ---------------------------------------------------------------------------
# torch consuming dlbridge tensors
# ---------------------------------------------------------------------------


def test_seed_from_numpy_then_torch_from_dlpack_shares_one_buffer():
    arr = np.array([1, 2, 3])
    tensor = torch.from_dlpack(db.from_numpy(arr))
    assert tensor.data_ptr() == arr.ctypes.data
    tensor[0] = 10
    assert str(arr) == "[10  2  3]"


def test_seed_as_tensor_then_torch_as_tensor_shares_one_buffer():
    # torch.as_tensor takes objects with __dlpack__ through torch.from_dlpack.
    arr = np.array([1, 2, 3])
    tensor = torch.as_tensor(db.as_tensor(arr))
    assert tensor.data_ptr() == arr.ctypes.data
    tensor[0] = 20
    assert str(arr) == "[20  2  3]"


def test_seed_torch_tensor_of_dlbridge_tensor_copies():
    arr = np.array([1, 2, 3])
    shared = db.from_numpy(arr)
    tensor = torch.tensor(shared)  # Data is copied
    assert tensor.data_ptr() != arr.ctypes.data
    tensor[0] = 30
    assert str(arr) == "[1 2 3]"
    assert shared.tolist() == [1, 2, 3]


def test_seed_dlbridge_tensor_copy_is_independent_of_numpy_seen_from_torch():
    arr = np.array([1, 2, 3])
    tensor = torch.from_dlpack(db.tensor(arr))
    assert tensor.data_ptr() != arr.ctypes.data
    tensor[0] = 30
    assert str(arr) == "[1 2 3]"


def test_seed_clone_seen_from_torch_is_independent():
    original = db.tensor([1, 2, 3])
    cloned = torch.from_dlpack(db.clone(original))
    assert cloned.data_ptr() != original.data_ptr()
    cloned[0] = 40
    assert original.tolist() == [1, 2, 3]
    # and the torch view of the original sees the original memory
    view = torch.from_dlpack(original)
    assert view.data_ptr() == original.data_ptr()
    assert view.tolist() == [1, 2, 3]


def test_seed_torch_clone_of_dlbridge_tensor_is_independent():
    original = db.tensor([1, 2, 3])
    cloned = torch.from_dlpack(original).clone()
    cloned[0] = 40
    assert original.tolist() == [1, 2, 3]
    assert repr(original) == "tensor([1, 2, 3])"
