//! The guard path of kernels older than 6.13: `mprotect(PROT_NONE)` guards
//! (one VMA each) instead of `MADV_GUARD_INSTALL`. This binary forces that
//! mode before its first runtime (the mode is process-wide, hence its own
//! test binary with one test) and runs coroutines through grow, poison and
//! reuse of segments. The guard-hit report under this mode is checked by
//! `crash.rs::guard_hit_under_mprotect_guards_is_reported_too`.

use bamboo::test_hooks::{force_mprotect_guards, guard_mode, GuardMode};

fn vmas() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .expect("/proc/self/maps")
        .lines()
        .count()
}

fn depth(n: u32) -> u32 {
    if n == 0 {
        0
    } else {
        bamboo::grow(|| std::hint::black_box(depth(n - 1))) + 1
    }
}

#[test]
fn coroutines_run_on_mprotect_guards() {
    force_mprotect_guards();
    assert_eq!(guard_mode(), GuardMode::Mprotect);
    let before = vmas();
    let rt = bamboo::Runtime::builder()
        .workers(2)
        .segment_size(16 << 10)
        .force_stack_move(true)
        .stack_poison(true)
        .build()
        .unwrap();
    let total: u32 = rt.block_on(|| {
        let hs: Vec<_> = (0..200u32)
            .map(|i| {
                bamboo::spawn(move || {
                    bamboo::yield_now();
                    depth(200 + i % 50)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(total, (0..200u32).map(|i| 200 + i % 50).sum::<u32>());
    assert_eq!(
        guard_mode(),
        GuardMode::Mprotect,
        "no switch back to madvise"
    );
    // Each mprotect'ed guard splits its chunk's mapping: with a few chunks of
    // many slots, the process has far more VMAs than before.
    let after = vmas();
    assert!(
        after > before + 100,
        "mprotect guards split the mappings: {before} -> {after} VMAs"
    );
    // Segments freed and poisoned under mprotect come back usable.
    assert_eq!(rt.block_on(|| depth(2000)), 2000);
}
