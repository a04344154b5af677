//! What a worker with nothing to run does ([`idle`]): spin briefly for a
//! wake-up in flight, then run the paced passes that are due (scavenger,
//! shrink, the free lists' trims), then sleep in its poller until a
//! wake-up, a timer, a socket or the next pass.
//!
//! Contract: only the worker loop (`worker::run`) calls [`idle`], with
//! nothing ready; it returns as soon as [`has_work`] holds, or after one
//! sleep. The sleep itself is `worker::sleep_unless`'s protocol (no lost
//! wake-up: the flag is set before the last look).

use std::time::Instant;

use super::placement::{stealable, watching_lone};
use super::worker::{new_slice, nothing_queued, poll_now, sleep_unless, Local};
use crate::coro;

/// Spin rounds of an idle worker before it parks its thread: 16 rounds of
/// 24 `pause`s plus a `has_work` check each, meant to be ~10 us: enough to
/// catch a cross-worker wake-up in flight, short enough not to burn a core.
/// Measured on the 2-core development VM (Linux 6.18): 2048 `pause`s took
/// 54 us. `pause` latency varies a lot between CPUs (about 10 to 140
/// cycles); to re-measure, time a loop of `std::hint::spin_loop()` calls,
/// and see `tests/idle.rs` for the idle-CPU check.
pub(super) const SPIN_ROUNDS: u32 = 16;
pub(super) const SPIN_PAUSES: u32 = 24;

pub(super) fn has_work(local: &Local) -> bool {
    let s = &local.shared;
    !local.ready.borrow().is_empty()
        || !nothing_queued(local)
        || (0..s.stealers.len()).any(|k| k != local.idx && stealable(local, k))
        || local
            .timers
            .borrow()
            .next_deadline()
            .is_some_and(|d| d <= Instant::now())
}

/// Nothing to run: spin briefly, then sleep in the poller until a wake-up,
/// a timer, or the next scavenger, shrink or free-task trim pass
/// (`free_tasks.rs`; `shrink_pass` runs this
/// worker's shrink pass if due and says when the next one is).
pub(super) fn idle(local: &Local, shrink_pass: &mut dyn FnMut() -> Option<std::time::Duration>) {
    // Nothing runs here: a new slice number (the monitor must not count
    // idle time against the next coroutine) and no stale request.
    new_slice(&local.shared.workers[local.idx]);
    coro::clear_preempt();
    let has_sockets = local.shared.workers[local.idx].poller.has_sockets();
    if has_sockets && poll_now(local, Some(std::time::Duration::ZERO)) {
        return;
    }
    // With sockets registered, readiness arrives through epoll, which the
    // spin cannot see: go straight to the wait (it returns at once when
    // events are pending) instead of burning the core.
    let spins = if has_sockets { 0 } else { SPIN_ROUNDS };
    for _ in 0..spins {
        if has_work(local) {
            return;
        }
        for _ in 0..SPIN_PAUSES {
            std::hint::spin_loop();
        }
    }
    if spins > 0 && watching_lone(local) {
        // A lone unstarted coroutine elsewhere may become stealable
        // (`stealable`): keep looking rather than sleep past it. Bounded:
        // its owner runs it when its slice ends.
        return;
    }
    let s = &local.shared;
    // Nothing to run: a scavenger pass and a trim of the free task structs
    // if due, off the coroutines' path (Go's background scavenger); the
    // sleep ends when the next is due.
    // Free segments held here go to the pool to age once in a while.
    local.ctx.flush_own_if_stale();
    s.pool.tick();
    let shrink_in = shrink_pass();
    let trim_in = s.free_tasks.trim(Instant::now);
    let trim_bodies_in = s.free_bodies.trim();
    let me = &s.workers[local.idx];
    sleep_unless(
        &me.sleeping,
        &s.sleepers,
        || {
            local.ctx.release_cache();
            has_work(local)
        },
        || {
            local.ctx.wc().idle_parks.add(1);
            let next = local.timers.borrow().next_deadline();
            let timer = next.map(|d| d.saturating_duration_since(Instant::now()));
            let wait = [
                timer,
                s.pool.next_pass_in(),
                shrink_in,
                trim_in,
                trim_bodies_in,
            ]
            .into_iter()
            .flatten()
            .min();
            poll_now(local, wait);
        },
    );
    // The monitor may have gone to sleep while every worker slept: this
    // one is about to run coroutines again (one load when it is awake).
    s.monitor.worker_awake();
    local.ctx.acquire_cache();
}
