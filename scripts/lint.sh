#!/usr/bin/env bash
# Every lint, Rust and Python, in one command (scripts/test.sh calls it):
#
#   bash scripts/lint.sh
#
# cargo fmt and clippy (-D warnings) for the core, the Python layer, the example
# extension, the second test extension (tests/second_extension) and the benchmark's
# extensions (benches/extension_calls), ruff check and ruff format for the Python code, and mypy's stubtest of
# the type stubs against the built extension (so build it first), and the docs site
# built with warnings as errors. Uses the virtual
# environment at $VENV (default: .venv) for ruff and for PyO3's interpreter.
set -euo pipefail
REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"
VENV="${VENV:-$REPO/.venv}"
export PYO3_PYTHON="${PYO3_PYTHON:-$VENV/bin/python}"
unset PYO3_BUILD_EXTENSION_MODULE
EXAMPLE="$REPO/examples/rust_extension"
SECOND="$REPO/tests/second_extension"
EXTCALLS="$REPO/benches/extension_calls"

for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        rustup component add "$component"
    fi
done

echo "--- cargo fmt --check (crate, example, second test extension, benchmark extensions)"
cargo fmt --all -- --check
cargo fmt --manifest-path "$EXAMPLE/Cargo.toml" -- --check
cargo fmt --manifest-path "$SECOND/Cargo.toml" -- --check
cargo fmt --manifest-path "$EXTCALLS/Cargo.toml" --all -- --check
echo "--- ruff check / ruff format --check"
"$VENV/bin/ruff" check python python_tests examples benches "$SECOND"
"$VENV/bin/ruff" format --check python python_tests examples benches "$SECOND"
echo "--- cargo clippy (core, no Python)"
cargo clippy --all-targets -- -D warnings
echo "--- cargo clippy --features python"
cargo clippy --all-targets --features python -- -D warnings
echo "--- cargo clippy (examples/rust_extension)"
CARGO_TARGET_DIR="$REPO/target/example" cargo clippy --manifest-path "$EXAMPLE/Cargo.toml" -- -D warnings
echo "--- cargo clippy (tests/second_extension, sharing the example's target directory)"
CARGO_TARGET_DIR="$REPO/target/example" cargo clippy --manifest-path "$SECOND/Cargo.toml" -- -D warnings
echo "--- cargo clippy (benches/extension_calls, same lock file and target directory as the example)"
CARGO_TARGET_DIR="$REPO/target/example" cargo clippy --manifest-path "$EXTCALLS/Cargo.toml" --workspace -- -D warnings
echo "--- mypy stubtest: python/dlbridge/_dlbridge.pyi against the built module"
if ! "$VENV/bin/python" -c "import dlbridge._dlbridge" 2>/dev/null; then
    echo "dlbridge is not built in $VENV: run 'maturin develop' first (scripts/test.sh does)" >&2
    exit 1
fi
# The names torch's tensors have and dlbridge's do not are on the class only
# to raise AttributeError with a hint (src/python/torch_only.rs): not API.
allowlist="$(mktemp)"
trap 'rm -f "$allowlist"' EXIT
sed 's/^/dlbridge._dlbridge.Tensor./' src/python/torch_only.txt > "$allowlist"
"$VENV/bin/python" -m mypy.stubtest dlbridge._dlbridge --allowlist "$allowlist"
echo "--- mkdocs build --strict (the docs site; warnings are errors)"
"$VENV/bin/mkdocs" build --strict --quiet
echo "--- all lints clean"
