//! Where a new coroutine starts (docs/architecture.md, "Placement"):
//! started coroutines never migrate, so placement is the only load
//! balancing, and these tests pin its rules on 2 workers; and which
//! unstarted coroutine a worker starts first (newest, every 128th the
//! oldest) on 1.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use bamboo::Runtime;

fn rt() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

fn me() -> ThreadId {
    std::thread::current().id()
}

/// Spin for `d` without a check point (so nothing can preempt it).
fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Two CPU-bound coroutines spawned together run on both workers, at the
/// same time.
#[test]
fn two_cpu_bound_coroutines_spawned_together_use_both_workers() {
    let rt = rt();
    let (a, b) = rt.block_on(|| {
        let work = || {
            let start = Instant::now();
            // CPU-bound with check points, as a real loop would have.
            let mut x = 0u64;
            while start.elapsed() < Duration::from_millis(60) {
                x = bamboo::grow(|| x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            std::hint::black_box(x);
            (me(), start, Instant::now())
        };
        let a = bamboo::spawn(work);
        let b = bamboo::spawn(work);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.0, b.0, "both ran on one worker");
    let overlap = a.2.min(b.2).saturating_duration_since(a.1.max(b.1));
    assert!(
        overlap >= Duration::from_millis(30),
        "they ran one after the other: overlap {overlap:?}"
    );
}

/// A child its spawner joins at once runs on the spawner's worker (Go's
/// `runnext`): a lone unstarted coroutine wakes no other worker, and a
/// worker that is awake leaves it alone while its owner's slice is shorter
/// than the steal delay. Fails when a spawn wakes a sleeping worker for
/// it, or when a lone coroutine is stealable at once: the woken worker
/// then takes a share of the children while the spawner is still in the
/// wake-up system call.
#[test]
fn a_child_joined_at_once_stays_on_the_spawners_worker() {
    let rt = rt();
    let (stolen, n) = rt.block_on(|| {
        let parent = me();
        let n = 4_000;
        let mut stolen = 0;
        for i in 0..n {
            if i % 10 == 0 {
                // Let the other worker fall asleep: the next spawn would
                // wake it (with the mistake this test catches).
                bamboo::sleep(Duration::from_millis(1));
            }
            if bamboo::spawn(me).join().unwrap() != parent {
                stolen += 1;
            }
        }
        (stolen, n)
    });
    // A few may go when the OS deschedules the parent's thread between its
    // spawn and its join for longer than the steal delay (a loaded machine).
    assert!(
        stolen * 100 <= n,
        "{stolen} of {n} children ran on the other worker"
    );
}

/// A lone child whose spawner keeps running (no check point, so no
/// preemption either) is taken by the idle worker after a short delay: it
/// does not wait for the spawner's slice to end.
#[test]
fn a_lone_child_of_a_busy_spawner_is_stolen() {
    let rt = rt();
    let started = Arc::new(AtomicUsize::new(0));
    let (parent, child, child_started_during_spin) = rt.block_on({
        let started = started.clone();
        move || {
            let parent = me();
            let h = bamboo::spawn({
                let started = started.clone();
                move || {
                    started.store(1, SeqCst);
                    me()
                }
            });
            spin(Duration::from_millis(200));
            let during = started.load(SeqCst) == 1;
            (parent, h.join().unwrap(), during)
        }
    });
    assert!(
        child_started_during_spin,
        "the child waited for its spawner's slice to end"
    );
    assert_ne!(parent, child);
}

/// Two coroutines spawned together that yield at once still run on both
/// workers: the second spawn goes straight to the idle worker (its
/// `handoff`), so the spawner's worker cannot start both before a thief
/// arrives. Without the handoff the yielding first one lets its worker
/// start the second at its first yield, every time. One attempt in five
/// suffices: a lone first child may be stolen by the other worker when
/// the OS stops the spawner's thread for 3 µs (the lone-steal rule).
#[test]
fn two_yielding_coroutines_spawned_together_use_both_workers() {
    let rt = rt();
    let attempts: Vec<(ThreadId, ThreadId, ThreadId)> = (0..5)
        .map(|_| {
            rt.block_on(|| {
                // Let the other worker go idle.
                bamboo::sleep(Duration::from_millis(20));
                let work = || {
                    let id = me();
                    for _ in 0..2_000 {
                        bamboo::yield_now();
                        assert_eq!(me(), id, "a started coroutine moved");
                    }
                    id
                };
                let spawner = me();
                let a = bamboo::spawn(work);
                let b = bamboo::spawn(work);
                (spawner, a.join().unwrap(), b.join().unwrap())
            })
        })
        .collect();
    assert!(
        attempts.iter().any(|(_, a, b)| a != b),
        "both yielders ran on one worker in every attempt: {attempts:?}"
    );
    assert!(
        attempts.iter().all(|(spawner, _, b)| spawner != b),
        "the second spawn started on its spawner's worker: {attempts:?}"
    );
}

/// A yield with nothing else to run on its worker returns without a
/// switch (every 61st still goes through the worker loop), and is counted
/// as a yield; with another coroutine ready, every yield switches.
#[test]
fn a_yield_with_nothing_else_to_run_returns_at_once() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let h = rt.handle();
    let n = 61 * 50;
    let (alone, shared) = rt.block_on(move || {
        let c0 = h.counters();
        for _ in 0..n {
            bamboo::yield_now();
        }
        let c1 = h.counters();
        let other = bamboo::spawn(move || {
            for _ in 0..n {
                bamboo::yield_now();
            }
        });
        for _ in 0..n {
            bamboo::yield_now();
        }
        other.join().unwrap();
        let c2 = h.counters();
        (
            (
                c1.switches - c0.switches,
                c1.yields - c0.yields,
                c1.preemptions - c0.preemptions,
            ),
            (c2.switches - c1.switches, c2.yields - c1.yields),
        )
    });
    assert_eq!(alone.1, n, "quick yields must count as yields");
    // A slow machine (or the stress mode) may see a time slice run out
    // meanwhile: each preemption is a switch too.
    assert!(
        alone.0 <= n / 61 + alone.2 + 5,
        "{} switches ({} preemptions) for {n} yields with nothing else to run",
        alone.0,
        alone.2
    );
    assert_eq!(shared.1, 2 * n);
    assert!(
        shared.0 >= 2 * n,
        "{} switches for {} yields of two coroutines on one worker",
        shared.0,
        2 * n
    );
}

/// A coroutine that yields in a loop, alone on its worker, still sees a
/// timer fire, a wake-up from another worker and a new spawn: the quick
/// yield only returns at once while none of them is pending.
#[test]
fn a_quick_yield_loop_still_lets_timers_wake_ups_and_spawns_in() {
    use std::sync::atomic::AtomicBool;
    let rt = rt();
    rt.block_on(|| {
        // A timer on this worker.
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let sleeper = bamboo::spawn(move || {
            bamboo::sleep(Duration::from_millis(5));
            d.store(true, SeqCst);
        });
        while !done.load(SeqCst) {
            bamboo::yield_now();
        }
        sleeper.join().unwrap();
        // A spawn from a plain thread (the injector) while this yields.
        let h = bamboo::Handle::current().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let t = std::thread::spawn(move || {
            h.spawn(move || {
                r.fetch_add(1, SeqCst);
            })
            .join()
            .unwrap()
        });
        while ran.load(SeqCst) == 0 {
            bamboo::yield_now();
        }
        t.join().unwrap();
    });
}

/// A node of a 10-ary spawn tree `depth` deep (skynet's shape): spawn the
/// children, then wait for their sums; counts live nodes and their peak.
fn tree(depth: u32, live: Arc<(AtomicUsize, AtomicUsize)>) -> u64 {
    let now = live.0.fetch_add(1, SeqCst) + 1;
    live.1.fetch_max(now, SeqCst);
    let sum = if depth == 0 {
        1
    } else {
        let hs: Vec<_> = (0..10)
            .map(|_| {
                let live = live.clone();
                bamboo::spawn(move || tree(depth - 1, live))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    };
    live.0.fetch_sub(1, SeqCst);
    sum
}

/// A worker starts its newest spawn first: a spawn tree runs depth first,
/// so few of its coroutines are alive at once (FIFO starts ran it level
/// by level: 11,112 of 111,111 alive at the peak).
#[test]
fn a_spawn_tree_runs_depth_first() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let live = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    let l = live.clone();
    let sum = rt.block_on(move || tree(5, l));
    assert_eq!(sum, 100_000);
    let peak = live.1.load(SeqCst);
    assert!(
        peak < 2_000,
        "{peak} of 111,111 coroutines alive at the peak"
    );
}

/// Newest first is not newest only: a worker whose coroutines keep
/// spawning still starts its oldest unstarted one (every 128th start at
/// home is the oldest), long before the newer ones run out.
#[test]
fn a_worker_that_keeps_spawning_still_starts_its_oldest_spawn() {
    const CHAIN: usize = 20_000;
    fn link(n: usize, started: Arc<AtomicUsize>) {
        started.fetch_add(1, SeqCst);
        if n > 0 {
            drop(bamboo::spawn(move || link(n - 1, started)));
        }
    }
    let rt = Runtime::builder().workers(1).build().unwrap();
    let links_before_oldest = rt.block_on(|| {
        let started = Arc::new(AtomicUsize::new(0));
        let s = started.clone();
        let oldest = bamboo::spawn(move || s.load(SeqCst));
        // Each link spawns the next as it ends: there is always a newer
        // unstarted coroutine than `oldest` until the chain ends.
        let s = started.clone();
        drop(bamboo::spawn(move || link(CHAIN, s)));
        oldest.join().unwrap()
    });
    assert!(
        links_before_oldest < 1_000,
        "the oldest spawn started after {links_before_oldest} of {CHAIN} newer ones"
    );
}
