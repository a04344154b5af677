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
//! - Each dirty segment carries a stamp at or after the time it came to
//!   the pool (`stack::dirty`: one word a segment, in blocks that never
//!   move, and the stamps rounded up to [`STAMP_NS`] so that a batch shares
//!   one); the lists are in that order (refill takes the newest, the
//!   scavenger looks at the oldest). The paced scavenger (`stack::scavenge`) never touches a
//!   segment that came back less than `SCAVENGE_AGE` ago: it trims the
//!   pages below the top `TRIM_KEEP` bytes of aged segments, and releases
//!   aged segments whole beyond the newest `POOL_HIGH_WATER` bytes, at a
//!   bounded amount per pass ([`Pool::tick`]).
//! - Chunks are unmapped only when the pool is dropped, which happens after
//!   every worker has returned every segment.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corosensei::stack::valgrind::ValgrindStackRegistration;
use memmap2::MmapMut;
use parking_lot::Mutex;

use super::dirty::DirtyList;
use super::scavenge::{Pacer, SCAVENGE_AGE};
use super::{os, registry, stack_bytes, stride, OnFixedStack, Segment, GUARD, NCLASSES};
use crate::counters::Counters;

/// Dirty bytes (the newest) the scavenger never releases whole.
pub const POOL_HIGH_WATER: usize = 16 << 20;

/// Smallest chunk mapping; chunks of a class double up to `MAX_CHUNK`.
const MIN_CHUNK: usize = 1 << 20;
const MAX_CHUNK: usize = 1 << 30;
const MIN_SLOTS: usize = 8;
/// Dirty-list stamps are clock readings rounded up to a multiple of this
/// (ns): a segment may wait this much longer than `SCAVENGE_AGE` for the
/// scavenger, never less.
pub const STAMP_NS: u64 = 1_000_000;

struct Chunk {
    map: MmapMut,
    reg: Option<usize>,
    _valgrind: Vec<ValgrindStackRegistration>,
}

#[derive(Default)]
pub(super) struct PoolInner {
    /// Free segments whose pages may be resident, each with a stamp of
    /// when it came to the pool; oldest first.
    pub(super) dirty: [DirtyList; NCLASSES],
    pub(super) clean: [Vec<Segment>; NCLASSES],
    chunks: Vec<Chunk>,
    chunks_per_class: [u32; NCLASSES],
    pub(super) dirty_bytes: usize,
    /// Stack bytes carved from all chunks.
    mapped: usize,
}

/// Where [`Pool::give`]'s stamps come from.
enum Stamps {
    /// The pool's clock (a test's fake clock).
    Clock,
    /// The coarse monotonic clock (a few ns to read where the exact one
    /// costs tens in a VM: 2% of releasing 1M coroutines), plus twice its
    /// resolution so that a stamp is never early: the coarse clock lags
    /// the exact one by up to one tick *plus the tick's own delay* (CI
    /// saw a lag of one resolution + 39 ns with only one resolution
    /// added); `epoch` was read just before the pacer's epoch. A stamp
    /// that is late makes a segment look younger: it ages a few ms later.
    Coarse { epoch: u64, margin: u64 },
}

/// The segment pool of one runtime.
pub(crate) struct Pool {
    inner: Mutex<PoolInner>,
    pub(super) counters: Arc<Counters>,
    /// Runs chunk mapping on a stack that does not move.
    on_fixed_stack: OnFixedStack,
    /// When the scavenger has work next (see `stack::scavenge`).
    pub(super) pacer: Pacer,
    clock: fn() -> Instant,
    /// How [`Pool::give`] stamps what comes back.
    stamps: Stamps,
    /// The last resident measurement ([`Pool::resident`]).
    resident: Resident,
}

impl Pool {
    pub(crate) fn new(counters: Arc<Counters>, on_fixed_stack: OnFixedStack) -> Pool {
        // Read before the pacer's epoch (an `Instant`): the coarse clock
        // is never ahead of the exact one, so this is at or before it.
        let epoch = os::monotonic_coarse_ns();
        let mut p = Pool::with_clock(counters, on_fixed_stack, Instant::now);
        p.stamps = Stamps::Coarse {
            epoch,
            margin: 2 * os::monotonic_coarse_res_ns(),
        };
        p
    }

    /// A pool whose scavenger reads time from `clock` (tests use a fake).
    pub(crate) fn with_clock(
        counters: Arc<Counters>,
        on_fixed_stack: OnFixedStack,
        clock: fn() -> Instant,
    ) -> Pool {
        Pool {
            inner: Mutex::new(PoolInner::default()),
            counters,
            on_fixed_stack,
            pacer: Pacer::new(clock()),
            clock,
            stamps: Stamps::Clock,
            resident: Resident::default(),
        }
    }

    /// The pool's clock.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        (self.clock)()
    }

    /// A dirty-list stamp for now: ns since the pacer's epoch, at or after
    /// the exact time, rounded up to [`STAMP_NS`].
    #[inline]
    pub(super) fn stamp_now(&self) -> u64 {
        let ns = match self.stamps {
            Stamps::Clock => self.pacer.ns(self.now()),
            // The exact time is less than `margin` past the coarse
            // reading, and the epoch at or after `epoch`.
            Stamps::Coarse { epoch, margin } => {
                (os::monotonic_coarse_ns() + margin).saturating_sub(epoch)
            }
        };
        ns.div_ceil(STAMP_NS) * STAMP_NS
    }

    /// Map a chunk of `class` now unless the class has free segments:
    /// `Runtime::start` calls it for the first-segment class, so a process
    /// that cannot map even the smallest chunk gets `Error::Os` from
    /// `build()` instead of an abort in its first spawn.
    pub(crate) fn prime(&self, class: u8) -> Result<(), crate::Error> {
        let mut g = self.inner.lock();
        let c = class as usize;
        if g.dirty[c].is_empty() && g.clean[c].is_empty() {
            self.add_chunk_locked(&mut g, class)?;
        }
        Ok(())
    }

    /// Map the next chunk of `class` (on the system stack) and put its
    /// slots on the clean list.
    fn add_chunk_locked(&self, g: &mut PoolInner, class: u8) -> Result<(), crate::Error> {
        let c = class as usize;
        let k = g.chunks_per_class[c];
        let mut chunk = None;
        (self.on_fixed_stack)(&mut || chunk = Some(map_chunk(class, k)));
        let chunk = match chunk {
            Some(r) => r?,
            None => fatal!("chunk mapping for class {class} did not run"),
        };
        let slots = chunk.map.len() / stride(class);
        let base = chunk.map.as_ptr() as usize;
        // Carve top-down so the first segments handed out are the highest.
        for i in (0..slots).rev() {
            // SAFETY: slot i of a fresh chunk, with its guard installed by
            // map_chunk; no other Segment refers to it, and it is untouched.
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
        Ok(())
    }

    /// Move up to `n` free segments of `class` into `out` (which must have
    /// room: it is never grown here). Returns the bytes moved (at least one
    /// segment's). Maps a new chunk, on the system stack, when the class has
    /// none free; when the OS refuses it (address space, `RLIMIT_AS`, the
    /// mapping count under `mprotect` guards) nothing moves and the error
    /// says which chunk of which class failed.
    pub(crate) fn refill(
        &self,
        class: u8,
        out: &mut Vec<Segment>,
        n: usize,
    ) -> Result<usize, crate::Error> {
        let n = n.min(out.capacity() - out.len()).max(1);
        let mut g = self.inner.lock();
        let c = class as usize;
        if g.dirty[c].is_empty() && g.clean[c].is_empty() {
            if let Err(e) = self.add_chunk_locked(&mut g, class) {
                let k = g.chunks_per_class[c];
                return Err(crate::Error::Os {
                    op: "allocating a stack segment",
                    message: format!(
                        "chunk {k} of class {class} ({} KiB segments): {e}",
                        crate::stack::usable(class) >> 10
                    ),
                });
            }
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
        Ok(moved * b)
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

    /// Take back the first `n` segments of `segs` (a worker cache's list,
    /// drained here), stamped with the time they came back. Touches no
    /// page: what a free segment's pages cost is the scavenger's business,
    /// one `SCAVENGE_AGE` later. With `tick`, run a scavenger pass if one
    /// is due (the batch path of a busy runtime; an idle worker ticks
    /// before it sleeps). A flush passes `false`: reading statistics never
    /// releases memory. Returns bytes taken.
    pub(crate) fn give(&self, segs: &mut Vec<Segment>, n: usize, tick: bool) -> usize {
        let n = n.min(segs.len());
        let at = self.stamp_now();
        let mut g = self.inner.lock();
        let mut total = 0;
        for s in segs.drain(..n) {
            let b = s.bytes();
            total += b;
            g.dirty_bytes += b;
            g.dirty[s.class() as usize].push(s, at);
        }
        self.counters.pool.cached.fetch_add(total as u64, Relaxed);
        self.debug_assert_conserved(&g);
        drop(g);
        if total > 0 {
            self.pacer.due_by_ns(at + SCAVENGE_AGE.as_nanos() as u64);
        }
        // `at` is never early, so a pass that is not due by it is not due;
        // tick_at checks again with the exact clock.
        if tick && self.pacer.is_due_ns(at) {
            self.tick_at(self.now());
        }
        total
    }

    /// Run a scavenger pass if one is due (cheap when not: one atomic load).
    pub(crate) fn tick(&self) {
        if self.pacer.is_due(self.now()) {
            self.tick_at(self.now());
        }
    }

    /// Run a scavenger pass if one is due at `now`.
    pub(crate) fn tick_at(&self, now: Instant) {
        if !self.pacer.is_due(now) {
            return;
        }
        let mut g = self.inner.lock();
        // Another thread may have run the pass meanwhile.
        if self.pacer.is_due(now) {
            self.pass_locked(&mut g, now);
        }
    }

    /// How long until the scavenger has work (`None`: nothing pending), for
    /// an idle worker's sleep.
    pub(crate) fn next_pass_in(&self) -> Option<Duration> {
        self.pacer.due_in(self.now())
    }

    /// One scavenger pass at `now`, due or not (tests; the pass itself
    /// still never touches memory younger than `SCAVENGE_AGE`).
    #[cfg(test)]
    pub(crate) fn scavenge_at(&self, now: Instant) {
        let mut g = self.inner.lock();
        self.pass_locked(&mut g, now);
    }

    pub(super) fn assert_conserved(&self, g: &PoolInner) {
        self.debug_assert_conserved(g);
    }

    /// Free segments held by the pool (dirty + clean), for tests.
    #[cfg(test)]
    pub(crate) fn free_count(&self) -> usize {
        let g = self.inner.lock();
        g.dirty.iter().map(DirtyList::len).sum::<usize>()
            + g.clean.iter().map(Vec::len).sum::<usize>()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let g = self.inner.get_mut();
        let free: usize = g
            .dirty
            .iter()
            .flat_map(DirtyList::iter)
            .map(|(s, _)| s.bytes())
            .sum::<usize>()
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
///
/// When the address space (or `RLIMIT_AS`) refuses the chunk, smaller ones
/// are tried, halving down to one slot: a process near its limit gets the
/// segments that still fit instead of an abort.
fn map_chunk(class: u8, k: u32) -> Result<Chunk, crate::Error> {
    let s = stride(class);
    let want = (MIN_CHUNK << k.min(10)).min(MAX_CHUNK);
    let mut slots = (want / s).max(MIN_SLOTS);
    let mut map = loop {
        match os::map_chunk(slots * s) {
            Ok(m) => break m,
            Err(_) if slots > 1 => slots /= 2,
            Err(e) => return Err(e),
        }
    };
    let len = slots * s;
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

/// A resident figure is measured again when it is older than this, or
/// than [`RESIDENT_COST_FACTOR`] times what the last measurement took.
pub const RESIDENT_MAX_AGE: Duration = Duration::from_millis(100);
/// See [`RESIDENT_MAX_AGE`]: keeps the measurement under ~5% of a reader
/// that reads in a loop, however much address space the chunks span.
pub const RESIDENT_COST_FACTOR: u32 = 20;

/// The last measurement of the chunks' resident bytes (`Pool::resident`).
#[derive(Default)]
pub(super) struct Resident {
    bytes: AtomicU64,
    /// When it was taken (ns since the pacer's epoch + 1; 0: never).
    at: AtomicU64,
    /// How long it took, ns.
    cost: AtomicU64,
    measuring: AtomicBool,
}

impl Pool {
    /// Bytes of every chunk's pages resident in memory (`mincore` over the
    /// chunks: segments in use, spares and free segments alike), measured
    /// at most `max(RESIDENT_MAX_AGE, RESIDENT_COST_FACTOR x its cost)`
    /// ago: a reader older than that measures again (one reader at a time;
    /// the others get the last figure). The pool lock is held only to read
    /// one chunk's bounds at a time. Never allocates.
    pub(crate) fn resident(&self) -> u64 {
        let r = &self.resident;
        let now = self.now();
        let at = r.at.load(Relaxed);
        let max_age = (RESIDENT_MAX_AGE.as_nanos() as u64)
            .max(r.cost.load(Relaxed) * RESIDENT_COST_FACTOR as u64);
        let now_ns = self.pacer.ns(now) + 1;
        if at != 0 && now_ns.saturating_sub(at) < max_age {
            return r.bytes.load(Relaxed);
        }
        if r.measuring.swap(true, Acquire) {
            return r.bytes.load(Relaxed);
        }
        let t0 = Instant::now();
        let mut bytes = 0u64;
        for i in 0.. {
            let Some((base, len)) = self
                .inner
                .lock()
                .chunks
                .get(i)
                .map(|c| (c.map.as_ptr() as usize, c.map.len()))
            else {
                break;
            };
            match os::resident(base, len) {
                Ok((b, _)) => bytes += b as u64,
                Err(e) => fatal!("measuring resident stack pages of chunk {base:#x}+{len}: {e}"),
            }
        }
        r.bytes.store(bytes, Relaxed);
        r.cost.store(t0.elapsed().as_nanos() as u64, Relaxed);
        r.at.store(now_ns, Relaxed);
        r.measuring.store(false, Release);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A coarse stamp is never before the exact time (read just before
    /// it): a segment can only be taken for younger than it is, never
    /// older. Many readings across clock ticks.
    #[test]
    fn coarse_stamps_are_never_early() {
        let pool = Pool::new(Arc::new(Counters::new(1)), |f| f());
        let t0 = Instant::now();
        let mut n = 0u64;
        while t0.elapsed() < Duration::from_millis(60) {
            let exact = pool.pacer.ns(Instant::now());
            let at = pool.stamp_now();
            assert!(at >= exact, "stamp {at} ns before the exact {exact} ns");
            n += 1;
        }
        assert!(n > 1000, "{n} readings");
    }
}
