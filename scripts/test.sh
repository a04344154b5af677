#!/usr/bin/env bash
# The test command of README.md: everything CI checks, in order.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
echo "== fmt"; cargo fmt --all -- --check
# docs/ is the contract: code and docs never cite a file outside the
# repository (such as a "SPEC" section) for what they mean. Tracked files
# only (git grep), so build output under these folders cannot trip it.
echo "== docs stand alone"
STANDALONE=(runtime metrics stress-tests docs bench README.md)
if git grep -n "SPEC" -- "${STANDALONE[@]}"; then
    echo "cite docs/ instead of SPEC (lines above)" >&2
    exit 1
fi
echo "== clippy"; cargo clippy --workspace --all-targets -- -D warnings
echo "== doc"; RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
bash scripts/check-api.sh
echo "== loom models"; bash scripts/loom.sh
echo "== tests (normal mode)"; cargo test --workspace --release
echo "== tests (stress mode: stackmove=1,stackpoison=1)"
BAMBOO_DEBUG=stackmove=1,stackpoison=1 cargo test --workspace --release
echo "== valgrind (short pass; the full one: bash scripts/sanitize.sh)"
bash scripts/sanitize.sh --quick
# The soak's CI version (docs/stress.md, "The soak"): 60 s of every workload
# at once in the stress mode; fails when stack bytes in use, RSS, open fds or
# mappings grow after a 20 s warm-up the way a leak grows them (floors for the
# memory series, peaks for the counts), or fds are not back at the end.
echo "== soak (60 s, mixed --stack-move)"
cargo run --release -q -p bamboo-stress -- mixed --duration 60s --stack-move --workers 2 --soak
echo "== all green"
