#!/usr/bin/env bash
# One call into three extensions doing the same work (dlbridge, rust-numpy,
# nanobind), timed side by side in one process:
#
#   bash benches/extension_calls/run.sh [--quick] [--no-docs]
#
# Uses (or creates) the virtual environment at $VENV (default: the repository's
# .venv, as scripts/test.sh and scripts/bench.sh), installs what the builds need
# from PyPI (maturin, nanobind, scikit-build-core, cmake, ninja; numpy and torch),
# builds dlbridge and the three extensions in release mode into target/ (the Rust
# ones in target/extension_calls, nanobind's CMake build under it), and runs
# runner.py, which prints the table and writes it to results.md and to the end of
# docs/benchmarks.md. SKIP_DLBRIDGE_BUILD=1 skips rebuilding dlbridge itself
# (scripts/bench.sh has just built it).
set -euo pipefail
HERE="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd -- "$HERE/../.." && pwd -P)"
VENV="${VENV:-$REPO/.venv}"
if ! [[ -x "$VENV/bin/python" ]]; then
    "${PYTHON:-python3}" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q 'maturin>=1.9.4,<2' 'numpy>=2.0' 'torch>=2.4' \
    'nanobind>=2.0' 'scikit-build-core>=0.10' cmake ninja
export VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" PYO3_PYTHON="$VENV/bin/python"
unset PYO3_BUILD_EXTENSION_MODULE

if [[ "${SKIP_DLBRIDGE_BUILD:-0}" != 1 ]]; then
    echo "--- dlbridge (maturin develop --release)"
    (cd "$REPO" && maturin develop --release)
fi
# Their own workspace and target directory: the main crate's build is untouched.
for crate in dlbridge_ext rust_numpy_ext; do
    echo "--- $crate (maturin develop --release)"
    (cd "$HERE/$crate" && CARGO_TARGET_DIR="$REPO/target/extension_calls" maturin develop --release)
done
echo "--- nanobind_ext (scikit-build-core, Release)"
"$VENV/bin/python" -m pip install -q --no-build-isolation --no-deps "$HERE/nanobind_ext"

echo "--- runner.py"
exec "$VENV/bin/python" "$HERE/runner.py" "$@"
