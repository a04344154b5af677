//! The remote wake-up queue: how another thread hands a woken coroutine to
//! its owner worker without losing the wake-up when the owner is about to
//! sleep.
//!
//! Contract:
//! - Any thread pushes with [`push`]; only the owner worker pops.
//! - The owner announces it is going to sleep with [`announce_sleep`], then
//!   checks its queues once more, then waits in its poller; it clears
//!   `sleeping` when it wakes.
//! - Dekker's handshake, with a full fence on each side:
//!
//! ```text
//!   waker (any thread)                owner worker (idle)
//!   remote.push(task)                 sleeping = true
//!   fence(SeqCst)                     fence(SeqCst)
//!   sleeping? -> wake its poller      remote empty? -> wait in the poller
//! ```
//!   Either the owner's check sees the task, or the waker sees `sleeping`
//!   and wakes it (the poller's waker is an eventfd: a wake before the wait
//!   makes the wait return).
//!
//! Model-checked in `sched/models.rs`.

use std::sync::atomic::Ordering::*;

use crate::loom::sync::atomic::{fence, AtomicBool};
use crate::loom::{planted, Bug};

/// The owner's queue of woken tasks: crossbeam's lock-free queue.
#[cfg(not(loom))]
pub(crate) type RemoteQueue<T> = crossbeam_queue::SegQueue<T>;

/// Under loom: a mutex-guarded deque whose emptiness is an atomic read
/// without the lock, as `SegQueue::is_empty` is (so the model keeps the
/// weak ordering the real queue has).
#[cfg(loom)]
pub(crate) struct RemoteQueue<T> {
    q: crate::loom::sync::Mutex<std::collections::VecDeque<T>>,
    len: crate::loom::sync::atomic::AtomicUsize,
}

#[cfg(loom)]
impl<T> RemoteQueue<T> {
    pub(crate) fn new() -> Self {
        RemoteQueue {
            q: crate::loom::sync::Mutex::new(Default::default()),
            len: crate::loom::sync::atomic::AtomicUsize::new(0),
        }
    }
    pub(crate) fn push(&self, t: T) {
        let mut q = self.q.lock();
        q.push_back(t);
        self.len.store(q.len(), SeqCst);
    }
    pub(crate) fn pop(&self) -> Option<T> {
        let mut q = self.q.lock();
        let t = q.pop_front();
        self.len.store(q.len(), SeqCst);
        t
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(SeqCst) == 0
    }
}

/// Hand `t` to the owner. True when the owner may be asleep: the caller
/// must then wake its poller.
#[inline]
pub(crate) fn push<T>(q: &RemoteQueue<T>, sleeping: &AtomicBool, t: T) -> bool {
    q.push(t);
    if !planted(Bug::RemoteNoFence) {
        fence(SeqCst);
    }
    sleeping.load(Relaxed)
}

/// The owner is about to sleep: after this, it checks its queues once more
/// before it waits.
#[inline]
pub(crate) fn announce_sleep(sleeping: &AtomicBool) {
    sleeping.store(true, SeqCst);
    fence(SeqCst);
}
