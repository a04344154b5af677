//! Parking: the one primitive every blocking operation is built on.
//!
//! [`park`] suspends the caller until its [`Unparker`] is used. It works for
//! both kinds of callers:
//! - a coroutine: the coroutine is suspended and its worker runs something
//!   else; `unpark` puts it back on its own worker's run queue (a started
//!   coroutine never moves to another thread);
//! - a plain thread (not a coroutine): `std::thread::park`.
//!
//! Semantics are those of `std::thread::park`: one token; `unpark` before
//! `park` makes the next `park` return at once; `park` may return
//! spuriously, so callers re-check their condition in a loop.
//!
//! Every `park` is a stack check point (SPEC §4): in the stress mode it runs
//! on a fresh segment. Parking on the system stack is a fatal error.

use std::sync::atomic::Ordering::{AcqRel, Acquire};
use std::sync::Arc;
use std::thread::Thread;
use std::time::Instant;

use super::task::{TaskShared, PARK_IDLE, PARK_NOTIFIED};

/// Wakes one parked coroutine or thread. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub(crate) enum Unparker {
    /// A coroutine, woken onto its own worker.
    Coroutine(Arc<TaskShared>),
    /// A plain OS thread.
    Thread(Thread),
}

impl Unparker {
    /// Make the owner's next (or current) `park` return.
    pub(crate) fn unpark(&self) {
        match self {
            Unparker::Coroutine(t) => t.unpark(),
            Unparker::Thread(t) => t.unpark(),
        }
    }
}

/// The unparker of the caller: its coroutine, or its thread.
pub(crate) fn current_unparker() -> Unparker {
    match crate::coro::current_task() {
        Some(t) => Unparker::Coroutine(t),
        None => Unparker::Thread(std::thread::current()),
    }
}

/// Block the caller until its unparker is used (may return spuriously).
pub(crate) fn park() {
    match crate::coro::current_task() {
        Some(task) => {
            // Fast path: a token is waiting.
            if task
                .park_state
                .compare_exchange(PARK_NOTIFIED, PARK_IDLE, AcqRel, Acquire)
                .is_ok()
            {
                return;
            }
            crate::coro::checkpoint(crate::coro::suspend_park);
        }
        None => std::thread::park(),
    }
}

/// Like [`park`], but returns by `deadline` at the latest.
pub(crate) fn park_until(deadline: Instant) {
    match crate::coro::current_task() {
        Some(task) => {
            if task
                .park_state
                .compare_exchange(PARK_NOTIFIED, PARK_IDLE, AcqRel, Acquire)
                .is_ok()
            {
                return;
            }
            super::timer::register(deadline, task);
            crate::coro::checkpoint(crate::coro::suspend_park);
        }
        None => {
            let now = Instant::now();
            if deadline > now {
                std::thread::park_timeout(deadline - now);
            }
        }
    }
}
