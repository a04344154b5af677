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
//! Every `park` is a stack check point (docs/stacks.md): in the stress mode
//! it runs on a fresh segment. Parking on the system stack is a fatal error.

use crate::loom::thread::{self as thread, Thread};
use std::sync::Arc;
use std::time::Instant;

use super::task::{self, TaskShared};
use super::wait::Wait;

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
    match task::current() {
        Some(t) => Unparker::Coroutine(t),
        None => Unparker::Thread(thread::current()),
    }
}

/// Block the caller until its unparker is used (may return spuriously);
/// `why` is what a coroutine dump shows it waiting for.
pub(crate) fn park(why: Wait) {
    match task::current() {
        Some(task) => park_coroutine(task, None, why),
        None => thread::park(),
    }
}

/// Like [`park`], but returns by `deadline` at the latest.
pub(crate) fn park_until(deadline: Instant, why: Wait) {
    match task::current() {
        Some(task) => park_coroutine(task, Some(deadline), why),
        None => {
            let now = Instant::now();
            if deadline > now {
                thread::park_timeout(deadline - now);
            }
        }
    }
}

/// [`park`] / [`park_until`] for the running coroutine, whose task the
/// caller already holds: no reference-count traffic on the wait path.
/// `task` must be the caller's own task. Inlined into the channels' wait
/// loops, where the deadline is often known to be `None`.
#[inline]
pub(crate) fn park_task(task: &Arc<TaskShared>, deadline: Option<Instant>, why: Wait) {
    if task.park_state.take_token() {
        return;
    }
    if let Some(d) = deadline {
        super::timer::register(d, task.clone());
    }
    task.wait.parking(why, deadline.is_some());
    crate::coro::checkpoint(crate::coro::suspend_park);
}

/// The coroutine side of a park: return at once when a token is waiting,
/// else (after registering the deadline's timer) suspend; the worker then
/// moves the task to PARKED (see `state.rs`).
fn park_coroutine(task: Arc<TaskShared>, deadline: Option<Instant>, why: Wait) {
    if task.park_state.take_token() {
        return;
    }
    task.wait.parking(why, deadline.is_some());
    if let Some(d) = deadline {
        super::timer::register(d, task);
    }
    crate::coro::checkpoint(crate::coro::suspend_park);
}
