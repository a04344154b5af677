//! Runtime counters: per-worker, cache-padded, written only by their owner,
//! and the raw [`CounterSnapshot`] that `bamboo_metrics` turns into named
//! metrics.
//!
//! For users: read numbers through `bamboo_metrics` (`read`, `read_mem_stats`,
//! `read_consistent`): it gives them names, units, descriptions and the
//! consistency guarantees. This module is the raw feed that crate is built
//! on; [`CounterSnapshot`] is `#[non_exhaustive]`, so counters may be added
//! in any release without breaking its readers.
//!
//! ```
//! let rt = bamboo::Runtime::new()?;
//! rt.block_on(|| bamboo::yield_now());
//! let c: bamboo::counters::CounterSnapshot = rt.handle().counters();
//! assert!(c.coroutines_created >= 1);
//! # Ok::<(), bamboo::Error>(())
//! ```
//!
//! Contract (inside the runtime):
//! - `WorkerCounters` belongs to one worker thread. Only that thread writes
//!   it, with a plain load + store (no locked instruction, no lock): the
//!   grow and switch paths pay one `mov` per counter.
//! - Pool-wide byte counts (`PoolCounters`) change only under the pool
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

/// The one table of counters. Each entry is `source field => snapshot
/// field`; from it come [`WorkerCounters`], [`PoolCounters`],
/// [`GlobalCounters`], [`CounterSnapshot`], the sum in
/// [`Counters::snapshot`] and [`CounterSnapshot::FIELDS`]. (`MemStats` in
/// bamboo_metrics mirrors the snapshot; a test there keeps them equal.)
///
/// - `worker`: one [`OwnedCounter`] per worker, summed over workers.
/// - `pool`: pool-wide atomics, copied.
/// - `pool_adds`: pool-wide atomics added to a snapshot field declared above.
/// - `global`: any-thread atomics, copied.
/// - `derived`: snapshot fields computed in `snapshot()` itself.
macro_rules! counter_table {
    (
        worker { $( $(#[doc = $wd:literal])* $wf:ident => $ws:ident, )* }
        pool { $( $(#[doc = $pd:literal])* $pf:ident => $ps:ident, )* }
        pool_adds { $( $(#[doc = $ad:literal])* $af:ident => $as:ident, )* }
        global { $( $(#[doc = $gd:literal])* $gf:ident => $gs:ident, )* }
        derived { $( $(#[doc = $dd:literal])* $df:ident, )* }
    ) => {
        /// Counters owned by one worker (written by that thread only).
        #[derive(Default)]
        pub(crate) struct WorkerCounters {
            $( $(#[doc = $wd])* pub $wf: OwnedCounter, )*
            /// Runnable-to-running latency histogram (sampled).
            pub latency: [OwnedCounter; LATENCY_COUNTS],
            /// Sum of sampled latencies, nanoseconds.
            pub latency_sum_ns: OwnedCounter,
            /// Spare hits of the split's fast path (`coro::grow`): each is
            /// a grow and a spare hit, counted once here (one store per
            /// crossing instead of two); snapshots add it to both `grows`
            /// and `spare_hits`.
            pub split_hits: OwnedCounter,
            /// Spawns made on this worker (from its coroutines); snapshots
            /// add it to `spawned` (the global counter has the spawns of
            /// plain threads).
            pub spawns: OwnedCounter,
        }

        /// Pool-wide counters; written under the pool lock.
        #[derive(Default)]
        pub(crate) struct PoolCounters {
            $( $(#[doc = $pd])* pub $pf: AtomicU64, )*
            $( $(#[doc = $ad])* pub $af: AtomicU64, )*
        }

        /// Counters that any thread may bump (atomic add).
        #[derive(Default)]
        pub(crate) struct GlobalCounters {
            $( $(#[doc = $gd])* pub $gf: AtomicU64, )*
        }

        /// A plain copy of every runtime counter (see
        /// [`crate::Handle::counters`]; for named metrics use
        /// `bamboo_metrics`).
        ///
        /// Byte classes: `stack_inuse + stack_cached + stack_released ==
        /// stack_mapped` whenever the snapshot was taken with the world
        /// stopped.
        #[derive(Debug, Clone, Copy, Default, PartialEq)]
        #[non_exhaustive]
        pub struct CounterSnapshot {
            $( $(#[doc = $wd])* pub $ws: u64, )*
            $( $(#[doc = $pd])* pub $ps: u64, )*
            $( $(#[doc = $gd])* pub $gs: u64, )*
            $( $(#[doc = $dd])* pub $df: u64, )*
            /// Runnable-to-running latency histogram counts (edges:
            /// [`LATENCY_BUCKETS`]).
            pub latency_counts: [u64; LATENCY_COUNTS],
            /// Sum of the sampled latencies in nanoseconds.
            pub latency_sum_ns: u64,
        }

        impl CounterSnapshot {
            /// Names of the scalar fields, in declaration order (the
            /// histogram `latency_counts` is not among them).
            pub const FIELDS: &'static [&'static str] = &[
                $( stringify!($ws), )*
                $( stringify!($ps), )*
                $( stringify!($gs), )*
                $( stringify!($df), )*
                "latency_sum_ns",
            ];
        }

        impl Counters {
            /// Add every table counter into `s` (derived fields untouched).
            fn sum_into(&self, s: &mut CounterSnapshot) {
                for w in self.workers.iter() {
                    // Wrapping, like the counters themselves (`OwnedCounter`):
                    // a snapshot never panics on a counter that wrapped.
                    $( s.$ws = s.$ws.wrapping_add(w.$wf.get()); )*
                    for (i, c) in w.latency.iter().enumerate() {
                        s.latency_counts[i] += c.get();
                    }
                    s.latency_sum_ns += w.latency_sum_ns.get();
                }
                $( s.$ps += self.pool.$pf.load(Relaxed); )*
                $( s.$as += self.pool.$af.load(Relaxed); )*
                $( s.$gs += self.global.$gf.load(Relaxed); )*
            }
        }
    };
}

counter_table! {
    worker {
        /// Bytes of segments held by live coroutines (spares included).
        stack_inuse => stack_inuse,
        /// Segments held by live coroutines.
        segments_inuse => segments_inuse,
        /// Bytes of free segments in worker caches and the pool.
        stack_cached => stack_cached,
        /// Check points that switched segment.
        grows => grows,
        /// Of those, switches forced by the stress mode.
        forced_grows => forced_grows,
        /// Segment switches served by a coroutine's spare segment (hot split).
        spare_hits => spare_hits,
        /// Segments taken from a worker cache (allocator touches).
        segment_allocs => segment_allocs,
        /// Segments returned to a worker cache.
        segment_frees => segment_frees,
        /// Worker-cache batch refills from the pool.
        cache_refills => cache_refills,
        /// Worker-cache batch releases to the pool.
        cache_releases => cache_releases,
        /// Coroutines started (cumulative).
        started => coroutines_created,
        /// Coroutines finished: returned, panicked or unwound (cumulative).
        finished => coroutines_finished,
        /// Coroutines that ended by panicking (cumulative).
        panicked => coroutines_panicked,
        /// Coroutine resumes.
        switches => switches,
        /// Coroutine parks (suspended waiting for an event).
        parks => parks,
        /// `yield_now` calls.
        yields => yields,
        /// Check points that yielded because the coroutine's time slice was
        /// used up (preemption).
        preemptions => preemptions,
        /// Unstarted coroutines taken from another worker or the injector.
        steals => steals,
        /// Timers registered by `sleep`.
        timers => timers,
        /// System-stack excursions that switched stack.
        system_stack_calls => system_stack_calls,
        /// Times a worker went idle (parked its thread).
        idle_parks => idle_parks,
        /// Coroutines parked waiting for a socket now.
        io_wait => io_wait,
        /// `blocking` calls from coroutines (cumulative).
        blocking_calls => blocking_calls,
        /// Resident bytes of parked coroutines' stacks given back by the
        /// shrink pass (cumulative).
        shrunk => shrunk,
    }
    pool {
        /// Bytes of free segments whose pages went back to the OS.
        released => stack_released,
        /// Bytes of segments carved from mappings (inuse + cached + released).
        mapped => stack_mapped,
        /// Stack chunks mapped.
        chunks => chunks,
        /// Bytes given back to the OS by scavenging (cumulative).
        scavenged => scavenged,
        /// Bytes of free segments' pages below their top `TRIM_KEEP` given
        /// back on their way into the pool (cumulative; the segments stay
        /// cached).
        trimmed => trimmed,
    }
    pool_adds {
        /// Bytes of free segments in the pool's lists (part of `stack_cached`).
        cached => stack_cached,
    }
    global {
        /// Coroutines spawned, started or not (cumulative; any thread: a
        /// worker counts its own spawns apart, added in by the snapshot).
        spawned => spawned,
        /// Bytes of system stacks.
        os_stacks => os_stacks,
        /// Stop-the-world pauses.
        stw => stw,
    }
    derived {
        /// Coroutines started and not finished.
        coroutines,
        /// Worker threads.
        workers,
        /// Usable bytes of a coroutine's first segment.
        starting_size,
        /// Blocking-pool threads alive (set by `Handle::counters`).
        blocking_threads,
        /// Resident bytes of the stack chunks, by `mincore` (set by
        /// `Handle::counters`; measured at most ~100 ms before, see
        /// docs/stacks.md).
        stack_resident,
    }
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
        self.sum_into(&mut s);
        for w in self.workers.iter() {
            // One read for both sums: a snapshot never counts a fast-path
            // hit as a grow without also counting it as a spare hit.
            let hits = w.split_hits.get();
            s.grows = s.grows.wrapping_add(hits);
            s.spare_hits = s.spare_hits.wrapping_add(hits);
            s.spawned = s.spawned.wrapping_add(w.spawns.get());
        }
        // Live = started - finished, summed over workers: a coroutine starts
        // and finishes on the same worker, so each worker's difference is >= 0.
        s.coroutines = s.coroutines_created.saturating_sub(s.coroutines_finished);
        s
    }
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
