//! Multi-producer, multi-consumer channels (Go's `chan`).
//!
//! `channel(cap)` with `cap > 0` buffers up to `cap` values; `cap == 0` is a
//! rendezvous: `send` returns only once a receiver has taken the value.
//! `send` fails once every receiver is gone (giving the value back);
//! `recv` fails once every sender is gone and the buffer is empty. Nothing
//! waits forever on a closed channel.
//!
//! Every operation is a one-case select (`state.rs`, `select/engine.rs`):
//! one lock when it can complete at once; otherwise one wait record in the
//! channel's queue, claimed and completed by the counterpart (a hand-off
//! under the lock, Go's `sudog`), with nothing allocated per wait.

mod error;
mod one;
pub(crate) mod state;

use std::fmt;
use std::sync::atomic::Ordering::{AcqRel, Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
use one::Wait;
pub(crate) use state::Chan;
use state::State;

/// The sending half; `Clone` for more producers.
pub struct Sender<T> {
    pub(crate) chan: Arc<Chan<T>>,
    /// Counted in `senders` (the runtime's `time::after` sender stops
    /// counting once it has fired, so its channel never reads as closed).
    counted: bool,
}

/// The receiving half; `Clone` for more consumers. Iterate it (by value or
/// by reference) to receive until every sender is gone.
pub struct Receiver<T> {
    pub(crate) chan: Arc<Chan<T>>,
}

/// A channel buffering `cap` values (`0` = rendezvous).
///
/// ```
/// let rt = bamboo::Runtime::new()?;
/// let total = rt.block_on(|| {
///     let (tx, rx) = bamboo::sync::channel::<u32>(0);
///     let producer = bamboo::spawn(move || (1..=4).for_each(|i| tx.send(i).unwrap()));
///     let total: u32 = rx.into_iter().sum(); // ends when the sender is gone
///     producer.join().unwrap();
///     total
/// });
/// assert_eq!(total, 10);
/// # Ok::<(), bamboo::Error>(())
/// ```
pub fn channel<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(cap));
    (
        Sender {
            chan: chan.clone(),
            counted: true,
        },
        Receiver { chan },
    )
}

/// A receiver that never receives anything and never closes: a select case
/// on it is never ready (Go's `nil` channel, crossbeam's `never`). Use it
/// to switch a case off, e.g. once its channel has closed:
///
/// ```
/// use bamboo::sync::{channel, never};
/// let (tx, rx) = channel::<u32>(1);
/// let off = never::<u32>();
/// drop(tx);
/// let mut open = true;
/// for _ in 0..3 {
///     bamboo::select! {
///         recv(if open { &rx } else { &off }) -> v => { assert!(v.is_err()); open = false; }
///         default => assert!(!open),
///     }
/// }
/// ```
pub fn never<T>() -> Receiver<T> {
    let (tx, rx) = channel(0);
    tx.uncount();
    rx
}

fn within(d: Duration) -> Wait {
    // A deadline past the clock's range is no deadline.
    Wait::Until(Instant::now().checked_add(d))
}

impl<T> Sender<T> {
    /// Inlined into each form, so the blocking one's wait is known at
    /// compile time (no deadline tests on its path).
    #[inline(always)]
    fn run(&self, v: T, wait: Wait) -> Result<Result<(), SendError<T>>, T> {
        self.chan.send_one(v, wait)
    }

    /// Send `v`, parking while the buffer is full (or, for a rendezvous
    /// channel, until a receiver takes it).
    pub fn send(&self, v: T) -> Result<(), SendError<T>> {
        crate::coro::checkpoint(|| match self.run(v, Wait::Until(None)) {
            Ok(r) => r,
            Err(_) => fatal!("a blocking send returned unsent"),
        })
    }

    /// Send `v` if that is possible right now: buffer room, or (rendezvous)
    /// a receiver already waiting.
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        crate::coro::checkpoint(|| self.try_send_now(v))
    }

    /// `try_send` without the check point (the timer heap's path).
    pub(crate) fn try_send_now(&self, v: T) -> Result<(), TrySendError<T>> {
        match self.run(v, Wait::Now) {
            Ok(r) => r.map_err(TrySendError::from),
            Err(v) => Err(TrySendError::Full(v)),
        }
    }

    /// Send `v`, waiting at most `d` for room (or a receiver).
    pub fn send_timeout(&self, v: T, d: Duration) -> Result<(), SendTimeoutError<T>> {
        crate::coro::checkpoint(|| match self.run(v, within(d)) {
            Ok(r) => r.map_err(SendTimeoutError::from),
            Err(v) => Err(SendTimeoutError::Timeout(v)),
        })
    }

    /// Like `send_timeout`, with an absolute deadline.
    pub fn send_deadline(&self, v: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.send_timeout(v, deadline.saturating_duration_since(Instant::now()))
    }

    /// True when every receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.chan.st.lock().no_receivers
    }

    /// The capacity (0 = rendezvous).
    pub fn capacity(&self) -> usize {
        self.chan.cap
    }

    /// Stop counting as a sender without dropping the channel's reference
    /// (the receivers never see this sender disconnect).
    pub(crate) fn uncount(mut self) {
        self.counted = false;
    }
}

impl<T> Receiver<T> {
    /// Inlined into each form (see `Sender::run`).
    #[inline(always)]
    fn run(&self, wait: Wait) -> Option<Result<T, RecvError>> {
        self.chan.recv_one(wait)
    }

    /// Receive a value, parking while there is none.
    pub fn recv(&self) -> Result<T, RecvError> {
        crate::coro::checkpoint(|| match self.run(Wait::Until(None)) {
            Some(r) => r,
            None => fatal!("a blocking recv returned nothing"),
        })
    }

    /// Receive a value if one is buffered (or a sender waits).
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        crate::coro::checkpoint(|| match self.run(Wait::Now) {
            Some(r) => r.map_err(TryRecvError::from),
            None => Err(TryRecvError::Empty),
        })
    }

    /// Receive a value, waiting at most `d`.
    pub fn recv_timeout(&self, d: Duration) -> Result<T, RecvTimeoutError> {
        crate::coro::checkpoint(|| match self.run(within(d)) {
            Some(r) => r.map_err(RecvTimeoutError::from),
            None => Err(RecvTimeoutError::Timeout),
        })
    }

    /// Like `recv_timeout`, with an absolute deadline.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.recv_timeout(deadline.saturating_duration_since(Instant::now()))
    }

    /// A blocking iterator: values until every sender is gone and the
    /// buffer is empty.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// A non-blocking iterator: the values available right now.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// Values buffered right now.
    pub fn len(&self) -> usize {
        self.chan.st.lock().buf.len()
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity (0 = rendezvous).
    pub fn capacity(&self) -> usize {
        self.chan.cap
    }
}

/// Borrowing blocking iterator of a [`Receiver`].
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

/// Borrowing non-blocking iterator of a [`Receiver`].
#[derive(Debug)]
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

/// Owning blocking iterator of a [`Receiver`].
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        // From a live handle: the count is not 0 (`state.rs`).
        self.chan.senders.fetch_add(1, Relaxed);
        Sender {
            chan: self.chan.clone(),
            counted: true,
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.receivers.fetch_add(1, Relaxed);
        Receiver {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    /// The last sender closes the channel: blocked receivers wake with
    /// `RecvError` once the buffer is drained.
    fn drop(&mut self) {
        if !self.counted {
            return;
        }
        // The last one closes, under the lock (`state.rs`); the others
        // take no lock.
        if self.chan.senders.fetch_sub(1, AcqRel) == 1 {
            let mut s = self.chan.st.lock();
            s.no_senders = true;
            State::close_receivers(&mut s.recvq);
        }
    }
}

impl<T> Drop for Receiver<T> {
    /// The last receiver wakes blocked senders, which take their values back.
    fn drop(&mut self) {
        if self.chan.receivers.fetch_sub(1, AcqRel) == 1 {
            let mut s = self.chan.st.lock();
            s.no_receivers = true;
            State::wake_all(&mut s.sendq);
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sender { .. }")
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Receiver { .. }")
    }
}
