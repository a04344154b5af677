//! Plain `send`/`recv` and their `try_`/timeout forms: a select of one
//! case, written out. One lock when the operation can complete at once
//! (no waiter is made, no claim word touched); otherwise the caller's
//! record goes into the queue under that same lock, the caller parks until
//! a counterpart claims it (or its deadline passes), then removes the
//! record by key and reads what was left in it.

use std::time::Instant;

use super::error::{RecvError, SendError};
use super::state::{Attempt, Chan, Entry, Own};
use crate::sync::waiter::{Waiter, TAKEN_CASE};
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

/// A record in one of the channel's queues. Removed (and the claim word
/// disarmed) on drop, also when a cancel unwinds through the wait.
struct Pending<'a, T> {
    chan: &'a Chan<T>,
    key: Option<Key>,
    me: &'a Waiter,
    in_sendq: bool,
}

impl<T> Pending<'_, T> {
    fn remove(&mut self) -> Option<Entry<T>> {
        let k = self.key.take()?;
        let mut s = self.chan.st.lock();
        Some(if self.in_sendq {
            s.sendq.remove(k)
        } else {
            s.recvq.remove(k)
        })
    }
}

impl<T> Drop for Pending<'_, T> {
    fn drop(&mut self) {
        drop(self.remove());
        self.me.disarm();
    }
}

fn unexpected(what: &str) -> ! {
    fatal!("single channel operation: {what}")
}

impl<T> Chan<T> {
    /// `Ok(outcome)`, or the value back when it could not go in time.
    pub(crate) fn send_one(&self, v: T, wait: Wait) -> Result<Result<(), SendError<T>>, T> {
        let mut s = self.st.lock();
        let v = match s.send_locked(self.cap, v, &mut Own::none()) {
            Attempt::Done(r, wake) => {
                drop(s);
                if let Some(w) = wake {
                    w.wake();
                }
                return Ok(r);
            }
            Attempt::NotReady(v) => v,
            Attempt::LostClaim(_) | Attempt::Restart(_) => unexpected("a claim without a waiter"),
        };
        let Wait::Until(deadline) = wait else {
            return Err(v);
        };
        let me = Waiter::current();
        me.arm();
        let key = s.sendq.push_back(Entry {
            waiter: Some(me.clone()),
            case: 0,
            value: Some(v),
            single: true,
        });
        drop(s);
        let mut p = Pending {
            chan: self,
            key: Some(key),
            me: &me,
            in_sendq: true,
        };
        let r = me.wait(deadline, Why::ChanSend);
        if r == Some(TAKEN_CASE) {
            // A receiver took the value and freed the record.
            p.key = None;
            return Ok(Ok(()));
        }
        let won = r.is_some();
        let e = p.remove().unwrap_or_else(|| unexpected("record gone"));
        match (won, e.value) {
            (true, None) => Ok(Ok(())),
            (true, Some(v)) => Ok(Err(SendError(v))),
            (false, Some(v)) => Err(v),
            (false, None) => unexpected("value taken from an unclaimed send record"),
        }
    }

    /// `Some(outcome)`, or `None` when nothing came in time.
    pub(crate) fn recv_one(&self, wait: Wait) -> Option<Result<T, RecvError>> {
        let mut s = self.st.lock();
        match s.recv_locked(&mut Own::none()) {
            Attempt::Done(r, wake) => {
                drop(s);
                if let Some(w) = wake {
                    w.wake();
                }
                return Some(r);
            }
            Attempt::NotReady(()) => {}
            Attempt::LostClaim(_) | Attempt::Restart(_) => unexpected("a claim without a waiter"),
        }
        let Wait::Until(deadline) = wait else {
            return None;
        };
        let me = Waiter::current();
        me.arm();
        let key = s.recvq.push_back(Entry {
            waiter: Some(me.clone()),
            case: 0,
            value: None,
            single: true,
        });
        drop(s);
        let mut p = Pending {
            chan: self,
            key: Some(key),
            me: &me,
            in_sendq: false,
        };
        let won = me.wait(deadline, Why::ChanRecv).is_some();
        let e = p.remove().unwrap_or_else(|| unexpected("record gone"));
        match (won, e.value) {
            (true, v) => Some(v.ok_or(RecvError)),
            (false, None) => None,
            (false, Some(_)) => unexpected("value handed to an unclaimed recv record"),
        }
    }
}
