//! A mutual-exclusion lock that parks coroutines instead of blocking their
//! worker. No poisoning (like `parking_lot`): a panic while locked simply
//! unlocks.

use std::fmt;
use std::ops::{Deref, DerefMut};

use super::waitq::{Wait, WaitQueue};

/// A coroutine-aware mutex.
///
/// ```
/// use std::sync::Arc;
/// let rt = bamboo::Runtime::new()?;
/// let n = Arc::new(bamboo::sync::Mutex::new(0));
/// let hs: Vec<_> = (0..8)
///     .map(|_| {
///         let n = n.clone();
///         rt.spawn(move || *n.lock() += 1)
///     })
///     .collect();
/// hs.into_iter().for_each(|h| h.join().unwrap());
/// assert_eq!(*n.lock(), 8);
/// # Ok::<(), bamboo::Error>(())
/// ```
pub struct Mutex<T> {
    inner: parking_lot::Mutex<T>,
    waiters: WaitQueue,
}

/// Access to the value of a locked [`Mutex`]; unlocks when dropped.
pub struct MutexGuard<'a, T> {
    guard: Option<parking_lot::MutexGuard<'a, T>>,
    mutex: &'a Mutex<T>,
}

impl<T> Mutex<T> {
    /// A new unlocked mutex.
    pub fn new(v: T) -> Mutex<T> {
        Mutex {
            inner: parking_lot::Mutex::new(v),
            waiters: WaitQueue::new(Wait::Mutex),
        }
    }

    /// Lock, parking the coroutine (or blocking the thread) while another
    /// holder has it.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        crate::coro::checkpoint(|| {
            let g = self.waiters.wait_until(|| self.inner.try_lock());
            MutexGuard {
                guard: Some(g),
                mutex: self,
            }
        })
    }

    /// Lock if free.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.inner.try_lock().map(|g| MutexGuard {
            guard: Some(g),
            mutex: self,
        })
    }

    /// The value, by exclusive borrow (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Consume the mutex, returning the value.
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.try_lock() {
            Some(g) => f.debug_struct("Mutex").field("data", &&*g).finish(),
            None => f.debug_struct("Mutex").field("data", &"<locked>").finish(),
        }
    }
}

impl<'a, T> MutexGuard<'a, T> {
    /// The mutex this guard locks (for `Condvar`).
    pub(crate) fn mutex(&self) -> &'a Mutex<T> {
        self.mutex
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("guard is held until drop")
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("guard is held until drop")
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.guard.take());
        self.mutex.waiters.notify_one();
    }
}

impl<T: fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
