//! Where a new coroutine starts (docs/architecture.md, "Placement"):
//! started coroutines never migrate, so placement is the only load
//! balancing, and these tests pin its three rules on 2 workers.

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
