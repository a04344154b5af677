//! The value grammars of the configuration (see the table and the grammar
//! in the parent module's docs): sizes, durations, the `BAMBOO_DEBUG` knobs
//! and the digits they share. Pure functions of a string: ranges and
//! precedence are the parent module's.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::ENV_DEBUG;
use crate::error::Error;

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

/// Parses a non-empty run of ASCII digits; `None` on overflow.
pub(super) fn parse_digits(digits: &str) -> Option<usize> {
    digits.bytes().try_fold(0usize, |acc, b| {
        acc.checked_mul(10)?.checked_add(usize::from(b - b'0'))
    })
}
