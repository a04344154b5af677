//! Coroutine-aware synchronisation: [`channel`] and [`select!`](crate::select!)
//! / [`Select`], [`Mutex`], [`RwLock`], [`Condvar`], [`Semaphore`],
//! [`WaitGroup`].
//!
//! All of them park the calling *coroutine* (its worker runs others), or
//! block the calling plain thread; every operation is a stack check point.
//! None of them poisons. Two waiting primitives underneath:
//! - channels and select: wait records in the channels' own queues, all
//!   naming one claim word per waiter (`waiter.rs`, `waitlist.rs`,
//!   `select/engine.rs`; docs/sync.md);
//! - the locks and the wait group: `waitq::WaitQueue` (register the caller,
//!   re-check the condition, park; a woken waiter re-checks).
//!
//! Internal state sits in short `parking_lot` critical sections that never
//! park while held.

mod channel;
mod condvar;
mod mutex;
mod rwlock;
pub(crate) mod select;
mod semaphore;
pub(crate) mod waiter;
mod waitgroup;
pub(crate) mod waitlist;

#[cfg(all(test, loom))]
mod models;

/// The wait queue every primitive here is built on (defined in the
/// scheduler, which needs it for its own lock).
pub(crate) mod waitq {
    pub(crate) use crate::sched::wait::Wait;
    pub(crate) use crate::sched::waitq::WaitQueue;
}

pub use channel::{
    channel, never, IntoIter, Iter, Receiver, RecvError, RecvTimeoutError, SendError,
    SendTimeoutError, Sender, TryIter, TryRecvError, TrySendError,
};
pub use condvar::Condvar;
pub use mutex::{Mutex, MutexGuard};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
#[doc(hidden)]
pub use select::__private;
pub use select::Select;
pub use semaphore::{Semaphore, SemaphorePermit};
pub use waitgroup::WaitGroup;
