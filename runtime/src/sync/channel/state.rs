//! A channel's state and the locked halves of its operations (Go's `hchan`
//! with `chansend`/`chanrecv`), plus the two select cases built on them.
//!
//! ```text
//!   Chan { cap, st: SpinLock<State>, senders, receivers (handle counts) }
//!   State { buf: [v0 v1 ..] (cap > 0),
//!           sendq: records of blocked senders, each holding its value,
//!           recvq: records of blocked receivers, each an empty value slot,
//!           no_senders, no_receivers }
//! ```
//!
//! The handle counts are atomics outside the lock: cloning or dropping a
//! handle that is not the last takes no lock (a thousand receivers
//! dropping their clones as a close wakes them do not queue on the lock
//! the close holds). The drop that takes a count to zero sets its flag in
//! `State` under the lock and wakes the other side there; a count never
//! goes from zero back up (a handle is cloned only from a live one), so
//! a flag, once set, stays. Operations read the flags under the lock.
//!
//! Invariants (under `st`): a live record in `recvq` means `buf` is empty;
//! a live record in `sendq` means `buf` is full (or `cap == 0`). Records
//! whose waiter was claimed elsewhere ("dead") may sit anywhere; whoever
//! meets one at the front unlinks it. Completing an operation against a
//! blocked counterpart is always a hand-off under the lock: the claimer
//! CASes the counterpart's claim word, moves the value into (recv) or out
//! of (send) its record, unlinks the record and, after unlocking, wakes it.
//! The owner removes its own record by key and reads what was left there.

use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;

use crate::lock::SpinLock;

use super::error::{RecvError, SendError};
use crate::sched::wake_batch::WakeBatch;
use crate::sync::select::engine::{CaseOp, Me, Step};
use crate::sync::waiter::Waiter;
use crate::sync::waitlist::{Ahead, Key, WaitList};

/// How many records ahead of the one it wakes a close prefetches the
/// waiter's task (a wake is ~100 ns; a miss to memory, with its page walk,
/// about as much again).
const CLOSE_PREFETCH: usize = 8;

/// A wait record.
pub(crate) struct Entry<T> {
    /// `Some` while linked; a claimer takes it to wake the owner.
    pub waiter: Option<Waiter>,
    pub case: usize,
    /// Send: the value until a receiver takes it. Recv: the value once a
    /// sender hands it over (`None` when woken by the close).
    pub value: Option<T>,
    /// A plain `send`'s record: a receiver that takes its value frees it
    /// and claims the owner as `TAKEN`, so the owner need not come back.
    pub single: bool,
}

impl<T> Entry<T> {
    #[inline]
    fn waiter(&self) -> &Waiter {
        match &self.waiter {
            Some(w) => w,
            None => fatal!("a linked wait record names no waiter"),
        }
    }

    /// Can still be claimed. A single operation's record always can while
    /// it is linked (its owner takes it out under the lock before it gives
    /// up); a select's only while its owner's word says `WAITING`.
    #[inline]
    fn is_live(&self) -> bool {
        self.single || self.waiter().is_waiting()
    }

    /// Claim the record's owner for its case (the caller holds the lock of
    /// the queue it is in). A single operation's record cannot be lost to
    /// anyone else (a store, see `sync/waiter.rs`); a select's is a CAS that
    /// fails when another of its cases won. `take`: the caller takes a
    /// plain send's value and frees its record (`TAKEN`).
    #[inline]
    fn claim(&self, take: bool) -> bool {
        if self.single {
            self.waiter().claim_single(take);
            true
        } else {
            self.waiter().claim(self.case)
        }
    }
}

pub(crate) struct State<T> {
    pub buf: VecDeque<T>,
    pub sendq: WaitList<Entry<T>>,
    pub recvq: WaitList<Entry<T>>,
    /// Every `Sender` is gone (set once, under the lock).
    pub no_senders: bool,
    /// Every `Receiver` is gone (set once, under the lock).
    pub no_receivers: bool,
}

pub(crate) struct Chan<T> {
    /// Capacity (0 = rendezvous); fixed at creation.
    pub cap: usize,
    pub st: SpinLock<State<T>>,
    /// Live (counted) `Sender`s.
    pub senders: AtomicUsize,
    /// Live `Receiver`s.
    pub receivers: AtomicUsize,
}

impl<T> Chan<T> {
    pub(crate) fn new(cap: usize) -> Chan<T> {
        Chan {
            cap,
            st: SpinLock::new(State {
                buf: VecDeque::with_capacity(cap.min(1024)),
                sendq: WaitList::new(),
                recvq: WaitList::new(),
                no_senders: false,
                no_receivers: false,
            }),
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
        }
    }
}

/// The waiter doing an operation, as a locked attempt sees it.
pub(crate) struct Own<'a> {
    me: Option<&'a Waiter>,
    case: usize,
    /// Completing must claim `me` first (it has records elsewhere).
    self_claim: bool,
    claimed: bool,
}

impl<'a> Own<'a> {
    pub(crate) fn new(me: &Me<'a>, case: usize) -> Own<'a> {
        let me = match me {
            Me::Armed(w) => Some(*w),
            Me::Poll => None,
        };
        Own {
            me,
            case,
            self_claim: me.is_some(),
            claimed: false,
        }
    }

    /// A record of our own (a select sending and receiving on one channel).
    fn skips<T>(&self, e: &Entry<T>) -> bool {
        match (self.me, &e.waiter) {
            (Some(m), Some(w)) => m.is(w),
            _ => false,
        }
    }

    /// Make sure the completion is ours; false when another case won.
    #[inline]
    fn commit(&mut self) -> bool {
        if self.self_claim && !self.claimed {
            let me = self.me.expect("a self-claim has a waiter");
            self.claimed = me.claim(self.case);
            return self.claimed;
        }
        true
    }
}

/// How a locked attempt went; `V` is what the caller gets back when it
/// did not complete (the value of a send).
pub(crate) enum Attempt<R, V> {
    Done(R, Option<Waiter>),
    NotReady(V),
    LostClaim(V),
    Restart(V),
}

/// Claim the first live counterpart in `q` for a caller registered
/// nowhere (a single operation or a select's poll pass): no own records
/// to skip, no claim of its own to make first; dead records simply fail
/// their claim and are unlinked on the way.
#[inline(always)]
fn claim_front<T>(q: &mut WaitList<Entry<T>>, take: bool) -> Option<Key> {
    while let Some(k) = q.pop_front() {
        if q.get(k).claim(take) {
            return Some(k);
        }
    }
    None
}

/// Claim the first live counterpart in `q` for an armed select case,
/// skipping its own records and unlinking dead ones on the way. `Err` when
/// our own claim was lost.
/// `take`: the caller takes the record's value (a receiver taking from a
/// sender), so a single send's record is claimed as `TAKEN`.
#[inline]
fn claim_first<T>(
    q: &mut WaitList<Entry<T>>,
    own: &mut Own<'_>,
    take: bool,
) -> Result<Option<Key>, ()> {
    if own.me.is_none() {
        return Ok(claim_front(q, take));
    }
    loop {
        let Some(k) = q.first(|e| own.skips(e)) else {
            return Ok(None);
        };
        let e = q.get(k);
        if !e.is_live() {
            q.unlink(k);
            continue;
        }
        if !own.commit() {
            return Err(());
        }
        let won = e.claim(take);
        q.unlink(k);
        if won {
            return Ok(Some(k));
        }
    }
}

/// Register a record for the stepping waiter (`Poll`: nothing, `None`).
fn register<T>(
    q: &mut WaitList<Entry<T>>,
    me: &mut Me<'_>,
    case: usize,
    value: Option<T>,
) -> Result<Key, Option<T>> {
    let waiter = match me {
        Me::Poll => return Err(value),
        Me::Armed(w) => (*w).clone(),
    };
    Ok(q.push_back(Entry {
        waiter: Some(waiter),
        case,
        value,
        single: false,
    }))
}

/// How an attempt by a caller registered nowhere went (a single
/// operation, or a select's poll pass): no claim of its own can be lost.
pub(crate) enum Now<R, V> {
    /// Took effect; the waiter to wake after unlocking, if any.
    Done(R, Option<Waiter>),
    /// Cannot go now; `V` is what the caller gets back (a send's value).
    Wait(V),
}

impl<R, V> Now<R, V> {
    #[inline(always)]
    fn attempt(self) -> Attempt<R, V> {
        match self {
            Now::Done(r, w) => Attempt::Done(r, w),
            Now::Wait(v) => Attempt::NotReady(v),
        }
    }
}

impl<T> State<T> {
    /// Send `v` now if a receiver waits or the buffer has room (the caller
    /// has no records anywhere).
    #[inline(always)]
    pub(crate) fn send_now(&mut self, cap: usize, v: T) -> Now<Result<(), SendError<T>>, T> {
        if self.no_receivers {
            return Now::Done(Err(SendError(v)), None);
        }
        if !self.recvq.is_empty() {
            if let Some(k) = claim_front(&mut self.recvq, false) {
                let e = self.recvq.get_mut(k);
                e.value = Some(v);
                return Now::Done(Ok(()), e.waiter.take());
            }
        }
        if self.buf.len() < cap {
            self.buf.push_back(v);
            return Now::Done(Ok(()), None);
        }
        Now::Wait(v)
    }

    /// Claim the first live blocked sender and take its value (and its
    /// waiter, to wake), for a caller with no records anywhere. A plain
    /// send's record is freed here (claimed as `TAKEN`); a select's stays
    /// for its owner, emptied.
    #[inline(always)]
    fn take_sender_now(&mut self) -> Option<(T, Option<Waiter>)> {
        if self.sendq.front()?.single {
            return Some(self.take_single_sender());
        }
        self.take_sender_past_selects()
    }

    /// The front record is a plain send's: take its value and free it.
    #[inline(always)]
    fn take_single_sender(&mut self) -> (T, Option<Waiter>) {
        let e = self.sendq.take_front().expect("a front record");
        e.waiter().claim_single(true);
        let v = e.value.expect("a blocked sender holds its value");
        (v, e.waiter)
    }

    /// [`State::take_sender_now`] with a select's record at the front:
    /// claim it (a CAS that fails when another of its cases won; such dead
    /// records are unlinked on the way).
    #[inline(never)]
    fn take_sender_past_selects(&mut self) -> Option<(T, Option<Waiter>)> {
        loop {
            if self.sendq.front()?.single {
                return Some(self.take_single_sender());
            }
            let k = self.sendq.pop_front().expect("a front record");
            let e = self.sendq.get_mut(k);
            if e.claim(true) {
                let v = e.value.take().expect("a blocked sender holds its value");
                return Some((v, e.waiter.take()));
            }
        }
    }

    /// Receive now if a value is buffered, a sender waits, or the channel
    /// is closed (the caller has no records anywhere).
    #[inline(always)]
    pub(crate) fn recv_now(&mut self) -> Now<Result<T, RecvError>, ()> {
        if let Some(v) = self.buf.pop_front() {
            // Room now: move the first blocked sender's value in (Go's
            // chanrecv on a full buffer).
            let wake = match self.take_sender_now() {
                Some((sent, w)) => {
                    self.buf.push_back(sent);
                    w
                }
                None => None,
            };
            return Now::Done(Ok(v), wake);
        }
        if let Some((v, w)) = self.take_sender_now() {
            return Now::Done(Ok(v), w);
        }
        if self.no_senders {
            return Now::Done(Err(RecvError), None);
        }
        Now::Wait(())
    }
}

impl<T> State<T> {
    /// Send `v` now if a receiver waits or the buffer has room.
    #[inline]
    pub(crate) fn send_locked(
        &mut self,
        cap: usize,
        v: T,
        own: &mut Own<'_>,
    ) -> Attempt<Result<(), SendError<T>>, T> {
        if own.me.is_none() {
            return self.send_now(cap, v).attempt();
        }
        if self.no_receivers {
            if !own.commit() {
                return Attempt::LostClaim(v);
            }
            return Attempt::Done(Err(SendError(v)), None);
        }
        let found = if self.recvq.is_empty() {
            Ok(None)
        } else {
            claim_first(&mut self.recvq, own, false)
        };
        match found {
            Err(()) => return Attempt::LostClaim(v),
            Ok(Some(k)) => {
                let e = self.recvq.get_mut(k);
                e.value = Some(v);
                return Attempt::Done(Ok(()), e.waiter.take());
            }
            Ok(None) => {}
        }
        if self.buf.len() < cap {
            if !own.commit() {
                return Attempt::LostClaim(v);
            }
            self.buf.push_back(v);
            return Attempt::Done(Ok(()), None);
        }
        if own.claimed {
            Attempt::Restart(v)
        } else {
            Attempt::NotReady(v)
        }
    }

    /// Claim the first blocked sender for an armed select case and take its
    /// value (and its waiter, to wake); a single send's record is freed here.
    #[inline]
    fn take_sender(&mut self, own: &mut Own<'_>) -> Result<Option<(T, Option<Waiter>)>, ()> {
        if self.sendq.is_empty() {
            return Ok(None);
        }
        let Some(k) = claim_first(&mut self.sendq, own, true)? else {
            return Ok(None);
        };
        let e = self.sendq.get_mut(k);
        let v = e.value.take().expect("a blocked sender holds its value");
        let w = e.waiter.take();
        if e.single {
            drop(self.sendq.remove(k));
        }
        Ok(Some((v, w)))
    }

    /// Receive now if a value is buffered, a sender waits, or the channel
    /// is closed.
    #[inline]
    pub(crate) fn recv_locked(&mut self, own: &mut Own<'_>) -> Attempt<Result<T, RecvError>, ()> {
        if own.me.is_none() {
            return self.recv_now().attempt();
        }
        if !self.buf.is_empty() {
            if !own.commit() {
                return Attempt::LostClaim(());
            }
            let v = self.buf.pop_front().expect("checked non-empty");
            // Room now: move the first blocked sender's value in (Go's
            // chanrecv on a full buffer).
            let wake = match self.take_sender(own) {
                Ok(Some((sent, w))) => {
                    self.buf.push_back(sent);
                    w
                }
                _ => None,
            };
            return Attempt::Done(Ok(v), wake);
        }
        match self.take_sender(own) {
            Err(()) => return Attempt::LostClaim(()),
            Ok(Some((v, w))) => return Attempt::Done(Ok(v), w),
            Ok(None) => {}
        }
        if self.no_senders {
            if !own.commit() {
                return Attempt::LostClaim(());
            }
            return Attempt::Done(Err(RecvError), None);
        }
        if own.claimed {
            Attempt::Restart(())
        } else {
            Attempt::NotReady(())
        }
    }

    /// The last sender is gone: claim and wake every receiver. A plain
    /// `recv`'s record is freed here and its owner claimed as `TAKEN`, so
    /// it reports the close without locking the channel again (a close
    /// that wakes thousands would otherwise queue every one of them on
    /// this lock, held for the whole loop); a select's record is claimed
    /// for its case and left for its owner to remove, as in
    /// [`State::wake_all`].
    pub(crate) fn close_receivers(q: &mut WaitList<Entry<T>>) {
        let mut batch = WakeBatch::new();
        let mut ahead = Ahead::default();
        while let Some(front) = q.front() {
            // Each wake misses on its task (a million parked receivers
            // are a million cold tasks): start loading the one
            // CLOSE_PREFETCH records on while this one is woken.
            if let Some(w) = q.ahead(&mut ahead, CLOSE_PREFETCH) {
                if let Some(w) = &w.waiter {
                    w.prefetch();
                }
            }
            if front.single {
                let e = q.take_front().expect("a front record");
                e.waiter().claim_single(true);
                e.waiter.expect("just checked").wake_in(&mut batch);
            } else {
                let k = q.pop_front().expect("a front record");
                let e = q.get_mut(k);
                if e.claim(false) {
                    e.waiter.take().expect("just checked").wake_in(&mut batch);
                }
            }
        }
        batch.flush();
    }

    /// Claim and wake every record of `q` (the other side is gone: the
    /// owners find their records without a hand-off and report the close).
    pub(crate) fn wake_all(q: &mut WaitList<Entry<T>>) {
        let mut batch = WakeBatch::new();
        while let Some(k) = q.first(|_| false) {
            q.unlink(k);
            let e = q.get_mut(k);
            if e.claim(false) {
                e.waiter.take().expect("just checked").wake_in(&mut batch);
            }
        }
        batch.flush();
    }
}

/// A `recv` case (also what `Receiver::recv` runs).
pub struct RecvCase<'a, T> {
    chan: &'a Chan<T>,
    key: Option<Key>,
    out: Option<Result<T, RecvError>>,
}

impl<'a, T> RecvCase<'a, T> {
    pub(crate) fn on(chan: &'a Chan<T>) -> RecvCase<'a, T> {
        RecvCase {
            chan,
            key: None,
            out: None,
        }
    }

    /// The outcome of a case that took effect.
    ///
    /// # Panics
    /// If this case did not take effect (or its outcome was taken).
    pub fn take(&mut self) -> Result<T, RecvError> {
        self.out
            .take()
            .expect("the outcome of a recv case that did not take effect")
    }

    pub(crate) fn out_mut(&mut self) -> &mut Option<Result<T, RecvError>> {
        &mut self.out
    }

    pub(crate) fn has_out(&self) -> bool {
        self.out.is_some()
    }
}

impl<T> CaseOp for RecvCase<'_, T> {
    fn step(&mut self, me: &mut Me<'_>, idx: usize) -> Step {
        let mut own = Own::new(me, idx);
        let (r, wake) = {
            let mut s = self.chan.st.lock();
            match s.recv_locked(&mut own) {
                Attempt::Done(r, w) => (r, w),
                Attempt::NotReady(()) => {
                    return match register(&mut s.recvq, me, idx, None) {
                        Ok(k) => {
                            self.key = Some(k);
                            Step::Registered
                        }
                        Err(_) => Step::NotReady,
                    };
                }
                Attempt::LostClaim(()) => return Step::LostClaim,
                Attempt::Restart(()) => return Step::Restart,
            }
        };
        self.out = Some(r);
        if let Some(w) = wake {
            w.wake();
        }
        Step::Done
    }

    fn finish(&mut self, won: bool) {
        let Some(k) = self.key.take() else { return };
        let e = self.chan.st.lock().recvq.remove(k);
        if won {
            self.out = Some(e.value.ok_or(RecvError));
        } else if e.value.is_some() {
            fatal!("a value was handed to a recv record that was not claimed");
        }
    }
}

impl<T> Drop for RecvCase<'_, T> {
    /// Unwound while waiting (a cancel): take the record out. A value
    /// handed over in the meantime is dropped with the cancelled coroutine.
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            drop(self.chan.st.lock().recvq.remove(k));
        }
    }
}

/// A `send` case (also what `Sender::send` runs). Holds its value until a
/// receiver takes it; without one (a spent case of a reused `Select`) it
/// is never ready.
pub struct SendCase<'a, T> {
    chan: &'a Chan<T>,
    value: Option<T>,
    key: Option<Key>,
    out: Option<Result<(), SendError<T>>>,
}

impl<'a, T> SendCase<'a, T> {
    pub(crate) fn on(chan: &'a Chan<T>, v: T) -> SendCase<'a, T> {
        SendCase {
            chan,
            value: Some(v),
            key: None,
            out: None,
        }
    }

    /// The outcome of a case that took effect.
    ///
    /// # Panics
    /// If this case did not take effect (or its outcome was taken).
    pub fn take(&mut self) -> Result<(), SendError<T>> {
        self.out
            .take()
            .expect("the outcome of a send case that did not take effect")
    }

    /// The value, if it was not sent.
    pub(crate) fn unsent(&mut self) -> Option<T> {
        self.value.take()
    }

    pub(crate) fn out_mut(&mut self) -> &mut Option<Result<(), SendError<T>>> {
        &mut self.out
    }

    pub(crate) fn has_out(&self) -> bool {
        self.out.is_some()
    }
}

impl<T> CaseOp for SendCase<'_, T> {
    fn step(&mut self, me: &mut Me<'_>, idx: usize) -> Step {
        let Some(v) = self.value.take() else {
            // Spent: never ready (a registered no-op when waiting).
            return match me {
                Me::Armed(_) => Step::Registered,
                Me::Poll => Step::NotReady,
            };
        };
        let mut own = Own::new(me, idx);
        let (r, wake) = {
            let mut s = self.chan.st.lock();
            match s.send_locked(self.chan.cap, v, &mut own) {
                Attempt::Done(r, w) => (r, w),
                Attempt::NotReady(v) => {
                    return match register(&mut s.sendq, me, idx, Some(v)) {
                        Ok(k) => {
                            self.key = Some(k);
                            Step::Registered
                        }
                        Err(v) => {
                            self.value = v;
                            Step::NotReady
                        }
                    };
                }
                Attempt::LostClaim(v) => {
                    self.value = Some(v);
                    return Step::LostClaim;
                }
                Attempt::Restart(v) => {
                    self.value = Some(v);
                    return Step::Restart;
                }
            }
        };
        self.out = Some(r);
        if let Some(w) = wake {
            w.wake();
        }
        Step::Done
    }

    fn finish(&mut self, won: bool) {
        let Some(k) = self.key.take() else { return };
        let e = self.chan.st.lock().sendq.remove(k);
        if won {
            self.out = Some(match e.value {
                None => Ok(()),
                Some(v) => Err(SendError(v)),
            });
        } else {
            match e.value {
                Some(v) => self.value = Some(v),
                None => fatal!("a value was taken from a send record that was not claimed"),
            }
        }
    }
}

impl<T> Drop for SendCase<'_, T> {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            drop(self.chan.st.lock().sendq.remove(k));
        }
    }
}
