//! Property tests of the segment allocator against a reference model:
//! random acquire/release/flush/scavenge sequences on simulated workers.

use std::collections::HashSet;
use std::sync::Arc;

use proptest::prelude::*;

use super::cache::SegCache;
use super::pool::Pool;
use super::registry::lookup_guard;
use super::{stack_bytes, Segment, GUARD};
use crate::counters::Counters;

#[derive(Debug, Clone)]
enum Op {
    Acquire {
        worker: usize,
        class: u8,
    },
    Release {
        worker: usize,
        pick: usize,
    },
    Flush {
        worker: usize,
    },
    /// Move the scavenger's clock forward by `ms`, then run a pass.
    Scavenge {
        ms: u64,
    },
}

fn op(workers: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..workers, 0u8..4).prop_map(|(worker, class)| Op::Acquire { worker, class }),
        3 => (0..workers, any::<usize>()).prop_map(|(worker, pick)| Op::Release { worker, pick }),
        1 => (0..workers).prop_map(|worker| Op::Flush { worker }),
        1 => (0u64..1500).prop_map(|ms| Op::Scavenge { ms }),
    ]
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
}

/// Bytes conserved: in use + cached + released == mapped (racy snapshot is
/// exact here: one thread).
fn check_conservation(c: &Counters) -> Result<(), TestCaseError> {
    let s = c.snapshot(0);
    prop_assert_eq!(
        s.stack_inuse + s.stack_cached + s.stack_released,
        s.stack_mapped,
        "{:?}",
        s
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn allocator_conserves_bytes_and_never_double_hands_out(
        workers in 1usize..4,
        ops in prop::collection::vec(op(3), 1..300),
        poison in any::<bool>(),
    ) {
        let counters = Arc::new(Counters::new(workers));
        let pool = Pool::new(counters.clone(), |f| f());
        let mut caches: Vec<SegCache> = (0..workers).map(|_| SegCache::new(poison)).collect();
        // The model: segments each worker holds, and every address handed out.
        let mut held: Vec<Vec<Segment>> = (0..workers).map(|_| Vec::new()).collect();
        let mut live: HashSet<usize> = HashSet::new();
        // How far the scavenger's clock is ahead of the pool's stamps.
        let mut skew = std::time::Duration::ZERO;
        for op in ops {
            match op {
                Op::Acquire { worker, class } => {
                    let w = worker % workers;
                    let seg = caches[w].alloc(class, &pool, &counters.workers[w]).unwrap();
                    prop_assert!(live.insert(seg.top()), "segment {:#x} handed out twice", seg.top());
                    prop_assert_eq!(seg.class(), class);
                    // Writable to both ends, guarded right below.
                    // SAFETY: the segment is ours, mapped read-write.
                    unsafe {
                        std::ptr::write_volatile((seg.top() - 1) as *mut u8, 1);
                        std::ptr::write_volatile(seg.bottom() as *mut u8, 1);
                    }
                    let g = lookup_guard(seg.bottom() - 1).expect("guard below every segment");
                    prop_assert_eq!(g.seg_lo, seg.bottom());
                    prop_assert_eq!(g.guard_lo, seg.bottom() - GUARD);
                    prop_assert!(lookup_guard(seg.bottom()).is_none());
                    prop_assert_eq!(seg.bytes(), stack_bytes(class));
                    held[w].push(seg);
                }
                Op::Release { worker, pick } => {
                    let w = worker % workers;
                    if !held[w].is_empty() {
                        let i = pick % held[w].len();
                        let seg = held[w].swap_remove(i);
                        live.remove(&seg.top());
                        caches[w].free(seg, &pool, &counters.workers[w]);
                    }
                }
                Op::Flush { worker } => {
                    let w = worker % workers;
                    caches[w].flush(&pool, &counters.workers[w]);
                }
                Op::Scavenge { ms } => {
                    skew += std::time::Duration::from_millis(ms);
                    pool.scavenge_at(std::time::Instant::now() + skew);
                }
            }
            check_conservation(&counters)?;
            let s = counters.snapshot(0);
            let model_inuse: usize = held.iter().flatten().map(Segment::bytes).sum();
            prop_assert_eq!(s.stack_inuse, model_inuse as u64);
            prop_assert_eq!(s.segments_inuse, live.len() as u64);
        }
        for (w, segs) in held.iter_mut().enumerate() {
            for seg in segs.drain(..) {
                caches[w].free(seg, &pool, &counters.workers[w]);
            }
            caches[w].flush(&pool, &counters.workers[w]);
        }
        let s = counters.snapshot(0);
        prop_assert_eq!(s.stack_inuse, 0);
        prop_assert_eq!(s.segments_inuse, 0);
        check_conservation(&counters)?;
        prop_assert!(pool.free_count() > 0 || s.stack_mapped == 0);
    }
}
