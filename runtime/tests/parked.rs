//! Many parked coroutines at once under the default `vm.max_map_count`.
//! (may fails between 30k and 40k here: one mapping per stack.)

use std::sync::Arc;

use bamboo::Runtime;

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Page-table memory of the process (not part of RSS): a touched page
/// costs its page-table page too, shared by the slots of one 2 MiB region.
fn page_tables_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmPTE:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
        .map_or(0, |kb| kb << 10)
}

fn maps() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

/// RSS is per process: the two tests must not overlap.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn park_many(n: usize, stress: bool) {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = Runtime::builder()
        .workers(2)
        .force_stack_move(stress)
        .build()
        .unwrap();
    let h = rt.handle();
    let (tx, rx) = bamboo::sync::channel::<u64>(1024);
    let t0 = std::time::Instant::now();
    let ready = Arc::new(bamboo::sync::WaitGroup::new());
    let rss0 = rss_bytes();
    let pte0 = page_tables_bytes();
    let mut joins = Vec::with_capacity(n);
    for _ in 0..n {
        let (rx, ready) = (rx.clone(), ready.clone());
        ready.add(1);
        joins.push(rt.spawn(move || {
            ready.done();
            rx.recv().unwrap()
        }));
    }
    ready.wait();
    // Everyone is parked (or about to): let the last ones reach recv.
    while h.counters().parks < n as u64 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let rss1 = rss_bytes();
    let pte1 = page_tables_bytes();
    let t1 = t0.elapsed();
    let c = h.counters();
    let vmas = maps();
    println!(
        "{n} parked coroutines (stress={stress}): RSS +{:.0} bytes/coroutine, page tables +{:.0} bytes/coroutine, {} stack bytes in use ({:.0}/coroutine, virtual), {} VMAs, {} chunks",
        (rss1.saturating_sub(rss0)) as f64 / n as f64,
        (pte1.saturating_sub(pte0)) as f64 / n as f64,
        c.stack_inuse,
        c.stack_inuse as f64 / n as f64,
        vmas,
        c.chunks
    );
    assert_eq!(c.coroutines, n as u64);
    let limit: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65530);
    assert!(vmas < limit / 2, "{vmas} VMAs");
    let sum: u64 = rt.block_on(move || {
        for i in 0..n as u64 {
            tx.send(i).unwrap();
        }
        0
    });
    let got: u64 = joins.into_iter().map(|j| j.join().unwrap()).sum::<u64>() + sum;
    assert_eq!(got, (0..n as u64).sum::<u64>());
    println!(
        "  parked in {t1:?}, released and joined in {:?}",
        t0.elapsed() - t1
    );
}

#[test]
fn two_hundred_thousand_parked_on_a_channel() {
    park_many(200_000, false);
}

#[test]
fn fifty_thousand_parked_in_stress_mode() {
    park_many(50_000, true);
}
