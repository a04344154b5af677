//! The soak: a sampler thread that records the process's resident memory,
//! the runtime's mapped and in-use stack bytes, its open file descriptors
//! and its memory mappings once a second while a run goes on, and the
//! verdict that none of them grew after the warm-up.
//!
//! The sampler is a plain OS thread (not a coroutine: it must keep its
//! one-second cadence however busy the workers are, and a coroutine would
//! itself hold stack). Per sample it reads:
//!
//! | series | source |
//! |---|---|
//! | `rss` | `VmRSS` of `/proc/self/status` |
//! | `stack_mapped` | `/stack/mapped:bytes` (`bamboo_metrics::read`) |
//! | `stack_inuse` | `/memory/classes/stacks/inuse:bytes` (same read; recorded, not bounded: see [`BOUNDS`]) |
//! | `fds` | entries of `/proc/self/fd` |
//! | `maps` | lines of `/proc/self/maps` (memory mappings) |
//!
//! The verdict ([`verdict`]) compares two windows of the same length:
//!
//! ```text
//!  0        warmup     warmup+window                 end-window     end
//!  |--------|==========|------------ ... ------------|==============|
//!   ignored   baseline                                  last window
//!
//!  pass  <=>  for every series:  max(last) <= max(baseline) * 1.1 + slack
//! ```
//!
//! The first `warmup` is ignored: caches, the segment pool and the
//! allocator's arenas fill up there. Maxima rather than means, because the
//! workloads are saw-teeth (a round ramps up and is joined): equal windows
//! contain comparable peaks, while a leak lifts every later peak. The 10 %
//! factor absorbs a round shape seen late for the first time; the per-series
//! slack ([`Bound`]) absorbs what is granular (one net-echo round's sockets,
//! one large-class segment, allocator arena steps). Besides the windows, the
//! open descriptors must be back to exactly their count before the first
//! round within 5 s of the last round's join ([`SoakReport::fds_before`];
//! net-echo's server coroutines close their sockets just after it).

use std::fmt::Write as _;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bamboo::Handle;
use bamboo_metrics::Sample;

use crate::report::{bytes, group};

/// How a soak samples and judges.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SoakConfig {
    /// Ignored at the start.
    pub warmup: Duration,
    /// Length of the baseline window (right after the warm-up) and of the
    /// last window (the end of the run).
    pub window: Duration,
    /// Time between samples.
    pub every: Duration,
    /// Time between the progress lines on stderr.
    pub report_every: Duration,
}

/// How long the end count waits for descriptors still being closed.
const FD_SETTLE: Duration = Duration::from_secs(5);

/// The shortest `--duration` a soak accepts.
pub const MIN_DURATION: Duration = Duration::from_secs(10);

impl SoakConfig {
    /// The soak of a run of `duration`: a one-minute warm-up and one-minute
    /// windows from 10 minutes on (so a 1 h run compares minute 1-2 with
    /// minute 59-60); for shorter runs a third of the run as warm-up and
    /// windows of a quarter of the rest (60 s: 20 s, then 20-30 s against
    /// 50-60 s). Sampled every second; progress every minute (every 10 s
    /// below 10 minutes). Errors when `duration` is under [`MIN_DURATION`].
    pub fn for_duration(duration: Duration) -> Result<SoakConfig, String> {
        if duration < MIN_DURATION {
            return Err(format!(
                "--soak needs a --duration of at least {} s (got {:?}): it ignores a warm-up and compares two windows",
                MIN_DURATION.as_secs(),
                duration
            ));
        }
        let long = duration >= Duration::from_secs(600);
        let warmup = if long {
            Duration::from_secs(60)
        } else {
            duration / 3
        };
        let window = ((duration - warmup) / 4).min(Duration::from_secs(60));
        Ok(SoakConfig {
            warmup,
            window,
            every: Duration::from_secs(1),
            report_every: Duration::from_secs(if long { 60 } else { 10 }),
        })
    }
}

/// One sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct SoakSample {
    /// Seconds since the workloads started.
    pub t: f64,
    /// Resident set size, bytes.
    pub rss: u64,
    /// `/stack/mapped:bytes`.
    pub stack_mapped: u64,
    /// `/memory/classes/stacks/inuse:bytes`.
    pub stack_inuse: u64,
    /// Open file descriptors.
    pub fds: u64,
    /// Memory mappings.
    pub maps: u64,
}

/// The allowance of one series: `max(last) <= max(baseline) * factor + slack`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Bound {
    /// The series' name (a field of [`SoakSample`]).
    pub series: &'static str,
    /// Multiplier of the baseline maximum.
    pub factor: f64,
    /// Absolute allowance, in the series' unit.
    pub slack: u64,
    /// Whether the unit is bytes (for printing).
    pub is_bytes: bool,
}

/// The bounds every soak applies, and why each slack is what it is.
pub const BOUNDS: [Bound; 4] = [
    // glibc malloc grows and trims its arenas in steps; 16 MiB is a few
    // such steps of the per-thread arenas and far below what a leak of one
    // allocation per round or per coroutine adds over a run.
    Bound {
        series: "rss",
        factor: 1.1,
        slack: 16 << 20,
        is_bytes: true,
    },
    // The pool keeps freed segments up to its high-water mark; one more
    // peak of a deep recursion can map a few more large-class segments.
    // (Stack bytes *in use* are sampled but not bounded: they swing with
    // the round in flight by design, 5-70 MiB from one second to the next
    // in `mixed --stack-move`; segments a coroutine fails to give back
    // show up here, in the mapped bytes, and in the monitor's final count
    // of live coroutines.)
    Bound {
        series: "stack_mapped",
        factor: 1.1,
        slack: 8 << 20,
        is_bytes: true,
    },
    // A net-echo round holds up to 16 client and 16 server sockets, the
    // listener and its last connection: one round more in flight than in
    // the baseline's peak is 34 descriptors. A smaller leak is caught by
    // the exact count after the last round.
    Bound {
        series: "fds",
        factor: 1.1,
        slack: 34,
        is_bytes: false,
    },
    // Every segment is its own mapping (guard pages do not split it with
    // MADV_GUARD_INSTALL; the mprotect fallback splits it in two).
    Bound {
        series: "maps",
        factor: 1.1,
        slack: 64,
        is_bytes: false,
    },
];

impl SoakSample {
    /// The value of series `name`.
    pub fn get(&self, name: &str) -> u64 {
        match name {
            "rss" => self.rss,
            "stack_mapped" => self.stack_mapped,
            "stack_inuse" => self.stack_inuse,
            "fds" => self.fds,
            "maps" => self.maps,
            _ => 0,
        }
    }
}

/// The verdict on one series.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SeriesVerdict {
    /// The bound applied.
    pub bound: Bound,
    /// Largest value in the first second's samples (before the warm-up).
    pub first: u64,
    /// Largest value in the baseline window.
    pub baseline_max: u64,
    /// Largest value in the last window.
    pub last_max: u64,
    /// `baseline_max * factor + slack`.
    pub limit: u64,
    /// `last_max <= limit`.
    pub ok: bool,
}

/// What the soak found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SoakReport {
    /// How it sampled and judged.
    pub config: SoakConfig,
    /// Samples taken.
    pub samples: usize,
    /// The samples themselves (for `--soak-csv`; not in the JSON summary).
    #[serde(skip)]
    pub samples_taken: Vec<SoakSample>,
    /// One verdict per [`BOUNDS`] entry (empty when too few samples).
    pub series: Vec<SeriesVerdict>,
    /// Open descriptors before the first round.
    pub fds_before: u64,
    /// Open descriptors after every round was joined.
    pub fds_after: u64,
    /// Why the soak failed; empty when it passed.
    pub failures: Vec<String>,
}

/// A running sampler (see [`Sampler::start`]).
#[derive(Debug)]
pub struct Sampler {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<Vec<SoakSample>>,
    fds_before: u64,
    config: SoakConfig,
}

/// The sampler's reader of the two stack metrics.
struct StackRead {
    samples: Vec<Sample>,
}

impl StackRead {
    fn new() -> StackRead {
        StackRead {
            samples: vec![
                Sample::new("/stack/mapped:bytes"),
                Sample::new("/memory/classes/stacks/inuse:bytes"),
            ],
        }
    }

    fn read(&mut self, h: &Handle) -> (u64, u64) {
        bamboo_metrics::read(h, &mut self.samples);
        let v = |i: usize| self.samples[i].value.as_u64().unwrap_or(0);
        (v(0), v(1))
    }
}

/// Resident set size of this process, bytes (`VmRSS`; 0 if unreadable).
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib << 10)
}

/// Open file descriptors of this process (not counting the one reading).
pub fn open_fds() -> u64 {
    match std::fs::read_dir("/proc/self/fd") {
        // The directory handle itself is one of the entries.
        Ok(d) => (d.count() as u64).saturating_sub(1),
        Err(_) => 0,
    }
}

/// Memory mappings of this process.
pub fn mappings() -> u64 {
    std::fs::read("/proc/self/maps")
        .map(|m| m.iter().filter(|&&b| b == b'\n').count() as u64)
        .unwrap_or(0)
}

fn take(h: &Handle, stacks: &mut StackRead, start: Instant) -> SoakSample {
    let (stack_mapped, stack_inuse) = stacks.read(h);
    SoakSample {
        t: start.elapsed().as_secs_f64(),
        rss: rss_bytes(),
        stack_mapped,
        stack_inuse,
        fds: open_fds(),
        maps: mappings(),
    }
}

impl Sampler {
    /// Count the open descriptors, then start sampling `h`'s process every
    /// `config.every` from `start` on, printing a progress line to stderr
    /// every `config.report_every`.
    pub fn start(h: Handle, config: SoakConfig, start: Instant) -> std::io::Result<Sampler> {
        let fds_before = open_fds();
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("soak-sampler".into())
            .spawn(move || {
                let mut stacks = StackRead::new();
                let mut out = Vec::new();
                let mut next = start;
                let mut next_report = start + config.report_every;
                loop {
                    let s = take(&h, &mut stacks, start);
                    out.push(s);
                    if Instant::now() >= next_report {
                        next_report += config.report_every;
                        eprintln!("soak: {}", line(&s));
                    }
                    next += config.every;
                    let wait = next.saturating_duration_since(Instant::now());
                    match stopped.recv_timeout(wait) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => return out,
                    }
                }
            })?;
        Ok(Sampler {
            stop,
            thread,
            fds_before,
            config,
        })
    }

    /// Stop sampling (call it once every round has been joined) and judge.
    pub fn finish(self) -> SoakReport {
        let _ = self.stop.send(());
        // net-echo's server-side coroutines are not joined: each closes its
        // socket when it reads its client's end, just after the round.
        // Give them the monitor's settle time to do so.
        let settle = Instant::now() + FD_SETTLE;
        let mut fds_after = open_fds();
        while fds_after != self.fds_before && Instant::now() < settle {
            std::thread::sleep(Duration::from_millis(10));
            fds_after = open_fds();
        }
        let samples = match self.thread.join() {
            Ok(s) => s,
            Err(_) => {
                return SoakReport {
                    config: self.config,
                    samples: 0,
                    samples_taken: Vec::new(),
                    series: Vec::new(),
                    fds_before: self.fds_before,
                    fds_after,
                    failures: vec!["soak: the sampler thread panicked".into()],
                }
            }
        };
        verdict(&self.config, &samples, self.fds_before, fds_after)
    }
}

/// One sample as a progress line.
pub fn line(s: &SoakSample) -> String {
    format!(
        "t={:>6.0}s rss={} stack_mapped={} stack_inuse={} fds={} maps={}",
        s.t,
        bytes(s.rss),
        bytes(s.stack_mapped),
        bytes(s.stack_inuse),
        s.fds,
        s.maps
    )
}

/// Judge `samples` (in time order) by [`BOUNDS`] and the exact descriptor
/// count (see the module's diagram).
pub fn verdict(
    config: &SoakConfig,
    samples: &[SoakSample],
    fds_before: u64,
    fds_after: u64,
) -> SoakReport {
    let mut failures = Vec::new();
    let w0 = config.warmup.as_secs_f64();
    let w1 = (config.warmup + config.window).as_secs_f64();
    let end = samples.last().map_or(0.0, |s| s.t);
    let l0 = end - config.window.as_secs_f64();
    let base: Vec<&SoakSample> = samples.iter().filter(|s| s.t >= w0 && s.t < w1).collect();
    let last: Vec<&SoakSample> = samples.iter().filter(|s| s.t >= l0 && s.t >= w1).collect();
    let mut series = Vec::new();
    if base.is_empty() || last.is_empty() {
        failures.push(format!(
            "soak: {} samples over {end:.1} s do not fill a baseline window ({w0:.0}-{w1:.0} s) and a later last window",
            samples.len()
        ));
    } else {
        for b in BOUNDS {
            let max = |v: &[&SoakSample]| v.iter().map(|s| s.get(b.series)).max().unwrap_or(0);
            let baseline_max = max(&base);
            let last_max = max(&last);
            let limit = (baseline_max as f64 * b.factor) as u64 + b.slack;
            let ok = last_max <= limit;
            let first = samples.first().map_or(0, |s| s.get(b.series));
            if !ok {
                let f = |v: u64| if b.is_bytes { bytes(v) } else { group(v) };
                failures.push(format!(
                    "soak: {} grew: max {} in the last {:.0} s > {} = max {} in {w0:.0}-{w1:.0} s x {} + {}",
                    b.series,
                    f(last_max),
                    config.window.as_secs_f64(),
                    f(limit),
                    f(baseline_max),
                    b.factor,
                    f(b.slack)
                ));
            }
            series.push(SeriesVerdict {
                bound: b,
                first,
                baseline_max,
                last_max,
                limit,
                ok,
            });
        }
    }
    if fds_after != fds_before {
        failures.push(format!(
            "soak: {fds_after} file descriptors open after the last round, {fds_before} before the first"
        ));
    }
    SoakReport {
        config: *config,
        samples: samples.len(),
        samples_taken: samples.to_vec(),
        series,
        fds_before,
        fds_after,
        failures,
    }
}

impl SoakReport {
    /// The soak's part of the text report.
    pub fn text(&self) -> String {
        let mut o = String::new();
        let c = &self.config;
        let w0 = c.warmup.as_secs_f64();
        let w1 = w0 + c.window.as_secs_f64();
        let _ = writeln!(
            o,
            "\nSoak ({} samples, every {:.0} s; pass: max over the last {:.0} s <= max over {w0:.0}-{w1:.0} s x factor + slack):",
            self.samples,
            c.every.as_secs_f64(),
            c.window.as_secs_f64()
        );
        let _ = writeln!(
            o,
            "  {:<13} {:>12} {:>12} {:>12} {:>12} {:>14}  verdict",
            "series", "at start", "baseline max", "last max", "limit", "factor + slack"
        );
        for s in &self.series {
            let f = |v: u64| {
                if s.bound.is_bytes {
                    bytes(v)
                } else {
                    group(v)
                }
            };
            let _ = writeln!(
                o,
                "  {:<13} {:>12} {:>12} {:>12} {:>12} {:>14}  {}",
                s.bound.series,
                f(s.first),
                f(s.baseline_max),
                f(s.last_max),
                f(s.limit),
                format!("x{} + {}", s.bound.factor, f(s.bound.slack)),
                if s.ok { "ok" } else { "GREW" }
            );
        }
        let _ = writeln!(
            o,
            "  open fds before the first round / after the last: {} / {}",
            self.fds_before, self.fds_after
        );
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SoakConfig {
        SoakConfig::for_duration(Duration::from_secs(60)).expect("60 s is long enough")
    }

    fn run(f: impl Fn(f64) -> SoakSample) -> Vec<SoakSample> {
        (0..=60)
            .map(|t| SoakSample {
                t: t as f64,
                ..f(t as f64)
            })
            .collect()
    }

    fn flat(t: f64) -> SoakSample {
        // A saw-tooth with the same peaks in every 10 s.
        let wave = (t as u64 % 5) * (1 << 20);
        SoakSample {
            t,
            rss: (50 << 20) + wave,
            stack_mapped: (10 << 20) + wave,
            stack_inuse: (2 << 20) + wave,
            fds: 10 + t as u64 % 5,
            maps: 200 + t as u64 % 5,
        }
    }

    #[test]
    fn windows_of_the_60_s_and_1_h_soaks() {
        let c = cfg();
        assert_eq!(c.warmup, Duration::from_secs(20));
        assert_eq!(c.window, Duration::from_secs(10));
        let c = SoakConfig::for_duration(Duration::from_secs(3600)).expect("1 h");
        assert_eq!(c.warmup, Duration::from_secs(60));
        assert_eq!(c.window, Duration::from_secs(60));
        let e = SoakConfig::for_duration(Duration::from_secs(5)).expect_err("too short");
        assert!(e.contains("--duration") && e.contains("5s"), "{e}");
    }

    #[test]
    fn a_flat_run_passes() {
        let r = verdict(&cfg(), &run(flat), 12, 12);
        assert!(r.failures.is_empty(), "{:?}", r.failures);
        assert_eq!(r.series.len(), BOUNDS.len());
        // Stack bytes in use swing by design and are not judged.
        let swing = run(|t| {
            let mut s = flat(t);
            s.stack_inuse = if t > 55.0 { 100 << 20 } else { 1 << 20 };
            s
        });
        assert!(verdict(&cfg(), &swing, 12, 12).failures.is_empty());
        assert!(r.text().contains("ok"));
    }

    #[test]
    fn growth_in_any_series_fails() {
        // A leak of 1 MiB (or 2 descriptors, 4 mappings) a second after the
        // warm-up: 30 MiB (60, 120) more by the last window.
        for series in ["rss", "stack_mapped", "fds", "maps"] {
            let leaky = run(|t| {
                let mut s = flat(t);
                let k = (t - 20.0).max(0.0) as u64;
                match series {
                    "rss" => s.rss += k << 20,
                    "stack_mapped" => s.stack_mapped += k << 20,
                    "fds" => s.fds += 2 * k,
                    _ => s.maps += 4 * k,
                }
                s
            });
            let r = verdict(&cfg(), &leaky, 12, 12);
            assert_eq!(r.failures.len(), 1, "{series}: {:?}", r.failures);
            assert!(r.failures[0].contains(series), "{:?}", r.failures);
            assert!(r.text().contains("GREW"));
        }
    }

    #[test]
    fn a_growth_inside_the_warmup_is_ignored() {
        let r = verdict(
            &cfg(),
            &run(|t| {
                let mut s = flat(t);
                s.rss += (t.min(20.0) as u64) << 22;
                s
            }),
            12,
            12,
        );
        assert!(r.failures.is_empty(), "{:?}", r.failures);
    }

    #[test]
    fn one_descriptor_more_at_the_end_fails() {
        let r = verdict(&cfg(), &run(flat), 12, 13);
        assert_eq!(r.failures.len(), 1);
        assert!(
            r.failures[0].contains("13 file descriptors"),
            "{:?}",
            r.failures
        );
    }

    #[test]
    fn too_few_samples_fail() {
        let r = verdict(&cfg(), &run(flat)[..25], 12, 12);
        assert!(!r.failures.is_empty());
    }

    #[test]
    fn the_probes_read_this_process() {
        assert!(rss_bytes() > 0);
        let before = open_fds();
        let f = std::fs::File::open("/proc/self/status").expect("open");
        assert_eq!(open_fds(), before + 1);
        drop(f);
        assert!(mappings() > 0);
    }
}
