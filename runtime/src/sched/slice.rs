//! One slice of a coroutine on its worker, and the slab that owns the
//! worker's started coroutines.
//!
//! Contract:
//! - The [`Slab`] is a local of the worker loop (`worker::run`): only that
//!   loop, [`run_slice`] and the shutdown (`shutdown.rs`) touch it, never a
//!   coroutine. A coroutine stays in its slot while it runs; its slot
//!   number is in its task (`TaskShared::slot`) and in the ready queue.
//! - [`run_slice`] moves a task's park state through one transition in,
//!   one out (`state.rs`), and counts exactly one switch and, by outcome,
//!   one yield, preemption, park or finish.
//! - Conservation (checked in debug builds): the slab holds exactly the
//!   coroutines the worker started and has not finished.
//!
//! ```text
//!   ready queue --slot--> run_slice --resume--> coroutine
//!                            |  Yielded / Preempted -> back of the ready queue
//!                            |  Parked              -> out (unpark requeues)
//!                            |  Finished            -> slab slot freed,
//!                            |                         join published, task recycled
//!                            '  cancel requested    -> unwind_cancelled
//! ```

use std::sync::atomic::Ordering::Relaxed;

use super::body::Done;
use super::task::{TaskShared, Unstarted};
use super::worker::Local;
use crate::coro::{self, CoroBox, Outcome};
use crate::counters::{latency_bucket, WorkerCounters};

/// A started coroutine as its worker keeps it: its body's result is the
/// `Done` body to publish (or keep), its task the `TaskShared` other
/// threads wake.
pub(super) type Started = CoroBox<Done, TaskShared>;

/// Slots of the coroutines a worker owns.
#[derive(Default)]
pub(super) struct Slab {
    pub(super) entries: Vec<Option<Started>>,
    free: Vec<usize>,
    pub(super) live: usize,
}

impl Slab {
    pub(super) fn insert(&mut self, st: Started) -> usize {
        self.live += 1;
        if let Some(i) = self.free.pop() {
            self.entries[i] = Some(st);
            i
        } else {
            self.entries.push(Some(st));
            self.entries.len() - 1
        }
    }
    pub(super) fn take(&mut self, i: usize) -> Option<Started> {
        self.entries.get_mut(i).and_then(Option::take)
    }
    pub(super) fn release(&mut self, i: usize) {
        self.live -= 1;
        self.free.push(i);
    }
}

pub(super) enum Next {
    /// A ready coroutine's slot, and how many stay queued behind it.
    Ready(usize, usize),
    New(Unstarted),
}

pub(super) fn record_latency(local: &Local, task: &TaskShared) {
    if task.stamp.load(Relaxed) == 0 {
        return;
    }
    let s = task.stamp.swap(0, Relaxed);
    if s != 0 {
        let ns = local.shared.now_ns().saturating_sub(s);
        let wc = local.ctx.wc();
        wc.latency[latency_bucket(ns)].add(1);
        wc.latency_sum_ns.add(ns);
    }
}

/// How many queued coroutines' states one batch of [`prefetch_next`]
/// asks for.
const PREFETCH_BATCH: usize = 8;

/// With a long run queue (a close waking thousands), each resume misses
/// in the cache on its coroutine's state and task, and in the TLB on its
/// stack's top page (with 2 MiB slots every coroutine's top page has a
/// page table of its own). A prefetch that misses in the TLB holds up the
/// worker until its page walk is done, but the walks of prefetches issued
/// together overlap: so once every [`PREFETCH_BATCH`] slices the states of
/// the next `PREFETCH_BATCH` queued coroutines are asked for at once
/// (`Local::prefetched` counts those still ahead), and every slice asks
/// for the task and stack lines of the next one, whose state is there by
/// then. Only hints: a stale count costs a few prefetches, nothing else.
/// `queued` is the ready queue's length as the slice begins (the caller
/// has just looked): a queue of 0 or 1 needs no borrow.
#[inline(always)]
fn prefetch_next(local: &Local, slab: &Slab, queued: usize) {
    if queued < 2 {
        local.prefetched.set(0);
        return;
    }
    let ready = local.ready.borrow();
    let ahead = local.prefetched.get();
    if ahead <= 1 {
        let n = ready.len().min(PREFETCH_BATCH + 1);
        for &slot in ready.range(1..n) {
            if let Some(Some(b)) = slab.entries.get(slot) {
                b.prefetch();
            }
        }
        local.prefetched.set(n - 1);
    } else {
        local.prefetched.set(ahead - 1);
    }
    if let Some(Some(b)) = slab.entries.get(ready[0]) {
        b.prefetch_task();
    }
}

/// Run one slice of a coroutine; true when it yielded. `queued`: the
/// ready queue's length as it begins; the caller has noted for
/// `placement::others_were_ready` whether it is 0 (`placement::pop_ready`,
/// `placement::note_slice`). `wc`: this worker's counters (the caller's
/// `local.ctx.wc()`, looked up once per loop, not per slice).
///
/// The coroutine stays in its slab slot while it runs: nothing a coroutine
/// can reach touches the slab (it is a local of the worker loop).
///
/// Always inlined into the worker loop: as a call it costs ~15
/// instructions per slice (callgrind, a yield loop on one worker), about
/// 5% of a yield.
#[inline(always)]
pub(super) fn run_slice(
    local: &Local,
    slab: &mut Slab,
    slot: usize,
    queued: usize,
    wc: &WorkerCounters,
) -> bool {
    prefetch_next(local, slab, queued);
    let Some(entry) = slab.entries.get_mut(slot).and_then(Option::as_mut) else {
        fatal!(
            "worker {}: run queue names empty slot {slot} (slab has {} entries, {} live)",
            local.idx,
            slab.entries.len(),
            slab.live
        );
    };
    let task = entry.task();
    if task.cancel_requested() {
        // Cancelled while parked, sleeping or waiting to run: unwind it
        // from where it is suspended instead of resuming it.
        unwind_cancelled(local, slab, slot);
        return false;
    }
    if task.resumes_after_yield.load(Relaxed) {
        task.resumes_after_yield.store(false, Relaxed);
        task.park_state.transition_to_resumed();
    } else {
        task.park_state.transition_to_running();
    }
    task.wait.running();
    record_latency(local, task);
    wc.switches.add(1);
    match coro::resume(entry) {
        Outcome::Yielded => {
            wc.yields.add(1);
            if requeue(local, entry, slot) {
                return true;
            }
            // A check point saw the cancel and yielded for it.
            unwind_cancelled(local, slab, slot);
            return false;
        }
        Outcome::Preempted => {
            wc.preemptions.add(1);
            if !requeue(local, entry, slot) {
                unwind_cancelled(local, slab, slot);
            }
            // Unlike `yield_now`, no preference for unstarted coroutines:
            // a spawner preempted in the middle of a wave would otherwise
            // start the whole wave at once, a first segment each. They run
            // in their turn (`NEW_FIRST_EVERY`) or when nothing is ready.
            return false;
        }
        Outcome::Parked => {
            wc.parks.add(1);
            let task: &TaskShared = entry.task();
            task.stack_bytes.store(entry.chain_bytes(), Relaxed);
            local.parked_since_pass.set(true);
            if !task.park_state.transition_to_parked() {
                // Unparked before it finished suspending: run it again.
                local.ready.borrow_mut().push_back(slot);
            }
        }
        Outcome::Finished(done) => {
            let Some(entry) = slab.take(slot) else {
                fatal!("worker {}: slot {slot} emptied while it ran", local.idx);
            };
            entry.task().park_state.transition_to_done();
            let task = coro::finish(&local.ctx, entry);
            slab.release(slot);
            wc.finished.add(1);
            debug_assert_coroutines(local, slab);
            if !super::body::is_detached(&done.body) {
                done.body.publish();
            } else if done.emptied {
                // Nobody could join it as it returned: its result was
                // dropped and its closure is gone, and this is its last
                // reference. (A handle dropped after the result was staged
                // leaves it to the drop below, result and all.)
                super::free_bodies::keep(done.body.into_any());
            }
            super::free_tasks::recycle(task);
        }
    }
    false
}

/// After a yield or a preemption: back to the end of the ready queue
/// (true), unless it has been asked to stop (false: the caller unwinds it
/// at once).
#[inline(always)]
fn requeue(local: &Local, entry: &Started, slot: usize) -> bool {
    // One load of the task for all of it (each `entry.task()` after an
    // atomic store reloads the slot and the box).
    let task: &TaskShared = entry.task();
    task.wait.yielding();
    task.stack_bytes.store(entry.chain_bytes(), Relaxed);
    if task.cancel_requested() {
        return false;
    }
    task.resumes_after_yield.store(true, Relaxed);
    local.ready.borrow_mut().push_back(slot);
    true
}

/// Unwind a cancelled coroutine on this (its own) worker: corosensei's
/// forced unwind from its suspension point runs its destructors here; then
/// its segments go back and, only then, its join slot reports cancelled.
fn unwind_cancelled(local: &Local, slab: &mut Slab, slot: usize) {
    let Some(st) = slab.take(slot) else {
        fatal!("worker {}: cancelled slot {slot} is empty", local.idx);
    };
    let task = coro::destroy(&local.ctx, st);
    task.park_state.transition_to_done();
    slab.release(slot);
    local.ctx.wc().finished.add(1);
    debug_assert_coroutines(local, slab);
    if let Some(b) = super::body::take_unwound() {
        b.publish();
    }
    super::free_tasks::recycle(task);
}

/// Conservation of coroutines on one worker (they never migrate): the
/// coroutines in its slab are exactly those it started and has not
/// finished.
#[inline]
pub(super) fn debug_assert_coroutines(local: &Local, slab: &Slab) {
    if cfg!(debug_assertions) {
        let wc = local.ctx.wc();
        let (started, finished) = (wc.started.get(), wc.finished.get());
        debug_assert_eq!(
            slab.live as u64,
            started - finished,
            "worker {}: {} coroutines in the slab, {started} started, {finished} finished",
            local.idx,
            slab.live
        );
    }
}
