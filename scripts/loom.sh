#!/usr/bin/env bash
# loom models of the lock-free protocols (runtime/src/sched/models.rs and
# runtime/src/sync/models.rs, the select claim word):
# the real code built with `--cfg loom`, so crate::loom maps to loom's
# atomics, mutexes and threads. Each model has a twin that plants a known
# bug and asserts loom finds it (loom prints that interleaving: expected).
#
#   bash scripts/loom.sh          every model, CI settings (~2 s of checking)
#   bash scripts/loom.sh --full   and the stop-the-world models with 6
#                                 preemptions instead of 3 (~20 s more),
#                                 spawn_batch_wake with 3 instead of 2 (~6 s)
#
# Its own target directory, so the --cfg loom build does not evict the
# normal one.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg loom"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_LOOM:-target/loom}"
# loom panics on purpose in the planted-bug twins; keep their output short.
export RUST_BACKTRACE=0
cargo test -p bamboo --lib --release models::
if [[ "${1:-}" == "--full" ]]; then
    LOOM_MAX_PREEMPTIONS=6 cargo test -p bamboo --lib --release models::stw_
    LOOM_MAX_PREEMPTIONS=3 cargo test -p bamboo --lib --release models::spawn_batch_
fi
