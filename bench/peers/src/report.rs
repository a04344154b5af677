//! `peers report FILE`: turn the `runtime workload value unit` lines that
//! bench/run.sh collected (several rounds) into the comparison table.
//!
//! Per (runtime, workload) the value is the median over rounds. Every
//! workload is lower-is-better, so "best peer" is the smallest value among
//! Go, may and tokio. Lines whose value is `skip` or `fail` carry the reason
//! in the unit column. `cpu2_ratio` is derived here: per runtime and round,
//! `cpu2 / cpu2_w1` (the i-th value of one with the i-th of the other).

use std::collections::BTreeMap;

const RUNTIMES: [&str; 4] = ["bamboo", "go", "may", "tokio"];

/// One row of the table: a workload, its target (issue 11's, where it has
/// one) and whether bamboo-vs-peer ratios mean anything for it.
struct Row {
    workload: &'static str,
    target: &'static str,
    kind: Target,
    /// Print bamboo/Go, bamboo/may, ... (not for counts and ratios).
    ratios: bool,
}

const fn row(workload: &'static str, target: &'static str, kind: Target) -> Row {
    Row {
        workload,
        target,
        kind,
        ratios: true,
    }
}

const fn info(workload: &'static str, note: &'static str) -> Row {
    row(workload, note, Target::None)
}

const fn absolute(workload: &'static str, target: &'static str, limit: f64) -> Row {
    Row {
        workload,
        target,
        kind: Target::Absolute(limit),
        ratios: false,
    }
}

/// Rows in print order.
const ROWS: &[Row] = &[
    row("spawn_join", "bamboo/Go <= 0.5", Target::RatioGo(0.5)),
    info("spawn_join_w1", "(info: 1 worker)"),
    row("spawn_batch", "bamboo/Go <= 0.7", Target::RatioGo(0.7)),
    row("skynet", "bamboo/Go <= 0.7", Target::RatioGo(0.7)),
    row("sieve", "bamboo/Go <= 0.7", Target::RatioGo(0.7)),
    row("sieve_w1", "bamboo/Go <= 0.7", Target::RatioGo(0.7)),
    row("yield_w1", "bamboo/best <= 0.5", Target::RatioBest(0.5)),
    row("yield_w2", "bamboo/best <= 0.5", Target::RatioBest(0.5)),
    row("pingpong", "bamboo/best <= 0.5", Target::RatioBest(0.5)),
    info("pingpong_w1", "(info: 1 worker)"),
    info("deep_100k", "(info: 32-byte frames)"),
    info("deep_1m", "(info: 32-byte frames)"),
    row(
        "deep_1m_100b",
        "bamboo/Go <= 0.5, bamboo/may <= 1.2",
        Target::RatioGoAndMay(0.5, 1.2),
    ),
    Row {
        ratios: false,
        ..info("deep_1m_100b_frame", "(info: bytes per level)")
    },
    absolute("hot_split", "<= 12 ns", 12.0),
    info("parked_100k", "(target at 1M)"),
    Row {
        ratios: true,
        ..absolute("parked_1m", "<= 4.5 KB (4500 B)", 4500.0)
    },
    info("parked_100k_release", "(info: wake + finish all)"),
    row("parked_1m_release", "bamboo/Go <= 1", Target::RatioGo(1.0)),
    info("cpu2", "(info: 2 workers)"),
    info("cpu2_w1", "(info: 1 worker)"),
    absolute("cpu2_ratio", "<= 0.6 (2 workers / 1)", 0.6),
    info("cpu64", "(info: 64 in a burst)"),
    absolute("cpu64_share", "<= 1.5 (busiest / average)", 1.5),
    info("metrics_read", ""),
    row(
        "metrics_per_metric",
        "bamboo/Go <= 0.25",
        Target::RatioGo(0.25),
    ),
    Row {
        ratios: false,
        ..info("metrics_count", "")
    },
];

#[derive(Clone, Copy, PartialEq)]
enum Target {
    RatioGo(f64),
    RatioBest(f64),
    /// bamboo/Go and bamboo/may both within their limits.
    RatioGoAndMay(f64, f64),
    Absolute(f64),
    None,
}

#[derive(Default)]
struct Cell {
    values: Vec<f64>,
    unit: String,
    note: Option<String>,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn fmt_value(v: f64) -> String {
    if v >= 100.0 {
        format!("{:.0}", v)
    } else if v >= 10.0 {
        format!("{:.1}", v)
    } else {
        format!("{:.2}", v)
    }
}

fn fmt_note(note: &str) -> String {
    if let Some(n) = note.strip_prefix("fail at_") {
        match n.parse::<f64>() {
            Ok(n) => format!("failed at ~{:.1}k", n / 1000.0),
            Err(_) => format!("failed ({n})"),
        }
    } else if let Some(r) = note.strip_prefix("skip ") {
        format!("skip ({})", r.replace('_', " "))
    } else {
        note.replace('_', " ")
    }
}

/// `cpu2_ratio` per runtime: `cpu2 / cpu2_w1`, round by round (the i-th
/// value of each; rounds where one of them is missing pair nothing).
fn derive_cpu2_ratio(cells: &mut BTreeMap<(String, String), Cell>) {
    for rt in RUNTIMES {
        let get = |w: &str| cells.get(&(rt.to_string(), w.to_string()));
        let (Some(w2), Some(w1)) = (get("cpu2"), get("cpu2_w1")) else {
            continue;
        };
        let values: Vec<f64> = w2
            .values
            .iter()
            .zip(&w1.values)
            .filter(|(_, b)| **b > 0.0)
            .map(|(a, b)| a / b)
            .collect();
        let note = w2.note.clone().or_else(|| w1.note.clone());
        cells.insert(
            (rt.to_string(), "cpu2_ratio".to_string()),
            Cell {
                values,
                unit: "w2/w1".into(),
                note,
            },
        );
    }
}

pub fn main(path: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut cells: BTreeMap<(String, String), Cell> = BTreeMap::new();
    let mut go_missing = false;
    for line in text.lines() {
        if line.trim() == "go-not-installed" {
            go_missing = true;
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 || !RUNTIMES.contains(&f[0]) {
            continue;
        }
        let c = cells
            .entry((f[0].to_string(), f[1].to_string()))
            .or_default();
        match f[2].parse::<f64>() {
            Ok(v) => {
                c.values.push(v);
                c.unit = f[3].to_string();
            }
            Err(_) => c.note = Some(format!("{} {}", f[2], f[3..].join(" "))),
        }
    }

    derive_cpu2_ratio(&mut cells);

    let value = |rt: &str, w: &str| -> Option<f64> {
        cells
            .get(&(rt.to_string(), w.to_string()))
            .and_then(|c| median(c.values.clone()))
    };
    let shown = |rt: &str, w: &str| -> String {
        if rt == "go" && go_missing {
            return "skipped".into();
        }
        match cells.get(&(rt.to_string(), w.to_string())) {
            None => "-".into(),
            Some(c) => match median(c.values.clone()) {
                Some(v) => fmt_value(v),
                None => match c.note.as_deref() {
                    Some(n) if n.starts_with("skip") => "skip".into(),
                    Some(n) => fmt_note(n),
                    None => "-".into(),
                },
            },
        }
    };

    let range = |rt: &str, w: &str| -> String {
        match cells.get(&(rt.to_string(), w.to_string())) {
            Some(c) if c.values.len() > 1 => {
                let lo = c.values.iter().cloned().fold(f64::INFINITY, f64::min);
                let hi = c.values.iter().cloned().fold(0.0, f64::max);
                format!("{}..{}", fmt_value(lo), fmt_value(hi))
            }
            _ => String::new(),
        }
    };
    if go_missing {
        println!("skipped: go not installed (bench/install-peers.sh)");
        println!();
    }
    let header = [
        "workload",
        "unit",
        "bamboo",
        "bamboo min..max",
        "Go",
        "may",
        "tokio",
        "bamboo/Go",
        "bamboo/may",
        "bamboo/tokio",
        "bamboo/best",
        "target",
        "met",
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    for r in ROWS {
        let w = r.workload;
        if !RUNTIMES
            .iter()
            .any(|rt| cells.contains_key(&(rt.to_string(), w.to_string())))
        {
            continue;
        }
        let unit = RUNTIMES
            .iter()
            .filter_map(|rt| cells.get(&(rt.to_string(), w.to_string())))
            .map(|c| c.unit.clone())
            .find(|u| !u.is_empty())
            .unwrap_or_default();
        let b = value("bamboo", w);
        let g = if go_missing { None } else { value("go", w) };
        let m = value("may", w);
        let best = ["go", "may", "tokio"]
            .iter()
            .filter(|rt| !(go_missing && **rt == "go"))
            .filter_map(|rt| value(rt, w))
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))));
        let ratio = |o: Option<f64>| match (b, o) {
            (Some(b), Some(o)) if o > 0.0 && r.ratios => format!("{:.2}", b / o),
            _ => "-".into(),
        };
        let met = match (r.kind, b) {
            (Target::RatioGo(l), Some(b)) => g.map(|g| b / g <= l),
            (Target::RatioBest(l), Some(b)) => best.map(|p| b / p <= l),
            (Target::RatioGoAndMay(lg, lm), Some(b)) => match (g, m) {
                (Some(g), Some(m)) => Some(b / g <= lg && b / m <= lm),
                _ => None,
            },
            (Target::Absolute(l), Some(b)) => Some(b <= l),
            _ => None,
        };
        rows.push(vec![
            w.into(),
            unit,
            shown("bamboo", w),
            range("bamboo", w),
            shown("go", w),
            shown("may", w),
            shown("tokio", w),
            ratio(g),
            ratio(m),
            ratio(value("tokio", w)),
            ratio(best),
            r.target.into(),
            match met {
                Some(true) => "yes".into(),
                Some(false) => "NO".into(),
                None => "".into(),
            },
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap()
        })
        .collect();
    let line = |cols: Vec<String>| {
        let s: Vec<String> = cols
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}", w = *w))
            .collect();
        println!("| {} |", s.join(" | "));
    };
    line(header.iter().map(|s| s.to_string()).collect());
    line(widths.iter().map(|w| "-".repeat(*w)).collect());
    for r in rows {
        line(r);
    }
    let mut skips: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for ((rt, w), c) in &cells {
        if let (true, Some(n)) = (c.values.is_empty(), c.note.as_deref()) {
            if let Some(r) = n.strip_prefix("skip ") {
                skips
                    .entry(r.replace('_', " "))
                    .or_default()
                    .push(format!("{rt} {w}"));
            }
        }
    }
    if !skips.is_empty() {
        println!();
        for (why, who) in skips {
            println!("skip: {} ({why})", who.join(", "));
        }
    }
    let n_rounds = cells
        .iter()
        .filter(|((rt, _), _)| rt == "bamboo")
        .map(|(_, c)| c.values.len())
        .max()
        .unwrap_or(0);
    println!();
    println!(
        "median of {n_rounds} round(s) per cell (bamboo min..max: the spread over rounds), each the mean of 3 timed batches in one process (after a warm-up batch); \
         lower is better everywhere; best = fastest of Go/may/tokio; \
         cpu2_ratio = cpu2 / cpu2_w1 per round"
    );
}
