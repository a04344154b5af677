//! `bamboo::blocking`: the pool runs blocking calls off the workers, a
//! panic reaches the caller, the cap holds, idle threads exit.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bamboo::Runtime;

fn rt(workers: usize, cap: usize) -> Runtime {
    Runtime::builder()
        .workers(workers)
        .blocking_threads(cap)
        .build()
        .unwrap()
}

#[test]
fn eight_sleeps_run_in_parallel_while_the_worker_runs_coroutines() {
    let rt = rt(1, 512);
    let stop = Arc::new(AtomicBool::new(false));
    let ticks = Arc::new(AtomicU64::new(0));
    let (s2, t2) = (stop.clone(), ticks.clone());
    let ticker = rt.spawn(move || {
        while !s2.load(SeqCst) {
            t2.fetch_add(1, SeqCst);
            bamboo::sleep(Duration::from_millis(1));
        }
    });
    let start = Instant::now();
    let sleepers: Vec<_> = (0..8)
        .map(|i| {
            rt.spawn(move || {
                bamboo::blocking(move || {
                    std::thread::sleep(Duration::from_millis(300));
                    i
                })
            })
        })
        .collect();
    let ticks_before = ticks.load(SeqCst);
    let sum: i32 = sleepers.into_iter().map(|h| h.join().unwrap()).sum();
    let took = start.elapsed();
    let ticked = ticks.load(SeqCst) - ticks_before;
    stop.store(true, SeqCst);
    ticker.join().unwrap();
    assert_eq!(sum, (0..8).sum());
    assert!(
        took < Duration::from_millis(1200),
        "8 x 300 ms took {took:?}"
    );
    assert!(
        ticked >= 50,
        "the worker ran the ticker only {ticked} times meanwhile"
    );
    let c = rt.handle().counters();
    assert_eq!(c.blocking_calls, 8);
    assert!(
        (1..=8).contains(&c.blocking_threads),
        "{}",
        c.blocking_threads
    );
}

#[test]
fn a_panic_in_the_call_is_resumed_in_the_coroutine() {
    let rt = rt(2, 4);
    let r = rt.block_on(|| {
        let r = catch_unwind(AssertUnwindSafe(|| {
            bamboo::blocking(|| -> u32 { panic!("boom in the pool") })
        }));
        let msg = r.unwrap_err().downcast::<&str>().map(|b| *b).ok();
        // The pool survives the panic.
        (msg, bamboo::blocking(|| 41 + 1))
    });
    assert_eq!(r, (Some("boom in the pool"), 42));
}

#[test]
fn the_cap_bounds_the_threads() {
    let rt = rt(2, 2);
    let start = Instant::now();
    let hs: Vec<_> = (0..4)
        .map(|_| {
            rt.spawn(|| {
                bamboo::blocking(|| std::thread::sleep(Duration::from_millis(200)));
                bamboo::Handle::current()
                    .unwrap()
                    .counters()
                    .blocking_threads
            })
        })
        .collect();
    let max = hs.into_iter().map(|h| h.join().unwrap()).max().unwrap();
    let took = start.elapsed();
    assert!(max <= 2, "{max} threads with a cap of 2");
    assert!(
        took >= Duration::from_millis(390),
        "4 x 200 ms on 2 threads took {took:?}"
    );
}

#[test]
fn off_a_coroutine_the_call_runs_in_place() {
    let me = std::thread::current().id();
    assert!(bamboo::blocking(move || std::thread::current().id() == me));
}

#[test]
fn idle_pool_threads_exit_after_ten_seconds() {
    let rt = rt(1, 8);
    rt.block_on(|| bamboo::blocking(|| ()));
    assert_eq!(rt.handle().counters().blocking_threads, 1);
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(
        rt.handle().counters().blocking_threads,
        1,
        "exited before 10 s"
    );
    let t = Instant::now();
    while rt.handle().counters().blocking_threads != 0 {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "idle thread still alive after 18 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bad_blocking_threads_env_is_an_error() {
    let err = Runtime::builder()
        .blocking_threads(0)
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Builder::blocking_threads") && err.contains('0'),
        "{err}"
    );
}
