//! The monitor: a coroutine that calls `bamboo_metrics::read_consistent`
//! over and over while the workloads run, and checks every equality that
//! such a call guarantees (docs/metrics.md, "What `read_consistent`
//! guarantees").
//!
//! Per call it checks:
//! - **mismatches** (the number that must stay 0): every broken equality
//!   that `bamboo_metrics::check` finds: each metric with a `MemStats` field
//!   equals it, `/memory/classes/total:bytes` equals `MemStats::sys` and the
//!   sum of every other `/memory/classes/` metric, `/stack/mapped:bytes`
//!   equals in use + cached + released. (`check` itself is tested against
//!   an independent oracle in `metrics/tests/common`.)
//! - **invariants** (failed checks): every metric of `all()` has a value of
//!   its kind; cumulative metrics (and cumulative histogram buckets) never
//!   decrease from one call to the next; histograms are well formed
//!   (`buckets.len() == counts.len() + 1`, bounds increasing); a started
//!   coroutine holds at least one segment (`segments_inuse >= coroutines`).
//!
//! It also records the latency of every call, publishes the latest figures
//! for the progress bar ([`Live`]), and samples stack bytes in use and live
//! coroutines over time for the plot. When the workloads are done it makes
//! its final checks: every coroutine but itself has finished (nothing
//! leaked), the segments in use are back to what it holds itself (at most
//! [`SEGMENTS_PER_LIVE`]: no segment outlived its coroutine), and forced
//! grows happened exactly when the stress mode is on.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bamboo::Handle;
use bamboo_metrics::{all, check, read_consistent, Kind, MemStats, Sample, Value};
use hdrhistogram::Histogram;

/// How many messages of each kind are kept (the counters count them all).
const MAX_MESSAGES: usize = 20;

/// The largest latency the histogram tells apart (larger ones count as it).
pub const MAX_LATENCY_NS: u64 = 600_000_000_000;

/// An empty latency histogram of [`MonitorResult::latencies_ns`]'s shape.
pub fn latency_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, MAX_LATENCY_NS, 2) {
        Ok(h) => h,
        Err(e) => unreachable!("constant histogram bounds are valid: {e:?}"),
    }
}

/// How long the final check waits for finished coroutines to be counted.
const SETTLE: Duration = Duration::from_secs(5);

/// The most segments a live coroutine outside any grow holds: its first
/// segment, its spare, and (in the stress mode) the alternate its check
/// points switch to. The final check allows this many per live coroutine
/// (the monitor itself); one more is a segment that outlived its owner.
pub const SEGMENTS_PER_LIVE: u64 = 3;

/// Latest figures, shared with the progress bar.
#[derive(Debug, Default)]
pub struct Live {
    stop: AtomicBool,
    /// `read_consistent` calls so far.
    pub calls: AtomicU64,
    /// Broken equalities so far.
    pub mismatches: AtomicU64,
    /// Broken invariants so far.
    pub failed_checks: AtomicU64,
    /// `MemStats::grows` at the latest call.
    pub grows: AtomicU64,
    /// `MemStats::coroutines` at the latest call.
    pub coroutines: AtomicU64,
    /// `MemStats::stack_inuse` at the latest call.
    pub stack_inuse: AtomicU64,
}

impl Live {
    /// Ask the monitor to make its final checks and return.
    pub fn stop(&self) {
        self.stop.store(true, Relaxed);
    }
}

/// One point of the plot's time series.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Point {
    /// Seconds since the monitor started.
    pub t: f64,
    /// Stack bytes in use (`MemStats::stack_inuse`).
    pub stack_inuse: u64,
    /// Coroutines live (`MemStats::coroutines`).
    pub coroutines: u64,
}

/// What the monitor found.
#[derive(Debug, Clone)]
pub struct MonitorResult {
    /// `read_consistent` calls made (including the final ones).
    pub calls: u64,
    /// Broken equalities (must be 0).
    pub mismatches: u64,
    /// The first broken equalities, described.
    pub mismatch_messages: Vec<String>,
    /// Broken invariants and failed final checks.
    pub failed_checks: u64,
    /// The first of those, described.
    pub check_messages: Vec<String>,
    /// Latency of every call, in nanoseconds: a histogram of fixed size
    /// (two significant digits, 1 ns..=[`MAX_LATENCY_NS`]), so a run of
    /// hours holds as much memory for it as a run of seconds (the soak
    /// measures the process's RSS).
    pub latencies_ns: Histogram<u64>,
    /// Largest `stack_inuse` seen.
    pub peak_stack_inuse: u64,
    /// Largest `coroutines` seen.
    pub peak_coroutines: u64,
    /// Time series for the plot.
    pub series: Vec<Point>,
    /// MemStats of the final call.
    pub final_mem: MemStats,
    /// Every metric of `all()` as read by the final call.
    pub final_samples: Vec<Sample>,
}

impl MonitorResult {
    /// The `q`-quantile (0..=1) of the call latencies.
    pub fn latency_quantile(&self, q: f64) -> Duration {
        let l = &self.latencies_ns;
        if l.is_empty() {
            return Duration::ZERO;
        }
        if q >= 1.0 {
            return Duration::from_nanos(l.max());
        }
        Duration::from_nanos(l.value_at_quantile(q.max(0.0)))
    }
}

/// The monitor's state between calls.
struct Monitor {
    h: Handle,
    live: Arc<Live>,
    start: Instant,
    sample_every: Duration,
    names: Vec<&'static str>,
    kinds: Vec<Kind>,
    cumulative: Vec<bool>,
    samples: Vec<Sample>,
    prev: Vec<Option<Value>>,
    mem: MemStats,
    r: MonitorResult,
}

/// The monitor coroutine's body: call `read_consistent` until
/// [`Live::stop`], yielding between calls; then make the final checks.
/// `stack_move` says whether the runtime runs in the stress mode;
/// `sample_every` is the plot's time resolution.
pub fn run(h: Handle, live: Arc<Live>, stack_move: bool, sample_every: Duration) -> MonitorResult {
    let mut m = Monitor::new(h, live, sample_every);
    let mut last_point: Option<Instant> = None;
    while !m.live.stop.load(Relaxed) {
        m.call();
        if last_point.is_none_or(|t| t.elapsed() >= m.sample_every) {
            last_point = Some(Instant::now());
            m.point();
        }
        bamboo::yield_now();
    }
    m.finish(stack_move);
    m.r.final_mem = m.mem.clone();
    m.r.final_samples = m.samples;
    m.r
}

impl Monitor {
    fn new(h: Handle, live: Arc<Live>, sample_every: Duration) -> Monitor {
        let descs = all();
        Monitor {
            h,
            live,
            start: Instant::now(),
            sample_every,
            names: descs.iter().map(|d| d.name).collect(),
            kinds: descs.iter().map(|d| d.kind).collect(),
            cumulative: descs.iter().map(|d| d.cumulative).collect(),
            samples: descs.iter().map(|d| Sample::new(d.name)).collect(),
            prev: vec![None; descs.len()],
            mem: MemStats::default(),
            r: MonitorResult {
                calls: 0,
                mismatches: 0,
                mismatch_messages: Vec::new(),
                failed_checks: 0,
                check_messages: Vec::new(),
                latencies_ns: latency_histogram(),
                peak_stack_inuse: 0,
                peak_coroutines: 0,
                series: Vec::new(),
                final_mem: MemStats::default(),
                final_samples: Vec::new(),
            },
        }
    }

    /// One `read_consistent` and every per-call check.
    fn call(&mut self) {
        let t = Instant::now();
        read_consistent(&self.h, &mut self.mem, &mut self.samples);
        let ns = t.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
        self.r.latencies_ns.saturating_record(ns);
        self.r.calls += 1;
        self.check_equalities();
        self.check_invariants();
        let mem = &self.mem;
        self.r.peak_stack_inuse = self.r.peak_stack_inuse.max(mem.stack_inuse);
        self.r.peak_coroutines = self.r.peak_coroutines.max(mem.coroutines);
        self.live.calls.store(self.r.calls, Relaxed);
        self.live.grows.store(mem.grows, Relaxed);
        self.live.coroutines.store(mem.coroutines, Relaxed);
        self.live.stack_inuse.store(mem.stack_inuse, Relaxed);
    }

    fn point(&mut self) {
        self.r.series.push(Point {
            t: self.start.elapsed().as_secs_f64(),
            stack_inuse: self.mem.stack_inuse,
            coroutines: self.mem.coroutines,
        });
    }

    fn mismatch(&mut self, msg: impl FnOnce() -> String) {
        self.r.mismatches += 1;
        self.live.mismatches.store(self.r.mismatches, Relaxed);
        if self.r.mismatch_messages.len() < MAX_MESSAGES {
            let call = self.r.calls;
            self.r
                .mismatch_messages
                .push(format!("call {call}: {}", msg()));
        }
    }

    fn failed(&mut self, msg: impl FnOnce() -> String) {
        self.r.failed_checks += 1;
        self.live.failed_checks.store(self.r.failed_checks, Relaxed);
        if self.r.check_messages.len() < MAX_MESSAGES {
            let call = self.r.calls;
            self.r
                .check_messages
                .push(format!("call {call}: {}", msg()));
        }
    }

    /// Every equality `read_consistent` guarantees (`bamboo_metrics::check`).
    fn check_equalities(&mut self) {
        for m in check(&self.mem, &self.samples) {
            self.mismatch(|| m.to_string());
        }
    }

    /// Kinds, monotone cumulative metrics, well-formed histograms, and
    /// segments held by live coroutines.
    fn check_invariants(&mut self) {
        for i in 0..self.names.len() {
            let name = self.names[i];
            let value = self.samples[i].value.clone();
            let kind_ok = matches!(
                (self.kinds[i], &value),
                (Kind::Uint64, Value::Uint64(_))
                    | (Kind::Float64, Value::Float64(_))
                    | (Kind::Float64Histogram, Value::Float64Histogram(_))
            );
            if !kind_ok {
                let kind = self.kinds[i];
                self.failed(|| format!("{name}: value {value:?} is not of kind {kind:?}"));
                continue;
            }
            if let Value::Float64Histogram(h) = &value {
                let sorted = h.buckets.windows(2).all(|w| w[0] < w[1]);
                if h.buckets.len() != h.counts.len() + 1 || !sorted {
                    let (b, c) = (h.buckets.len(), h.counts.len());
                    self.failed(|| {
                        format!("{name}: malformed histogram ({b} bounds, {c} counts, increasing: {sorted})")
                    });
                }
            }
            if self.cumulative[i] {
                if let Some(prev) = &self.prev[i] {
                    if let Some(why) = decreased(prev, &value) {
                        self.failed(|| format!("cumulative {name} decreased: {why}"));
                    }
                }
                self.prev[i] = Some(value);
            }
        }
        let (segs, coros) = (self.mem.segments_inuse, self.mem.coroutines);
        if segs < coros {
            self.failed(|| format!("{coros} coroutines live but only {segs} segments in use"));
        }
    }

    /// After the workloads: nothing leaked, forced grows match the mode.
    fn finish(&mut self, stack_move: bool) {
        let until = Instant::now() + SETTLE;
        loop {
            self.call();
            let segs_back = self.mem.segments_inuse <= SEGMENTS_PER_LIVE * self.mem.coroutines;
            if (self.mem.coroutines <= 1 && segs_back) || Instant::now() >= until {
                break;
            }
            bamboo::sleep(Duration::from_millis(10));
        }
        self.point();
        let live = self.mem.coroutines;
        if live != 1 {
            self.failed(|| {
                format!("{live} coroutines live after every workload was joined (expected 1: the monitor)")
            });
        }
        let segs = self.mem.segments_inuse;
        if segs > SEGMENTS_PER_LIVE * live {
            self.failed(|| {
                format!(
                    "{segs} stack segments in use after every workload was joined, {live} coroutines live \
                     (at most {SEGMENTS_PER_LIVE} each: first segment, spare, alternate)"
                )
            });
        }
        let (grows, forced) = (self.mem.grows, self.mem.forced_grows);
        if forced > grows {
            self.failed(|| format!("forced grows {forced} > grows {grows}"));
        }
        if stack_move && forced == 0 {
            self.failed(|| "stress mode on but no forced grow happened".to_string());
        }
        if !stack_move && forced != 0 {
            self.failed(|| format!("stress mode off but {forced} forced grows"));
        }
    }
}

/// Why `now` is smaller than `prev` for a cumulative metric, if it is.
fn decreased(prev: &Value, now: &Value) -> Option<String> {
    match (prev, now) {
        (Value::Uint64(a), Value::Uint64(b)) if b < a => Some(format!("{a} -> {b}")),
        (Value::Float64(a), Value::Float64(b)) if b < a => Some(format!("{a} -> {b}")),
        (Value::Float64Histogram(a), Value::Float64Histogram(b)) => {
            if a.counts.len() != b.counts.len() {
                return Some(format!("{} buckets -> {}", a.counts.len(), b.counts.len()));
            }
            a.counts
                .iter()
                .zip(&b.counts)
                .position(|(x, y)| y < x)
                .map(|i| format!("bucket {i}: {} -> {}", a.counts[i], b.counts[i]))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The monitor counts what `check` finds: a planted difference between
    /// a metric and its MemStats field, or in a sum, is a mismatch that
    /// names the metric; an exact read is none.
    #[test]
    fn planted_differences_are_mismatches() {
        let rt = bamboo::Runtime::builder()
            .workers(1)
            .build()
            .expect("runtime");
        let h = rt.handle();
        rt.block_on(move || {
            let mut m = Monitor::new(h, Arc::new(Live::default()), Duration::from_secs(1));
            m.call();
            assert_eq!(m.r.mismatches, 0, "{:?}", m.r.mismatch_messages);
            m.mem.grows += 1;
            m.check_equalities();
            assert_eq!(m.r.mismatches, 1);
            assert!(
                m.r.mismatch_messages[0].contains("/stack/grows:events"),
                "{:?}",
                m.r.mismatch_messages
            );
            m.mem.grows -= 1;
            m.mem.sys += 1;
            m.check_equalities();
            // `sys` is both a metric's field and a sum of the class fields.
            assert_eq!(m.r.mismatches, 3, "{:?}", m.r.mismatch_messages);
        });
    }
}
