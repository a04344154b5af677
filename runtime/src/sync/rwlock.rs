//! A reader-writer lock that parks coroutines instead of blocking their
//! worker. No poisoning.
//!
//! **Writer preference**: once a writer waits, new readers wait too (even
//! while other readers hold the lock), so a stream of readers cannot starve
//! a writer; when a writer unlocks, the next waiting writer goes before the
//! waiting readers. A steady stream of writers can therefore starve
//! readers, as in Go's `sync.RWMutex`.
//!
//! The value lives in a `parking_lot::RwLock` that is only ever `try_`-
//! locked; waiting happens in two `WaitQueue`s:
//! ```text
//!   read:   wait on `readers` until writers_waiting == 0 && try_read()
//!   write:  writers_waiting += 1; wait on `writers` until try_write();
//!           writers_waiting -= 1
//!   read unlock:  the lock is free -> wake one writer
//!   write unlock: writers waiting -> wake one writer, else every reader
//! ```
//! No wake-up is lost: every change that can make a waiter's condition
//! true (an unlock, `writers_waiting` reaching 0 because a waiting writer
//! gave up) is followed by a notify of the queue whose condition it is.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering::*};

use super::waitq::{Wait, WaitQueue};

/// A coroutine-aware reader-writer lock with writer preference.
///
/// ```
/// let l = bamboo::sync::RwLock::new(1);
/// {
///     let a = l.read();
///     let b = l.read();
///     assert_eq!(*a + *b, 2);
/// }
/// *l.write() += 1;
/// assert_eq!(*l.read(), 2);
/// ```
pub struct RwLock<T> {
    inner: parking_lot::RwLock<T>,
    writers_waiting: AtomicUsize,
    readers: WaitQueue,
    writers: WaitQueue,
}

/// Shared access to the value of a read-locked [`RwLock`].
pub struct RwLockReadGuard<'a, T> {
    guard: Option<parking_lot::RwLockReadGuard<'a, T>>,
    lock: &'a RwLock<T>,
}

/// Exclusive access to the value of a write-locked [`RwLock`].
pub struct RwLockWriteGuard<'a, T> {
    guard: Option<parking_lot::RwLockWriteGuard<'a, T>>,
    lock: &'a RwLock<T>,
}

/// A writer counted in `writers_waiting` while it waits; if it leaves
/// without the lock (unwound by a cancel), the readers it held back are
/// woken.
struct WaitingWriter<'a, T> {
    lock: &'a RwLock<T>,
    acquired: bool,
}

impl<T> Drop for WaitingWriter<'_, T> {
    fn drop(&mut self) {
        let left = self.lock.writers_waiting.fetch_sub(1, AcqRel) - 1;
        if !self.acquired {
            // It may have been the writer an unlock woke: pass that on.
            self.lock.writers.notify_one();
            if left == 0 {
                self.lock.readers.notify_all();
            }
        }
    }
}

impl<T> RwLock<T> {
    /// A new unlocked lock.
    pub fn new(v: T) -> RwLock<T> {
        RwLock {
            inner: parking_lot::RwLock::new(v),
            writers_waiting: AtomicUsize::new(0),
            readers: WaitQueue::new(Wait::RwLockRead),
            writers: WaitQueue::new(Wait::RwLockWrite),
        }
    }

    fn try_read_now(&self) -> Option<parking_lot::RwLockReadGuard<'_, T>> {
        if self.writers_waiting.load(Acquire) == 0 {
            self.inner.try_read()
        } else {
            None
        }
    }

    /// Lock for reading, parking while a writer holds the lock or waits.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        crate::coro::checkpoint(|| {
            let g = self.readers.wait_until(|| self.try_read_now());
            RwLockReadGuard {
                guard: Some(g),
                lock: self,
            }
        })
    }

    /// Lock for reading if that is possible now (no writer holds or waits).
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        self.try_read_now().map(|g| RwLockReadGuard {
            guard: Some(g),
            lock: self,
        })
    }

    /// Lock for writing, parking while anyone else holds the lock.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        crate::coro::checkpoint(|| {
            self.writers_waiting.fetch_add(1, AcqRel);
            let mut w = WaitingWriter {
                lock: self,
                acquired: false,
            };
            let g = self.writers.wait_until(|| self.inner.try_write());
            w.acquired = true;
            drop(w);
            RwLockWriteGuard {
                guard: Some(g),
                lock: self,
            }
        })
    }

    /// Lock for writing if nobody holds the lock.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.inner.try_write().map(|g| RwLockWriteGuard {
            guard: Some(g),
            lock: self,
        })
    }

    /// The value, by exclusive borrow (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Consume the lock, returning the value.
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.guard.take());
        // Whoever leaves the lock free wakes a writer (a reader that is not
        // last sees the lock still held; the last one sees it free).
        if !self.lock.inner.is_locked() {
            self.lock.writers.notify_one();
        }
    }
}

impl<T> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.guard.take());
        if self.lock.writers_waiting.load(Acquire) > 0 {
            self.lock.writers.notify_one();
        } else {
            self.lock.readers.notify_all();
        }
    }
}

impl<T> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("guard is held until drop")
    }
}

impl<T> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("guard is held until drop")
    }
}

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("guard is held until drop")
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.try_read() {
            Some(g) => f.debug_struct("RwLock").field("data", &&*g).finish(),
            None => f.debug_struct("RwLock").field("data", &"<locked>").finish(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
