//! Longtests: every workload in the stress mode (docs/stress.md; forced stack
//! moves at every check point, freed segments poisoned), with the monitor
//! checking `read_consistent` all along — like Go's longtest builders
//! running the runtime tests under `mayMoreStackMove`.
//!
//! `STRESS_SECS` is the total time, split evenly across the six workloads
//! (default 25, so CI stays fast; `STRESS_SECS=600` is the long run). The
//! tests take turns (one runtime at a time owns the machine), and each
//! prints its figures to stderr, uncaptured, so CI logs show how many
//! `read_consistent` calls were checked.

use std::io::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use bamboo_stress::report::{figures, group};
use bamboo_stress::{run, RunConfig, Workload};

/// Default total seconds across all six workloads.
const DEFAULT_SECS: f64 = 25.0;

/// One stress run at a time.
static TURN: Mutex<()> = Mutex::new(());

fn per_workload() -> Duration {
    let total = match std::env::var("STRESS_SECS") {
        Ok(s) => s
            .trim()
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("STRESS_SECS={s:?}: expected a number of seconds")),
        Err(_) => DEFAULT_SECS,
    };
    Duration::from_secs_f64(total.max(0.0) / Workload::ALL.len() as f64)
}

fn longtest(workload: Workload) {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let mut cfg = RunConfig::new(workload, per_workload());
    cfg.stack_move = true;
    cfg.stack_poison = true;
    let r = run(&cfg, &mut |_| {}).expect("runtime builds");
    let f = figures(&r);
    let line = format!(
        "longtest {workload} (stackmove=1,stackpoison=1, {} workers, {:.1} s): \
         {} read_consistent calls (p50 {:.1} us, p99 {:.1} us), {} mismatches, \
         {} results checked, {} failed, {} coroutines, {} grows ({} forced), peak stack {}",
        r.workers,
        r.elapsed.as_secs_f64(),
        group(f.read_consistent_calls),
        f.read_consistent_p50_us,
        f.read_consistent_p99_us,
        f.mismatches,
        group(f.checks),
        f.failed_checks,
        group(f.coroutines_done),
        group(f.grows),
        group(f.forced_grows),
        bamboo_stress::report::bytes(f.peak_stack_inuse_bytes),
    );
    // Straight to stderr: libtest captures only the print macros.
    let _ = writeln!(std::io::stderr(), "{line}");
    let failures = r.failures();
    assert!(
        failures.is_empty(),
        "{line}\nFAIL:\n  {}",
        failures.join("\n  ")
    );
    assert_eq!(f.mismatches, 0);
    assert!(f.read_consistent_calls > 0, "the monitor made no call");
    assert!(f.checks > 0, "no result was checked");
    assert!(f.forced_grows > 0, "the stress mode forced no grow");
    assert_eq!(
        f.grows, f.forced_grows,
        "every grow is forced in the stress mode"
    );
}

#[test]
fn spawn_storm() {
    longtest(Workload::SpawnStorm);
}

#[test]
fn deep_recursion() {
    longtest(Workload::DeepRecursion);
}

#[test]
fn ping_pong() {
    longtest(Workload::PingPong);
}

#[test]
fn tree() {
    longtest(Workload::Tree);
}

#[test]
fn net_echo() {
    longtest(Workload::NetEcho);
}

#[test]
fn mixed() {
    longtest(Workload::Mixed);
}
