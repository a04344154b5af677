//! Unit tests of the soak's sampling and verdicts.

use super::*;

const MIB: u64 = 1 << 20;

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

/// A saw-tooth with the same peaks and troughs in every 10 s, shaped
/// like `mixed --stack-move`: stack bytes in use 44 MiB..2 GiB within
/// each second, RSS 700 MiB..1 GiB, 3 GiB mapped.
fn flat(t: f64) -> SoakSample {
    let k = t as u64 % 5;
    SoakSample {
        t,
        rss: 900 * MIB + k * 40 * MIB,
        rss_min: 700 * MIB + k * 10 * MIB,
        stack_mapped: 3 << 30,
        stack_inuse: 1200 * MIB + k * 200 * MIB,
        stack_inuse_min: 44 * MIB + k * 8 * MIB,
        fds: 10 + k,
        maps: 69 + k % 2,
    }
}

#[test]
fn windows_of_the_60_s_and_1_h_soaks() {
    let c = cfg();
    assert_eq!(c.warmup, Duration::from_secs(20));
    assert_eq!(c.window, Duration::from_secs(10));
    assert_eq!(c.sub_every, Duration::from_millis(10));
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
    let names: Vec<_> = r.series.iter().map(|v| v.bound.series).collect();
    assert_eq!(names, ["rss", "stack_inuse", "fds", "maps"]);
    assert_eq!(r.series[1].baseline, 44 * MIB, "the floor of 20-30 s");
    assert!(r.text().contains("ok"));
}

/// What failed a CI run ("stack_mapped grew: max 4.0 GiB in the last
/// 10 s > 3.3 GiB"): a burst in the last window maps the next 1 GiB
/// chunk and lifts the peaks of stack bytes in use and RSS, but not
/// their troughs. Not a leak: it passes.
#[test]
fn a_burst_that_maps_a_chunk_passes() {
    let burst = run(|t| {
        let mut s = flat(t);
        if t >= 55.0 {
            s.stack_mapped = 4 << 30;
        }
        if t == 55.0 {
            s.stack_inuse = 3 << 30;
            s.rss = 1600 * MIB;
            s.rss_min = 1000 * MIB;
            s.stack_inuse_min = 900 * MIB;
            s.maps += 1;
        }
        s
    });
    let r = verdict(&cfg(), &burst, 12, 12);
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert!(r.text().contains("4.0 GiB at the end"), "{}", r.text());
}

#[test]
fn growth_in_any_series_fails() {
    // Leaks after the warm-up, per second: 30 MiB of heap (RSS: its
    // floor is held to the baseline's peak, 360 MiB above it here),
    // two 2 MiB segments kept in use, 2 descriptors, 4 mappings. By the
    // last window: 900 MiB, 120 MiB, 60, 120 more than at 20 s.
    for series in ["rss", "stack_inuse", "fds", "maps"] {
        let leaky = run(|t| {
            let mut s = flat(t);
            let k = (t - 20.0).max(0.0) as u64;
            match series {
                "rss" => {
                    s.rss += 30 * k * MIB;
                    s.rss_min += 30 * k * MIB;
                }
                "stack_inuse" => {
                    s.stack_inuse += 4 * k * MIB;
                    s.stack_inuse_min += 4 * k * MIB;
                    // The pool maps a chunk for them at some point.
                    s.stack_mapped += (k / 25) << 30;
                }
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
    // The floor is judged, not a peak: the message says so.
    let leaky = run(|t| {
        let mut s = flat(t);
        s.stack_inuse_min += ((t - 20.0).max(0.0) as u64) * 4 * MIB;
        s
    });
    let r = verdict(&cfg(), &leaky, 12, 12);
    assert!(
        r.failures[0].starts_with("soak: stack_inuse grew: floor 164.0 MiB in the last 10 s > 112.4 MiB = floor 44.0 MiB in 20-30 s"),
        "{:?}",
        r.failures
    );
    // RSS: the last window's floor against the baseline's peak.
    let leaky = run(|t| {
        let mut s = flat(t);
        s.rss_min += ((t - 20.0).max(0.0) as u64) * 20 * MIB;
        s
    });
    let r = verdict(&cfg(), &leaky, 12, 12);
    assert!(
        r.failures[0].starts_with(
            "soak: rss grew: floor 1.3 GiB in the last 10 s > 1.2 GiB = peak 1.0 GiB in 20-30 s"
        ),
        "{:?}",
        r.failures
    );
    assert!(r.text().contains("rss (floor/peak)"), "{}", r.text());
}

#[test]
fn a_growth_inside_the_warmup_is_ignored() {
    let r = verdict(
        &cfg(),
        &run(|t| {
            let mut s = flat(t);
            s.rss += (t.min(20.0) as u64) << 24;
            s.rss_min += (t.min(20.0) as u64) << 24;
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
    // Other tests of this binary run on other threads and open and
    // close descriptors meanwhile (the plot test writes a file): one
    // quiet attempt of a few is enough; a count that does not follow
    // this open fails every one of them.
    let seen: Vec<(u64, u64)> = (0..20)
        .map(|_| {
            let before = open_fds();
            let f = std::fs::File::open("/proc/self/status").expect("open");
            let during = open_fds();
            drop(f);
            (before, during)
        })
        .collect();
    assert!(
        seen.iter().any(|&(b, d)| d == b + 1),
        "open_fds never rose by one over an open: {seen:?}"
    );
    assert!(mappings() > 0);
}
