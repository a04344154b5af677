#!/usr/bin/env bash
# Side-by-side benchmarks: bamboo vs Go 1.23 vs may vs tokio, on this
# machine, in the same run, reported as ratios (see docs/benchmarks.md).
#
#   bench/run.sh [--rounds N] [--quick] [--no-1m] [--only W1,W2] [--out FILE]
#
#   --rounds N   rounds of every (workload, runtime) process (default 3);
#                each cell of the table is the median over rounds
#   --quick      1 round, no 1M-parked run (a smoke test, ~1 min once built)
#   --no-1m      skip the 1,000,000-parked run of every round (~4.5 GB RSS)
#   --only LIST  run only these workloads (comma-separated names below)
#   --out FILE   keep the raw result lines there (default: a temp file)
#
# Environment: CARGO_TARGET_DIR (default /tmp/target-bench), BENCH_PARKED
# (parked coroutines per round, default 100000), BENCH_NO_GO=1 (run as if
# go were not installed), GO (the go binary; default /usr/lib/go-1.23/bin/go
# from bench/install-peers.sh, else `go` on PATH, with a warning).
#
# Runs are interleaved: in every round each workload runs once per runtime,
# in an order rotated by round, so a burst of load on this shared machine
# hits every runtime instead of one. Every runtime gets 2 worker threads
# (the _w1 workloads: 1).
set -euo pipefail

ROUNDS=3
RUN_1M=1
ONLY=""
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS="$2"; shift 2 ;;
        --quick) ROUNDS=1; RUN_1M=0; shift ;;
        --no-1m) RUN_1M=0; shift ;;
        --only) ONLY="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

HERE="$(cd "$(dirname "$0")" && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/target-bench}"
PARKED="${BENCH_PARKED:-100000}"
PEERS="$CARGO_TARGET_DIR/release/peers"
GOBIN="$CARGO_TARGET_DIR/go/go-bench"
[ -n "$OUT" ] || OUT="$(mktemp /tmp/bench-results.XXXXXX)"
LOG="$OUT.stderr"
: >"$OUT"
: >"$LOG"

# ---------------------------------------------------------------- build
echo "== building (release) into $CARGO_TARGET_DIR" >&2
METRICS_NOTE=""
if ! (cd "$HERE/peers" && cargo build --release --quiet 2>>"$LOG"); then
    echo "   bamboo-metrics (or a peer) did not build; retrying without the metrics workload" >&2
    (cd "$HERE/peers" && cargo build --release --quiet --no-default-features)
    METRICS_NOTE="bamboo metrics_read skipped: bamboo-metrics did not compile"
fi

HAVE_GO=0
GO="${GO:-}"
if [ -z "$GO" ]; then
    if [ -x /usr/lib/go-1.23/bin/go ]; then
        GO=/usr/lib/go-1.23/bin/go
    elif command -v go >/dev/null 2>&1; then
        GO="$(command -v go)"
        echo "WARNING: Go 1.23 not found (bench/install-peers.sh); using $("$GO" version)" >&2
    fi
fi
if [ -z "${BENCH_NO_GO:-}" ] && [ -n "$GO" ]; then
    mkdir -p "$CARGO_TARGET_DIR/go"
    (cd "$HERE/go" && GOCACHE="$CARGO_TARGET_DIR/gocache" GOFLAGS=-mod=mod GOTOOLCHAIN=local \
        "$GO" build -o "$GOBIN" .)
    HAVE_GO=1
else
    echo "skipped: go not installed (bench/install-peers.sh)" >&2
    echo "go-not-installed" >>"$OUT"
fi

# ---------------------------------------------------------------- run
# parked_1m is the `parked` workload with 1,000,000 coroutines (may is left
# out of it: it fails near 32k, see the parked row).
WORKLOADS=(spawn_join spawn_join_w1 spawn_batch skynet sieve sieve_w1 yield_w1 yield_w2
    pingpong pingpong_w1 deep_100k deep_1m deep_1m_100b hot_split parked parked_1m
    cpu2 cpu2_w1 cpu64 metrics)
[ "$RUN_1M" = 1 ] || WORKLOADS=("${WORKLOADS[@]/parked_1m/}")
if [ -n "$ONLY" ]; then
    IFS=, read -r -a WORKLOADS <<<"$ONLY"
fi
RUNTIMES=(bamboo go may tokio)

run_one() { # runtime workload [n]
    local rt="$1" w="$2" n="${3:-$PARKED}" rc=0 tmp
    if [ "$w" = parked_1m ]; then
        [ "$rt" != may ] || { echo "may parked_1m skip fails_near_32k_(vm.max_map_count)" >>"$OUT"; return 0; }
        w=parked n=1000000
    fi
    tmp="$(mktemp)"
    if [ "$rt" = go ]; then
        [ "$HAVE_GO" = 1 ] || { rm -f "$tmp"; return 0; }
        GOMAXPROCS=2 timeout 120 "$GOBIN" -n "$n" "$w" >"$tmp" 2>>"$LOG" || rc=$?
    else
        timeout 120 "$PEERS" "$rt" "$w" --n "$n" >"$tmp" 2>>"$LOG" || rc=$?
    fi
    if [ "$rc" != 0 ]; then
        # A crash (may running out of mappings, say) is a result too.
        echo "$rt $w fail exit_$rc" >>"$tmp"
        echo "   $rt $w exited with $rc (stderr in $LOG)" >&2
    fi
    cat "$tmp" >>"$OUT"
    rm -f "$tmp"
}

{
    echo "# date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# host $(uname -srm), $(nproc) cpus"
    echo "# load-before $(cut -d' ' -f1-3 /proc/loadavg)"
    [ "$HAVE_GO" = 1 ] && echo "# $("$GO" version) ($GO)"
    echo "# rustc $(rustc --version)"
    rev="$(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo unknown)"
    dirty="$(git -C "$HERE/.." status --porcelain -- runtime metrics 2>/dev/null | wc -l)"
    echo "# bamboo at commit $rev$([ "$dirty" != 0 ] && echo " + $dirty uncommitted file(s) in runtime/ metrics/")"
    grep -A1 -E '^name = "(may|tokio)"$' "$HERE/peers/Cargo.lock" | grep -v '^--' | paste - - \
        | sed 's/name = "\(.*\)"\tversion = "\(.*\)"/# \1 \2/'
} >>"$OUT"

start=$(date +%s)
for ((r = 0; r < ROUNDS; r++)); do
    echo "== round $((r + 1))/$ROUNDS" >&2
    for wi in "${!WORKLOADS[@]}"; do
        w="${WORKLOADS[$wi]}"
        [ -n "$w" ] || continue
        for k in 0 1 2 3; do
            rt="${RUNTIMES[$(((k + r + wi) % 4))]}"
            run_one "$rt" "$w"
        done
    done
done
echo "# load-after $(cut -d' ' -f1-3 /proc/loadavg), $(($(date +%s) - start)) s" >>"$OUT"

# ---------------------------------------------------------------- report
echo
grep '^# ' "$OUT" | sed 's/^# //'
echo
[ -n "$METRICS_NOTE" ] && echo "$METRICS_NOTE"
"$PEERS" report "$OUT"
echo
echo "raw results: $OUT (stderr of the runs: $LOG)"
