//! Reuse from per-worker free lists (Go's `gfree` and `stackcache`): a
//! spawn storm takes task structs and first segments from its worker's
//! lists, and a runtime shutdown gives every one back: each segment to the
//! pool, each task struct to the allocator (from the workers' lists and
//! from the runtime's shared list they overflow into).
//!
//! The runtime's shared list keeps what a burst freed (no bound, as Go's)
//! until it stayed unused for a while; then an idle worker frees it.
//!
//! Coroutines that park on channels and are woken on their own worker
//! (ping-pong pairs) are reused as well: every reference a wait made (its
//! record's) is gone by the time the coroutine finishes.
//!
//! Bodies (a spawn's closure and join slot) are reused by spawn site the
//! same way (`free_bodies.rs`), and only empty: a result nobody joined is
//! dropped with its handle, not kept with the body.
//!
//! One test in this binary: the task-struct and body counts are
//! process-wide.

use bamboo::test_hooks::{bodies, body_reuses, task_reuses, task_structs};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bamboo::{grow, Runtime};

/// Recursion through `grow` (a new segment per level in stress mode).
fn deep(n: u32) -> u32 {
    if n == 0 {
        return 0;
    }
    let pad = std::hint::black_box([n as u8; 96]);
    grow(|| deep(n - 1)) + pad[0] as u32 / 255
}

const WAVES: usize = 200;
const JOINED: usize = 50;
const DETACHED: usize = 10;
/// More than both workers' free lists hold.
const OVERFLOW: usize = 2_000;

fn storm(stress: bool) {
    let structs_before = task_structs();
    let bodies_before = bodies();
    let rt = Runtime::builder()
        .workers(2)
        .segment_size(16 << 10)
        .force_stack_move(stress)
        .build()
        .unwrap();
    let h = rt.handle();
    let reuses_before = task_reuses();
    let body_reuses_before = body_reuses();
    rt.block_on(|| {
        for _ in 0..WAVES {
            let hs: Vec<_> = (0..JOINED as u32)
                .map(|i| bamboo::spawn(move || deep(i % 8)))
                .collect();
            // Detached: the worker drops the last reference as each ends.
            for _ in 0..DETACHED {
                drop(bamboo::spawn(bamboo::yield_now));
            }
            for j in hs {
                j.join().unwrap();
            }
        }
    });
    // Detached coroutines spawned from this plain thread: whichever worker
    // starts one frees its struct, with no spawn there to take it back, so
    // the workers' lists overflow into the runtime's shared list.
    let (tx, rx) = bamboo::sync::channel::<()>(OVERFLOW);
    for _ in 0..OVERFLOW {
        let tx = tx.clone();
        drop(h.spawn(move || {
            bamboo::yield_now();
            tx.send(()).unwrap();
        }));
    }
    for _ in 0..OVERFLOW {
        rx.recv().unwrap();
    }
    let spawns = WAVES * (JOINED + DETACHED) + 1;
    let reused = task_reuses() - reuses_before;
    assert!(
        reused >= spawns * 3 / 4,
        "only {reused} of {spawns} spawns reused a task struct"
    );
    // The joined and the detached sites' bodies come back (the plain
    // thread's spawns allocate: it has no worker lists).
    let bodies_reused = body_reuses() - body_reuses_before;
    assert!(
        bodies_reused >= spawns * 3 / 4,
        "only {bodies_reused} of {spawns} spawns reused a body"
    );
    let c = h.counters();
    assert!(
        c.cache_refills * 20 < c.segment_allocs,
        "first segments do not come from the worker caches: {c:?}"
    );
    drop(rt);
    let c = h.counters();
    assert_eq!((c.segments_inuse, c.stack_inuse), (0, 0), "{c:?}");
    assert_eq!(c.stack_cached + c.stack_released, c.stack_mapped, "{c:?}");
    assert_eq!(
        task_structs(),
        structs_before,
        "task structs left allocated after the runtime's shutdown (stress {stress})"
    );
    assert_eq!(
        bodies(),
        bodies_before,
        "bodies left allocated after the runtime's shutdown (stress {stress})"
    );
}

/// Far more than the shared list keeps for ever (4096).
const BURST: usize = 30_000;

fn burst_then_idle() {
    let structs_before = task_structs();
    let bodies_before = bodies();
    let rt = Runtime::builder().workers(2).build().unwrap();
    rt.block_on(|| {
        let hs: Vec<_> = (0..BURST).map(|_| bamboo::spawn(|| ())).collect();
        for j in hs {
            j.join().unwrap();
        }
    });
    // Kept for the next burst (the shared list had a bound of 4096 once).
    let kept = task_structs() - structs_before;
    assert!(
        kept >= BURST * 9 / 10,
        "only {kept} of {BURST} task structs kept after the burst"
    );
    let kept = bodies() - bodies_before;
    assert!(
        kept >= BURST * 9 / 10,
        "only {kept} of {BURST} bodies kept after the burst"
    );
    // Idle workers free what stays unused for a second (beyond 4096 task
    // structs and 1024 bodies for the site, and the workers' own lists of
    // 256 each), a bounded batch per pass.
    let t0 = Instant::now();
    trimmed_to(
        "task structs",
        || task_structs() - structs_before,
        4096 + 2 * 256 + 64,
        t0,
    );
    trimmed_to(
        "bodies",
        || bodies() - bodies_before,
        1024 + 2 * 256 + 64,
        t0,
    );
    drop(rt);
    assert_eq!(task_structs(), structs_before);
    assert_eq!(bodies(), bodies_before);
}

/// Wait until `count()` is at most `bound`, for 30 s after `t0` at most.
fn trimmed_to(what: &str, count: impl Fn() -> usize, bound: usize, t0: Instant) {
    while count() > bound {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{} {what} still allocated after 30 s idle",
            count()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A result that logs its drop.
struct Logged(Arc<AtomicUsize>);

impl Drop for Logged {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Bodies are kept only empty: a result nobody joined is dropped when its
/// handle is, not kept in the body for its next spawn; a joined one goes
/// to the joiner. Two sites that alternate (different closure and result
/// types) each get their own bodies back, their values intact.
fn only_empty_bodies_are_kept() {
    let bodies_before = bodies();
    let rt = Runtime::builder().workers(1).build().unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let reuses_before = body_reuses();
    const N: usize = 200;
    let dropped2 = dropped.clone();
    rt.block_on(move || {
        let dropped = dropped2;
        for i in 0..N {
            let d = dropped.clone();
            let h = bamboo::spawn(move || Logged(d));
            // Finished, its result in the slot: the handle's drop drops it.
            while !h.is_finished() {
                bamboo::yield_now();
            }
            drop(h);
            assert_eq!(dropped.load(SeqCst), 2 * i + 1, "unjoined result {i} kept");
            let d = dropped.clone();
            let r = bamboo::spawn(move || Logged(d)).join().unwrap();
            assert_eq!(
                dropped.load(SeqCst),
                2 * i + 1,
                "joined result {i} dropped early"
            );
            drop(r);
            let s = bamboo::spawn(move || format!("site two {i}"))
                .join()
                .unwrap();
            assert_eq!(s, format!("site two {i}"));
            let n = bamboo::spawn(move || i as u64 * 3).join().unwrap();
            assert_eq!(n, i as u64 * 3);
        }
    });
    let reused = body_reuses() - reuses_before;
    assert!(
        reused >= 3 * N - 10,
        "only {reused} of {} joined spawns reused a body",
        3 * N
    );
    assert_eq!(dropped.load(SeqCst), 2 * N);
    drop(rt);
    assert_eq!(bodies(), bodies_before);
}

const PAIR_WAVES: usize = 200;
const PAIRS: usize = 8;
const ROUNDS: u64 = 20;

/// Pairs that ping-pong over rendezvous channels on one worker: 40 parks
/// and wake-ups per pair, each through a wait record that holds a strong
/// reference to its owner's task until the claimer's wake. A reference
/// left behind (a record not freed, a wake that keeps its reference) would
/// keep the struct from its free list: its finished coroutine's spawn
/// slot would not be reused, and the struct not freed at the shutdown.
fn pingpong_pairs() {
    let structs_before = task_structs();
    let rt = Runtime::builder().workers(1).build().unwrap();
    let reuses_before = task_reuses();
    rt.block_on(|| {
        for _ in 0..PAIR_WAVES {
            let hs: Vec<_> = (0..PAIRS)
                .flat_map(|_| {
                    let (tx1, rx1) = bamboo::sync::channel::<u64>(0);
                    let (tx2, rx2) = bamboo::sync::channel::<u64>(0);
                    let echo = bamboo::spawn(move || {
                        while let Ok(v) = rx1.recv() {
                            tx2.send(v + 1).unwrap();
                        }
                        0
                    });
                    let ping = bamboo::spawn(move || {
                        let mut sum = 0;
                        for i in 0..ROUNDS {
                            tx1.send(i).unwrap();
                            sum += rx2.recv().unwrap();
                        }
                        sum
                    });
                    [ping, echo]
                })
                .collect();
            let sums: Vec<u64> = hs.into_iter().map(|h| h.join().unwrap()).collect();
            for pair in sums.chunks(2) {
                assert_eq!(pair, [(1..=ROUNDS).sum::<u64>(), 0]);
            }
        }
    });
    let spawns = PAIR_WAVES * PAIRS * 2 + 1;
    let reused = task_reuses() - reuses_before;
    assert!(
        reused >= spawns * 3 / 4,
        "only {reused} of {spawns} ping-pong spawns reused a task struct"
    );
    drop(rt);
    assert_eq!(
        task_structs(),
        structs_before,
        "task structs left allocated after the ping-pong runtime's shutdown"
    );
}

#[test]
fn free_list_reuse_returns_every_segment_and_task_at_shutdown() {
    storm(false);
    storm(true);
    burst_then_idle();
    pingpong_pairs();
    only_empty_bodies_are_kept();
}
