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

/// The wait queue every primitive here is built on (defined in the
/// scheduler, which needs it for its own lock).
pub(crate) mod waitq {
    pub(crate) use crate::sched::waitq::WaitQueue;
}

pub use channel::{channel, Receiver, RecvError, SendError, Sender, TryRecvError};
pub use mutex::{Mutex, MutexGuard};
pub use waitgroup::WaitGroup;
