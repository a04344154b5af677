//! Per-worker timer heaps: wake-ups for `sleep`/timeouts, and the timers
//! behind `time::after`/`tick` (a binary heap per worker, no thread per
//! timer). Only the owning worker thread touches its heap.
//!
//! A timer that fires a channel ([`Fire`]) is cancelled when its channel's
//! receivers are gone; cancelled timers stay in the heap until they are
//! due or until the heap has doubled since it was last compacted, when a
//! pass drops them all (Go's deleted-timer clean-up), so a loop that keeps
//! making `after` timers and dropping them holds at most about twice the
//! live ones.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

/// Timers on the process-wide fallback heap (`time/fallback.rs` keeps it
/// equal to that heap's length), read by the deadlock watchdog.
pub(crate) static FALLBACK_PENDING: AtomicUsize = AtomicUsize::new(0);

use super::task::TaskShared;

/// A timer that does something other than waking a coroutine.
pub(crate) trait Fire: Send {
    /// Due at `now`: act; `Some(next)` to fire again at `next`.
    fn fire(&mut self, now: Instant) -> Option<Instant>;
    /// Nobody can observe it any more (it may be dropped unfired).
    fn cancelled(&self) -> bool;
}

enum Action {
    Wake(Arc<TaskShared>),
    Fire(Box<dyn Fire>),
}

struct Timer {
    deadline: Instant,
    seq: u64,
    action: Action,
}

impl Timer {
    fn cancelled(&self) -> bool {
        match &self.action {
            Action::Wake(_) => false,
            Action::Fire(f) => f.cancelled(),
        }
    }
}

impl PartialEq for Timer {
    fn eq(&self, o: &Self) -> bool {
        self.deadline == o.deadline && self.seq == o.seq
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Timer {
    // Reversed: BinaryHeap is a max-heap, the earliest deadline must be on top.
    fn cmp(&self, o: &Self) -> Ordering {
        o.deadline.cmp(&self.deadline).then(o.seq.cmp(&self.seq))
    }
}

/// Heap size below which no compaction pass runs.
const COMPACT_MIN: usize = 64;

/// The timer heap of one worker (or of the fallback timer thread).
pub(crate) struct Timers {
    heap: BinaryHeap<Timer>,
    seq: u64,
    compact_at: usize,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            seq: 0,
            compact_at: COMPACT_MIN,
        }
    }
}

impl Timers {
    fn push_timer(&mut self, deadline: Instant, action: Action) {
        self.seq += 1;
        self.heap.push(Timer {
            deadline,
            seq: self.seq,
            action,
        });
    }

    pub(crate) fn push(&mut self, deadline: Instant, task: Arc<TaskShared>) {
        self.push_timer(deadline, Action::Wake(task));
    }

    pub(crate) fn push_fire(&mut self, deadline: Instant, f: Box<dyn Fire>) {
        if self.heap.len() >= self.compact_at {
            self.heap.retain(|t| !t.cancelled());
            self.compact_at = (2 * self.heap.len()).max(COMPACT_MIN);
        }
        self.push_timer(deadline, Action::Fire(f));
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|t| t.deadline)
    }

    /// Pop every timer due at `now`: coroutines to wake go to `out`;
    /// channel timers fire here (and periodic ones go back in).
    pub(crate) fn pop_due(&mut self, now: Instant, out: &mut Vec<Arc<TaskShared>>) {
        while self.heap.peek().is_some_and(|t| t.deadline <= now) {
            let t = self.heap.pop().expect("peeked");
            match t.action {
                Action::Wake(task) => out.push(task),
                Action::Fire(mut f) => {
                    if f.cancelled() {
                        continue;
                    }
                    if let Some(next) = f.fire(now) {
                        self.push_timer(next.max(now), Action::Fire(f));
                    }
                }
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        self.heap.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

/// Register a wake-up for `task` (the running coroutine) at `deadline` on
/// the current worker.
pub(crate) fn register(deadline: Instant, task: Arc<TaskShared>) {
    super::worker::with_local(|l| {
        let mut t = l.timers.borrow_mut();
        t.push(deadline, task);
        l.shared.workers[l.idx]
            .timers_pending
            .store(t.len(), Relaxed);
        l.ctx.wc().timers.add(1);
    })
    .unwrap_or_else(|| fatal!("timer registered off a worker"));
}

/// Put a channel timer on this worker's heap; gives it back off a worker.
pub(crate) fn register_fire(deadline: Instant, f: Box<dyn Fire>) -> Result<(), Box<dyn Fire>> {
    let mut f = Some(f);
    super::worker::with_local(|l| {
        let mut t = l.timers.borrow_mut();
        t.push_fire(deadline, f.take().expect("taken once"));
        l.shared.workers[l.idx]
            .timers_pending
            .store(t.len(), Relaxed);
        l.ctx.wc().timers.add(1);
    });
    match f {
        None => Ok(()),
        Some(f) => Err(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
    use std::time::Duration;

    struct Probe {
        fired: Arc<AtomicUsize>,
        dead: Arc<AtomicBool>,
        period: Option<Duration>,
    }

    impl Fire for Probe {
        fn fire(&mut self, now: Instant) -> Option<Instant> {
            self.fired.fetch_add(1, Relaxed);
            self.period.map(|p| now + p)
        }
        fn cancelled(&self) -> bool {
            self.dead.load(Relaxed)
        }
    }

    #[test]
    fn cancelled_timers_are_compacted_and_never_fire() {
        let mut t = Timers::default();
        let fired = Arc::new(AtomicUsize::new(0));
        let dead = Arc::new(AtomicBool::new(true));
        let far = Instant::now() + Duration::from_secs(3600);
        for _ in 0..10_000 {
            t.push_fire(
                far,
                Box::new(Probe {
                    fired: fired.clone(),
                    dead: dead.clone(),
                    period: None,
                }),
            );
        }
        assert!(t.len() <= 2 * COMPACT_MIN, "{} timers kept", t.len());
        let mut out = vec![];
        t.pop_due(far, &mut out);
        assert_eq!(fired.load(Relaxed), 0);
    }

    #[test]
    fn periodic_timers_fire_again() {
        let mut t = Timers::default();
        let fired = Arc::new(AtomicUsize::new(0));
        let now = Instant::now();
        t.push_fire(
            now,
            Box::new(Probe {
                fired: fired.clone(),
                dead: Arc::new(AtomicBool::new(false)),
                period: Some(Duration::from_millis(1)),
            }),
        );
        let mut out = vec![];
        t.pop_due(now, &mut out);
        t.pop_due(now + Duration::from_millis(1), &mut out);
        assert_eq!(fired.load(Relaxed), 2);
        assert_eq!(t.len(), 1);
    }
}
