//! Runtime counters: per-worker, cache-padded, written only by their owner.
//!
//! Contract:
//! - [`WorkerCounters`] belongs to one worker thread. Only that thread writes
//!   it, with a plain load + store (no locked instruction, no lock): the
//!   grow and switch paths pay one `mov` per counter.
//! - Pool-wide byte counts ([`PoolCounters`]) change only under the pool
//!   lock; they are atomics so that snapshots can read them without it.
//! - [`CounterSnapshot`] is a racy sum of all of the above. Taken while the
//!   world is stopped (every other worker parked at a safe point) and from
//!   the system stack (so the reader's own stack does not move), it is exact:
//!   this is what `bamboo_metrics::read_consistent` relies on.
//!
//! Segment bytes are always in exactly one class:
//! `inuse` (held by a live coroutine, spare included) + `cached` (worker
//! caches + pool free lists) + `released` (pool, pages returned to the OS)
//! = `mapped`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crossbeam_utils::CachePadded;

/// Upper bounds, in seconds, of the `/sched/latencies:seconds` histogram
/// buckets (runnable to running). Bucket `i` counts latencies in
/// `[LATENCY_BUCKETS[i], LATENCY_BUCKETS[i+1])`; the first edge is 0 and the
/// last is +Inf, so there are `LATENCY_BUCKETS.len() - 1` counts.
pub const LATENCY_BUCKETS: [f64; LATENCY_COUNTS + 1] = latency_edges();

/// Number of latency histogram counts.
pub const LATENCY_COUNTS: usize = 28;

const fn latency_edges() -> [f64; LATENCY_COUNTS + 1] {
    // 0, then 64ns * 2^k for k in 0..26 (64 ns .. ~4.3 s), then +Inf.
    let mut e = [0.0f64; LATENCY_COUNTS + 1];
    let mut i = 1;
    let mut ns = 64.0f64;
    while i < LATENCY_COUNTS {
        e[i] = ns * 1e-9;
        ns *= 2.0;
        i += 1;
    }
    e[LATENCY_COUNTS] = f64::INFINITY;
    e
}

/// Index of the bucket for a latency of `ns` nanoseconds.
pub(crate) fn latency_bucket(ns: u64) -> usize {
    if ns < 64 {
        return 0;
    }
    // 64..128 -> 1, 128..256 -> 2, ...
    let b = (63 - ns.leading_zeros() as usize) - 5;
    b.min(LATENCY_COUNTS - 1)
}

/// A counter written by one thread only.
#[derive(Default)]
pub(crate) struct OwnedCounter(AtomicU64);

impl OwnedCounter {
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        // Single writer: a plain read-modify-write is race free.
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }
    #[inline]
    pub(crate) fn sub(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_sub(n), Relaxed);
    }
    #[inline]
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Counters owned by one worker.
#[derive(Default)]
pub(crate) struct WorkerCounters {
    /// Bytes of segments held by coroutines of this worker (spares included).
    pub stack_inuse: OwnedCounter,
    /// Segments held by coroutines of this worker.
    pub segments_inuse: OwnedCounter,
    /// Bytes of free segments in this worker's cache.
    pub stack_cached: OwnedCounter,
    /// Check points that switched segment.
    pub grows: OwnedCounter,
    /// Of those, switches forced by the stress mode.
    pub forced_grows: OwnedCounter,
    /// Segment switches served by the coroutine's spare (hot split).
    pub spare_hits: OwnedCounter,
    /// Segments taken from the worker cache (allocator touches).
    pub segment_allocs: OwnedCounter,
    /// Segments given back to the worker cache.
    pub segment_frees: OwnedCounter,
    /// Batch refills of the worker cache from the pool.
    pub cache_refills: OwnedCounter,
    /// Batch releases of the worker cache to the pool.
    pub cache_releases: OwnedCounter,
    /// Coroutines that started running here.
    pub started: OwnedCounter,
    /// Coroutines that finished (returned, panicked or were unwound) here.
    pub finished: OwnedCounter,
    /// Coroutines that ended in a panic.
    pub panicked: OwnedCounter,
    /// Coroutine resumes.
    pub switches: OwnedCounter,
    /// Parks (coroutine suspended waiting for an event).
    pub parks: OwnedCounter,
    /// `yield_now` calls.
    pub yields: OwnedCounter,
    /// Unstarted coroutines taken from other workers or the injector.
    pub steals: OwnedCounter,
    /// Timers (sleeps) registered.
    pub timers: OwnedCounter,
    /// `system_stack` excursions that switched stack.
    pub system_stack_calls: OwnedCounter,
    /// Times this worker went idle (parked its thread).
    pub idle_parks: OwnedCounter,
    /// Coroutines of this worker parked on a socket now.
    pub io_wait: OwnedCounter,
    /// `blocking` calls made by coroutines of this worker.
    pub blocking_calls: OwnedCounter,
    /// Runnable-to-running latency histogram (sampled).
    pub latency: [OwnedCounter; LATENCY_COUNTS],
    /// Sum of sampled latencies, nanoseconds.
    pub latency_sum_ns: OwnedCounter,
}

/// Pool-wide counters; written under the pool lock.
#[derive(Default)]
pub(crate) struct PoolCounters {
    pub mapped: AtomicU64,
    pub cached: AtomicU64,
    pub released: AtomicU64,
    pub chunks: AtomicU64,
    pub scavenged: AtomicU64,
}

/// Counters that any thread may bump (atomic add).
#[derive(Default)]
pub(crate) struct GlobalCounters {
    pub spawned: AtomicU64,
    pub os_stacks: AtomicU64,
    pub stw: AtomicU64,
}

/// All counters of one runtime.
pub(crate) struct Counters {
    pub workers: Box<[CachePadded<WorkerCounters>]>,
    pub pool: CachePadded<PoolCounters>,
    pub global: CachePadded<GlobalCounters>,
}

impl Counters {
    pub(crate) fn new(workers: usize) -> Counters {
        Counters {
            workers: (0..workers)
                .map(|_| CachePadded::new(WorkerCounters::default()))
                .collect(),
            pool: CachePadded::new(PoolCounters::default()),
            global: CachePadded::new(GlobalCounters::default()),
        }
    }

    /// Sum every counter. Racy unless the world is stopped; never allocates.
    pub(crate) fn snapshot(&self, starting_size: u64) -> CounterSnapshot {
        let mut s = CounterSnapshot {
            workers: self.workers.len() as u64,
            starting_size,
            ..CounterSnapshot::default()
        };
        for w in self.workers.iter() {
            s.stack_inuse += w.stack_inuse.get();
            s.segments_inuse += w.segments_inuse.get();
            s.stack_cached += w.stack_cached.get();
            s.grows += w.grows.get();
            s.forced_grows += w.forced_grows.get();
            s.spare_hits += w.spare_hits.get();
            s.segment_allocs += w.segment_allocs.get();
            s.segment_frees += w.segment_frees.get();
            s.cache_refills += w.cache_refills.get();
            s.cache_releases += w.cache_releases.get();
            let started = w.started.get();
            let finished = w.finished.get();
            s.coroutines_created += started;
            s.coroutines_finished += finished;
            s.coroutines_panicked += w.panicked.get();
            s.switches += w.switches.get();
            s.parks += w.parks.get();
            s.yields += w.yields.get();
            s.steals += w.steals.get();
            s.timers += w.timers.get();
            s.system_stack_calls += w.system_stack_calls.get();
            s.idle_parks += w.idle_parks.get();
            s.io_wait = s.io_wait.wrapping_add(w.io_wait.get());
            s.blocking_calls += w.blocking_calls.get();
            for (i, c) in w.latency.iter().enumerate() {
                s.latency_counts[i] += c.get();
            }
            s.latency_sum_ns += w.latency_sum_ns.get();
        }
        // Live = started - finished, summed over workers: a coroutine starts
        // and finishes on the same worker, so each worker's difference is >= 0.
        s.coroutines = s.coroutines_created.saturating_sub(s.coroutines_finished);
        s.stack_cached += self.pool.cached.load(Relaxed);
        s.stack_released = self.pool.released.load(Relaxed);
        s.stack_mapped = self.pool.mapped.load(Relaxed);
        s.chunks = self.pool.chunks.load(Relaxed);
        s.scavenged = self.pool.scavenged.load(Relaxed);
        s.spawned = self.global.spawned.load(Relaxed);
        s.os_stacks = self.global.os_stacks.load(Relaxed);
        s.stw = self.global.stw.load(Relaxed);
        s
    }
}

/// A plain copy of every runtime counter (see [`crate::Handle::counters`]).
///
/// Byte classes: `stack_inuse + stack_cached + stack_released == stack_mapped`
/// whenever the snapshot was taken with the world stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CounterSnapshot {
    /// Bytes of segments held by live coroutines (spares included).
    pub stack_inuse: u64,
    /// Bytes of free segments in worker caches and the pool.
    pub stack_cached: u64,
    /// Bytes of free segments whose pages went back to the OS.
    pub stack_released: u64,
    /// Bytes of segments carved from mappings (sum of the three above).
    pub stack_mapped: u64,
    /// Bytes of system stacks.
    pub os_stacks: u64,
    /// Segments held by live coroutines.
    pub segments_inuse: u64,
    /// Check points that switched segment.
    pub grows: u64,
    /// Of those, switches forced by the stress mode.
    pub forced_grows: u64,
    /// Segment switches served by a coroutine's spare segment.
    pub spare_hits: u64,
    /// Segments taken from a worker cache.
    pub segment_allocs: u64,
    /// Segments returned to a worker cache.
    pub segment_frees: u64,
    /// Worker-cache batch refills from the pool.
    pub cache_refills: u64,
    /// Worker-cache batch releases to the pool.
    pub cache_releases: u64,
    /// Stack chunks mapped.
    pub chunks: u64,
    /// Bytes given back to the OS by scavenging (cumulative).
    pub scavenged: u64,
    /// Coroutines started and not finished.
    pub coroutines: u64,
    /// Coroutines started (cumulative).
    pub coroutines_created: u64,
    /// Coroutines finished (cumulative).
    pub coroutines_finished: u64,
    /// Coroutines that ended by panicking (cumulative).
    pub coroutines_panicked: u64,
    /// Coroutines spawned, started or not (cumulative; any thread).
    pub spawned: u64,
    /// Coroutine resumes.
    pub switches: u64,
    /// Coroutine parks.
    pub parks: u64,
    /// `yield_now` calls.
    pub yields: u64,
    /// Unstarted coroutines taken from another worker or the injector.
    pub steals: u64,
    /// Timers registered by `sleep`.
    pub timers: u64,
    /// System-stack excursions.
    pub system_stack_calls: u64,
    /// Times a worker went idle.
    pub idle_parks: u64,
    /// Coroutines parked waiting for a socket now.
    pub io_wait: u64,
    /// `blocking` calls from coroutines (cumulative).
    pub blocking_calls: u64,
    /// Blocking-pool threads alive.
    pub blocking_threads: u64,
    /// Stop-the-world pauses.
    pub stw: u64,
    /// Worker threads.
    pub workers: u64,
    /// Usable bytes of a coroutine's first segment.
    pub starting_size: u64,
    /// Runnable-to-running latency histogram counts (edges: [`LATENCY_BUCKETS`]).
    pub latency_counts: [u64; LATENCY_COUNTS],
    /// Sum of the sampled latencies in nanoseconds.
    pub latency_sum_ns: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_are_increasing_and_indexable() {
        assert_eq!(LATENCY_BUCKETS[0], 0.0);
        assert!(LATENCY_BUCKETS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(63), 0);
        assert_eq!(latency_bucket(64), 1);
        assert_eq!(latency_bucket(127), 1);
        assert_eq!(latency_bucket(128), 2);
        assert_eq!(latency_bucket(u64::MAX), LATENCY_COUNTS - 1);
        for ns in [1u64, 64, 100, 1000, 1_000_000, 5_000_000_000] {
            let b = latency_bucket(ns);
            let s = ns as f64 * 1e-9;
            assert!(
                LATENCY_BUCKETS[b] <= s && s < LATENCY_BUCKETS[b + 1],
                "{ns} -> {b}"
            );
        }
    }
}
