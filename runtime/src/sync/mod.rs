//! Coroutine-aware synchronisation: [`channel`], [`Mutex`], [`WaitGroup`].
//!
//! All of them park the calling *coroutine* (its worker runs others), or
//! block the calling plain thread; every operation is a stack check point.
//! They are built on one primitive, `waitq::WaitQueue`: register the
//! caller's unparker, re-check the condition, park. Internal state sits in
//! short `parking_lot` critical sections that never park while held.

mod channel;
mod mutex;
mod waitgroup;
pub(crate) mod waitq;

pub use channel::{channel, Receiver, RecvError, SendError, Sender, TryRecvError};
pub use mutex::{Mutex, MutexGuard};
pub use waitgroup::WaitGroup;

use std::sync::atomic::{AtomicBool, Ordering::*};

/// A binary semaphore for the runtime's own locks (stop-the-world, metrics):
/// acquire parks a coroutine rather than blocking its worker.
pub(crate) struct Semaphore {
    held: AtomicBool,
    waiters: waitq::WaitQueue,
}

impl Semaphore {
    pub(crate) fn new() -> Semaphore {
        Semaphore {
            held: AtomicBool::new(false),
            waiters: waitq::WaitQueue::new(),
        }
    }

    pub(crate) fn acquire(&self) {
        self.waiters.wait_until(|| {
            self.held
                .compare_exchange(false, true, Acquire, Relaxed)
                .ok()
                .map(|_| ())
        })
    }

    pub(crate) fn release(&self) {
        self.held.store(false, Release);
        self.waiters.notify_one();
    }
}
