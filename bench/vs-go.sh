#!/usr/bin/env bash
# bamboo against Go, round by round, on one workload.
#
#   bench/vs-go.sh PEERS GO_BENCH ROUNDS WORKLOAD[:ROW] [N]
#
# PEERS: a build of bench/peers; GO_BENCH: the Go side (bench/run.sh builds
# it into $CARGO_TARGET_DIR/go/go-bench). Each round runs bamboo, then Go
# (GOMAXPROCS=2, as bench/run.sh), one process each, and prints both
# figures and their ratio: the spread of a row's ratio over rounds, where
# the table shows one median. ROW picks another line the workload prints
# (`parked:parked_1m_release`); N is passed as `--n N` / `-n N` (the
# parked coroutines), e.g. `bench/vs-go.sh P G 5 parked:parked_1m_release 1000000`.
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,13p' "$0"; exit 2; }
peers=$1 gobench=$2 rounds=$3 w=${4%%:*} row=${4#*:} n=${5:-}
pick() { awk -v w="$row" -v rt="$1" '$1 == rt && $2 == w && $3 ~ /^[0-9.]+$/ {print $3; exit}'; }
for i in $(seq "$rounds"); do
    if [ -n "$n" ]; then
        b=$("$peers" bamboo "$w" --n "$n" 2>/dev/null | pick bamboo)
        g=$(GOMAXPROCS=2 "$gobench" -n "$n" "$w" 2>/dev/null | pick go)
    else
        b=$("$peers" bamboo "$w" 2>/dev/null | pick bamboo)
        g=$(GOMAXPROCS=2 "$gobench" "$w" 2>/dev/null | pick go)
    fi
    awk -v i="$i" -v r="$row" -v b="${b:-nan}" -v g="${g:-nan}" \
        'BEGIN { printf "round %d %s bamboo %s go %s ratio %s\n", i, r, b, g, (b + 0 > 0 && g + 0 > 0) ? sprintf("%.3f", b / g) : "nan" }'
done
