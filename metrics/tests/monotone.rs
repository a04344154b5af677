//! Under load, with racy `read`s (no stop-the-world) from a coroutine and
//! from a plain thread at the same time: cumulative metrics never decrease
//! over 1,000 reads, histograms are well formed, `/memory/classes/total`
//! equals the sum of the classes within each read, and no byte class is
//! absurd.
//!
//! `METRICS_MONOTONE_READS` overrides the number of reads.

mod common;

use std::time::Duration;

use bamboo::{Handle, Runtime};
use bamboo_metrics::{all, all_samples, describe, read, Histogram, Sample, Value};
use common::{u64_of, Churn};

const TIB: u64 = 1 << 40;

fn well_formed(name: &str, h: &Histogram) {
    assert_eq!(h.buckets.len(), h.counts.len() + 1, "{name}");
    assert!(!h.counts.is_empty(), "{name}");
    for w in h.buckets.windows(2) {
        assert!(
            w[0] < w[1],
            "{name}: buckets not strictly increasing: {:?}",
            h.buckets
        );
    }
    assert!(h.buckets.iter().all(|b| !b.is_nan()), "{name}");
}

/// Check one read, and that it did not go backwards from `prev`.
fn check_step(prev: &[Sample], cur: &[Sample]) {
    for (p, c) in prev.iter().zip(cur) {
        let d = describe(&c.name).expect("known metric");
        assert_eq!(c.value.kind(), d.kind, "{}", c.name);
        if let Value::Float64Histogram(h) = &c.value {
            well_formed(&c.name, h);
        }
        if c.name.starts_with("/memory/classes/") {
            let v = c.value.as_u64().unwrap();
            assert!(v < TIB, "{} = {v} is absurd", c.name);
        }
        if !d.cumulative || p.value == Value::Bad {
            continue;
        }
        match (&p.value, &c.value) {
            (Value::Uint64(a), Value::Uint64(b)) => {
                assert!(b >= a, "{} went from {a} to {b}", c.name)
            }
            (Value::Float64(a), Value::Float64(b)) => {
                assert!(b >= a, "{} went from {a} to {b}", c.name)
            }
            (Value::Float64Histogram(a), Value::Float64Histogram(b)) => {
                assert_eq!(a.buckets, b.buckets, "{}", c.name);
                for (i, (x, y)) in a.counts.iter().zip(&b.counts).enumerate() {
                    assert!(y >= x, "{} bucket {i} went from {x} to {y}", c.name);
                }
            }
            (a, b) => panic!("{}: kind changed from {a:?} to {b:?}", c.name),
        }
    }
    let classes: u64 = [
        "/memory/classes/stacks/inuse:bytes",
        "/memory/classes/stacks/cached:bytes",
        "/memory/classes/stacks/released:bytes",
        "/memory/classes/os-stacks:bytes",
    ]
    .iter()
    .map(|n| u64_of(cur, n))
    .sum();
    assert_eq!(
        u64_of(cur, "/memory/classes/total:bytes"),
        classes,
        "total != sum of classes within one read"
    );
}

/// `reads` racy reads, each checked against the previous one.
fn reader(h: &Handle, reads: usize, pause: impl Fn()) -> Vec<Sample> {
    let mut prev = all_samples();
    let mut cur = all_samples();
    for _ in 0..reads {
        read(h, &mut cur);
        check_step(&prev, &cur);
        std::mem::swap(&mut prev, &mut cur);
        pause();
    }
    prev
}

fn run(stress: bool) {
    let reads = common::env_count("METRICS_MONOTONE_READS", 1_000);
    let rt = Runtime::builder()
        .workers(2)
        .segment_size(common::CHURN_SEGMENT)
        .force_stack_move(stress)
        .build()
        .unwrap();
    let h = rt.handle();
    let churn = Churn::start(&h);
    let hc = h.clone();
    let from_coroutine =
        rt.spawn(move || reader(&hc, reads, || bamboo::sleep(Duration::from_micros(100))));
    let hp = h.clone();
    let from_thread = std::thread::spawn(move || {
        reader(&hp, reads, || {
            std::thread::sleep(Duration::from_micros(100))
        })
    });
    let last_c = from_coroutine.join().unwrap();
    let last_t = from_thread.join().unwrap();
    churn.stop();
    for last in [&last_c, &last_t] {
        assert!(u64_of(last, "/stack/grows:events") > 0);
        assert!(u64_of(last, "/sched/coroutines/created:coroutines") > 0);
        let lat = last
            .iter()
            .find(|s| s.name == "/sched/latencies:seconds")
            .and_then(|s| s.value.as_histogram())
            .unwrap();
        assert!(lat.total() > 0, "latencies were sampled");
    }
    println!(
        "stress={stress}: {reads} reads from a coroutine and {reads} from a thread, {} metrics each; \
         final grows {}, created {}",
        all().len(),
        u64_of(&last_t, "/stack/grows:events"),
        u64_of(&last_t, "/sched/coroutines/created:coroutines"),
    );
}

#[test]
fn cumulative_metrics_never_decrease_under_load() {
    run(false);
}

#[test]
fn cumulative_metrics_never_decrease_under_load_in_stress_mode() {
    run(true);
}
