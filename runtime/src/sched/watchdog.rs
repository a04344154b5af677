//! The deadlock watchdog (Go's "all goroutines are asleep - deadlock!",
//! as a warning): a plain thread waiting in `JoinHandle::join` (so in
//! `Runtime::block_on`) parks in slices of half the grace period, and after
//! each slice asks whether the runtime can still make progress by itself.
//!
//! It reports, once per runtime, when for a whole grace period
//! (`BAMBOO_DEBUG=deadlockgrace=<ms>`, default 1000; 0 turns it off):
//! - no coroutine was resumed and none was spawned (the switch and spawn
//!   counters did not move), and then
//! - every live coroutine is parked on a bamboo primitive that only another
//!   coroutine or thread can end (a channel, select, lock, condvar,
//!   semaphore, wait group, join or the stop-the-world lock) without a
//!   deadline, and
//! - no timer is pending on any worker or on the process-wide timer thread
//!   (a `time::after` channel may still fire), and no coroutine sleeps,
//!   waits for I/O or for a blocking call.
//!
//! It only warns: a plain thread outside the runtime may still hold a
//! sender or a lock and end the wait, so the runtime keeps running.
//!
//! ```text
//!   join (plain thread) -- park_timeout(grace/2) --> finished? --yes--> return
//!        ^                                             | no
//!        +------- counters moved: restart the period --+-- a grace period still: asleep()? --> report once
//! ```

use std::sync::atomic::Ordering::*;
use std::time::{Duration, Instant};

use super::dump::{self, CoroutineInfo};
use super::wait::Doing;
use super::worker::Shared;

/// The exact first words of the report.
pub(crate) const MESSAGE: &str = "all coroutines are asleep - possible deadlock";

/// One plain thread's watch over a runtime while it waits.
pub(crate) struct Watch {
    progress: u64,
    since: Instant,
}

/// A number that moves whenever the runtime does anything: resumes,
/// spawns, blocking calls.
fn progress(shared: &Shared) -> u64 {
    let c = &shared.counters;
    let workers: u64 = c
        .workers
        .iter()
        .map(|w| w.switches.get().wrapping_add(w.blocking_calls.get()))
        .fold(0, u64::wrapping_add);
    workers.wrapping_add(c.global.spawned.load(Relaxed))
}

/// Park the calling plain thread (waiting for `shared`'s coroutines) for
/// at most half the grace period, then look for a deadlock (or, with the
/// watchdog off, park until unparked). Returns spuriously like
/// `thread::park`.
pub(crate) fn park_thread(shared: &Shared, watch: &mut Option<Watch>) {
    let Some(grace) = shared.cfg.debug.deadlock_grace() else {
        std::thread::park();
        return;
    };
    let w = watch.get_or_insert_with(|| Watch {
        progress: progress(shared),
        since: Instant::now(),
    });
    std::thread::park_timeout(grace / 2);
    let p = progress(shared);
    if p != w.progress {
        *w = Watch {
            progress: p,
            since: Instant::now(),
        };
        return;
    }
    if w.since.elapsed() < grace || shared.deadlock_reported.load(Relaxed) {
        return;
    }
    if let Some(coroutines) = asleep(shared) {
        if progress(shared) == p && !shared.deadlock_reported.swap(true, AcqRel) {
            report(grace, &coroutines);
        }
    }
}

/// The dump, when every coroutine is asleep with nothing pending that
/// could wake one (see the module docs); `None` otherwise.
fn asleep(shared: &Shared) -> Option<Vec<CoroutineInfo>> {
    if shared.shutdown.load(Acquire) || shared.timers_pending() {
        return None;
    }
    let live = shared.registry.live();
    let now = super::worker::coarse_ns();
    let mut out = Vec::with_capacity(live.len());
    for t in &live {
        let Some(info) = dump::info(t, now) else {
            continue; // done
        };
        match t.wait.get() {
            Doing::Parked { why, timed: false }
                if why.needs_a_peer() && t.park_state.phase() == super::state::Phase::Parked => {}
            _ => return None,
        }
        out.push(info);
    }
    (!out.is_empty()).then_some(out)
}

fn report(grace: Duration, coroutines: &[CoroutineInfo]) {
    let header = format!("bamboo: {MESSAGE}");
    let text = dump::Text {
        header: &header,
        coroutines,
    };
    let note = format!(
        "bamboo: for {:.1}s a thread waited in join/block_on while every coroutine was parked \
         on a bamboo primitive, with no timer, I/O or blocking call pending; the runtime keeps \
         running (a thread outside it may still end a wait). BAMBOO_DEBUG=deadlockgrace=<ms> \
         sets the period, 0 turns this off.\n",
        grace.as_secs_f64()
    );
    dump::to_stderr(&format!("{text}{note}"));
}
