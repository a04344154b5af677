//! A task's park state: one atomic byte and the only code that changes it
//! (tokio's `task/state.rs` is the model).
//!
//! ```text
//!            unpark (while running or idle)
//!   +------+ ----------------------------> +----------+
//!   | IDLE |                               | NOTIFIED |
//!   +------+ <---------------------------- +----------+
//!     |  ^     park fast path (token taken)    ^   |
//!     |  |     / worker starts a slice         |   | worker starts a
//!     |  |                                     |   | slice after a park
//!     |  |                                     |   | (token used; kept
//!     |  |                                     |   | after a yield)
//!     |  +-------------------------------------+---+
//!     | worker, after the coroutine          |
//!     | suspended to park                    | unpark: the ONE transition
//!     v                                      | that enqueues the task
//!   +--------+ ------------------------------+
//!   | PARKED |
//!   +--------+
//!
//!   any state --finish/unwind--> DONE   (an unpark of a DONE task does
//!                                        nothing; DONE changes only when a
//!                                        free list's struct is reused, see
//!                                        `ParkState::reset`)
//! ```
//!
//! Only `PARKED -> NOTIFIED` enqueues, so a task is in at most one run
//! queue, and a queued slot always names a live coroutine (a task is DONE
//! only after its slice ended, and a DONE task is never enqueued).
//!
//! Who calls what: any thread calls [`ParkState::notify`]; the coroutine
//! itself calls [`ParkState::take_token`]; its worker calls the
//! `transition_to_*` methods around each slice.

use std::sync::atomic::Ordering::*;

use crate::loom::sync::atomic::AtomicU8;
use crate::loom::{planted, Bug};

const IDLE: u8 = 0;
const NOTIFIED: u8 = 1;
const PARKED: u8 = 2;
const DONE: u8 = 3;

fn name(s: u8) -> &'static str {
    match s {
        IDLE => "idle",
        NOTIFIED => "notified",
        PARKED => "parked",
        DONE => "done",
        _ => "invalid",
    }
}

/// The park state of one task (see the module diagram).
pub(crate) struct ParkState(AtomicU8);

/// A racy reading of a [`ParkState`], for the coroutine dump and the
/// deadlock watchdog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Idle,
    Notified,
    Parked,
    Done,
}

impl ParkState {
    /// A task that has not run yet: idle, no token (the state
    /// [`ParkState::reset`] leaves; the tests and loom models start here).
    #[cfg(test)]
    pub(crate) fn new() -> ParkState {
        ParkState(AtomicU8::new(IDLE))
    }

    /// A task struct just allocated, before its first spawn's
    /// [`ParkState::reset`]: it reads as finished until then.
    pub(crate) fn done() -> ParkState {
        ParkState(AtomicU8::new(DONE))
    }

    /// A task struct, new ([`ParkState::done`]) or from a free list,
    /// becomes a new task (`task::TaskShared::reset`): `DONE -> IDLE`, the
    /// one way out of DONE. Only the holder of
    /// the struct's one strong reference calls it, before the task can be
    /// queued, woken or joined; so no unpark of the old task can see it.
    pub(crate) fn reset(&self) {
        let old = self.0.load(Relaxed);
        if old != DONE {
            fatal!("a reused task struct was in park state {old}, not done ({DONE})");
        }
        self.0.store(IDLE, Release);
    }

    /// The state now (it may change at once).
    pub(crate) fn phase(&self) -> Phase {
        match self.0.load(Acquire) {
            IDLE => Phase::Idle,
            NOTIFIED => Phase::Notified,
            PARKED => Phase::Parked,
            DONE => Phase::Done,
            s => fatal!("park state {s} is not a state"),
        }
    }

    /// True once the task finished or was unwound (for its holder, which
    /// keeps it so).
    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        self.0.load(Relaxed) == DONE
    }

    /// True while the task is parked. Any thread may unpark it at any
    /// moment (which only queues it on its worker), so this is a hint: its
    /// worker's shrink pass uses it to skip coroutines about to run.
    #[inline]
    pub(crate) fn is_parked(&self) -> bool {
        self.0.load(Relaxed) == PARKED
    }

    /// Unpark: leave a token. True when the task was parked, in which case
    /// the caller must put it back on its worker's run queue (exactly once).
    #[inline]
    pub(crate) fn notify(&self) -> bool {
        let mut cur = self.0.load(Acquire);
        loop {
            if cur == DONE || cur == NOTIFIED {
                return false;
            }
            match self.0.compare_exchange_weak(cur, NOTIFIED, AcqRel, Acquire) {
                Ok(_) if planted(Bug::ParkNotifyAlwaysEnqueues) => return true,
                Ok(_) => return cur == PARKED,
                Err(now) => cur = now,
            }
        }
    }

    /// Park fast path, called by the running coroutine: take a waiting
    /// token (`NOTIFIED -> IDLE`). True when there was one: do not suspend.
    #[inline]
    ///
    /// A load first: a park mostly finds no token, and a failed
    /// compare-exchange is a locked instruction all the same (~11 ns on
    /// the benchmark machine, as much as a dozen plain ones). A token that
    /// arrives after the load is seen by the worker's
    /// [`ParkState::transition_to_parked`], as one after a failed exchange.
    pub(crate) fn take_token(&self) -> bool {
        self.0.load(Relaxed) == NOTIFIED
            && self
                .0
                .compare_exchange(NOTIFIED, IDLE, AcqRel, Acquire)
                .is_ok()
    }

    /// The worker starts a slice: any token is used up by running
    /// (`IDLE | NOTIFIED -> IDLE`). A parked or done task must not be run.
    #[inline]
    pub(crate) fn transition_to_running(&self) {
        let prev = self.0.load(Relaxed);
        debug_assert!(
            prev == IDLE || prev == NOTIFIED,
            "running a task in state {}",
            name(prev)
        );
        self.0.store(IDLE, Release);
    }

    /// The worker resumes a coroutine that yielded or was preempted (it is
    /// not waking from a park): a token that arrived since stays, so the
    /// park it may be on its way to returns at once (a preemption can come
    /// at the check point between a waiter's registration and its park).
    /// No change of state.
    #[inline]
    pub(crate) fn transition_to_resumed(&self) {
        if planted(Bug::ResumeDropsToken) {
            self.0.store(IDLE, Release);
            return;
        }
        debug_assert!(
            matches!(self.0.load(Relaxed), IDLE | NOTIFIED),
            "resuming a task in state {}",
            name(self.0.load(Relaxed))
        );
    }

    /// The worker, after the coroutine suspended to park: `IDLE -> PARKED`.
    /// False when a token arrived meanwhile (`NOTIFIED`): the caller runs it
    /// again instead of leaving it parked.
    #[inline]
    pub(crate) fn transition_to_parked(&self) -> bool {
        if planted(Bug::ParkStoreNotCas) {
            self.0.store(PARKED, Release);
            return true;
        }
        match self.0.compare_exchange(IDLE, PARKED, AcqRel, Acquire) {
            Ok(_) => true,
            Err(NOTIFIED) => false,
            Err(s) => fatal!("parking a task in state {} ({s})", name(s)),
        }
    }

    /// The coroutine finished or was unwound: `any -> DONE`, for good.
    #[inline]
    pub(crate) fn transition_to_done(&self) {
        self.0.store(DONE, Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_parked_to_notified_enqueues() {
        let s = ParkState::new();
        assert!(!s.notify(), "idle -> notified does not enqueue");
        assert!(!s.notify(), "a second token is not a second enqueue");
        assert!(s.take_token());
        assert!(!s.take_token(), "one token");
        assert!(s.transition_to_parked());
        assert!(s.notify(), "parked -> notified enqueues");
        assert!(!s.notify(), "once");
        s.transition_to_running();
        assert!(!s.take_token(), "running used the token");
        s.notify();
        assert!(!s.transition_to_parked(), "token arrived before the park");
        s.transition_to_running();
        s.transition_to_done();
        assert!(!s.notify(), "done never enqueues");
        assert!(!s.take_token(), "done stays done");
    }
}
