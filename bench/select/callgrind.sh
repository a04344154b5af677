#!/usr/bin/env bash
# Instructions per rendezvous ping-pong round trip (runtime/examples/
# pingpong.rs), this tree vs a base commit, under callgrind: the
# deterministic figure behind docs/sync.md's ping-pong table (wall times
# on a shared machine drift; instruction counts do not).
#
#   bench/select/callgrind.sh [--base REV] [--workers W] [--n N]
#
#   --base REV   the commit to compare with (default: the commit before
#                the select rewrite, db550b0); the example is copied into
#                its tree, so both binaries have the same shape
#   --workers W  runtime workers (default 1)
#   --n N        round trips of the shorter run (default 20000)
#
# A figure is (I(2N) - I(N)) / N on the busiest thread (the worker): the
# difference cancels start-up and shutdown. Needs valgrind
# (`apt-get install valgrind`); without it, prints that it skipped.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
BASE=db550b0
W=1
N=20000
while [ $# -gt 0 ]; do
    case "$1" in
        --base) BASE="$2"; shift 2 ;;
        --workers) W="$2"; shift 2 ;;
        --n) N="$2"; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
if ! command -v valgrind >/dev/null 2>&1; then
    echo "skipped: valgrind not installed (apt-get install valgrind)"
    exit 0
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/target-bench-select}
(cd "$ROOT" && cargo build --release -q -p bamboo --example pingpong)
NEW=$CARGO_TARGET_DIR/release/examples/pingpong
BASEDIR=$(mktemp -d)
trap 'rm -rf "$BASEDIR"' EXIT
git -C "$ROOT" archive "$BASE" | tar -x -C "$BASEDIR"
cp "$ROOT/runtime/examples/pingpong.rs" "$BASEDIR/runtime/examples/"
(cd "$BASEDIR" && CARGO_TARGET_DIR=$CARGO_TARGET_DIR/base cargo build --release -q -p bamboo --example pingpong)
OLD=$CARGO_TARGET_DIR/base/release/examples/pingpong

# Instructions of the busiest thread of one run.
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
    echo $(((b - a) / N))
}
o=$(per_rt "$OLD")
n=$(per_rt "$NEW")
echo "| instructions per round trip ($W worker(s)) | base $(git -C "$ROOT" rev-parse --short "$BASE") | this tree $(git -C "$ROOT" rev-parse --short HEAD) | new/base |"
echo "|---|---|---|---|"
echo "| ping-pong | $o | $n | $(awk -v o="$o" -v n="$n" 'BEGIN { printf "%.2f", n/o }') |"
