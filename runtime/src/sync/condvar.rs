//! A condition variable for [`Mutex`](super::Mutex) that parks coroutines
//! instead of blocking their worker.
//!
//! A waiter reads the notification counter while it still holds the mutex,
//! unlocks, and waits until the counter has moved; a notifier bumps the
//! counter, then wakes one (or every) waiter. A notify that comes after the
//! waiter unlocked therefore always ends the wait (the counter moved), and
//! one that came before it locked was seen by the waiter's own check of its
//! condition. Like std's, waits may end spuriously: re-check the condition
//! in a loop.

use std::sync::atomic::{AtomicU64, Ordering::*};
use std::time::{Duration, Instant};

use super::mutex::MutexGuard;
use super::waitq::{Wait, WaitQueue};

/// A coroutine-aware condition variable.
///
/// ```
/// use std::sync::Arc;
/// use bamboo::sync::{Condvar, Mutex};
/// let rt = bamboo::Runtime::new().unwrap();
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let p = pair.clone();
/// rt.spawn(move || {
///     *p.0.lock() = true;
///     p.1.notify_one();
/// });
/// let mut ready = pair.0.lock();
/// while !*ready {
///     ready = pair.1.wait(ready);
/// }
/// ```
pub struct Condvar {
    seq: AtomicU64,
    waiters: WaitQueue,
}

impl Default for Condvar {
    fn default() -> Self {
        Condvar::new()
    }
}

impl std::fmt::Debug for Condvar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Condvar { .. }")
    }
}

impl Condvar {
    /// A condition variable nobody waits on.
    pub fn new() -> Condvar {
        Condvar {
            seq: AtomicU64::new(0),
            waiters: WaitQueue::new(Wait::Condvar),
        }
    }

    /// Unlock `g`, wait for a notification, lock again.
    pub fn wait<'a, T>(&self, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        crate::coro::checkpoint(|| {
            let m = g.mutex();
            let seen = self.seq.load(Acquire);
            drop(g);
            self.waiters
                .wait_until(|| (self.seq.load(Acquire) != seen).then_some(()));
            m.lock()
        })
    }

    /// Like [`wait`](Condvar::wait), for at most `d`; the flag is true when
    /// the wait timed out.
    pub fn wait_timeout<'a, T>(
        &self,
        g: MutexGuard<'a, T>,
        d: Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        crate::coro::checkpoint(|| {
            let m = g.mutex();
            let seen = self.seq.load(Acquire);
            drop(g);
            let deadline = Instant::now().checked_add(d);
            let woken = match deadline {
                Some(dl) => self
                    .waiters
                    .wait_until_deadline(dl, || (self.seq.load(Acquire) != seen).then_some(()))
                    .is_some(),
                None => {
                    self.waiters
                        .wait_until(|| (self.seq.load(Acquire) != seen).then_some(()));
                    true
                }
            };
            (m.lock(), !woken)
        })
    }

    /// Wake one waiter.
    pub fn notify_one(&self) {
        self.seq.fetch_add(1, AcqRel);
        self.waiters.notify_one();
    }

    /// Wake every waiter.
    pub fn notify_all(&self) {
        self.seq.fetch_add(1, AcqRel);
        self.waiters.notify_all();
    }
}
