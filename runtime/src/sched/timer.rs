//! Per-worker timers for `sleep` (a binary heap per worker, no thread per
//! sleep). Only the owning worker thread touches its heap.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Instant;

use super::task::TaskShared;

pub(crate) struct Timer {
    pub deadline: Instant,
    seq: u64,
    pub task: Arc<TaskShared>,
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

/// The timer heap of one worker.
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Timer>,
    seq: u64,
}

impl Timers {
    pub(crate) fn push(&mut self, deadline: Instant, task: Arc<TaskShared>) {
        self.seq += 1;
        self.heap.push(Timer {
            deadline,
            seq: self.seq,
            task,
        });
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|t| t.deadline)
    }

    /// Pop every timer due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant, out: &mut Vec<Arc<TaskShared>>) {
        while let Some(t) = self.heap.peek_mut() {
            if t.deadline > now {
                break;
            }
            out.push(std::collections::binary_heap::PeekMut::pop(t).task);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.heap.clear();
    }
}

/// Register a wake-up for `task` (the running coroutine) at `deadline` on
/// the current worker.
pub(crate) fn register(deadline: Instant, task: Arc<TaskShared>) {
    super::worker::with_local(|l| {
        l.timers.borrow_mut().push(deadline, task);
        l.ctx.wc().timers.add(1);
    })
    .unwrap_or_else(|| fatal!("timer registered off a worker"));
}
