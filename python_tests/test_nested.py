"""Nested lists to tensors (`src/python/nested.rs`): one way through, each
element converted once, NumPy found without a lookup per element, and lists
that change while they are converted refused cleanly."""

import gc
import subprocess
import sys
import types

import numpy as np
import pytest

import dlbridge as db


class CountingProducer:
    """A DLPack producer that counts how often it is asked for a capsule."""

    def __init__(self, array):
        self.array = array
        self.calls = 0

    def __dlpack__(self, **kwargs):
        self.calls += 1
        return self.array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self.array.__dlpack_device__()


@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_each_embedded_array_is_imported_once(position):
    producers = [CountingProducer(np.arange(3, dtype=np.int32) + 3 * i) for i in range(3)]
    t = db.tensor(producers)
    assert t.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert t.dtype == db.int32
    index = {"first": 0, "middle": 1, "last": 2}[position]
    assert producers[index].calls == 1


def test_first_array_sets_the_shape_of_the_rest():
    producer = CountingProducer(np.ones((2, 2), dtype=np.float64))
    t = db.tensor([producer, [[2, 3], [4, 5]]])
    assert t.shape == (2, 2, 2)
    assert producer.calls == 1
    assert t.tolist() == [[[1, 1], [1, 1]], [[2, 3], [4, 5]]]


class NumpyProxy(types.ModuleType):
    """Stands in for the `numpy` module and records attribute lookups."""

    def __init__(self, numpy):
        super().__init__("numpy")
        object.__setattr__(self, "_numpy", numpy)
        object.__setattr__(self, "looked_up", [])

    def __getattr__(self, name):
        self.looked_up.append(name)
        return getattr(self._numpy, name)


def test_numpy_is_not_looked_up_per_element(monkeypatch):
    values = [np.float32(i) for i in range(50)] + [np.int8(1), 2.5]
    expected = db.tensor(values)
    proxy = NumpyProxy(np)
    monkeypatch.setitem(sys.modules, "numpy", proxy)
    t = db.tensor(values)
    monkeypatch.undo()
    assert proxy.looked_up == []
    assert t.dtype == expected.dtype == db.float32
    assert t.tolist() == expected.tolist()


def test_numpy_scalars_keep_their_dtype_in_inference():
    # torch.tensor's rule: typed elements keep their dtype, Python numbers
    # are their kind's default, and the result is the promotion.
    assert db.tensor([np.int8(1), np.int8(2)]).dtype == db.int8
    assert db.tensor([np.int8(1), 2]).dtype == db.int64
    assert db.tensor([np.float16(1), 2]).dtype == db.float16
    assert db.tensor([np.float64(1), 2]).dtype == db.float64
    assert db.tensor([np.uint8(1), np.int8(2)]).dtype == db.int16
    # NumPy's extended precision, which dlbridge lacks, counts as the widest
    # float and complex dtypes, keeping the imaginary part.
    assert db.tensor([np.longdouble(1.5)]).dtype == db.float64
    wide = db.tensor([np.clongdouble(1 + 2j)])
    assert wide.dtype == db.complex128
    assert wide.tolist() == [1 + 2j]


@pytest.mark.parametrize(
    "scalar", [np.str_("1"), np.bytes_(b"1"), np.datetime64(5, "s"), np.timedelta64(5)]
)
def test_numpy_scalars_that_are_not_numbers_are_refused(scalar):
    # torch.tensor refuses them too, rather than parsing the string.
    with pytest.raises(TypeError, match="NumPy scalar of dtype"):
        db.tensor([scalar])


class GrowsList:
    """An element whose conversion appends to the list being converted."""

    def __init__(self, target):
        self.target = target

    def __index__(self):
        self.target.append(7)
        return 1


class ShrinksList:
    def __init__(self, target):
        self.target = target

    def __index__(self):
        self.target.clear()
        return 1


@pytest.mark.parametrize("mutator", [GrowsList, ShrinksList])
def test_a_list_changed_while_converted_is_refused(mutator):
    inner = [1, 2]
    inner.append(mutator(inner))
    with pytest.raises(RuntimeError, match="changed size or contents while it was converted"):
        db.tensor([inner, [4, 5, 6]])


def test_a_list_changed_during_the_survey_of_a_flat_list():
    values = [1, 2]
    values.append(ShrinksList(values))
    with pytest.raises(RuntimeError, match="changed"):
        db.tensor(values)


def test_number_below_the_innermost_dimension_is_refused():
    expected = r"expected a number at dim 1, got a sequence or array of shape \[1\]"
    with pytest.raises(ValueError, match=expected):
        db.tensor([1, [2]])
    with pytest.raises(ValueError, match=r"shape \[2\]"):
        db.tensor([3, np.array([1, 2])])


def test_sequence_where_number_expected_after_arrays():
    with pytest.raises(ValueError, match="expected sequence of length 2 at dim 1"):
        db.tensor([np.array([1, 2]), 3])


def test_zero_dimensional_arrays_are_numbers():
    t = db.tensor([np.array(1.5), 2, np.float32(3)])
    assert t.shape == (3,)
    assert t.dtype == db.float64
    assert t.tolist() == [1.5, 2.0, 3.0]


def test_values_of_embedded_arrays_are_checked_against_the_dtype():
    # As torch.tensor([np.array([300])], dtype=torch.uint8): an overflow.
    with pytest.raises(OverflowError, match="300"):
        db.tensor([np.array([300])], dtype=db.uint8)
    assert db.tensor([np.array([1.5])], dtype=db.uint8).tolist() == [[1]]


def test_rank_limit_counts_array_dimensions():
    # 33 list levels around a 32-d array: 65 dimensions, one past the limit.
    nested = np.zeros((1,) * 32)
    for _ in range(33):
        nested = [nested]
    with pytest.raises(ValueError, match="64"):
        db.tensor(nested)
    nested = nested[0]
    assert db.tensor(nested).ndim == 64


def test_an_embedded_tensor_freed_during_the_conversion_is_not_read():
    """The survey keeps its own copy of an embedded tensor: Python code that
    runs later in the conversion (here an element's `__index__`) may free the
    tensor's memory, which a shared view would then read."""
    torch = pytest.importorskip("torch")
    n = 100_000
    source = torch.arange(n, dtype=torch.float64) + 7

    class FreesTheSource:
        done = False

        def __index__(self):
            if not FreesTheSource.done:
                FreesTheSource.done = True
                source.set_()  # drops the storage the import shared
                gc.collect()
                # Reuse the freed memory for something else.
                FreesTheSource.junk = [torch.full((n,), 123.0) for _ in range(3)]
            return 5

    t = db.tensor([source, [FreesTheSource()] * n])
    assert t[0].tolist()[:3] == [7.0, 8.0, 9.0]
    assert t[0].tolist()[-1] == n + 6.0
    assert t[1].tolist()[:2] == [5.0, 5.0]


def test_a_converted_element_replaced_during_the_survey_is_refused():
    # The write walk must meet the very objects the survey converted: here
    # the first is replaced by a list, which would otherwise be written with
    # the NumPy scalar's value.
    class Replaces:
        def __index__(self):
            values[0] = [1, 2]
            return 5

    values = [np.int64(3), Replaces()]
    with pytest.raises(RuntimeError, match="changed"):
        db.tensor(values)


def test_converted_elements_swapped_during_the_survey_are_refused():
    class Swaps:
        def __init__(self, value):
            self.value = value

        def __index__(self):
            values.reverse()
            return self.value

    values = [Swaps(1), Swaps(2)]
    with pytest.raises(RuntimeError, match="changed"):
        db.tensor(values)


def test_conversion_without_numpy_importable_raises_no_panic():
    # rust-numpy panics if NumPy's C API cannot be loaded; a list of
    # non-NumPy objects must convert without needing NumPy at all.
    code = (
        "import sys; sys.modules['numpy'] = None\n"
        "from fractions import Fraction\n"
        "import dlbridge as db\n"
        "t = db.tensor([Fraction(1, 2), 2])\n"
        "assert t.tolist() == [0.5, 2.0], t.tolist()\n"
        "assert sys.modules['numpy'] is None\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
