//! Unit tests of the configuration: the grammars, the ranges, the
//! precedence of builder, environment and defaults.

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
    let (w, s, m): (Set, Set, Set) = (Builder::workers, Builder::segment_size, Builder::max_stack);
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
