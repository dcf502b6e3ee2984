"""Property-based tests: dlbridge against NumPy on random shapes, strides,
dtypes and keys (hypothesis, derandomized so CI runs are reproducible)."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dlbridge as db

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

DTYPES = [
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
]


@st.composite
def arrays(draw, dtypes=DTYPES):
    """A NumPy array of a random dtype and shape, seen through a random
    strided view (steps of any sign, a transpose)."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
    if dtype.kind == "b":
        elements = st.booleans()
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        elements = st.integers(max(int(info.min), -100), min(int(info.max), 100))
    else:
        elements = st.integers(-100, 100).map(float)
    base = draw(hnp.arrays(dtype, shape, elements=elements))
    steps = tuple(draw(st.sampled_from([1, 2, -1, -2])) for _ in shape)
    view = base[tuple(slice(None, None, s) for s in steps)] if base.ndim else base
    if view.ndim > 1 and draw(st.booleans()):
        view = view.T
    return view


@st.composite
def basic_keys(draw, ndim):
    """A basic index for an array of `ndim` dimensions."""
    items = []
    consumed = 0
    use_ellipsis = draw(st.booleans())
    for _ in range(draw(st.integers(0, ndim + 1))):
        kind = draw(st.sampled_from(["int", "slice", "none"]))
        if kind == "none":
            items.append(None)
        elif consumed < ndim:
            consumed += 1
            if kind == "int":
                items.append(draw(st.integers(-6, 5)))
            else:
                items.append(
                    slice(
                        draw(st.none() | st.integers(-7, 7)),
                        draw(st.none() | st.integers(-7, 7)),
                        draw(st.none() | st.sampled_from([-3, -2, -1, 1, 2, 3])),
                    )
                )
    if use_ellipsis:
        items.insert(draw(st.integers(0, len(items))), Ellipsis)
    return tuple(items)


def outcome(fn):
    try:
        return fn(), None
    except (IndexError, ValueError, TypeError) as error:
        return None, type(error)


@SETTINGS
@given(st.data())
def test_getitem_matches_numpy_and_shares_memory(data):
    a = data.draw(arrays())
    key = data.draw(basic_keys(a.ndim))
    expected, expected_error = outcome(lambda: a[key])
    t = db.from_numpy(a)
    got, got_error = outcome(lambda: t[key])
    assert (got_error is None) == (expected_error is None), (key, expected_error, got_error)
    if expected_error is None:
        is_view = isinstance(expected, np.ndarray)  # NumPy gives scalars for full indexing
        expected = np.asarray(expected)
        assert got.shape == expected.shape
        assert got.tolist() == expected.tolist()
        if is_view and expected.size:
            assert got.data_ptr() == expected.ctypes.data


@SETTINGS
@given(st.data())
def test_setitem_matches_numpy(data):
    a = data.draw(arrays(dtypes=["int32", "int64", "float32", "float64"]))
    key = data.draw(basic_keys(a.ndim))
    region = np.asarray(a[key]) if outcome(lambda: a[key])[1] is None else None
    if region is None:
        return
    if region.ndim and data.draw(st.booleans()):
        # A shape that broadcasts *to* the region: a suffix of its shape with
        # some sizes replaced by 1.
        kept = region.shape[data.draw(st.integers(0, region.ndim)) :]
        shape = tuple(1 if data.draw(st.booleans()) else n for n in kept)
        value = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(-50, 50)))
    else:
        value = data.draw(st.integers(-50, 50))
    expected = a.copy()
    expected[key] = value
    t = db.tensor(a)
    t[key] = value
    assert t.tolist() == expected.tolist()


@SETTINGS
@given(arrays())
def test_contiguous_and_tolist_match_numpy(a):
    t = db.from_numpy(a)
    assert t.tolist() == a.tolist()
    c = t.contiguous()
    assert c.is_contiguous()
    assert c.tolist() == a.tolist()
    assert (c is t) == (a.flags.c_contiguous or a.size == 0 or t.is_contiguous())


@SETTINGS
@given(arrays(), st.sampled_from(DTYPES))
def test_to_dtype_matches_numpy_for_values_every_dtype_holds(a, dtype):
    # Values are small integers, so every conversion is exact in both
    # libraries, except out-of-range ones into unsigned types, excluded here.
    if np.dtype(dtype).kind == "u" and a.dtype.kind in "ifc" and (a.real < 0).any():
        return
    if a.dtype.kind == "c" and np.dtype(dtype).kind != "c":
        return  # NumPy warns (ComplexWarning) and drops the imaginary part
    expected = a.astype(dtype)
    got = db.from_numpy(a).to(dtype)
    assert got.dtype == dtype
    assert got.tolist() == expected.tolist()


nested = st.recursive(
    st.integers(-1000, 1000) | st.floats(-1e6, 1e6, allow_nan=False) | st.booleans(),
    lambda inner: st.lists(inner, min_size=1, max_size=4),
    max_leaves=30,
)


@SETTINGS
@given(nested)
def test_list_conversion_matches_numpy_or_refuses_ragged_lists(value):
    try:
        expected = np.array(value)
    except ValueError:
        expected = None
    if expected is not None and expected.dtype == object:
        expected = None
    try:
        t = db.tensor(value)
    except ValueError:
        assert expected is None
        return
    assert expected is not None
    kinds = {np.dtype("bool"): "bool", np.dtype("int64"): "int64"}
    assert t.dtype == kinds.get(expected.dtype, "float32")
    assert t.shape == expected.shape
    assert t.tolist() == expected.astype(t.dtype.name).tolist()
