#!/usr/bin/env bash
# Builds dlbridge's distributions and smoke-tests each wheel on every CPython here:
#
#   bash scripts/wheels.sh
#
# Leaves in dist/:
#   - an sdist (dlbridge-<version>.tar.gz);
#   - one abi3 wheel for CPython 3.11 and newer (cp311-abi3), built with the
#     `abi3` feature (the stable ABI; `Py_buffer` joined the limited API in 3.11);
#   - one wheel for CPython 3.10 (cp310-cp310), when a python3.10 is found;
#   - one abi3 wheel for aarch64 (ARM) Linux, cross-compiled.
# Every wheel is manylinux2014 (glibc 2.17): maturin links them with zig
# (`--zig`, the `ziglang` package from PyPI), which targets an old glibc and
# another architecture from any build machine, so no manylinux container or
# cross toolchain is needed. `auditwheel show` checks the tag of each.
#
# Then, for every CPython 3.10-3.13 it finds (on PATH or under ~/.pyenv), it makes
# a fresh virtual environment, installs NumPy from the registry and dlbridge from
# dist/ only (binary wheels, no index), and runs `python -m dlbridge` and
# scripts/wheel_smoke.py with no Rust toolchain on PATH; and in a second one it
# installs the sdist, which pip builds from source, and runs the smoke test again.
#
# The aarch64 wheel is tested under emulation (scripts/arm64_emulator.sh: an
# aarch64 CPython 3.11 from Debian's registry, run by qemu-user-static, nothing
# installed on the host): with NumPy's, ml_dtypes', pytest's and hypothesis'
# aarch64 wheels from PyPI beside it, `python -m dlbridge`, the smoke test and the
# tests that need only NumPy (the casts above all: ARM has no F16C, so the
# portable conversions must give the same correctly rounded values), bounded in
# time. ARM64_TESTS=0 skips the aarch64 wheel altogether.
#
# The build tools live in their own virtual environment, target/wheels-venv (or
# $WHEELS_VENV); the Rust build in target/wheels. Each step prints its time.
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"
DIST="$REPO/dist"
BUILD_VENV="${WHEELS_VENV:-$REPO/target/wheels-venv}"
# Every package installed here is at the version this pins for its Python
# (requirements/wheels.in; `python3 scripts/update_constraints.py` regenerates it).
CONSTRAINTS="$REPO/requirements/constraints.txt"
SMOKE_DIR="$REPO/target/wheels-smoke"
export CARGO_TARGET_DIR="$REPO/target/wheels"
unset VIRTUAL_ENV PYO3_PYTHON PYO3_BUILD_EXTENSION_MODULE

STEP_NAME="" STEP_START=0
step() {
    STEP_NAME="$1"
    STEP_START=$SECONDS
    echo "--- $STEP_NAME"
}
done_step() {
    echo "--- ok: $STEP_NAME ($((SECONDS - STEP_START))s)"
}

# The CPython of each version 3.10-3.13 found here: `pythonX.Y` on PATH, else the
# newest pyenv build of it. A pyenv shim for a version that is not installed fails
# to run, and is skipped.
find_python() {
    local version="$1" candidate
    for candidate in "$(command -v "python$version" 2>/dev/null || true)" \
        $(ls -d "$HOME"/.pyenv/versions/"$version".*/bin/"python$version" 2>/dev/null | sort -V -r); do
        if [[ -n "$candidate" ]] && "$candidate" -c 'import sys, venv' >/dev/null 2>&1; then
            echo "$candidate"
            return
        fi
    done
}
declare -A PYTHONS=()
for version in 3.10 3.11 3.12 3.13; do
    found="$(find_python "$version")"
    if [[ -n "$found" ]]; then
        PYTHONS[$version]="$found"
    fi
done
echo "CPython found: $(for v in "${!PYTHONS[@]}"; do echo -n "$v "; done | tr ' ' '\n' | sort -V | tr '\n' ' ')"
ABI3_PYTHON="${PYTHONS[3.11]:-${PYTHONS[3.12]:-${PYTHONS[3.13]:-}}}"
if [[ -z "$ABI3_PYTHON" ]]; then
    echo "no CPython 3.11 or newer found: cannot build the abi3 wheel" >&2
    exit 1
fi

step "build tools (maturin, ziglang, auditwheel) in $BUILD_VENV"
if ! [[ -x "$BUILD_VENV/bin/python" ]]; then
    "$ABI3_PYTHON" -m venv "$BUILD_VENV"
fi
"$BUILD_VENV/bin/python" -m pip install -q maturin ziglang auditwheel -c "$CONSTRAINTS"
done_step

rm -rf "$DIST"
step "sdist"
"$BUILD_VENV/bin/maturin" sdist --out "$DIST"
done_step

build_wheel() {
    local python="$1"
    shift
    # maturin finds zig as `python -m ziglang`, with the python on PATH.
    PATH="$BUILD_VENV/bin:$PATH" "$BUILD_VENV/bin/maturin" build --release --zig \
        --compatibility manylinux2014 -i "$python" --out "$DIST" "$@"
}

step "abi3 wheel (CPython >= 3.11), manylinux2014, with $ABI3_PYTHON"
build_wheel "$ABI3_PYTHON" --features abi3
done_step

if [[ -n "${PYTHONS[3.10]:-}" ]]; then
    step "cp310 wheel, manylinux2014, with ${PYTHONS[3.10]}"
    build_wheel "${PYTHONS[3.10]}"
    done_step
else
    echo "--- no python3.10 here: no cp310 wheel"
fi

ARM64_TESTS="${ARM64_TESTS:-1}"
ARM64_TARGET=aarch64-unknown-linux-gnu
if [[ "$ARM64_TESTS" != 0 ]]; then
    step "aarch64 abi3 wheel (CPython >= 3.11), manylinux2014, cross-compiled with zig"
    if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$ARM64_TARGET"; then
        rustup target add "$ARM64_TARGET"
    fi
    # abi3 needs no interpreter of the target: the wheel's tag is the stable ABI's.
    PATH="$BUILD_VENV/bin:$PATH" "$BUILD_VENV/bin/maturin" build --release --zig \
        --compatibility manylinux2014 --target "$ARM64_TARGET" --features abi3 --out "$DIST"
    done_step
fi

step "auditwheel show (each wheel must be manylinux_2_17, i.e. manylinux2014, of its architecture)"
for wheel in "$DIST"/*.whl; do
    report="$("$BUILD_VENV/bin/auditwheel" show "$wheel")"
    echo "$report"
    arch=x86_64
    if [[ "$wheel" == *_aarch64.whl ]]; then
        arch=aarch64
    fi
    if ! grep -A1 'is consistent with the following platform tag' <<<"$report" |
        grep -q "manylinux_2_17_$arch"; then
        echo "$(basename "$wheel") is not manylinux2014 for $arch" >&2
        exit 1
    fi
done
done_step

# PATH for the smoke tests: the system's directories, with whatever holds a Rust
# toolchain taken out, so that an install that tried to build from source fails.
SMOKE_PATH=""
IFS=: read -r -a path_dirs <<<"/usr/local/bin:/usr/bin:/bin"
for dir in "${path_dirs[@]}"; do
    if [[ ! -x "$dir/cargo" && ! -x "$dir/rustc" ]]; then
        SMOKE_PATH="${SMOKE_PATH:+$SMOKE_PATH:}$dir"
    fi
done

rm -rf "$SMOKE_DIR"
for version in $(echo "${!PYTHONS[@]}" | tr ' ' '\n' | sort -V); do
    python="${PYTHONS[$version]}"
    step "CPython $version: fresh venv, NumPy from the registry, dlbridge from dist/ only"
    venv="$SMOKE_DIR/py$version"
    "$python" -m venv "$venv"
    env -i HOME="$HOME" PATH="$venv/bin:$SMOKE_PATH" bash -c '
        set -euo pipefail
        if command -v cargo >/dev/null || command -v rustc >/dev/null; then
            echo "a Rust toolchain is on PATH" >&2
            exit 1
        fi
        python -m pip install -q "numpy>=2.0" -c "$4"
        python -m pip install -q --no-index --only-binary=:all: --find-links "$1" dlbridge
        python -m pip list 2>/dev/null | grep -i "^dlbridge "
        cd "$2"
        python -m dlbridge >"$3/demo.txt"
        head -3 "$3/demo.txt"
        python scripts/wheel_smoke.py
    ' _ "$DIST" "$REPO" "$venv" "$CONSTRAINTS"
    done_step

    step "CPython $version: the sdist, built from source by pip (Rust on PATH)"
    venv="$SMOKE_DIR/py$version-sdist"
    "$python" -m venv "$venv"
    # One target directory for these builds, so each reuses what the last compiled.
    CARGO_TARGET_DIR="$REPO/target/wheels-sdist" PATH="$venv/bin:$PATH" bash -c '
        set -euo pipefail
        python -m pip install -q "numpy>=2.0" -c "$3"
        # PIP_CONSTRAINT reaches the isolated build environment (maturin) too.
        PIP_CONSTRAINT="$3" python -m pip install -q --no-binary=dlbridge "$1"/dlbridge-*.tar.gz
        cd "$2"
        python scripts/wheel_smoke.py
    ' _ "$DIST" "$REPO" "$CONSTRAINTS"
    done_step
done

if [[ "$ARM64_TESTS" != 0 ]]; then
    ARM64_DIR="$REPO/target/arm64-emulator"
    step "aarch64 CPython 3.11 under emulation (scripts/arm64_emulator.sh)"
    bash "$REPO/scripts/arm64_emulator.sh" "$ARM64_DIR"
    done_step

    step "aarch64 wheel under emulation: NumPy, ml_dtypes, pytest and hypothesis for aarch64, and dlbridge from dist/"
    # A site directory the emulated interpreter reads through PYTHONPATH: wheels
    # are zip files, and these need no install step (no scripts, no compiling).
    site="$ARM64_DIR/site"
    rm -rf "$site" "$ARM64_DIR/wheels"
    "$BUILD_VENV/bin/python" -m pip download -q --only-binary=:all: \
        --platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64 \
        --python-version 3.11 --implementation cp -c "$CONSTRAINTS" \
        -d "$ARM64_DIR/wheels" numpy ml_dtypes pytest hypothesis
    for wheel in "$ARM64_DIR"/wheels/*.whl "$DIST"/dlbridge-*_aarch64.whl; do
        "$BUILD_VENV/bin/python" -m zipfile -e "$wheel" "$site"
    done
    done_step

    step "aarch64 wheel under emulation: python -m dlbridge, the smoke test, the NumPy-only tests"
    # No Rust toolchain and no host site-packages in reach: the emulated
    # interpreter sees its own standard library and $site only.
    env -i HOME="$HOME" PATH="$SMOKE_PATH" PYTHONPATH="$site" PYTHONDONTWRITEBYTECODE=1 bash -c '
        set -euo pipefail
        cd "$2"
        "$1" -c "import platform, sys; assert platform.machine() == \"aarch64\", platform.machine()"
        "$1" -m dlbridge >"$3/demo.txt"
        head -1 "$3/demo.txt"
        "$1" scripts/wheel_smoke.py
        # The tests that import only NumPy, ml_dtypes and hypothesis, and start no
        # other Python (the emulator cannot exec one without binfmt).
        timeout 1200 "$1" -m pytest -q -p no:cacheprovider \
            python_tests/test_casts.py python_tests/test_pickle.py \
            python_tests/test_threads.py python_tests/test_properties.py
    ' _ "$ARM64_DIR/python" "$REPO" "$ARM64_DIR"
    done_step
fi

echo
echo "dist/:"
ls -l "$DIST"
