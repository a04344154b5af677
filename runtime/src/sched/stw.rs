//! The stop-the-world rendezvous: how a stopper waits until every other
//! worker is at a safe point, and how workers park there.
//!
//! Contract:
//! - `requested` is raised by the stopper (who holds the runtime's STW
//!   semaphore) and lowered by [`Stw::start`]; workers read it between
//!   coroutine slices and then call [`Stw::park_here`].
//! - `stopped` (under its mutex) counts workers parked at a safe point
//!   *and* workers that have exited ([`Stw::exited`]): both run nothing
//!   until the world restarts, so a stop never waits for a worker that is
//!   gone. Every change of `stopped` notifies `cv`.
//! - A shutdown ([`Stw::release_for_shutdown`], after the shutdown flag is
//!   set) lets parked workers go even while a stop is held: the runtime is
//!   going away and its drop waits for the workers to finish.
//!
//! ```text
//!   stopper                          worker i (between slices)
//!   requested = true                 requested? --yes--> lock; stopped += 1;
//!   ask running coroutines to yield                      notify; wait while
//!   wake every worker                                    requested && !shutdown;
//!   lock; while stopped < expected                       stopped -= 1; unlock
//!     wait (re-ask, re-wake each 1 ms)
//!   ... the world is stopped ...     shutdown? --yes--> exit: lock;
//!   lock; requested = false;                            stopped += 1; notify
//!   notify all
//!
//!   worker i, running a slice: a check point sees the ask -> the
//!   coroutine yields -> the worker is between slices (above)
//! ```
//! - The worker of a coroutine that holds the stop (`holder_worker`, set
//!   by [`Stw::stop`] before `requested` is raised and reset by
//!   [`Stw::start`]) does not stop: it keeps running its own coroutines,
//!   so the holder may yield, sleep, or join a coroutine it spawned.
//! - `holder` and `depth` let the holder stop the world again (a metrics
//!   read does): its guards nest. Only the holder writes them.
//! - A coroutine that reaches no check point cannot be asked: the stop
//!   waits until it yields, parks or finishes.
//!
//! Model-checked in `sched/models.rs` (a worker exiting while a stop is
//! requested; a worker running a coroutine that spins through check
//! points).

use std::sync::atomic::Ordering::*;
use std::time::Duration;

use crate::loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use crate::loom::sync::{Condvar, Mutex};
use crate::loom::{planted, Bug};

/// The rendezvous state of one runtime (see the module docs).
pub(crate) struct Stw {
    pub requested: AtomicBool,
    /// Index of the worker whose coroutine holds the stop (`usize::MAX`:
    /// none, or a plain thread holds it).
    pub holder_worker: AtomicUsize,
    /// Who holds the runtime's STW semaphore (`sched::holder_key`), 0 when
    /// nobody, and how many guards that holder has.
    pub holder: AtomicU64,
    pub depth: AtomicUsize,
    stopped: Mutex<usize>,
    cv: Condvar,
}

impl Stw {
    pub(crate) fn new() -> Stw {
        Stw {
            requested: AtomicBool::new(false),
            holder_worker: AtomicUsize::new(usize::MAX),
            holder: AtomicU64::new(0),
            depth: AtomicUsize::new(0),
            stopped: Mutex::new(0),
            cv: Condvar::new(),
        }
    }

    /// True when worker `idx` must stop at its next safe point: a stop is
    /// requested and its holder is not a coroutine of `idx`.
    #[inline]
    pub(crate) fn stops(&self, idx: usize) -> bool {
        self.requested.load(Acquire) && self.holder_worker.load(Acquire) != idx
    }

    /// Raise the request and wait until `expected` workers are stopped or
    /// gone; `holder_worker` (the stopper's own worker, or `usize::MAX`)
    /// keeps running. `ask_yield` asks the coroutine running on every other
    /// worker to yield at its next check point, so the stop does not wait
    /// for the end of its time slice; it comes *after* the flag is up (a
    /// coroutine that yields for it finds the flag at its worker's next
    /// look: the ask is a Release, the check point's take an Acquire).
    /// `wake_all` wakes every sleeping worker. Both are repeated every
    /// millisecond, in case a worker went to sleep between the flag and its
    /// check or a slice began after the ask.
    pub(crate) fn stop(
        &self,
        expected: usize,
        holder_worker: usize,
        wake_all: impl Fn(),
        ask_yield: impl Fn(),
    ) {
        self.holder_worker.store(holder_worker, SeqCst);
        if planted(Bug::StwAskBeforeFlag) {
            ask_yield();
        }
        self.requested.store(true, SeqCst);
        if !planted(Bug::StwNoAsk) && !planted(Bug::StwAskBeforeFlag) {
            ask_yield();
        }
        wake_all();
        let mut g = self.stopped.lock();
        while *g < expected {
            self.cv.wait_for(&mut g, Duration::from_millis(1));
            if *g < expected {
                ask_yield();
                wake_all();
            }
        }
    }

    /// Let the stopped workers go.
    pub(crate) fn start(&self) {
        let _g = self.stopped.lock();
        self.requested.store(false, SeqCst);
        self.holder_worker.store(usize::MAX, SeqCst);
        self.cv.notify_all();
    }

    /// Worker `idx` at a safe point: count it stopped and wait until the
    /// world restarts or the runtime shuts down (`shutdown`).
    pub(crate) fn park_here(&self, shutdown: &AtomicBool, idx: usize) {
        let mut g = self.stopped.lock();
        *g += 1;
        self.cv.notify_all();
        while self.requested.load(SeqCst)
            && self.holder_worker.load(SeqCst) != idx
            && !shutdown.load(SeqCst)
        {
            self.cv.wait(&mut g);
        }
        *g -= 1;
    }

    /// The shutdown flag is set: wake workers parked by a stop.
    pub(crate) fn release_for_shutdown(&self) {
        let _g = self.stopped.lock();
        self.cv.notify_all();
    }

    /// A worker has exited: it runs nothing from now on, so it counts as
    /// stopped for good.
    pub(crate) fn exited(&self) {
        if planted(Bug::StwExitNotCounted) {
            return;
        }
        let mut g = self.stopped.lock();
        *g += 1;
        self.cv.notify_all();
    }
}
