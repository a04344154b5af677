//! RwLock, Semaphore and Condvar invariants with coroutines on 2 workers
//! and plain threads mixed in. Each test runs under a watchdog.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bamboo::sync::{Condvar, Mutex, RwLock, Semaphore};
use bamboo::Runtime;

fn rt() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

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

/// Run `f(i)` on `coros` coroutines and `threads` plain threads; wait for all.
fn mixed(rt: &Runtime, coros: usize, threads: usize, f: impl Fn(usize) + Send + Sync + 'static) {
    let f = Arc::new(f);
    let hs: Vec<_> = (0..coros)
        .map(|i| {
            let f = f.clone();
            rt.spawn(move || f(i))
        })
        .collect();
    let ts: Vec<_> = (0..threads)
        .map(|i| {
            let f = f.clone();
            std::thread::spawn(move || f(coros + i))
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    for t in ts {
        t.join().unwrap();
    }
}

#[test]
fn rwlock_readers_share_writers_exclude() {
    watchdog(120, || {
        let rt = rt();
        let lock = Arc::new(RwLock::new(0u64));
        let readers = Arc::new(AtomicUsize::new(0));
        let writer = Arc::new(AtomicBool::new(false));
        let max_readers = Arc::new(AtomicUsize::new(0));
        let bad = Arc::new(AtomicUsize::new(0));
        let writes = Arc::new(AtomicUsize::new(0));
        let (l, r, w, m, b, ws) = (
            lock.clone(),
            readers.clone(),
            writer.clone(),
            max_readers.clone(),
            bad.clone(),
            writes.clone(),
        );
        mixed(&rt, 8, 2, move |i| {
            for k in 0..400 {
                if (k + i) % 5 == 0 {
                    let mut g = l.write();
                    if w.swap(true, AcqRel) || r.load(Acquire) != 0 {
                        b.fetch_add(1, Relaxed);
                    }
                    *g += 1;
                    ws.fetch_add(1, Relaxed);
                    bamboo::yield_now();
                    w.store(false, Release);
                } else {
                    let g = l.read();
                    let n = r.fetch_add(1, AcqRel) + 1;
                    m.fetch_max(n, Relaxed);
                    if w.load(Acquire) {
                        b.fetch_add(1, Relaxed);
                    }
                    let _ = *g;
                    bamboo::yield_now();
                    r.fetch_sub(1, AcqRel);
                }
            }
        });
        assert_eq!(
            bad.load(Relaxed),
            0,
            "a reader and a writer (or two writers) overlapped"
        );
        assert_eq!(*lock.read(), writes.load(Relaxed) as u64);
        assert!(
            max_readers.load(Relaxed) > 1,
            "readers never shared the lock"
        );
    })
}

#[test]
fn rwlock_prefers_a_waiting_writer_to_new_readers() {
    watchdog(30, || {
        let rt = rt();
        let lock = Arc::new(RwLock::new(Vec::<&'static str>::new()));
        let first = lock.read();
        let l = lock.clone();
        let w = rt.spawn(move || l.write().push("writer"));
        // Wait until the writer waits.
        let t0 = Instant::now();
        while lock.try_read().is_some() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "writer never waited"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        // A new reader waits behind the writer even though a reader holds.
        let l = lock.clone();
        let r = rt.spawn(move || l.read().clone());
        std::thread::sleep(Duration::from_millis(30));
        assert!(!r.is_finished(), "a new reader overtook the waiting writer");
        drop(first);
        w.join().unwrap();
        assert_eq!(r.join().unwrap(), vec!["writer"]);
    })
}

#[test]
fn semaphore_never_exceeds_its_permits() {
    watchdog(120, || {
        let rt = rt();
        let sem = Arc::new(Semaphore::new(3));
        let inside = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let (s, n, m) = (sem.clone(), inside.clone(), max.clone());
        mixed(&rt, 10, 3, move |i| {
            for k in 0..300 {
                let p = if (i + k) % 7 == 0 {
                    match s.try_acquire() {
                        Some(p) => p,
                        None => continue,
                    }
                } else {
                    s.acquire()
                };
                let now = n.fetch_add(1, AcqRel) + 1;
                m.fetch_max(now, Relaxed);
                bamboo::yield_now();
                n.fetch_sub(1, AcqRel);
                drop(p);
            }
        });
        assert!(
            max.load(Relaxed) <= 3,
            "{} holders at once",
            max.load(Relaxed)
        );
        assert!(max.load(Relaxed) >= 2, "permits were never shared");
        assert_eq!(sem.available(), 3, "every permit came back");
    })
}

#[test]
fn condvar_queue_delivers_everything_and_notify_all_wakes_all() {
    watchdog(120, || {
        let rt = rt();
        let q = Arc::new((Mutex::new((VecDeque::<u64>::new(), false)), Condvar::new()));
        let sum = Arc::new(AtomicUsize::new(0));
        let got = Arc::new(AtomicUsize::new(0));
        // 4 consumers (3 coroutines, 1 thread) wait on the condvar.
        let consumers: Vec<_> = (0..4)
            .map(|i| {
                let (q, sum, got) = (q.clone(), sum.clone(), got.clone());
                let body = move || loop {
                    let (m, cv) = &*q;
                    let mut g = m.lock();
                    while g.0.is_empty() && !g.1 {
                        g = cv.wait(g);
                    }
                    match g.0.pop_front() {
                        Some(v) => {
                            drop(g);
                            sum.fetch_add(v as usize, Relaxed);
                            got.fetch_add(1, Relaxed);
                        }
                        None => return,
                    }
                };
                if i == 3 {
                    Err(std::thread::spawn(body))
                } else {
                    Ok(rt.spawn(body))
                }
            })
            .collect();
        let (qq, n) = (q.clone(), 20_000u64);
        mixed(&rt, 2, 1, move |p| {
            for v in 0..n / 3 + 1 {
                let v = v * 3 + p as u64;
                if v >= n {
                    break;
                }
                qq.0.lock().0.push_back(v);
                qq.1.notify_one();
            }
        });
        // Done: one notify_all must release every consumer.
        q.0.lock().1 = true;
        q.1.notify_all();
        for c in consumers {
            match c {
                Ok(h) => h.join().unwrap(),
                Err(t) => t.join().unwrap(),
            }
        }
        assert_eq!(got.load(Relaxed), n as usize);
        assert_eq!(sum.load(Relaxed) as u64, n * (n - 1) / 2);
    })
}

#[test]
fn condvar_wait_timeout_reports_timeouts() {
    watchdog(30, || {
        let rt = rt();
        let check = || {
            let m = Mutex::new(0);
            let cv = Condvar::new();
            let t0 = Instant::now();
            let (g, timed_out) = cv.wait_timeout(m.lock(), Duration::from_millis(20));
            assert!(timed_out);
            assert!(t0.elapsed() >= Duration::from_millis(20));
            drop(g);
        };
        rt.block_on(check);
        check();
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let p = pair.clone();
        let h = rt.spawn(move || {
            let mut g = p.0.lock();
            let mut timed_out = false;
            while !*g && !timed_out {
                (g, timed_out) = p.1.wait_timeout(g, Duration::from_secs(10));
            }
            timed_out
        });
        std::thread::sleep(Duration::from_millis(20));
        *pair.0.lock() = true;
        pair.1.notify_one();
        assert!(!h.join().unwrap(), "woken by the notify, not the timeout");
    })
}
