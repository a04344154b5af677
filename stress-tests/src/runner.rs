//! Orchestration of one stress run: build the runtime, start the workload
//! drivers and the monitor, tick a progress callback until the deadline,
//! stop everything in order, and collect a [`RunResult`].
//!
//! Order of the ending: the drivers are asked to stop and joined (each
//! finishes and checks its current round); only then is the monitor
//! stopped, so it keeps checking while the workloads wind down and its
//! final reads see them all finished. A driver or the monitor that does not
//! return within [`RunConfig::grace`] is reported as a hang; the runtime is
//! then leaked instead of dropped, since dropping it would wait for the
//! stuck coroutine too.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bamboo::{JoinHandle, Runtime};

use crate::chaos::{self, ChaosConfig, ChaosSnapshot};
use crate::monitor::{self, Live, MonitorResult};
use crate::soak::{Sampler, SoakConfig, SoakReport};
use crate::stats::{Shared, StatsSnapshot};
use crate::workloads::{self, Workload};

/// What to run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunConfig {
    /// The workload.
    pub workload: Workload,
    /// Worker threads (`None`: the runtime's default, `BAMBOO_WORKERS` or
    /// the available parallelism).
    pub workers: Option<usize>,
    /// How long to start new rounds.
    pub duration: Duration,
    /// `Builder::force_stack_move(true)` (docs/stress.md). When false the
    /// setting is left to `BAMBOO_DEBUG` (`stackmove=1`).
    pub stack_move: bool,
    /// `Builder::stack_poison(true)`. When false the setting is left to
    /// `BAMBOO_DEBUG` (`stackpoison=1`).
    pub stack_poison: bool,
    /// `Builder::segment_size` (`None`: default or `BAMBOO_SEGMENT`).
    pub segment_size: Option<usize>,
    /// How long the drivers and the monitor may take to return once
    /// stopped before they count as hung.
    pub grace: Duration,
    /// Sample RSS, stack bytes, descriptors and mappings every second and
    /// fail when they grow after the warm-up (`--soak`, [`crate::soak`]).
    pub soak: Option<SoakConfig>,
    /// Run the chaos driver next to the workloads (`--chaos`, [`crate::chaos`]).
    pub chaos: Option<ChaosConfig>,
}

impl RunConfig {
    /// A run of `workload` for `duration` with default settings.
    pub fn new(workload: Workload, duration: Duration) -> RunConfig {
        RunConfig {
            workload,
            workers: None,
            duration,
            stack_move: false,
            stack_poison: false,
            segment_size: None,
            grace: Duration::from_secs(120),
            soak: None,
            chaos: None,
        }
    }
}

/// What the progress callback sees, about ten times a second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Time since the workloads started.
    pub elapsed: Duration,
    /// The configured duration.
    pub duration: Duration,
    /// True once the deadline passed and the workloads are finishing.
    pub stopping: bool,
    /// Workload coroutines joined.
    pub coroutines_done: u64,
    /// Grows at the monitor's latest read.
    pub grows: u64,
    /// Coroutines live at the monitor's latest read.
    pub coroutines_live: u64,
    /// `read_consistent` calls so far.
    pub calls: u64,
    /// Broken equalities so far.
    pub mismatches: u64,
    /// Wrong results and broken invariants so far.
    pub failed_checks: u64,
}

/// Everything a run found.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// What was run.
    pub config: RunConfig,
    /// Worker threads the runtime actually had.
    pub workers: usize,
    /// First-segment size the runtime actually used.
    pub segment_size: usize,
    /// Whether the runtime ran in the stress mode (flag or `BAMBOO_DEBUG`).
    pub stack_move: bool,
    /// Whether freed segments were poisoned (flag or `BAMBOO_DEBUG`).
    pub stack_poison: bool,
    /// From the start of the workloads to the last driver returning.
    pub elapsed: Duration,
    /// The workloads' counters and failure messages.
    pub stats: StatsSnapshot,
    /// The monitor's findings (`None` if it hung or panicked).
    pub monitor: Option<MonitorResult>,
    /// Drivers or monitor that panicked, described.
    pub crashed: Vec<String>,
    /// Drivers or monitor that did not return within the grace time.
    pub hung: Vec<String>,
    /// The soak's samples judged (`None` without `--soak`).
    pub soak: Option<SoakReport>,
    /// The chaos driver's counters (`None` without `--chaos`).
    pub chaos: Option<ChaosSnapshot>,
}

impl RunResult {
    /// Why the run failed; empty when every check held.
    pub fn failures(&self) -> Vec<String> {
        let mut why = Vec::new();
        let s = &self.stats;
        if s.failed_checks > 0 {
            why.push(format!("{} wrong workload results", s.failed_checks));
        }
        if s.panics > 0 {
            why.push(format!("{} workload coroutines panicked", s.panics));
        }
        why.extend(s.messages.iter().cloned());
        match &self.monitor {
            Some(m) => {
                if m.mismatches > 0 {
                    why.push(format!("{} metric/MemStats mismatches", m.mismatches));
                    why.extend(m.mismatch_messages.iter().cloned());
                }
                if m.failed_checks > 0 {
                    why.push(format!("{} metric invariants broken", m.failed_checks));
                    why.extend(m.check_messages.iter().cloned());
                }
            }
            None => why.push("the monitor returned no result".to_string()),
        }
        why.extend(self.crashed.iter().cloned());
        why.extend(self.hung.iter().map(|h| format!("hang: {h}")));
        if let Some(s) = &self.soak {
            why.extend(s.failures.iter().cloned());
        }
        if let Some(c) = &self.chaos {
            if c.leaked() > 0 {
                why.push(format!(
                    "chaos (seed {}): {} guards created, {} dropped: {} destructors never ran",
                    c.seed,
                    c.guards_created,
                    c.guards_dropped,
                    c.leaked()
                ));
            }
        }
        why
    }

    /// True when every check held.
    pub fn ok(&self) -> bool {
        self.failures().is_empty()
    }
}

/// Run the stress test described by `cfg`, calling `progress` about every
/// 100 ms. Errors only when the runtime cannot be built.
pub fn run(
    cfg: &RunConfig,
    progress: &mut dyn FnMut(&Progress),
) -> Result<RunResult, bamboo::Error> {
    Ok(run_on(build_runtime(cfg)?, cfg, progress))
}

/// The runtime `cfg` asks for: its flags set on the builder, everything it
/// leaves unset from the `BAMBOO_*` variables or the defaults. The settings
/// the runtime actually took are on its handle (`workers()`,
/// `segment_size()`, ...).
pub fn build_runtime(cfg: &RunConfig) -> Result<Runtime, bamboo::Error> {
    let mut b = Runtime::builder();
    if cfg.stack_move {
        b.force_stack_move(true);
    }
    if cfg.stack_poison {
        b.stack_poison(true);
    }
    if let Some(n) = cfg.workers {
        b.workers(n);
    }
    if let Some(s) = cfg.segment_size {
        b.segment_size(s);
    }
    b.build()
}

/// [`run`] on `rt`, a runtime built by [`build_runtime`] from the same
/// `cfg`; it is dropped (or, after a hang, leaked) before this returns.
pub fn run_on(rt: Runtime, cfg: &RunConfig, progress: &mut dyn FnMut(&Progress)) -> RunResult {
    let h = rt.handle();
    let shared = Arc::new(Shared::new());
    let live = Arc::new(Live::default());
    let sample_every = (cfg.duration / 1500).max(Duration::from_millis(10));

    let mon = {
        let (h2, live) = (h.clone(), live.clone());
        let stack_move = h.stack_move_forced();
        rt.spawn(move || monitor::run(h2, live, stack_move, sample_every))
    };
    let start = Instant::now();
    let mut crashed = Vec::new();
    let sampler = cfg
        .soak
        .and_then(|c| match Sampler::start(h.clone(), c, start) {
            Ok(s) => Some(s),
            Err(e) => {
                crashed.push(format!("soak: cannot start the sampler thread: {e}"));
                None
            }
        });
    let mut drivers: Vec<(&str, JoinHandle<u64>)> = cfg
        .workload
        .parts()
        .iter()
        .map(|&w| {
            let s = shared.clone();
            (w.name(), rt.spawn(move || workloads::drive(w, s)))
        })
        .collect();
    if let Some(c) = cfg.chaos {
        let s = shared.clone();
        drivers.push(("chaos", rt.spawn(move || chaos::drive(c, s))));
    }

    let snap = |stopping: bool| {
        let st = &shared;
        Progress {
            elapsed: start.elapsed(),
            duration: cfg.duration,
            stopping,
            coroutines_done: st.coroutines_done.load(Relaxed),
            grows: live.grows.load(Relaxed),
            coroutines_live: live.coroutines.load(Relaxed),
            calls: live.calls.load(Relaxed),
            mismatches: live.mismatches.load(Relaxed),
            failed_checks: st.failed_checks.load(Relaxed) + live.failed_checks.load(Relaxed),
        }
    };
    let tick = Duration::from_millis(100);
    while start.elapsed() < cfg.duration {
        std::thread::sleep(tick.min(cfg.duration.saturating_sub(start.elapsed())));
        progress(&snap(false));
    }
    shared.stop();

    let mut hung = Vec::new();
    let stopped_at = Instant::now();
    for (name, d) in drivers {
        if !wait(&d, stopped_at + cfg.grace, &mut || progress(&snap(true))) {
            hung.push(format!(
                "the {name} driver did not finish its round within {:?} of the deadline",
                cfg.grace
            ));
            continue;
        }
        if let Err(e) = d.join() {
            crashed.push(format!("the {name} driver: {e}"));
        }
    }
    let elapsed = start.elapsed();
    let soak = sampler.map(Sampler::finish);
    live.stop();
    let monitor = if wait(&mon, Instant::now() + cfg.grace, &mut || {
        progress(&snap(true))
    }) {
        match mon.join() {
            Ok(m) => Some(m),
            Err(e) => {
                crashed.push(format!("the monitor: {e}"));
                None
            }
        }
    } else {
        hung.push(format!(
            "the monitor (read_consistent) did not return within {:?}",
            cfg.grace
        ));
        None
    };
    progress(&snap(true));
    let result = RunResult {
        config: cfg.clone(),
        workers: h.workers(),
        segment_size: h.segment_size(),
        stack_move: h.stack_move_forced(),
        stack_poison: h.stack_poison(),
        elapsed,
        stats: shared.snapshot(),
        monitor,
        crashed,
        hung,
        soak,
        chaos: cfg.chaos.map(|c| shared.chaos.snapshot(c.seed)),
    };
    if result.hung.is_empty() {
        drop(rt);
    } else {
        // Dropping would wait for the stuck coroutine: leave it be.
        std::mem::forget(rt);
    }
    result
}

/// Poll `h` until it finishes or `until` passes, ticking `tick`; true when
/// it finished.
fn wait<T>(h: &JoinHandle<T>, until: Instant, tick: &mut dyn FnMut()) -> bool {
    let mut last = Instant::now();
    while !h.is_finished() {
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
        if last.elapsed() >= Duration::from_millis(100) {
            last = Instant::now();
            tick();
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use bamboo_metrics::MemStats;

    fn passing() -> RunResult {
        RunResult {
            config: RunConfig::new(Workload::Mixed, Duration::from_secs(1)),
            workers: 2,
            segment_size: 16 << 10,
            stack_move: false,
            stack_poison: false,
            elapsed: Duration::from_secs(1),
            stats: StatsSnapshot {
                checks: 10,
                ..StatsSnapshot::default()
            },
            monitor: Some(MonitorResult {
                calls: 5,
                mismatches: 0,
                mismatch_messages: Vec::new(),
                failed_checks: 0,
                check_messages: Vec::new(),
                latencies_ns: {
                    let mut l = crate::monitor::latency_histogram();
                    for ns in [1, 2, 3] {
                        l.saturating_record(ns);
                    }
                    l
                },
                peak_stack_inuse: 0,
                peak_coroutines: 0,
                series: Vec::new(),
                final_mem: MemStats::default(),
                final_samples: Vec::new(),
            }),
            crashed: Vec::new(),
            hung: Vec::new(),
            soak: None,
            chaos: None,
        }
    }

    #[test]
    fn every_kind_of_failure_fails_the_run() {
        assert!(passing().ok());
        let mut r = passing();
        r.stats.failed_checks = 1;
        r.stats.messages.push("tree 2^9: wrong".into());
        assert!(!r.ok());
        assert!(r.failures().iter().any(|f| f.contains("tree 2^9")));
        let mut r = passing();
        r.stats.panics = 1;
        assert!(!r.ok());
        let mut r = passing();
        if let Some(m) = &mut r.monitor {
            m.mismatches = 1;
            m.mismatch_messages
                .push("call 3: /stack/grows:events = 1 but MemStats.grows = 2".into());
        }
        assert!(r.failures().iter().any(|f| f.contains("MemStats.grows")));
        let mut r = passing();
        if let Some(m) = &mut r.monitor {
            m.failed_checks = 1;
        }
        assert!(!r.ok());
        let mut r = passing();
        r.monitor = None;
        assert!(!r.ok());
        let mut r = passing();
        r.hung.push("the tree driver".into());
        assert!(r.failures().iter().any(|f| f.starts_with("hang: ")));
        let mut r = passing();
        r.crashed.push("the monitor: coroutine panicked".into());
        assert!(!r.ok());
    }

    #[test]
    fn latency_quantiles() {
        let r = passing();
        let m = r.monitor.as_ref().expect("monitor");
        assert_eq!(m.latency_quantile(0.0), Duration::from_nanos(1));
        assert_eq!(m.latency_quantile(0.5), Duration::from_nanos(2));
        assert_eq!(m.latency_quantile(1.0), Duration::from_nanos(3));
    }
}
