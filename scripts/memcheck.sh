#!/usr/bin/env bash
# Run the core's Rust tests (and the fuzz harness) under valgrind.
#
#   bash scripts/memcheck.sh            # DLBRIDGE_FUZZ_CASES defaults to 30000 here
#
# Fails if valgrind reports an invalid access, a use of uninitialised memory or a
# definite leak in any test binary.
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
export DLBRIDGE_FUZZ_CASES="${DLBRIDGE_FUZZ_CASES:-30000}"
mapfile -t binaries < <(cargo test --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])')
status=0
for binary in "${binaries[@]}"; do
    echo "== $binary"
    valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite \
        --errors-for-leak-kinds=definite --quiet \
        "$binary" --test-threads=1 -q || { echo "FAILED under valgrind: $binary"; status=1; }
done
exit $status
