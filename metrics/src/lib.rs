//! Go-style runtime metrics for bamboo: [`read`] (Go's `runtime/metrics.Read`),
//! [`read_mem_stats`] (Go's `runtime.ReadMemStats`), [`read_consistent`]
//! (Go's `ReadMetricsSlow`, the fixed one) and a Prometheus text encoder
//! ([`prometheus::encode`]).
//!
//! ```
//! let rt = bamboo::Runtime::new().unwrap();
//! let h = rt.handle();
//! let mut samples = bamboo_metrics::all_samples();
//! let mut mem = bamboo_metrics::MemStats::default();
//! bamboo_metrics::read_consistent(&h, &mut mem, &mut samples);
//! assert!(bamboo_metrics::check(&mem, &samples).is_empty());
//! print!("{}", bamboo_metrics::prometheus::encode(&samples));
//! ```
//!
//! How the values stay consistent:
//! - every metric of one [`read`] comes from **one** [`bamboo::Handle::counters`]
//!   snapshot, taken (and turned into samples) on the worker's system stack,
//!   where the caller's own stack cannot move. So sums such as
//!   `/memory/classes/total:bytes` hold within one read even without
//!   stopping the world;
//! - [`read_consistent`] stops the world (its lock serialises readers), and does its
//!   three steps (read, flush + MemStats, read) in one system-stack
//!   excursion: nothing can change between the MemStats and the second read,
//!   so every MemStats field equals its metric exactly (see [`check`]).
//!
//! Every scalar metric is computed from a [`MemStats`] built from the
//! snapshot, so "metric equals MemStats field" means "both came from equal
//! snapshots". The list of metrics is in `docs/metrics.md` (a test keeps it
//! equal to [`all`]).
#![warn(missing_docs)]

mod check;
pub mod prometheus;
mod serve;
mod table;

pub use check::{check, Mismatch};
pub use table::{all, all_samples, describe, mem_stats_field};
use table::{index_near, index_of, mem_array, same_name, Source, METRICS, NMEM};

use bamboo::counters::{CounterSnapshot, LATENCY_BUCKETS};
use bamboo::Handle;

/// What kind of value a metric has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An unsigned 64-bit integer ([`Value::Uint64`]).
    Uint64,
    /// A 64-bit float ([`Value::Float64`]).
    Float64,
    /// A histogram of float64 values ([`Value::Float64Histogram`]).
    Float64Histogram,
    /// No such metric ([`Value::Bad`]).
    Bad,
}

/// One supported metric (Go's `metrics.Description`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Description {
    /// `/path:unit`, unique; [`all`] is sorted by it.
    pub name: &'static str,
    /// What the metric measures (one sentence or two).
    pub description: &'static str,
    /// The kind of [`Value`] [`read`] stores for it.
    pub kind: Kind,
    /// True when the value never decreases (a counter, or a histogram whose
    /// bucket counts only grow).
    pub cumulative: bool,
}

/// A histogram: `counts[i]` values fell in `[buckets[i], buckets[i+1])`.
/// `buckets.len() == counts.len() + 1`; the first edge may be `0` or
/// `-Inf`, the last may be `+Inf`.
///
/// ```
/// let h = bamboo_metrics::Histogram {
///     counts: vec![3, 1],
///     buckets: vec![0.0, 1e-6, f64::INFINITY],
/// };
/// assert_eq!(h.total(), 4); // 3 values under 1 µs, 1 at or above
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// Count of values per bucket.
    pub counts: Vec<u64>,
    /// Bucket edges, strictly increasing.
    pub buckets: Vec<f64>,
}

impl Histogram {
    /// Sum of every count.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// The value of one metric.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// An unsigned integer.
    Uint64(u64),
    /// A float.
    Float64(f64),
    /// A histogram.
    Float64Histogram(Histogram),
    /// Unknown metric (or not read yet).
    #[default]
    Bad,
}

impl Value {
    /// The kind of this value.
    pub fn kind(&self) -> Kind {
        match self {
            Value::Uint64(_) => Kind::Uint64,
            Value::Float64(_) => Kind::Float64,
            Value::Float64Histogram(_) => Kind::Float64Histogram,
            Value::Bad => Kind::Bad,
        }
    }

    /// The integer, if this is a [`Value::Uint64`].
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Uint64(v) => Some(*v),
            _ => None,
        }
    }

    /// The float, if this is a [`Value::Float64`].
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float64(v) => Some(*v),
            _ => None,
        }
    }

    /// The histogram, if this is a [`Value::Float64Histogram`].
    pub fn as_histogram(&self) -> Option<&Histogram> {
        match self {
            Value::Float64Histogram(h) => Some(h),
            _ => None,
        }
    }
}

/// A metric name and, after [`read`], its value (Go's `metrics.Sample`).
///
/// ```
/// use bamboo_metrics::{read, Sample};
/// let rt = bamboo::Runtime::builder().workers(1).build().unwrap();
/// let mut s = [Sample::new("/sched/workers:threads"), Sample::new("/no/such:metric")];
/// read(&rt.handle(), &mut s);
/// assert_eq!(s[0].value.as_u64(), Some(1));
/// assert_eq!(s[1].value, bamboo_metrics::Value::Bad);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric's `/path:unit` name.
    pub name: String,
    /// Its value; [`Value::Bad`] until read, or when the name is unknown.
    pub value: Value,
}

impl Sample {
    /// A sample for `name`, not read yet (`Value::Bad`).
    pub fn new(name: &str) -> Sample {
        Sample {
            name: name.to_owned(),
            value: Value::Bad,
        }
    }
}

/// Runtime statistics (Go's `runtime.MemStats`), filled by
/// [`read_mem_stats`] and [`read_consistent`]. Byte fields count stack bytes
/// (usable bytes plus red zone; guard regions are address space only).
///
/// After [`read_consistent`] each field equals the metric that names it in
/// `docs/metrics.md` exactly (see [`check`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct MemStats {
    /// Bytes reserved by segments held by live coroutines, spares included
    /// (`/memory/classes/stacks/inuse:bytes`): whole segments, whether or not
    /// their pages were touched, so address space rather than RSS.
    pub stack_inuse: u64,
    /// Bytes of free segments in worker caches and the pool whose pages may
    /// be resident (`/memory/classes/stacks/cached:bytes`).
    pub stack_cached: u64,
    /// Bytes of free segments whose pages went back to the OS
    /// (`/memory/classes/stacks/released:bytes`).
    pub stack_released: u64,
    /// Bytes of segments carved from mappings: `stack_inuse + stack_cached +
    /// stack_released` (`/stack/mapped:bytes`).
    pub stack_mapped: u64,
    /// Bytes of the workers' system stacks (`/memory/classes/os-stacks:bytes`).
    pub os_stacks: u64,
    /// Every byte the runtime got from the OS for stacks: `stack_inuse +
    /// stack_cached + stack_released + os_stacks` (`/memory/classes/total:bytes`).
    pub sys: u64,
    /// Segments held by live coroutines (`/stack/segments/inuse:segments`).
    pub segments_inuse: u64,
    /// Check points that switched segment (`/stack/grows:events`).
    pub grows: u64,
    /// Of those, switches forced by the stress mode (`/stack/grows/forced:events`).
    pub forced_grows: u64,
    /// Of the grows, those served by the coroutine's spare segment
    /// (`/stack/grows/spare-hits:events`).
    pub spare_hits: u64,
    /// Segments taken from a worker cache (`/stack/segments/allocs:segments`).
    pub segment_allocs: u64,
    /// Segments given back to a worker cache (`/stack/segments/frees:segments`).
    pub segment_frees: u64,
    /// Worker-cache batch refills from the pool (`/stack/cache/refills:events`).
    pub cache_refills: u64,
    /// Worker-cache batch releases to the pool (`/stack/cache/releases:events`).
    pub cache_releases: u64,
    /// Stack chunks (large mappings) mapped (`/stack/chunks:chunks`).
    pub chunks: u64,
    /// Bytes whose pages the scavenger gave back to the OS, cumulative
    /// (`/stack/scavenged:bytes`).
    pub scavenged: u64,
    /// Bytes of free segments' pages below their top 8 KiB given back on
    /// their way into the pool, cumulative (`/stack/trimmed:bytes`).
    pub trimmed: u64,
    /// Resident bytes of parked coroutines' stacks given back by their
    /// workers' shrink passes, cumulative (`/stack/shrunk:bytes`).
    pub shrunk: u64,
    /// Resident bytes of the stack chunks' pages, by `mincore`, measured at
    /// most ~100 ms before the read (`/stack/resident:bytes`; not exact).
    pub stack_resident: u64,
    /// Coroutines started and not finished (`/sched/coroutines:coroutines`).
    pub coroutines: u64,
    /// Coroutines started (`/sched/coroutines/created:coroutines`).
    pub coroutines_created: u64,
    /// Coroutines finished (`/sched/coroutines/finished:coroutines`).
    pub coroutines_finished: u64,
    /// Coroutines that ended by panicking (`/sched/coroutines/panicked:coroutines`).
    pub coroutines_panicked: u64,
    /// Coroutines spawned and not started yet: `spawned - coroutines_created`
    /// (`/sched/coroutines/not-started:coroutines`).
    pub coroutines_not_started: u64,
    /// Coroutines spawned, from any thread (`/sched/coroutines/spawned:coroutines`).
    pub spawned: u64,
    /// Coroutine resumes (`/sched/switches:switches`).
    pub switches: u64,
    /// Coroutine parks (`/sched/parks:events`).
    pub parks: u64,
    /// `yield_now` calls from coroutines (`/sched/yields:events`).
    pub yields: u64,
    /// Check points that yielded to preemption (`/sched/preemptions:events`).
    pub preemptions: u64,
    /// Unstarted coroutines taken from another worker or the injector
    /// (`/sched/steals:coroutines`).
    pub steals: u64,
    /// Timers registered by `sleep` (`/sched/timers:timers`).
    pub timers: u64,
    /// `system_stack` excursions that switched stack
    /// (`/sched/system-stack/calls:events`).
    pub system_stack_calls: u64,
    /// Times a worker went idle and parked its thread
    /// (`/sched/workers/idle-parks:events`).
    pub idle_parks: u64,
    /// Stop-the-world pauses (`/sched/stop-the-world:events`).
    pub stop_the_world: u64,
    /// Coroutines parked on a socket now (`/sched/coroutines/io-wait:coroutines`).
    pub io_wait: u64,
    /// `bamboo::blocking` calls from coroutines (`/sched/blocking/calls:calls`).
    pub blocking_calls: u64,
    /// Blocking-pool threads alive (`/sched/blocking/threads:threads`).
    pub blocking_threads: u64,
    /// Worker threads (`/sched/workers:threads`).
    pub workers: u64,
    /// Usable bytes of a coroutine's first segment (`/stack/starting-size:bytes`).
    pub starting_size: u64,
    /// The per-coroutine stack limit (`/stack/max-size:bytes`).
    pub max_stack: u64,
    /// Sampled runnable-to-running latencies: the total count of the
    /// `/sched/latencies:seconds` histogram.
    pub latency_samples: u64,
    /// Sum of the sampled latencies in nanoseconds
    /// (`/sched/latencies/sum:seconds` × 1e9).
    pub latency_sum_ns: u64,
}

impl MemStats {
    fn from_snapshot(c: &CounterSnapshot, max_stack: u64) -> MemStats {
        MemStats {
            stack_inuse: c.stack_inuse,
            stack_cached: c.stack_cached,
            stack_released: c.stack_released,
            stack_mapped: c.stack_mapped,
            os_stacks: c.os_stacks,
            sys: c
                .stack_inuse
                .saturating_add(c.stack_cached)
                .saturating_add(c.stack_released)
                .saturating_add(c.os_stacks),
            segments_inuse: c.segments_inuse,
            grows: c.grows,
            forced_grows: c.forced_grows,
            spare_hits: c.spare_hits,
            segment_allocs: c.segment_allocs,
            segment_frees: c.segment_frees,
            cache_refills: c.cache_refills,
            cache_releases: c.cache_releases,
            chunks: c.chunks,
            scavenged: c.scavenged,
            trimmed: c.trimmed,
            shrunk: c.shrunk,
            stack_resident: c.stack_resident,
            coroutines: c.coroutines,
            coroutines_created: c.coroutines_created,
            coroutines_finished: c.coroutines_finished,
            coroutines_panicked: c.coroutines_panicked,
            coroutines_not_started: c.spawned.saturating_sub(c.coroutines_created),
            spawned: c.spawned,
            switches: c.switches,
            parks: c.parks,
            yields: c.yields,
            preemptions: c.preemptions,
            steals: c.steals,
            timers: c.timers,
            system_stack_calls: c.system_stack_calls,
            idle_parks: c.idle_parks,
            stop_the_world: c.stw,
            io_wait: c.io_wait,
            blocking_calls: c.blocking_calls,
            blocking_threads: c.blocking_threads,
            workers: c.workers,
            starting_size: c.starting_size,
            max_stack,
            latency_samples: c.latency_counts.iter().sum(),
            latency_sum_ns: c.latency_sum_ns,
        }
    }
}

// ---------------------------------------------------------------------------
// Reading.

/// One counter snapshot and the MemStats derived from it.
struct Snap {
    c: CounterSnapshot,
    mem: MemStats,
    /// `mem`'s fields as one array (`Source::U`'s `at` indexes it).
    vals: [u64; NMEM],
}

/// Take one snapshot. Call on the system stack (or a plain thread).
fn snap(h: &Handle) -> Snap {
    let c = h.counters();
    let mem = MemStats::from_snapshot(&c, h.max_stack() as u64);
    let vals = mem_array(&mem);
    Snap { c, mem, vals }
}

/// Write `counts`/`edges` into `v`, reusing its buffers when it already is
/// a histogram (Go's `float64HistOrInit`): no allocation once they exist.
fn hist_into(v: &mut Value, counts: &[u64], edges: &[f64]) {
    match v {
        Value::Float64Histogram(h) => {
            h.counts.clear();
            h.counts.extend_from_slice(counts);
            h.buckets.clear();
            h.buckets.extend_from_slice(edges);
        }
        _ => {
            *v = Value::Float64Histogram(Histogram {
                counts: counts.to_vec(),
                buckets: edges.to_vec(),
            })
        }
    }
}

/// Fill every sample from one snapshot. Allocates only to create histogram
/// buffers that the sample does not have yet.
///
/// Two passes when `samples` names every metric in [`all`]'s order (what
/// [`all_samples`] makes, and what a periodic reader keeps passing): one
/// loop of name compares only, then one of stores only, each tight enough
/// to stay in registers. Any other slice goes through a lookup per sample.
fn fill(s: &Snap, samples: &mut [Sample]) {
    let in_order = samples.len() == METRICS.len()
        && samples
            .iter()
            .zip(all())
            .all(|(x, d)| same_name(x.name.as_bytes(), d.name.as_bytes()));
    if in_order {
        for (sample, m) in samples.iter_mut().zip(METRICS) {
            store(s, m.src, &mut sample.value);
        }
        return;
    }
    let mut hint = 0;
    for sample in samples.iter_mut() {
        let Some(i) = index_near(&sample.name, hint) else {
            sample.value = Value::Bad;
            continue;
        };
        hint = i + 1;
        store(s, METRICS[i].src, &mut sample.value);
    }
}

/// Store the value of the metric `src` describes into `v`. A sample read
/// before already holds a value of its kind: that is overwritten in place
/// (no drop glue for the old value).
#[inline(always)]
fn store(s: &Snap, src: Source, v: &mut Value) {
    match (src, v) {
        (Source::U { at, .. }, Value::Uint64(v)) => *v = s.vals[at],
        (Source::U { at, .. }, v) => *v = Value::Uint64(s.vals[at]),
        (Source::F(get), Value::Float64(v)) => *v = get(&s.mem),
        (Source::F(get), v) => *v = Value::Float64(get(&s.mem)),
        (Source::Latencies, v) => hist_into(v, &s.c.latency_counts, &LATENCY_BUCKETS),
    }
}

/// Read the metrics named by `samples` into their values (Go's
/// `metrics.Read`). Unknown names get [`Value::Bad`].
///
/// Does not stop the world: values are racy with respect to other workers,
/// but all of them come from one counter snapshot taken on the system stack
/// (when called from a coroutine), so relations computed within one read
/// hold (`/memory/classes/total:bytes` is the sum of the other classes).
///
/// Allocates only to create histogram buffers a sample does not have yet:
/// a second `read` of the same slice makes no heap allocation.
///
/// ```
/// let rt = bamboo::Runtime::builder().workers(1).build().unwrap();
/// let h = rt.handle();
/// let mut samples = bamboo_metrics::all_samples();
/// rt.block_on(move || {
///     bamboo_metrics::read(&h, &mut samples);
///     let live = samples.iter().find(|s| s.name == "/sched/coroutines:coroutines").unwrap();
///     assert_eq!(live.value.as_u64(), Some(1)); // this block_on coroutine
/// });
/// ```
pub fn read(h: &Handle, samples: &mut [Sample]) {
    bamboo::system_stack(|| fill(&snap(h), samples));
}

/// Stop the world, flush every worker's segment cache into the pool (which
/// releases nothing: only the paced scavenger does), and fill a [`MemStats`]
/// (Go's `runtime.ReadMemStats`).
///
/// May be called while the caller holds a [`bamboo::StopTheWorld`] guard
/// of the same runtime: the caller's stops nest.
///
/// ```
/// let rt = bamboo::Runtime::builder().workers(2).build().unwrap();
/// let mem = bamboo_metrics::read_mem_stats(&rt.handle());
/// assert_eq!(mem.workers, 2);
/// assert_eq!(mem.sys, mem.stack_inuse + mem.stack_cached + mem.stack_released + mem.os_stacks);
/// ```
pub fn read_mem_stats(h: &Handle) -> MemStats {
    let stw = h.stop_the_world();
    let mem = bamboo::system_stack(|| {
        h.flush_stack_caches(&stw);
        snap(h).mem
    });
    drop(stw);
    mem
}

/// Go's `ReadMetricsSlow` done right: stop the world (whose lock also
/// serialises concurrent readers, so no separate metrics lock is needed),
/// and in **one** excursion on the system stack read `samples` (so their
/// buffers exist), flush the caches and fill `mem`, and read `samples`
/// again. Afterwards every metric with a MemStats field equals it exactly
/// ([`check`] returns nothing), whatever the other workers were doing, in
/// the stress mode too.
///
/// May be called while the caller holds a [`bamboo::StopTheWorld`] guard
/// of the same runtime (its stops nest).
pub fn read_consistent(h: &Handle, mem: &mut MemStats, samples: &mut [Sample]) {
    let stw = h.stop_the_world();
    bamboo::system_stack(|| {
        fill(&snap(h), samples);
        h.flush_stack_caches(&stw);
        let s = snap(h);
        *mem = s.mem.clone();
        fill(&s, samples);
    });
    drop(stw);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_lookups_work() {
        assert!(all().windows(2).all(|w| w[0].name < w[1].name));
        for (i, d) in all().iter().enumerate() {
            assert_eq!(index_of(d.name), Some(i));
            assert_eq!(describe(d.name), Some(d));
        }
        assert_eq!(index_of("/nope:bytes"), None);
        assert_eq!(mem_stats_field("/stack/grows:events"), Some("grows"));
        assert_eq!(mem_stats_field("/sched/latencies:seconds"), None);
    }

    /// The in-order pass (a slice like `all_samples()`) and the lookup per
    /// sample (any other slice) store the same values.
    #[test]
    fn in_order_and_shuffled_slices_read_the_same_values() {
        let mut c = CounterSnapshot::default();
        c.stack_inuse = 1 << 20;
        c.grows = 7;
        c.spare_hits = 5;
        c.switches = 99;
        c.latency_counts[3] = 4;
        c.latency_sum_ns = 1_500_000_000;
        let mem = MemStats::from_snapshot(&c, 1 << 30);
        let vals = mem_array(&mem);
        let s = Snap { c, mem, vals };
        let mut ordered = all_samples();
        fill(&s, &mut ordered);
        let mut shuffled = all_samples();
        shuffled.reverse();
        shuffled.push(Sample::new("/no/such:metric"));
        fill(&s, &mut shuffled);
        assert_eq!(shuffled.pop().unwrap().value, Value::Bad);
        shuffled.reverse();
        assert_eq!(ordered, shuffled);
        let get = |n: &str| ordered.iter().find(|x| x.name == n).unwrap().value.clone();
        assert_eq!(get("/stack/grows:events"), Value::Uint64(7));
        assert_eq!(get("/stack/grows/spare-hits:events"), Value::Uint64(5));
        assert_eq!(get("/stack/max-size:bytes"), Value::Uint64(1 << 30));
        assert_eq!(get("/sched/latencies/sum:seconds"), Value::Float64(1.5));
        // A name one byte off is unknown, in order or not.
        let mut off = all_samples();
        off[3].name.push('x');
        fill(&s, &mut off);
        assert_eq!(off[3].value, Value::Bad);
        assert_eq!(off[4].value, ordered[4].value);
    }

    #[test]
    fn histogram_buffers_are_reused() {
        let mut v = Value::Bad;
        hist_into(&mut v, &[1, 2], &[0.0, 1.0, f64::INFINITY]);
        let p = v.as_histogram().unwrap().counts.as_ptr();
        hist_into(&mut v, &[3, 4], &[0.0, 1.0, f64::INFINITY]);
        let h = v.as_histogram().unwrap();
        assert_eq!(h.counts.as_ptr(), p);
        assert_eq!(h.counts, [3, 4]);
    }
}
