#!/usr/bin/env bash
# The test command of README.md: everything CI checks, in order.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
echo "== fmt"; cargo fmt --all -- --check
echo "== clippy"; cargo clippy --workspace --all-targets -- -D warnings
echo "== tests (normal mode)"; cargo test --workspace --release
echo "== tests (stress mode: stackmove=1,stackpoison=1)"
BAMBOO_DEBUG=stackmove=1,stackpoison=1 cargo test --workspace --release
echo "== all green"
