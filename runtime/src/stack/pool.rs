//! The per-runtime segment pool (Go's `stackpool`): free lists per size
//! class, the chunks segments are carved from, and the scavenger.
//!
//! Contract:
//! - All state is behind one mutex ([`Pool::inner`]); it is the last lock in
//!   the lock order (worker cache lock, then pool lock). Worker caches come
//!   here only in batches, so the lock is off the grow path.
//! - Each size class has a `dirty` list (pages may be resident: counted as
//!   *cached*) and a `clean` list (pages given back with `MADV_DONTNEED`:
//!   counted as *released*). A newly mapped chunk's slots start clean.
//! - Bytes are conserved: `mapped == inuse + cached + released` (see
//!   `crate::counters`). The pool updates `PoolCounters` under its lock.
//! - When dirty bytes exceed the high-water mark, the oldest dirty segments
//!   are released until half of it remains ([`Pool::scavenge`]): by the next
//!   worker that goes idle, by a cache flush, or at once past
//!   [`POOL_SCAVENGE_NOW`].
//! - Chunks are unmapped only when the pool is dropped, which happens after
//!   every worker has returned every segment.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use corosensei::stack::valgrind::ValgrindStackRegistration;
use memmap2::MmapMut;
use parking_lot::Mutex;

use super::{os, registry, stack_bytes, stride, OnFixedStack, Segment, GUARD, NCLASSES};
use crate::counters::Counters;

/// Dirty bytes the pool keeps before giving pages back to the OS.
pub const POOL_HIGH_WATER: usize = 16 << 20;

/// Dirty bytes past which a batch release scavenges at once instead of
/// leaving it to the next idle worker.
pub const POOL_SCAVENGE_NOW: usize = 16 * POOL_HIGH_WATER;

/// Smallest chunk mapping; chunks of a class double up to `MAX_CHUNK`.
const MIN_CHUNK: usize = 1 << 20;
const MAX_CHUNK: usize = 1 << 30;
const MIN_SLOTS: usize = 8;

struct Chunk {
    map: MmapMut,
    reg: Option<usize>,
    _valgrind: Vec<ValgrindStackRegistration>,
}

#[derive(Default)]
struct PoolInner {
    dirty: [VecDeque<Segment>; NCLASSES],
    clean: [Vec<Segment>; NCLASSES],
    chunks: Vec<Chunk>,
    chunks_per_class: [u32; NCLASSES],
    dirty_bytes: usize,
    /// Stack bytes carved from all chunks.
    mapped: usize,
}

/// The segment pool of one runtime.
pub(crate) struct Pool {
    inner: Mutex<PoolInner>,
    counters: Arc<Counters>,
    /// Runs chunk mapping on a stack that does not move.
    on_fixed_stack: OnFixedStack,
    /// Dirty bytes passed the high-water mark: the next idle worker scavenges.
    pending: std::sync::atomic::AtomicBool,
}

impl Pool {
    pub(crate) fn new(counters: Arc<Counters>, on_fixed_stack: OnFixedStack) -> Pool {
        Pool {
            inner: Mutex::new(PoolInner::default()),
            counters,
            on_fixed_stack,
            pending: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Move up to `n` free segments of `class` into `out` (which must have
    /// room: it is never grown here). Returns the bytes moved. Maps a new
    /// chunk, on the system stack, when the class has none free.
    pub(crate) fn refill(&self, class: u8, out: &mut Vec<Segment>, n: usize) -> usize {
        let n = n.min(out.capacity() - out.len()).max(1);
        let mut g = self.inner.lock();
        let c = class as usize;
        if g.dirty[c].is_empty() && g.clean[c].is_empty() {
            let k = g.chunks_per_class[c];
            let mut chunk = None;
            (self.on_fixed_stack)(&mut || chunk = Some(map_chunk(class, k)));
            let chunk = match chunk {
                Some(Ok(c)) => c,
                Some(Err(e)) => fatal!("out of stack memory for class {class} (chunk {k}): {e}"),
                None => fatal!("chunk mapping for class {class} did not run"),
            };
            let slots = chunk.map.len() / stride(class);
            let base = chunk.map.as_ptr() as usize;
            // Carve top-down so the first segments handed out are the highest.
            for i in (0..slots).rev() {
                // SAFETY: slot i of a fresh chunk, with its guard installed by
                // map_chunk; no other Segment refers to it.
                let seg = unsafe { Segment::from_raw(base + (i + 1) * stride(class), class) };
                g.clean[c].push(seg);
            }
            let bytes = slots * stack_bytes(class);
            g.mapped += bytes;
            g.chunks_per_class[c] += 1;
            g.chunks.push(chunk);
            self.counters.pool.mapped.fetch_add(bytes as u64, Relaxed);
            self.counters.pool.released.fetch_add(bytes as u64, Relaxed);
            self.counters.pool.chunks.fetch_add(1, Relaxed);
        }
        let b = stack_bytes(class);
        let mut moved = 0;
        while moved < n {
            if let Some(s) = g.dirty[c].pop_back() {
                g.dirty_bytes -= b;
                self.counters.pool.cached.fetch_sub(b as u64, Relaxed);
                out.push(s);
            } else if let Some(s) = g.clean[c].pop() {
                self.counters.pool.released.fetch_sub(b as u64, Relaxed);
                out.push(s);
            } else {
                break;
            }
            moved += 1;
        }
        self.debug_assert_conserved(&g);
        moved * b
    }

    /// Conservation inside the pool (under its lock): the cached counter
    /// is the dirty lists' bytes, and the pool never holds more than it
    /// mapped.
    #[inline]
    fn debug_assert_conserved(&self, g: &PoolInner) {
        if cfg!(debug_assertions) {
            let cached = self.counters.pool.cached.load(Relaxed);
            let released = self.counters.pool.released.load(Relaxed);
            debug_assert_eq!(
                cached, g.dirty_bytes as u64,
                "pool cached counter vs dirty lists"
            );
            debug_assert!(
                cached + released <= g.mapped as u64,
                "pool holds {cached} cached + {released} released of {} mapped bytes",
                g.mapped
            );
        }
    }

    /// Take back free segments (from a worker cache). With `scavenge`, dirty
    /// bytes past the high-water mark are left for the next idle worker (like
    /// Go's background scavenger, off the coroutines' path), unless they pass
    /// [`POOL_SCAVENGE_NOW`]. Returns bytes taken.
    pub(crate) fn give(&self, segs: impl Iterator<Item = Segment>, scavenge: bool) -> usize {
        let mut g = self.inner.lock();
        let mut total = 0;
        for s in segs {
            let b = s.bytes();
            total += b;
            g.dirty_bytes += b;
            g.dirty[s.class() as usize].push_back(s);
        }
        self.counters.pool.cached.fetch_add(total as u64, Relaxed);
        self.debug_assert_conserved(&g);
        if scavenge && g.dirty_bytes > POOL_HIGH_WATER {
            if g.dirty_bytes > POOL_SCAVENGE_NOW {
                self.scavenge_locked(&mut g);
            } else {
                self.pending.store(true, Relaxed);
            }
        }
        total
    }

    /// Scavenge if a batch release left dirty bytes past the high-water
    /// mark (called by workers about to sleep).
    pub(crate) fn scavenge_if_pending(&self) {
        if self.pending.load(Relaxed) && self.pending.swap(false, Relaxed) {
            self.scavenge();
        }
    }

    /// Give pages of dirty segments back to the OS until at most the
    /// high-water mark of dirty bytes remains.
    pub(crate) fn scavenge(&self) {
        let mut g = self.inner.lock();
        self.scavenge_locked(&mut g);
    }

    fn scavenge_locked(&self, g: &mut PoolInner) {
        if g.dirty_bytes <= POOL_HIGH_WATER {
            return;
        }
        // Pick the oldest dirty segments, largest classes first (the most
        // bytes per segment), down to half the high-water mark: releasing
        // in large batches (hysteresis) gives long runs of neighbours to
        // coalesce, instead of a few segments on every batch release.
        let target = POOL_HIGH_WATER / 2;
        let mut picked: Vec<Segment> = Vec::new();
        for c in (0..NCLASSES).rev() {
            while g.dirty_bytes > target {
                let Some(s) = g.dirty[c].pop_front() else {
                    break;
                };
                g.dirty_bytes -= s.bytes();
                picked.push(s);
            }
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
        self.counters.pool.cached.fetch_sub(bytes as u64, Relaxed);
        self.counters.pool.released.fetch_add(bytes as u64, Relaxed);
        self.counters
            .pool
            .scavenged
            .fetch_add(bytes as u64, Relaxed);
        for s in picked {
            g.clean[s.class() as usize].push(s);
        }
        self.debug_assert_conserved(g);
    }

    /// Free segments held by the pool (dirty + clean), for tests.
    #[cfg(test)]
    pub(crate) fn free_count(&self) -> usize {
        let g = self.inner.lock();
        g.dirty.iter().map(VecDeque::len).sum::<usize>()
            + g.clean.iter().map(Vec::len).sum::<usize>()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let g = self.inner.get_mut();
        let free: usize = g.dirty.iter().flatten().map(Segment::bytes).sum::<usize>()
            + g.clean.iter().flatten().map(Segment::bytes).sum::<usize>();
        for ch in &g.chunks {
            if let Some(r) = ch.reg {
                registry::remove(r);
            }
        }
        if free != g.mapped {
            // A segment is still referenced somewhere: unmapping would turn
            // a leak into a use-after-free. Keep the memory.
            eprintln!(
                "bamboo: warning: stack pool dropped with {} of {} bytes still in use; leaking its chunks",
                g.mapped - free,
                g.mapped
            );
            for ch in g.chunks.drain(..) {
                std::mem::forget(ch);
            }
        }
    }
}

/// Map the `k`-th chunk of `class`, install every slot's guard, register
/// the slots with valgrind and the chunk with the signal registry.
fn map_chunk(class: u8, k: u32) -> Result<Chunk, crate::Error> {
    let s = stride(class);
    let want = (MIN_CHUNK << k.min(10)).min(MAX_CHUNK);
    let slots = (want / s).max(MIN_SLOTS);
    let len = slots * s;
    let mut map = os::map_chunk(len)?;
    let base = map.as_mut_ptr() as usize;
    let mut vg = Vec::with_capacity(slots);
    for i in 0..slots {
        let slot = base + i * s;
        // SAFETY: the guard range is inside the fresh mapping and unused.
        unsafe { os::protect(slot, GUARD)? };
        vg.push(ValgrindStackRegistration::new(
            (slot + GUARD) as *mut u8,
            stack_bytes(class),
        ));
    }
    let reg = registry::add(base, len, s, registry::GuardKind::Segment);
    Ok(Chunk {
        map,
        reg,
        _valgrind: vg,
    })
}
