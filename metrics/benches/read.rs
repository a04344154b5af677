//! Cost of reading metrics: `read` of every metric from a plain thread with
//! an idle runtime, `read` from a coroutine, and `read_consistent` (stop the
//! world, flush, two reads) with both workers busy.
//!
//! `cargo bench -p bamboo-metrics --bench read`. Besides criterion's
//! figures, prints ns per read and per metric from a plain timing loop.
//! For comparison: Go 1.22's `metrics.Read` of all (82) metrics took about
//! 2.3 µs on a 2-vCPU AMD EPYC KVM guest; `bash bench/run.sh` measures Go's
//! `metrics.Read` and this crate's `read` side by side (docs/benchmarks.md).

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use bamboo::Runtime;
use bamboo_metrics::{all, all_samples, read, read_consistent, MemStats};
use criterion::{criterion_group, criterion_main, Criterion};

fn per_call(n: u32, mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_nanos() as f64 / f64::from(n)
}

fn report(what: &str, ns: f64) {
    let m = all().len() as f64;
    println!(
        "{what}: {ns:.0} ns per read of {} metrics, {:.1} ns per metric",
        all().len(),
        ns / m
    );
}

fn bench_read(c: &mut Criterion) {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let h = rt.handle();
    let mut s = all_samples();

    report(
        "read, plain thread, idle runtime",
        per_call(200_000, || read(&h, &mut s)),
    );
    let hc = h.clone();
    let ns = rt.block_on(move || {
        let mut s = all_samples();
        per_call(200_000, || read(&hc, &mut s))
    });
    report("read, coroutine (system-stack excursion), idle runtime", ns);

    c.bench_function("read all metrics (plain thread, idle runtime)", |b| {
        b.iter(|| read(&h, black_box(&mut s)))
    });
}

fn bench_consistent(c: &mut Criterion) {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let h = rt.handle();
    let churn = common::Churn::start(&h);
    let mut s = all_samples();
    let mut mem = MemStats::default();

    report(
        "read_consistent, plain thread, 2 busy workers",
        per_call(20_000, || read_consistent(&h, &mut mem, &mut s)),
    );
    let hc = h.clone();
    let ns = rt.block_on(move || {
        let mut s = all_samples();
        let mut mem = MemStats::default();
        per_call(20_000, || read_consistent(&hc, &mut mem, &mut s))
    });
    report("read_consistent, coroutine, 2 busy workers", ns);

    c.bench_function("read_consistent all metrics (2 busy workers)", |b| {
        b.iter(|| read_consistent(&h, black_box(&mut mem), black_box(&mut s)))
    });
    let ops = churn.stop();
    println!("churn ops during the read_consistent benchmarks: {ops}");
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench_read, bench_consistent
}
criterion_main!(benches);
