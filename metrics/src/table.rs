//! The metric table: every metric's name, description, kind, cumulative
//! flag and where its value comes from, sorted by name (checked at compile
//! time), plus name lookups.
//!
//! Read path: a `Source::U` metric's value is `mem_array(&mem)[at]`, one
//! straight copy of the [`MemStats`] fields per read, so `read` makes no
//! call per metric (38 indirect calls to 38 different getters were a fifth
//! of a read's time); `at` is looked up by field name at compile time in
//! the one `mem_fields!` list. Names compare with `same_name` (inline
//! 16-byte vector compares, no `memcmp` call).
use super::*;

/// Where a metric's value comes from.
#[derive(Clone, Copy)]
pub(crate) enum Source {
    /// A [`MemStats`] field. `exact`: equal to the field after
    /// [`read_consistent`] whatever other threads do. `at`: its index in
    /// [`mem_array`] (what `read` stores from: no call per metric).
    U {
        get: fn(&MemStats) -> u64,
        field: &'static str,
        exact: bool,
        at: usize,
    },
    /// A float computed from [`MemStats`].
    F(fn(&MemStats) -> f64),
    /// The runnable-to-running latency histogram.
    Latencies,
}

pub(crate) struct Metric {
    pub(crate) desc: Description,
    pub(crate) src: Source,
}

macro_rules! field {
    ($f:ident) => {
        Source::U {
            get: |m: &MemStats| m.$f,
            field: stringify!($f),
            exact: true,
            at: mem_index(stringify!($f)),
        }
    };
    ($f:ident, inexact) => {
        Source::U {
            get: |m: &MemStats| m.$f,
            field: stringify!($f),
            exact: false,
            at: mem_index(stringify!($f)),
        }
    };
}

/// The [`MemStats`] fields as one array, in one list: [`MEM_FIELDS`] (their
/// names), [`mem_array`] (their values, copied in a straight line) and, for
/// the tests, its inverse. A metric's `at` is found by name at compile time.
macro_rules! mem_fields {
    ($($f:ident),* $(,)?) => {
        const MEM_FIELDS: &[&str] = &[$(stringify!($f)),*];
        pub(crate) const NMEM: usize = MEM_FIELDS.len();

        /// Every field of `m`, in [`MEM_FIELDS`]' order.
        #[inline]
        pub(crate) fn mem_array(m: &MemStats) -> [u64; NMEM] {
            [$(m.$f),*]
        }

        #[cfg(test)]
        fn mem_from_array(a: [u64; NMEM]) -> MemStats {
            let mut m = MemStats::default();
            let mut it = a.into_iter();
            $(m.$f = it.next().unwrap();)*
            m
        }
    };
}

mem_fields!(
    stack_inuse,
    stack_cached,
    stack_released,
    stack_mapped,
    os_stacks,
    sys,
    segments_inuse,
    grows,
    forced_grows,
    spare_hits,
    segment_allocs,
    segment_frees,
    cache_refills,
    cache_releases,
    chunks,
    scavenged,
    trimmed,
    shrunk,
    stack_resident,
    coroutines,
    coroutines_created,
    coroutines_finished,
    coroutines_panicked,
    coroutines_not_started,
    spawned,
    switches,
    parks,
    yields,
    preemptions,
    steals,
    timers,
    system_stack_calls,
    idle_parks,
    stop_the_world,
    io_wait,
    blocking_calls,
    blocking_threads,
    workers,
    starting_size,
    max_stack,
    latency_samples,
    latency_sum_ns,
);

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Index of the field `name` in [`MEM_FIELDS`]; a compile error (const
/// panic) for a name that is not in the list.
const fn mem_index(name: &str) -> usize {
    let mut i = 0;
    while i < NMEM {
        if str_eq(MEM_FIELDS[i], name) {
            return i;
        }
        i += 1;
    }
    panic!("a metric names a MemStats field missing from mem_fields!")
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
pub(crate) const METRICS: &[Metric] = &[
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
        "Stack bytes of segments held by live coroutines (their chains and spare segments): reserved segment bytes, not resident pages (those are /stack/resident:bytes)."
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
        "/sched/blocking/calls:calls",
        Uint64,
        true,
        field!(blocking_calls),
        "Calls of bamboo::blocking made by coroutines (each ran on a blocking-pool thread)."
    ),
    metric!(
        "/sched/blocking/threads:threads",
        Uint64,
        false,
        field!(blocking_threads, inexact),
        "Blocking-pool threads alive now (started on demand up to the cap; idle ones exit after 10 s)."
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
        "/sched/coroutines/io-wait:coroutines",
        Uint64,
        false,
        field!(io_wait),
        "Coroutines parked now waiting for a socket to become ready (accept, connect, read, write)."
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
        "/sched/preemptions:events",
        Uint64,
        true,
        field!(preemptions),
        "Check points that yielded because the coroutine had run for a whole time slice (or a stop-the-world asked it to)."
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
        "/stack/resident:bytes",
        Uint64,
        false,
        field!(stack_resident, inexact),
        "Bytes of stack pages resident in memory (segments in use, spares and cached free segments), by mincore over every stack chunk; measured again when the last figure is older than 100 ms and than 20 times what measuring took."
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
        "/stack/shrunk:bytes",
        Uint64,
        true,
        field!(shrunk),
        "Resident bytes of parked coroutines' stacks given back to the OS: pages below the saved stack pointer and spare segments (the segments stay in use)."
    ),
    metric!(
        "/stack/starting-size:bytes",
        Uint64,
        false,
        field!(starting_size),
        "Usable bytes of a coroutine's first stack segment."
    ),
    metric!(
        "/stack/trimmed:bytes",
        Uint64,
        true,
        field!(trimmed),
        "Bytes of pages below the top 8 KiB of free segments given back to the OS as the segments went back to the pool (the segments stay cached)."
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

/// Every supported metric, sorted by name (Go's `metrics.All`).
///
/// ```
/// let names: Vec<&str> = bamboo_metrics::all().iter().map(|d| d.name).collect();
/// assert!(names.contains(&"/stack/grows:events"));
/// assert!(names.windows(2).all(|w| w[0] < w[1]));
/// ```
pub fn all() -> &'static [Description] {
    &DESCRIPTIONS
}

/// The description of `name`, if it is a supported metric.
///
/// ```
/// use bamboo_metrics::{describe, Kind};
/// let d = describe("/sched/latencies:seconds").unwrap();
/// assert_eq!((d.kind, d.cumulative), (Kind::Float64Histogram, true));
/// assert!(describe("/no/such:metric").is_none());
/// ```
pub fn describe(name: &str) -> Option<&'static Description> {
    index_of(name).map(|i| &DESCRIPTIONS[i])
}

/// One [`Sample`] per supported metric, in [`all`]'s order, not read yet
/// (every value is [`Value::Bad`] until [`read`]).
///
/// ```
/// let samples = bamboo_metrics::all_samples();
/// assert_eq!(samples.len(), bamboo_metrics::all().len());
/// assert!(samples.iter().all(|s| s.value == bamboo_metrics::Value::Bad));
/// ```
pub fn all_samples() -> Vec<Sample> {
    all().iter().map(|d| Sample::new(d.name)).collect()
}

/// The name of the [`MemStats`] field a metric is computed from, if any.
/// After [`read_consistent`] the metric equals that field exactly, except
/// for the spawn counts (`/sched/coroutines/spawned:coroutines`,
/// `/sched/coroutines/not-started:coroutines`), which plain threads may move
/// at any time.
///
/// ```
/// use bamboo_metrics::mem_stats_field;
/// assert_eq!(mem_stats_field("/memory/classes/stacks/inuse:bytes"), Some("stack_inuse"));
/// assert_eq!(mem_stats_field("/sched/latencies:seconds"), None);
/// ```
pub fn mem_stats_field(name: &str) -> Option<&'static str> {
    match METRICS[index_of(name)?].src {
        Source::U { field, .. } => Some(field),
        _ => None,
    }
}

#[inline]
pub(crate) fn index_of(name: &str) -> Option<usize> {
    DESCRIPTIONS.binary_search_by(|d| d.name.cmp(name)).ok()
}

/// [`index_of`], trying `hint` first: samples are usually in [`all`]'s
/// order, so the metric after the previous one is a one-compare hit.
#[inline]
pub(crate) fn index_near(name: &str, hint: usize) -> Option<usize> {
    match DESCRIPTIONS.get(hint) {
        Some(d) if same_name(d.name.as_bytes(), name.as_bytes()) => Some(hint),
        _ => index_of(name),
    }
}

/// `a == b`, inlined for the names of the table (16 to 48 bytes): the
/// lengths, then the first and last 16 bytes (and, past 32 bytes, the 16
/// after the first) as vector compares, combined with `&` so there is one
/// branch for all of them. A read compares one name per sample, and a
/// `memcmp` call for each cost about a quarter of a whole read.
#[inline(always)]
pub(crate) fn same_name(a: &[u8], b: &[u8]) -> bool {
    const W: usize = 16;
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let (Some(a0), Some(b0), Some(a1), Some(b1), true) = (
        a.first_chunk::<W>(),
        b.first_chunk::<W>(),
        a.last_chunk::<W>(),
        b.last_chunk::<W>(),
        n <= 3 * W,
    ) else {
        return a == b;
    };
    let mut eq = (a0 == b0) & (a1 == b1);
    if n > 2 * W {
        eq &= a[W..2 * W] == b[W..2 * W];
    }
    eq
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_index_reads_the_field_its_getter_reads() {
        let vals: [u64; NMEM] = std::array::from_fn(|i| 1000 + i as u64);
        let m = mem_from_array(vals);
        assert_eq!(mem_array(&m), vals);
        let mut seen = 0;
        for x in METRICS {
            if let Source::U { get, field, at, .. } = x.src {
                assert_eq!(get(&m), mem_array(&m)[at], "{} ({field})", x.desc.name);
                assert_eq!(MEM_FIELDS[at], field);
                seen += 1;
            }
        }
        assert!(seen > 30);
    }

    #[test]
    fn same_name_is_byte_equality() {
        let mut names: Vec<Vec<u8>> = all().iter().map(|d| d.name.as_bytes().to_vec()).collect();
        names.extend((0..64).map(|n| vec![b'/'; n]));
        for a in &names {
            for b in &names {
                assert_eq!(same_name(a, b), a == b, "{a:?} vs {b:?}");
            }
            // One byte changed anywhere (the overlapping last block too).
            for i in 0..a.len() {
                let mut c = a.clone();
                c[i] ^= 1;
                assert!(!same_name(a, &c), "{a:?} vs {c:?}");
            }
        }
    }
}
