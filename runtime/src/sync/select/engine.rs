//! The select engine: run one or several cases until exactly one takes
//! effect (see docs/sync.md for the protocol and why no wake-up is lost).
//!
//! ```text
//!   1. poll pass   random order; each case locks its channel and completes
//!                  if it can (the caller is registered nowhere: no claim needed)
//!   2. arm         the caller's claim word := WAITING
//!   3. register    same order; each case, under its channel's lock, either
//!                  completes (after claiming the caller's own word for itself:
//!                  an earlier record may have been claimed meanwhile) or
//!                  leaves a record in the channel's queue
//!   4. park        until the word is CLAIMED+i (a channel completed case i
//!                  for us) or the deadline passes (the caller claims TIMED_OUT)
//!   5. unregister  every record is removed under its channel's lock (O(1),
//!                  by key); the claimed case's record holds its outcome
//!   6. disarm      the word := IDLE
//! ```
//!
//! A case that must claim the caller's word *and* a counterpart's (a
//! rendezvous partner) claims its own first; if every counterpart is then
//! gone it cannot undo the claim (others may have skipped its records
//! meanwhile), so the whole select starts again from step 1. That needs a
//! counterpart to be taken by a third party between one load and one CAS,
//! and someone made progress when it happens.

use std::time::{Duration, Instant};

use crate::sync::waiter::{fastrand, Waiter};
use crate::sync::waitq::Wait;

/// What one step of a case did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The operation took effect; its outcome is in the case.
    Done,
    /// Not possible now and no waiter given: nothing was changed.
    NotReady,
    /// Not possible now: a record now waits in the channel's queue.
    Registered,
    /// Possible, but another case had already claimed the waiter.
    LostClaim,
    /// The waiter claimed itself but the counterpart vanished: start again.
    Restart,
}

/// Who is stepping a case, and whether it may register.
pub(crate) enum Me<'a> {
    /// Poll only: complete now or change nothing.
    Poll,
    /// One of several cases: this armed waiter may have records elsewhere,
    /// so completing must first claim it for this case.
    Armed(&'a Waiter),
}

/// One operation of a select, as the engine drives it.
pub(crate) trait CaseOp {
    /// Under the channel's lock: complete now if possible; else (unless
    /// polling) register a record for case `idx`.
    fn step(&mut self, me: &mut Me<'_>, idx: usize) -> Step;
    /// Remove the record, if any; `won`: this case was claimed through it,
    /// so collect the outcome the claimer left there.
    fn finish(&mut self, won: bool);
}

/// How long a select may wait.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Until a case takes effect.
    Block,
    /// Not at all (`default =>`).
    Now,
    /// Up to the duration (`default(d) =>`).
    Timeout(Duration),
}

impl Mode {
    fn deadline(self) -> Option<Option<Instant>> {
        match self {
            Mode::Block => Some(None),
            Mode::Now => None,
            // A deadline past the clock's range is no deadline.
            Mode::Timeout(d) => Some(Instant::now().checked_add(d)),
        }
    }
}

/// A list of cases the engine can index.
pub(crate) trait CaseList {
    fn count(&self) -> usize;
    fn op(&mut self, i: usize) -> &mut dyn CaseOp;
}

/// The caller's claim word, armed; disarmed on drop (also when a cancel
/// unwinds through a wait: the cases' own drops remove their records).
struct Armed<'a>(&'a Waiter);

impl<'a> Armed<'a> {
    fn new(w: &'a Waiter) -> Armed<'a> {
        w.arm();
        Armed(w)
    }
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.0.disarm();
    }
}

/// Several cases: the index of the one that took effect, `None` when the
/// mode's wait ended first. `order` is scratch of `cases.count()` slots.
pub(crate) fn run<L: CaseList + ?Sized>(
    cases: &mut L,
    order: &mut [usize],
    mode: Mode,
) -> Option<usize> {
    let n = cases.count();
    debug_assert_eq!(order.len(), n);
    let deadline = mode.deadline();
    'again: loop {
        // Uniformly random poll order (Fisher-Yates): the first ready case
        // in it is uniform among the ready ones.
        for (i, o) in order.iter_mut().enumerate() {
            *o = i;
        }
        for i in (1..n).rev() {
            order.swap(i, fastrand(i + 1));
        }
        for &i in order.iter() {
            if cases.op(i).step(&mut Me::Poll, i) == Step::Done {
                return Some(i);
            }
        }
        let deadline = deadline?;
        let me = Waiter::current();
        let armed = Armed::new(&me);
        let mut registered = n;
        for pos in 0..n {
            let i = order[pos];
            match cases.op(i).step(&mut Me::Armed(&me), i) {
                Step::Registered => {}
                Step::Done => {
                    for &j in &order[..pos] {
                        cases.op(j).finish(false);
                    }
                    return Some(i);
                }
                Step::LostClaim => {
                    registered = pos;
                    break;
                }
                Step::Restart => {
                    for &j in &order[..pos] {
                        cases.op(j).finish(false);
                    }
                    drop(armed);
                    continue 'again;
                }
                Step::NotReady => fatal!("select case {i} did not register a waiter"),
            }
        }
        let r = me.wait(deadline, Wait::Select);
        for &j in &order[..registered] {
            cases.op(j).finish(r == Some(j));
        }
        return r;
    }
}
