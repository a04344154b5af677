#!/usr/bin/env bash
# Memory checkers over the runtime (docs/reliability.md, "Memory checkers"):
#
#   valgrind memcheck: the stress CLI and a representative set of test
#     binaries, --error-exitcode=1 --leak-check=full, with
#     scripts/valgrind.supp (proven false positives only, each explained).
#     A run also fails when valgrind warns "client switching stacks?": every
#     stack bamboo switches between is registered with valgrind.
#   AddressSanitizer (when a nightly toolchain is installed): the same
#     stress run and tests built with -Zsanitizer=address and the `sanitizer`
#     feature (corosensei announces every stack switch to ASan), once with
#     ASAN_OPTIONS=detect_stack_use_after_return=1 and once with leak
#     detection (see the two passes below for why not both at once).
#
#   bash scripts/sanitize.sh           # everything: valgrind ~9 min on 2 loaded
#                                      # cores, ASan ~5 min after its first build
#   bash scripts/sanitize.sh --quick   # CI: 2 s of the stress CLI under valgrind
#
# valgrind comes from scripts/install-tools.sh; without it the quick mode
# says it skipped and exits 0, the full mode fails. Logs: target/sanitize/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

MODE=full
case "${1:-}" in
    "") ;;
    --quick) MODE=quick ;;
    *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac

OUT=target/sanitize
mkdir -p "$OUT"
FAILED=()

# Test binaries run under both checkers: scheduler, sync, select, stacks
# (grow, stress mode, poison), cancel (forced unwinds), time, shutdown,
# blocking pool, sockets. Left out: crash/fatal (their children abort on
# purpose), the proptest suites and `parked` (a million coroutines: hours
# under valgrind), the mprotect binary (one VMA per guard).
TESTS=(sched sync sync_locks select stacks cancel time shutdown blocking net)
# Tests whose timing assumption does not hold at valgrind's speed (it runs
# one thread at a time): `eight_sleeps_run_in_parallel…` times 8 blocking
# sleeps of 300 ms against a bound (1.5 s under valgrind);
# `one_worker_keeps_running…` counts a ticker's rounds in a fixed window.
declare -A VG_SKIP=(
    [blocking]="--skip eight_sleeps_run_in_parallel_while_the_worker_runs_coroutines"
    [net]="--skip one_worker_keeps_running_while_coroutines_wait_on_sockets"
)

# test_exe <package> <test target>: path of the built test binary.
test_exe() {
    cargo test --release -q --no-run -p "$1" --test "$2" --message-format=json 2>/dev/null |
        grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4
}

# ---------------------------------------------------------------- valgrind
VG_FLAGS=(--error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,possible
          --show-leak-kinds=definite,possible --suppressions=scripts/valgrind.supp
          --num-callers=40)

# vg <name> <command...>: run under memcheck; log in $OUT/<name>.valgrind.log.
vg() {
    local name=$1; shift
    local log="$OUT/$name.valgrind.log" t0=$SECONDS rc=0
    valgrind "${VG_FLAGS[@]}" --log-file="$log" "$@" > "$OUT/$name.out" 2>&1 || rc=$?
    local errs lost
    errs=$(grep -o 'ERROR SUMMARY: [0-9,]* errors' "$log" | tail -1 | grep -o '[0-9,]*' | head -1)
    lost=$(grep -E 'definitely lost:|possibly lost:' "$log" | sed 's/.*== *//' | tr -s ' ' | paste -sd';' - | sed 's/;/; /')
    if grep -q 'client switching stacks' "$log"; then
        echo "valgrind $name: FAILED: valgrind saw an unregistered stack switch ($log)"
        FAILED+=("valgrind $name")
    elif [ "$rc" != 0 ]; then
        echo "valgrind $name: FAILED: exit $rc, ${errs:-?} errors ($log, $OUT/$name.out)"
        FAILED+=("valgrind $name")
    else
        echo "valgrind $name: ok in $((SECONDS - t0)) s (${errs:-0} errors; ${lost:-no leaks})"
    fi
}

if ! command -v valgrind > /dev/null 2>&1; then
    if [ "$MODE" = quick ]; then
        echo "valgrind: not installed (bash scripts/install-tools.sh): skipped"
        exit 0
    fi
    echo "valgrind: not installed; run bash scripts/install-tools.sh" >&2
    exit 1
fi
echo "== valgrind ($(valgrind --version))"
cargo build --release -q -p bamboo-stress
if [ "$MODE" = quick ]; then
    vg stress target/release/bamboo-stress mixed --duration 2s
else
    vg stress target/release/bamboo-stress mixed --duration 3s
    vg stress-stackmove target/release/bamboo-stress mixed --duration 2s --stack-move --stack-poison
    for t in "${TESTS[@]}"; do
        # shellcheck disable=SC2086 # VG_SKIP holds separate arguments
        vg "test-$t" "$(test_exe bamboo "$t")" --test-threads=2 ${VG_SKIP[$t]:-}
    done
fi

# ----------------------------------------------------- AddressSanitizer
if [ "$MODE" = full ]; then
    if cargo +nightly --version > /dev/null 2>&1; then
        echo "== AddressSanitizer ($(cargo +nightly --version))"
        host=$(rustc -vV | sed -n 's/^host: //p')
        # An explicit --target keeps build scripts and proc macros out of
        # the instrumented build; a separate target dir keeps the normal
        # build's artifacts.
        ASAN_CARGO=(env RUSTFLAGS=-Zsanitizer=address cargo +nightly)
        ASAN_TARGET=(--release --target "$host" --target-dir target/asan --features bamboo/sanitizer)
        "${ASAN_CARGO[@]}" build -q "${ASAN_TARGET[@]}" -p bamboo-stress
        # Two passes, because corosensei hands ASan a save slot on every
        # switch, so ASan never frees the fake stack of a finished coroutine
        # (it does only when a fiber's last switch passes no slot): with
        # detect_stack_use_after_return those orphaned fake stacks add up,
        # and LeakSanitizer's fork at exit fails with ENOMEM ("TestPTrace()
        # failed to fork"), which skips the leak check. So: use-after-return
        # without leak detection, then leak detection without it.
        ASAN_PASSES=(detect_stack_use_after_return=1:detect_leaks=0
                     detect_stack_use_after_return=0:detect_leaks=1)
        # asan <name> <command...>: both passes; logs in $OUT/<name>.asan<pass>.log.
        asan() {
            local name=$1; shift
            local t0=$SECONDS rc p log bad=""
            for p in 0 1; do
                log="$OUT/$name.asan$p.log" rc=0
                ASAN_OPTIONS="${ASAN_PASSES[$p]}" "$@" > "$log" 2>&1 || rc=$?
                if [ "$rc" != 0 ] || grep -q 'ERROR: \(Address\|Leak\)Sanitizer\|TestPTrace() failed' "$log"; then
                    bad+=" exit $rc with ${ASAN_PASSES[$p]} ($log)"
                fi
            done
            if [ -n "$bad" ]; then
                echo "asan $name: FAILED:$bad"
                FAILED+=("asan $name")
            else
                echo "asan $name: ok in $((SECONDS - t0)) s (use-after-return pass, leak pass)"
            fi
        }
        asan stress "target/asan/$host/release/bamboo-stress" mixed --duration 3s
        asan stress-stackmove "target/asan/$host/release/bamboo-stress" mixed --duration 2s --stack-move --stack-poison
        # ASan's redzones around every local make each frame of a deep
        # recursion several times larger: a million frames pass the default
        # 1 GiB max_stack in the stress mode (a segment switch per frame),
        # and the runtime panics with its limit message.
        declare -A ASAN_SKIP=([stacks]="--skip recursion_of_a_million_frames_in_stress_mode")
        for t in "${TESTS[@]}"; do
            exe=$("${ASAN_CARGO[@]}" test -q --no-run "${ASAN_TARGET[@]}" -p bamboo --test "$t" \
                --message-format=json 2>/dev/null | grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4)
            # shellcheck disable=SC2086 # ASAN_SKIP holds separate arguments
            asan "test-$t" "$exe" --test-threads=2 ${ASAN_SKIP[$t]:-}
        done
    else
        echo "AddressSanitizer: no nightly toolchain (rustup toolchain install nightly): skipped"
    fi
fi

if [ "${#FAILED[@]}" != 0 ]; then
    echo "sanitize: FAILED: ${FAILED[*]}" >&2
    exit 1
fi
echo "sanitize: all clean"
