//! Parsers for the command line's value types: durations (`500ms`, `10s`,
//! `2m`, `1m30s`) and sizes in bytes (`65536`, `64k`, `1m`), both with the
//! runtime's grammars (`bamboo::parse_duration`, `bamboo::parse_size`).
//!
//! Both return an error text that says what was expected; clap prints it
//! after naming the option and the rejected value.

use std::time::Duration;

/// Parses a duration with the runtime's own grammar (`BAMBOO_TIME_SLICE`:
/// Go's `time.ParseDuration`, unsigned: `500ms`, `10s`, `1.5s`, `2m`,
/// `1m30s`, `1h`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    bamboo::parse_duration(s)
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
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in [
            "",
            "10",
            "10x",
            "s",
            "ten seconds",
            "1..2s",
            "-1s",
            "1m 30s",
            "2min",
        ] {
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
