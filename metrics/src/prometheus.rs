//! Prometheus text exposition format (version 0.0.4) for samples read by
//! [`crate::read`] or [`crate::read_consistent`].
//!
//! Naming follows Go's client_golang runtime-metrics collector:
//! `bamboo_` + the path with `/` and `-` turned into `_` + `_` + the unit,
//! and `_total` for cumulative counters:
//!
//! | metric | Prometheus name | TYPE |
//! |---|---|---|
//! | `/memory/classes/stacks/inuse:bytes` | `bamboo_memory_classes_stacks_inuse_bytes` | gauge |
//! | `/stack/grows:events` | `bamboo_stack_grows_events_total` | counter |
//! | `/sched/latencies:seconds` | `bamboo_sched_latencies_seconds` (`_bucket`, `_sum`, `_count`) | histogram |
//!
//! Histogram buckets are cumulative, labelled by their upper edge, and end
//! with `le="+Inf"`, whose count equals `_count`. The `_sum` of
//! `/sched/latencies:seconds` is the value of `/sched/latencies/sum:seconds`
//! when that sample is in the slice (it comes from the same snapshot);
//! otherwise it is estimated from the buckets (midpoint of each finite
//! bucket, lower edge of an unbounded one).
//!
//! [`serve`] serves this text at `GET /metrics` from a coroutine of the
//! runtime itself.
//!
//! Samples with [`Value::Bad`], unknown names, or a name already encoded
//! earlier in the slice are skipped.

use std::fmt::Write as _;

pub use crate::serve::serve;

use crate::{describe, Description, Histogram, Sample, Value};

/// Histograms whose `_sum` is another metric of the table.
const SUMS: &[(&str, &str)] = &[("/sched/latencies:seconds", "/sched/latencies/sum:seconds")];

/// The Prometheus name of a metric (`None` when `name` is not `/path:unit`).
/// Cumulative `Uint64`/`Float64` metrics (counters) get `_total`.
///
/// ```
/// use bamboo_metrics::{describe, prometheus::metric_name};
/// let d = describe("/stack/grows:events").unwrap();
/// assert_eq!(metric_name(d).as_deref(), Some("bamboo_stack_grows_events_total"));
/// ```
pub fn metric_name(d: &Description) -> Option<String> {
    let mut out = String::with_capacity(d.name.len() + 16);
    push_name(&mut out, d)?;
    Some(out)
}

fn push_name(out: &mut String, d: &Description) -> Option<()> {
    let (path, unit) = d.name.split_once(':')?;
    let path = path.strip_prefix('/')?;
    if path.is_empty() || unit.is_empty() {
        return None;
    }
    out.push_str("bamboo_");
    for ch in path.chars().chain(std::iter::once('_')).chain(unit.chars()) {
        out.push(match ch {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' => ch,
            _ => '_',
        });
    }
    if is_counter(d) {
        out.push_str("_total");
    }
    Some(())
}

fn is_counter(d: &Description) -> bool {
    d.cumulative && matches!(d.kind, crate::Kind::Uint64 | crate::Kind::Float64)
}

/// Encode `samples` in the Prometheus text format: one `# HELP`, one
/// `# TYPE` and the series of each metric.
///
/// ```
/// use bamboo_metrics::{prometheus, Sample, Value};
/// let s = Sample { name: "/sched/workers:threads".into(), value: Value::Uint64(2) };
/// let text = prometheus::encode(&[s]);
/// assert!(text.contains("# TYPE bamboo_sched_workers_threads gauge\n"));
/// assert!(text.ends_with("bamboo_sched_workers_threads 2\n"));
/// ```
pub fn encode(samples: &[Sample]) -> String {
    let mut out = String::with_capacity(samples.len() * 256);
    encode_into(samples, &mut out);
    out
}

/// Like [`encode`], appending to `out`.
pub fn encode_into(samples: &[Sample], out: &mut String) {
    for (i, s) in samples.iter().enumerate() {
        if matches!(s.value, Value::Bad) {
            continue;
        }
        let Some(d) = describe(&s.name) else {
            continue;
        };
        if samples[..i].iter().any(|p| p.name == s.name) {
            continue;
        }
        let mut name = String::new();
        if push_name(&mut name, d).is_none() {
            continue;
        }
        let _ = write!(out, "# HELP {name} ");
        push_help(out, d.description);
        out.push('\n');
        match &s.value {
            Value::Uint64(v) => {
                let t = if is_counter(d) { "counter" } else { "gauge" };
                let _ = writeln!(out, "# TYPE {name} {t}\n{name} {v}");
            }
            Value::Float64(v) => {
                let t = if is_counter(d) { "counter" } else { "gauge" };
                let _ = write!(out, "# TYPE {name} {t}\n{name} ");
                push_float(out, *v);
                out.push('\n');
            }
            Value::Float64Histogram(h) => {
                let sum = SUMS
                    .iter()
                    .find(|(hist, _)| *hist == s.name)
                    .and_then(|(_, sum)| samples.iter().find(|p| p.name == *sum))
                    .and_then(|p| p.value.as_f64())
                    .unwrap_or_else(|| estimate_sum(h));
                let _ = writeln!(out, "# TYPE {name} histogram");
                push_histogram(out, &name, h, sum);
            }
            Value::Bad => unreachable!("skipped above"),
        }
    }
}

fn push_histogram(out: &mut String, name: &str, h: &Histogram, sum: f64) {
    let mut cum: u64 = 0;
    let mut inf_done = false;
    for (i, c) in h.counts.iter().enumerate() {
        cum = cum.saturating_add(*c);
        let le = h.buckets.get(i + 1).copied().unwrap_or(f64::INFINITY);
        if le.is_infinite() && le > 0.0 {
            if i + 1 < h.counts.len() {
                // +Inf before the last count: malformed; fold the rest in.
                continue;
            }
            inf_done = true;
        }
        let _ = write!(out, "{name}_bucket{{le=\"");
        push_float(out, le);
        let _ = writeln!(out, "\"}} {cum}");
    }
    if !inf_done {
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cum}");
    }
    let _ = write!(out, "{name}_sum ");
    push_float(out, sum);
    let _ = writeln!(out, "\n{name}_count {cum}");
}

/// Midpoint of each finite bucket, the finite edge of a half-open one.
fn estimate_sum(h: &Histogram) -> f64 {
    let mut sum = 0.0;
    for (i, c) in h.counts.iter().enumerate() {
        if *c == 0 {
            continue;
        }
        let lo = h.buckets.get(i).copied().unwrap_or(0.0);
        let hi = h.buckets.get(i + 1).copied().unwrap_or(f64::INFINITY);
        let x = match (lo.is_finite(), hi.is_finite()) {
            (true, true) => (lo + hi) / 2.0,
            (true, false) => lo,
            (false, true) => hi,
            (false, false) => 0.0,
        };
        sum += x * *c as f64;
    }
    sum
}

fn push_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v != 0.0 && !(1e-4..1e15).contains(&v.abs()) {
        // Exponent form for tiny and huge values (Go's strconv 'g' style).
        let _ = write!(out, "{v:e}");
    } else {
        let _ = write!(out, "{v}");
    }
}

/// HELP text escaping: backslash and line feed.
fn push_help(out: &mut String, text: &str) {
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            _ => out.push(ch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{all, Kind};

    #[test]
    fn names() {
        let d = describe("/memory/classes/stacks/inuse:bytes").unwrap();
        assert_eq!(
            metric_name(d).unwrap(),
            "bamboo_memory_classes_stacks_inuse_bytes"
        );
        let d = describe("/stack/grows:events").unwrap();
        assert_eq!(metric_name(d).unwrap(), "bamboo_stack_grows_events_total");
        let d = describe("/memory/classes/os-stacks:bytes").unwrap();
        assert_eq!(
            metric_name(d).unwrap(),
            "bamboo_memory_classes_os_stacks_bytes"
        );
        let d = describe("/sched/latencies:seconds").unwrap();
        assert_eq!(metric_name(d).unwrap(), "bamboo_sched_latencies_seconds");
        // Every name maps, and no two collide.
        let mut names: Vec<String> = all().iter().map(|d| metric_name(d).unwrap()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all().len());
        assert!(all()
            .iter()
            .filter(|d| d.kind == Kind::Float64Histogram)
            .all(|d| !metric_name(d).unwrap().ends_with("_total")));
    }

    #[test]
    fn histogram_encoding() {
        let samples = [Sample {
            name: "/sched/latencies:seconds".into(),
            value: Value::Float64Histogram(Histogram {
                counts: vec![1, 2, 3],
                buckets: vec![0.0, 1.0, 2.0, f64::INFINITY],
            }),
        }];
        let text = encode(&samples);
        let want = "\
bamboo_sched_latencies_seconds_bucket{le=\"1\"} 1
bamboo_sched_latencies_seconds_bucket{le=\"2\"} 3
bamboo_sched_latencies_seconds_bucket{le=\"+Inf\"} 6
bamboo_sched_latencies_seconds_sum 9.5
bamboo_sched_latencies_seconds_count 6
";
        assert!(text.ends_with(want), "{text}");
        assert!(text.contains("# TYPE bamboo_sched_latencies_seconds histogram\n"));
    }

    #[test]
    fn bad_and_unknown_are_skipped() {
        let samples = [
            Sample::new("/stack/grows:events"),
            Sample {
                name: "/nope:bytes".into(),
                value: Value::Uint64(1),
            },
        ];
        assert_eq!(encode(&samples), "");
    }
}
