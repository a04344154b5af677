//! The live tasks of one runtime, walkable from any thread (for the dump
//! and the deadlock watchdog): weak references in a few sharded slabs.
//!
//! ```text
//!   shards[k]: Mutex<Slab>     Slab { entries: [Weak<TaskShared>], free: [index] }
//!     k = the allocating worker's index (a plain thread's spawn: id % N)
//!
//!   task struct allocated    --insert(k, weak)--> (k, index), kept in the task
//!   task struct freed        --remove((k, index))-> entry emptied, index reused
//!   (its drop; a struct on a worker's free list stays listed, DONE)
//! ```
//!
//! Contract:
//! - a task struct is in its shard from its allocation until it is freed,
//!   across the spawns that reuse it (`task.rs`): a finished task whose
//!   `JoinHandle` is alive is still listed, and so is a struct on a free
//!   list; readers skip tasks whose park state is DONE;
//! - the shard locks are leaves (nothing else is locked under them), taken
//!   once per struct allocation and once per struct drop, never on the
//!   switch, park or wake paths, nor on a spawn that reuses a struct;
//!   [`Registry::live`] upgrades under the lock and hands the strong
//!   references out after unlocking, so the last drop of one of them
//!   (which removes it) never runs under its shard's lock;
//! - an allocation on a worker lists the struct in that worker's own
//!   shard, so a fork/join tree on two workers does not bounce one shard's
//!   lock and slab between them (a struct freed on another worker is
//!   removed from its allocator's shard: the place is kept in the task);
//!   [`Registry::live`] walks every shard.

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
    /// `n` shards: one per worker (each worker lists what it spawns in
    /// its own; plain threads' spawns are spread by task id).
    pub(crate) fn new(n: usize) -> Registry {
        Registry {
            shards: (0..n.max(1)).map(|_| Mutex::new(Slab::default())).collect(),
        }
    }

    /// The shard of a spawn on worker `worker`, or (`None`) on a plain
    /// thread.
    #[inline]
    pub(crate) fn shard_for(&self, worker: Option<usize>, id: u64) -> usize {
        match worker {
            Some(w) if w < self.shards.len() => w,
            _ => (id % self.shards.len() as u64) as usize,
        }
    }

    /// List task `id` in shard `k` (from [`Registry::shard_for`]); the
    /// place returned (shard and index) is what [`Registry::remove`] takes.
    pub(crate) fn insert(&self, k: usize, id: u64, t: Weak<TaskShared>) -> u64 {
        let mut s = self.shards[k].lock();
        let i = match s.free.pop() {
            Some(i) => {
                s.entries[i] = t;
                i
            }
            None => {
                s.entries.push(t);
                s.entries.len() - 1
            }
        };
        drop(s);
        if i >= u32::MAX as usize || k >= u32::MAX as usize {
            fatal!("task {id}: registry place {i} of shard {k} does not fit 32 bits");
        }
        ((k as u64) << 32) | i as u64
    }

    /// Unlist task `id` at `place` (its struct is being freed).
    pub(crate) fn remove(&self, id: u64, place: u64) {
        let (k, index) = (
            (place >> 32) as usize,
            (place & u64::from(u32::MAX)) as usize,
        );
        let Some(shard) = self.shards.get(k) else {
            fatal!("task {id} unlisted from shard {k} of {}", self.shards.len());
        };
        let mut s = shard.lock();
        match s.entries.get_mut(index) {
            Some(e) => *e = Weak::new(),
            None => fatal!(
                "task {id} unlisted at index {index} of shard {k} of {}",
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
        out.sort_by_key(|t| t.id());
        out
    }
}
