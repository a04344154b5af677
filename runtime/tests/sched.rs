//! Scheduler behaviour through the public API.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bamboo::{Handle, Runtime};

fn rt() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

/// Wait until every coroutine of the runtime has finished (a joiner may run
/// a moment before the joined coroutine's worker has retired it).
fn quiesce(h: &Handle) -> bamboo::counters::CounterSnapshot {
    let t = Instant::now();
    loop {
        let c = h.counters();
        if c.coroutines == 0 || t.elapsed() > Duration::from_secs(10) {
            return c;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn hundred_thousand_coroutines_join_with_correct_results() {
    let rt = rt();
    let hs: Vec<_> = (0..100_000u64)
        .map(|i| rt.spawn(move || i * 3 + 1))
        .collect();
    for (i, h) in hs.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), i as u64 * 3 + 1);
    }
    let c = quiesce(&rt.handle());
    assert_eq!(c.coroutines_created, 100_000);
    assert_eq!(c.coroutines, 0);
    assert_eq!(c.segments_inuse, 0);
}

#[test]
fn hundred_thousand_spawned_from_a_coroutine() {
    let rt = rt();
    let total = rt.block_on(|| {
        let hs: Vec<_> = (0..100_000u64).map(|i| bamboo::spawn(move || i)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(total, (0..100_000u64).sum::<u64>());
}

#[test]
fn both_workers_run_coroutines() {
    let rt = rt();
    let seen = Arc::new(parking_lot::Mutex::new(std::collections::HashSet::new()));
    let hs: Vec<_> = (0..200)
        .map(|_| {
            let seen = seen.clone();
            rt.spawn(move || {
                let t0 = Instant::now();
                while t0.elapsed() < Duration::from_millis(2) {
                    std::hint::spin_loop();
                }
                seen.lock().insert(std::thread::current().id());
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(
        seen.lock().len(),
        2,
        "stealing spreads unstarted coroutines"
    );
}

#[test]
fn started_coroutines_never_change_thread() {
    let rt = rt();
    let hs: Vec<_> = (0..500)
        .map(|_| {
            rt.spawn(|| {
                let me = std::thread::current().id();
                for i in 0..50 {
                    if i % 3 == 0 {
                        bamboo::sleep(Duration::from_micros(50));
                    } else {
                        bamboo::yield_now();
                    }
                    assert_eq!(std::thread::current().id(), me);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
}

#[test]
fn panics_become_join_errors_and_the_runtime_keeps_running() {
    let rt = rt();
    let n = std::hint::black_box(7);
    let e = rt
        .spawn(move || -> u32 { panic!("boom {n}") })
        .join()
        .unwrap_err();
    assert!(e.is_panic());
    assert_eq!(e.panic_message(), Some("boom 7"));
    let p = e.into_panic();
    assert_eq!(
        p.downcast_ref::<String>().map(String::as_str),
        Some("boom 7")
    );
    assert_eq!(rt.block_on(|| 5), 5);
    assert_eq!(rt.handle().counters().coroutines_panicked, 1);
}

#[test]
#[should_panic(expected = "inner")]
fn block_on_resumes_the_panic() {
    rt().block_on(|| panic!("inner"));
}

#[test]
fn handle_current_inside_and_outside() {
    assert!(Handle::current().is_none());
    let rt = rt();
    let inside = rt.block_on(|| Handle::current().map(|h| h.workers()));
    assert_eq!(inside, Some(2));
}

#[test]
#[should_panic(expected = "outside a bamboo runtime")]
fn spawn_outside_a_runtime_panics() {
    let _ = bamboo::spawn(|| 1);
}

#[test]
fn yield_now_interleaves_on_one_worker() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let log = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let mk = |tag: u8| {
        let log = log.clone();
        move || {
            for _ in 0..3 {
                log.lock().push(tag);
                bamboo::yield_now();
            }
        }
    };
    let (a, b) = (mk(b'a'), mk(b'b'));
    rt.block_on(move || {
        let ha = bamboo::spawn(a);
        let hb = bamboo::spawn(b);
        ha.join().unwrap();
        hb.join().unwrap();
    });
    // Either may start first (a worker starts its newest spawn first,
    // docs/architecture.md "Placement"); then they alternate.
    let log = log.lock();
    assert!(
        *log == b"ababab" || *log == b"bababa",
        "{}",
        String::from_utf8_lossy(&log)
    );
}

#[test]
fn sleep_parks_the_coroutine_not_the_worker() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let t0 = Instant::now();
    let hs: Vec<_> = (0..100)
        .map(|_| rt.spawn(|| bamboo::sleep(Duration::from_millis(100))))
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let e = t0.elapsed();
    assert!(e >= Duration::from_millis(100), "{e:?}");
    assert!(
        e < Duration::from_secs(5),
        "100 sleeps on one worker overlap: {e:?}"
    );
    assert_eq!(rt.handle().counters().timers, 100);
    // Zero and plain-thread sleeps.
    bamboo::sleep(Duration::ZERO);
    rt.block_on(|| bamboo::sleep(Duration::ZERO));
}

#[test]
fn stop_the_world_parks_the_other_workers() {
    let rt = rt();
    let h = rt.handle();
    let ticks = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let bg: Vec<_> = (0..4)
        .map(|_| {
            let (ticks, stop) = (ticks.clone(), stop.clone());
            rt.spawn(move || {
                while !stop.load(SeqCst) {
                    ticks.fetch_add(1, SeqCst);
                    bamboo::yield_now();
                }
            })
        })
        .collect();
    // From a plain thread: every worker is stopped.
    while ticks.load(SeqCst) < 1000 {
        std::thread::yield_now();
    }
    {
        let _stw = h.stop_the_world();
        let a = ticks.load(SeqCst);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            ticks.load(SeqCst),
            a,
            "no coroutine runs while the world is stopped"
        );
    }
    let a = ticks.load(SeqCst);
    while ticks.load(SeqCst) == a {
        std::thread::yield_now();
    }
    // From a coroutine: the other worker is stopped; its own keeps going.
    let h2 = h.clone();
    let ticks2 = ticks.clone();
    rt.block_on(move || {
        for _ in 0..20 {
            let _stw = h2.stop_the_world();
            let a = ticks2.load(SeqCst);
            std::thread::sleep(Duration::from_millis(1));
            let b = ticks2.load(SeqCst);
            assert_eq!(a, b, "the other worker is parked");
        }
    });
    stop.store(true, SeqCst);
    for j in bg {
        j.join().unwrap();
    }
    assert!(h.counters().stw >= 21);
}

#[test]
fn concurrent_stop_the_world_from_many_coroutines() {
    let rt = rt();
    let h = rt.handle();
    let hs: Vec<_> = (0..50)
        .map(|_| {
            let h = h.clone();
            rt.spawn(move || {
                for _ in 0..20 {
                    let g = h.stop_the_world();
                    bamboo::grow(|| ());
                    drop(g);
                    bamboo::yield_now();
                }
            })
        })
        .collect();
    for j in hs {
        j.join().unwrap();
    }
    assert_eq!(h.counters().stw, 1000);
}

#[test]
fn public_types_are_send_and_sync_where_users_expect() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Runtime>();
    send_sync::<Handle>();
    send_sync::<bamboo::Builder>();
    send_sync::<bamboo::Error>();
    send::<bamboo::JoinHandle<String>>();
    send::<bamboo::JoinError>();
    send_sync::<bamboo::sync::Sender<String>>();
    send_sync::<bamboo::sync::Receiver<String>>();
    send_sync::<bamboo::sync::Mutex<String>>();
    send_sync::<bamboo::sync::WaitGroup>();
    let _ = bamboo::Builder::new();
}
