//! The state every workload coroutine shares with the runner: the stop
//! flag, counters of finished coroutines and verified results, and the
//! first few failure messages.
//!
//! A *check* is one comparison of a computed result with its expected value
//! (or one panic-free join). Workloads call [`Shared::check`] for every
//! result and [`Shared::join`] for every coroutine they wait for, so a wrong
//! result or a panic anywhere ends up in [`Shared::snapshot`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use bamboo::JoinHandle;

use crate::chaos::ChaosCounters;
use crate::workloads::Single;

/// How many failure messages are kept (the counters count them all).
const MAX_MESSAGES: usize = 20;

/// Counters and flags shared by the runner, the workloads and the monitor.
#[derive(Debug, Default)]
pub struct Shared {
    stop: AtomicBool,
    /// Workload coroutines joined so far.
    pub coroutines_done: AtomicU64,
    /// Results verified (passed or failed).
    pub checks: AtomicU64,
    /// Results that were wrong.
    pub failed_checks: AtomicU64,
    /// Workload coroutines that panicked (or were cancelled).
    pub panics: AtomicU64,
    /// Rounds completed, per workload (indexed by [`Single::index`]).
    pub rounds: [AtomicU64; Single::ALL.len()],
    /// The `--chaos` driver's counters.
    pub chaos: ChaosCounters,
    messages: Mutex<Vec<String>>,
}

/// A copy of the counters of [`Shared`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatsSnapshot {
    /// Workload coroutines joined.
    pub coroutines_done: u64,
    /// Results verified.
    pub checks: u64,
    /// Wrong results.
    pub failed_checks: u64,
    /// Panicked or cancelled workload coroutines.
    pub panics: u64,
    /// Rounds completed per workload, `(name, rounds)`, only for workloads that ran.
    pub rounds: Vec<(String, u64)>,
    /// The first failure messages.
    pub messages: Vec<String>,
}

impl Shared {
    /// Fresh counters, not stopped.
    pub fn new() -> Shared {
        Shared::default()
    }

    /// Ask every workload to finish its current round and return.
    pub fn stop(&self) {
        self.stop.store(true, Relaxed);
    }

    /// True once [`Shared::stop`] was called.
    pub fn stopped(&self) -> bool {
        self.stop.load(Relaxed)
    }

    /// Count one verified result; when `ok` is false, count a failure and
    /// keep the message `what()` describes.
    pub fn check(&self, ok: bool, what: impl FnOnce() -> String) -> bool {
        self.checks.fetch_add(1, Relaxed);
        if !ok {
            self.failed_checks.fetch_add(1, Relaxed);
            self.note(what());
        }
        ok
    }

    /// Join a workload coroutine: counts it as done and returns its value,
    /// or counts and records a panic (or cancellation) and returns `None`.
    pub fn join<T>(&self, h: JoinHandle<T>, what: &str) -> Option<T> {
        let r = h.join();
        self.coroutines_done.fetch_add(1, Relaxed);
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.panics.fetch_add(1, Relaxed);
                self.note(format!("{what}: {e}"));
                None
            }
        }
    }

    /// Record a failure message (kept only among the first few).
    pub fn note(&self, msg: String) {
        let mut m = self.messages.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() < MAX_MESSAGES {
            m.push(msg);
        }
    }

    /// Count one completed round of `w`.
    pub fn round_done(&self, w: Single) {
        self.rounds[w.index()].fetch_add(1, Relaxed);
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            coroutines_done: self.coroutines_done.load(Relaxed),
            checks: self.checks.load(Relaxed),
            failed_checks: self.failed_checks.load(Relaxed),
            panics: self.panics.load(Relaxed),
            rounds: Single::ALL
                .iter()
                .map(|w| (w.name().to_string(), self.rounds[w.index()].load(Relaxed)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            messages: self
                .messages
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}
