#!/usr/bin/env bash
# Network benchmarks, bamboo side by side with Go (net/http, net), may
# (may_minihttp for HTTP) and tokio, interleaved in one run (docs/net.md,
# "Benchmarks"):
#   http   wrk -t1 -c64 keep-alive "Hello, World!" on 2 workers: requests/s, p99
#   echo   64 connections of 64-byte round trips, server + clients in one process
#   idle   RSS delta / connections with 4,000 connections open and idle
#
#   bench/net/run.sh                 # 3 rounds, wrk 10 s, echo 5 s (~5 min)
#   ROUNDS=1 WRK_SECS=3 bench/net/run.sh   # quick look
#
# Needs wrk (apt-get install -y wrk) and Go (bench/install-peers.sh; Go 1.23
# at /usr/lib/go-1.23 is preferred over the `go` on PATH).
set -euo pipefail
cd "$(dirname "$0")"
ROUNDS=${ROUNDS:-3}
WRK_SECS=${WRK_SECS:-10}
ECHO_SECS=${ECHO_SECS:-5}
IDLE_CONNS=${IDLE_CONNS:-4000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/target-bench-net}
mkdir -p "$CARGO_TARGET_DIR"
OUT="$CARGO_TARGET_DIR/net-results.txt"
ERR="$CARGO_TARGET_DIR/net-results.stderr"

command -v wrk >/dev/null || { echo "run.sh: wrk missing (apt-get install -y wrk)" >&2; exit 1; }
GO=""
if [ -x /usr/lib/go-1.23/bin/go ]; then GO=/usr/lib/go-1.23/bin/go
elif command -v go >/dev/null; then GO=$(command -v go); echo "warning: Go 1.23 not found, using $($GO version)" >&2
else echo "warning: no Go (bench/install-peers.sh); its rows are skipped" >&2; fi

echo "== build"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/netbench"
GOBIN="$CARGO_TARGET_DIR/go-net"
if [ -n "$GO" ]; then
    (cd go && GOCACHE="$CARGO_TARGET_DIR/go-cache" GOPATH="$CARGO_TARGET_DIR/gopath" "$GO" build -o "$GOBIN" .)
fi
ulimit -n "$(ulimit -Hn)"
: > "$OUT"; : > "$ERR"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r); go: ${GO:+$($GO version)}"

PORT=18181
wait_port() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    return 1
}
# wrk latency like "1.23ms" / "850.00us" / "1.02s" -> microseconds
to_us() { awk -v v="$1" 'BEGIN { u=v; sub(/[0-9.]+/, "", u); n=v+0;
    if (u=="us") print n; else if (u=="ms") print n*1000; else if (u=="s") print n*1e6; else print n }'; }

http_one() { # runtime label, command...
    local name=$1; shift
    "$@" "127.0.0.1:$PORT" 2>>"$ERR" &
    local pid=$!
    if ! wait_port "$PORT"; then echo "$name http_rps fail server-did-not-start" >> "$OUT"; kill "$pid" 2>/dev/null; return; fi
    wrk -t1 -c64 -d1s "http://127.0.0.1:$PORT/" >/dev/null 2>&1 || true   # warm-up
    local w; w=$(wrk -t1 -c64 -d"${WRK_SECS}s" --latency "http://127.0.0.1:$PORT/" 2>&1)
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
    local rps p99 errs
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$w")
    p99=$(awk '$1=="99%" {print $2}' <<<"$w")
    errs=$(grep -c "Non-2xx\|Socket errors" <<<"$w" || true)
    [ "$errs" = 0 ] || echo "$name http: $(grep 'Non-2xx\|Socket errors' <<<"$w")" >> "$ERR"
    echo "$name http_rps ${rps:-fail} req/s" >> "$OUT"
    echo "$name http_p99 $(to_us "${p99:-0}") us" >> "$OUT"
    PORT=$((PORT + 1))
}

for r in $(seq "$ROUNDS"); do
    echo "== round $r/$ROUNDS"
    http_one bamboo "$BIN" http bamboo
    [ -n "$GO" ] && http_one go "$GOBIN" http
    http_one may "$BIN" http may_minihttp
    http_one tokio "$BIN" http tokio
    for rt in bamboo may tokio; do "$BIN" echo $rt 64 "$ECHO_SECS" >> "$OUT" 2>>"$ERR" || echo "$rt echo fail" >> "$OUT"; done
    [ -n "$GO" ] && { "$GOBIN" echo 64 "$ECHO_SECS" | sed 's/^go echo_rtt_64conns/go echo_rtt_64conns/' >> "$OUT" 2>>"$ERR" || true; }
    for rt in bamboo may tokio; do "$BIN" idle $rt "$IDLE_CONNS" >> "$OUT" 2>>"$ERR" || echo "$rt idle fail" >> "$OUT"; done
    [ -n "$GO" ] && { "$GOBIN" idle "$IDLE_CONNS" >> "$OUT" 2>>"$ERR" || true; }
done

echo "== results (median of $ROUNDS rounds; raw: $OUT)"
awk '
{ key=$2; rt=$1; v[key, rt, ++n[key, rt]] = $3; unit[key]=$4; keys[key]=1; rts[rt]=1 }
function median(key, rt,   k, i, j, t, a) {
    k = n[key, rt]; if (k == 0) return "";
    for (i = 1; i <= k; i++) a[i] = v[key, rt, i] + 0;
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t=a[i]; a[i]=a[j]; a[j]=t }
    return (k % 2) ? a[(k+1)/2] : (a[k/2] + a[k/2+1]) / 2
}
END {
    order = "http_rps http_p99 echo_rtt_64conns idle_rss_per_conn_'"$IDLE_CONNS"'"
    split(order, ks, " ")
    printf "%-26s %12s %12s %12s %12s   %s\n", "workload", "bamboo", "go", "may", "tokio", "bamboo vs best peer"
    for (i = 1; i <= 4; i++) {
        key = ks[i]; if (!(key in keys)) continue
        b = median(key, "bamboo"); best = ""; who = ""
        split("go may tokio", ps, " ")
        for (p = 1; p <= 3; p++) {
            m = median(key, ps[p]); if (m == "") continue
            lower_better = (key ~ /p99|idle/)
            if (best == "" || (lower_better ? m < best : m > best)) { best = m; who = ps[p] }
        }
        ratio = (best == "" || best == 0) ? "-" : sprintf("%.2fx %s (%s)", (key ~ /p99|idle/) ? best / b : b / best, (key ~ /p99|idle/) ? "(best/bamboo, >1 = bamboo better)" : "(bamboo/best, >1 = bamboo better)", who)
        printf "%-26s %12s %12s %12s %12s   %s  [%s]\n", key, b, median(key, "go"), median(key, "may"), median(key, "tokio"), ratio, unit[key]
    }
}' "$OUT"
