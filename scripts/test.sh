#!/usr/bin/env bash
# Run every dlbridge check and test, from a fresh machine or a warm one.
#
#   bash scripts/test.sh
#
# Needs: Rust stable (cargo, with rustfmt and clippy), Python >= 3.10 with the venv
# module, and network access to PyPI and crates.io on the first run. The script
# creates (or reuses) a virtual environment at .venv in the repository root and
# installs into it what the checks need (requirements/test.in: maturin, numpy, torch,
# jax, ray, dask distributed, pytest, hypothesis, ml_dtypes, mypy, mkdocs with
# mkdocs-material and mkdocstrings, ruff), each
# package at the version requirements/constraints.txt pins; pip's cache is used, so
# PyPI's large torch wheel is downloaded once per machine.
#
# Environment knobs:
#   PYTHON   interpreter used to create .venv (default: python3)
#   VENV     virtual environment path (default: <repo>/.venv)
#
# Steps, in order: venv, pip install, torch import check, cargo test (core), cargo doc
# and cargo package, cargo test --features python (embedded interpreter), maturin develop
# --release, every lint (scripts/lint.sh: fmt, clippy, ruff, stubtest), pytest, the
# example extension (build and its pytest), the second test extension that shares the
# borrow registry with it (build and its pytest), the wheels (scripts/wheels.sh:
# sdist, abi3 and cp310 manylinux2014 wheels, each installed and smoke-tested on every
# CPython 3.10-3.13 found; the aarch64 abi3 wheel, cross-compiled and tested under
# emulation, set up from the package registries by scripts/arm64_emulator.sh),
# python -m dlbridge. The script stops at the first failure
# with a non-zero exit. Each step's time is printed and kept in target/test-times.txt.
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-$REPO/.venv}"
VPY="$VENV/bin/python"

export PIP_DISABLE_PIP_VERSION_CHECK=1
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
if [[ "${CI:-}" == "true" ]]; then
    export PIP_PROGRESS_BAR=off
    export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
fi

STEP="start-up"
STEP_START=$SECONDS
TOTAL_START=$SECONDS

step() {
    STEP="$1"
    STEP_START=$SECONDS
    printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$STEP"
}

TIMES="$REPO/target/test-times.txt"
mkdir -p "$REPO/target"
printf '# scripts/test.sh, started %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" >"$TIMES"

done_step() {
    printf -- '--- ok: %s (%ss)\n' "$STEP" "$((SECONDS - STEP_START))"
    printf '%6ss  %s\n' "$((SECONDS - STEP_START))" "$STEP" >>"$TIMES"
}

fail() {
    printf '\nERROR: %s\n' "$*" >&2
    exit 1
}

# pytest on a folder; its exit code 5 (no test collected) is a failure too.
run_pytest() {
    local rc=0
    "$VPY" -m pytest "$@" -q || rc=$?
    if [[ $rc -eq 5 ]]; then
        fail "pytest collected no tests in $1 (exit 5)"
    elif [[ $rc -ne 0 ]]; then
        fail "pytest failed in $1 (exit $rc)"
    fi
}

on_exit() {
    local rc=$?
    if [[ $rc -ne 0 ]]; then
        printf '\n==> FAILED (exit %s) during: %s\n' "$rc" "$STEP" >&2
    else
        printf '%6ss  total\n' "$((SECONDS - TOTAL_START))" >>"$TIMES"
        printf '\n==> step times (kept in %s):\n' "$TIMES"
        cat "$TIMES"
        printf '\n==> all checks and tests passed (%ss)\n' "$((SECONDS - TOTAL_START))"
    fi
}
trap on_exit EXIT
# Killed by a signal, bash would run the EXIT trap with the status of the last
# command that finished (often 0) and report success: exit with the signal's
# conventional status instead, so the trap reports the failure.
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
step "virtual environment at $VENV"
if [[ -x "$VPY" ]] && "$VPY" -c 'import sys' 2>/dev/null; then
    echo "reusing existing virtual environment"
else
    command -v "$PYTHON" >/dev/null 2>&1 || fail "'$PYTHON' not found; set PYTHON=/path/to/python3"
    if [[ -e "$VENV" ]]; then
        echo "$VENV exists but its interpreter does not run; recreating it"
        "$PYTHON" -m venv --clear "$VENV" ||
            fail "'$PYTHON -m venv' failed (on Debian: apt-get install python3-venv)"
    else
        "$PYTHON" -m venv "$VENV" ||
            fail "'$PYTHON -m venv' failed (on Debian: apt-get install python3-venv)"
    fi
fi
"$VPY" -c 'import sys; assert sys.version_info >= (3, 10), sys.version' ||
    fail "dlbridge needs Python >= 3.10 in $VENV"
"$VPY" -m pip --version >/dev/null 2>&1 || "$VPY" -m ensurepip --upgrade ||
    fail "pip is missing from $VENV and ensurepip is unavailable"

# Behave as if the venv were activated: maturin and pyo3's build script both look at
# VIRTUAL_ENV, and keeping it (and PYO3_PYTHON) identical across every cargo command
# stops pyo3-build-config from forcing rebuilds between steps.
export VIRTUAL_ENV="$VENV"
export PATH="$VENV/bin:$PATH"
export PYO3_PYTHON="$VPY"
# A stray PYTHONHOME breaks the venv; PYO3_BUILD_EXTENSION_MODULE (which maturin sets for
# its own build) would stop `cargo test --features python` from linking libpython.
unset PYTHONHOME PYO3_BUILD_EXTENSION_MODULE
"$VPY" --version
done_step

# ---------------------------------------------------------------------------
step "pip install -r requirements/test.in -c requirements/constraints.txt"
# Every package, direct or pulled in, at the exact version constraints.txt pins for
# this Python (regenerate it on purpose with `python3 scripts/update_constraints.py`),
# so a release elsewhere cannot change what the tests run against. No --upgrade:
# a warm venv already at the pins downloads nothing. No --no-cache-dir: torch and
# its CUDA wheels are several GB.
"$VPY" -m pip install -r requirements/test.in -c requirements/constraints.txt
done_step

# ---------------------------------------------------------------------------
step "check that torch and numpy import"
if ! "$VPY" -c '
import numpy, torch
print(f"numpy {numpy.__version__}, torch {torch.__version__}")
'; then
    fail "torch (or numpy) cannot be imported in $VENV; the PyTorch tests cannot run"
fi
done_step

# ---------------------------------------------------------------------------
# The example is a project of its own (its own [workspace]), built as a user would;
# its own target directory keeps its feature set from invalidating the main build.
EXAMPLE="$REPO/examples/rust_extension"
export EXAMPLE_TARGET="$REPO/target/example"
# A second extension with its own copy of dlbridge, to test that all copies share one
# borrow registry. It has the example's dependencies and lock file, so it shares the
# example's target directory and compiles only itself.
SECOND="$REPO/tests/second_extension"

# ---------------------------------------------------------------------------
step "cargo test (core, no Python), cargo doc, cargo package (the crate builds for publication)"
cargo test
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --features python
# Packs the crate as crates.io would get it and builds that copy (the include list in
# Cargo.toml must hold everything its docs and doctests need).
cargo package --allow-dirty --quiet
done_step

# ---------------------------------------------------------------------------
step "cargo test --features python (embedded interpreter)"
# The test binaries embed CPython, so they are not started by the venv's python:
#  - LD_LIBRARY_PATH: the loader must find libpython (pyo3 links it, no rpath);
#  - PYTHONHOME: where the standard library is (the binary's own path says nothing,
#    and relocatable builds such as python-build-standalone need it);
#  - PYTHONPATH: the venv's site-packages, so numpy and torch import.
PY_LIBDIR="$("$VPY" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR") or "")')"
PY_LDLIBRARY="$("$VPY" -c 'import sysconfig; print(sysconfig.get_config_var("LDLIBRARY") or "")')"
PY_HOME="$("$VPY" -c '
import sys
print(sys.base_prefix if sys.base_prefix == sys.base_exec_prefix
      else sys.base_prefix + ":" + sys.base_exec_prefix)')"
PY_SITE="$("$VPY" -c '
import sysconfig
paths = sysconfig.get_paths()
print(":".join(dict.fromkeys([paths["purelib"], paths["platlib"]])))')"
if [[ "$PY_LDLIBRARY" == *.so* && -n "$PY_LIBDIR" && ! -e "$PY_LIBDIR/$PY_LDLIBRARY" ]]; then
    echo "warning: $PY_LIBDIR/$PY_LDLIBRARY not found; linking may fail" \
        "(on Debian: apt-get install python3-dev)" >&2
fi
echo "LD_LIBRARY_PATH+=$PY_LIBDIR"
echo "PYTHONHOME=$PY_HOME"
echo "PYTHONPATH=$PY_SITE"
LD_LIBRARY_PATH="$PY_LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    PYTHONHOME="$PY_HOME" \
    PYTHONPATH="$PY_SITE${PYTHONPATH:+:$PYTHONPATH}" \
    cargo test --features python
done_step

# ---------------------------------------------------------------------------
step "maturin develop --release (build and install dlbridge into the venv)"
maturin --version
maturin develop --release
"$VPY" -c 'import dlbridge, dlbridge._dlbridge; print("dlbridge imported from", dlbridge.__file__)'
done_step

# ---------------------------------------------------------------------------
# lint.sh ends with `mkdocs build --strict`, the docs site (target/site), which reads the
# API reference from the dlbridge just installed (mkdocs.yml gives no source path).
step "every lint: bash scripts/lint.sh (fmt, clippy, ruff, stubtest, mkdocs --strict)"
VENV="$VENV" bash "$REPO/scripts/lint.sh"
done_step

# ---------------------------------------------------------------------------
step "python -m pytest python_tests -q"
run_pytest python_tests
done_step

# ---------------------------------------------------------------------------
step "examples/rust_extension: maturin develop --release and its pytest suite"
(cd "$EXAMPLE" && CARGO_TARGET_DIR="$EXAMPLE_TARGET" maturin develop --release)
run_pytest "$EXAMPLE/tests" -p no:cacheprovider
done_step

# ---------------------------------------------------------------------------
step "tests/second_extension: maturin develop --release and its pytest (one registry for two extensions)"
(cd "$SECOND" && CARGO_TARGET_DIR="$EXAMPLE_TARGET" maturin develop --release)
run_pytest "$SECOND/tests" -p no:cacheprovider
done_step

# ---------------------------------------------------------------------------
step "wheels: bash scripts/wheels.sh (sdist, abi3 and cp310 manylinux2014 wheels, each smoke-tested on every CPython found; the aarch64 wheel, tested under emulation)"
bash "$REPO/scripts/wheels.sh"
done_step

# ---------------------------------------------------------------------------
step "python -m dlbridge (the demo)"
"$VPY" -m dlbridge
done_step
