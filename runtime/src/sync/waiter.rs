//! The claim word: one per waiting coroutine or thread (Go's `selectDone`).
//!
//! A coroutine or thread that blocks on channel operations puts one wait
//! record per operation (case) into the channels' queues; every record
//! names the same [`Waiter`], and so the same claim word. Whoever changes
//! the word from `WAITING` to `CLAIMED + case` with a compare-and-swap owns
//! the wait: it completes that case (hands the value over, takes the value,
//! or reports the close) and wakes the owner. Every other party that finds a
//! record of a claimed waiter skips it.
//!
//! ```text
//!   select (records in several queues):
//!   IDLE --arm (owner)--> WAITING --CAS (a channel, or the owner itself)--> CLAIMED+i
//!                            +--CAS (owner, deadline passed)--> TIMED_OUT
//!   CLAIMED+i / TIMED_OUT --disarm (owner, after removing every record)--> IDLE
//!
//!   single operation (one record, in one queue):
//!   IDLE --store (claimer, under that queue's lock)--> CLAIMED+0
//!     +---store (receiver taking a plain send's value and freeing its
//!                record, or the close freeing a plain
//!                recv's record, under the lock)-------> TAKEN
//!   CLAIMED+0 / TAKEN --disarm (owner)--> IDLE
//! ```
//!
//! Who touches the word when:
//! - only the owner arms and disarms it, and it disarms only after it has
//!   removed every one of its records under the owning channel's lock, so no
//!   record of an earlier wait can claim a later one (no ABA);
//! - claimers change it while holding the lock of the channel whose queue
//!   holds the record, and wake the owner after unlocking. A wake that
//!   arrives after the owner has moved on is a spurious unpark, which every
//!   parking loop tolerates;
//! - a select's word is contended (its records sit in several queues, each
//!   under its own lock, and the owner may time out on its own), so it is
//!   claimed with a compare-and-swap;
//! - a single operation's record sits in one queue, and its owner gives up
//!   (deadline, cancel) only under that queue's lock too, so that lock
//!   already serialises every change: the claimer stores, no CAS, and the
//!   owner does not arm at all (a select claimer never meets its word: the
//!   record says it is single).
//!
//! A coroutine's word is in its task (no allocation per wait); a plain
//! thread's is in a per-thread record made on its first wait.
//!
//! The word and the thread parking go through the `crate::loom` shim: the
//! loom models in `sync/models.rs` race two notifiers for one select waiter
//! (planted bug: `Bug::ClaimLoadStore`) and a claimer against a single
//! operation's owner giving up (`Bug::SingleSettleBeforeLock`) on this code.

use std::sync::atomic::Ordering::*;
use std::sync::Arc;
use std::time::Instant;

use crate::loom::sync::atomic::AtomicUsize;
use crate::loom::thread::{self, Thread};
use crate::loom::{planted, Bug};
use crate::sched::park;
use crate::sched::task::TaskShared;
use crate::sched::wait::Wait;
use crate::sched::wake_batch::WakeBatch;

/// The owner is not waiting: nobody may claim it.
pub(crate) const IDLE: usize = 0;
/// Registered and parked (or about to park): claimable.
pub(crate) const WAITING: usize = 1;
/// The owner's deadline passed and it claimed itself.
pub(crate) const TIMED_OUT: usize = 2;
/// `CLAIMED + i`: case `i` took effect.
pub(crate) const CLAIMED: usize = 3;
/// A single send whose value a receiver took, freeing its record: the owner
/// returns `Ok` without touching the channel again. For a single recv:
/// the close freed its record, the owner returns the disconnect.
const TAKEN: usize = usize::MAX;
/// What [`Waiter::wait`] returns for `TAKEN`.
pub(crate) const TAKEN_CASE: usize = TAKEN - CLAIMED;

/// The claim word of a plain thread.
pub(crate) struct ThreadWaiter {
    thread: Thread,
    claim: AtomicUsize,
}

impl ThreadWaiter {
    /// The calling thread's record, idle.
    pub(crate) fn new() -> ThreadWaiter {
        ThreadWaiter {
            thread: thread::current(),
            claim: AtomicUsize::new(IDLE),
        }
    }
}

#[cfg(not(loom))]
thread_local! {
    static THREAD_WAITER: Arc<ThreadWaiter> = Arc::new(ThreadWaiter::new());
}

/// The calling thread's record (made on its first wait).
#[cfg(not(loom))]
fn thread_waiter() -> Arc<ThreadWaiter> {
    THREAD_WAITER.with(Arc::clone)
}

/// Under loom every model thread shares one OS thread (and so std's
/// thread-locals): a fresh record per wait.
#[cfg(loom)]
fn thread_waiter() -> Arc<ThreadWaiter> {
    Arc::new(ThreadWaiter::new())
}

/// A waiting coroutine or thread, as named by its wait records.
#[derive(Clone)]
pub(crate) enum Waiter {
    Coroutine(Arc<TaskShared>),
    Thread(Arc<ThreadWaiter>),
}

impl Waiter {
    /// The caller: its coroutine, or its thread.
    pub(crate) fn current() -> Waiter {
        match crate::sched::task::current() {
            Some(t) => Waiter::Coroutine(t),
            None => Waiter::Thread(thread_waiter()),
        }
    }

    #[inline]
    fn word(&self) -> &AtomicUsize {
        match self {
            Waiter::Coroutine(t) => &t.claim,
            Waiter::Thread(t) => &t.claim,
        }
    }

    /// Same coroutine or thread.
    #[inline]
    pub(crate) fn is(&self, other: &Waiter) -> bool {
        match (self, other) {
            (Waiter::Coroutine(a), Waiter::Coroutine(b)) => Arc::ptr_eq(a, b),
            (Waiter::Thread(a), Waiter::Thread(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Still claimable (a hint: the CAS in [`Waiter::claim`] decides).
    #[inline]
    pub(crate) fn is_waiting(&self) -> bool {
        self.word().load(Acquire) == WAITING
    }

    /// Claim the wait for case `case`; false if someone else already has.
    #[inline]
    pub(crate) fn claim(&self, case: usize) -> bool {
        if planted(Bug::ClaimLoadStore) {
            // The naive claim: two claimers may both see WAITING.
            let won = self.word().load(Acquire) == WAITING;
            if won {
                self.word().store(CLAIMED + case, Release);
            }
            return won;
        }
        self.word()
            .compare_exchange(WAITING, CLAIMED + case, AcqRel, Acquire)
            .is_ok()
    }

    /// Claim a single operation's wait: the caller holds the lock of the
    /// one queue its record is in, and the owner gives up only under that
    /// lock, so nobody else can change the word meanwhile (no CAS).
    /// `taken`: a receiver took a plain send's value, or the close woke a
    /// plain recv, and frees its record (`TAKEN`: the owner returns
    /// without locking the channel again).
    #[inline]
    pub(crate) fn claim_single(&self, taken: bool) {
        self.word()
            .store(if taken { TAKEN } else { CLAIMED }, Release);
    }

    /// Owner: make the word claimable (before the first record is visible).
    pub(crate) fn arm(&self) {
        // Only the owner leaves IDLE, so a load and a store suffice (no
        // locked instruction on the wait path).
        let prev = self.word().load(Relaxed);
        self.word().store(WAITING, Release);
        if prev != IDLE {
            fatal!(
                "claim word armed twice (was {prev}): a waiter waits in one operation at a time"
            );
        }
    }

    /// Owner: back to idle once every record is removed.
    pub(crate) fn disarm(&self) {
        self.word().store(IDLE, Release);
    }

    /// Start loading what [`wake`](Self::wake) touches (a close wakes
    /// many in a row; see `channel::state`).
    #[inline]
    pub(crate) fn prefetch(&self) {
        match self {
            Waiter::Coroutine(t) => crate::coro::prefetch_arc(t),
            Waiter::Thread(t) => crate::coro::prefetch_arc(t),
        }
    }

    /// Wake the owner (after a successful claim).
    #[inline]
    pub(crate) fn wake(&self) {
        match self {
            Waiter::Coroutine(t) => t.unpark(),
            Waiter::Thread(t) => t.thread.unpark(),
        }
    }

    /// [`wake`](Self::wake) as one of many (a close): a coroutine of
    /// another worker goes to its owner with `batch`'s next push.
    #[inline]
    pub(crate) fn wake_in(self, batch: &mut WakeBatch) {
        match self {
            Waiter::Coroutine(t) => batch.unpark(t),
            Waiter::Thread(t) => t.thread.unpark(),
        }
    }

    /// Owner (the caller itself): park until claimed (`Some(case)`) or,
    /// past `deadline`, claim itself as timed out (`None`); `why` is what a
    /// coroutine dump shows.
    pub(crate) fn wait(&self, deadline: Option<Instant>, why: Wait) -> Option<usize> {
        loop {
            let w = self.word().load(Acquire);
            if w >= CLAIMED {
                return Some(w - CLAIMED);
            }
            if let Some(d) = deadline {
                if Instant::now() >= d {
                    return match self
                        .word()
                        .compare_exchange(WAITING, TIMED_OUT, AcqRel, Acquire)
                    {
                        Ok(_) => None,
                        Err(w) => Some(w - CLAIMED),
                    };
                }
            }
            match self {
                Waiter::Coroutine(t) => park::park_task(t, deadline, why),
                Waiter::Thread(_) => match deadline {
                    None => thread::park(),
                    Some(d) => thread::park_timeout(d.saturating_duration_since(Instant::now())),
                },
            }
        }
    }
}

/// The caller as the owner of a single operation's record. A coroutine's
/// task is borrowed for the operation ([`with_owner`]), so the only
/// reference-count traffic of a blocking operation is the record's own
/// reference (made here, dropped by the claimer after its wake). The claim
/// word is kept as a plain reference next to its owner: the wait path
/// reads it without going through the kind of owner.
pub(crate) struct Owner<'a> {
    word: &'a AtomicUsize,
    who: Who<'a>,
}

enum Who<'a> {
    Coroutine(&'a Arc<TaskShared>),
    Thread(&'a Arc<ThreadWaiter>),
}

/// Run `f` as the owner of a single operation: the running coroutine (its
/// task borrowed) or this thread.
#[inline]
pub(crate) fn with_owner<R>(f: impl FnOnce(&Owner<'_>) -> R) -> R {
    crate::sched::task::with_current(|t| {
        let tw;
        let me = match t {
            Some(t) => Owner {
                word: &t.claim,
                who: Who::Coroutine(t),
            },
            None => {
                tw = thread_waiter();
                Owner::thread(&tw)
            }
        };
        // One call site, so `f` inlines into the caller.
        f(&me)
    })
}

impl<'a> Owner<'a> {
    /// A plain thread as the owner (its record made by the caller).
    #[inline]
    pub(crate) fn thread(t: &'a Arc<ThreadWaiter>) -> Owner<'a> {
        Owner {
            word: &t.claim,
            who: Who::Thread(t),
        }
    }

    /// The claim word, for the operation to hold while it waits.
    #[inline(always)]
    pub(crate) fn single_word(&self) -> Word<'a> {
        Word(self.word)
    }

    /// What the record names (one reference, for the claimer to wake).
    #[inline]
    pub(crate) fn waiter(&self) -> Waiter {
        match self.who {
            Who::Coroutine(t) => Waiter::Coroutine(Arc::clone(t)),
            Who::Thread(t) => Waiter::Thread(Arc::clone(t)),
        }
    }

    /// Park until a claimer stored its claim (true) or `deadline` passed
    /// (false: the owner then decides under the channel's lock, where a
    /// claim may still have happened).
    /// `why` is what a coroutine dump shows.
    #[inline(always)]
    pub(crate) fn wait_single(&self, deadline: Option<Instant>, why: Wait) -> bool {
        loop {
            if self.word.load(Acquire) >= CLAIMED {
                return true;
            }
            if let Some(d) = deadline {
                if Instant::now() >= d {
                    return false;
                }
            }
            match self.who {
                Who::Coroutine(t) => park::park_task(t, deadline, why),
                Who::Thread(_) => match deadline {
                    None => thread::park(),
                    Some(d) => thread::park_timeout(d.saturating_duration_since(Instant::now())),
                },
            }
        }
    }
}

/// The owner's side of a single operation's claim word, as the operation
/// holds it while its record is in a queue.
#[derive(Clone, Copy)]
pub(crate) struct Word<'a>(&'a AtomicUsize);

impl Word<'_> {
    /// The word as a claimer left it: `Some(TAKEN_CASE)` for `TAKEN`,
    /// `Some(0)` for a claim, `None` while unclaimed.
    #[inline(always)]
    pub(crate) fn claimed(self) -> Option<usize> {
        let w = self.0.load(Acquire);
        (w >= CLAIMED).then(|| w - CLAIMED)
    }

    /// A receiver took the value of this (send) record and freed it.
    #[inline(always)]
    pub(crate) fn is_taken(self) -> bool {
        self.0.load(Acquire) == TAKEN
    }

    /// Settle a single operation's wait under the lock of the one queue
    /// its record is in: take the lock (`lock`), then read the word. Every
    /// claim of a single record happens under that lock, so what is read
    /// is final: `None` means nobody claimed the record, and the owner may
    /// take it out as timed out (or cancelled) without losing a hand-off.
    #[inline]
    pub(crate) fn settle<G>(self, lock: impl FnOnce() -> G) -> (G, Option<usize>) {
        if planted(Bug::SingleSettleBeforeLock) {
            let claimed = self.claimed();
            return (lock(), claimed);
        }
        let g = lock();
        let claimed = self.claimed();
        (g, claimed)
    }

    /// Back to idle once the record is gone.
    #[inline(always)]
    pub(crate) fn disarm(self) {
        self.0.store(IDLE, Release);
    }
}

thread_local! {
    static RNG: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A cheap per-thread random number below `n` (wyrand), for select's
/// random poll order.
pub(crate) fn fastrand(n: usize) -> usize {
    RNG.with(|r| {
        let mut s = r.get();
        if s == 0 {
            // Seed from the thread's address space and the clock.
            let local = 0u8;
            s = (&local as *const u8 as u64)
                ^ (std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64))
                | 1;
        }
        s = s.wrapping_add(0xa076_1d64_78bd_642f);
        r.set(s);
        let t = (s as u128).wrapping_mul((s ^ 0xe703_7ed1_a0b4_28db) as u128);
        let x = ((t >> 64) as u64) ^ (t as u64);
        ((x as u128 * n as u128) >> 64) as usize
    })
}
