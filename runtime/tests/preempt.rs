//! Preemption at check points (docs/architecture.md, "Preemption"): a
//! coroutine that runs past its time slice yields at its next check point.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bamboo::Runtime;

/// On one worker, a busy loop that only passes check points (`grow`) lets a
/// second coroutine run: without preemption the second would never start
/// and the loop would hit its 10 s deadline.
#[test]
fn a_busy_loop_with_check_points_lets_another_coroutine_run() {
    let rt = Runtime::builder()
        .workers(1)
        .time_slice(Duration::from_millis(5))
        .build()
        .unwrap();
    let ran = rt.block_on(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let other = bamboo::spawn(move || f.store(true, SeqCst));
        let t0 = Instant::now();
        while !flag.load(SeqCst) && t0.elapsed() < Duration::from_secs(10) {
            black_box(bamboo::grow(|| black_box(1u64)));
        }
        // Read before the join (the join parks, which would let it run).
        let ran = flag.load(SeqCst);
        other.join().unwrap();
        ran
    });
    assert!(ran, "the second coroutine never ran during the busy loop");
    let c = rt.handle().counters();
    assert!(c.preemptions >= 1, "{c:?}");
    assert_eq!(
        c.yields, 0,
        "preemptions are not counted as yield_now calls"
    );
}

/// Stop-the-world returns while a coroutine spins through check points on
/// another worker, even with a time slice far longer than the test: the
/// stop asks the running coroutine to yield at once. Run from a helper
/// thread with a deadline, so a regression fails instead of hanging.
#[test]
fn stop_the_world_with_a_spinning_coroutine_returns() {
    let rt = Runtime::builder()
        .workers(2)
        .time_slice(Duration::from_secs(3600))
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let spinning = Arc::new(AtomicBool::new(false));
    let (s, sp) = (stop.clone(), spinning.clone());
    let spinner = rt.spawn(move || {
        sp.store(true, SeqCst);
        while !s.load(SeqCst) {
            black_box(bamboo::grow(|| black_box(1u64)));
        }
    });
    while !spinning.load(SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let h = rt.handle();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..5 {
            let t0 = Instant::now();
            let g = h.stop_the_world();
            let took = t0.elapsed();
            drop(g);
            tx.send(took).unwrap();
        }
    });
    for i in 0..5 {
        let Ok(took) = rx.recv_timeout(Duration::from_secs(20)) else {
            // End the spinner first: the stop it blocks then returns and
            // the runtime can be dropped (a bare panic would hang there).
            stop.store(true, SeqCst);
            panic!("stop {i} did not return in 20 s");
        };
        eprintln!("stop-the-world {i} with a spinning coroutine: {took:?}");
    }
    stop.store(true, SeqCst);
    spinner.join().unwrap();
}

/// A time slice longer than the loop: the monitor asks nothing (each
/// `grow` stays on the fast path and the loop is not cut).
#[test]
fn a_loop_shorter_than_its_slice_is_not_preempted() {
    let rt = Runtime::builder()
        .workers(1)
        .time_slice(Duration::from_secs(5))
        .build()
        .unwrap();
    rt.block_on(|| {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_millis(200) {
            black_box(bamboo::grow(|| black_box(1u64)));
        }
    });
    assert_eq!(rt.handle().counters().preemptions, 0);
}

/// With nothing running, the monitor thread sleeps: over half a second of
/// an idle runtime it makes at most a few ticks (it ticks every 50 µs to
/// 100 µs with this slice while a coroutine runs; a monitor that kept
/// ticking while idle would make thousands). It wakes again for the next
/// busy loop and preempts it.
#[test]
fn the_monitor_sleeps_while_the_runtime_is_idle() {
    let rt = Runtime::builder()
        .workers(2)
        .time_slice(Duration::from_micros(200))
        .build()
        .unwrap();
    let h = rt.handle();
    // Something runs for a while, then nothing.
    rt.block_on(|| {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_millis(50) {
            black_box(bamboo::grow(|| black_box(1u64)));
        }
    });
    std::thread::sleep(Duration::from_millis(100));
    let before = bamboo::test_hooks::monitor_ticks(&h);
    std::thread::sleep(Duration::from_millis(500));
    let idle_ticks = bamboo::test_hooks::monitor_ticks(&h) - before;
    assert!(
        idle_ticks <= 3,
        "the monitor ticked {idle_ticks} times in 500 ms of an idle runtime"
    );
    let p0 = h.counters().preemptions;
    rt.block_on(|| {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_millis(100) {
            black_box(bamboo::grow(|| black_box(1u64)));
        }
    });
    assert!(
        h.counters().preemptions > p0,
        "the monitor did not wake up for a busy loop after sleeping"
    );
}
