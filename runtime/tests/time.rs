//! time::after and time::tick, from coroutines (workers' timer heaps) and
//! plain threads (the fallback timer thread). Each test has a watchdog.

use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bamboo::sync::TryRecvError;
use bamboo::time::{after, tick};
use bamboo::Runtime;

fn watchdog<R>(secs: u64, f: impl FnOnce() -> R) -> R {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let name = std::thread::current().name().unwrap_or("?").to_string();
    std::thread::spawn(move || {
        let t0 = Instant::now();
        while !d.load(Relaxed) {
            if t0.elapsed() > Duration::from_secs(secs) {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "watchdog: {name} still running after {secs} s"
                );
                std::process::abort();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let r = f();
    done.store(true, Relaxed);
    r
}

#[test]
fn after_fires_once_and_then_never_closes() {
    watchdog(30, || {
        let rt = Runtime::builder().workers(2).build().unwrap();
        let check = || {
            let t0 = Instant::now();
            let rx = after(Duration::from_millis(20));
            let at = rx.recv().unwrap();
            assert!(at >= t0 + Duration::from_millis(20));
            // Go: a timer channel fires once and is never closed.
            assert_eq!(
                rx.recv_timeout(Duration::from_millis(30)),
                Err(bamboo::sync::RecvTimeoutError::Timeout)
            );
        };
        rt.block_on(check);
        check(); // plain thread: the fallback timer thread
    })
}

#[test]
fn tick_drops_ticks_for_a_slow_receiver() {
    watchdog(30, || {
        let rt = Runtime::builder().workers(2).build().unwrap();
        let check = || {
            let period = Duration::from_millis(10);
            let rx = tick(period);
            let first = rx.recv().unwrap();
            // Sleep through ~6 periods: only one tick may wait meanwhile.
            bamboo::sleep(period * 6);
            // One tick was kept; a second one may have just arrived; the
            // other ~4 were dropped, not queued.
            let mut waiting = 0;
            while rx.try_recv().is_ok() {
                waiting += 1;
            }
            assert!((1..=2).contains(&waiting), "{waiting} ticks were waiting");
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            let next = rx.recv().unwrap();
            assert!(next >= first + period * 6, "ticks keep coming afterwards");
        };
        rt.block_on(check);
        check();
    })
}

#[test]
fn many_abandoned_timers_do_not_fire_or_hold_up_a_select_loop() {
    watchdog(60, || {
        let rt = Runtime::builder().workers(2).build().unwrap();
        rt.block_on(|| {
            let (tx, rx) = bamboo::sync::channel::<u32>(16);
            let p = bamboo::spawn(move || {
                for i in 0..20_000 {
                    tx.send(i).unwrap();
                }
            });
            let mut got = 0;
            loop {
                bamboo::select! {
                    recv(rx) -> v => match v { Ok(_) => got += 1, Err(_) => break },
                    recv(after(Duration::from_secs(3600))) -> _ => panic!("an hour passed"),
                }
            }
            p.join().unwrap();
            assert_eq!(got, 20_000);
        });
    })
}
