//! The may side of the original workloads, and the helpers every
//! module uses to spawn and wait on may coroutines.

use super::*;

pub(crate) fn may_spawn<F, T>(f: F) -> may::coroutine::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // SAFETY: the closures below touch no thread-locals and do not
    // overflow may's stacks (deep recursion sets a large stack).
    unsafe { may::coroutine::spawn(f) }
}

/// Spawn a may coroutine, catching the panic may raises when it cannot map
/// a stack (it maps one per coroutine: ENOMEM near `vm.max_map_count / 2`).
pub(crate) fn may_try_spawn<F, T>(f: F) -> Result<may::coroutine::JoinHandle<T>, String>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        // SAFETY: as in `may_spawn`.
        unsafe { may::coroutine::Builder::new().spawn(f) }
    }));
    match res {
        Ok(Ok(h)) => Ok(h),
        Ok(Err(e)) => Err(e.to_string()),
        Err(p) => Err(p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()),
    }
}

/// Silence the panic message of a failed may stack allocation (caught by
/// `may_try_spawn` and reported as `fail`); every other panic still prints.
pub(crate) fn quiet_may_stack_panics() {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if !msg.contains("alloc sys stack") {
            prev(info);
        }
    }));
}

/// Run `f` in a may coroutine and wait for it from this thread.
pub(crate) fn may_block_on<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    may_spawn(f).join().expect("may coroutine panicked")
}

pub(crate) fn may_main(workload: &str, n_parked: usize) {
    may::config().set_workers(workers_for(workload));
    quiet_may_stack_panics();
    let w = workload.to_string();
    match workload {
        "skynet" => skynet::may(),
        "sieve" | "sieve_w1" => sieve::may(workload),
        "spawn_batch" => batch::may(),
        "deep_1m_100b" => deep100::may(),
        "cpu2" | "cpu2_w1" | "cpu64" => cpu::may(workload, workers_for(workload)),
        "spawn_join" | "spawn_join_w1" => {
            let v = may_block_on(|| {
                timed(SPAWN_N, || {
                    let t = Instant::now();
                    for i in 0..SPAWN_N {
                        black_box(may_spawn(move || black_box(i)).join().unwrap());
                    }
                    t.elapsed()
                })
            });
            emit("may", &w, v, "ns/op");
        }
        "yield_w1" | "yield_w2" => {
            let v = may_block_on(|| {
                timed(2 * YIELD_N, || {
                    let t = Instant::now();
                    let a = may_spawn(|| {
                        for _ in 0..YIELD_N {
                            may::coroutine::yield_now();
                        }
                    });
                    let b = may_spawn(|| {
                        for _ in 0..YIELD_N {
                            may::coroutine::yield_now();
                        }
                    });
                    a.join().unwrap();
                    b.join().unwrap();
                    t.elapsed()
                })
            });
            emit("may", &w, v, "ns/op");
        }
        "pingpong" | "pingpong_w1" => {
            // may has no rendezvous channel: its mpsc channels are unbounded.
            // Each side still blocks on a receive every round trip.
            let v = may_block_on(|| {
                timed(PINGPONG_N, || {
                    let (tx1, rx1) = may::sync::mpsc::channel::<u64>();
                    let (tx2, rx2) = may::sync::mpsc::channel::<u64>();
                    let t = Instant::now();
                    let echo = may_spawn(move || {
                        while let Ok(v) = rx1.recv() {
                            if tx2.send(v + 1).is_err() {
                                break;
                            }
                        }
                    });
                    for i in 0..PINGPONG_N {
                        tx1.send(i).unwrap();
                        black_box(rx2.recv().unwrap());
                    }
                    drop(tx1);
                    echo.join().unwrap();
                    t.elapsed()
                })
            });
            emit("may", &w, v, "ns/op");
        }
        "deep_100k" | "deep_1m" => {
            // may's stacks are fixed: give the coroutines a stack large
            // enough for the whole recursion (in words), plain recursion.
            let d = deep_depth(workload).unwrap();
            let reps = DEEP_FRAMES_PER_BATCH / d;
            let words = (d as usize * 64 + (1 << 20)) / 8;
            let v = may_block_on(move || {
                timed(reps * d, || {
                    let t = Instant::now();
                    for _ in 0..reps {
                        let b = may::coroutine::Builder::new().stack_size(words);
                        // SAFETY: the stack holds d frames of deep_plain.
                        let j = unsafe { b.spawn(move || deep_plain(d)) }.expect("may spawn");
                        assert_eq!(j.join().unwrap(), d);
                    }
                    t.elapsed()
                })
            });
            emit("may", &w, v, "ns/frame");
        }
        "hot_split" => skip("may", &w, "fixed stacks: no split"),
        "metrics" => skip("may", "metrics_read", "no runtime metrics"),
        "parked" => {
            // may maps every coroutine stack separately with a guard page:
            // two VMAs each, so it fails around vm.max_map_count / 2.
            let r = may_block_on(move || {
                let (tx, rx) = may::sync::mpmc::channel::<()>();
                let parked = Arc::new(AtomicUsize::new(0));
                let done = Arc::new(AtomicUsize::new(0));
                let base = rss();
                let mut spawned = 0;
                let mut failure = None;
                for i in 0..n_parked {
                    let (rx, parked, done) = (rx.clone(), parked.clone(), done.clone());
                    let res = may_try_spawn(move || {
                        parked.fetch_add(1, SeqCst);
                        let _ = rx.recv();
                        done.fetch_add(1, SeqCst);
                    });
                    match res {
                        Ok(_) => spawned += 1,
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                    if i % 10_000 == 0 {
                        eprintln!("may parked: {i} spawned");
                    }
                }
                while parked.load(SeqCst) < spawned {
                    may::coroutine::sleep(Duration::from_millis(1));
                }
                may::coroutine::sleep(Duration::from_millis(20));
                let full = rss();
                let t = Instant::now();
                drop(tx);
                while done.load(SeqCst) < spawned {
                    may::coroutine::sleep(Duration::from_millis(1));
                }
                (base, full, t.elapsed(), spawned, failure)
            });
            let (base, full, rel, spawned, failure) = r;
            match failure {
                Some(msg) => {
                    eprintln!("may parked: failed after {spawned} coroutines: {msg}");
                    println!("may {} fail at_{spawned}", parked_label(n_parked));
                }
                None => report_parked("may", (base, full, rel), n_parked),
            }
        }
        _ => skip("may", &w, "unknown workload"),
    }
}
