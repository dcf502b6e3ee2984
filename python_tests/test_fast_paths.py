"""The fast paths (capsule-free NumPy and exchange-API imports, the nested-list
builder, large copies without the GIL) give exactly what the general paths give."""

import random
import threading

import numpy as np
import pytest

import dlbridge as db


def random_nested(rng, shape, kinds):
    if not shape:
        kind = rng.choice(kinds)
        if kind is bool:
            return rng.random() < 0.5
        if kind is int:
            return rng.randint(-1000, 1000)
        if kind is float:
            return rng.uniform(-1e3, 1e3)
        return complex(rng.uniform(-5, 5), rng.uniform(-5, 5))
    seq = [random_nested(rng, shape[1:], kinds) for _ in range(shape[0])]
    return tuple(seq) if rng.random() < 0.3 else seq


@pytest.mark.parametrize("seed", range(40))
def test_nested_lists_match_numpy_with_torch_inference(seed):
    rng = random.Random(seed)
    shape = [rng.randint(0, 4) for _ in range(rng.randint(0, 4))]
    kinds = rng.sample([bool, int, float, complex], rng.randint(1, 4))
    value = random_nested(rng, shape, kinds)
    t = db.tensor(value)
    widest = max(
        (k for k in kinds if np.asarray(value, dtype=object).size),
        key=[bool, int, float, complex].index,
        default=float,
    )
    expected_dtype = {bool: "bool", int: "int64", float: "float32", complex: "complex64"}
    if np.asarray(value, dtype=object).size == 0:
        assert t.dtype == db.float32
    else:
        present = {type(v) for v in np.asarray(value, dtype=object).ravel()}
        widest = max(present, key=[bool, int, float, complex].index)
        assert t.dtype == expected_dtype[widest]
    expected = np.asarray(value, dtype=t.dtype.name)
    assert t.shape == expected.shape
    assert t.tolist() == expected.tolist()


def test_list_builder_checks_every_value_before_anything_is_visible():
    target = db.tensor([0, 0, 0], dtype=db.uint8)
    with pytest.raises(OverflowError, match="256"):
        target[:] = [1, 2, 256]
    assert target.tolist() == [0, 0, 0]


def test_numpy_imports_without_a_capsule_match_numpys_dlpack_export():
    base = np.arange(60, dtype=np.float64).reshape(3, 4, 5)
    for view in (base, base[::-1, 1:3, ::2], base.transpose(2, 0, 1), base[1, :, 4]):
        direct = db.from_numpy(view)
        through_capsule = db.from_dlpack(view.__dlpack__())
        assert direct.data_ptr() == through_capsule.data_ptr() == view.ctypes.data
        assert direct.strides == through_capsule.strides
        assert direct.tolist() == view.tolist()


def test_numpy_strides_that_are_not_whole_elements_are_refused():
    record = np.zeros(4, dtype=[("a", np.int32), ("b", np.int8)])
    with pytest.raises(BufferError, match="multiple of the item size"):
        db.from_numpy(record["a"])


def test_the_exchange_api_shares_torch_memory():
    torch = pytest.importorskip("torch")
    x = torch.arange(6.0).reshape(2, 3)[:, 1:]
    t = db.as_tensor(x)
    assert t.data_ptr() == x.data_ptr()
    assert t.strides == x.stride()
    x[0, 0] = 42.0
    assert t.tolist()[0][0] == 42.0
    t[1, 1] = -1.0
    assert x[1, 1].item() == -1.0


def test_large_copies_from_many_threads_are_exact():
    sources = [np.full(1 << 19, float(i), dtype=np.float32) for i in range(4)]  # 2 MiB each
    tensors = [db.from_numpy(s) for s in sources]
    results = [None] * len(tensors)

    def work(i):
        for _ in range(5):
            results[i] = tensors[i].clone().to(db.float64)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(tensors))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, result in enumerate(results):
        assert result.dtype == db.float64
        assert result.numpy().min() == result.numpy().max() == float(i)


def test_tensors_publish_the_dlpack_c_exchange_api():
    import ctypes

    capsule = db.Tensor.__dlpack_c_exchange_api__
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype = ctypes.c_char_p
    get_name.argtypes = [ctypes.py_object]
    assert get_name(capsule) == b"dlpack_exchange_api"
