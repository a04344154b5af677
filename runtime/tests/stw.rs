//! Holding a `StopTheWorld` guard: the holder's own worker keeps running
//! its coroutines, so parking while holding a stop never hangs; the
//! holder may stop the world again (the guards nest). Each scenario runs
//! in a child process with a deadline, so a regression fails instead of
//! hanging CI.

mod child;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use bamboo::Runtime;

const TIMEOUT: Duration = Duration::from_secs(30);

/// `#[test] fn $name`: runs `$body` in a child process with a deadline.
macro_rules! child_test {
    ($name:ident, $body:block) => {
        #[test]
        fn $name() {
            if child::mode().as_deref() == Some(stringify!($name)) {
                $body
            } else if child::mode().is_none() {
                child::run_ok(stringify!($name), stringify!($name), TIMEOUT);
            }
        }
    };
}

fn rt(workers: usize) -> Runtime {
    Runtime::builder().workers(workers).build().unwrap()
}

fn hold_and(workers: usize, f: impl FnOnce() + Send + 'static) {
    let rt = rt(workers);
    let h = rt.handle();
    rt.block_on(move || {
        let _stw = h.stop_the_world();
        f();
    });
}

child_test!(holder_yields_one_worker, {
    hold_and(1, || {
        for _ in 0..10 {
            bamboo::yield_now();
        }
    })
});

child_test!(holder_yields_two_workers, {
    hold_and(2, || {
        for _ in 0..10 {
            bamboo::yield_now();
        }
    })
});

child_test!(holder_sleeps, {
    for w in [1, 2] {
        hold_and(w, || bamboo::sleep(Duration::from_millis(1)));
    }
});

child_test!(holder_joins_a_child_it_spawned, {
    for w in [1, 2] {
        hold_and(w, || {
            let hs: Vec<_> = (0..100u64)
                .map(|i| {
                    bamboo::spawn(move || {
                        bamboo::yield_now();
                        bamboo::sleep(Duration::from_micros(10));
                        i
                    })
                })
                .collect();
            let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(sum, 4950);
        });
    }
});

child_test!(other_workers_stay_stopped_while_the_holder_parks, {
    let rt = rt(2);
    let n = Arc::new(AtomicUsize::new(0));
    let holder_thread = Arc::new(std::sync::Mutex::new(None));
    let spinner_thread = Arc::new(std::sync::Mutex::new(None));
    let h = rt.handle();
    let (n3, ht, st) = (n.clone(), holder_thread.clone(), spinner_thread.clone());
    // The holder keeps its worker busy (no check point) until the spinner
    // has started, so the spinner starts on the other worker.
    let holder = rt.spawn(move || {
        *ht.lock().unwrap() = Some(std::thread::current().id());
        while st.lock().unwrap().is_none() {
            std::thread::yield_now();
        }
        let _stw = h.stop_the_world();
        let before = n3.load(SeqCst);
        bamboo::sleep(Duration::from_millis(20));
        bamboo::yield_now();
        n3.load(SeqCst) - before
    });
    while holder_thread.lock().unwrap().is_none() {
        std::thread::yield_now();
    }
    let (n2, t2) = (n.clone(), spinner_thread.clone());
    // A coroutine that counts as long as its worker runs.
    let _spinner = rt.spawn(move || {
        *t2.lock().unwrap() = Some(std::thread::current().id());
        loop {
            n2.fetch_add(1, SeqCst);
            bamboo::yield_now();
        }
    });
    let moved = holder.join().unwrap();
    assert_ne!(
        *holder_thread.lock().unwrap(),
        *spinner_thread.lock().unwrap(),
        "holder and spinner on one worker"
    );
    assert_eq!(
        moved, 0,
        "a stopped worker ran its coroutine while the holder slept"
    );
    assert!(n.load(SeqCst) > 0);
});

child_test!(nested_stop_from_the_holder, {
    let rt = rt(2);
    let h = rt.handle();
    rt.block_on(move || {
        let outer = h.stop_the_world();
        let inner = h.stop_the_world();
        h.flush_stack_caches(&inner);
        drop(inner);
        // Still stopped: flushing needs the stop.
        h.flush_stack_caches(&outer);
        bamboo::yield_now();
        drop(outer);
        // A fresh stop after the outermost guard is gone.
        drop(h.stop_the_world());
    });
    // A plain thread nests too.
    let h = rt.handle();
    let a = h.stop_the_world();
    let b = h.stop_the_world();
    drop(a);
    drop(b);
    assert_eq!(rt.block_on(|| 7), 7, "the world restarted");
});

child_test!(another_coroutine_waits_for_the_holder, {
    let rt = rt(1);
    let h = rt.handle();
    let order = Arc::new(bamboo::sync::Mutex::new(Vec::new()));
    let o = order.clone();
    let h2 = h.clone();
    rt.block_on(move || {
        let stw = h2.stop_the_world();
        let o2 = o.clone();
        let h3 = h2.clone();
        // Runs on this worker while we hold the stop; its own stop waits.
        let other = bamboo::spawn(move || {
            o2.lock().push("other wants the stop");
            let _s = h3.stop_the_world();
            o2.lock().push("other has the stop");
        });
        bamboo::sleep(Duration::from_millis(5));
        o.lock().push("holder releases");
        drop(stw);
        other.join().unwrap();
    });
    assert_eq!(
        *order.lock(),
        [
            "other wants the stop",
            "holder releases",
            "other has the stop"
        ]
    );
});

#[test]
fn a_plain_thread_holding_a_stop_cannot_join() {
    let rt = rt(2);
    let h = rt.handle();
    let stw = h.stop_the_world();
    let child = rt.spawn(|| 1);
    let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| child.join()))
        .expect_err("join while every worker is stopped must panic, not hang");
    let msg = e
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("StopTheWorld"), "{msg}");
    drop(stw);
    assert_eq!(rt.block_on(|| 2), 2);
}
