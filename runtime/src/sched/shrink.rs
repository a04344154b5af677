//! A worker's paced stack-shrink pass: gives back the stack pages of its
//! parked coroutines below their saved stack pointers (what one shrink
//! does, and why it cannot race with the coroutine, is `coro::shrink`'s
//! contract).
//!
//! Contract:
//! - One [`ShrinkPass`] per worker, used only by that worker's thread in
//!   its scheduler loop between slices: before it sleeps (`idle`, whose
//!   sleep ends when the next pass is due) and, on a busy worker, when one
//!   is due at a check every [`CHECK_EVERY`] slices — at most one busy
//!   pass per `SHRINK_INTERVAL`, with the smaller [`BUSY`] budget, so
//!   coroutines that run are not held up (a busy worker's sweeps are slow;
//!   idle time does the bulk). Never on the switch, park or wake paths: a
//!   park costs one `Cell` store (`Local::parked_since_pass`).
//! - Paced: a pass looks at up to [`IDLE`]`.scan` slab slots from where
//!   the last one stopped and shrinks at most [`IDLE`]`.shrinks`
//!   coroutines (a millisecond or two); passes that continue a sweep
//!   of the slab are [`CONTINUE_AFTER`] apart, and sweeps start at least
//!   [`SHRINK_INTERVAL`] apart. A coroutine is shrunk only when two sweeps
//!   in a row found it parked without it running in between
//!   (`coro::ShrinkMark`), so one that parks for less than about
//!   `SHRINK_INTERVAL` is never touched, and a coroutine is shrunk at most
//!   once per park. A million parked coroutines on one worker are all
//!   looked at within a few seconds and shrunk within about a minute
//!   (20,000 a second).
//! - Nothing is due while no coroutine parked since the last sweep of the
//!   slab and that sweep left nothing marked for a later one: an idle
//!   worker whose coroutines are all shrunk sleeps without wake-ups.
//! - Bytes given back are counted in the worker's `shrunk` counter
//!   (`/stack/shrunk:bytes`), written by this thread only.
//!
//! ```text
//!  park ──> due = now + SHRINK_INTERVAL (if nothing was due)
//!  pass k:    parked & Ran  -> Seen     (sweep leaves work: due again)
//!  pass k+1:  parked & Seen -> shrink, Shrunk
//!  resume:    any           -> Ran
//! ```

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::slice::Slab;
use crate::coro::{self, Shrink};
use crate::counters::WorkerCounters;

/// Sweeps of the slab start at least this far apart; a coroutine is shrunk
/// after it stayed parked for about one to two of these.
pub const SHRINK_INTERVAL: Duration = Duration::from_secs(1);
/// Passes that continue a sweep are this far apart.
pub const CONTINUE_AFTER: Duration = Duration::from_millis(50);
/// Slab slots one pass looks at, and coroutines it shrinks (two syscalls
/// each at most): about a millisecond or two.
pub const IDLE: Budget = Budget {
    scan: 64 << 10,
    shrinks: 1024,
};
/// The same for a pass on a busy worker (at most one per
/// `SHRINK_INTERVAL`): tens of microseconds.
pub const BUSY: Budget = Budget {
    scan: 4 << 10,
    shrinks: 64,
};

/// How much one pass may do.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Slab slots looked at.
    pub scan: usize,
    /// Coroutines shrunk.
    pub shrinks: usize,
}
/// A busy worker checks whether a pass is due once per this many slices.
pub const CHECK_EVERY: u64 = 1024;

/// Test hook: switch every worker's pass off (a planted bug for the
/// shrink test).
static DISABLED: AtomicBool = AtomicBool::new(false);

/// Switch the shrink pass of every runtime in the process off or on
/// (tests: with it off, the shrink test must fail).
#[cfg(feature = "test-hooks")]
pub fn set_stack_shrink_enabled(on: bool) {
    DISABLED.store(!on, Relaxed);
}

/// One worker's pass state.
#[derive(Default)]
pub(super) struct ShrinkPass {
    /// The next slab slot to look at.
    cursor: usize,
    /// The current sweep (from slot 0) marked a coroutine for later.
    marked: bool,
    /// When the current sweep started.
    sweep_start: Option<Instant>,
    /// When the next pass is due (`None`: nothing to do).
    due: Option<Instant>,
    /// No busy pass before this.
    busy_after: Option<Instant>,
}

impl ShrinkPass {
    /// True when a pass may be due: a coroutine parked since the last one,
    /// or one is scheduled (cheap: no clock read).
    #[inline]
    pub(super) fn pending(&self, parked: &Cell<bool>) -> bool {
        parked.get() || self.due.is_some()
    }

    /// Run a pass if one is due at `now`. `parked` is the loop's "a
    /// coroutine parked since" flag (taken here). Returns how long until
    /// the next pass is due (`None`: none pending), for an idle sleep.
    pub(super) fn tick(
        &mut self,
        parked: &Cell<bool>,
        slab: &mut Slab,
        wc: &WorkerCounters,
        now: Instant,
    ) -> Option<Duration> {
        self.tick_with(parked, slab, wc, now, IDLE)
    }

    /// [`tick`](Self::tick) on a busy worker: at most one pass per
    /// `SHRINK_INTERVAL`, with the [`BUSY`] budget.
    pub(super) fn tick_busy(
        &mut self,
        parked: &Cell<bool>,
        slab: &mut Slab,
        wc: &WorkerCounters,
        now: Instant,
    ) {
        if self.busy_after.is_some_and(|t| now < t) {
            return;
        }
        if self.due.is_some_and(|d| now >= d) {
            self.busy_after = Some(now + SHRINK_INTERVAL);
        }
        self.tick_with(parked, slab, wc, now, BUSY);
    }

    fn tick_with(
        &mut self,
        parked: &Cell<bool>,
        slab: &mut Slab,
        wc: &WorkerCounters,
        now: Instant,
        budget: Budget,
    ) -> Option<Duration> {
        if parked.take() && self.due.is_none() {
            self.due = Some(now + SHRINK_INTERVAL);
        }
        let due = self.due?;
        if now < due {
            return Some(due - now);
        }
        if DISABLED.load(Relaxed) {
            self.due = None;
            return None;
        }
        self.due = match self.pass(slab, wc, now, budget) {
            Left::Sweep => Some(now + CONTINUE_AFTER),
            Left::NextSweep(start) => Some((start + SHRINK_INTERVAL).max(now + CONTINUE_AFTER)),
            Left::Nothing => None,
        };
        self.due.map(|d| d - now)
    }

    /// One pass at `now`.
    fn pass(&mut self, slab: &mut Slab, wc: &WorkerCounters, now: Instant, budget: Budget) -> Left {
        let n = slab.entries.len();
        if self.cursor >= n {
            self.cursor = 0;
        }
        if self.cursor == 0 {
            self.marked = false;
            self.sweep_start = Some(now);
        }
        let end = n.min(self.cursor + budget.scan);
        let (mut shrunk, mut bytes) = (0, 0u64);
        let mut i = self.cursor;
        while i < end && shrunk < budget.shrinks {
            if let Some(st) = slab.entries[i].as_mut() {
                if st.task().park_state.is_parked() {
                    match coro::shrink(st) {
                        Shrink::Marked => self.marked = true,
                        Shrink::Done(b) => {
                            shrunk += 1;
                            bytes += b as u64;
                        }
                        Shrink::Already => {}
                    }
                }
            }
            i += 1;
        }
        self.cursor = i;
        wc.shrunk.add(bytes);
        if i < n {
            return Left::Sweep;
        }
        // A sweep ended: another one from slot 0 if this one marked a
        // coroutine to shrink next time.
        self.cursor = 0;
        match (std::mem::take(&mut self.marked), self.sweep_start) {
            (true, Some(start)) => Left::NextSweep(start),
            _ => Left::Nothing,
        }
    }
}

/// What a pass left for later.
enum Left {
    /// The rest of this sweep.
    Sweep,
    /// Another sweep (this one started at the given time).
    NextSweep(Instant),
    /// Nothing (until a coroutine parks).
    Nothing,
}
