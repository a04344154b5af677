//! Configuration: turns [`Builder`] settings, the `BAMBOO_*` environment
//! variables and the defaults into the validated [`Config`] a runtime starts
//! from. This module owns every default, every range check and the parsing of
//! every `BAMBOO_*` variable (the crate's only reader of them): the
//! grammars below are `parse.rs`'s, the unit tests `tests.rs`'s.
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

use std::time::Duration;

use crate::error::Error;

mod parse;
use parse::parse_digits;
pub use parse::{parse_duration, parse_size, DebugFlags};

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

fn check_time_slice(d: Duration) -> Result<Duration, String> {
    if (MIN_TIME_SLICE..=MAX_TIME_SLICE).contains(&d) {
        Ok(d)
    } else {
        Err(format!(
            "time slice must be in {MIN_TIME_SLICE:?}..={MAX_TIME_SLICE:?}"
        ))
    }
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
mod tests;
