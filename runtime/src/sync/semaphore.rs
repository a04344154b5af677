//! A counting semaphore that parks coroutines instead of blocking their
//! worker. Permits are RAII guards; no poisoning.
//!
//! `acquire` takes a permit with a compare-and-swap loop on the counter and
//! waits in a `WaitQueue` while there is none; dropping a permit adds it
//! back, then wakes one waiter (state first, then notify: no lost wake-up).
//! Not FIFO: a caller arriving while a woken waiter is on its way may take
//! the permit first (the woken one waits again).

use std::sync::atomic::{AtomicUsize, Ordering::*};

use super::waitq::{Wait, WaitQueue};

/// A coroutine-aware counting semaphore.
///
/// ```
/// let s = bamboo::sync::Semaphore::new(2);
/// let a = s.acquire();
/// let b = s.try_acquire().unwrap();
/// assert!(s.try_acquire().is_none());
/// drop(a);
/// assert_eq!(s.available(), 1);
/// # drop(b);
/// ```
pub struct Semaphore {
    permits: AtomicUsize,
    waiters: WaitQueue,
}

/// One permit of a [`Semaphore`]; given back when dropped.
#[must_use = "the permit is released at once if not kept"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.available())
            .finish()
    }
}

impl std::fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SemaphorePermit")
    }
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            permits: AtomicUsize::new(permits),
            waiters: WaitQueue::new(Wait::Semaphore),
        }
    }

    fn take(&self) -> Option<SemaphorePermit<'_>> {
        self.permits
            .fetch_update(AcqRel, Acquire, |p| p.checked_sub(1))
            .ok()
            .map(|_| SemaphorePermit { sem: self })
    }

    /// Take a permit, parking while there is none.
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        crate::coro::checkpoint(|| self.waiters.wait_until(|| self.take()))
    }

    /// Take a permit if one is free now.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.take()
    }

    /// Permits free right now.
    pub fn available(&self) -> usize {
        self.permits.load(Acquire)
    }

    /// Add `n` permits (wakes up to `n` waiters).
    pub fn add_permits(&self, n: usize) {
        self.permits.fetch_add(n, AcqRel);
        for _ in 0..n {
            self.waiters.notify_one();
        }
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.permits.fetch_add(1, AcqRel);
        self.sem.waiters.notify_one();
    }
}
