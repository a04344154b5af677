#!/usr/bin/env bash
# select over two ready buffered channels (ns per select): bamboo (select!
# and Select) vs crossbeam-channel's select! on a thread vs Go's select;
# and rendezvous ping-pong of this tree vs a base commit (must not regress).
#
#   bench/select/run.sh [--rounds N] [--base REV]
#
#   --rounds N  interleaved rounds (default 5); a cell is the median
#   --base REV  the commit whose ping-pong is the baseline (default: the
#               merge-base with main's first parent before the select work,
#               i.e. `git merge-base HEAD main` when HEAD is ahead of main,
#               else HEAD~1)
#
# Go: uses `go` from PATH, else /usr/lib/go-1.23/bin/go (Debian's
# golang-1.23-go, bookworm-backports); without either the Go column says
# skipped. Build output: $CARGO_TARGET_DIR (default /tmp/target-bench-select).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
ROUNDS=5
BASE=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS="$2"; shift 2 ;;
        --base) BASE="$2"; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/target-bench-select}
if [ -z "$BASE" ]; then
    BASE=$(git -C "$ROOT" merge-base HEAD main 2>/dev/null || true)
    if [ -z "$BASE" ] || [ "$BASE" = "$(git -C "$ROOT" rev-parse HEAD)" ]; then
        BASE=$(git -C "$ROOT" rev-parse HEAD~1)
    fi
fi

GO=""
if command -v go >/dev/null 2>&1; then GO=$(command -v go);
elif [ -x /usr/lib/go-1.23/bin/go ]; then GO=/usr/lib/go-1.23/bin/go; fi

echo "== building (this tree $(git -C "$ROOT" rev-parse --short HEAD), base $(git -C "$ROOT" rev-parse --short "$BASE"))" >&2
cargo build --release -q
BIN=$CARGO_TARGET_DIR/release/select-bench
(cd "$ROOT" && cargo build --release -q -p bamboo --example quickbench)
QB_NEW=$CARGO_TARGET_DIR/release/examples/quickbench
BASEDIR=$(mktemp -d)
trap 'rm -rf "$BASEDIR"' EXIT
git -C "$ROOT" archive "$BASE" | tar -x -C "$BASEDIR"
(cd "$BASEDIR" && CARGO_TARGET_DIR=$CARGO_TARGET_DIR/base cargo build --release -q -p bamboo --example quickbench)
QB_BASE=$CARGO_TARGET_DIR/base/release/examples/quickbench
GOBIN=""
if [ -n "$GO" ]; then
    (cd go && GOFLAGS=-mod=mod "$GO" build -o "$CARGO_TARGET_DIR/select-go" .)
    GOBIN=$CARGO_TARGET_DIR/select-go
    echo "go: $("$GO" version)" >&2
fi

OUT=$(mktemp)
for r in $(seq 1 "$ROUNDS"); do
    echo "== round $r/$ROUNDS" >&2
    # Rotate the order each round so a burst of load elsewhere is shared.
    runs=("bamboo" "bamboo_dyn" "crossbeam" "go")
    for k in 0 1 2 3; do
        who=${runs[$(( (k + r) % 4 ))]}
        case $who in
            go) [ -n "$GOBIN" ] && GOMAXPROCS=2 "$GOBIN" select2 >>"$OUT" ;;
            *) "$BIN" "$who" select2 >>"$OUT" ;;
        esac
    done
    [ -n "$GOBIN" ] && GOMAXPROCS=2 "$GOBIN" pingpong >>"$OUT"
    "$BIN" crossbeam pingpong >>"$OUT"
    for qb in "$QB_BASE" "$QB_NEW"; do
        tag=$([ "$qb" = "$QB_BASE" ] && echo base || echo new)
        "$qb" | awk -v t="$tag" '/ping-pong \(1 worker\)/ {print "bamboo_" t " pingpong_w1 " $4 " ns/op"}
                                /ping-pong \(2 workers\)/ {print "bamboo_" t " pingpong_w2 " $4 " ns/op"}' >>"$OUT"
    done
done

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "skipped"; else if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }
cell() { awk -v w="$1" -v k="$2" '$1==w && $2==k {print $3}' "$OUT" | median; }
echo
echo "| workload | bamboo select! | bamboo Select | crossbeam select! (thread) | Go 1.23 select | bamboo/Go |"
echo "|---|---|---|---|---|---|"
b=$(cell bamboo select2); d=$(cell bamboo_dyn select2); c=$(cell crossbeam select2); g=$(cell go select2)
ratio=$(awk -v b="$b" -v g="$g" 'BEGIN { if (g+0 > 0) printf "%.2f", b/g; else print "-" }')
echo "| select over 2 ready buffered channels, ns/select | $b | $d | $c | $g | $ratio |"
echo
echo "| ping-pong (rendezvous round trip), ns | base $(git -C "$ROOT" rev-parse --short "$BASE") | this tree | new/base |"
echo "|---|---|---|---|"
for w in pingpong_w1 pingpong_w2; do
    o=$(cell bamboo_base "$w"); n=$(cell bamboo_new "$w")
    echo "| $w | $o | $n | $(awk -v o="$o" -v n="$n" 'BEGIN { printf "%.2f", n/o }') |"
done
echo
echo "(peers, same run: Go pingpong $(cell go pingpong) ns, crossbeam threads pingpong $(cell crossbeam pingpong) ns; $ROUNDS rounds, medians; load at start: $(cut -d' ' -f1-3 /proc/loadavg))"
