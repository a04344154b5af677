//! Reuse from per-worker free lists (Go's `gfree` and `stackcache`): a
//! spawn storm takes task structs and first segments from its worker's
//! lists, and a runtime shutdown gives every one back: each segment to the
//! pool, each task struct to the allocator (from the workers' lists and
//! from the runtime's shared list they overflow into).
//!
//! One test in this binary: the task-struct count is process-wide.

use bamboo::test_hooks::{task_reuses, task_structs};
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
    let rt = Runtime::builder()
        .workers(2)
        .segment_size(16 << 10)
        .force_stack_move(stress)
        .build()
        .unwrap();
    let h = rt.handle();
    let reuses_before = task_reuses();
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
}

#[test]
fn free_list_reuse_returns_every_segment_and_task_at_shutdown() {
    storm(false);
    storm(true);
}
