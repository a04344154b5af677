#!/usr/bin/env bash
# Wall time per rendezvous ping-pong round trip (runtime/examples/
# pingpong.rs), this tree vs a base commit, interleaved: the two builds
# alternate, the order flips every round, and each cell is the median (and
# the fastest) of R runs. The figure behind docs/sync.md's wall-time table.
#
#   bench/select/pingpong-wall.sh [--base REV] [--rounds R] [--n N]
#
#   --base REV   the commit to compare with (default db550b0, the
#                channels before the select rewrite); the example is
#                copied into its tree, so both binaries have the same shape
#   --rounds R   runs per build and worker count (default 21)
#   --n N        round trips per run (default 200000)
#
# Runs 1 and 2 workers; prints the load average before and after.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
BASE=db550b0
R=21
N=200000
while [ $# -gt 0 ]; do
    case "$1" in
        --base) BASE="$2"; shift 2 ;;
        --rounds) R="$2"; shift 2 ;;
        --n) N="$2"; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/target-bench-select}
(cd "$ROOT" && cargo build --release -q -p bamboo --example pingpong)
NEW=$CARGO_TARGET_DIR/release/examples/pingpong
BASEDIR=$(mktemp -d)
trap 'rm -rf "$BASEDIR"' EXIT
git -C "$ROOT" archive "$BASE" | tar -x -C "$BASEDIR"
cp "$ROOT/runtime/examples/pingpong.rs" "$BASEDIR/runtime/examples/"
(cd "$BASEDIR" && CARGO_TARGET_DIR=$CARGO_TARGET_DIR/base cargo build --release -q -p bamboo --example pingpong)
OLD=$CARGO_TARGET_DIR/base/release/examples/pingpong

# ns per round trip of one run: "ping-pong (W worker(s)): X ns per round trip"
one() { "$1" "$2" "$N" | awk '{print $(NF-4)}'; }
stat() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; print m, a[1]}'; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| ping-pong, ns per round trip | base $(git -C "$ROOT" rev-parse --short "$BASE") median / fastest | this tree $(git -C "$ROOT" rev-parse --short HEAD) median / fastest | new/base (median) |"
echo "|---|---|---|---|"
for w in 1 2; do
    out=$BASEDIR/wall.$w
    : >"$out"
    for i in $(seq 1 "$R"); do
        if [ $((i % 2)) = 0 ]; then order="$OLD $NEW"; else order="$NEW $OLD"; fi
        for b in $order; do
            tag=$([ "$b" = "$OLD" ] && echo old || echo new)
            echo "$tag $(one "$b" "$w")" >>"$out"
        done
    done
    read -r om of < <(awk '$1=="old" {print $2}' "$out" | stat)
    read -r nm nf < <(awk '$1=="new" {print $2}' "$out" | stat)
    echo "| $w worker(s) | $om / $of | $nm / $nf | $(awk -v o="$om" -v n="$nm" 'BEGIN { printf "%.2f", n/o }') |"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg) ($R rounds of $N round trips)"
