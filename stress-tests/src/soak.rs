//! The soak: a sampler thread that records the process's resident memory,
//! the runtime's mapped and in-use stack bytes, its open file descriptors
//! and its memory mappings while a run goes on, and the verdict that none
//! of them grew after the warm-up the way a leak grows them.
//!
//! The sampler is a plain OS thread (not a coroutine: it must keep its
//! cadence however busy the workers are, and a coroutine would itself hold
//! stack). It reads the memory figures every [`SoakConfig::sub_every`]
//! (10 ms) and closes one sample a second with the lowest and highest of
//! them and the rest read once:
//!
//! | series | source |
//! |---|---|
//! | `rss`, `rss_min` | `VmRSS` of `/proc/self/status`: highest and lowest of the second |
//! | `stack_mapped` | `/stack/mapped:bytes` (`bamboo_metrics::read`; recorded, not bounded: see [`BOUNDS`]) |
//! | `stack_inuse`, `stack_inuse_min` | `/memory/classes/stacks/inuse:bytes` (same read): highest and lowest of the second |
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
//!  pass  <=>  for every bounded series:
//!             stat(last) <= baseline_stat(baseline) * factor + slack
//!             stack_inuse: floor <= floor     rss: floor <= peak
//!             fds, maps:   peak  <= peak      (floor: lowest value,
//!                                              peak: highest value)
//! ```
//!
//! The first `warmup` is ignored: caches, the segment pool and the
//! allocator's arenas fill up there. The workloads are saw-teeth (a round
//! ramps up and is joined), and the memory ones swing by hundreds of MiB
//! from one second to the next with the rounds in flight (stack bytes in
//! use 50 MiB-2 GiB in `mixed --stack-move`, RSS, which is mostly stack
//! pages not yet trimmed, 0.5-1.1 GiB): a burst lifts the peak of a
//! window, not its floor, while what a leak keeps is in every later
//! sample, the floor included. So the memory series are judged by their
//! floor, read 100 times a second so that a window's floor is a real
//! trough; RSS, which still climbs through the baseline on a loaded
//! machine, is held to the baseline's peak (see [`BOUNDS`]). Descriptors
//! and mappings are steady enough for their peak. The
//! factor absorbs a round shape seen late for the first time; the
//! per-series slack ([`Bound`]) absorbs what is granular. Besides the
//! windows, the open descriptors must be back to exactly their count
//! before the first round within 5 s of the last round's join
//! ([`SoakReport::fds_before`]; net-echo's server coroutines close their
//! sockets just after it), and the monitor checks that the segments in use
//! come back to the monitor's own (`crate::monitor`).

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
    /// Time between the readings of the memory figures inside a sample
    /// (their lowest and highest are kept).
    pub sub_every: Duration,
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
    /// 50-60 s). Sampled every second (the memory figures every 10 ms); progress every
    /// minute (every 10 s below 10 minutes). Errors when `duration` is under [`MIN_DURATION`].
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
            sub_every: Duration::from_millis(10),
            report_every: Duration::from_secs(if long { 60 } else { 10 }),
        })
    }
}

/// One sample (one second).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct SoakSample {
    /// Seconds since the workloads started (when the sample closed).
    pub t: f64,
    /// Highest resident set size of the second, bytes.
    pub rss: u64,
    /// Lowest resident set size of the second, bytes.
    pub rss_min: u64,
    /// `/stack/mapped:bytes` when the sample closed.
    pub stack_mapped: u64,
    /// Highest `/memory/classes/stacks/inuse:bytes` of the second.
    pub stack_inuse: u64,
    /// Lowest `/memory/classes/stacks/inuse:bytes` of the second.
    pub stack_inuse_min: u64,
    /// Open file descriptors.
    pub fds: u64,
    /// Memory mappings.
    pub maps: u64,
}

/// What a window of a series is summed up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stat {
    /// The lowest value in the window (of the `_min` field, for the
    /// series that have one): what a leak lifts and a burst does not.
    Floor,
    /// The highest value in the window.
    Peak,
}

impl Stat {
    fn name(self) -> &'static str {
        match self {
            Stat::Floor => "floor",
            Stat::Peak => "peak",
        }
    }
}

/// The allowance of one series:
/// `stat(last window) <= baseline_stat(baseline window) * factor + slack`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Bound {
    /// The series' name (a field of [`SoakSample`]).
    pub series: &'static str,
    /// How the last window is summed up.
    pub stat: Stat,
    /// How the baseline window is summed up.
    pub baseline_stat: Stat,
    /// Multiplier of the baseline's value.
    pub factor: f64,
    /// Absolute allowance, in the series' unit.
    pub slack: u64,
    /// Whether the unit is bytes (for printing).
    pub is_bytes: bool,
}

/// The bounds every soak applies, and why each is what it is.
///
/// `stack_mapped` is sampled but not bounded: chunks are never unmapped
/// and double in size up to 1 GiB (docs/stacks.md), so the mapped bytes
/// are the high-water mark of the segments ever out of the pool at once,
/// in steps of up to a chunk. A burst of spawns beyond every earlier peak
/// (a rare coincidence of round shapes, or a loaded machine letting a
/// spawner run ahead of the joins) maps the next chunk at any time: a
/// 60 s run went from 3 GiB to 4 GiB in its last 10 s without any leak.
/// Segments kept by a leak are in use, so they lift `stack_inuse`'s floor
/// long before they fill a chunk.
pub const BOUNDS: [Bound; 4] = [
    // With 2 MiB first segments RSS is mostly stack pages dirtied in the
    // last second or two (a freed segment keeps its pages until it has
    // been free for a second): in `mixed --stack-move` it swings between
    // 0.5 and 1.1 GiB with the rounds, its peak rose 15 % from one window
    // to a later one without a leak, and on a loaded machine it still
    // climbs through the 20-30 s baseline (floor 475 MiB at 20 s, 870 MiB
    // at 29 s). So the last window's floor is held to the baseline's
    // peak: the quiet moments at the end may not use more than the busy
    // ones at the start. A heap leak is in every trough and fails it once
    // it exceeds the swing: in the 60 s soak of `mixed --stack-move` a
    // coarse check (a leak of ~25 MiB a second), in a 1 h soak one of
    // ~200 KiB a second; with 16 KiB first segments (RSS ~25 MiB,
    // swinging by a few MiB) a few hundred KiB a second in 60 s.
    Bound {
        series: "rss",
        stat: Stat::Floor,
        baseline_stat: Stat::Peak,
        factor: 1.1,
        slack: 32 << 20,
        is_bytes: true,
    },
    // Stack bytes in use at the quietest moment of a window: the segments
    // of the coroutines in flight in every trough (ping-pong pairs, net-echo
    // clients, deep recursions) plus whatever a leak kept. In `mixed
    // --stack-move` runs the 10 s windows' floors were 30-105 MiB (15-53
    // segments), loaded or not, while single seconds had floors up to
    // 170 MiB: which rounds are in flight in a window's quietest moment
    // varies. 64 MiB (32 default first segments) passes that; a leak of two
    // 2 MiB segments a second fails a 60 s soak, one every minute and a
    // half a 1 h soak. (A single segment that outlives its coroutine is
    // caught by the monitor's end count.)
    Bound {
        series: "stack_inuse",
        stat: Stat::Floor,
        baseline_stat: Stat::Floor,
        factor: 1.1,
        slack: 64 << 20,
        is_bytes: true,
    },
    // A net-echo round holds up to 16 client and 16 server sockets, the
    // listener and its last connection: one round more in flight than in
    // the baseline's peak is 34 descriptors. A smaller leak is caught by
    // the exact count after the last round.
    Bound {
        series: "fds",
        stat: Stat::Peak,
        baseline_stat: Stat::Peak,
        factor: 1.1,
        slack: 34,
        is_bytes: false,
    },
    // A chunk is one mapping with MADV_GUARD_INSTALL (guards do not split
    // it), so a burst that maps a chunk adds one; the allocator's arenas
    // and the workers' stacks are a few more. (With the mprotect fallback
    // every guard splits its chunk: a new 1 GiB chunk is ~1,000 mappings
    // and fails this bound; see docs/stress.md.)
    Bound {
        series: "maps",
        stat: Stat::Peak,
        baseline_stat: Stat::Peak,
        factor: 1.1,
        slack: 64,
        is_bytes: false,
    },
];

impl Bound {
    /// `rss (floor/peak)`: the series and what is compared with what.
    pub fn label(&self) -> String {
        if self.stat == self.baseline_stat {
            format!("{} ({})", self.series, self.stat.name())
        } else {
            format!(
                "{} ({}/{})",
                self.series,
                self.stat.name(),
                self.baseline_stat.name()
            )
        }
    }
}

impl SoakSample {
    /// The value of series `name` (the highest of the second for those
    /// that have a lowest too).
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

    /// The lowest value of series `name` in the second (the value itself
    /// for those read once).
    pub fn get_min(&self, name: &str) -> u64 {
        match name {
            "rss" => self.rss_min,
            "stack_inuse" => self.stack_inuse_min,
            _ => self.get(name),
        }
    }

    /// The value `stat` judges: the lowest of the second for a floor, the
    /// highest for a peak.
    pub fn value(&self, name: &str, stat: Stat) -> u64 {
        match stat {
            Stat::Floor => self.get_min(name),
            Stat::Peak => self.get(name),
        }
    }
}

/// The verdict on one series.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SeriesVerdict {
    /// The bound applied.
    pub bound: Bound,
    /// The first sample's value (before the warm-up; its lowest for a
    /// floor).
    pub first: u64,
    /// The baseline window's floor or peak (`bound.baseline_stat`).
    pub baseline: u64,
    /// The last window's floor or peak (`bound.stat`).
    pub last: u64,
    /// `baseline * factor + slack`.
    pub limit: u64,
    /// `last <= limit`.
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

/// The sampler's reader of the stack metrics.
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

/// One second's sample in the making: the memory figures' lowest and
/// highest so far.
struct Open {
    rss: (u64, u64),
    inuse: (u64, u64),
    mapped: u64,
}

impl Open {
    fn new() -> Open {
        Open {
            rss: (u64::MAX, 0),
            inuse: (u64::MAX, 0),
            mapped: 0,
        }
    }

    /// Read the memory figures once more.
    fn read(&mut self, h: &Handle, stacks: &mut StackRead) {
        let (mapped, inuse) = stacks.read(h);
        let rss = rss_bytes();
        let widen = |(lo, hi): (u64, u64), v: u64| (lo.min(v), hi.max(v));
        self.rss = widen(self.rss, rss);
        self.inuse = widen(self.inuse, inuse);
        self.mapped = mapped;
    }

    /// Close the sample: read once more, then the descriptors and mappings.
    fn close(mut self, h: &Handle, stacks: &mut StackRead, start: Instant) -> SoakSample {
        self.read(h, stacks);
        SoakSample {
            t: start.elapsed().as_secs_f64(),
            rss: self.rss.1,
            rss_min: self.rss.0,
            stack_mapped: self.mapped,
            stack_inuse: self.inuse.1,
            stack_inuse_min: self.inuse.0,
            fds: open_fds(),
            maps: mappings(),
        }
    }
}

impl Sampler {
    /// Count the open descriptors, then start sampling `h`'s process every
    /// `config.every` from `start` on (the memory figures every
    /// `config.sub_every`), printing a progress line to stderr every
    /// `config.report_every`.
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
                let mut open = Open::new();
                loop {
                    let now = Instant::now();
                    if now >= next {
                        let s =
                            std::mem::replace(&mut open, Open::new()).close(&h, &mut stacks, start);
                        out.push(s);
                        if now >= next_report {
                            next_report += config.report_every;
                            eprintln!("soak: {}", line(&s));
                        }
                        next += config.every;
                    } else {
                        open.read(&h, &mut stacks);
                    }
                    let wait = config
                        .sub_every
                        .min(next.saturating_duration_since(Instant::now()));
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
        "t={:>6.0}s rss={}..{} stack_mapped={} stack_inuse={}..{} fds={} maps={}",
        s.t,
        bytes(s.rss_min),
        bytes(s.rss),
        bytes(s.stack_mapped),
        bytes(s.stack_inuse_min),
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
            let stat = |v: &[&SoakSample], stat: Stat| {
                let vals = v.iter().map(|s| s.value(b.series, stat));
                match stat {
                    Stat::Floor => vals.min(),
                    Stat::Peak => vals.max(),
                }
                .unwrap_or(0)
            };
            let baseline = stat(&base, b.baseline_stat);
            let last_stat = stat(&last, b.stat);
            let limit = (baseline as f64 * b.factor) as u64 + b.slack;
            let ok = last_stat <= limit;
            let first = samples.first().map_or(0, |s| s.value(b.series, b.stat));
            if !ok {
                let f = |v: u64| if b.is_bytes { bytes(v) } else { group(v) };
                let (what, was) = (b.stat.name(), b.baseline_stat.name());
                failures.push(format!(
                    "soak: {} grew: {what} {} in the last {:.0} s > {} = {was} {} in {w0:.0}-{w1:.0} s x {} + {}",
                    b.series,
                    f(last_stat),
                    config.window.as_secs_f64(),
                    f(limit),
                    f(baseline),
                    b.factor,
                    f(b.slack)
                ));
            }
            series.push(SeriesVerdict {
                bound: b,
                first,
                baseline,
                last: last_stat,
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
            "\nSoak ({} samples, every {:.0} s, memory every {:.0} ms; pass: floor or peak over the last {:.0} s <= floor or peak (after the /) over {w0:.0}-{w1:.0} s x factor + slack):",
            self.samples,
            c.every.as_secs_f64(),
            c.sub_every.as_secs_f64() * 1e3,
            c.window.as_secs_f64()
        );
        let _ = writeln!(
            o,
            "  {:<19} {:>12} {:>12} {:>12} {:>12} {:>15}  verdict",
            "series", "at start", "baseline", "last", "limit", "factor + slack"
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
                "  {:<19} {:>12} {:>12} {:>12} {:>12} {:>15}  {}",
                s.bound.label(),
                f(s.first),
                f(s.baseline),
                f(s.last),
                f(s.limit),
                format!("x{} + {}", s.bound.factor, f(s.bound.slack)),
                if s.ok { "ok" } else { "GREW" }
            );
        }
        if let (Some(a), Some(z)) = (self.samples_taken.first(), self.samples_taken.last()) {
            let _ = writeln!(
                o,
                "  stack_mapped (recorded, not bounded: it grows in chunk steps): {} at start, {} at the end",
                bytes(a.stack_mapped),
                bytes(z.stack_mapped)
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
mod tests;
