//! The live tasks of one runtime, walkable from any thread (for the dump
//! and the deadlock watchdog): weak references in a few sharded slabs.
//!
//! ```text
//!   shards[id % N]: Mutex<Slab>     Slab { entries: [Weak<TaskShared>], free: [index] }
//!
//!   spawn                    --insert(weak)--> index, kept in the task
//!   last strong reference    --remove(index)-> entry emptied, index reused
//!   (task::recycle or the drop of the TaskShared)
//! ```
//!
//! Contract:
//! - a task is in its shard from its spawn until its last strong reference
//!   goes (`task::recycle`, or the drop of its `TaskShared`): a finished
//!   task whose `JoinHandle` is alive is still listed, and readers skip
//!   tasks whose park state is DONE;
//! - the shard locks are leaves (nothing else is locked under them), taken
//!   once per spawn and once per task drop, never on the switch, park or
//!   wake paths; [`Registry::live`] upgrades under the lock and hands the
//!   strong references out after unlocking, so the last drop of one of them
//!   (which removes it) never runs under its shard's lock.

use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::task::TaskShared;

#[derive(Default)]
struct Slab {
    entries: Vec<Weak<TaskShared>>,
    free: Vec<usize>,
}

/// The live tasks of one runtime.
pub(crate) struct Registry {
    shards: Box<[Mutex<Slab>]>,
}

impl Registry {
    /// `n` shards (one per worker is plenty: spawns and drops are spread
    /// by task id).
    pub(crate) fn new(n: usize) -> Registry {
        Registry {
            shards: (0..n.max(1)).map(|_| Mutex::new(Slab::default())).collect(),
        }
    }

    fn shard(&self, id: u64) -> &Mutex<Slab> {
        &self.shards[(id % self.shards.len() as u64) as usize]
    }

    /// List task `id`; the index is what [`Registry::remove`] takes.
    pub(crate) fn insert(&self, id: u64, t: Weak<TaskShared>) -> usize {
        let mut s = self.shard(id).lock();
        match s.free.pop() {
            Some(i) => {
                s.entries[i] = t;
                i
            }
            None => {
                s.entries.push(t);
                s.entries.len() - 1
            }
        }
    }

    /// Unlist task `id` (its `TaskShared` is being dropped).
    pub(crate) fn remove(&self, id: u64, index: usize) {
        let mut s = self.shard(id).lock();
        match s.entries.get_mut(index) {
            Some(e) => *e = Weak::new(),
            None => fatal!(
                "task {id} unlisted at index {index} of a shard of {}",
                s.entries.len()
            ),
        }
        s.free.push(index);
    }

    /// Every task still alive, by id.
    pub(crate) fn live(&self) -> Vec<Arc<TaskShared>> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let s = shard.lock();
            out.extend(s.entries.iter().filter_map(Weak::upgrade));
        }
        out.sort_by_key(|t| t.id);
        out
    }
}
