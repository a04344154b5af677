//! Configuration: turns [`Builder`] settings, the `BAMBOO_*` environment
//! variables and the defaults into the validated [`Config`] a runtime starts
//! from. This module owns every default, every range check and the parsing of
//! every `BAMBOO_*` variable (the crate's only reader of them).
//!
//! # Precedence
//!
//! For each setting: an explicit [`Builder`] call, else its `BAMBOO_*`
//! variable, else the default. A variable never overrides a setting made
//! explicitly, and it is not even read when every setting it controls was set
//! explicitly: `Runtime::builder().workers(4).build()` ignores a malformed
//! `BAMBOO_WORKERS`. `BAMBOO_DEBUG` controls two knobs, so it is read unless
//! both `force_stack_move` and `stack_poison` were set; each knob that was set
//! explicitly wins over its key in the variable.
//!
//! | variable | grammar | accepted range | default |
//! |---|---|---|---|
//! | `BAMBOO_WORKERS` | `integer` | `1..=1024` | `available_parallelism()` clamped to `1..=1024` (1 if unknown) |
//! | `BAMBOO_SEGMENT` | `size` | [`MIN_SEGMENT`]`..=`[`MAX_SEGMENT`], then rounded **up** to a power of two | [`DEFAULT_SEGMENT`] |
//! | `BAMBOO_MAX_STACK` | `size` | resolved (rounded) segment size `..=` [`MAX_STACK_LIMIT`] | [`DEFAULT_MAX_STACK`] |
//! | `BAMBOO_BLOCKING_THREADS` | `integer` | `1..=`[`MAX_BLOCKING_THREADS`] | [`DEFAULT_BLOCKING_THREADS`] |
//! | `BAMBOO_TIME_SLICE` | `duration` | [`MIN_TIME_SLICE`]`..=`[`MAX_TIME_SLICE`] | [`DEFAULT_TIME_SLICE`] (10 ms) |
//! | `BAMBOO_DEBUG` | `debug` | see below | all knobs off |
//!
//! Builder values go through the same checks (a segment size is rounded up
//! the same way; `Config::segment_size` holds the rounded value).
//!
//! # Grammar
//!
//! ```text
//! integer := ws* digit+ ws*
//! size    := ws* digit+ suffix? ws*           suffix is case-insensitive
//! suffix  := "b" | unit | unit "b" | unit "ib"
//! unit    := "k" (x 2^10) | "m" (x 2^20) | "g" (x 2^30)
//! duration := ws* "0" ws* | ws* part+ ws*    Go's time.ParseDuration, unsigned
//! part    := digit+ ("." digit*)? dunit | "." digit+ dunit
//! dunit   := "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h"   (case-sensitive)
//! debug   := item ("," item)*
//! item    := ws* | ws* key ws* "=" ws* value ws*
//!          | ws* "deadlockgrace" ws* "=" ws* digit+ ws*   (milliseconds, 0..=4294967295)
//! key     := "stackmove" | "stackpoison" | "sigquitdump"   (case-sensitive, like GODEBUG)
//! value   := "0" | "1"
//! ```
//!
//! The knobs: `stackmove=1` (every check point switches segment),
//! `stackpoison=1` (freed segments are poisoned), `sigquitdump=1` (print
//! the coroutine dump on `SIGQUIT`), `deadlockgrace=<ms>` (how long a plain
//! thread waits in `join`/`block_on` with every coroutine asleep before the
//! deadlock warning; default 1000, 0 turns the watchdog off).
//!
//! `ws` is whitespace as `str::trim` sees it; `digit` is an ASCII decimal
//! digit (leading zeros are fine): no sign, separator or hex, no fraction
//! but in a duration, and no space between a number and its suffix or unit.
//! A duration is Go's (`10ms`, `1.5s`, `1h30m`) without the sign: its parts
//! add up, a fraction is exact to the nanosecond (truncated below it), and
//! a total past `u64::MAX` nanoseconds is rejected. Every unit is binary, so `64m`,
//! `64M`, `64mb` and `64MiB` all mean 67108864 bytes. A value that overflows
//! `usize` is rejected; so are empty values of the numeric variables. In
//! `BAMBOO_DEBUG`, empty items (an empty value, a trailing comma, `,,`) are
//! ignored and a later duplicate key wins, as in Go's `GODEBUG`.
//!
//! # Errors
//!
//! A bad variable gives [`Error::InvalidEnv`] with the variable and its value
//! exactly as found (a non-UTF-8 value is shown lossily); a bad builder value
//! gives [`Error::InvalidConfig`] with the method, e.g. `Builder::workers`.
//! Both Display the name and the value. Nothing here panics on any input.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::Error;

/// Minimum first-segment size in bytes.
pub const MIN_SEGMENT: usize = 4096;
/// Maximum first-segment size in bytes.
pub const MAX_SEGMENT: usize = 64 << 20;
/// Default first-segment size in bytes (2 MiB, a `std::thread`'s default):
/// room for ordinary library code (deep recursion, big local arrays)
/// without any check point, paid for only in the pages a coroutine touches
/// (docs/stacks.md, "Why 2 MiB").
pub const DEFAULT_SEGMENT: usize = 2 << 20;
/// Default per-coroutine stack limit (1 GiB).
pub const DEFAULT_MAX_STACK: usize = 1 << 30;
/// Largest accepted per-coroutine stack limit: 1 TiB (`usize::MAX` on
/// targets whose address space is smaller).
pub const MAX_STACK_LIMIT: usize = if usize::BITS >= 64 {
    (1u64 << 40) as usize
} else {
    usize::MAX
};
/// Largest accepted worker count.
pub const MAX_WORKERS: usize = 1024;
/// Default cap on blocking-pool threads.
pub const DEFAULT_BLOCKING_THREADS: usize = 512;
/// Largest accepted cap on blocking-pool threads.
pub const MAX_BLOCKING_THREADS: usize = 65536;

// The defaults pass their own checks (DEFAULT_MAX_STACK against any segment).
const _: () = assert!(MIN_SEGMENT.is_power_of_two() && MAX_SEGMENT.is_power_of_two());
const _: () = assert!(DEFAULT_SEGMENT.is_power_of_two());
const _: () = assert!(MIN_SEGMENT <= DEFAULT_SEGMENT && DEFAULT_SEGMENT <= MAX_SEGMENT);
const _: () = assert!(MAX_SEGMENT <= DEFAULT_MAX_STACK && DEFAULT_MAX_STACK <= MAX_STACK_LIMIT);

pub(crate) const ENV_WORKERS: &str = "BAMBOO_WORKERS";
pub(crate) const ENV_SEGMENT: &str = "BAMBOO_SEGMENT";
pub(crate) const ENV_MAX_STACK: &str = "BAMBOO_MAX_STACK";
pub(crate) const ENV_DEBUG: &str = "BAMBOO_DEBUG";
pub(crate) const ENV_BLOCKING_THREADS: &str = "BAMBOO_BLOCKING_THREADS";
pub(crate) const ENV_TIME_SLICE: &str = "BAMBOO_TIME_SLICE";

/// Default time slice: a coroutine that has run this long without
/// suspending yields at its next check point (Go's `forcePreemptNS`).
pub const DEFAULT_TIME_SLICE: Duration = Duration::from_millis(10);
/// Shortest accepted time slice.
pub const MIN_TIME_SLICE: Duration = Duration::from_micros(100);
/// Longest accepted time slice.
pub const MAX_TIME_SLICE: Duration = Duration::from_secs(3600);

/// Debug knobs from `BAMBOO_DEBUG` (Go's GODEBUG style: `key=value,...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebugFlags {
    /// `stackmove=1`: every check point switches segment (the stress mode, docs/stacks.md).
    pub stackmove: bool,
    /// `stackpoison=1`: freed segments are filled with a pattern and fault.
    pub stackpoison: bool,
    /// `sigquitdump=1`: `SIGQUIT` prints every coroutine
    /// ([`crate::Handle::dump`]) to stderr; the process keeps running.
    pub sigquitdump: bool,
    /// `deadlockgrace=<ms>`: the deadlock watchdog's grace period in
    /// milliseconds (default 1000); 0 turns it off.
    pub deadlockgrace: u32,
}

/// Default grace period of the deadlock watchdog, in milliseconds.
pub(crate) const DEFAULT_DEADLOCK_GRACE_MS: u32 = 1000;

impl Default for DebugFlags {
    /// Every knob off; the deadlock watchdog on with its default grace.
    fn default() -> DebugFlags {
        DebugFlags {
            stackmove: false,
            stackpoison: false,
            sigquitdump: false,
            deadlockgrace: DEFAULT_DEADLOCK_GRACE_MS,
        }
    }
}

impl DebugFlags {
    /// The deadlock watchdog's grace period; `None` when it is off.
    pub(crate) fn deadlock_grace(&self) -> Option<std::time::Duration> {
        (self.deadlockgrace > 0)
            .then(|| std::time::Duration::from_millis(u64::from(self.deadlockgrace)))
    }

    /// Parses a `BAMBOO_DEBUG` value: comma-separated `stackmove=0|1`,
    /// `stackpoison=0|1`, `sigquitdump=0|1` and `deadlockgrace=<ms>` items
    /// (whitespace around items, keys and values and
    /// empty items are ignored; a later duplicate wins). The error is
    /// [`Error::InvalidEnv`] for `BAMBOO_DEBUG` carrying the whole string;
    /// its reason names the offending item.
    pub fn parse(s: &str) -> Result<DebugFlags, Error> {
        parse_debug(s).map_err(|reason| Error::InvalidEnv {
            var: ENV_DEBUG,
            value: s.to_string(),
            reason,
        })
    }
}

impl FromStr for DebugFlags {
    type Err = Error;
    fn from_str(s: &str) -> Result<DebugFlags, Error> {
        DebugFlags::parse(s)
    }
}

/// Formats as a `BAMBOO_DEBUG` value, e.g.
/// `stackmove=1,stackpoison=0,sigquitdump=0,deadlockgrace=1000`, which
/// [`DebugFlags::parse`] reads back unchanged.
impl fmt::Display for DebugFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bit = |b: bool| if b { 1 } else { 0 };
        write!(
            f,
            "stackmove={},stackpoison={},sigquitdump={},deadlockgrace={}",
            bit(self.stackmove),
            bit(self.stackpoison),
            bit(self.sigquitdump),
            self.deadlockgrace
        )
    }
}

fn parse_debug(s: &str) -> Result<DebugFlags, String> {
    const KNOWN: &str = "known keys: stackmove, stackpoison, sigquitdump, deadlockgrace";
    let mut flags = DebugFlags::default();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((key, value)) = item.split_once('=') else {
            return Err(format!("item {item:?} is not key=value ({KNOWN})"));
        };
        let slot = match key.trim() {
            "stackmove" => &mut flags.stackmove,
            "stackpoison" => &mut flags.stackpoison,
            "sigquitdump" => &mut flags.sigquitdump,
            "deadlockgrace" => {
                let v = value.trim();
                let digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
                flags.deadlockgrace = digits
                    .then(|| parse_digits(v))
                    .flatten()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        format!(
                            "item {item:?}: value {v:?} must be milliseconds \
                             (0..=4294967295; 0 turns the watchdog off)"
                        )
                    })?;
                continue;
            }
            other => return Err(format!("item {item:?}: unknown key {other:?} ({KNOWN})")),
        };
        *slot = match value.trim() {
            "0" => false,
            "1" => true,
            other => return Err(format!("item {item:?}: value {other:?} must be 0 or 1")),
        };
    }
    Ok(flags)
}

/// Parses a size in bytes: decimal digits with an optional case-insensitive
/// binary suffix `k`, `m` or `g`, optionally followed by `b` or `ib`
/// (`65536`, `64k`, `64MiB`, `1G`, `512b`); surrounding whitespace is
/// ignored. Zero is accepted here (callers check ranges). The error says
/// what was expected.
pub fn parse_size(s: &str) -> Result<usize, String> {
    const EXPECTED: &str =
        "expected a size in bytes: digits with an optional k, m or g suffix, e.g. 65536, 64k, 1g";
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, suffix) = t.split_at(split);
    if digits.is_empty() {
        return Err(EXPECTED.to_string());
    }
    let shift = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("unknown suffix {suffix:?}; {EXPECTED}")),
    };
    parse_digits(digits)
        .and_then(|n| n.checked_mul(1usize << shift))
        .ok_or_else(|| format!("size does not fit in {} bits", usize::BITS))
}

/// Parses a duration with Go's `time.ParseDuration` grammar, unsigned:
/// one or more numbers, each with an optional fraction and a unit `ns`,
/// `us` (or `µs`), `ms`, `s`, `m` or `h`, their sum the duration (`10ms`,
/// `1.5s`, `1h30m`, `.5us`); a lone `0` needs no unit; surrounding
/// whitespace is ignored. Zero is accepted here (callers check ranges).
/// The error names the offending part and says what was expected.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(bamboo::parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
/// assert_eq!(bamboo::parse_duration("1.5ms"), Ok(Duration::from_micros(1500)));
/// assert!(bamboo::parse_duration("10 ms").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    const EXPECTED: &str =
        "expected a duration: numbers with a unit ns, us, ms, s, m or h, e.g. 10ms, 1.5s, 1h30m";
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.is_empty() {
        return Err(EXPECTED.to_string());
    }
    if t.starts_with(['-', '+']) {
        return Err(format!("no sign allowed; {EXPECTED}"));
    }
    let digits_end = |r: &str| r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
    let too_long = || "duration does not fit in 64-bit nanoseconds".to_string();
    let mut total: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let (whole, r) = rest.split_at(digits_end(rest));
        let (frac, r) = match r.strip_prefix('.') {
            Some(r) => r.split_at(digits_end(r)),
            None => ("", r),
        };
        let unit_len = r
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(r.len());
        let (unit, r) = r.split_at(unit_len);
        let part = &rest[..rest.len() - r.len()];
        if whole.is_empty() && frac.is_empty() {
            return Err(format!("{part:?} has no number; {EXPECTED}"));
        }
        let ns_per: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("{part:?} has no unit; {EXPECTED}")),
            _ => return Err(format!("unknown unit {unit:?} in {part:?}; {EXPECTED}")),
        };
        // Whole part: any number of digits, checked (a u128 of nanoseconds
        // holds every u64 total with room to spare).
        let mut v = whole.bytes().try_fold(0u128, |acc, b| {
            acc.checked_mul(10)?.checked_add(u128::from(b - b'0'))
        });
        v = v.and_then(|w| w.checked_mul(ns_per));
        // Fraction: its first 24 digits, exactly, truncated to the
        // nanosecond (digits further down change nothing: a unit is at most
        // 3.6e12 ns, so 10^-24 of it is far below one).
        let (num, den) = frac.bytes().take(24).fold((0u128, 1u128), |(n, d), b| {
            (n * 10 + u128::from(b - b'0'), d * 10)
        });
        v = v.and_then(|w| w.checked_add(num * ns_per / den));
        total = v
            .and_then(|v| total.checked_add(v))
            .filter(|&t| t <= u128::from(u64::MAX))
            .ok_or_else(too_long)?;
        rest = r;
    }
    Ok(Duration::from_nanos(total as u64))
}

fn check_time_slice(d: Duration) -> Result<Duration, String> {
    if (MIN_TIME_SLICE..=MAX_TIME_SLICE).contains(&d) {
        Ok(d)
    } else {
        Err(format!(
            "time slice must be in {MIN_TIME_SLICE:?}..={MAX_TIME_SLICE:?}"
        ))
    }
}

/// Parses a non-empty run of ASCII digits; `None` on overflow.
fn parse_digits(digits: &str) -> Option<usize> {
    digits.bytes().try_fold(0usize, |acc, b| {
        acc.checked_mul(10)?.checked_add(usize::from(b - b'0'))
    })
}

/// Parses a `BAMBOO_WORKERS` value (`integer`), checked against the range.
fn parse_workers(s: &str) -> Result<usize, String> {
    let t = s.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("expected a decimal integer in 1..={MAX_WORKERS}"));
    }
    // Overflow is simply out of range.
    check_workers(parse_digits(t).unwrap_or(usize::MAX))
}

/// Parses a `BAMBOO_BLOCKING_THREADS` value (`integer`), checked against the range.
fn parse_blocking(s: &str) -> Result<usize, String> {
    let t = s.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "expected a decimal integer in 1..={MAX_BLOCKING_THREADS}"
        ));
    }
    check_blocking(parse_digits(t).unwrap_or(usize::MAX))
}

fn check_blocking(n: usize) -> Result<usize, String> {
    if (1..=MAX_BLOCKING_THREADS).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "blocking thread cap must be in 1..={MAX_BLOCKING_THREADS}"
        ))
    }
}

fn check_workers(n: usize) -> Result<usize, String> {
    if (1..=MAX_WORKERS).contains(&n) {
        Ok(n)
    } else {
        Err(format!("worker count must be in 1..={MAX_WORKERS}"))
    }
}

/// Range check, then round up to a power of two (cannot overflow: the
/// range ends at a power of two).
fn check_segment(n: usize) -> Result<usize, String> {
    if (MIN_SEGMENT..=MAX_SEGMENT).contains(&n) {
        Ok(n.next_power_of_two())
    } else {
        Err(format!(
            "segment size must be in {MIN_SEGMENT}..={MAX_SEGMENT} bytes (4k..=64m)"
        ))
    }
}

fn check_max_stack(n: usize, segment: usize) -> Result<usize, String> {
    if n == 0 {
        Err("stack limit must be greater than zero".to_string())
    } else if n < segment {
        Err(format!(
            "stack limit must be at least the first segment size ({segment} bytes)"
        ))
    } else if n > MAX_STACK_LIMIT {
        Err(format!(
            "stack limit must be at most {MAX_STACK_LIMIT} bytes"
        ))
    } else {
        Ok(n)
    }
}

/// Number of workers when neither the builder nor the environment says.
fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WORKERS)
}

/// Reads a variable of the real process environment; a non-UTF-8 value is
/// converted lossily so that it is reported rather than silently ignored.
fn process_env(var: &str) -> Option<String> {
    std::env::var_os(var).map(|v| v.to_string_lossy().into_owned())
}

/// Resolves one numeric setting: the explicit value, else the variable,
/// else `default`; the first two go through `check`, which may also
/// normalise the value.
fn numeric(
    (explicit, setting, var): (Option<usize>, &'static str, &'static str),
    env: &dyn Fn(&str) -> Option<String>,
    parse: fn(&str) -> Result<usize, String>,
    check: &dyn Fn(usize) -> Result<usize, String>,
    default: usize,
) -> Result<usize, Error> {
    if let Some(n) = explicit {
        let value = n.to_string();
        return check(n).map_err(|reason| Error::InvalidConfig {
            setting,
            value,
            reason,
        });
    }
    match env(var) {
        None => Ok(default),
        Some(value) => (parse(&value).and_then(check)).map_err(|reason| Error::InvalidEnv {
            var,
            value,
            reason,
        }),
    }
}

/// Resolved configuration of a runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    pub workers: usize,
    /// Usable bytes of the first segment, a power of two.
    pub segment_size: usize,
    pub max_stack: usize,
    /// Where `max_stack` came from: `Builder::max_stack`, `BAMBOO_MAX_STACK`,
    /// or `""` for the default (for the error of a check made at start).
    pub max_stack_from: &'static str,
    pub debug: DebugFlags,
    /// Cap on blocking-pool threads.
    pub blocking_threads: usize,
    /// Preemption time slice.
    pub time_slice: Duration,
}

/// Public copy of the resolved configuration, for the crate's own
/// integration tests only (see [`Builder::resolve_with_env`]).
#[cfg(feature = "test-hooks")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedConfig {
    /// Worker threads.
    pub workers: usize,
    /// First segment bytes, rounded up to a power of two.
    pub segment_size: usize,
    /// Per-coroutine stack limit in bytes.
    pub max_stack: usize,
    /// `BAMBOO_DEBUG` knobs after builder overrides.
    pub debug: DebugFlags,
    /// Cap on blocking-pool threads.
    pub blocking_threads: usize,
    /// Preemption time slice.
    pub time_slice: Duration,
}

/// Builds a [`crate::Runtime`]; unset settings come from `BAMBOO_*`, then defaults.
///
/// An explicit setting always wins: the environment is consulted only for
/// settings left unset (`BAMBOO_WORKERS`, `BAMBOO_SEGMENT`,
/// `BAMBOO_MAX_STACK`, and `BAMBOO_DEBUG` for the two debug knobs). Every
/// value, explicit or not, is range-checked by [`Builder::build`].
#[derive(Debug, Clone, Default)]
pub struct Builder {
    workers: Option<usize>,
    segment_size: Option<usize>,
    max_stack: Option<usize>,
    force_stack_move: Option<bool>,
    stack_poison: Option<bool>,
    blocking_threads: Option<usize>,
    time_slice: Option<Duration>,
}

impl Builder {
    /// A builder with nothing set (same as `Runtime::builder()`).
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Worker threads (default: available parallelism).
    pub fn workers(&mut self, n: usize) -> &mut Self {
        self.workers = Some(n);
        self
    }
    /// Usable bytes of a coroutine's first segment (rounded up to a power of two).
    pub fn segment_size(&mut self, bytes: usize) -> &mut Self {
        self.segment_size = Some(bytes);
        self
    }
    /// Per-coroutine stack limit in bytes (default 1 GiB).
    pub fn max_stack(&mut self, bytes: usize) -> &mut Self {
        self.max_stack = Some(bytes);
        self
    }
    /// Stress mode: every check point switches segment.
    pub fn force_stack_move(&mut self, on: bool) -> &mut Self {
        self.force_stack_move = Some(on);
        self
    }
    /// Poison freed segments (pattern + fault on access).
    pub fn stack_poison(&mut self, on: bool) -> &mut Self {
        self.stack_poison = Some(on);
        self
    }
    /// Cap on the threads of the blocking pool (`bamboo::blocking`),
    /// started on demand (default 512).
    pub fn blocking_threads(&mut self, n: usize) -> &mut Self {
        self.blocking_threads = Some(n);
        self
    }
    /// Time slice (default 10 ms, range 100 µs..=1 h): a coroutine that has
    /// run this long without suspending yields at its next check point
    /// (`grow` or any runtime call). A loop without a check point is not
    /// preempted.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = bamboo::Runtime::builder().time_slice(Duration::from_millis(2)).build()?;
    /// # drop(rt);
    /// # Ok::<(), bamboo::Error>(())
    /// ```
    pub fn time_slice(&mut self, d: Duration) -> &mut Self {
        self.time_slice = Some(d);
        self
    }
    /// The configuration for this builder in the process environment
    /// (what `build` starts from; `build` itself is in `sched`, the layer
    /// that starts runtimes).
    pub(crate) fn resolve_process_env(&self) -> Result<Config, Error> {
        self.resolve(&process_env)
    }

    /// Resolves against a caller-supplied environment, without starting
    /// anything. Only for the crate's integration tests (cargo feature
    /// `test-hooks`).
    #[cfg(feature = "test-hooks")]
    pub fn resolve_with_env(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ResolvedConfig, Error> {
        let c = self.resolve(env)?;
        Ok(ResolvedConfig {
            workers: c.workers,
            segment_size: c.segment_size,
            max_stack: c.max_stack,
            debug: c.debug,
            blocking_threads: c.blocking_threads,
            time_slice: c.time_slice,
        })
    }

    /// Applies the precedence rule and every check of the module docs;
    /// `env` stands for the process environment.
    pub(crate) fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let knob = (self.workers, "Builder::workers", ENV_WORKERS);
        let workers = numeric(knob, env, parse_workers, &check_workers, default_workers())?;
        let knob = (self.segment_size, "Builder::segment_size", ENV_SEGMENT);
        let segment = numeric(knob, env, parse_size, &check_segment, DEFAULT_SEGMENT)?;
        let knob = (self.max_stack, "Builder::max_stack", ENV_MAX_STACK);
        let check = |n| check_max_stack(n, segment);
        let max_stack = numeric(knob, env, parse_size, &check, DEFAULT_MAX_STACK)?;
        let from_env = match (self.force_stack_move, self.stack_poison) {
            (Some(_), Some(_)) => DebugFlags::default(),
            _ => match env(ENV_DEBUG) {
                Some(v) => DebugFlags::parse(&v)?,
                None => DebugFlags::default(),
            },
        };
        let debug = DebugFlags {
            stackmove: self.force_stack_move.unwrap_or(from_env.stackmove),
            stackpoison: self.stack_poison.unwrap_or(from_env.stackpoison),
            ..from_env
        };
        let knob = (
            self.blocking_threads,
            "Builder::blocking_threads",
            ENV_BLOCKING_THREADS,
        );
        let blocking_threads = numeric(
            knob,
            env,
            parse_blocking,
            &check_blocking,
            DEFAULT_BLOCKING_THREADS,
        )?;
        let max_stack_from = if self.max_stack.is_some() {
            "Builder::max_stack"
        } else if env(ENV_MAX_STACK).is_some() {
            ENV_MAX_STACK
        } else {
            ""
        };
        let time_slice = match (self.time_slice, env(ENV_TIME_SLICE)) {
            (Some(d), _) => check_time_slice(d).map_err(|reason| Error::InvalidConfig {
                setting: "Builder::time_slice",
                value: format!("{d:?}"),
                reason,
            })?,
            (None, Some(value)) => {
                parse_duration(&value)
                    .and_then(check_time_slice)
                    .map_err(|reason| Error::InvalidEnv {
                        var: ENV_TIME_SLICE,
                        value,
                        reason,
                    })?
            }
            (None, None) => DEFAULT_TIME_SLICE,
        };
        Ok(Config {
            workers,
            segment_size: segment,
            max_stack,
            max_stack_from,
            debug,
            blocking_threads,
            time_slice,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: usize = 1 << 10;
    const M: usize = 1 << 20;
    const G: usize = 1 << 30;

    fn resolve_in(b: &Builder, pairs: &[(&str, &str)]) -> Result<Config, Error> {
        let env = |k: &str| pairs.iter().find(|p| p.0 == k).map(|p| p.1.to_string());
        b.resolve(&env)
    }

    fn resolve_env(pairs: &[(&str, &str)]) -> Result<Config, Error> {
        resolve_in(&Builder::default(), pairs)
    }

    fn flags(stackmove: bool, stackpoison: bool) -> DebugFlags {
        DebugFlags {
            stackmove,
            stackpoison,
            ..DebugFlags::default()
        }
    }

    #[test]
    fn debug_dump_knobs() {
        let d = DebugFlags::default();
        assert!(!d.sigquitdump);
        assert_eq!(d.deadlock_grace(), Some(std::time::Duration::from_secs(1)));
        let d = DebugFlags::parse("sigquitdump=1, deadlockgrace = 250").unwrap();
        assert!(d.sigquitdump);
        assert_eq!(
            d.deadlock_grace(),
            Some(std::time::Duration::from_millis(250))
        );
        assert_eq!(
            DebugFlags::parse("deadlockgrace=0")
                .unwrap()
                .deadlock_grace(),
            None
        );
        assert_eq!(DebugFlags::parse(&d.to_string()).unwrap(), d);
        for bad in [
            "deadlockgrace=",
            "deadlockgrace=-1",
            "deadlockgrace=1s",
            "deadlockgrace=4294967296",
            "sigquitdump=2",
        ] {
            let err = DebugFlags::parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
            assert_env_rejected(ENV_DEBUG, bad);
        }
    }

    /// `var=value` alone is rejected with an error naming both.
    fn assert_env_rejected(var: &str, value: &str) {
        let err = resolve_env(&[(var, value)]).expect_err(&format!("{var}={value:?} accepted"));
        let named = matches!(&err, Error::InvalidEnv { var: v, value: got, .. }
            if *v == var && got == value);
        assert!(
            named && err.to_string().contains(&format!("{var}={value:?}")),
            "{err}"
        );
    }

    /// Each `good` value of `var` resolves to its number; each `bad` one is
    /// rejected by name.
    fn check_var(var: &str, good: &[(&str, usize)], bad: &[&str]) {
        for &(v, n) in good {
            let c = resolve_env(&[(var, v)]).unwrap();
            let got = match var {
                ENV_WORKERS => c.workers,
                ENV_SEGMENT => c.segment_size,
                ENV_BLOCKING_THREADS => c.blocking_threads,
                _ => c.max_stack,
            };
            assert_eq!(got, n, "{var}={v:?}");
        }
        bad.iter().for_each(|v| assert_env_rejected(var, v));
    }

    fn assert_config_rejected(b: &Builder, setting: &str, value: usize) {
        let err = resolve_in(b, &[]).expect_err(&format!("{setting}({value}) accepted"));
        let named = matches!(&err, Error::InvalidConfig { setting: s, .. } if *s == setting);
        assert!(
            named && err.to_string().contains(&format!("{setting}({value})")),
            "{err}"
        );
    }

    #[test]
    fn defaults_are_consistent() {
        #[cfg(target_pointer_width = "64")]
        assert_eq!(MAX_STACK_LIMIT, 1 << 40);
        let c = resolve_env(&[]).unwrap();
        let par = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(c.workers, par.clamp(1, MAX_WORKERS));
        assert_eq!(
            (c.segment_size, c.max_stack),
            (DEFAULT_SEGMENT, DEFAULT_MAX_STACK)
        );
        assert_eq!(c.debug, DebugFlags::default());
    }

    #[test]
    fn workers_env() {
        #[rustfmt::skip]
        check_var(ENV_WORKERS,
            &[("1", 1), ("1024", 1024), (" 8 ", 8), ("\t3\n", 3), ("007", 7)],
            &["", " ", "0", "1025", "-1", "+4", "abc", "4.0", "1e3", "0x10", "4 4", "4k", "８",
              "99999999999999999999999999"]);
    }

    #[test]
    fn blocking_threads_env() {
        assert_eq!(
            resolve_env(&[]).unwrap().blocking_threads,
            DEFAULT_BLOCKING_THREADS
        );
        #[rustfmt::skip]
        check_var(ENV_BLOCKING_THREADS,
            &[("1", 1), ("512", 512), (" 64 ", 64), ("65536", 65536), ("08", 8)],
            &["", " ", "0", "65537", "-1", "+4", "many", "4.0", "0x10", "4k",
              "99999999999999999999999999"]);
        let mut b = Builder::default();
        b.blocking_threads(0);
        assert_config_rejected(&b, "Builder::blocking_threads", 0);
        b.blocking_threads(7);
        let c = resolve_in(&b, &[(ENV_BLOCKING_THREADS, "junk")]).unwrap();
        assert_eq!(c.blocking_threads, 7);
    }

    #[test]
    fn parse_size_accepts() {
        #[rustfmt::skip]
        let good = [
            ("0", 0), ("65536", 65536), ("512b", 512), ("512B", 512), ("0001k", K),
            ("64k", 64 * K), ("64K", 64 * K), ("64kb", 64 * K), ("64KiB", 64 * K),
            ("64m", 64 * M), ("64M", 64 * M), ("64MiB", 64 * M), ("64mB", 64 * M),
            ("1g", G), ("1G", G), ("1GiB", G), ("  2m\n", 2 * M),
        ];
        for (s, n) in good {
            assert_eq!(parse_size(s), Ok(n), "{s:?}");
        }
    }

    #[test]
    fn parse_size_rejects() {
        #[rustfmt::skip]
        let bad = ["", " ", "k", "-1", "+1", "1.5m", "1t", "1 m", "m1", "1kk", "1bb", "1bib",
            "1i", "1mi", "0x10", "1_000", "６４k", "1k ib", "18446744073709551616",
            "99999999999999999999999999999999g"];
        for s in bad {
            assert!(parse_size(s).is_err(), "{s:?} accepted");
        }
        #[cfg(target_pointer_width = "64")]
        assert!(parse_size("17179869184g").is_err()); // 2^34 * 2^30 = 2^64
    }

    #[test]
    fn segment_env_rounded_up() {
        #[rustfmt::skip]
        check_var(ENV_SEGMENT,
            &[("4096", 4096), ("4097", 8192), ("5000", 8192), ("16k", 16 * K), ("20k", 32 * K),
              ("64m", 64 * M), ("64MiB", 64 * M), ("33m", 64 * M)],
            &["", "0", "4095", "3k", "67108865", "65m", "1g", "abc", "-4k", "4k4"]);
    }

    #[test]
    fn max_stack_env() {
        #[rustfmt::skip]
        check_var(ENV_MAX_STACK,
            &[("64m", 64 * M), ("1G", G), ("2097152", 2 * M), ("64MiB", 64 * M), ("2m", 2 * M)],
            &["", "0", "0k", "-1", "-64m", "abc", "1t", "4k", "16383", "64 m",
              "16k", "65536", "2097151", "99999999999999999999"]);
        #[cfg(target_pointer_width = "64")]
        check_var(ENV_MAX_STACK, &[("1024g", 1 << 40)], &["1025g", "1t"]);
    }

    #[test]
    fn max_stack_must_cover_rounded_segment() {
        let ok = resolve_env(&[(ENV_SEGMENT, "1m"), (ENV_MAX_STACK, "1m")]).unwrap();
        assert_eq!((ok.segment_size, ok.max_stack), (M, M));
        for (seg, max) in [("1m", "512k"), ("600k", "700k")] {
            let err = resolve_env(&[(ENV_SEGMENT, seg), (ENV_MAX_STACK, max)]).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidEnv { var, value, .. }
                    if *var == ENV_MAX_STACK && value == max),
                "{err}"
            );
        }
        let mut b = Builder::default();
        b.max_stack(64 * K);
        let err = resolve_in(&b, &[(ENV_SEGMENT, "1m")]).unwrap_err();
        assert!(
            err.to_string().contains("Builder::max_stack(65536)"),
            "{err}"
        );
    }

    #[test]
    fn debug_flags_parse_valid() {
        #[rustfmt::skip]
        let good = [
            ("", flags(false, false)), (",", flags(false, false)), (" , ,", flags(false, false)),
            ("stackmove=1", flags(true, false)), ("stackpoison=1", flags(false, true)),
            ("stackpoison=1,stackmove=1", flags(true, true)), ("stackmove=1,", flags(true, false)),
            ("stackmove=1,stackmove=0", flags(false, false)),
            ("stackmove=0,stackmove=1", flags(true, false)),
            (" stackmove = 1 , stackpoison=1 ", flags(true, true)),
        ];
        for (s, want) in good {
            assert_eq!(DebugFlags::parse(s).unwrap(), want, "{s:?}");
            assert_eq!(s.parse::<DebugFlags>().unwrap(), want, "{s:?}");
            assert_eq!(resolve_env(&[(ENV_DEBUG, s)]).unwrap().debug, want, "{s:?}");
        }
    }

    #[test]
    fn debug_flags_parse_rejected() {
        #[rustfmt::skip]
        let bad = [
            ("foo=1", "foo=1"), ("stackmove", "stackmove"), ("stackmove=2", "stackmove=2"),
            ("stackmove=true", "stackmove=true"), ("stackmove=", "stackmove="), ("=1", "=1"),
            ("STACKMOVE=1", "STACKMOVE=1"), ("stackmove=1,bogus", "bogus"),
            ("stackmove=1=1", "stackmove=1=1"), ("stackmove=1;x=1", "stackmove=1;x=1"),
        ];
        for (s, item) in bad {
            let err = DebugFlags::parse(s).unwrap_err();
            let Error::InvalidEnv { var, value, reason } = &err else {
                panic!("{err:?}");
            };
            assert_eq!((*var, value.as_str()), (ENV_DEBUG, s));
            assert!(reason.contains(&format!("{item:?}")), "{s:?}: {reason}");
            assert_env_rejected(ENV_DEBUG, s);
        }
    }

    #[test]
    fn env_applies_when_builder_unset() {
        #[rustfmt::skip]
        let env = [(ENV_WORKERS, "3"), (ENV_SEGMENT, "32k"), (ENV_MAX_STACK, "8m"),
            (ENV_DEBUG, "stackmove=1,stackpoison=1")];
        let c = resolve_env(&env).unwrap();
        assert_eq!((c.workers, c.segment_size, c.max_stack), (3, 32 * K, 8 * M));
        assert_eq!(c.debug, flags(true, true));
    }

    #[test]
    fn builder_wins_over_env() {
        let mut b = Builder::default();
        b.workers(5).segment_size(5000).max_stack(2 * M);
        b.force_stack_move(false).stack_poison(true);
        #[rustfmt::skip]
        let bad = [(ENV_WORKERS, "abc"), (ENV_SEGMENT, "abc"), (ENV_MAX_STACK, "abc"),
            (ENV_DEBUG, "garbage")];
        #[rustfmt::skip]
        let good = [(ENV_WORKERS, "7"), (ENV_SEGMENT, "1m"), (ENV_MAX_STACK, "1g"),
            (ENV_DEBUG, "stackmove=1,stackpoison=0")];
        for env in [bad, good] {
            let c = resolve_in(&b, &env).unwrap();
            assert_eq!((c.workers, c.segment_size, c.max_stack), (5, 8192, 2 * M));
            assert_eq!(c.debug, flags(false, true));
        }
    }

    #[test]
    fn debug_keys_overridden_individually() {
        let mut b = Builder::default();
        b.force_stack_move(false);
        let c = resolve_in(&b, &[(ENV_DEBUG, "stackmove=1,stackpoison=1")]).unwrap();
        assert_eq!(c.debug, flags(false, true));

        let mut b = Builder::default();
        b.stack_poison(true);
        let c = resolve_in(&b, &[(ENV_DEBUG, "stackmove=1")]).unwrap();
        assert_eq!(c.debug, flags(true, true));
        // One knob left unset: the variable is still read, so it must parse.
        let err = resolve_in(&b, &[(ENV_DEBUG, "stackmove=yes")]).unwrap_err();
        assert!(err.to_string().contains("BAMBOO_DEBUG"), "{err}");
    }

    #[test]
    fn builder_values_validated() {
        type Set = for<'a> fn(&'a mut Builder, usize) -> &'a mut Builder;
        let (w, s, m): (Set, Set, Set) =
            (Builder::workers, Builder::segment_size, Builder::max_stack);
        #[rustfmt::skip]
        let bad = [
            (w, "Builder::workers", 0), (w, "Builder::workers", 1025),
            (w, "Builder::workers", usize::MAX), (s, "Builder::segment_size", 0),
            (s, "Builder::segment_size", 4095), (s, "Builder::segment_size", MAX_SEGMENT + 1),
            (s, "Builder::segment_size", usize::MAX), (m, "Builder::max_stack", 0),
            (m, "Builder::max_stack", DEFAULT_SEGMENT - 1), (m, "Builder::max_stack", usize::MAX),
        ];
        for (set, setting, value) in bad {
            let mut b = Builder::default();
            set(&mut b, value);
            assert_config_rejected(&b, setting, value);
        }
        let mut b = Builder::default();
        b.segment_size(MAX_SEGMENT).max_stack(MAX_SEGMENT - 1);
        assert_config_rejected(&b, "Builder::max_stack", MAX_SEGMENT - 1);
        let mut b = Builder::default();
        b.workers(1024)
            .segment_size(MIN_SEGMENT)
            .max_stack(MAX_STACK_LIMIT);
        let c = resolve_in(&b, &[]).unwrap();
        assert_eq!(
            (c.workers, c.segment_size, c.max_stack),
            (1024, 4096, MAX_STACK_LIMIT)
        );
    }

    /// Go's grammar, exact to the nanosecond, and errors that name the
    /// offending part.
    #[test]
    fn durations_follow_go() {
        let ns = Duration::from_nanos;
        for (v, d) in [
            ("0", ns(0)),
            ("0s", ns(0)),
            ("1h30m", Duration::from_secs(5400)),
            ("1.000000001s", ns(1_000_000_001)),
            ("0.1234567899s", ns(123_456_789)),
            ("1.5h", Duration::from_secs(5400)),
            ("18446744073709551615ns", ns(u64::MAX)),
            ("2\u{3bc}s", ns(2_000)),
        ] {
            assert_eq!(parse_duration(v), Ok(d), "{v}");
        }
        for (bad, says) in [
            ("18446744073709551616ns", "does not fit"),
            ("1x", "\"x\" in \"1x\""),
            ("1", "\"1\" has no unit"),
            ("-1s", "no sign"),
            (".s", "\".s\" has no number"),
            ("1s2", "\"2\" has no unit"),
            ("\u{b5}s", "has no number"),
        ] {
            match parse_duration(bad) {
                Ok(d) => panic!("{bad:?} accepted as {d:?}"),
                Err(e) => assert!(e.contains(says), "{bad:?}: {e:?} does not say {says:?}"),
            }
        }
    }

    #[test]
    fn time_slice_env_and_builder() {
        let ms = Duration::from_millis;
        assert_eq!(resolve_env(&[]).unwrap().time_slice, DEFAULT_TIME_SLICE);
        for (v, d) in [
            ("10ms", ms(10)),
            ("1s", Duration::from_secs(1)),
            (" 500us ", Duration::from_micros(500)),
            ("100000ns", Duration::from_micros(100)),
            ("3600s", MAX_TIME_SLICE),
            ("1h", MAX_TIME_SLICE),
            ("59m59.999999999s", MAX_TIME_SLICE - Duration::from_nanos(1)),
            ("1.5s", ms(1500)),
            ("1m30s", Duration::from_secs(90)),
            (".5ms", Duration::from_micros(500)),
            ("2.ms", ms(2)),
            ("100\u{b5}s", Duration::from_micros(100)),
            ("1s1ms1us1ns", Duration::from_nanos(1_001_001_001)),
        ] {
            assert_eq!(
                resolve_env(&[(ENV_TIME_SLICE, v)]).unwrap().time_slice,
                d,
                "{v}"
            );
        }
        for bad in [
            "",
            "10",
            "10 ms",
            "ms",
            "-1ms",
            "+1ms",
            "10MS",
            "0ms",
            "0",
            "99us",
            "3601s",
            "1h0m0.000000001s",
            ".s",
            "1.2.3s",
            "1e3ms",
            "1ms 1us",
            "99999999999999999999s",
        ] {
            assert_env_rejected(ENV_TIME_SLICE, bad);
        }
        let mut b = Builder::default();
        b.time_slice(ms(2));
        let c = resolve_in(&b, &[(ENV_TIME_SLICE, "garbage")]).unwrap();
        assert_eq!(
            c.time_slice,
            ms(2),
            "explicit wins, the variable is not read"
        );
        b.time_slice(Duration::ZERO);
        let err = resolve_in(&b, &[]).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::InvalidConfig {
                    setting: "Builder::time_slice",
                    ..
                }
            ),
            "{err}"
        );
    }
}
