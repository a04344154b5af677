#!/usr/bin/env bash
# Interleaved A/B of two builds of bench/peers on one workload.
#
#   bench/ab.sh OLD_PEERS NEW_PEERS ROUNDS WORKLOAD[:ROW] [PEERS_ARGS...]
#
# OLD_PEERS / NEW_PEERS: two `peers` binaries (build bench/peers at two
# commits into two CARGO_TARGET_DIRs). Runs `peers bamboo WORKLOAD`
# alternately, ROUNDS times each, and prints each build's median, min and
# max: on a shared, noisy machine only same-run ratios mean anything.
# ROW picks another line the workload prints (default: WORKLOAD itself)
# and PEERS_ARGS go to `peers` after the workload, e.g. the release of 1M
# parked coroutines: `bench/ab.sh A B 5 parked:parked_1m_release --n 1000000`.
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,13p' "$0"; exit 2; }
old=$1 new=$2 rounds=$3 w=${4%%:*} row=${4#*:}
shift 4
out=$(mktemp)
for _ in $(seq "$rounds"); do
    for b in "$old" "$new"; do
        v=$("$b" bamboo "$w" "$@" 2>&1 | awk -v w="$row" '$1 == "bamboo" && $2 == w && $3 ~ /^[0-9.]+$/ {print $3; exit}')
        echo "$b ${v:-nan}" >>"$out"
    done
done
for b in "$old" "$new"; do
    printf '%s %s median: ' "$row" "$b"
    grep -F "$b " "$out" | awk '{print $2}' | sort -n |
        awk '{a[NR]=$1} END {print a[int((NR+1)/2)], "(n=" NR ", min " a[1] ", max " a[NR] ")"}'
done
rm -f "$out"
