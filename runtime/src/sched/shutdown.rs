//! A worker's shutdown: drop what has not started, unwind what has.
//!
//! Contract:
//! - Runs on the worker thread after its loop has seen `shutdown`; only
//!   it touches the worker's slab, deque and handoff queue from here on.
//! - No coroutine is lost: every unstarted one is dropped (its join
//!   reports cancelled), every started one is unwound (its destructors
//!   run) before the worker exits; the drain counters (`worker::Drain`)
//!   tell the workers when everything left only waits on itself.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::Instant;

use super::slice::{debug_assert_coroutines, run_slice, Slab};
use super::worker::{fire_timers, poll_now, Local};
use crate::coro;

/// How long every draining worker must have had nothing to run before
/// the drain gives up (lets a plain thread that a destructor waits for
/// finish its part).
const DRAIN_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

/// Unwind every coroutine this worker owns and drop every unstarted one.
///
/// ```text
///  1. drop the unstarted (their JoinHandles report cancelled)
///  2. request a cancel of every started coroutine and wake it: its
///     suspend point raises ShutdownUnwind, an ordinary unwind, so its
///     destructors may park (lock a Mutex, send, join) and be woken
///  3. drain: run what is ready, fire timers, poll, until the slab is empty
///     ... or every draining worker has had nothing to run for DRAIN_GRACE
///     (the coroutines left wait on each other):
///  4. force-unwind the rest (corosensei); a destructor that still parks
///     then is a fatal error that says so
/// ```
pub(super) fn shutdown(local: &Local, slab: &mut Slab) {
    let handoff = &local.shared.workers[local.idx].handoff;
    while let Some(u) = local.unstarted.pop() {
        drop(u);
    }
    while let Some(u) = super::placement::drain_steal(&mut || handoff.steal()) {
        drop(u);
    }
    for st in slab.entries.iter_mut().flatten() {
        if coro::request_cancel(st) {
            st.task().unpark();
        }
    }
    drain(local, slab);
    local.shared.drain.active.fetch_sub(1, SeqCst);
    loop {
        while let Some(u) = local.unstarted.pop() {
            drop(u);
        }
        while let Some(u) = super::placement::drain_steal(&mut || handoff.steal()) {
            drop(u);
        }
        for i in 0..slab.entries.len() {
            if let Some(st) = slab.take(i) {
                let task = st.task().clone();
                coro::destroy(&local.ctx, st);
                task.park_state.transition_to_done();
                slab.release(i);
                local.ctx.wc().finished.add(1);
                if let Some(b) = super::body::take_unwound() {
                    b.publish();
                }
            }
        }
        while local.shared.workers[local.idx].remote.pop().is_some() {}
        local.ready.borrow_mut().clear();
        if slab.live == 0 && local.unstarted.is_empty() {
            break;
        }
    }
    local.timers.borrow_mut().clear();
    local.shared.workers[local.idx]
        .timers_pending
        .store(0, Relaxed);
    debug_assert_coroutines(local, slab);
}

/// Step 3 of [`shutdown`]: run the unwinding coroutines until none is
/// left or the drain is stuck.
fn drain(local: &Local, slab: &mut Slab) {
    let s = &local.shared;
    // Timers of the coroutines just woken (their sleeps end at once now):
    // stale. Timers set from here on are destructors' deadlines.
    local.timers.borrow_mut().clear();
    let mut due = Vec::new();
    let mut idle_since: Option<Instant> = None;
    while slab.live > 0 && !s.drain.stuck.load(SeqCst) {
        fire_timers(local, &s.workers[local.idx], &mut due);
        super::worker::take_remote(local, &s.workers[local.idx]);
        poll_now(local, Some(std::time::Duration::ZERO));
        if let Some((slot, left)) = super::placement::pop_ready(local) {
            idle_since = None;
            run_slice(local, slab, slot, left, local.ctx.wc());
            continue;
        }
        let timer = local.timers.borrow().next_deadline();
        if let Some(d) = timer {
            idle_since = None;
            poll_now(local, Some(d.saturating_duration_since(Instant::now())));
            continue;
        }
        // Nothing to run, no timer: wait for a wake-up, counted as idle.
        s.drain.idle.fetch_add(1, SeqCst);
        let all_idle = s.drain.idle.load(SeqCst) == s.drain.active.load(SeqCst)
            && s.workers.iter().all(|w| w.remote.is_empty());
        if all_idle {
            let since = *idle_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= DRAIN_GRACE {
                s.drain.stuck.store(true, SeqCst);
                s.unpark_all();
            }
        } else {
            idle_since = None;
        }
        if !s.drain.stuck.load(SeqCst) && s.workers[local.idx].remote.is_empty() {
            poll_now(local, Some(std::time::Duration::from_millis(5)));
        }
        s.drain.idle.fetch_sub(1, SeqCst);
    }
}
