//! `read_consistent` called 10,000 times from a monitor coroutine
//! while both workers churn stacks in the stress mode (deep `grow`
//! recursion holding segments across yields, spawn/exit storms, channel
//! ping-pong): every equality of docs/metrics.md holds every time. Every 4th read
//! comes from a fresh coroutine, deep inside segments it has just grown.
//!
//! `METRICS_CONSISTENT_READS` overrides the number of reads.

mod common;

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use bamboo_metrics::{all_samples, check, read_consistent, MemStats};
use common::{at_depth, oracle_mismatches, u64_of};

/// Pause of the monitor between reads.
const PAUSE_US: u64 = 50;

#[test]
fn read_consistent_is_exact_under_forced_stack_moves() {
    let reads = common::env_count("METRICS_CONSISTENT_READS", 10_000);
    let (rt, h, churn) = common::stress_runtime_with_churn();
    let t0 = Instant::now();
    let hm = h.clone();
    let ops = churn.ops.clone();
    let report = rt.block_on(move || {
        let mut samples = all_samples();
        let mut mem = MemStats::default();
        let mut bad_reads = 0usize;
        let mut first_bad: Vec<String> = Vec::new();
        let (mut grows_changed, mut inuse_changed, mut released_seen) = (0usize, 0usize, 0usize);
        let (mut prev_grows, mut prev_inuse) = (0u64, 0u64);
        for i in 0..reads {
            if i % 4 == 3 {
                // Every 4th read from a fresh coroutine, deep inside a
                // chain of segments it grew just before.
                let h2 = hm.clone();
                let (s, m) = (std::mem::take(&mut samples), std::mem::take(&mut mem));
                let depth = 1 + (i % 97) as u32;
                (samples, mem) = bamboo::spawn(move || {
                    let (mut s, mut m) = (s, m);
                    at_depth(depth, &mut || read_consistent(&h2, &mut m, &mut s));
                    (s, m)
                })
                .join()
                .unwrap();
            } else {
                read_consistent(&hm, &mut mem, &mut samples);
            }
            let mut bad = oracle_mismatches(&mem, &samples);
            bad.extend(check(&mem, &samples).iter().map(|m| m.to_string()));
            if !bad.is_empty() {
                bad_reads += 1;
                if first_bad.is_empty() {
                    first_bad = bad;
                }
            }
            let g = u64_of(&samples, "/stack/grows:events");
            let inuse = u64_of(&samples, "/memory/classes/stacks/inuse:bytes");
            grows_changed += usize::from(g != prev_grows);
            inuse_changed += usize::from(inuse != prev_inuse);
            released_seen += usize::from(mem.stack_released > 0);
            (prev_grows, prev_inuse) = (g, inuse);
            // Let the churn run between reads, on both workers: this
            // worker's coroutines while the monitor sleeps, the other
            // worker freely until the next stop.
            // At least one churn operation completes between two reads.
            let before = ops.load(Relaxed);
            bamboo::sleep(Duration::from_micros(PAUSE_US));
            if ops.load(Relaxed) == before {
                bamboo::yield_now();
            }
        }
        (
            bad_reads,
            first_bad,
            grows_changed,
            inuse_changed,
            released_seen,
            mem,
        )
    });
    let elapsed = t0.elapsed();
    let ops = churn.stop();
    let (bad_reads, first_bad, grows_changed, inuse_changed, released_seen, mem) = report;
    println!(
        "read_consistent: {reads} reads in {elapsed:.2?} ({:.1} us/read), {bad_reads} mismatching; \
         grows changed between reads {grows_changed} times, stack in use {inuse_changed} times, \
         released > 0 in {released_seen} reads; churn ops {ops}; last: grows {} (forced {}), \
         coroutines created {}, switches {}, stop-the-world {}",
        elapsed.as_secs_f64() * 1e6 / reads as f64,
        mem.grows,
        mem.forced_grows,
        mem.coroutines_created,
        mem.switches,
        mem.stop_the_world,
    );
    assert_eq!(
        bad_reads, 0,
        "{bad_reads} of {reads} read_consistent calls broke an equality; first: {first_bad:#?}"
    );
    // The load really ran between the reads: the test could have failed.
    assert!(mem.forced_grows > 0 && mem.grows >= mem.forced_grows);
    assert!(
        grows_changed > reads / 2,
        "stacks moved between only {grows_changed} of {reads} reads"
    );
    assert!(ops > 0);
}

/// Several readers at once — a monitor coroutine per worker and a plain
/// thread, all calling `read_consistent` (and `read_mem_stats`) — while the
/// workers churn: the stops serialize, nothing deadlocks, every read is exact.
#[test]
fn concurrent_consistent_readers() {
    let reads = common::env_count("METRICS_CONSISTENT_READS", 10_000) / 5;
    let (_rt, h, churn) = common::stress_runtime_with_churn();
    let reader = move |h: bamboo::Handle, coroutine: bool| {
        let mut samples = all_samples();
        let mut mem = MemStats::default();
        let mut bad = 0usize;
        for i in 0..reads {
            read_consistent(&h, &mut mem, &mut samples);
            bad += usize::from(!oracle_mismatches(&mem, &samples).is_empty());
            bad += usize::from(!check(&mem, &samples).is_empty());
            if i % 8 == 0 {
                let m = bamboo_metrics::read_mem_stats(&h);
                bad += usize::from(
                    m.stack_mapped != m.stack_inuse + m.stack_cached + m.stack_released,
                );
            }
            if coroutine {
                bamboo::yield_now();
            } else {
                std::thread::yield_now();
            }
        }
        bad
    };
    let coroutines: Vec<_> = (0..2)
        .map(|_| {
            let h2 = h.clone();
            h.spawn(move || reader(h2, true))
        })
        .collect();
    let h3 = h.clone();
    let thread = std::thread::spawn(move || reader(h3, false));
    let mut bad = thread.join().unwrap();
    for c in coroutines {
        bad += c.join().unwrap();
    }
    churn.stop();
    let stw = bamboo_metrics::read_mem_stats(&h).stop_the_world;
    println!(
        "concurrent readers: 3 x {reads} read_consistent, {bad} mismatching, {stw} stops in all"
    );
    assert_eq!(bad, 0);
}
