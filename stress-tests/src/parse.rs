//! Parsers for the command line's value types: durations (`500ms`, `10s`,
//! `2m`, `1m30s`) and sizes in bytes (`65536`, `64k`, `1m`).
//!
//! Both return an error text that says what was expected; clap prints it
//! after naming the option and the rejected value.

use std::time::Duration;

const DURATION_EXPECTED: &str =
    "expected a number with a unit (ms, s, m or h), e.g. 500ms, 10s, 2m, 1m30s";

/// Parses a humantime-like duration: one or more `<number><unit>` pairs,
/// units `ms`, `s`, `m`, `h` (also `sec`, `min`, `hour` and plurals); the
/// number may have a fractional part (`1.5s`). Whitespace between pairs is
/// allowed.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(DURATION_EXPECTED.to_string());
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_end);
        let value: f64 = num
            .parse()
            .map_err(|_| format!("bad number {num:?}; {DURATION_EXPECTED}"))?;
        let unit_end = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let scale = match unit.to_ascii_lowercase().as_str() {
            "ms" | "msec" | "millis" => 1e-3,
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hour" | "hours" => 3600.0,
            "" => return Err(format!("missing unit after {num:?}; {DURATION_EXPECTED}")),
            other => return Err(format!("unknown unit {other:?}; {DURATION_EXPECTED}")),
        };
        total += value * scale;
        rest = after.trim_start();
    }
    if !total.is_finite() || total > 1e9 {
        return Err(format!("duration too long; {DURATION_EXPECTED}"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Parses a size in bytes with the runtime's own grammar (`BAMBOO_SEGMENT`
/// and friends: digits, optional k/m/g suffix); zero is rejected.
pub fn parse_size(s: &str) -> Result<usize, String> {
    match bamboo::parse_size(s)? {
        0 => Err("must be positive".to_string()),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in ["", "10", "10x", "s", "ten seconds", "1..2s", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("16k"), Ok(16 << 10));
        assert_eq!(parse_size("16K"), Ok(16 << 10));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        for bad in ["", "k", "0", "12q", "-1", "99999999999999999999999"] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
    }
}
