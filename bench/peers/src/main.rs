//! Side-by-side micro-benchmarks of bamboo, may and tokio (Go: ../go).
//!
//! ```text
//! peers <runtime> <workload> [--n N]
//! peers report <results-file>    (the table of bench/run.sh)
//!   runtime:  bamboo | may | tokio
//!   workload: spawn_join | spawn_join_w1 | spawn_batch | yield_w1 | yield_w2 |
//!             pingpong | pingpong_w1 | skynet | sieve | sieve_w1 | deep_100k |
//!             deep_1m | deep_1m_100b | hot_split | parked | metrics |
//!             cpu2 | cpu2_w1 | cpu64
//!   (`_w1`: one worker thread; everything else: two)
//! ```
//!
//! The workloads of the original set live in this file (bamboo's) and in
//! `peer_may` and `peer_tokio`; skynet, the prime
//! sieve, batch spawn, the 100-byte-frame recursion and the CPU-parallel
//! cases have a module each (`skynet`, `sieve`, `batch`, `deep100`, `cpu`),
//! with all three runtimes side by side.
//!
//! Every run prints one machine-readable line per result on stdout:
//! `runtime workload value unit` (value `skip` or `fail` with a reason in
//! the unit column when the workload does not apply or failed). Diagnostics
//! (sanity counters, progress) go to stderr. One process per (runtime,
//! workload): runtimes configure themselves once per process (may's config
//! is global) and RSS measurements start from a fresh heap.
//!
//! Each timed workload runs one warm-up batch and then `BATCHES` timed
//! batches and reports their mean; `bench/run.sh` runs every process
//! several times, interleaved with the other runtimes, and takes the median
//! of those. Every runtime gets 2 worker threads (yield_w1: 1).
#![warn(missing_docs)]

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod batch;
mod cpu;
mod deep100;
mod peer_may;
mod peer_tokio;
mod report;
mod sieve;
mod skynet;

use peer_may::{may_block_on, may_main, may_spawn, may_try_spawn};
use peer_tokio::{tokio_main, tokio_timed};

const BATCHES: usize = 3;

/// Warm up once, then time `BATCHES` batches: ns per op over all timed
/// batches (the mean, so a slow mode that hits one batch in three shows).
/// The per-batch figures go to stderr.
fn timed(ops_per_batch: u64, mut batch: impl FnMut() -> Duration) -> f64 {
    let _ = batch();
    let v: Vec<f64> = (0..BATCHES)
        .map(|_| batch().as_nanos() as f64 / ops_per_batch as f64)
        .collect();
    eprintln!("batches (ns/op): {v:.1?}");
    mean(v)
}

fn mean(v: Vec<f64>) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn emit(rt: &str, workload: &str, value: f64, unit: &str) {
    println!("{rt} {workload} {value:.2} {unit}");
}

fn skip(rt: &str, workload: &str, why: &str) {
    println!("{rt} {workload} skip {}", why.replace(' ', "_"));
}

/// With `BENCH_SMAPS=1`: the mappings holding most resident memory, to
/// stderr (where a parked coroutine's bytes are: stacks or heap).
fn smaps_top(rt: &str) {
    if std::env::var_os("BENCH_SMAPS").is_none() {
        return;
    }
    let s = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mut maps: Vec<(u64, u64, String)> = Vec::new(); // (rss KiB, size KiB, header)
    let mut cur = String::new();
    let mut size = 0;
    for line in s.lines() {
        if line.starts_with(|c: char| c.is_ascii_hexdigit()) && line.contains('-') {
            cur = line.to_string();
        } else if let Some(v) = line.strip_prefix("Size:") {
            size = v.trim().trim_end_matches(" kB").parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("Rss:") {
            let rss = v.trim().trim_end_matches(" kB").parse().unwrap_or(0);
            maps.push((rss, size, cur.clone()));
        }
    }
    maps.sort_by_key(|m| std::cmp::Reverse(m.0));
    for (rss, size, h) in maps.iter().take(6) {
        eprintln!("{rt} smaps: rss {rss} KiB of {size} KiB  {h}");
    }
}

/// With `BENCH_PERF_CTL=<fifo>` (perf record's `--control=fifo:<fifo>`,
/// started with `-D -1`): `enable` / `disable` the counters around the
/// timed phase of the `parked` workload (the release), so a profile holds
/// that phase alone.
fn perf_ctl(cmd: &str) {
    if let Some(p) = std::env::var_os("BENCH_PERF_CTL") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .expect("open BENCH_PERF_CTL");
        f.write_all(format!("{cmd}\n").as_bytes())
            .expect("write BENCH_PERF_CTL");
    }
}

/// CPU time of every thread of this process so far, in ns (the first
/// field of each `/proc/self/task/*/schedstat`): with the wall time, how
/// much of a phase was this process running rather than waiting for a
/// core on a loaded machine.
fn cpu_ns() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Resident set size in bytes, from /proc/self/statm.
fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

// ---------------------------------------------------------------- sizes

const SPAWN_N: u64 = 100_000;
const YIELD_N: u64 = 500_000; // per coroutine; two coroutines
const PINGPONG_N: u64 = 100_000;
const HOT_SPLIT_N: u64 = 10_000_000;
const METRICS_N: u64 = 20_000;
/// Frames recursed per batch of the deep workloads (depth × repetitions).
const DEEP_FRAMES_PER_BATCH: u64 = 2_000_000;
const PARKED_DEFAULT: usize = 100_000;

/// A small frame: one argument, one black-boxed add.
#[inline(never)]
fn deep_plain(d: u64) -> u64 {
    if d == 0 {
        return 0;
    }
    black_box(deep_plain(black_box(d - 1))) + 1
}

/// The same frame with a bamboo check point in it.
#[inline(never)]
fn deep_bamboo(d: u64) -> u64 {
    if d == 0 {
        return 0;
    }
    bamboo::grow(|| black_box(deep_bamboo(black_box(d - 1)))) + 1
}

fn deep_depth(workload: &str) -> Option<u64> {
    match workload {
        "deep_100k" => Some(100_000),
        "deep_1m" => Some(1_000_000),
        _ => None,
    }
}

fn workers_for(workload: &str) -> usize {
    if workload.ends_with("_w1") {
        1
    } else {
        2
    }
}

// ---------------------------------------------------------------- bamboo

fn bamboo_main(workload: &str, n_parked: usize) {
    let rt = bamboo::Runtime::builder()
        .workers(workers_for(workload))
        .build()
        .expect("bamboo runtime");
    let w = workload.to_string();
    let h = rt.handle();
    let c0 = h.counters();
    bamboo_workload(&rt, workload, n_parked);
    let c1 = h.counters();
    // Scheduler counters of the whole process (warm-up included): the
    // evidence docs/benchmarks.md uses to explain the numbers.
    eprintln!(
        "bamboo {w} counters: spawned {} switches {} parks {} yields {} steals {} \
         idle_parks {} grows {} spare_hits {} segment_allocs {} cache_refills {} \
         cache_releases {} chunks {} scavenged {}",
        c1.spawned - c0.spawned,
        c1.switches - c0.switches,
        c1.parks - c0.parks,
        c1.yields - c0.yields,
        c1.steals - c0.steals,
        c1.idle_parks - c0.idle_parks,
        c1.grows - c0.grows,
        c1.spare_hits - c0.spare_hits,
        c1.segment_allocs - c0.segment_allocs,
        c1.cache_refills - c0.cache_refills,
        c1.cache_releases - c0.cache_releases,
        c1.chunks - c0.chunks,
        c1.scavenged - c0.scavenged,
    );
}

fn bamboo_workload(rt: &bamboo::Runtime, workload: &str, n_parked: usize) {
    let w = workload.to_string();
    let h = rt.handle();
    match workload {
        "skynet" => skynet::bamboo(rt),
        "sieve" | "sieve_w1" => sieve::bamboo(rt, workload),
        "spawn_batch" => batch::bamboo(rt),
        "deep_1m_100b" => deep100::bamboo(rt),
        "cpu2" | "cpu2_w1" | "cpu64" => cpu::bamboo(rt, workload),
        "spawn_join" | "spawn_join_w1" => {
            let v = rt.block_on(|| {
                timed(SPAWN_N, || {
                    let t = Instant::now();
                    for i in 0..SPAWN_N {
                        let r = bamboo::spawn(move || black_box(i)).join().unwrap();
                        black_box(r);
                    }
                    t.elapsed()
                })
            });
            emit("bamboo", &w, v, "ns/op");
        }
        "yield_w1" | "yield_w2" => {
            let v = rt.block_on(|| {
                timed(2 * YIELD_N, || {
                    let t = Instant::now();
                    let a = bamboo::spawn(|| {
                        for _ in 0..YIELD_N {
                            bamboo::yield_now();
                        }
                    });
                    let b = bamboo::spawn(|| {
                        for _ in 0..YIELD_N {
                            bamboo::yield_now();
                        }
                    });
                    a.join().unwrap();
                    b.join().unwrap();
                    t.elapsed()
                })
            });
            emit("bamboo", &w, v, "ns/op");
        }
        "pingpong" | "pingpong_w1" => {
            let v = rt.block_on(|| {
                timed(PINGPONG_N, || {
                    let (tx1, rx1) = bamboo::sync::channel::<u64>(0);
                    let (tx2, rx2) = bamboo::sync::channel::<u64>(0);
                    let t = Instant::now();
                    let echo = bamboo::spawn(move || {
                        while let Ok(v) = rx1.recv() {
                            if tx2.send(v + 1).is_err() {
                                break;
                            }
                        }
                    });
                    for i in 0..PINGPONG_N {
                        tx1.send(i).unwrap();
                        black_box(rx2.recv().unwrap());
                    }
                    drop(tx1);
                    echo.join().unwrap();
                    t.elapsed()
                })
            });
            emit("bamboo", &w, v, "ns/op");
        }
        "deep_100k" | "deep_1m" => {
            let d = deep_depth(workload).unwrap();
            let reps = DEEP_FRAMES_PER_BATCH / d;
            let before = h.counters();
            let v = rt.block_on(move || {
                timed(reps * d, || {
                    let t = Instant::now();
                    for _ in 0..reps {
                        let r = bamboo::spawn(move || deep_bamboo(d)).join().unwrap();
                        assert_eq!(r, d);
                    }
                    t.elapsed()
                })
            });
            let after = h.counters();
            eprintln!(
                "bamboo {w}: grows {} segment_allocs {} chunks {} scavenged {}",
                after.grows - before.grows,
                after.segment_allocs - before.segment_allocs,
                after.chunks - before.chunks,
                after.scavenged - before.scavenged
            );
            emit("bamboo", &w, v, "ns/frame");
        }
        "hot_split" => {
            let before = h.counters();
            let v = rt.block_on(|| {
                let ns = hot_split_edge(HOT_SPLIT_N, 0);
                ns as f64 / HOT_SPLIT_N as f64
            });
            let after = h.counters();
            let grows = after.grows - before.grows;
            eprintln!(
                "bamboo hot_split: grows {grows} spare_hits {} segment_allocs {}",
                after.spare_hits - before.spare_hits,
                after.segment_allocs - before.segment_allocs
            );
            if grows < HOT_SPLIT_N {
                println!("bamboo hot_split fail not_at_the_edge(grows={grows})");
            } else {
                emit("bamboo", &w, v, "ns/crossing");
            }
        }
        "parked" => {
            let r = rt.block_on(move || {
                let (tx, rx) = bamboo::sync::channel::<()>(0);
                let parked = Arc::new(AtomicUsize::new(0));
                let done = Arc::new(AtomicUsize::new(0));
                let base = rss();
                for _ in 0..n_parked {
                    let (rx, parked, done) = (rx.clone(), parked.clone(), done.clone());
                    drop(bamboo::spawn(move || {
                        parked.fetch_add(1, SeqCst);
                        let _ = rx.recv();
                        done.fetch_add(1, SeqCst);
                    }));
                }
                while parked.load(SeqCst) < n_parked {
                    bamboo::sleep(Duration::from_millis(1));
                }
                bamboo::sleep(Duration::from_millis(20));
                let full = rss();
                smaps_top("bamboo");
                perf_ctl("enable");
                let cpu = cpu_ns();
                let t = Instant::now(); // the wake-ups happen inside drop(tx)
                drop(tx);
                drop(rx);
                while done.load(SeqCst) < n_parked {
                    bamboo::sleep(Duration::from_millis(1));
                }
                let elapsed = t.elapsed();
                let cpu = cpu_ns() - cpu;
                perf_ctl("disable");
                eprintln!(
                    "bamboo parked {n_parked}: release cpu {:.1} ns/coroutine (all threads)",
                    cpu as f64 / n_parked as f64
                );
                (base, full, elapsed)
            });
            report_parked("bamboo", r, n_parked);
        }
        "metrics" => metrics_bamboo(rt),
        _ => skip("bamboo", &w, "unknown workload"),
    }
}

/// `parked_100k`, `parked_1m`, else `parked_<n>`.
fn parked_label(n: usize) -> String {
    match n {
        100_000 => "parked_100k".into(),
        1_000_000 => "parked_1m".into(),
        _ => format!("parked_{n}"),
    }
}

fn report_parked(rt: &str, (base, full, release): (u64, u64, Duration), n: usize) {
    eprintln!(
        "{rt} parked {n}: rss before {} MiB, parked {} MiB, release {:?}",
        base >> 20,
        full >> 20,
        release
    );
    emit(
        rt,
        &parked_label(n),
        (full.saturating_sub(base)) as f64 / n as f64,
        "bytes/coroutine",
    );
    let release = release.as_nanos() as f64 / n as f64;
    emit(
        rt,
        &format!("{}_release", parked_label(n)),
        release,
        "ns/coroutine",
    );
}

/// Recurse (without check points) until the current segment has less than
/// the red zone left, then cross the boundary `iters` times: every
/// `grow` there switches to the coroutine's spare segment and back.
#[inline(never)]
fn hot_split_edge(iters: u64, depth: u64) -> u64 {
    let rem = bamboo::remaining_stack().expect("on a coroutine");
    if rem < bamboo::RED_ZONE {
        eprintln!("bamboo hot_split: edge at depth {depth}, {rem} bytes left");
        // warm-up (the first crossing takes the spare from the cache)
        for i in 0..1000u64 {
            black_box(bamboo::grow(|| black_box(i)));
        }
        let t = Instant::now();
        for i in 0..iters {
            black_box(bamboo::grow(|| black_box(i)));
        }
        return t.elapsed().as_nanos() as u64;
    }
    let pad = [depth as u8; 512];
    black_box(&pad);
    hot_split_edge(iters, depth + 1) + black_box(0)
}

#[cfg(feature = "metrics")]
fn metrics_bamboo(rt: &bamboo::Runtime) {
    let h = rt.handle();
    let (per_read, count) = rt.block_on(move || {
        let mut samples = bamboo_metrics::all_samples();
        let count = samples.len();
        let v = timed(METRICS_N, || {
            let t = Instant::now();
            for _ in 0..METRICS_N {
                bamboo_metrics::read(&h, &mut samples);
                black_box(&samples);
            }
            t.elapsed()
        });
        (v, count)
    });
    eprintln!("bamboo metrics: {count} metrics per read");
    emit("bamboo", "metrics_read", per_read, "ns/read");
    emit(
        "bamboo",
        "metrics_per_metric",
        per_read / count as f64,
        "ns/metric",
    );
    emit("bamboo", "metrics_count", count as f64, "metrics");
}

#[cfg(not(feature = "metrics"))]
fn metrics_bamboo(_rt: &bamboo::Runtime) {
    skip("bamboo", "metrics_read", "bamboo-metrics did not compile");
}

// ---------------------------------------------------------------- main

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "report" {
        report::main(&args[2]);
        return;
    }
    if args.len() < 3 {
        eprintln!("usage: peers <bamboo|may|tokio> <workload> [--n N]");
        std::process::exit(2);
    }
    let mut n_parked = PARKED_DEFAULT;
    let mut i = 3;
    while i < args.len() {
        match args[i].as_str() {
            "--n" => {
                n_parked = args[i + 1].parse().expect("--n N");
                i += 2;
            }
            a => panic!("unknown argument {a}"),
        }
    }
    let (rt, w) = (args[1].as_str(), args[2].as_str());
    match rt {
        "bamboo" => bamboo_main(w, n_parked),
        "may" => may_main(w, n_parked),
        "tokio" => tokio_main(w, n_parked),
        _ => {
            eprintln!("unknown runtime {rt}");
            std::process::exit(2);
        }
    }
}
