//! Many parked coroutines at once, by hand (not in CI: 3,000,000 take a
//! minute and ~14 GB):
//!
//! ```sh
//! cargo run --release -p bamboo-stress --bin parked -- 3000000
//! ```
//!
//! Spawns N coroutines that each park on one channel, prints RSS, page
//! tables, mappings and stack figures once all are parked, then releases
//! and joins them. It ends in one of three ways, each with a message, never
//! by the OOM killer: all N parked and joined (exit 0); the runtime refused
//! coroutines for want of stack memory (their `JoinError`s are counted and
//! the first is printed; exit 1); or the machine's available memory fell
//! below a safety margin (`--margin-mib`, default 2048) and spawning
//! stopped there (exit 2).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn field_kib(file: &str, field: &str) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Wait until every spawned coroutine has parked or been refused.
fn wait_parked(h: &bamboo::Handle, started: &AtomicU64, joins: &[bamboo::JoinHandle<u64>]) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let s = started.load(Relaxed);
        let mut done = s >= joins.len() as u64;
        if !done {
            let refused = joins.iter().rev().filter(|j| j.is_finished()).count() as u64;
            done = s + refused >= joins.len() as u64;
        }
        if done && h.counters().parks >= s {
            return;
        }
        if Instant::now() > deadline {
            eprintln!(
                "parked: not all {} coroutines parked within 600 s",
                joins.len()
            );
            std::process::exit(3);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .map(|a| {
            a.replace(['_', ','], "")
                .parse()
                .expect("N: a coroutine count")
        })
        .unwrap_or(3_000_000);
    let mut margin_mib: u64 = 2048;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--margin-mib" => {
                margin_mib = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--margin-mib <MiB>")
            }
            other => panic!("unknown argument {other:?} (usage: parked [N] [--margin-mib M])"),
        }
    }
    let rt = bamboo::Runtime::new().unwrap_or_else(|e| {
        eprintln!("parked: {e}");
        std::process::exit(1)
    });
    let h = rt.handle();
    let rss0 = field_kib("/proc/self/status", "VmRSS:");
    let (tx, rx) = bamboo::sync::channel::<u64>(1024);
    let started = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut joins = Vec::with_capacity(n as usize);
    let mut stopped = None;
    // In batches, each parked (or refused) before the next, so that the
    // memory check sees what the coroutines cost, not just their handles.
    const BATCH: u64 = 20_000;
    let mut i = 0;
    while i < n {
        let avail = field_kib("/proc/meminfo", "MemAvailable:");
        if avail < margin_mib << 10 {
            stopped = Some((i, avail));
            break;
        }
        if i % 500_000 == 0 && i > 0 {
            let rss = field_kib("/proc/self/status", "VmRSS:");
            println!(
                "  {i} parked after {:.1?}: RSS {:.0} MiB, MemAvailable {:.0} MiB",
                t0.elapsed(),
                mib(rss),
                mib(avail)
            );
        }
        let end = (i + BATCH).min(n);
        for _ in i..end {
            let (rx, started) = (rx.clone(), started.clone());
            joins.push(rt.spawn(move || {
                started.fetch_add(1, Relaxed);
                rx.recv().unwrap_or(0)
            }));
        }
        i = end;
        wait_parked(&h, &started, &joins);
    }
    let t_park = t0.elapsed();
    let parked = started.load(Relaxed);
    let rss = field_kib("/proc/self/status", "VmRSS:");
    let pte = field_kib("/proc/self/status", "VmPTE:");
    let vm = field_kib("/proc/self/status", "VmSize:");
    let maps = std::fs::read_to_string("/proc/self/maps")
        .map(|s| s.lines().count())
        .unwrap_or(0);
    let c = h.counters();
    println!(
        "{parked} parked coroutines in {t_park:.1?}: RSS {:.0} MiB (+{:.0} bytes/coroutine), \
         page tables {:.0} MiB, VmSize {:.1} GiB, {maps} mappings, {} stack chunks, \
         {:.1} GiB of stack bytes in use (virtual)",
        mib(rss),
        (rss.saturating_sub(rss0) << 10) as f64 / parked.max(1) as f64,
        mib(pte),
        mib(vm) / 1024.0,
        c.chunks,
        c.stack_inuse as f64 / (1u64 << 30) as f64,
    );
    // Release and join.
    let t1 = Instant::now();
    rt.block_on(move || {
        for i in 0..parked {
            if tx.send(i).is_err() {
                break;
            }
        }
    });
    let (mut ok, mut refused, mut first_refusal) = (0u64, 0u64, None);
    for j in joins {
        match j.join() {
            Ok(_) => ok += 1,
            Err(e) => {
                refused += 1;
                if first_refusal.is_none() {
                    first_refusal = Some(e.to_string());
                }
            }
        }
    }
    println!(
        "released and joined in {:.1?}: {ok} finished, {refused} refused",
        t1.elapsed()
    );
    if let Some((at, avail)) = stopped {
        println!(
            "parked: stopped spawning at {at} of {n}: MemAvailable {:.0} MiB fell below the \
             {margin_mib} MiB safety margin",
            mib(avail)
        );
        std::process::exit(2);
    }
    if let Some(r) = first_refusal {
        println!("parked: {refused} of {n} coroutines were refused; the first: {r}");
        std::process::exit(1);
    }
}
