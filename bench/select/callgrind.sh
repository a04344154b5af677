#!/usr/bin/env bash
# Instructions per rendezvous ping-pong round trip (runtime/examples/
# pingpong.rs) or per yield (runtime/examples/yieldloop.rs: two
# coroutines yielding to each other), this tree vs a base commit, under
# callgrind: the deterministic figure behind docs/sync.md's ping-pong
# table and docs/benchmarks.md's switch figures (wall times on a shared
# machine drift; instruction counts do not).
#
#   bench/select/callgrind.sh [--base REV|none] [--workers W] [--n N]
#                             [--example pingpong|yieldloop]
#
#   --base REV   the commit to compare with (default: the commit before
#                the select rewrite, db550b0); the example is copied into
#                its tree, so both binaries have the same shape; `none`:
#                this tree only
#   --workers W  runtime workers (default 1)
#   --n N        round trips (yields per coroutine) of the shorter run
#                (default 20000)
#   --example E  pingpong (default) or yieldloop
#
# A figure is (I(2N) - I(N)) / N on the busiest thread (the worker): the
# difference cancels start-up and shutdown; for yieldloop it is divided by
# 2 more (N more yields of each of the two coroutines). Needs valgrind
# (`apt-get install valgrind`); without it, prints that it skipped.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
BASE=db550b0
W=1
N=20000
EX=pingpong
while [ $# -gt 0 ]; do
    case "$1" in
        --base) BASE="$2"; shift 2 ;;
        --workers) W="$2"; shift 2 ;;
        --n) N="$2"; shift 2 ;;
        --example) EX="$2"; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
if ! command -v valgrind >/dev/null 2>&1; then
    echo "skipped: valgrind not installed (apt-get install valgrind)"
    exit 0
fi
case "$EX" in
    pingpong) WHAT="round trip"; DIV=1 ;;
    yieldloop) WHAT="yield"; DIV=2 ;;
    *) echo "unknown example $EX (pingpong, yieldloop)" >&2; exit 2 ;;
esac
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/target-bench-select}
(cd "$ROOT" && cargo build --release -q -p bamboo --example "$EX")
NEW=$CARGO_TARGET_DIR/release/examples/$EX
BASEDIR=$(mktemp -d)
trap 'rm -rf "$BASEDIR"' EXIT
if [ "$BASE" != none ]; then
    git -C "$ROOT" archive "$BASE" | tar -x -C "$BASEDIR"
    cp "$ROOT/runtime/examples/$EX.rs" "$BASEDIR/runtime/examples/"
    (cd "$BASEDIR" && CARGO_TARGET_DIR=$CARGO_TARGET_DIR/base cargo build --release -q -p bamboo --example "$EX")
    OLD=$CARGO_TARGET_DIR/base/release/examples/$EX
fi

# Instructions of the busiest thread of one run. With no preemption: on
# a loaded machine the monitor may cut a slice of the slow valgrind run,
# and a preempted ping-pong can settle into another steady pattern of
# the channel's paths (the extra instructions are all in the send/recv
# code), ~6% more per round trip for the rest of the run.
export BAMBOO_TIME_SLICE=3600s
count() {
    local out=$BASEDIR/cg.$RANDOM
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out" \
        "$1" "$W" "$2" >/dev/null 2>&1
    for f in "$out"-*; do awk '/^totals:/ {print $2}' "$f"; done | sort -n | tail -1
}
per_rt() {
    local a b
    a=$(count "$1" "$N")
    b=$(count "$1" $((2 * N)))
    echo $(((b - a) / (N * DIV)))
}
n=$(per_rt "$NEW")
if [ "$BASE" = none ]; then
    echo "| instructions per $WHAT ($W worker(s)) | this tree $(git -C "$ROOT" rev-parse --short HEAD) |"
    echo "|---|---|"
    echo "| $EX | $n |"
    exit 0
fi
o=$(per_rt "$OLD")
echo "| instructions per $WHAT ($W worker(s)) | base $(git -C "$ROOT" rev-parse --short "$BASE") | this tree $(git -C "$ROOT" rev-parse --short HEAD) | new/base |"
echo "|---|---|---|---|"
echo "| $EX | $o | $n | $(awk -v o="$o" -v n="$n" 'BEGIN { printf "%.2f", n/o }') |"
