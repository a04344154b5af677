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

/// A close wakes every receiver parked on every worker, whether the last
/// sender goes in a coroutine (its worker's receivers are woken in place,
/// the other worker's are handed over in batches, `sched/wake_batch.rs`)
/// or on a plain thread (every wake-up is remote). 20,003 receivers: many
/// full batches per worker and a partial one at the end, the part a lost
/// flush would strand (the wait below fails instead of hanging).
fn close_wakes_all(closer_in_coroutine: bool) {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let n = 20_003;
    let rt = Runtime::builder().workers(2).build().unwrap();
    let h = rt.handle();
    let (tx, rx) = bamboo::sync::channel::<u64>(0);
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let done = Arc::new(AtomicUsize::new(0));
    let parks0 = h.counters().parks;
    let joins: Vec<_> = (0..n)
        .map(|_| {
            let (rx, threads, done) = (rx.clone(), threads.clone(), done.clone());
            rt.spawn(move || {
                // Started coroutines never migrate: this is its worker.
                threads.lock().unwrap().insert(std::thread::current().id());
                let r = rx.recv();
                done.fetch_add(1, SeqCst);
                r.is_err()
            })
        })
        .collect();
    drop(rx);
    while h.counters().parks < parks0 + n as u64 {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        threads.lock().unwrap().len(),
        2,
        "the receivers should park on both workers"
    );
    if closer_in_coroutine {
        rt.block_on(move || drop(tx));
    } else {
        drop(tx);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while done.load(SeqCst) < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        done.load(SeqCst),
        n,
        "receivers woken by the close (closer in a coroutine: {closer_in_coroutine})"
    );
    assert!(
        joins.into_iter().all(|j| j.join().unwrap()),
        "each saw the close"
    );
}

#[test]
fn a_close_in_a_coroutine_wakes_every_receiver_on_both_workers() {
    close_wakes_all(true);
}

#[test]
fn a_close_on_a_plain_thread_wakes_every_receiver_on_both_workers() {
    close_wakes_all(false);
}
