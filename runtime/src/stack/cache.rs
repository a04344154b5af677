//! The per-worker segment cache (Go's `stackcache`).
//!
//! Contract:
//! - One [`SegCache`] per worker, behind a mutex that its worker holds for
//!   as long as it runs (it releases it only while idle or stopped for a
//!   stop-the-world). So the owner's alloc/free never wait on a lock, and a
//!   flusher that holds a stopped worker's cache lock has it to itself.
//! - The worker's `stack_cached` counter is written by whoever holds this
//!   cache's lock.
//! - Each class list is allocated once with its full capacity: `alloc` and
//!   `free` never allocate. Refill and release go to the pool in batches of
//!   half the capacity.

use super::{os, pool::Pool, stack_bytes, Segment, NCLASSES};
use crate::counters::WorkerCounters;

/// Stack bytes a class list may hold before it releases half to the pool,
/// within `MIN_PER_CLASS..=MAX_PER_CLASS` segments. Mostly address space:
/// a free segment costs the pages its last user touched, and a worker that
/// goes idle hands its cache to the pool's scavenger once per
/// `SCAVENGE_AGE` (`StackCtx::flush_if_stale`).
const CACHE_BYTES: usize = 2 << 20;
/// At least this many per list, so that batches to and from the pool stay
/// batches for large first segments (the default is 2 MiB).
const MIN_PER_CLASS: usize = 8;
const MAX_PER_CLASS: usize = 32;

fn cap(class: u8) -> usize {
    (CACHE_BYTES / stack_bytes(class)).clamp(MIN_PER_CLASS, MAX_PER_CLASS)
}

/// Free segments of one worker, per size class.
pub(crate) struct SegCache {
    lists: [Vec<Segment>; NCLASSES],
    poison: bool,
    /// When this cache last went to the pool whole (`flush_if_stale`).
    last_flush: std::time::Instant,
}

impl SegCache {
    pub(crate) fn new(poison: bool) -> SegCache {
        SegCache {
            lists: std::array::from_fn(|c| Vec::with_capacity(cap(c as u8))),
            poison,
            last_flush: std::time::Instant::now(),
        }
    }

    /// Take a segment of `class`: from this cache, refilled from the pool in
    /// a batch when empty. Counts it in use. `Err` when the pool has none
    /// and the OS refuses a new chunk (nothing changes then).
    pub(crate) fn alloc(
        &mut self,
        class: u8,
        pool: &Pool,
        wc: &WorkerCounters,
    ) -> Result<Segment, crate::Error> {
        let list = &mut self.lists[class as usize];
        if list.is_empty() {
            let n = list.capacity() / 2;
            let bytes = pool.refill(class, list, n)?;
            wc.stack_cached.add(bytes as u64);
            wc.cache_refills.add(1);
        }
        let mut seg = match list.pop() {
            Some(s) => s,
            None => fatal!("segment pool refill of class {class} returned nothing"),
        };
        // A coroutine may dirty any page of it from now on.
        seg.set_trimmed(false);
        if self.poison {
            // SAFETY: the segment is free and owned by this cache.
            if let Err(e) = unsafe { os::unprotect(seg.bottom(), seg.bytes()) } {
                fatal!(
                    "unpoisoning segment {:#x}..{:#x}: {e}",
                    seg.bottom(),
                    seg.top()
                );
            }
        }
        let b = seg.bytes() as u64;
        wc.stack_cached.sub(b);
        wc.stack_inuse.add(b);
        wc.segments_inuse.add(1);
        wc.segment_allocs.add(1);
        Ok(seg)
    }

    /// Give back a segment no coroutine uses any more.
    pub(crate) fn free(&mut self, mut seg: Segment, pool: &Pool, wc: &WorkerCounters) {
        let b = seg.bytes() as u64;
        if self.poison {
            // Its pages are gone (madvise guard) or must keep the poison
            // fill (mprotect): the pool must not trim it.
            seg.set_trimmed(true);
            // SAFETY: the segment was just given up by its coroutine: nothing
            // lives in it and this cache owns it now.
            if let Err(e) = unsafe { os::poison(seg.bottom(), seg.bytes()) } {
                fatal!(
                    "poisoning segment {:#x}..{:#x}: {e}",
                    seg.bottom(),
                    seg.top()
                );
            }
        }
        wc.stack_inuse.sub(b);
        wc.segments_inuse.sub(1);
        wc.segment_frees.add(1);
        wc.stack_cached.add(b);
        let list = &mut self.lists[seg.class() as usize];
        list.push(seg);
        if list.len() == list.capacity() {
            let half = list.len() / 2;
            let bytes = pool.give(list, half, true);
            wc.stack_cached.sub(bytes as u64);
            wc.cache_releases.add(1);
        }
    }

    /// Move every cached segment to the pool (Go's `stackcache_clear`).
    /// Does not scavenge: the caller scavenges once after flushing every
    /// worker (`Shared::flush_caches`).
    pub(crate) fn flush(&mut self, pool: &Pool, wc: &WorkerCounters) {
        for list in &mut self.lists {
            if !list.is_empty() {
                let n = list.len();
                let bytes = pool.give(list, n, false);
                wc.stack_cached.sub(bytes as u64);
                wc.cache_releases.add(1);
            }
        }
    }

    /// [`flush`](Self::flush), if the last was at least `SCAVENGE_AGE` ago
    /// (a worker about to sleep): the segments it holds then age in the
    /// pool, where the scavenger trims or releases them, instead of keeping
    /// whatever pages their last users dirtied for as long as the worker
    /// sleeps. At most once per `SCAVENGE_AGE`, so a worker that goes idle
    /// often (ping-pong across workers) does not lose its cache each time.
    pub(crate) fn flush_if_stale(&mut self, pool: &Pool, wc: &WorkerCounters) {
        let now = pool.now();
        if now.saturating_duration_since(self.last_flush) >= super::scavenge::SCAVENGE_AGE {
            self.last_flush = now;
            self.flush(pool, wc);
        }
    }
}
