//! `MemStats` mirrors the runtime's counter table (`bamboo::counters`): every
//! scalar counter has its MemStats field, and every MemStats field is a
//! counter or one of the few derived here. Adding a counter to the runtime
//! without its MemStats field (or the reverse) fails this test.

use bamboo::counters::CounterSnapshot;
use bamboo_metrics::MemStats;

/// Counters whose MemStats field has another name.
const RENAMED: &[(&str, &str)] = &[("stw", "stop_the_world")];

/// MemStats fields computed from several counters (or the configuration).
const DERIVED: &[&str] = &[
    "sys",
    "coroutines_not_started",
    "max_stack",
    "latency_samples",
];

/// Field names of a `#[derive(Debug)]` struct, from its `{:?}` text.
fn debug_fields(text: &str) -> Vec<String> {
    let body = &text[text.find('{').expect("a struct") + 1..text.rfind('}').unwrap()];
    body.split(", ")
        .map(|kv| kv.split(':').next().unwrap().trim().to_string())
        .collect()
}

#[test]
fn mem_stats_fields_match_the_counter_table() {
    let mem = debug_fields(&format!("{:?}", MemStats::default()));
    assert!(mem.len() > 20, "parsed {mem:?}");
    let want: Vec<String> = CounterSnapshot::FIELDS
        .iter()
        .map(|f| {
            RENAMED
                .iter()
                .find(|(c, _)| c == f)
                .map_or(*f, |&(_, m)| m)
                .to_string()
        })
        .collect();
    for f in &want {
        assert!(mem.contains(f), "counter `{f}` has no MemStats field");
    }
    for f in &mem {
        assert!(
            want.contains(f) || DERIVED.contains(&f.as_str()),
            "MemStats field `{f}` comes from no counter"
        );
    }
}
