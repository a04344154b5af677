//! `peers report FILE`: turn the `runtime workload value unit` lines that
//! bench/run.sh collected (several rounds) into the comparison table.
//!
//! Per (runtime, workload) the value is the median over rounds. Every
//! workload is lower-is-better, so "best peer" is the smallest value among
//! Go, may and tokio. Lines whose value is `skip` or `fail` carry the reason
//! in the unit column.

use std::collections::BTreeMap;

const RUNTIMES: [&str; 4] = ["bamboo", "go", "may", "tokio"];

/// Rows in print order: (workload, target description, kind of target, limit,
/// reference figure of Go 1.22 measured earlier on this machine).
const ROWS: &[(&str, &str, Target, f64, &str)] = &[
    (
        "spawn_join",
        "bamboo/Go <= 0.5",
        Target::RatioGo,
        0.5,
        "204",
    ),
    ("spawn_join_w1", "(info: 1 worker)", Target::None, 0.0, ""),
    (
        "yield_w1",
        "bamboo/best <= 0.33",
        Target::RatioBest,
        0.33,
        "",
    ),
    (
        "yield_w2",
        "bamboo/best <= 0.33",
        Target::RatioBest,
        0.33,
        "47",
    ),
    (
        "pingpong",
        "bamboo/best <= 0.33",
        Target::RatioBest,
        0.33,
        "209",
    ),
    ("pingpong_w1", "(info: 1 worker)", Target::None, 0.0, ""),
    (
        "deep_100k",
        "bamboo/Go <= 0.33",
        Target::RatioGo,
        0.33,
        "66",
    ),
    ("deep_1m", "bamboo/Go <= 0.33", Target::RatioGo, 0.33, "66"),
    ("hot_split", "<= 12 ns", Target::Absolute, 12.0, ""),
    ("parked_100k", "(target at 1M)", Target::None, 0.0, "2.7K"),
    (
        "parked_1m",
        "<= 4.5 KiB (4608 B)",
        Target::Absolute,
        4608.0,
        "2.7K",
    ),
    (
        "parked_100k_release",
        "(info: wake + finish all)",
        Target::None,
        0.0,
        "",
    ),
    (
        "parked_1m_release",
        "(info: wake + finish all)",
        Target::None,
        0.0,
        "",
    ),
    ("metrics_read", "", Target::None, 0.0, "2300"),
    (
        "metrics_per_metric",
        "bamboo/Go <= 0.25",
        Target::RatioGo,
        0.25,
        "28",
    ),
    ("metrics_count", "", Target::None, 0.0, "82"),
];

#[derive(Clone, Copy, PartialEq)]
enum Target {
    RatioGo,
    RatioBest,
    Absolute,
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
        "bamboo/best",
        "bamboo/Go",
        "target",
        "met",
        "Go1.22 earlier",
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    for &(w, tdesc, kind, limit, reference) in ROWS {
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
        let best = ["go", "may", "tokio"]
            .iter()
            .filter(|rt| !(go_missing && **rt == "go"))
            .filter_map(|rt| value(rt, w))
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))));
        let counts = w == "metrics_count";
        let ratio = |o: Option<f64>| match (b, o) {
            (Some(b), Some(o)) if o > 0.0 && !counts => format!("{:.2}", b / o),
            _ => "-".into(),
        };
        let met = match (kind, b) {
            (Target::RatioGo, Some(b)) => g.map(|g| b / g <= limit),
            (Target::RatioBest, Some(b)) => best.map(|p| b / p <= limit),
            (Target::Absolute, Some(b)) => Some(b <= limit),
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
            ratio(best),
            ratio(g),
            tdesc.into(),
            match met {
                Some(true) => "yes".into(),
                Some(false) => "NO".into(),
                None => "".into(),
            },
            reference.into(),
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
        .get(&("bamboo".to_string(), "spawn_join".to_string()))
        .map_or(0, |c| c.values.len());
    println!();
    println!(
        "median of {n_rounds} round(s) per cell (bamboo min..max: the spread over rounds), each the mean of 3 timed batches in one process (after a warm-up batch); \
         lower is better everywhere; best = fastest of Go/may/tokio"
    );
}
