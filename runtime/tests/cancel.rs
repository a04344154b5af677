//! JoinHandle::cancel of parked, sleeping, unstarted, running (with check
//! points) and finished coroutines; destructors counted, segments back
//! before `join` returns. A destructor that blocks during a cancel is a
//! crash test (the child process must abort with the runtime's message).

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bamboo::sync::{channel, Mutex};
use bamboo::{grow, Runtime};

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

/// Counts its drops.
struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn rt(workers: usize) -> Runtime {
    Runtime::builder().workers(workers).build().unwrap()
}

/// Wait (bounded) until `f` holds.
fn eventually(what: &str, f: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < Duration::from_secs(20), "never: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn cancel_a_parked_coroutine_unwinds_it_with_its_destructors() {
    watchdog(60, || {
        let rt = rt(2);
        let drops = Arc::new(AtomicUsize::new(0));
        let parked = Arc::new(AtomicBool::new(false));
        let (tx, rx) = channel::<u32>(0);
        let (d, p) = (drops.clone(), parked.clone());
        let h = rt.spawn(move || {
            // Park a few segments deep, destructors on every level.
            fn down(
                n: u32,
                d: &Arc<AtomicUsize>,
                p: &AtomicBool,
                rx: &bamboo::sync::Receiver<u32>,
            ) -> u32 {
                let _c = Counted(d.clone());
                if n == 0 {
                    p.store(true, SeqCst);
                    return rx.recv().unwrap_or(0);
                }
                grow(|| down(n - 1, d, p, rx)) + 1
            }
            down(20, &d, &p, &rx)
        });
        eventually("the coroutine parked", || parked.load(SeqCst));
        std::thread::sleep(Duration::from_millis(10));
        h.cancel();
        let r = h.join();
        assert!(r.unwrap_err().is_cancelled());
        assert_eq!(drops.load(SeqCst), 21, "every frame's destructor ran");
        // Its segments were back before join returned.
        let c = rt.handle().counters();
        assert_eq!(c.coroutines, 0, "{c:?}");
        assert_eq!(c.segments_inuse, 0, "{c:?}");
        // The channel lost its waiter cleanly: a send now finds no one.
        assert!(tx.try_send(1).is_err());
    })
}

#[test]
fn cancel_a_sleeping_coroutine() {
    watchdog(60, || {
        let rt = rt(2);
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        let h = rt.spawn(move || {
            let _c = Counted(d);
            bamboo::sleep(Duration::from_secs(3600));
        });
        // Sleeping for sure (a fixed pause raced a slow start under load:
        // cancelled before it started, it never ran its destructor).
        let h2 = rt.handle();
        eventually("the coroutine sleeps", || {
            h2.dump()
                .iter()
                .any(|c| c.id == h.id() && c.waiting_on.as_deref() == Some("sleep (with timeout)"))
        });
        let t0 = Instant::now();
        h.cancel();
        assert!(h.join().unwrap_err().is_cancelled());
        assert!(t0.elapsed() < Duration::from_secs(10));
        assert_eq!(drops.load(SeqCst), 1);
    })
}

#[test]
fn cancel_an_unstarted_coroutine_it_never_starts() {
    watchdog(60, || {
        let rt = rt(1);
        let drops = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicBool::new(false));
        let (d, r) = (drops.clone(), ran.clone());
        rt.block_on(move || {
            // One worker, busy with us: the child waits in our deque.
            let c = Counted(d);
            let r2 = r.clone();
            let h = bamboo::spawn(move || {
                let _c = c;
                r2.store(true, SeqCst);
            });
            h.cancel();
            assert!(h.join().unwrap_err().is_cancelled());
        });
        assert!(!ran.load(SeqCst), "a cancelled coroutine started");
        assert_eq!(
            drops.load(SeqCst),
            1,
            "its closure (and what it captured) was dropped"
        );
    })
}

#[test]
fn cancel_a_running_coroutine_at_its_next_check_point() {
    watchdog(60, || {
        let rt = rt(2);
        for kind in 0..3 {
            let drops = Arc::new(AtomicUsize::new(0));
            let spins = Arc::new(AtomicUsize::new(0));
            let (d, s) = (drops.clone(), spins.clone());
            let (_tx, rx) = channel::<u32>(1);
            let m = Arc::new(Mutex::new(0u64));
            let h = rt.spawn(move || {
                let _c = Counted(d);
                loop {
                    s.fetch_add(1, Relaxed);
                    match kind {
                        0 => bamboo::yield_now(),
                        1 => {
                            let _ = rx.try_recv(); // a check point, never parks
                        }
                        _ => *m.lock() += 1, // uncontended: never parks
                    }
                }
            });
            eventually("it runs", || spins.load(Relaxed) > 1000);
            h.cancel();
            assert!(h.join().unwrap_err().is_cancelled(), "kind {kind}");
            assert_eq!(drops.load(SeqCst), 1, "kind {kind}");
            let n = spins.load(Relaxed);
            std::thread::sleep(Duration::from_millis(5));
            assert_eq!(
                spins.load(Relaxed),
                n,
                "kind {kind}: still running after join"
            );
        }
    })
}

/// A waiter cancelled while parked on a `Mutex` leaves its wait queue: the
/// unlock's notification reaches the live waiter behind it. (Before the
/// fix the unwound waiter stayed queued, the unlock woke its finished task
/// and the live waiter slept for ever; the watchdog fired in round 0.)
#[test]
fn a_cancelled_mutex_waiter_leaves_the_queue_and_the_next_one_gets_the_lock() {
    watchdog(60, || {
        let rt = rt(2);
        let m = Arc::new(Mutex::new(0u64));
        for round in 0..50 {
            let held = m.lock();
            let parked = |add: u64| {
                let m = m.clone();
                rt.spawn(move || *m.lock() += add)
            };
            let cancelled = parked(1);
            std::thread::sleep(Duration::from_millis(2));
            let live = parked(10);
            std::thread::sleep(Duration::from_millis(2));
            cancelled.cancel();
            assert!(
                cancelled.join().unwrap_err().is_cancelled(),
                "round {round}"
            );
            drop(held);
            live.join().unwrap();
            assert_eq!(*m.lock(), 10 * (round + 1), "round {round}");
        }
    })
}

/// A cancel that lands just as a worker starts the coroutine (after
/// `coro::start`, before the first resume) still completes the join as
/// cancelled. (Before the fix the worker destroyed the unstarted coroutine
/// without publishing, and `join` waited for ever: this test failed at
/// round 467 of 1,500.)
#[test]
fn a_cancel_racing_the_start_still_completes_the_join() {
    watchdog(120, || {
        let rt = rt(2);
        rt.block_on(|| {
            let mut n: u64 = 0;
            // 1,500 rounds, or 30 s in the stress mode (a segment switch,
            // with poison two system calls, at every check point).
            let t_end = Instant::now() + Duration::from_secs(30);
            for round in (0..1500u64).take_while(|_| Instant::now() < t_end) {
                let hs: Vec<_> = (0..30)
                    .map(|i| {
                        bamboo::spawn(move || {
                            for _ in 0..3 + i % 7 {
                                bamboo::sleep(Duration::from_micros(200));
                            }
                        })
                    })
                    .collect();
                for h in &hs {
                    n = n
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    for _ in 0..(n >> 62) {
                        bamboo::yield_now();
                    }
                    h.cancel();
                }
                for (i, h) in hs.into_iter().enumerate() {
                    let t0 = Instant::now();
                    while !h.is_finished() {
                        assert!(
                            t0.elapsed() < Duration::from_secs(10),
                            "round {round}: coroutine {i} cancelled but its join never completes"
                        );
                        bamboo::sleep(Duration::from_millis(1));
                    }
                    let _ = h.join();
                }
            }
        });
    })
}

#[test]
fn cancel_a_finished_coroutine_does_nothing() {
    watchdog(30, || {
        let rt = rt(2);
        let h = rt.spawn(|| 42);
        eventually("it finished", || h.is_finished());
        h.cancel();
        assert_eq!(h.join().unwrap(), 42);
    })
}

#[test]
fn cancel_from_a_coroutine_and_a_select_waiter() {
    watchdog(60, || {
        let rt = rt(2);
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        rt.block_on(move || {
            let (_t1, r1) = channel::<u32>(0);
            let (_t2, r2) = channel::<u32>(3);
            // Each coroutine counts itself started once its guard exists, so
            // the cancels below hit 50 guards (a fixed sleep raced with slow
            // starts under load: a coroutine cancelled before its first run
            // never builds its guard).
            let started = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..50)
                .map(|_| {
                    let (r1, r2, d) = (r1.clone(), r2.clone(), d.clone());
                    let started = started.clone();
                    bamboo::spawn(move || {
                        let _c = Counted(d);
                        started.fetch_add(1, SeqCst);
                        bamboo::select! {
                            recv(r1) -> _ => {}
                            recv(r2) -> _ => {}
                        }
                    })
                })
                .collect();
            while started.load(SeqCst) < 50 {
                bamboo::sleep(Duration::from_millis(1));
            }
            for h in &hs {
                h.cancel();
            }
            for h in hs {
                assert!(h.join().unwrap_err().is_cancelled());
            }
        });
        assert_eq!(drops.load(SeqCst), 50);
        let c = rt.handle().counters();
        assert_eq!((c.coroutines, c.segments_inuse), (0, 0), "{c:?}");
    })
}

#[test]
fn cancel_a_sender_whose_value_was_just_taken() {
    // One worker, so the order is fixed: the sender parks in a rendezvous
    // send; the receiver takes the value (which frees the sender's record
    // and wakes it) and cancels it before it runs again. The unwound send
    // must not touch the freed record (it used to abort with "stale
    // wait-list key").
    watchdog(60, || {
        let rt = rt(1);
        let got = rt.block_on(|| {
            let (tx, rx) = channel::<u32>(0);
            let h = bamboo::spawn(move || {
                tx.send(7).unwrap();
                bamboo::yield_now();
            });
            // The sender runs and parks in send (one worker: nothing else runs).
            bamboo::sleep(Duration::from_millis(20));
            let v = rx.recv().unwrap();
            h.cancel();
            let r = h.join();
            assert!(r.unwrap_err().is_cancelled());
            assert!(rx.try_recv().is_err(), "the value went once");
            v
        });
        assert_eq!(got, 7);
        let c = rt.handle().counters();
        assert_eq!((c.coroutines, c.segments_inuse), (0, 0), "{c:?}");
    })
}

const CHILD_ENV: &str = "BAMBOO_CANCEL_CHILD";

/// Child mode: a coroutine whose destructor blocks is cancelled.
fn blocking_destructor_child() {
    struct BlocksInDrop(Option<bamboo::sync::Receiver<u32>>);
    impl Drop for BlocksInDrop {
        fn drop(&mut self) {
            let _ = self.0.take().map(|rx| rx.recv());
        }
    }
    let rt = rt(1);
    let (_tx, rx) = channel::<u32>(0);
    let (_tx2, rx2) = channel::<u32>(0);
    let started = Arc::new(AtomicBool::new(false));
    let started2 = started.clone();
    let h = rt.spawn(move || {
        let _b = BlocksInDrop(Some(rx));
        started2.store(true, SeqCst);
        let _ = rx2.recv();
    });
    // Cancelled before it starts, it would never start (and its
    // destructor never block): wait until it runs, however loaded the
    // machine is, then give it a moment to park.
    while !started.load(SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));
    h.cancel();
    let _ = h.join();
    unreachable!("the cancel of a blocking destructor returned");
}

#[test]
fn a_destructor_that_blocks_during_a_cancel_aborts_with_a_message() {
    if std::env::var_os(CHILD_ENV).is_some() {
        blocking_destructor_child();
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "a_destructor_that_blocks_during_a_cancel_aborts_with_a_message",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the child hangs");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = t.join().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(libc_sigabrt()),
        "{status:?}: {stderr}"
    );
    assert!(
        stderr.contains("bamboo: fatal: coroutine") && stderr.contains("while being unwound"),
        "{stderr}"
    );
}

fn libc_sigabrt() -> i32 {
    6
}
