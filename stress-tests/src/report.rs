//! The end of a run, for people and for machines: the metrics table, the
//! run's figures, the verdict ([`text`]) and the `--json` summary
//! ([`Summary`]).

use std::fmt::Write as _;
use std::time::Duration;

use bamboo_metrics::Value;

use crate::runner::RunResult;

/// The machine-readable summary printed by `--json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// True when every check held (the exit code is 0 exactly then).
    pub ok: bool,
    /// Why the run failed (empty when `ok`).
    pub failures: Vec<String>,
    /// The workload's name.
    pub workload: String,
    /// Worker threads.
    pub workers: usize,
    /// First-segment usable bytes.
    pub segment_size: usize,
    /// Forced stack moves on.
    pub stack_move: bool,
    /// Stack poisoning on.
    pub stack_poison: bool,
    /// Configured duration in seconds.
    pub duration_secs: f64,
    /// Measured run time in seconds.
    pub elapsed_secs: f64,
    /// The figures of the run.
    pub figures: Figures,
    /// Rounds completed per workload.
    pub rounds: Vec<(String, u64)>,
    /// Every Uint64 and Float64 metric of the final `read_consistent`.
    pub metrics: Vec<MetricRow>,
    /// The chaos driver's counters (`--chaos` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chaos: Option<crate::chaos::ChaosSnapshot>,
    /// The soak's verdict (`--soak` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soak: Option<crate::soak::SoakReport>,
}

/// The run's figures.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Figures {
    /// Workload coroutines joined.
    pub coroutines_done: u64,
    /// Of those, per second.
    pub coroutines_per_sec: f64,
    /// `/stack/grows:events` at the end.
    pub grows: u64,
    /// Of those, per second.
    pub grows_per_sec: f64,
    /// `/stack/grows/forced:events` at the end.
    pub forced_grows: u64,
    /// Largest stack bytes in use seen by the monitor.
    pub peak_stack_inuse_bytes: u64,
    /// Largest live coroutine count seen by the monitor.
    pub peak_coroutines: u64,
    /// `read_consistent` calls.
    pub read_consistent_calls: u64,
    /// Median call latency in microseconds.
    pub read_consistent_p50_us: f64,
    /// 99th percentile call latency in microseconds.
    pub read_consistent_p99_us: f64,
    /// Slowest call in microseconds.
    pub read_consistent_max_us: f64,
    /// Broken `read_consistent` equalities (must be 0).
    pub mismatches: u64,
    /// Wrong workload results plus broken metric invariants (must be 0).
    pub failed_checks: u64,
    /// Results verified by the workloads.
    pub checks: u64,
    /// Panicked workload coroutines (must be 0).
    pub panics: u64,
}

/// One metric of the table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MetricRow {
    /// The metric's name.
    pub name: String,
    /// Its value (integer for Uint64 metrics).
    pub value: serde_json::Value,
}

/// The figures of `r`.
pub fn figures(r: &RunResult) -> Figures {
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    let mut f = Figures {
        coroutines_done: r.stats.coroutines_done,
        coroutines_per_sec: r.stats.coroutines_done as f64 / secs,
        checks: r.stats.checks,
        failed_checks: r.stats.failed_checks,
        panics: r.stats.panics,
        ..Figures::default()
    };
    if let Some(m) = &r.monitor {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        f.grows = m.final_mem.grows;
        f.grows_per_sec = m.final_mem.grows as f64 / secs;
        f.forced_grows = m.final_mem.forced_grows;
        f.peak_stack_inuse_bytes = m.peak_stack_inuse;
        f.peak_coroutines = m.peak_coroutines;
        f.read_consistent_calls = m.calls;
        f.read_consistent_p50_us = us(m.latency_quantile(0.50));
        f.read_consistent_p99_us = us(m.latency_quantile(0.99));
        f.read_consistent_max_us = us(m.latency_quantile(1.0));
        f.mismatches = m.mismatches;
        f.failed_checks += m.failed_checks;
    }
    f
}

/// Every Uint64 and Float64 metric of the final read, in `all()` order.
pub fn metric_rows(r: &RunResult) -> Vec<MetricRow> {
    let Some(m) = &r.monitor else {
        return Vec::new();
    };
    m.final_samples
        .iter()
        .filter_map(|s| {
            let value = match &s.value {
                Value::Uint64(v) => serde_json::Value::from(*v),
                Value::Float64(v) => serde_json::Value::from(*v),
                _ => return None,
            };
            Some(MetricRow {
                name: s.name.to_string(),
                value,
            })
        })
        .collect()
}

/// The `--json` summary of `r`.
pub fn summary(r: &RunResult) -> Summary {
    let failures = r.failures();
    Summary {
        ok: failures.is_empty(),
        failures,
        workload: r.config.workload.name().to_string(),
        workers: r.workers,
        segment_size: r.segment_size,
        stack_move: r.stack_move,
        stack_poison: r.stack_poison,
        duration_secs: r.config.duration.as_secs_f64(),
        elapsed_secs: r.elapsed.as_secs_f64(),
        figures: figures(r),
        rounds: r.stats.rounds.clone(),
        metrics: metric_rows(r),
        chaos: r.chaos.clone(),
        soak: r.soak.clone(),
    }
}

/// `1234567` -> `1,234,567`.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in binary units: `1.5 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A readable rendering of a metric's value from its unit.
fn readable(name: &str, v: &serde_json::Value) -> String {
    if let Some(n) = v.as_u64() {
        if name.ends_with(":bytes") && n >= 1024 {
            return bytes(n);
        }
        return String::new();
    }
    match v.as_f64() {
        Some(s) if name.ends_with(":seconds") => format!("{:.3} ms", s * 1e3),
        _ => String::new(),
    }
}

/// The human-readable report: metrics table, figures, verdict.
pub fn text(r: &RunResult) -> String {
    let mut o = String::new();
    let rows = metric_rows(r);
    let width = rows.iter().map(|m| m.name.len()).max().unwrap_or(20);
    let _ = writeln!(o, "\nMetrics at the end (final read_consistent):");
    let _ = writeln!(o, "  {:<width$}  {:>20}", "metric", "value");
    for m in &rows {
        let v = match m.value.as_u64() {
            Some(n) => group(n),
            None => format!("{:.6}", m.value.as_f64().unwrap_or(f64::NAN)),
        };
        let _ = writeln!(
            o,
            "  {:<width$}  {:>20}  {}",
            m.name,
            v,
            readable(&m.name, &m.value)
        );
    }
    if rows.is_empty() {
        let _ = writeln!(o, "  (no final read: the monitor did not return)");
    }

    let f = figures(r);
    let c = &r.config;
    let mode = match (r.stack_move, r.stack_poison) {
        (true, true) => "forced stack moves + stack poison",
        (true, false) => "forced stack moves",
        (false, true) => "stack poison",
        (false, false) => "normal",
    };
    let _ = writeln!(o, "\nRun:");
    let mut line = |k: &str, v: String| {
        let _ = writeln!(o, "  {k:<28} {v}");
    };
    line("workload", format!("{} ({mode})", c.workload));
    line(
        "workers / first segment",
        format!("{} / {}", r.workers, bytes(r.segment_size as u64)),
    );
    line(
        "elapsed",
        format!(
            "{:.2} s (asked {:.2} s)",
            r.elapsed.as_secs_f64(),
            c.duration.as_secs_f64()
        ),
    );
    let rounds: Vec<String> = r
        .stats
        .rounds
        .iter()
        .map(|(n, k)| format!("{n} {}", group(*k)))
        .collect();
    line("rounds", rounds.join(", "));
    line(
        "coroutines done",
        format!(
            "{} ({:.0}/s)",
            group(f.coroutines_done),
            f.coroutines_per_sec
        ),
    );
    line(
        "stack grows",
        format!(
            "{} ({:.0}/s; {} forced)",
            group(f.grows),
            f.grows_per_sec,
            group(f.forced_grows)
        ),
    );
    line(
        "peak stack in use",
        format!(
            "{} ({} bytes)",
            bytes(f.peak_stack_inuse_bytes),
            group(f.peak_stack_inuse_bytes)
        ),
    );
    line("peak coroutines live", group(f.peak_coroutines));
    line(
        "read_consistent calls",
        format!(
            "{} (p50 {:.1} us, p99 {:.1} us, max {:.1} us)",
            group(f.read_consistent_calls),
            f.read_consistent_p50_us,
            f.read_consistent_p99_us,
            f.read_consistent_max_us
        ),
    );
    line("results checked", group(f.checks));
    line("mismatches", group(f.mismatches));
    line("failed checks", group(f.failed_checks));
    line("panics", group(f.panics));
    if let Some(c) = &r.chaos {
        line(
            "chaos",
            format!(
                "seed {}: {} rounds, {} coroutines: {} completed ({} despite a cancel), {} planned panics, {} cancelled, {} channel ends dropped mid-operation, {} handles dropped",
                c.seed,
                group(c.rounds),
                group(c.spawned),
                group(c.completed),
                group(c.cancel_lost_race),
                group(c.panicked),
                group(c.cancelled),
                group(c.peers_dropped),
                group(c.detached)
            ),
        );
        line(
            "chaos destructors",
            format!(
                "{} guards created, {} dropped{}",
                group(c.guards_created),
                group(c.guards_dropped),
                if c.leaked() == 0 { "" } else { " (LEAK)" }
            ),
        );
    }
    if let Some(s) = &r.soak {
        o.push_str(&s.text());
    }

    let failures = r.failures();
    if failures.is_empty() {
        let _ = writeln!(
            o,
            "\nPASS: every check held ({} results verified, {} read_consistent calls with 0 mismatches).",
            group(f.checks),
            group(f.read_consistent_calls)
        );
    } else {
        let _ = writeln!(o, "\nFAIL:");
        for why in failures {
            let _ = writeln!(o, "  - {why}");
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
    }
}
