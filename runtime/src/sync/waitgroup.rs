//! Go's `sync.WaitGroup`: wait until a counter drops to zero. Share it via
//! `Arc`.

use std::sync::atomic::{AtomicUsize, Ordering::*};

use super::waitq::{Wait, WaitQueue};

/// Waits for a collection of coroutines to finish.
///
/// ```
/// use std::sync::Arc;
/// let rt = bamboo::Runtime::new()?;
/// let wg = Arc::new(bamboo::sync::WaitGroup::new());
/// wg.add(3);
/// for _ in 0..3 {
///     let wg = wg.clone();
///     rt.spawn(move || wg.done());
/// }
/// wg.wait(); // blocks this plain thread; a coroutine would park
/// assert_eq!(wg.count(), 0);
/// # Ok::<(), bamboo::Error>(())
/// ```
pub struct WaitGroup {
    count: AtomicUsize,
    waiters: WaitQueue,
}

impl Default for WaitGroup {
    fn default() -> Self {
        WaitGroup::new()
    }
}

impl std::fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitGroup")
            .field("count", &self.count.load(Relaxed))
            .finish()
    }
}

impl WaitGroup {
    /// A wait group with counter 0.
    pub fn new() -> WaitGroup {
        WaitGroup {
            count: AtomicUsize::new(0),
            waiters: WaitQueue::new(Wait::Group),
        }
    }

    /// Add `n` to the counter.
    ///
    /// # Panics
    /// If the counter would pass `usize::MAX` (the counter is left as it
    /// was), like Go's "WaitGroup counter overflow".
    pub fn add(&self, n: usize) {
        crate::coro::checkpoint(|| {
            if let Err(c) = self
                .count
                .fetch_update(AcqRel, Acquire, |c| c.checked_add(n))
            {
                panic!("WaitGroup::add: counter overflow ({c} + {n} > usize::MAX)");
            }
        })
    }

    /// Subtract one; wakes the waiters when it reaches zero.
    ///
    /// # Panics
    /// If the counter is already zero (Go: "negative WaitGroup counter").
    pub fn done(&self) {
        crate::coro::checkpoint(|| {
            let prev = self
                .count
                .fetch_update(AcqRel, Acquire, |c| c.checked_sub(1))
                .unwrap_or_else(|_| panic!("WaitGroup::done: negative WaitGroup counter"));
            if prev == 1 {
                self.waiters.notify_all();
            }
        })
    }

    /// Park until the counter is zero.
    pub fn wait(&self) {
        crate::coro::checkpoint(|| {
            self.waiters
                .wait_until(|| (self.count.load(Acquire) == 0).then_some(()))
        })
    }

    /// The current counter.
    pub fn count(&self) -> usize {
        self.count.load(Acquire)
    }
}
