#!/usr/bin/env bash
# Run the benchmark against PyTorch and NumPy and refresh docs/benchmarks.{md,png}.
#
#   bash scripts/bench.sh [--quick] [--extensions]
#
# Uses (or creates) the same .venv as scripts/test.sh, adds matplotlib for the plot,
# builds dlbridge in release mode, and runs benches/compare.py. With --extensions it
# first runs benches/extension_calls/run.sh too (dlbridge, rust-numpy and nanobind
# extensions side by side; it builds all three), whose section compare.py keeps at
# the end of docs/benchmarks.md.
set -euo pipefail
REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"
VENV="${VENV:-$REPO/.venv}"
if ! [[ -x "$VENV/bin/python" ]]; then
    "${PYTHON:-python3}" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q 'maturin>=1.9.4,<2' 'numpy>=2.0' 'torch>=2.4' matplotlib
export VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH"
unset PYO3_BUILD_EXTENSION_MODULE
maturin develop --release
args=()
extensions=0
for arg in "$@"; do
    if [[ "$arg" == --extensions ]]; then extensions=1; else args+=("$arg"); fi
done
if [[ $extensions == 1 ]]; then
    quick=()
    [[ " ${args[*]-} " == *" --quick "* ]] && quick=(--quick)
    VENV="$VENV" SKIP_DLBRIDGE_BUILD=1 bash benches/extension_calls/run.sh "${quick[@]}"
fi
exec "$VENV/bin/python" benches/compare.py "${args[@]}"
