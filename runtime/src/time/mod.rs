//! Time channels (Go's `time.After` and `time.Tick`).
//!
//! [`after`] and [`tick`] return a [`Receiver<Instant>`] with a buffer of
//! one, fed by a timer on the calling worker's timer heap (no thread per
//! timer: the worker fires due timers between coroutine slices and when it
//! wakes from idling). Dropping every receiver cancels the timer: it never
//! fires, and the heap forgets it at the latest at its next compaction.
//! `tick` drops ticks for a receiver that is not keeping up, as Go's
//! `Ticker` does: at most one tick waits in the channel, and a late timer
//! skips the periods it missed.
//!
//! Off a worker (a plain thread), the timer goes to one process-wide
//! timer thread (`fallback.rs`), started on first use.
//!
//! If the runtime whose heap holds a timer shuts down first, the timer is
//! dropped and its channel reads as disconnected.

mod fallback;

use std::time::{Duration, Instant};

use crate::sched::timer::{self, Fire};
use crate::sync::{channel, Receiver, Sender};

/// One value, `d` from now.
struct After {
    tx: Option<Sender<Instant>>,
}

impl Fire for After {
    fn fire(&mut self, now: Instant) -> Option<Instant> {
        if let Some(tx) = self.tx.take() {
            let _ = tx.try_send_now(now);
            // Like Go's timer channel, it never closes: a second receive
            // waits for ever.
            tx.uncount();
        }
        None
    }
    fn cancelled(&self) -> bool {
        self.tx.as_ref().is_none_or(Sender::is_closed)
    }
}

/// One value every `period`, dropped when the last one is still unread.
struct Tick {
    tx: Sender<Instant>,
    period: Duration,
    next: Instant,
}

impl Fire for Tick {
    fn fire(&mut self, now: Instant) -> Option<Instant> {
        let _ = self.tx.try_send_now(now); // Full: a tick dropped
        self.next += self.period;
        if self.next <= now {
            // Missed periods are skipped, not delivered late in a burst:
            // the next tick is the next multiple of the period.
            let into = now.duration_since(self.next).as_nanos() % self.period.as_nanos();
            self.next = now + (self.period - std::time::Duration::from_nanos(into as u64));
        }
        Some(self.next)
    }
    fn cancelled(&self) -> bool {
        self.tx.is_closed()
    }
}

fn start(deadline: Instant, f: Box<dyn Fire>) {
    if let Err(f) = timer::register_fire(deadline, f) {
        fallback::register(deadline, f);
    }
}

/// A channel that receives the time once, `d` from now.
///
/// ```
/// use std::time::{Duration, Instant};
/// let t0 = Instant::now();
/// let at = bamboo::time::after(Duration::from_millis(5)).recv().unwrap();
/// assert!(at >= t0 + Duration::from_millis(5));
/// ```
pub fn after(d: Duration) -> Receiver<Instant> {
    let (tx, rx) = channel(1);
    let now = Instant::now();
    let deadline = now
        .checked_add(d)
        .unwrap_or(now + Duration::from_secs(1 << 40));
    start(deadline, Box::new(After { tx: Some(tx) }));
    rx
}

/// A channel that receives the time every `period`; ticks are dropped
/// while the previous one is unread.
///
/// # Panics
/// If `period` is zero.
pub fn tick(period: Duration) -> Receiver<Instant> {
    assert!(!period.is_zero(), "bamboo::time::tick: zero period");
    let (tx, rx) = channel(1);
    let next = Instant::now() + period;
    start(next, Box::new(Tick { tx, period, next }));
    rx
}
