//! Wake-ups of many tasks at once (the close of a channel many coroutines
//! wait on, a `wake_all`): [`WakeBatch`] hands the ones of other workers to
//! their owners in batches.
//!
//! Contract:
//! - A single wake-up (`TaskShared::unpark`) of another worker's task is
//!   one push to that worker's remote queue, a `fence(SeqCst)` and a look
//!   at its `sleeping` flag (`remote.rs`), with a clone of the task's `Arc`
//!   for the queue. A loop that wakes thousands pays that per task; here
//!   it collects each other worker's tasks and pushes them as one entry
//!   ([`Woken::Many`]) of at most [`BATCH`]: one push, one fence and at
//!   most one poller wake per batch. The handshake of `remote.rs` is the
//!   same for an entry of one task or of many: the owner's check after its
//!   announcement sees the entry, or the pusher sees `sleeping`.
//! - The waiter's reference moves into the batch (no clone and drop per
//!   task).
//! - This worker's own tasks go to its ready queue at once, as
//!   `worker::schedule` puts them; a task of another runtime than the
//!   batch's first is scheduled at once too (a batch holds one runtime's
//!   workers).
//! - Nothing is lost or late for long: a worker's part is pushed when it
//!   reaches [`BATCH`], and every part at [`WakeBatch::flush`] and at the
//!   batch's drop (also when a panic unwinds the loop). Only the loop that
//!   owns the batch fills it; it lives for that loop (one close).
//!
//! ```text
//!   for each record: claim, notify --+-- this worker's task --> ready queue (now)
//!                                    +-- worker k's ---------> part[k]
//!   part[k] reaches BATCH, flush, drop --> remote[k].push(Many(part[k])), fence, sleeping? wake k
//! ```

use std::rc::Rc;
use std::sync::atomic::Ordering::Acquire;
use std::sync::Arc;

use super::remote;
use super::task::TaskShared;
use super::worker::{self, Local, Shared};

/// Tasks per entry of a remote queue.
pub(crate) const BATCH: usize = 256;

/// An entry of a worker's remote queue: one woken task, or a batch.
pub(crate) enum Woken {
    One(Arc<TaskShared>),
    Many(Vec<Arc<TaskShared>>),
}

/// See the module docs.
pub(crate) struct WakeBatch {
    /// This thread's worker, looked up once for the whole batch.
    local: Option<Rc<Local>>,
    /// The runtime of the first remote task (`parts` is indexed by its
    /// workers).
    shared: Option<Arc<Shared>>,
    parts: Vec<Vec<Arc<TaskShared>>>,
}

impl WakeBatch {
    pub(crate) fn new() -> WakeBatch {
        WakeBatch {
            local: worker::local(),
            shared: None,
            parts: Vec::new(),
        }
    }

    /// Wake `task`: its next (or current) park returns, as with
    /// `TaskShared::unpark`.
    pub(crate) fn unpark(&mut self, task: Arc<TaskShared>) {
        if !task.park_state.notify() {
            return;
        }
        let owner = task.owner.load(Acquire) as usize;
        worker::maybe_stamp(&task);
        if self
            .local
            .as_ref()
            .is_some_and(|l| l.ready_if_owner(&task, owner))
        {
            return;
        }
        match &self.shared {
            Some(s) if Arc::ptr_eq(s, &task.shared) => {}
            Some(_) => return worker::schedule_remote(&task, owner),
            None => {
                self.parts = (0..task.shared.workers.len()).map(|_| Vec::new()).collect();
                self.shared = Some(task.shared.clone());
            }
        }
        let Some(part) = self.parts.get_mut(owner) else {
            fatal!(
                "task {} names worker {owner} of {}",
                task.id(),
                self.parts.len()
            );
        };
        if part.capacity() == 0 {
            part.reserve_exact(BATCH);
        }
        part.push(task);
        if part.len() >= BATCH {
            self.push_part(owner);
        }
    }

    /// Push worker `k`'s part, if any, to its remote queue.
    fn push_part(&mut self, k: usize) {
        let (Some(s), Some(part)) = (&self.shared, self.parts.get_mut(k)) else {
            return;
        };
        if part.is_empty() {
            return;
        }
        let w = &s.workers[k];
        if remote::push(&w.remote, &w.sleeping, Woken::Many(std::mem::take(part))) {
            w.poller.wake();
        }
    }

    /// Hand every part to its worker.
    pub(crate) fn flush(&mut self) {
        for k in 0..self.parts.len() {
            self.push_part(k);
        }
    }
}

impl Drop for WakeBatch {
    fn drop(&mut self) {
        self.flush();
    }
}
