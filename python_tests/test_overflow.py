"""Layouts that overflow, huge counts and extreme values: refused, never a crash.

Each case below once crashed the interpreter, aborted it, raised
``PanicException`` or returned a wrapped value. What may crash runs in a
subprocess, so a regression fails the test instead of killing the suite.
torch's behaviour on the same calls is the reference where it has one.
"""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import torch

import dlbridge as db

MAXSIZE = sys.maxsize


def run_isolated(code: str, memory_mb: int = 2048) -> subprocess.CompletedProcess:
    """Runs ``code`` in a fresh interpreter whose address space is capped, so an
    allocation the size of a request (not of a result) fails fast instead of
    taking the machine; returns the finished process."""
    prelude = textwrap.dedent(
        f"""
        import resource, sys
        cap = {memory_mb} * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        import dlbridge as db
        """
    )
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_raises_in_subprocess(code: str, exception: str, match: str = "") -> None:
    """``code`` (one expression) must raise ``exception`` in a fresh
    interpreter, with ``match`` in its message, and the interpreter must exit
    normally."""
    result = run_isolated(
        f"""
        try:
            {code}
        except BaseException as error:
            print(type(error).__name__)
            print(error)
        else:
            print("no exception")
        """
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    name, _, message = result.stdout.partition("\n")
    assert name == exception, (code, result.stdout, result.stderr[-2000:])
    assert match in message, (code, message)


# --- the four crash classes ------------------------------------------------


def test_narrow_past_the_end_is_refused_not_wrapped():
    t = db.tensor([1, 2, 3, 4])
    with pytest.raises(RuntimeError, match=r"start \(1\) \+ length \(9223372036854775807\)"):
        t.narrow(0, 1, MAXSIZE)
    with pytest.raises(RuntimeError) as expected:
        torch.tensor([1, 2, 3, 4]).narrow(0, 1, MAXSIZE)
    assert "exceeds dimension size (4)" in str(expected.value)
    assert_raises_in_subprocess(
        "db.tensor([1, 2, 3, 4]).narrow(0, 1, sys.maxsize)[10**6]", "RuntimeError"
    )


def test_a_broadcast_too_large_in_bytes_is_refused():
    # 2**62 float32 elements are 2**64 bytes: no buffer, memoryview or NumPy
    # array can describe them (NumPy refuses such an array too).
    with pytest.raises(RuntimeError, match="exceeds 9223372036854775807"):
        db.zeros(1).expand(2**62)
    with pytest.raises(ValueError):
        np.broadcast_to(np.zeros(1, np.float32), (2**62,))
    assert_raises_in_subprocess("bytearray(db.zeros(1).expand(2**62))", "RuntimeError")
    # One byte each, it fits: its byte count is exact, and memoryview agrees.
    e = db.zeros(1, dtype=db.int8).expand(2**62)
    assert e.nbytes == 2**62
    view = memoryview(e)
    assert view.nbytes == 2**62 and view.strides == (0,)
    # A copy of it is refused without being attempted.
    assert_raises_in_subprocess(
        "bytearray(db.zeros(1, dtype=db.int8).expand(2**62))", "MemoryError"
    )


@pytest.mark.parametrize(
    ("code", "exception"),
    [
        ("db.arange(2**40)", "MemoryError"),
        ("db.arange(0.0, 2.0**40, 1.0)", "MemoryError"),
        ("db.arange(2**62)", "RuntimeError"),
        ("db.arange(2**63 - 1)", "RuntimeError"),
        ("db.arange(0.0, 1e300, 1.0)", "RuntimeError"),
    ],
)
def test_arange_of_an_impossible_length_fails_before_building_values(code, exception):
    assert_raises_in_subprocess(code, exception)


def test_arange_lengths_are_checked_against_torch():
    with pytest.raises(RuntimeError):
        torch.arange(2**62)
    with pytest.raises(RuntimeError, match="invalid size"):
        db.arange(0.0, 1e300, 1.0)


@pytest.mark.parametrize(
    "code",
    [
        "db.zeros(1, dtype=db.int8).expand(2**62).split(1)",
        "db.zeros(1, dtype=db.int8).expand(2**62).unbind()",
        "db.zeros(1, dtype=db.int8).expand(2**62).chunk(2**62)",
        "db.zeros(0).chunk(2**40)",
        "db.zeros(0).chunk(2**62)",
        "db.zeros(0).chunk(sys.maxsize)",
    ],
)
def test_pieces_that_cannot_be_listed_are_refused_before_any_is_made(code):
    # torch: "cannot create std::vector larger than max_size()", std::bad_alloc.
    assert_raises_in_subprocess(code, "RuntimeError", "views")


def test_pieces_keep_torchs_counts_where_they_fit():
    for chunks in (1, 3, 7):
        ours = db.zeros(0).chunk(chunks)
        theirs = torch.zeros(0).chunk(chunks)
        assert len(ours) == len(theirs)
    t = db.arange(10)
    assert [p.tolist() for p in t.split(MAXSIZE)] == [list(range(10))]
    assert [p.tolist() for p in t.chunk(MAXSIZE)] == [[i] for i in range(10)]
    # torch computes (10 + chunks - 1) / chunks in int64, which wraps here
    # ("split_size can only be 0 if dimension size is 0"); the exact answer
    # is ten pieces of one.
    with pytest.raises(RuntimeError, match="split_size can only be 0"):
        torch.arange(10).chunk(MAXSIZE)
    with pytest.raises(RuntimeError, match="sum exactly"):
        t.split([MAXSIZE, MAXSIZE, 2])


# --- silent wrong values ---------------------------------------------------


def test_unfold_whose_element_count_overflows_is_refused():
    with pytest.raises(RuntimeError, match="numel"):
        torch.zeros(1).expand(2**31 + 2**33 - 1).unfold(0, 2**33, 1)
    base = db.zeros(1, dtype=db.int8).expand(2**31 + 2**33 - 1)
    with pytest.raises(RuntimeError, match="layout out of range"):
        base.unfold(0, 2**33, 1)


def test_shapes_whose_non_empty_product_overflows_are_refused():
    with pytest.raises(RuntimeError):
        torch.zeros(0, 2**62, 4)
    with pytest.raises(RuntimeError):
        db.zeros(0, 2**62, 4)
    with pytest.raises(RuntimeError):
        db.zeros(0, 2**61, 4, dtype=db.int8)
    # Empty, a shape has no bytes, only the count of its non-empty sizes.
    assert db.zeros(0, 2**60, 4, dtype=db.float64).shape == (0, 2**60, 4)
    with pytest.raises(RuntimeError):
        db.zeros(0).reshape(0, 2**62, 4)
    # Within the bound, empty tensors keep their huge dimensions exactly,
    # with torch's strides.
    ours = db.zeros(0, 2**40, 4, dtype=db.int8)
    theirs = torch.zeros(0, 2**40, 4, dtype=torch.int8)
    for op in (lambda t: t.flatten(1), lambda t: t.unsqueeze(1), lambda t: t.unsqueeze(3)):
        assert op(ours).shape == tuple(op(theirs).shape)
        assert op(ours).stride() == op(theirs).stride()


def test_arange_values_are_exact_at_the_int64_bounds():
    with pytest.raises(RuntimeError, match="int64"):
        db.arange(0, 2**64 - 1, 2**62)
    with pytest.raises(RuntimeError, match="int64"):
        db.arange(2**63, 2**63 + 2)
    lo = -(2**63)
    assert db.arange(lo, lo + 3).tolist() == torch.arange(lo, lo + 3).tolist()
    assert db.arange(2**63 - 3, 2**63 - 1).tolist() == [2**63 - 3, 2**63 - 2]
    # torch overflows computing this length; the exact answer has 4 values.
    assert db.arange(lo, 2**63 - 1, 2**62).tolist() == [lo, -(2**62), 0, 2**62]
    assert db.arange(2**63 - 1, lo, lo).tolist() == [2**63 - 1, -1]


@pytest.mark.parametrize("step", [float("inf"), float("-inf"), float("nan")])
def test_arange_refuses_steps_that_are_not_finite(step):
    with pytest.raises(RuntimeError, match="step must be finite"):
        torch.arange(0, 10, step)
    with pytest.raises(RuntimeError, match="step must be finite"):
        db.arange(0, 10, step)


@pytest.mark.parametrize(
    ("args", "dtype"),
    [
        ((0, 2, 0.5), "int64"),
        ((0.5, 3, 1), "int64"),
        ((0.7, 3.2, 1.0), "int64"),
        ((0.0, 1.0, 0.3), "int32"),
        ((0, 300, 100), "uint8"),
        ((-3, 3, 0.75), "int16"),
        ((0, 3, 1), "float16"),
        ((1, -2.5, -0.5), "float32"),
    ],
)
def test_arange_follows_torch_for_fractional_steps_and_integer_dtypes(args, dtype):
    ours = db.arange(*args, dtype=getattr(db, dtype))
    theirs = torch.arange(*args, dtype=getattr(torch, dtype))
    assert ours.dtype == getattr(db, dtype)
    assert ours.tolist() == theirs.tolist()


def test_arange_float_values_are_start_plus_index_times_step_as_in_numpy():
    # torch's vectorised kernel restarts from `start + step * idx` every
    # SIMD width, so its rounding depends on the machine; NumPy's does not.
    ours = db.arange(0.1, 1.0, 0.1, dtype=db.float64).tolist()
    assert ours == np.arange(0.1, 1.0, 0.1).tolist()
    assert ours == [0.1 + i * 0.1 for i in range(9)]


def test_unfold_with_a_stride_that_overflows_is_refused():
    with pytest.raises(RuntimeError):
        torch.arange(10)[::2].unfold(0, 2, 2**62)
    with pytest.raises(RuntimeError, match="layout out of range"):
        db.arange(10)[::2].unfold(0, 2, 2**62)
    assert db.arange(10)[::2].unfold(0, 2, 2**61).stride() == (2**62, 2)


def test_expand_whose_count_overflows_is_runtime_error():
    with pytest.raises(RuntimeError):
        db.zeros(1, 1).expand(2**32, 2**32)
    with pytest.raises(RuntimeError):
        torch.zeros(1, 1).expand(2**32, 2**32)


# --- threads, pickles ------------------------------------------------------


def test_share_memory_from_many_threads_at_once_succeeds_in_each():
    t = db.zeros(8 * 2**20)  # 32 MB: the copy releases the GIL
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def share():
        barrier.wait()
        try:
            t.share_memory_()
        except BaseException as error:  # noqa: BLE001 - collected for the assert
            errors.append(error)

    threads = [threading.Thread(target=share) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert t.is_shared()


class AllowListUnpickler(pickle.Unpickler):
    """What a careful consumer does: only ``dlbridge._dtype_by_name`` may be
    loaded, trusting it to give back nothing but a dtype."""

    def find_class(self, module, name):
        if (module, name) == ("dlbridge", "_dtype_by_name"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed")


class ForgedDType:
    """Pickles as a dtype would, naming another global of the module."""

    def __init__(self, name: str):
        self.name = name

    def __reduce__(self):
        return (db._dtype_by_name, (self.name,))


def test_dtype_unpickling_gives_back_only_dtypes():
    assert AllowListUnpickler(io.BytesIO(pickle.dumps(db.bfloat16))).load() is db.bfloat16
    for name in ("Tensor", "_rebuild_tensor", "__builtins__", "np", "_dlbridge"):
        with pytest.raises(pickle.UnpicklingError, match=name):
            AllowListUnpickler(io.BytesIO(pickle.dumps(ForgedDType(name)))).load()
