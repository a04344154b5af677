//! Plain `send`/`recv` and their `try_`/timeout forms: a select of one
//! case, written out. One lock when the operation can complete at once
//! (no waiter is made, no claim word touched); otherwise the caller's
//! record goes into the queue under that same lock, the caller parks until
//! a counterpart claims it (or its deadline passes), then removes the
//! record by key and reads what was left in it.
//!
//! The lean path of a single record (see `sync/waiter.rs`):
//!
//! ```text
//!   owner                               claimer (under the channel's lock)
//!   lock; push record{single}; unlock   pop record; move the value in/out;
//!   park while word < CLAIMED           word := CLAIMED (store, no CAS),
//!                                       or TAKEN for a send whose value it
//!                                       took, or for a recv woken by the
//!                                       close (it frees the record too);
//!                                       unlock; wake the owner
//!   TAKEN: done, no lock
//!   else: lock; read the word again; remove the record;
//!         CLAIMED: its outcome; still unclaimed: timed out
//! ```
//!
//! The owner never arms its word (no claimer CASes a single record) and
//! decides a timeout or a cancel under the lock, where no claim can be in
//! flight. Its task is borrowed, not cloned: the record's reference is the
//! only one made, and the claimer drops it after the wake.

use std::time::Instant;

use super::error::{RecvError, SendError};
use super::state::{Chan, Entry, Now};
use crate::sync::waiter::{with_owner, Word, TAKEN_CASE};
use crate::sync::waitlist::Key;
use crate::sync::waitq::Wait as Why;

/// How long a single operation may wait.
#[derive(Clone, Copy)]
pub(crate) enum Wait {
    /// Not at all.
    Now,
    /// Until the deadline (`None`: for ever).
    Until(Option<Instant>),
}

/// How a single operation's wait ended.
enum End<T> {
    /// A receiver took the (sent) value and freed the record; or, for a
    /// recv, the close freed it (nothing came).
    Taken,
    /// Claimed: the record, with what the claimer left in it.
    Claimed(Entry<T>),
    /// Not claimed by the deadline: the record, taken out.
    TimedOut(Entry<T>),
}

/// A record in one of the channel's queues. Removed (and the claim word
/// disarmed) on drop, also when a cancel unwinds through the wait.
struct Pending<'a, T, const SEND: bool> {
    chan: &'a Chan<T>,
    key: Option<Key>,
    word: Word<'a>,
}

impl<T, const SEND: bool> Pending<'_, T, SEND> {
    /// After the wait: `TAKEN` needs no lock (the record is gone); anything
    /// else is decided under the lock, where the word cannot change.
    #[inline(always)]
    fn end(&mut self) -> End<T> {
        if self.word.is_taken() {
            self.key = None;
            return End::Taken;
        }
        self.end_locked()
    }

    #[inline]
    fn end_locked(&mut self) -> End<T> {
        let Some(k) = self.key.take() else {
            unexpected("record gone")
        };
        let (mut s, claimed) = self.word.settle(|| self.chan.st.lock());
        if claimed == Some(TAKEN_CASE) {
            return End::Taken;
        }
        let e = if SEND {
            s.sendq.remove(k)
        } else {
            s.recvq.remove(k)
        };
        match claimed {
            Some(_) => End::Claimed(e),
            None => End::TimedOut(e),
        }
    }
}

impl<T, const SEND: bool> Drop for Pending<'_, T, SEND> {
    #[inline(always)]
    fn drop(&mut self) {
        if self.key.is_some() {
            self.unwound();
        }
        self.word.disarm();
    }
}

impl<T, const SEND: bool> Pending<'_, T, SEND> {
    /// Unwound (a cancel) before `end`: take the record out, unless a
    /// receiver already took the value and freed it. A value handed into a
    /// recv record meanwhile goes with the coroutine.
    #[cold]
    #[inline(never)]
    fn unwound(&mut self) {
        drop(self.end());
    }
}

fn unexpected(what: &str) -> ! {
    fatal!("single channel operation: {what}")
}

impl<T> Chan<T> {
    /// `Ok(outcome)`, or the value back when it could not go in time.
    #[inline(always)]
    pub(crate) fn send_one(&self, v: T, wait: Wait) -> Result<Result<(), SendError<T>>, T> {
        let mut s = self.st.lock();
        let v = match s.send_now(self.cap, v) {
            Now::Done(r, wake) => {
                drop(s);
                if let Some(w) = wake {
                    w.wake();
                }
                return Ok(r);
            }
            Now::Wait(v) => v,
        };
        let Wait::Until(deadline) = wait else {
            return Err(v);
        };
        with_owner(move |me| {
            let key = s.sendq.push_back_with(|| Entry {
                waiter: Some(me.waiter()),
                case: 0,
                value: Some(v),
                single: true,
            });
            drop(s);
            let mut p = Pending::<T, true> {
                chan: self,
                key: Some(key),
                word: me.single_word(),
            };
            me.wait_single(deadline, Why::ChanSend);
            match p.end() {
                End::Taken => Ok(Ok(())),
                // Claimed with the value still there: woken by the close.
                End::Claimed(e) => match e.value {
                    Some(v) => Ok(Err(SendError(v))),
                    None => unexpected("a plain send's value taken without TAKEN"),
                },
                End::TimedOut(e) => match e.value {
                    Some(v) => Err(v),
                    None => unexpected("value taken from an unclaimed send record"),
                },
            }
        })
    }

    /// `Some(outcome)`, or `None` when nothing came in time.
    #[inline(always)]
    pub(crate) fn recv_one(&self, wait: Wait) -> Option<Result<T, RecvError>> {
        let mut s = self.st.lock();
        match s.recv_now() {
            Now::Done(r, wake) => {
                drop(s);
                if let Some(w) = wake {
                    w.wake();
                }
                return Some(r);
            }
            Now::Wait(()) => {}
        }
        let Wait::Until(deadline) = wait else {
            return None;
        };
        with_owner(move |me| {
            let key = s.recvq.push_back_with(|| Entry {
                waiter: Some(me.waiter()),
                case: 0,
                value: None,
                single: true,
            });
            drop(s);
            let mut p = Pending::<T, false> {
                chan: self,
                key: Some(key),
                word: me.single_word(),
            };
            me.wait_single(deadline, Why::ChanRecv);
            match p.end() {
                End::Claimed(e) => Some(e.value.ok_or(RecvError)),
                End::TimedOut(e) => match e.value {
                    None => None,
                    Some(_) => unexpected("value handed to an unclaimed recv record"),
                },
                // Freed by the close (`State::close_receivers`).
                End::Taken => Some(Err(RecvError)),
            }
        })
    }
}
