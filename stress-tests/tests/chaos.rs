//! `--chaos` through the library, in the normal and the stress mode: every
//! fate happens, every outcome and metric check holds, every destructor
//! runs; and a planted leak (one guard `mem::forget`-ten) fails the run.
//! Each run is short (CI); `bamboo-stress <workload> --chaos --duration 10m`
//! is the long form.

use std::sync::Mutex;
use std::time::Duration;

use bamboo_stress::chaos::ChaosConfig;
use bamboo_stress::{run, RunConfig, Workload};

/// One runtime at a time.
static TURN: Mutex<()> = Mutex::new(());

fn chaos_run(seed: u64, stress_mode: bool, plant_leak: bool) -> bamboo_stress::RunResult {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let mut cfg = RunConfig::new(Workload::PingPong, Duration::from_secs(2));
    cfg.workers = Some(2);
    cfg.stack_move = stress_mode;
    cfg.stack_poison = stress_mode;
    cfg.grace = Duration::from_secs(60);
    cfg.chaos = Some(ChaosConfig { seed, plant_leak });
    let r = run(&cfg, &mut |_| {}).expect("runtime builds");
    let c = r.chaos.clone().expect("chaos counters");
    eprintln!(
        "chaos seed {seed} (stress mode: {stress_mode}, planted leak: {plant_leak}): {} rounds, {} coroutines, \
         {} completed ({} despite a cancel), {} panicked, {} cancelled, {} peers dropped, {} detached, \
         guards {} created / {} dropped",
        c.rounds, c.spawned, c.completed, c.cancel_lost_race, c.panicked, c.cancelled,
        c.peers_dropped, c.detached, c.guards_created, c.guards_dropped
    );
    r
}

fn assert_clean(r: &bamboo_stress::RunResult) {
    assert!(r.ok(), "{:#?}", r.failures());
    let c = r.chaos.as_ref().expect("chaos counters");
    assert!(c.rounds >= 1);
    for (what, n) in [
        ("completed", c.completed),
        ("panicked", c.panicked),
        ("cancelled", c.cancelled),
        ("peers dropped", c.peers_dropped),
        ("detached", c.detached),
    ] {
        assert!(n > 0, "no coroutine {what}: {c:?}");
    }
    assert_eq!(c.guards_created, c.guards_dropped);
    assert!(c.guards_created > c.spawned, "{c:?}");
    let m = r.monitor.as_ref().expect("monitor");
    assert_eq!(m.mismatches, 0);
    assert_eq!(m.final_mem.coroutines, 1, "only the monitor is left");
}

#[test]
fn chaos_in_the_normal_mode() {
    assert_clean(&chaos_run(1, false, false));
}

#[test]
fn chaos_in_the_stress_mode() {
    let r = chaos_run(2, true, false);
    assert!(r.stack_move && r.stack_poison);
    assert_clean(&r);
}

#[test]
fn a_planted_leak_of_one_guard_fails_the_run() {
    let r = chaos_run(3, false, true);
    assert!(!r.ok());
    let c = r.chaos.as_ref().expect("chaos counters");
    assert_eq!(c.guards_created - c.guards_dropped, 1, "{c:?}");
    let f = r.failures();
    assert!(
        f.iter()
            .any(|m| m.contains("chaos round 0") && m.contains("1 destructors never ran")),
        "{f:#?}"
    );
    assert!(
        f.iter()
            .any(|m| m.contains("seed 3") && m.contains("1 destructors never ran")),
        "{f:#?}"
    );
}
