//! `prometheus::encode` on real output: every sample has HELP and TYPE,
//! counters end in `_total`, histogram buckets are cumulative and end with
//! `le="+Inf"` equal to `_count`; and `promtool check metrics` accepts it
//! when promtool is installed (Debian package `prometheus`).

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use bamboo::Runtime;
use bamboo_metrics::prometheus::{encode, metric_name};
use bamboo_metrics::{all, all_samples, read_consistent, Kind, MemStats, Sample};
use common::Churn;

fn real_output() -> (Vec<Sample>, String) {
    let rt = Runtime::builder()
        .workers(2)
        .segment_size(common::CHURN_SEGMENT)
        .build()
        .unwrap();
    let h = rt.handle();
    let churn = Churn::start(&h);
    let hm = h.clone();
    let samples = rt.block_on(move || {
        let mut samples = all_samples();
        let mut mem = MemStats::default();
        for _ in 0..50 {
            read_consistent(&hm, &mut mem, &mut samples);
            bamboo::sleep(std::time::Duration::from_micros(200));
        }
        samples
    });
    churn.stop();
    let text = encode(&samples);
    (samples, text)
}

fn parse_value(v: &str) -> f64 {
    match v {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => v.parse().unwrap_or_else(|_| panic!("bad value {v:?}")),
    }
}

#[test]
fn encode_is_well_formed() {
    let (samples, text) = real_output();
    assert!(text.ends_with('\n'));
    let mut help = HashMap::new();
    let mut types = HashMap::new();
    let mut series: Vec<(String, Option<String>, f64)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, h) = rest.split_once(' ').unwrap();
            assert!(!h.is_empty());
            assert!(
                help.insert(name.to_string(), h.to_string()).is_none(),
                "two HELP for {name}"
            );
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, t) = rest.split_once(' ').unwrap();
            assert!(help.contains_key(name), "TYPE before HELP for {name}");
            assert!(types.insert(name.to_string(), t.to_string()).is_none());
        } else {
            assert!(!line.starts_with('#'), "{line}");
            let (lhs, v) = line.rsplit_once(' ').unwrap();
            let (name, label) = match lhs.split_once('{') {
                Some((n, l)) => (n.to_string(), Some(l.trim_end_matches('}').to_string())),
                None => (lhs.to_string(), None),
            };
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name}"
            );
            series.push((name, label, parse_value(v)));
        }
    }
    assert_eq!(help.len(), samples.len(), "one family per sample");
    for d in all() {
        let name = metric_name(d).unwrap();
        let t = types
            .get(&name)
            .unwrap_or_else(|| panic!("no TYPE for {name}"));
        match (d.kind, d.cumulative) {
            (Kind::Float64Histogram, _) => assert_eq!(t, "histogram", "{name}"),
            (_, true) => {
                assert_eq!(t, "counter", "{name}");
                assert!(name.ends_with("_total"), "{name}");
            }
            (_, false) => assert_eq!(t, "gauge", "{name}"),
        }
        if d.kind == Kind::Float64Histogram {
            let buckets: Vec<_> = series
                .iter()
                .filter(|(n, _, _)| *n == format!("{name}_bucket"))
                .collect();
            assert!(buckets.len() >= 2, "{name}");
            let mut prev_le = f64::NEG_INFINITY;
            let mut prev_count = 0.0;
            for (_, label, c) in &buckets {
                let le = label
                    .as_deref()
                    .and_then(|l| l.strip_prefix("le=\""))
                    .and_then(|l| l.strip_suffix('"'))
                    .map(parse_value)
                    .unwrap();
                assert!(le > prev_le, "{name}: le not increasing");
                assert!(*c >= prev_count, "{name}: buckets not cumulative");
                (prev_le, prev_count) = (le, *c);
            }
            assert_eq!(prev_le, f64::INFINITY, "{name}: last bucket is +Inf");
            let get = |suffix: &str| {
                series
                    .iter()
                    .find(|(n, _, _)| *n == format!("{name}{suffix}"))
                    .map(|s| s.2)
                    .unwrap_or_else(|| panic!("{name}{suffix} missing"))
            };
            assert_eq!(get("_count"), prev_count, "{name}: +Inf == _count");
            assert!(get("_sum") >= 0.0);
            assert!(prev_count > 0.0, "{name}: latencies were sampled");
        } else {
            let v: Vec<_> = series.iter().filter(|(n, _, _)| *n == name).collect();
            assert_eq!(v.len(), 1, "{name}: one series");
        }
    }
    // The sum of the latency histogram is the sum metric of the same read.
    let sum = samples
        .iter()
        .find(|s| s.name == "/sched/latencies/sum:seconds")
        .and_then(|s| s.value.as_f64())
        .unwrap();
    let encoded = text
        .lines()
        .find_map(|l| l.strip_prefix("bamboo_sched_latencies_seconds_sum "))
        .map(parse_value)
        .unwrap();
    assert_eq!(encoded, sum);
}

#[test]
fn promtool_accepts_the_output() {
    let (_, text) = real_output();
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("skipped: promtool not installed (apt-get install prometheus)");
            return;
        }
        Err(e) => panic!("running promtool: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let msg = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{msg}\n--- input:\n{text}"
    );
    assert!(msg.trim().is_empty(), "promtool lint findings:\n{msg}");
    println!(
        "promtool check metrics: ok ({} lines)",
        text.lines().count()
    );
}
