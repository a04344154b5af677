//! Placement: which coroutine a worker runs next, and where a new
//! coroutine starts (docs/architecture.md, "Placement").
//!
//! Contract:
//! - Started coroutines never migrate (docs/architecture.md): the only
//!   balancing is which worker *starts* an unstarted one. Unstarted
//!   coroutines sit in their spawner's crossbeam deque or in the shared
//!   injector (spawns from plain threads). The deque is LIFO for its
//!   owner, FIFO for thieves (crossbeam's `new_lifo`): a tree of spawns
//!   runs depth first at home while thieves take old subtrees; every
//!   [`OLDEST_EVERY`]th take at home takes the oldest ([`pop_own`]).
//! - A worker picks ready coroutines first, unstarted ones every
//!   [`NEW_FIRST_EVERY`]th pick, the injector first every
//!   [`INJECTOR_FIRST_EVERY`]th.
//! - A *lone* unstarted coroutine in a deque is its worker's run-next
//!   (Go's `runnext`): other workers take it only after its owner stayed in
//!   one slice, with no newer spawn, for [`LONE_STEAL_DELAY`]
//!   ([`stealable`]); two or more are stealable at once (a steal takes the
//!   older half).
//! - Only the worker thread reads and writes its `Local::lone_seen`.
//! - The spawn after a lone one goes to an *idle* worker when there is
//!   one ([`place`]): the spawner claims that worker by clearing its
//!   `looking` flag (so no other spawner counts on it), pushes the
//!   coroutine onto its `handoff` queue and wakes it if it sleeps. Without
//!   migration this is what puts two coroutines spawned together on two
//!   workers even when the first one yields at once (a thief woken the
//!   usual way arrives after the spawner's worker has started both). Only
//!   the owner takes from its `handoff`.
//! - Every push that leaves two or more in the spawner's deque pays the
//!   sleep handshake's fence before it reads the sleepers' count
//!   (`Shared::wake_one`: a locked instruction's cost, ~11 ns here).
//!   f4e24b0 let a push that finds two or more already there read the
//!   count alone, on the argument that those stay for a sleeper's
//!   re-check, behind its own fence. The loom model `spawn_batch_wake`
//!   (`sched/models.rs`) finds that wrong: a thief takes the older of the
//!   two *after* that push read the length (it saw three), having read the
//!   deque's `back` from before the push; a worker that announces its
//!   sleep then sees the thief's `front` and the same old `back`: one
//!   coroutine, a lone one first seen, so it sleeps, with two stealable
//!   ones queued and nobody to wake it until the thief comes back or the
//!   monitor's tick. Only a fence after the push makes it visible to the
//!   sleeper (or the sleeper to the spawner). `Bug::QueuedBehindNoFence`
//!   keeps that shortcut as a twin.
//! - A `yield_now` with nothing else to run on this worker returns at once
//!   ([`yield_at_once`]); every [`QUICK_YIELDS`]th goes through the loop.
//!
//! ```text
//!   spawn on worker k:  deque[k] empty  -> push (lone: no wake)
//!                       worker j idle   -> looking[j] = false (claim),
//!                                          handoff[j].push, fence,
//!                                          sleeping[j]? wake j
//!                       else            -> push; 2nd or later in the
//!                                          deque: fence, wake a sleeper
//!                       (pushes[k] += 1 for every push)
//!   thief j looks at k: len 0  -> forget
//!                       len 1  -> key = slice_number(k) + pushes[k]
//!                                 first sight: remember (key, now)
//!                                 same key for 3 us: steal
//!                       len 2+ -> steal the older half
//!   monitor tick:       k in the same slice as last tick and deque[k]
//!                       not empty -> wake a sleeper
//! ```

use std::cell::Cell;
use std::sync::atomic::Ordering::*;
use std::time::Instant;

use crossbeam_deque::Steal;

use super::slice::Next;
use super::task::Unstarted;
use super::worker::{Local, Wake};
use crate::loom::sync::atomic::{fence, AtomicBool};
use crate::loom::{planted, Bug};

/// What [`stealable`] remembers of another worker's lone unstarted
/// coroutine: that worker's slice number plus pushes, and when it first
/// saw them.
pub(super) type LoneSeen = (u64, Instant);

/// Every this many picks, unstarted coroutines go before ready ones, so a
/// ready queue that never empties (coroutines yielding in a loop) cannot
/// starve new spawns; the other picks prefer ready coroutines (their stacks
/// are warm in the cache).
const NEW_FIRST_EVERY: u64 = 8;

/// Every this many picks, the shared injector is tried before the local
/// deque, so spawns from plain threads are not starved by a local deque
/// that never empties (Go's `schedule` checks its global queue every 61st
/// tick for the same reason). A prime, so it never falls into step with
/// [`NEW_FIRST_EVERY`] (a power of two: its test is a mask). The test for
/// 61 compiles to a multiply and a compare, no division, and runs only on
/// picks that look for unstarted coroutines, so it stays 61.
const INJECTOR_FIRST_EVERY: u64 = 61;

/// Where [`place`] put a new coroutine.
pub(super) enum Placed {
    /// Alone in the spawner's deque: its run-next, no wake-up needed.
    Lone,
    /// Second in the spawner's deque: wake a worker to steal (the full
    /// handshake: a fence, then the sleepers' count).
    Queued,
    /// Third or later in the spawner's deque: the same (not the count
    /// alone: see the module contract).
    QueuedBehind,
    /// On an idle worker's `handoff` queue, that worker woken.
    HandedOff,
    /// Not on a worker of this runtime (the caller uses the injector).
    Elsewhere,
}

/// Place a coroutine spawned on this worker (see the module contract).
#[inline]
pub(super) fn place(local: &Local, u: Unstarted) -> Placed {
    let shared = &local.shared;
    if !local.unstarted.is_empty() {
        let idle = shared
            .workers
            .iter()
            .enumerate()
            .find(|(j, w)| *j != local.idx && claim(&w.looking));
        if let Some((_, w)) = idle {
            w.handoff.push(u);
            if must_wake_after_handoff(&w.sleeping) {
                w.poller.wake();
            }
            return Placed::HandedOff;
        }
    }
    local.unstarted.push(u);
    let p = &shared.workers[local.idx].pushes;
    p.store(p.load(Relaxed).wrapping_add(1), Relaxed);
    queued(local.unstarted.len())
}

/// Where a push onto the spawner's own deque put its coroutine, by the
/// length the deque reports right after the push (the owner's
/// `Worker::len`: its own `back`, the thieves' `front`). A thief that
/// shrinks the deque before the read only asks for more of the handshake,
/// never less (0, a deque emptied by thieves since the push, is
/// `QueuedBehind`: nothing is left to wake a worker for); one that steals
/// after it is why a later push fences too (the module contract). Shared
/// with the loom model `spawn_batch_wake`.
#[inline]
pub(super) fn queued(len: usize) -> Placed {
    match len {
        1 => Placed::Lone,
        2 => Placed::Queued,
        _ => Placed::QueuedBehind,
    }
}

impl Placed {
    /// How the spawner wakes a sleeping worker for a coroutine placed so
    /// (`spawn_body`; `worker::take_sleeper`): not at all for a lone
    /// run-next or a handoff (whose worker [`place`] woke), else the full
    /// handshake (see the module contract). Shared with the loom model
    /// `spawn_batch_wake`.
    #[inline]
    pub(super) fn wake(&self) -> Option<Wake> {
        match self {
            Placed::Lone | Placed::HandedOff => None,
            Placed::Queued | Placed::QueuedBehind if planted(Bug::QueuedNoFence) => {
                Some(Wake::CountOnly)
            }
            Placed::QueuedBehind if planted(Bug::QueuedBehindNoFence) => Some(Wake::CountOnly),
            Placed::Queued | Placed::QueuedBehind | Placed::Elsewhere => Some(Wake::Fenced),
        }
    }
}

/// Claim an idle worker through its `looking` flag: true for exactly one
/// spawner per time the owner raised it (loom model `handoff_wake`).
#[inline]
pub(super) fn claim(looking: &AtomicBool) -> bool {
    looking.load(Relaxed) && looking.swap(false, AcqRel)
}

/// After a push onto a claimed worker's `handoff`: true when the worker
/// may be asleep and the caller must wake its poller (and then no other
/// waker will: the swap takes the `sleeping` flag). Pairs with
/// `remote::announce_sleep`: either the worker sees the handoff before it
/// waits, or this sees it asleep (Dekker's handshake, a full fence on each
/// side; loom model `handoff_wake`).
#[inline]
pub(super) fn must_wake_after_handoff(sleeping: &AtomicBool) -> bool {
    if !planted(Bug::HandoffNoFence) {
        fence(SeqCst);
    }
    sleeping.load(Relaxed) && sleeping.swap(false, AcqRel)
}

/// One in this many `yield_now` calls that could return at once goes
/// through the worker loop anyway, so what the loop does only there (the
/// shrink pass's check, the monitor's slice count) still happens in a
/// coroutine that does nothing but yield (Go's `schedule` looks at its
/// global queue every 61st tick for the same reason).
pub(super) const QUICK_YIELDS: u32 = 61;

/// Called by `yield_now` in a coroutine: true when the yield returns at
/// once (counted as a yield), false when it must suspend. At once only
/// when nothing else could run here if it suspended: no ready or
/// unstarted coroutine here, nothing in the injector, this worker's
/// handoff or remote queue, no armed timer, no socket to poll, no stop or
/// shutdown, and no unstarted coroutine in another worker's deque (which
/// [`pick`] could steal after a yield).
pub(super) fn yield_at_once(local: &Local) -> bool {
    if !local.ready.borrow().is_empty() {
        local.quick_yields.set(0);
        return false;
    }
    let n = local.quick_yields.get() + 1;
    if n >= QUICK_YIELDS {
        local.quick_yields.set(0);
        return false;
    }
    let s = &local.shared;
    // Unlike the idle test (`idle::has_work`): any armed timer, any
    // registered socket and any unstarted coroutine elsewhere (lone or
    // not) sends the yield through the loop.
    let alone = super::worker::nothing_queued(local)
        && !super::worker::timers_armed(&s.workers[local.idx])
        && !s.workers[local.idx].poller.has_sockets()
        && s.stealers.iter().all(|st| st.is_empty());
    if alone {
        local.quick_yields.set(n);
        local.ctx.wc().yields.add(1);
    } else {
        local.quick_yields.set(0);
    }
    alone
}

thread_local! {
    /// Whether other coroutines were ready on this thread's worker when
    /// its current slice began ([`pop_ready`], [`note_slice`]): lets `yield_now` suspend
    /// at once, without the full test of [`yield_at_once`], in the common
    /// case of a worker with a run queue. A hint: false only sends the
    /// yield to that test.
    static OTHERS_READY: Cell<bool> = const { Cell::new(false) };
}

/// Before a slice that was not picked by [`pop_ready`] (a new coroutine):
/// note for [`others_were_ready`] whether it starts with other coroutines
/// ready here; returns the ready queue's length (one borrow for both).
#[inline(always)]
pub(super) fn note_slice(local: &Local) -> usize {
    let queued = local.ready.borrow().len();
    OTHERS_READY.with(|c| c.set(queued != 0));
    queued
}

/// Other coroutines were ready when this slice began (see
/// [`note_slice`]): a yield certainly has somewhere to go.
#[inline(always)]
pub(super) fn others_were_ready() -> bool {
    OTHERS_READY.with(Cell::get)
}

/// The next ready coroutine's slot and how many stay queued behind it,
/// noted for [`others_were_ready`] in the same borrow of the queue (the
/// slice that follows begins with them ready).
#[inline(always)]
pub(super) fn pop_ready(local: &Local) -> Option<(usize, usize)> {
    let mut ready = local.ready.borrow_mut();
    let slot = ready.pop_front()?;
    let left = ready.len();
    OTHERS_READY.with(|c| c.set(left != 0));
    Some((slot, left))
}

/// What the worker runs next: the head of its ready queue on most picks,
/// inlined into the loop; [`pick_slow`] for the rest (just yielded with
/// something unstarted here or in the injector, a pick where unstarted
/// coroutines go first, or nothing ready). A yield with nothing
/// unstarted to prefer is an ordinary pick.
#[inline(always)]
pub(super) fn pick(local: &Local, tick: u64, prefer_new: bool) -> Option<Next> {
    let prefer_new =
        prefer_new && !(local.unstarted.is_empty() && local.shared.injector.is_empty());
    if !prefer_new && !tick.is_multiple_of(NEW_FIRST_EVERY) {
        if let Some((slot, left)) = pop_ready(local) {
            return Some(Next::Ready(slot, left));
        }
    }
    pick_slow(local, tick, prefer_new)
}

/// The rest of [`pick`]: after a yield, anything unstarted here or in the
/// injector first; every [`NEW_FIRST_EVERY`]th pick unstarted before
/// ready; else ready, then unstarted (from the handoff, the deque, the
/// injector, or stolen).
#[inline(never)]
fn pick_slow(local: &Local, tick: u64, prefer_new: bool) -> Option<Next> {
    if prefer_new {
        // Just yielded: anything unstarted here or in the injector first,
        // without going as far as stealing.
        if !local.unstarted.is_empty() {
            if let Some(u) = pop_own(local) {
                return Some(Next::New(u));
            }
        }
        if let Some(u) = steal_injector(local) {
            return Some(Next::New(u));
        }
    }
    let ready = || pop_ready(local).map(|(slot, left)| Next::Ready(slot, left));
    let new = || find_unstarted(local, tick).map(Next::New);
    if tick.is_multiple_of(NEW_FIRST_EVERY) {
        new().or_else(ready)
    } else {
        ready().or_else(new)
    }
}

pub(super) fn find_unstarted(local: &Local, tick: u64) -> Option<Unstarted> {
    let shared = &local.shared;
    if let Some(u) = take_handoff(local) {
        return Some(u);
    }
    if tick.is_multiple_of(INJECTOR_FIRST_EVERY) {
        if let Some(u) = steal_injector(local) {
            return Some(u);
        }
    }
    if let Some(u) = pop_own(local) {
        return Some(u);
    }
    if let Some(u) = steal_injector(local) {
        return Some(u);
    }
    let n = shared.stealers.len();
    (1..n)
        // idx + k < 2n: a compare, not the division `%` compiles to.
        .map(|k| {
            let j = local.idx + k;
            if j >= n {
                j - n
            } else {
                j
            }
        })
        .filter(|&k| stealable(local, k))
        .find_map(|k| {
            let st = &shared.stealers[k];
            steal(local, || st.steal_batch_and_pop(&local.unstarted))
        })
}

/// Every this many takes from its own deque, a worker takes the oldest
/// unstarted coroutine there, not the newest, so a worker that spawns
/// faster than it starts cannot leave its oldest spawn waiting for ever
/// (thieves take the oldest too).
const OLDEST_EVERY: u32 = 128;

/// The next unstarted coroutine from this worker's own deque: the newest
/// (LIFO: a tree of spawns runs depth first, so its live coroutines stay
/// few and warm in the cache), every [`OLDEST_EVERY`]th time the oldest.
#[inline]
fn pop_own(local: &Local) -> Option<Unstarted> {
    let n = local.own_pops.get().wrapping_add(1);
    local.own_pops.set(n);
    if n.is_multiple_of(OLDEST_EVERY) {
        let own = &local.shared.stealers[local.idx];
        if let Some(u) = drain_steal(&mut || own.steal()) {
            return Some(u);
        }
    }
    local.unstarted.pop()
}

/// How long a worker's *lone* unstarted coroutine is left to it while it
/// stays in one slice, before another worker may steal it (Go's
/// `runqsteal` leaves a running P's `runnext` alone for ~3 µs).
const LONE_STEAL_DELAY: std::time::Duration = std::time::Duration::from_micros(3);

/// May this worker steal from worker `k`'s deque now?
///
/// Two or more unstarted: yes (a steal takes the older half; the newest
/// stays). Exactly one: it is the spawner's "run next" — a coroutine that
/// spawns and then waits (join, a channel) runs the child itself on a warm
/// cache, with no cross-worker wake for the result — so only once `k` has
/// been in the same slice, with no newer spawn, for [`LONE_STEAL_DELAY`]
/// since this worker first saw it there (the spawner kept running: the
/// child would wait for its slice to end). A lone coroutine no awake
/// worker watches is run by its owner when its current coroutine parks or
/// yields, or by a sleeper the monitor wakes when the owner stays in one
/// slice across a tick (`monitor.rs`), whichever comes first.
pub(super) fn stealable(local: &Local, k: usize) -> bool {
    let seen = &local.lone_seen[k];
    match offer(local.shared.stealers[k].len()) {
        Offer::Nothing => {
            seen.set(None);
            false
        }
        Offer::Lone => {
            // Changes when `k` starts a slice or pushes a new coroutine.
            let n = super::monitor::slice_number(&local.shared, k)
                .wrapping_add(local.shared.workers[k].pushes.load(Relaxed));
            match seen.get() {
                Some((m, since)) if m == n => since.elapsed() >= LONE_STEAL_DELAY,
                _ => {
                    seen.set(Some((n, Instant::now())));
                    false
                }
            }
        }
        Offer::Batch => true,
    }
}

/// What another worker's deque offers a thief, by the length it reads
/// there ([`stealable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Offer {
    /// Empty.
    Nothing,
    /// A lone coroutine: its owner's run-next, stealable only after
    /// [`LONE_STEAL_DELAY`] (a worker that first sees it as it goes to
    /// sleep sleeps).
    Lone,
    /// Two or more: stealable at once (a steal takes the older half).
    Batch,
}

/// See [`Offer`]; shared with the loom model `spawn_batch_wake` (a
/// sleeper's re-check).
#[inline]
pub(super) fn offer(len: usize) -> Offer {
    match len {
        0 => Offer::Nothing,
        1 => Offer::Lone,
        _ => Offer::Batch,
    }
}

/// What a spawner handed to this worker while it was idle ([`place`]).
#[inline]
fn take_handoff(local: &Local) -> Option<Unstarted> {
    let h = &local.shared.workers[local.idx].handoff;
    if h.is_empty() {
        return None;
    }
    drain_steal(&mut || h.steal())
}

#[inline]
pub(super) fn steal_injector(local: &Local) -> Option<Unstarted> {
    let inj = &local.shared.injector;
    if inj.is_empty() {
        return None;
    }
    steal(local, || inj.steal_batch_and_pop(&local.unstarted))
}

/// Retry `attempt` while it says `Retry`; count a success as a steal.
#[inline]
pub(super) fn steal(
    local: &Local,
    mut attempt: impl FnMut() -> Steal<Unstarted>,
) -> Option<Unstarted> {
    let u = drain_steal(&mut attempt)?;
    local.ctx.wc().steals.add(1);
    Some(u)
}

/// The crossbeam steal-retry loop, in one place: the value, or `None` once
/// the source is empty.
#[inline]
pub(crate) fn drain_steal<T>(attempt: &mut impl FnMut() -> Steal<T>) -> Option<T> {
    loop {
        match attempt() {
            Steal::Success(u) => return Some(u),
            Steal::Retry => continue,
            Steal::Empty => return None,
        }
    }
}

/// Another worker has had a lone unstarted coroutine since this one first
/// saw it there ([`stealable`]).
pub(super) fn watching_lone(local: &Local) -> bool {
    let s = &local.shared;
    (0..s.stealers.len())
        .any(|k| k != local.idx && local.lone_seen[k].get().is_some() && s.stealers[k].len() == 1)
}
