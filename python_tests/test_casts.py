"""Casts between every pair of dtypes, against NumPy's ``astype``.

Every conversion to a float dtype rounds once, to nearest even, from the exact
source value (IEEE 754), as NumPy does; float to integer truncates toward zero
and wraps, complex to real keeps the real part, anything non-zero is True.
Each pair is checked on edge values and on seeded random bit patterns, through
``.to()`` (contiguous and strided), ``db.tensor(src, dtype=)`` and assignment.

bfloat16 results are checked against an exact rounding computed here with
Python integers and fractions. torch (and ``ml_dtypes`` before 0.7) convert
float64 and integers wider than 24 bits to bfloat16 through float32, rounding
twice, so they are off by one unit in the last place on a few inputs; dlbridge
is not. ``ml_dtypes`` is checked against the exact rounding only where every
route rounds once. Everywhere else the reference is NumPy itself (``ml_dtypes`` for casts from
bfloat16, which are exact through float32).
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

import dlbridge as db

BF16 = np.dtype(ml_dtypes.bfloat16)

NAMES = [
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
    "bfloat16",
    "float32",
    "float64",
    "complex64",
    "complex128",
]
NP = {name: (BF16 if name == "bfloat16" else np.dtype(name)) for name in NAMES}
INTS = [n for n in NAMES if n.startswith(("int", "uint"))]
FLOATS = ["float16", "bfloat16", "float32", "float64"]
COMPLEX = ["complex64", "complex128"]
# The unsigned type of each item size, to see float bit patterns.
BITS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


@contextlib.contextmanager
def quiet():
    """NumPy warns on overflow and on dropping imaginary parts; the suite turns
    warnings into errors, and both are what a cast does."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


# ---------------------------------------------------------------------------
# Source values
# ---------------------------------------------------------------------------


def edge_ints() -> list[int]:
    values = [0, 1, 2, 127, 128, 255, 256, 2049, 2051, 65504, 65519, 65520, 65535]
    for name in INTS:
        info = np.iinfo(name)
        values += [int(info.min), int(info.max), int(info.max) - 1, int(info.min) + 1]
    # Integers that float32, float16 or bfloat16 hold only after rounding, with
    # ties and near-ties: 2**60 + 2**36 + 1 rounds twice through float64 to
    # 2**60 in float32 (the right answer is 2**60 + 2**37), and 2**60 + 2**52 +
    # 1 likewise in bfloat16.
    values += [
        2**24 + 1,
        2**24 + 3,
        2**53 + 1,
        2**60 + 2**36 + 1,
        2**60 + 2**36,
        2**60 + 2**36 - 1,
        2**60 + 2**52 + 1,
        2**60 + 2**52,
        2**30 + 2**22 + 1,
        2**30 + 2**6 + 1,
        257,
        259,
        2**63 - 2**39,
        2**64 - 2**39,
        2**64 - 2**39 - 1,
    ]
    return values + [-v for v in values]


def edge_floats() -> list[float]:
    p = 2.0
    tiny = p**-60
    values = [
        0.0,
        1.0,
        0.5,
        1.5,
        2.5,
        0.7,
        127.9,
        128.5,
        255.5,
        256.7,
        65504.0,
        65519.99,
        65520.0,
        65520.0 - 2**-10,
        65536.0,
        # Ties and near-ties: float16 at 1 + 2**-11, bfloat16 at 1 + 2**-8,
        # float32 at 1 + 2**-24 (k = 1), and at the next midpoint up (k = 3),
        # each exactly, 2**-60 either side (which only float64 holds), and
        # 2**-20 above (which float32 holds too).
        *(
            1 + k * p**-b + d
            for b in (11, 8, 24)
            for k in (1, 3)
            for d in (0.0, tiny, -tiny, p**-20 if b != 24 else 0.0)
        ),
        1 + p**-11 + p**-40,
        8.057544676790317e22,
        float(np.finfo(np.float32).max),
        # float32's largest value is odd: the midpoint above it overflows.
        float(np.finfo(np.float32).max) + p**103,
        float(np.finfo(np.float32).max) + p**103 - p**80,
        float(ml_dtypes.finfo(BF16).max),
        float(ml_dtypes.finfo(BF16).max) + p**119,
        float(ml_dtypes.finfo(BF16).max) + p**119 - p**100,
        1e300,
        # Subnormals: float16's smallest, half of it (a tie with zero) and a
        # hair either side; the same for bfloat16 and float32; float64's.
        p**-24,
        p**-25,
        p**-25 * (1 + tiny),
        p**-25 * (1 - tiny),
        3 * p**-25,
        p**-14 - p**-24,
        p**-133,
        p**-134,
        p**-134 * (1 + tiny),
        p**-149,
        p**-150,
        p**-150 * (1 + tiny),
        p**-126,
        5e-324,
        2.2250738585072014e-308,
        # Integer boundaries, and integers past float32's and float64's
        # precision.
        2.0**24 + 1,
        2.0**24 + 2,
        2.0**53,
        2.0**63,
        2.0**63 - 1024,
        2.0**64,
        2.0**64 - 2048,
        2.0**31,
        2.0**31 - 0.5,
        2.0**32 - 0.5,
        float("inf"),
        float("nan"),
    ]
    return values + [-v for v in values]


def with_tie(bits: int, half_ulp: int, nudge: int) -> int:
    """`bits` with bit `half_ulp` set and those below it clear, plus `nudge`:
    a tie (or near-tie) for rounding away everything from `half_ulp` down."""
    return ((bits >> half_ulp | 1) << half_ulp) + nudge


def random_bits(rng: np.random.Generator, dtype: np.dtype, n: int) -> np.ndarray:
    """`n` random bit patterns of `dtype`. Half of those of integers, float32
    and float64 are made ties or near-ties of the narrower float types, which
    uniform bits would rarely hit; half of the floats get an exponent near 1.0,
    where float16 is finite."""
    size = dtype.itemsize
    bits = 8 * size
    if dtype == np.bool_:
        return rng.integers(0, 2, size=n).astype(np.bool_)
    if dtype.kind == "c":
        return random_bits(rng, np.dtype(f"f{size // 2}"), 2 * n).view(dtype)
    raw = [int(v) for v in rng.integers(0, 2**64, size=n, dtype=np.uint64)]
    raw = [v >> (64 - bits) for v in raw]
    # Half-ulp positions of float32, float16 and bfloat16, from the top.
    if dtype.kind in "iu":
        out = []
        for v in raw:
            width = int(rng.integers(1, bits + 1))
            v >>= bits - width
            if rng.random() < 0.5:
                half_ulp = width - int(rng.choice([25, 12, 9]))
                if half_ulp >= 1:
                    v = with_tie(v, half_ulp, int(rng.integers(-1, 2))) % 2**bits
            out.append(v)
        return np.array(out, dtype=BITS[size]).view(dtype)
    mantissa = {8: 52, 4: 23, 2: 10 if dtype == np.float16 else 7}[size]
    exponent_bias = {8: 1023, 4: 127}.get(size)
    out = []
    for v in raw:
        if exponent_bias is not None and rng.random() < 0.5:
            v &= ~(((1 << (bits - 1 - mantissa)) - 1) << mantissa)
            v |= int(rng.integers(exponent_bias - 30, exponent_bias + 30)) << mantissa
        if mantissa > 10 and rng.random() < 0.5:
            half_ulp = mantissa - int(rng.choice([24, 11, 8]))
            if half_ulp >= 1:
                v = with_tie(v, half_ulp, int(rng.integers(-1, 2))) % 2**bits
        out.append(v)
    return np.array(out, dtype=BITS[size]).view(dtype)


def source_array(name: str) -> np.ndarray:
    """Edge values and random bit patterns of dtype `name`, one dimension."""
    dtype = NP[name]
    rng = np.random.default_rng(20240917 + NAMES.index(name))
    with quiet():
        if name == "bool":
            edges = np.array([False, True, True, False])
        elif name in INTS:
            info = np.iinfo(dtype)
            fit = [v for v in edge_ints() if info.min <= v <= info.max]
            edges = np.array(fit, dtype=object).astype(dtype)
        elif name in FLOATS:
            edges = np.array(edge_floats()).astype(dtype)
        else:
            reals = np.array(edge_floats())
            edges = (reals + 1j * np.roll(reals, 7)).astype(dtype)
    return np.concatenate([edges, random_bits(rng, dtype, 3000)])


SOURCES = {name: source_array(name) for name in NAMES}


# ---------------------------------------------------------------------------
# Reference results
# ---------------------------------------------------------------------------


def python_values(src: np.ndarray) -> list:
    """The exact values of `src` as Python numbers (bfloat16 through float32,
    which holds each exactly)."""
    if src.dtype == BF16:
        src = src.astype(np.float32)
    return src.tolist()


def round_to_bfloat16(value: bool | int | float | complex) -> float:
    """`value` (the real part of a complex) rounded once to bfloat16, to
    nearest even (IEEE 754 roundTiesToEven, overflowing where the rounded
    magnitude reaches 2**128), computed exactly with Python integers."""
    if isinstance(value, complex):
        value = value.real
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return value
    m = abs(Fraction(value))
    negative = math.copysign(1.0, value) < 0 if isinstance(value, float) else value < 0
    if m == 0:
        return -0.0 if negative else 0.0
    # The exponent of the leading bit: 2**e <= m < 2**(e+1).
    e = m.numerator.bit_length() - m.denominator.bit_length()
    if Fraction(2) ** e > m:
        e -= 1
    # bfloat16: 8 significant bits; normal exponents down to -126, below
    # which the spacing stays that of the smallest normals.
    quantum = Fraction(2) ** (max(e, -126) - 7)
    rounded = round(m / quantum) * quantum  # round() on a Fraction ties to even
    magnitude = math.inf if rounded >= 2**128 else float(rounded)
    return -magnitude if negative else magnitude


def expected(src: np.ndarray, dst_name: str) -> np.ndarray:
    dst = NP[dst_name]
    if dst == BF16:
        rounded = [round_to_bfloat16(v) for v in python_values(src)]
        return np.array(rounded, dtype=np.float32).astype(BF16)  # exact
    with quiet():
        if src.dtype == BF16:
            # Exact: float32 holds every bfloat16.
            src = src.astype(np.float32)
        return src.astype(dst)


def in_int_range(src: np.ndarray, dst_name: str) -> np.ndarray:
    """Which elements NumPy defines for a float -> integer cast: those whose
    truncated (real) value fits the target. NaN, infinities and values out of
    range are undefined in C, so NumPy's result depends on the platform; they
    are left out of the float -> integer pairs."""
    info = np.iinfo(dst_name)
    with quiet():
        real = np.real(src).astype(np.float64)  # exact for every float dtype
        truncated = np.trunc(real)
        # The bounds are powers of two (or zero), exact in float64.
        return (
            np.isfinite(truncated)
            & (truncated >= float(info.min))
            & (truncated < float(info.max) + 1.0)
        )


@functools.cache
def case(src_name: str, dst_name: str) -> tuple[np.ndarray, np.ndarray]:
    src = SOURCES[src_name]
    if src_name in FLOATS + COMPLEX and dst_name in INTS:
        src = src[in_int_range(src, dst_name)]
    return src, expected(src, dst_name)


# ---------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------


def assert_same(got: np.ndarray, want: np.ndarray, src: np.ndarray, what: str) -> None:
    """Equal values; for floats equal bit patterns (so -0.0 is not 0.0), or
    both NaN, whatever their payloads."""
    assert got.dtype == want.dtype, what
    assert got.shape == want.shape, what
    if got.dtype.kind == "c":
        assert_same(got.real.copy(), want.real.copy(), src, what + " (real part)")
        assert_same(got.imag.copy(), want.imag.copy(), src, what + " (imaginary part)")
        return
    if got.dtype.kind == "f" or got.dtype == BF16:
        with quiet():  # signalling NaNs warn when widened
            both_nan = np.isnan(got.astype(np.float64)) & np.isnan(want.astype(np.float64))
        unsigned = BITS[got.dtype.itemsize]
        bad = ~both_nan & (got.view(unsigned) != want.view(unsigned))
    else:
        bad = got != want
    if bad.any():
        wrong = np.flatnonzero(bad)
        shown = [f"{src[i]!r}: got {got[i]!r}, want {want[i]!r}" for i in wrong[:5]]
        pytest.fail(f"{what}: {len(wrong)} wrong, e.g. " + "; ".join(shown))


PAIRS = [(s, d) for s in NAMES for d in NAMES]


def dl(name: str):
    return getattr(db, name)


@pytest.mark.parametrize(("src_name", "dst_name"), PAIRS)
def test_to(src_name, dst_name):
    src, want = case(src_name, dst_name)
    got = db.from_numpy(src).to(dl(dst_name)).numpy()
    assert_same(got, want, src, f"{src_name} -> {dst_name} by .to()")
    # A reversed view takes the strided kernels rather than the contiguous ones.
    strided = db.from_numpy(src)[::-1].to(dl(dst_name)).numpy()[::-1]
    assert_same(strided, want, src, f"{src_name} -> {dst_name} by .to() on a strided view")


@pytest.mark.parametrize(("src_name", "dst_name"), PAIRS)
def test_tensor_with_dtype(src_name, dst_name):
    src, want = case(src_name, dst_name)
    got = db.tensor(src, dtype=dl(dst_name)).numpy()
    assert_same(got, want, src, f"{src_name} -> {dst_name} by tensor(dtype=)")


@pytest.mark.parametrize(("src_name", "dst_name"), PAIRS)
def test_assignment(src_name, dst_name):
    src, want = case(src_name, dst_name)
    dst = db.tensor(np.zeros(len(src), dtype=NP[dst_name]))
    dst[...] = db.from_numpy(src)
    assert_same(dst.numpy(), want, src, f"{src_name} -> {dst_name} by assignment")


def test_every_pair_is_checked_on_many_values():
    assert len(PAIRS) == 225
    for src_name, dst_name in PAIRS:
        assert len(case(src_name, dst_name)[0]) > 1000, (src_name, dst_name)


# ---------------------------------------------------------------------------
# The examples that rounded twice, and the references themselves
# ---------------------------------------------------------------------------


def test_wide_integers_round_once_to_float32():
    v = 2**60 + 2**36 + 1
    assert db.tensor([v]).to(db.float32).item() == 2.0**60 + 2.0**37
    assert db.tensor([v], dtype=db.float32).item() == 2.0**60 + 2.0**37
    assert db.tensor(np.array([v], dtype=np.uint64)).to(db.complex64).item() == 2.0**60 + 2.0**37


def test_float64_rounds_once_to_half_types():
    x = 1 + 2**-11 + 2**-40
    assert db.tensor([x], dtype=db.float64).to(db.float16).item() == 1 + 2**-10
    y = 8.057544676790317e22
    assert db.tensor([y], dtype=db.float64).to(db.bfloat16).item() == 8.087052601914267e22


def test_bfloat16_rounds_once_from_float64_and_wide_integers():
    # Rounding through float32 first (torch does; ml_dtypes did before 0.7)
    # turns 2**60 + 2**52 + 1 into the tie 2**60 + 2**52, then the even 2**60,
    # and 1 + 2**-8 + 2**-40 into the tie 1 + 2**-8, then 1.0. Rounded once,
    # as IEEE 754 and NumPy's float16 casts do, they are the values below.
    # The reference is the exact rounding above, not another library.
    wide = 2**60 + 2**52 + 1
    fine = 1 + 2**-8 + 2**-40
    assert round_to_bfloat16(wide) == 2.0**60 + 2.0**53
    assert round_to_bfloat16(fine) == 1 + 2**-7
    # The cases can tell one rounding from two.
    assert round_to_bfloat16(float(np.float32(wide))) == 2.0**60
    assert round_to_bfloat16(float(np.float32(fine))) == 1.0
    assert db.tensor([wide]).to(db.bfloat16).item() == round_to_bfloat16(wide)
    got = db.tensor([fine], dtype=db.float64).to(db.bfloat16).item()
    assert got == round_to_bfloat16(fine)


def test_exact_bfloat16_reference_agrees_with_ml_dtypes_from_float64_held_by_float32():
    # A float64 that float32 holds exactly is rounded once by every route
    # (directly, or through float32), so ml_dtypes must agree with the exact
    # reference there, whichever way its version converts.
    src = SOURCES["float64"]
    with quiet():
        once = src[src.astype(np.float32).astype(np.float64) == src]
        theirs = once.astype(BF16)
    assert once.size > 10
    ours = np.array([round_to_bfloat16(v) for v in once.tolist()], dtype=np.float32)
    assert_same(ours.astype(BF16), theirs, once, "exact vs ml_dtypes, float64 -> bfloat16")


def test_exact_bfloat16_reference_agrees_with_ml_dtypes_from_float32():
    # float32 -> bfloat16 rounds once in ml_dtypes too, so the two references
    # must agree there: a check on the exact one.
    src = SOURCES["float32"]
    ours = np.array([round_to_bfloat16(v) for v in src.tolist()], dtype=np.float32)
    with quiet():
        theirs = src.astype(BF16)
    ours = ours.astype(BF16)
    assert_same(ours, theirs, src, "exact vs ml_dtypes, float32 -> bfloat16")
