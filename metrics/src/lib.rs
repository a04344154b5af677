//! Go-style runtime metrics for bamboo: [`read`] (Go's `runtime/metrics.Read`),
//! [`read_mem_stats`] (Go's `runtime.ReadMemStats`), [`read_consistent`]
//! (Go's `ReadMetricsSlow`, the fixed one) and a Prometheus text encoder
//! ([`prometheus::encode`]).
//!
//! ```no_run
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
//! - [`read_consistent`] stops the world, takes the metrics lock, and does its
//!   three steps (read, flush + MemStats, read) in one system-stack
//!   excursion: nothing can change between the MemStats and the second read,
//!   so every MemStats field equals its metric exactly (see [`check`]).
//!
//! Every scalar metric is computed from a [`MemStats`] built from the
//! snapshot, so "metric equals MemStats field" means "both came from equal
//! snapshots". The list of metrics is in `docs/metrics.md` (a test keeps it
//! equal to [`all`]).
#![warn(missing_docs)]

pub mod prometheus;

use bamboo::{CounterSnapshot, Handle, LATENCY_BUCKETS};

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
    /// Bytes of segments held by live coroutines, spares included
    /// (`/memory/classes/stacks/inuse:bytes`).
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
            coroutines: c.coroutines,
            coroutines_created: c.coroutines_created,
            coroutines_finished: c.coroutines_finished,
            coroutines_panicked: c.coroutines_panicked,
            coroutines_not_started: c.spawned.saturating_sub(c.coroutines_created),
            spawned: c.spawned,
            switches: c.switches,
            parks: c.parks,
            yields: c.yields,
            steals: c.steals,
            timers: c.timers,
            system_stack_calls: c.system_stack_calls,
            idle_parks: c.idle_parks,
            stop_the_world: c.stw,
            workers: c.workers,
            starting_size: c.starting_size,
            max_stack,
            latency_samples: c.latency_counts.iter().sum(),
            latency_sum_ns: c.latency_sum_ns,
        }
    }
}

// ---------------------------------------------------------------------------
// The metric table.

/// Where a metric's value comes from.
#[derive(Clone, Copy)]
enum Source {
    /// A [`MemStats`] field. `exact`: equal to the field after
    /// [`read_consistent`] whatever other threads do.
    U {
        get: fn(&MemStats) -> u64,
        field: &'static str,
        exact: bool,
    },
    /// A float computed from [`MemStats`].
    F(fn(&MemStats) -> f64),
    /// The runnable-to-running latency histogram.
    Latencies,
}

struct Metric {
    desc: Description,
    src: Source,
}

macro_rules! field {
    ($f:ident) => {
        Source::U {
            get: |m: &MemStats| m.$f,
            field: stringify!($f),
            exact: true,
        }
    };
    ($f:ident, inexact) => {
        Source::U {
            get: |m: &MemStats| m.$f,
            field: stringify!($f),
            exact: false,
        }
    };
}

macro_rules! metric {
    ($name:literal, $kind:ident, $cum:literal, $src:expr, $desc:literal) => {
        Metric {
            desc: Description {
                name: $name,
                description: $desc,
                kind: Kind::$kind,
                cumulative: $cum,
            },
            src: $src,
        }
    };
}

/// Every metric, sorted by name (checked at compile time below).
const METRICS: &[Metric] = &[
    metric!(
        "/memory/classes/os-stacks:bytes",
        Uint64,
        false,
        field!(os_stacks),
        "Memory of the workers' system stacks: one fixed, pre-allocated stack per worker."
    ),
    metric!(
        "/memory/classes/stacks/cached:bytes",
        Uint64,
        false,
        field!(stack_cached),
        "Stack bytes of free segments in the worker caches and the pool whose pages may still be resident."
    ),
    metric!(
        "/memory/classes/stacks/inuse:bytes",
        Uint64,
        false,
        field!(stack_inuse),
        "Stack bytes of segments held by live coroutines (their chains and spare segments)."
    ),
    metric!(
        "/memory/classes/stacks/released:bytes",
        Uint64,
        false,
        field!(stack_released),
        "Stack bytes of free segments whose pages were given back to the OS (never touched, or scavenged)."
    ),
    metric!(
        "/memory/classes/total:bytes",
        Uint64,
        false,
        field!(sys),
        "All memory the runtime mapped for stacks: the sum of every other /memory/classes/ metric."
    ),
    metric!(
        "/sched/coroutines/created:coroutines",
        Uint64,
        true,
        field!(coroutines_created),
        "Coroutines that started running since the runtime started."
    ),
    metric!(
        "/sched/coroutines/finished:coroutines",
        Uint64,
        true,
        field!(coroutines_finished),
        "Coroutines that finished (returned, panicked or were unwound at shutdown)."
    ),
    metric!(
        "/sched/coroutines/not-started:coroutines",
        Uint64,
        false,
        field!(coroutines_not_started, inexact),
        "Coroutines spawned that have not started running yet (queued)."
    ),
    metric!(
        "/sched/coroutines/panicked:coroutines",
        Uint64,
        true,
        field!(coroutines_panicked),
        "Coroutines that ended by panicking."
    ),
    metric!(
        "/sched/coroutines/spawned:coroutines",
        Uint64,
        true,
        field!(spawned, inexact),
        "Coroutines spawned, from coroutines or plain threads, started or not."
    ),
    metric!(
        "/sched/coroutines:coroutines",
        Uint64,
        false,
        field!(coroutines),
        "Live coroutines: started and not finished (running, runnable or parked)."
    ),
    metric!(
        "/sched/latencies/sum:seconds",
        Float64,
        true,
        Source::F(|m: &MemStats| m.latency_sum_ns as f64 / 1e9),
        "Sum of the sampled runnable-to-running latencies counted in /sched/latencies:seconds."
    ),
    metric!(
        "/sched/latencies:seconds",
        Float64Histogram,
        true,
        Source::Latencies,
        "Distribution of the time coroutines spent runnable before running (sampled: one wake-up in 16). Bucket counts only grow."
    ),
    metric!(
        "/sched/parks:events",
        Uint64,
        true,
        field!(parks),
        "Times a coroutine parked to wait for an event (channel, lock, join, sleep)."
    ),
    metric!(
        "/sched/steals:coroutines",
        Uint64,
        true,
        field!(steals),
        "Coroutines that had not started, taken from another worker's queue or the shared injector."
    ),
    metric!(
        "/sched/stop-the-world:events",
        Uint64,
        true,
        field!(stop_the_world),
        "Stop-the-world pauses (read_consistent and read_mem_stats make one each)."
    ),
    metric!(
        "/sched/switches:switches",
        Uint64,
        true,
        field!(switches),
        "Coroutine resumes: times a worker switched to a coroutine."
    ),
    metric!(
        "/sched/system-stack/calls:events",
        Uint64,
        true,
        field!(system_stack_calls),
        "Excursions from a coroutine to its worker's system stack (system_stack calls that switched stack)."
    ),
    metric!(
        "/sched/timers:timers",
        Uint64,
        true,
        field!(timers),
        "Timers registered by sleep."
    ),
    metric!(
        "/sched/workers/idle-parks:events",
        Uint64,
        true,
        field!(idle_parks),
        "Times a worker found no work and parked its thread."
    ),
    metric!(
        "/sched/workers:threads",
        Uint64,
        false,
        field!(workers),
        "Worker threads of the runtime (Go's GOMAXPROCS)."
    ),
    metric!(
        "/sched/yields:events",
        Uint64,
        true,
        field!(yields),
        "Calls of yield_now from coroutines."
    ),
    metric!(
        "/stack/cache/refills:events",
        Uint64,
        true,
        field!(cache_refills),
        "Batch refills of a worker's segment cache from the pool."
    ),
    metric!(
        "/stack/cache/releases:events",
        Uint64,
        true,
        field!(cache_releases),
        "Batch releases of a worker's segment cache to the pool (cache full, or flushed)."
    ),
    metric!(
        "/stack/chunks:chunks",
        Uint64,
        false,
        field!(chunks),
        "Large mappings that segments are carved from."
    ),
    metric!(
        "/stack/grows/forced:events",
        Uint64,
        true,
        field!(forced_grows),
        "Of /stack/grows:events, the segment switches forced by the stress mode (stackmove=1)."
    ),
    metric!(
        "/stack/grows/spare-hits:events",
        Uint64,
        true,
        field!(spare_hits),
        "Of /stack/grows:events, the switches served by the coroutine's spare segment (hot split avoided)."
    ),
    metric!(
        "/stack/grows:events",
        Uint64,
        true,
        field!(grows),
        "Stack check points that switched the coroutine to another segment: a new one, its spare, or the other segment of a forced ping-pong pair."
    ),
    metric!(
        "/stack/mapped:bytes",
        Uint64,
        false,
        field!(stack_mapped),
        "Stack bytes of all segments carved from mappings: in use + cached + released."
    ),
    metric!(
        "/stack/max-size:bytes",
        Uint64,
        false,
        field!(max_stack),
        "The per-coroutine stack limit (max_stack); growing past it panics."
    ),
    metric!(
        "/stack/scavenged:bytes",
        Uint64,
        true,
        field!(scavenged),
        "Bytes of free segments whose pages the scavenger gave back to the OS (past the pool's high-water mark)."
    ),
    metric!(
        "/stack/segments/allocs:segments",
        Uint64,
        true,
        field!(segment_allocs),
        "Segments taken from a worker's cache: first segments, and grows served by no segment the coroutine already had."
    ),
    metric!(
        "/stack/segments/frees:segments",
        Uint64,
        true,
        field!(segment_frees),
        "Segments given back to a worker's cache."
    ),
    metric!(
        "/stack/segments/inuse:segments",
        Uint64,
        false,
        field!(segments_inuse),
        "Segments held by live coroutines (chains and spares)."
    ),
    metric!(
        "/stack/starting-size:bytes",
        Uint64,
        false,
        field!(starting_size),
        "Usable bytes of a coroutine's first stack segment."
    ),
];

const N: usize = METRICS.len();

const fn str_less(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut i = 0;
    while i < a.len() && i < b.len() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
        i += 1;
    }
    a.len() < b.len()
}

const fn sorted_and_unique() -> bool {
    let mut i = 1;
    while i < N {
        if !str_less(METRICS[i - 1].desc.name, METRICS[i].desc.name) {
            return false;
        }
        i += 1;
    }
    true
}

const _: () = assert!(
    sorted_and_unique(),
    "METRICS must be sorted by name, without duplicates"
);

static DESCRIPTIONS: [Description; N] = {
    let mut out = [Description {
        name: "",
        description: "",
        kind: Kind::Bad,
        cumulative: false,
    }; N];
    let mut i = 0;
    while i < N {
        out[i] = METRICS[i].desc;
        i += 1;
    }
    out
};

/// Every supported metric, sorted by name.
pub fn all() -> &'static [Description] {
    &DESCRIPTIONS
}

/// The description of `name`, if it is a supported metric.
pub fn describe(name: &str) -> Option<&'static Description> {
    index_of(name).map(|i| &DESCRIPTIONS[i])
}

/// One [`Sample`] per supported metric, in [`all`]'s order, not read yet.
pub fn all_samples() -> Vec<Sample> {
    all().iter().map(|d| Sample::new(d.name)).collect()
}

/// The [`MemStats`] field a metric equals after [`read_consistent`], if any.
pub fn mem_stats_field(name: &str) -> Option<&'static str> {
    match METRICS[index_of(name)?].src {
        Source::U { field, .. } => Some(field),
        _ => None,
    }
}

#[inline]
fn index_of(name: &str) -> Option<usize> {
    DESCRIPTIONS.binary_search_by(|d| d.name.cmp(name)).ok()
}

/// [`index_of`], trying `hint` first: samples are usually in [`all`]'s
/// order, so the metric after the previous one is a one-compare hit.
#[inline]
fn index_near(name: &str, hint: usize) -> Option<usize> {
    match DESCRIPTIONS.get(hint) {
        Some(d) if d.name == name => Some(hint),
        _ => index_of(name),
    }
}

// ---------------------------------------------------------------------------
// Reading.

/// One counter snapshot and the MemStats derived from it.
struct Snap {
    c: CounterSnapshot,
    mem: MemStats,
}

/// Take one snapshot. Call on the system stack (or a plain thread).
fn snap(h: &Handle) -> Snap {
    let c = h.counters();
    let mem = MemStats::from_snapshot(&c, h.max_stack() as u64);
    Snap { c, mem }
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
fn fill(s: &Snap, samples: &mut [Sample]) {
    let mut hint = 0;
    for sample in samples.iter_mut() {
        let Some(i) = index_near(&sample.name, hint) else {
            sample.value = Value::Bad;
            continue;
        };
        hint = i + 1;
        match METRICS[i].src {
            Source::U { get, .. } => sample.value = Value::Uint64(get(&s.mem)),
            Source::F(get) => sample.value = Value::Float64(get(&s.mem)),
            Source::Latencies => {
                hist_into(&mut sample.value, &s.c.latency_counts, &LATENCY_BUCKETS)
            }
        }
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
pub fn read(h: &Handle, samples: &mut [Sample]) {
    bamboo::system_stack(|| fill(&snap(h), samples));
}

/// Stop the world, flush every worker's segment cache into the pool (which
/// may release pages past the high-water mark), and fill a [`MemStats`]
/// (Go's `runtime.ReadMemStats`).
///
/// Must not be called while the caller holds a [`bamboo::StopTheWorld`]
/// guard of the same runtime (stopping the world is not reentrant).
pub fn read_mem_stats(h: &Handle) -> MemStats {
    let stw = h.stop_the_world();
    let mem = bamboo::system_stack(|| {
        h.flush_stack_caches(&stw);
        snap(h).mem
    });
    drop(stw);
    mem
}

/// Go's `ReadMetricsSlow` done right: stop the world, take the metrics lock,
/// and in **one** excursion on the system stack read `samples` (so their
/// buffers exist), flush the caches and fill `mem`, and read `samples`
/// again. Afterwards every metric with a MemStats field equals it exactly
/// ([`check`] returns nothing), whatever the other workers were doing, in
/// the stress mode too.
///
/// Must not be called while the caller holds a [`bamboo::StopTheWorld`]
/// guard or the metrics lock of the same runtime.
pub fn read_consistent(h: &Handle, mem: &mut MemStats, samples: &mut [Sample]) {
    let stw = h.stop_the_world();
    let lock = h.metrics_lock();
    bamboo::system_stack(|| {
        fill(&snap(h), samples);
        h.flush_stack_caches(&stw);
        let s = snap(h);
        *mem = s.mem.clone();
        fill(&s, samples);
    });
    drop(lock);
    drop(stw);
}

// ---------------------------------------------------------------------------
// Checking.

/// One broken equality found by [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// What was compared, e.g. `/stack/grows:events == MemStats.grows`.
    pub what: String,
    /// The left side (the metric, or the computed sum).
    pub left: u64,
    /// The right side (the MemStats field).
    pub right: u64,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.left as i128 - self.right as i128;
        write!(
            f,
            "{}: {} != {} (diff {d:+})",
            self.what, self.left, self.right
        )
    }
}

/// Check the equalities that [`read_consistent`] guarantees between `mem`
/// and `samples` (SPEC §5 and every other metric with a MemStats field in
/// `docs/metrics.md`), plus the sums within each side:
/// - every `Uint64` sample whose metric names a MemStats field equals it
///   (except the spawn counts, which plain threads may bump at any time);
/// - `/memory/classes/total:bytes` == the sum of the other classes in the
///   samples, and `mem.sys` == the sum of its class fields;
/// - `mem.stack_mapped == stack_inuse + stack_cached + stack_released`, and
///   the same for the samples.
///
/// Samples that are missing, unknown or of another kind are not checked.
/// Returns every broken equality (empty when all hold).
pub fn check(mem: &MemStats, samples: &[Sample]) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut classes_sum: u64 = 0;
    let mut classes_seen = 0;
    let mut total = None;
    let mut mapped = None;
    let mut stack_sum: u64 = 0;
    let mut stack_seen = 0;
    for s in samples {
        let (Some(i), Some(v)) = (index_of(&s.name), s.value.as_u64()) else {
            continue;
        };
        let name = METRICS[i].desc.name;
        if let Source::U { get, field, exact } = METRICS[i].src {
            let want = get(mem);
            if exact && v != want {
                out.push(Mismatch {
                    what: format!("{name} == MemStats.{field}"),
                    left: v,
                    right: want,
                });
            }
        }
        match name {
            "/memory/classes/total:bytes" => total = Some(v),
            "/stack/mapped:bytes" => mapped = Some(v),
            _ => {}
        }
        if let Some(class) = name.strip_prefix("/memory/classes/") {
            if !class.starts_with("total:") {
                classes_sum = classes_sum.wrapping_add(v);
                classes_seen += 1;
            }
        }
        if matches!(
            name,
            "/memory/classes/stacks/inuse:bytes"
                | "/memory/classes/stacks/cached:bytes"
                | "/memory/classes/stacks/released:bytes"
        ) {
            stack_sum = stack_sum.wrapping_add(v);
            stack_seen += 1;
        }
    }
    if let (Some(t), 4) = (total, classes_seen) {
        if t != classes_sum {
            out.push(Mismatch {
                what: "/memory/classes/total:bytes == sum of the other /memory/classes/".into(),
                left: classes_sum,
                right: t,
            });
        }
    }
    if let (Some(m), 3) = (mapped, stack_seen) {
        if m != stack_sum {
            out.push(Mismatch {
                what: "/stack/mapped:bytes == inuse + cached + released".into(),
                left: stack_sum,
                right: m,
            });
        }
    }
    let sys = mem
        .stack_inuse
        .wrapping_add(mem.stack_cached)
        .wrapping_add(mem.stack_released)
        .wrapping_add(mem.os_stacks);
    if sys != mem.sys {
        out.push(Mismatch {
            what: "MemStats.sys == stack_inuse + stack_cached + stack_released + os_stacks".into(),
            left: sys,
            right: mem.sys,
        });
    }
    let mapped = mem
        .stack_inuse
        .wrapping_add(mem.stack_cached)
        .wrapping_add(mem.stack_released);
    if mapped != mem.stack_mapped {
        out.push(Mismatch {
            what: "MemStats.stack_mapped == stack_inuse + stack_cached + stack_released".into(),
            left: mapped,
            right: mem.stack_mapped,
        });
    }
    out
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
