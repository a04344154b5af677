//! The metric table itself: `all()` sorted, unique, well-named and
//! described; unknown names read as `Bad`; every kind as described; and
//! `docs/metrics.md` lists exactly the metrics of `all()`.
//!
//! `METRICS_PRINT_DOC_TABLE=1` prints the table docs/metrics.md should hold.

mod common;

use bamboo::Runtime;
use bamboo_metrics::{
    all, all_samples, describe, mem_stats_field, read, read_mem_stats, Kind, Sample, Value,
};

/// `^/[a-z0-9/_-]+:[a-z_-]+$`, with no empty path element.
fn well_formed(name: &str) -> bool {
    let Some((path, unit)) = name.split_once(':') else {
        return false;
    };
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    !rest.is_empty()
        && rest.split('/').all(|p| !p.is_empty())
        && rest
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"/_-".contains(&b))
        && !unit.is_empty()
        && unit
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b"_-".contains(&b))
}

#[test]
fn all_is_sorted_unique_and_described() {
    let a = all();
    assert!(a.len() >= 14, "{} metrics", a.len());
    for w in a.windows(2) {
        assert!(w[0].name < w[1].name, "{} before {}", w[0].name, w[1].name);
    }
    for d in a {
        assert!(well_formed(d.name), "bad name {:?}", d.name);
        assert!(
            !d.description.trim().is_empty(),
            "{} has no description",
            d.name
        );
        assert_ne!(d.kind, Kind::Bad, "{}", d.name);
        assert_eq!(describe(d.name), Some(d));
    }
}

#[test]
fn required_metrics_are_present() {
    let required = [
        ("/memory/classes/stacks/inuse:bytes", Kind::Uint64, false),
        ("/memory/classes/stacks/cached:bytes", Kind::Uint64, false),
        ("/memory/classes/stacks/released:bytes", Kind::Uint64, false),
        ("/memory/classes/os-stacks:bytes", Kind::Uint64, false),
        ("/memory/classes/total:bytes", Kind::Uint64, false),
        ("/stack/segments/inuse:segments", Kind::Uint64, false),
        ("/stack/grows:events", Kind::Uint64, true),
        ("/stack/grows/forced:events", Kind::Uint64, true),
        ("/sched/coroutines:coroutines", Kind::Uint64, false),
        ("/sched/coroutines/created:coroutines", Kind::Uint64, true),
        ("/sched/switches:switches", Kind::Uint64, true),
        ("/sched/workers:threads", Kind::Uint64, false),
        ("/sched/latencies:seconds", Kind::Float64Histogram, true),
        ("/stack/starting-size:bytes", Kind::Uint64, false),
    ];
    for (name, kind, cumulative) in required {
        let d = describe(name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!((d.kind, d.cumulative), (kind, cumulative), "{name}");
    }
    // The only /memory/classes/ metrics are the four classes and the total.
    let classes: Vec<_> = all()
        .iter()
        .filter(|d| d.name.starts_with("/memory/classes/"))
        .map(|d| d.name)
        .collect();
    assert_eq!(classes.len(), 5, "{classes:?}");
}

#[test]
fn unknown_names_read_as_bad_and_kinds_match() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let h = rt.handle();
    let mut s = all_samples();
    for bad in [
        "",
        "/nope:bytes",
        "/stack/grows",
        "stack/grows:events",
        "/STACK/GROWS:EVENTS",
    ] {
        s.push(Sample::new(bad));
    }
    // A stale value in an unknown sample is replaced by Bad.
    s.push(Sample {
        name: "/also/unknown:bytes".into(),
        value: Value::Uint64(7),
    });
    read(&h, &mut s);
    for x in &s {
        match describe(&x.name) {
            Some(d) => assert_eq!(x.value.kind(), d.kind, "{}", x.name),
            None => assert_eq!(x.value, Value::Bad, "{:?}", x.name),
        }
    }
    // A sample whose name changed from a histogram to an integer metric.
    let mut one = [Sample::new("/sched/latencies:seconds")];
    read(&h, &mut one);
    assert_eq!(one[0].value.kind(), Kind::Float64Histogram);
    one[0].name = "/sched/workers:threads".into();
    read(&h, &mut one);
    assert_eq!(one[0].value, Value::Uint64(2));
    // Reading nothing is fine.
    read(&h, &mut []);
    let mem = read_mem_stats(&h);
    assert_eq!(mem.workers, 2);
    assert_eq!(mem.starting_size as usize, h.segment_size());
    assert_eq!(mem.max_stack as usize, h.max_stack());
    assert_eq!(mem.os_stacks % 2, 0);
}

#[test]
fn mem_stats_fields_exist() {
    // Every field a metric names is a real field: its Debug output has it.
    let dbg = format!("{:?}", bamboo_metrics::MemStats::default());
    for d in all() {
        if let Some(f) = mem_stats_field(d.name) {
            assert!(dbg.contains(&format!("{f}: ")), "{} -> {f}", d.name);
        }
    }
}

fn kind_str(k: Kind) -> &'static str {
    match k {
        Kind::Uint64 => "Uint64",
        Kind::Float64 => "Float64",
        Kind::Float64Histogram => "Float64Histogram",
        Kind::Bad => "Bad",
    }
}

fn expected_row(d: &bamboo_metrics::Description) -> String {
    format!(
        "| `{}` | {} | {} | {} | {} |",
        d.name,
        kind_str(d.kind),
        if d.cumulative { "yes" } else { "no" },
        d.description,
        mem_stats_field(d.name)
            .map(|f| format!("`{f}`"))
            .unwrap_or_else(|| "—".into())
    )
}

/// The text of the section `## {heading}` of docs/metrics.md.
fn doc_section(heading: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md");
    let text = std::fs::read_to_string(path).expect("docs/metrics.md");
    let (_, section) = text
        .split_once(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("docs/metrics.md has no section \"## {heading}\""));
    section.split("\n## ").next().unwrap_or(section).to_string()
}

/// The tests' oracle (`common::REQUIRED_EQUALITIES`) is the table of
/// required equalities in docs/metrics.md, row for row.
#[test]
fn oracle_is_the_documented_table() {
    let section = doc_section("What `read_consistent` guarantees");
    let documented: Vec<(String, String)> = section
        .lines()
        .filter(|l| l.starts_with("| `/"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").collect();
            let name = cells[0].trim().trim_start_matches('`');
            let name = &name[..name.find('`').unwrap_or(name.len())];
            (
                name.to_string(),
                cells[1].trim().trim_matches('`').to_string(),
            )
        })
        .collect();
    let oracle: Vec<(String, String)> = common::REQUIRED_EQUALITIES
        .iter()
        .map(|(name, field, _)| (name.to_string(), field.to_string()))
        .collect();
    assert_eq!(documented, oracle);
}

#[test]
fn docs_list_every_metric() {
    if std::env::var_os("METRICS_PRINT_DOC_TABLE").is_some() {
        println!("| Name | Kind | Cumulative | Meaning | MemStats field |");
        println!("|---|---|---|---|---|");
        for d in all() {
            println!("{}", expected_row(d));
        }
    }
    // Rows of the metric table: lines starting with "| `/" in its section
    // (other sections have tables of metrics too).
    let section = doc_section("Every metric");
    let rows: Vec<Vec<String>> = section
        .lines()
        .filter(|l| l.starts_with("| `/"))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r[0].trim_matches('`')).collect();
    let want: Vec<&str> = all().iter().map(|d| d.name).collect();
    assert_eq!(
        names, want,
        "docs/metrics.md must list exactly all(), in order (METRICS_PRINT_DOC_TABLE=1 prints the table)"
    );
    for (r, d) in rows.iter().zip(all()) {
        assert_eq!(r.len(), 5, "row of {} has {} cells", d.name, r.len());
        assert_eq!(r[1], kind_str(d.kind), "kind of {}", d.name);
        assert_eq!(
            r[2],
            if d.cumulative { "yes" } else { "no" },
            "cumulative of {}",
            d.name
        );
        assert!(!r[3].is_empty(), "meaning of {}", d.name);
        let field = mem_stats_field(d.name)
            .map(|f| format!("`{f}`"))
            .unwrap_or_else(|| "—".into());
        assert!(
            r[4].starts_with(&field),
            "MemStats field of {}: {:?}, want {field}",
            d.name,
            r[4]
        );
    }
}
