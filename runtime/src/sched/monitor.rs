//! The monitor thread (Go's `sysmon`, its preemption part): asks a
//! coroutine that has run for a whole time slice to yield at its next
//! check point.
//!
//! ```text
//!   worker i                          monitor (one tick, then sleep `delay`)
//!   slice starts: switches[i] += 1    n = switches[i] + slices[i]
//!   idle, after a stop: slices[i] += 1  asleep, or n changed -> remember (n, now)
//!                                     same n since `at`:
//!                                       now - at >= time_slice -> preempter[i].request()
//!                                       else wake again at `at + time_slice`
//!   check point sees PREEMPT -> yields (Outcome::Preempted, back of the ready queue)
//! ```
//!
//! Cost to the others: a worker pays nothing per slice (the count is its
//! `/sched/switches` counter, which it bumps anyway, plus `slices`, bumped
//! when it goes idle or leaves a stop); a check point pays nothing (a
//! request poisons the bound `grow` already compares with, see
//! `coro::Bound`). A coroutine
//! that reaches no check point is not preempted. A slice past its time is
//! asked again at every tick while it runs: a request can be overwritten
//! by the worker's own update of the bound (`coro::Bound`), and asking
//! again is one store.
//!
//! Back-off (Go's sysmon sleeps 20 µs doubling to 10 ms, and not at all
//! while every P is idle):
//!
//! - while some slice has been seen twice, the next tick is at the moment
//!   that slice's time is up (so it is cut after one slice, plus the time
//!   to its next check point);
//! - otherwise the delay doubles from [`period`] up to one time slice: a
//!   slice is then seen first within one slice of its start and cut
//!   within two;
//! - when every worker sleeps in its poller at two ticks in a row, the
//!   monitor sleeps without a timeout until a worker comes back from its
//!   sleep ([`MonitorWake::worker_awake`], one load on that path while
//!   the monitor is awake) or the runtime shuts down. So an idle runtime's
//!   monitor makes no wake-ups at all, and a busy one at most one per
//!   time slice.
//!
//! The deep sleep's handshake (a Dekker pair, both sides `SeqCst`):
//!
//! ```text
//!   monitor                              worker leaving its sleep
//!   lock; parked = true                  sleeping = false
//!   every worker sleeping?               parked? -> lock; parked = false;
//!     yes: wait while parked                        notify
//!     no:  parked = false
//!   unlock
//! ```
//!
//! Either the monitor sees the worker awake, or the worker sees `parked`.

use std::sync::atomic::Ordering::*;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::worker::Shared;

/// How workers and the shutdown wake the monitor.
#[derive(Default)]
pub(crate) struct MonitorWake {
    /// The monitor sleeps without a timeout (every worker was asleep).
    parked: AtomicBool,
    /// Set once by the shutdown.
    stop: Mutex<bool>,
    cv: Condvar,
    /// Ticks made, for tests (`/sched/` exposes no such metric).
    ticks: AtomicU64,
}

impl MonitorWake {
    /// Make the monitor exit.
    pub(crate) fn shutdown(&self) {
        *self.stop.lock() = true;
        self.parked.store(false, SeqCst);
        self.cv.notify_all();
    }

    /// A worker is back from its sleep in the poller: wake the monitor if
    /// it sleeps for want of running workers.
    #[inline]
    pub(crate) fn worker_awake(&self) {
        if self.parked.load(SeqCst) {
            let _g = self.stop.lock();
            self.parked.store(false, SeqCst);
            self.cv.notify_one();
        }
    }

    /// Ticks the monitor has made so far.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn ticks(&self) -> u64 {
        self.ticks.load(Relaxed)
    }
}

/// The monitor's shortest delay for a time slice: half of it, within
/// 50 µs..=10 ms.
pub(crate) fn period(slice: Duration) -> Duration {
    (slice / 2).clamp(Duration::from_micros(50), Duration::from_millis(10))
}

/// What the monitor remembers of one worker.
#[derive(Clone, Copy)]
struct Seen {
    /// Its slice count at the last tick.
    slices: u64,
    /// When that count was first seen (the slice began no later).
    at: Instant,
}

/// What one tick decided.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Tick again at this instant (a slice's time is up then).
    At(Instant),
    /// Nothing is close to its time: back off.
    BackOff,
    /// Every worker sleeps in its poller.
    AllAsleep,
}

/// Worker `i`'s slice number: it changes whenever a slice starts, the
/// worker goes idle or leaves a stop (both parts only grow).
pub(super) fn slice_number(shared: &Shared, i: usize) -> u64 {
    shared.counters.workers[i]
        .switches
        .get()
        .wrapping_add(shared.workers[i].slices.load(Relaxed))
}

/// What a tick reads of the workers and asks of them: the runtime's
/// [`Shared`], or a scripted one in the unit tests.
trait Workers {
    /// Number of workers.
    fn count(&self) -> usize;
    /// Worker `i`'s slice number ([`slice_number`]).
    fn slice_number(&self, i: usize) -> u64;
    /// Worker `i` sleeps in its poller.
    fn sleeping(&self, i: usize) -> bool;
    /// Ask the coroutine running on worker `i` to yield.
    fn ask(&self, i: usize);
    /// Worker `i` stayed in one slice since the last tick: if unstarted
    /// coroutines wait in its deque, wake a sleeping worker to take them
    /// (a spawn wakes nobody for a lone one: `worker::stealable`).
    fn unblock_unstarted(&self, i: usize);
}

impl Workers for Shared {
    fn count(&self) -> usize {
        self.workers.len()
    }

    fn slice_number(&self, i: usize) -> u64 {
        slice_number(self, i)
    }

    fn sleeping(&self, i: usize) -> bool {
        self.workers[i].sleeping.load(SeqCst)
    }

    fn ask(&self, i: usize) {
        if let Some(p) = self.workers[i].preempter.get() {
            p.request();
        }
    }

    fn unblock_unstarted(&self, i: usize) {
        if !self.stealers[i].is_empty() {
            self.wake_one();
        }
    }
}

/// One look at every worker: ask the slices whose time is up to yield.
///
/// A slice past its time is asked at every tick until its slice number
/// changes, not once: the request may have been lost (overwritten by the
/// worker's own update of the bound, `coro::Bound`), and the same slice
/// number is the only sign the monitor gets that it was
/// (`tests::a_lost_request_is_asked_again_at_the_next_tick`).
fn tick(workers: &impl Workers, seen: &mut [Seen], slice: Duration, now: Instant) -> Next {
    let mut all_asleep = true;
    let mut next: Option<Instant> = None;
    debug_assert_eq!(seen.len(), workers.count());
    for (i, seen) in seen.iter_mut().enumerate() {
        let n = workers.slice_number(i);
        if workers.sleeping(i) {
            *seen = Seen { slices: n, at: now };
            continue;
        }
        all_asleep = false;
        if n != seen.slices {
            *seen = Seen { slices: n, at: now };
            continue;
        }
        workers.unblock_unstarted(i);
        let due = seen.at + slice;
        if now >= due {
            workers.ask(i);
        } else {
            next = Some(next.map_or(due, |d| d.min(due)));
        }
    }
    match next {
        Some(d) => Next::At(d),
        None if all_asleep => Next::AllAsleep,
        None => Next::BackOff,
    }
}

/// Sleep until every worker is asleep no longer (or the shutdown); false
/// at shutdown.
fn deep_sleep(shared: &Shared) -> bool {
    let m = &shared.monitor;
    let mut stop = m.stop.lock();
    if *stop {
        return false;
    }
    m.parked.store(true, SeqCst);
    // Re-check after the flag (the handshake in the module docs).
    if shared.workers.iter().all(|w| w.sleeping.load(SeqCst)) {
        while m.parked.load(SeqCst) && !*stop {
            m.cv.wait(&mut stop);
        }
    }
    m.parked.store(false, SeqCst);
    !*stop
}

/// Body of the monitor thread; returns at shutdown.
pub(crate) fn run(shared: Arc<Shared>) {
    let slice = shared.cfg.time_slice;
    let shortest = period(slice);
    let now = Instant::now();
    let mut seen: Vec<Seen> = (0..shared.workers.len())
        .map(|i| Seen {
            slices: slice_number(&shared, i),
            at: now,
        })
        .collect();
    let mut delay = shortest;
    let mut asleep_ticks = 0u32;
    let mut wake_at = now + delay;
    loop {
        {
            let m = &shared.monitor;
            let mut stop = m.stop.lock();
            if !*stop {
                m.cv.wait_until(&mut stop, wake_at);
            }
            if *stop || shared.shutdown.load(Acquire) {
                return;
            }
        }
        shared.monitor.ticks.fetch_add(1, Relaxed);
        let now = Instant::now();
        match tick(&*shared, &mut seen, slice, now) {
            Next::At(t) => {
                delay = shortest;
                asleep_ticks = 0;
                wake_at = t.max(now + Duration::from_micros(50));
            }
            Next::BackOff => {
                asleep_ticks = 0;
                wake_at = now + delay;
                delay = (delay * 2).min(slice);
            }
            Next::AllAsleep => {
                asleep_ticks += 1;
                if asleep_ticks >= 2 {
                    asleep_ticks = 0;
                    if !deep_sleep(&shared) {
                        return;
                    }
                    // A worker is running again: start over with short
                    // delays, every slice count new.
                    delay = shortest;
                    let now = Instant::now();
                    for (i, s) in seen.iter_mut().enumerate() {
                        *s = Seen {
                            slices: slice_number(&shared, i),
                            at: now,
                        };
                    }
                }
                wake_at = Instant::now() + delay;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// One scripted worker running one long slice: its slice number
    /// changes only when the test says so, and `pending` stands for its
    /// poisoned bound (a request the next check point would act on).
    #[derive(Default)]
    struct OneWorker {
        slice_number: Cell<u64>,
        asleep: Cell<bool>,
        pending: Cell<bool>,
        asks: Cell<u32>,
    }

    impl Workers for OneWorker {
        fn count(&self) -> usize {
            1
        }
        fn slice_number(&self, _: usize) -> u64 {
            self.slice_number.get()
        }
        fn sleeping(&self, _: usize) -> bool {
            self.asleep.get()
        }
        fn ask(&self, _: usize) {
            self.asks.set(self.asks.get() + 1);
            self.pending.set(true);
        }
        fn unblock_unstarted(&self, _: usize) {}
    }

    /// The race the re-ask covers: the monitor's request lands while the
    /// worker recomputes its bound from the flags it loaded just before,
    /// and the worker's store overwrites the poison (`coro::Bound`). The
    /// slice goes on with nothing pending and the same slice number. The
    /// next tick must ask again, at once (not a slice later, and not
    /// never), and keep asking until the slice number changes.
    #[test]
    fn a_lost_request_is_asked_again_at_the_next_tick() {
        let slice = Duration::from_millis(10);
        let w = OneWorker::default();
        w.slice_number.set(7);
        let t0 = Instant::now();
        let mut seen = [Seen { slices: 7, at: t0 }];
        let ms = Duration::from_millis;

        // Before its time: nothing asked, the next tick is at its end.
        assert_eq!(tick(&w, &mut seen, slice, t0 + ms(4)), Next::At(t0 + slice));
        assert_eq!(w.asks.get(), 0);

        // Its time is up: asked.
        tick(&w, &mut seen, slice, t0 + slice);
        assert_eq!(w.asks.get(), 1);
        assert!(w.pending.get());

        // The request is lost: the worker's bound update overwrites it.
        w.pending.set(false);

        // The next tick (one `period` later) sees the same slice number
        // and asks again.
        tick(&w, &mut seen, slice, t0 + slice + period(slice));
        assert_eq!(
            w.asks.get(),
            2,
            "a slice past its time whose request was lost was not asked again"
        );
        assert!(w.pending.get(), "the slice runs on with no request pending");

        // Asked at every tick while the same slice runs.
        tick(&w, &mut seen, slice, t0 + slice + 2 * period(slice));
        assert_eq!(w.asks.get(), 3);

        // The slice ended (it yielded): a new slice number is a new slice,
        // not asked before its own time is up.
        w.slice_number.set(8);
        w.pending.set(false);
        let t1 = t0 + slice + 3 * period(slice);
        assert_eq!(tick(&w, &mut seen, slice, t1), Next::BackOff);
        assert_eq!(tick(&w, &mut seen, slice, t1 + ms(9)), Next::At(t1 + slice));
        assert_eq!(w.asks.get(), 3);
        assert!(!w.pending.get());

        // A sleeping worker is never asked, however long it sleeps.
        w.asleep.set(true);
        assert_eq!(tick(&w, &mut seen, slice, t1 + ms(500)), Next::AllAsleep);
        assert_eq!(w.asks.get(), 3);
    }

    #[test]
    fn period_is_half_a_slice_within_bounds() {
        let ms = Duration::from_millis;
        assert_eq!(period(ms(10)), ms(5));
        assert_eq!(
            period(Duration::from_micros(100)),
            Duration::from_micros(50)
        );
        assert_eq!(period(Duration::from_secs(1)), ms(10));
    }
}
