//! The paced scavenger (Go's background scavenger, for stack segments):
//! what stayed free in the pool for a while gives its pages back to the OS,
//! a bounded amount per pass.
//!
//! Contract:
//! - Nothing that came to the pool less than [`SCAVENGE_AGE`] ago is
//!   touched: a program that frees and reuses stacks (a repeated deep
//!   recursion, a spawn storm, a monitor calling `read_consistent` in a
//!   loop) keeps its pages instead of faulting them in again every time.
//! - A pass (under the pool lock, [`Pool::pass_locked`]) does, on aged
//!   segments only, oldest first:
//!   1. **release**: while the pool's dirty bytes exceed `POOL_HIGH_WATER`,
//!      take aged segments (largest classes first) off the dirty lists, at
//!      most [`PASS_RELEASE_BYTES`] per pass, and give their pages back in
//!      one `MADV_DONTNEED` per run of neighbouring slots (the guards
//!      between them survive it). They move to the clean lists: *cached*
//!      becomes *released* (`/stack/scavenged:bytes`).
//!   2. **trim**: an aged segment that stays (the newest high-water bytes)
//!      and was used since its last trim gives back the pages below its top
//!      `TRIM_KEEP` bytes (at most [`PASS_TRIMS`] per pass; it stays
//!      *cached*; `/stack/trimmed:bytes`). So a segment a deep call dirtied
//!      does not keep those pages while it waits for reuse.
//! - Passes run when due ([`Pacer`]): at most every [`PASS_INTERVAL`], and
//!   only while some segment will need one. They are started by an idle
//!   worker before it sleeps (and its sleep ends when the next one is due)
//!   and by a worker cache's batch release to the pool (a busy runtime);
//!   never by `alloc`/`free`, never by a statistics flush.
//!
//! ```text
//!  dirty list of one class (oldest first)          now
//!  |<------ aged: free >= SCAVENGE_AGE ------>|<- young ->|
//!  [s1 s2 s3 s4 s5 s6 s7 s8 s9 ...............|.. s40 s41 ]  <- give pushes
//!   \_ released whole while the pool holds       ^ refill pops the newest
//!      more than POOL_HIGH_WATER dirty bytes
//!            \_ the rest of the aged part: trimmed to TRIM_KEEP
//! ```

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::pool::{Pool, PoolInner, POOL_HIGH_WATER};
use super::{os, PackedSeg, Segment, GUARD, NCLASSES, TRIM_KEEP};

/// A free segment is left alone for this long after it came to the pool.
pub const SCAVENGE_AGE: Duration = Duration::from_secs(1);
/// Passes are at least this far apart.
pub const PASS_INTERVAL: Duration = Duration::from_millis(100);
/// Segment bytes one pass may release whole (mostly address space: a
/// released run costs the kernel a page-table walk plus the pages that
/// were resident).
pub const PASS_RELEASE_BYTES: usize = 1 << 30;
/// Segments one pass may trim (one `madvise` each).
pub const PASS_TRIMS: usize = 64;

/// When the next pass is due: nanoseconds since the pool's epoch, read
/// without the pool lock (`u64::MAX`: nothing pending).
pub(crate) struct Pacer {
    epoch: Instant,
    due: AtomicU64,
}

const NONE: u64 = u64::MAX;

impl Pacer {
    pub(crate) fn new(epoch: Instant) -> Pacer {
        Pacer {
            epoch,
            due: AtomicU64::new(NONE),
        }
    }

    pub(super) fn ns(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// A pass is needed no later than `t` (ns since the epoch).
    pub(crate) fn due_by_ns(&self, t: u64) {
        self.due.fetch_min(t, Relaxed);
    }

    pub(crate) fn is_due(&self, now: Instant) -> bool {
        self.is_due_ns(self.ns(now))
    }

    /// [`is_due`](Self::is_due) at `now` ns since the epoch.
    pub(crate) fn is_due_ns(&self, now: u64) -> bool {
        let d = self.due.load(Relaxed);
        d != NONE && now >= d
    }

    pub(crate) fn due_in(&self, now: Instant) -> Option<Duration> {
        let d = self.due.load(Relaxed);
        (d != NONE).then(|| Duration::from_nanos(d.saturating_sub(self.ns(now))))
    }

    /// After a pass (under the pool lock): the next one is due at `t` (ns
    /// since the epoch).
    fn set(&self, t: Option<u64>) {
        self.due.store(t.unwrap_or(NONE), Relaxed);
    }
}

const AGE_NS: u64 = SCAVENGE_AGE.as_nanos() as u64;

/// Whether a segment stamped `at` has been free for `SCAVENGE_AGE` at
/// `now` (both ns since the pool's epoch).
fn aged(at: u64, now: u64) -> bool {
    now.saturating_sub(at) >= AGE_NS
}

impl Pool {
    /// One pass at `now` (see the module doc), then schedule the next.
    pub(super) fn pass_locked(&self, g: &mut PoolInner, now: Instant) {
        let now = self.pacer.ns(now);
        self.release_aged(g, now);
        self.trim_aged(g, now);
        // The next pass: when the oldest segment that still needs one ages,
        // and not before PASS_INTERVAL from now.
        let over = g.dirty_bytes > POOL_HIGH_WATER;
        let next = g
            .dirty
            .iter()
            .filter_map(|list| list.iter().find(|(s, _)| over || !s.is_trimmed()))
            .map(|(_, at)| (at + AGE_NS).max(now + PASS_INTERVAL.as_nanos() as u64))
            .min();
        self.pacer.set(next);
        self.assert_conserved(g);
    }

    /// Step 1: release aged segments whole beyond the high-water mark.
    fn release_aged(&self, g: &mut PoolInner, now: u64) {
        let mut picked: Vec<Segment> = Vec::new();
        let mut budget = PASS_RELEASE_BYTES;
        for c in (0..NCLASSES).rev() {
            while g.dirty_bytes > POOL_HIGH_WATER && budget > 0 {
                match g.dirty[c].front_at() {
                    Some(at) if aged(at, now) => {}
                    _ => break,
                }
                let Some(s) = g.dirty[c].pop_front() else {
                    break;
                };
                g.dirty_bytes -= s.bytes();
                budget = budget.saturating_sub(s.bytes());
                picked.push(s);
            }
        }
        if picked.is_empty() {
            return;
        }
        // One madvise per run of neighbouring slots: the guards between
        // them survive MADV_DONTNEED, so a run is released in one call
        // (one TLB flush) instead of one per segment.
        picked.sort_unstable_by_key(Segment::bottom);
        let mut i = 0;
        while i < picked.len() {
            let lo = picked[i].bottom();
            let mut hi = picked[i].top();
            let mut j = i + 1;
            while j < picked.len() && picked[j].bottom() == hi + GUARD {
                hi = picked[j].top();
                j += 1;
            }
            // SAFETY: lo..hi is the stack bytes of free pool segments and
            // the guards between them, all inside live chunks; nothing
            // lives there.
            if let Err(e) = unsafe { os::release(lo, hi - lo) } {
                fatal!("scavenging free segments {lo:#x}..{hi:#x}: {e}");
            }
            i = j;
        }
        let bytes: usize = picked.iter().map(Segment::bytes).sum();
        let p = &self.counters.pool;
        p.cached.fetch_sub(bytes as u64, Relaxed);
        p.released.fetch_add(bytes as u64, Relaxed);
        p.scavenged.fetch_add(bytes as u64, Relaxed);
        for mut s in picked {
            s.set_trimmed(true);
            g.clean[s.class() as usize].push(s);
        }
    }

    /// Step 2: trim aged segments that stay dirty.
    fn trim_aged(&self, g: &mut PoolInner, now: u64) {
        let mut left = PASS_TRIMS;
        let mut bytes = 0u64;
        for list in g.dirty.iter_mut() {
            for (s, at) in list.iter_mut() {
                if left == 0 || !aged(at, now) {
                    break;
                }
                if !s.is_trimmed() {
                    bytes += trim(s) as u64;
                    left -= 1;
                }
            }
        }
        self.counters.pool.trimmed.fetch_add(bytes, Relaxed);
    }
}

/// Give back the pages of a free segment below its top [`TRIM_KEEP`]
/// bytes. Returns the bytes released.
fn trim(s: &mut PackedSeg) -> usize {
    s.set_trimmed(true);
    if s.bytes() <= TRIM_KEEP {
        return 0;
    }
    let len = s.bytes() - TRIM_KEEP;
    // SAFETY: the segment is free and owned by the pool (its lock is held);
    // nothing lives in its stack bytes.
    if let Err(e) = unsafe { os::release(s.bottom(), len) } {
        fatal!(
            "trimming free segment {:#x}..{:#x}: {e}",
            s.bottom(),
            s.top()
        );
    }
    len
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, OnceLock};

    use super::*;
    use crate::counters::Counters;
    use crate::stack::cache::SegCache;

    /// A fake clock: a fixed base plus `FAKE_MS`.
    static FAKE_MS: AtomicU64 = AtomicU64::new(0);
    fn fake_now() -> Instant {
        static BASE: OnceLock<Instant> = OnceLock::new();
        *BASE.get_or_init(Instant::now) + Duration::from_millis(FAKE_MS.load(Relaxed))
    }

    /// Segments freed at `t0` are not touched by any pass before
    /// `t0 + SCAVENGE_AGE`, however far past the high-water mark the pool
    /// is; at `t0 + SCAVENGE_AGE` the surplus goes and the rest is trimmed.
    #[test]
    fn never_touches_memory_freed_in_the_last_second() {
        let counters = Arc::new(Counters::new(1));
        let pool = Pool::with_clock(counters.clone(), |f| f(), fake_now);
        let wc = &counters.workers[0];
        let mut cache = SegCache::new(false);
        let class = 4; // 64 KiB usable, 96 KiB of stack bytes
        let n = 2 * POOL_HIGH_WATER / crate::stack::stack_bytes(class);
        let segs: Vec<Segment> = (0..n)
            .map(|_| cache.alloc(class, &pool, wc).unwrap())
            .collect();
        for s in &segs {
            // Dirty every page, as a deep call would.
            // SAFETY: the segment is ours, mapped read-write.
            unsafe { std::ptr::write_bytes(s.bottom() as *mut u8, 1, s.bytes()) };
        }
        for s in segs {
            cache.free(s, &pool, wc);
        }
        cache.flush(&pool, wc);
        // Every segment came to the pool at t0 (the fake clock stood still).
        let t0 = fake_now();
        let snap = || counters.snapshot(0);
        let before = snap();
        assert!(before.stack_cached as usize > POOL_HIGH_WATER, "{before:?}");
        for ms in [0u64, 1, 100, 500, 999] {
            pool.scavenge_at(t0 + Duration::from_millis(ms));
            let s = snap();
            assert_eq!(s.scavenged, before.scavenged, "released at +{ms} ms");
            assert_eq!(s.trimmed, before.trimmed, "trimmed at +{ms} ms");
            assert_eq!(s.stack_cached, before.stack_cached);
        }
        assert!(pool.pacer.due_in(t0).is_some(), "a pass must be scheduled");
        // Also through the paced entry point: not due yet at +999 ms.
        FAKE_MS.store(999, Relaxed);
        pool.tick();
        assert_eq!(snap().scavenged, before.scavenged);
        pool.scavenge_at(t0 + SCAVENGE_AGE);
        let s = snap();
        assert!(s.scavenged > before.scavenged, "{s:?}");
        assert!(s.stack_cached as usize <= POOL_HIGH_WATER, "{s:?}");
        // The ones kept have been trimmed (up to PASS_TRIMS per pass).
        assert!(s.trimmed > before.trimmed, "{s:?}");
        assert_eq!(
            s.stack_inuse + s.stack_cached + s.stack_released,
            s.stack_mapped
        );
    }
}
