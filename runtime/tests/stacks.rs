//! Stack behaviour through the public API: deep recursion through `grow`,
//! the hot split, the stress mode, `max_stack`, `remaining_stack`, and the
//! system stack.

use std::hint::black_box;

use bamboo::{grow, remaining_stack, system_stack, Runtime};

fn rt(stress: bool) -> Runtime {
    Runtime::builder()
        .workers(2)
        .segment_size(16 << 10)
        .force_stack_move(stress)
        .build()
        .unwrap()
}

/// One frame per level, each through a check point.
fn depth(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let pad = black_box([1u8; 32]);
    grow(|| depth(n - 1)) + 1 + u64::from(pad[0] == 0)
}

/// Levels the deep recursions go down: a million, except in the stress
/// mode of an unoptimised build. There every level takes `grow`'s slow
/// path (a forced segment switch through corosensei's `on_stack` and a
/// `catch_unwind`), whose debug frames are large: ~5.9 KB of segment per
/// level measured (1,126 B without the stress mode), so a million levels
/// would need ~5.9 GB of stack, past the default `max_stack` of 1 GiB,
/// and the grower panics there as documented ("stack exceeds max_stack").
/// Nothing is wrong in the runtime: the release build, which CI runs,
/// stays under 1 GiB for the million levels. A debug build goes down
/// 100,000 levels in the stress mode (~590 MB): the same forced
/// switches, the same accounting checks.
fn levels(stress: bool) -> u64 {
    if stress && cfg!(debug_assertions) {
        eprintln!(
            "debug build: 100,000 levels in the stress mode instead of 1,000,000 (see `levels`)"
        );
        100_000
    } else {
        1_000_000
    }
}

fn deep_recursion(stress: bool) {
    let rt = rt(stress);
    let h = rt.handle();
    let before = h.counters();
    let n = levels(stress);
    let got = rt.block_on(move || depth(n));
    assert_eq!(got, n);
    let after = h.counters();
    assert_eq!(
        after.stack_inuse, before.stack_inuse,
        "segment bytes in use return to their value before the run"
    );
    assert_eq!(after.segments_inuse, before.segments_inuse);
    assert!(
        after.grows > before.grows,
        "1M frames on a 16 KiB segment must switch segments"
    );
    if stress {
        assert!(
            after.forced_grows >= n,
            "every check point is forced: {after:?}"
        );
    }
}

#[test]
fn recursion_of_a_million_frames_on_16k_segment() {
    deep_recursion(false);
}

#[test]
fn recursion_of_a_million_frames_in_stress_mode() {
    deep_recursion(true);
}

/// Recurse to just below a segment boundary, then call `grow` in a loop:
/// each call crosses the boundary and comes back (Go's hot split).
///
/// With `stackpoison` (from `BAMBOO_DEBUG`) there is no spare by design: the
/// segment left behind is freed and poisoned at every return, so every
/// crossing goes to the cache; the test then checks exactly that, on fewer
/// iterations (each one costs two system calls and a fill).
#[test]
fn hot_split_reuses_the_spare_segment() {
    let rt = rt(false);
    let h = rt.handle();
    let poison = h.stack_poison();
    let n: u64 = if poison { 20_000 } else { 10_000_000 };
    rt.block_on(move || {
        fn to_edge(h: &bamboo::Handle, n: u64, poison: bool) -> u64 {
            // Burn stack until the next check point must switch.
            // `remaining_stack` measures inside its own frame, a little
            // below this one: stop with some margin under the red zone, or
            // a frame layout that ends one byte under it in there leaves
            // `grow` here just above it (and never switching).
            let left = remaining_stack().unwrap();
            if left + 512 >= bamboo::RED_ZONE {
                let pad = black_box([0u8; 256]);
                return to_edge(h, n, poison) + u64::from(pad[0]);
            }
            let before = h.counters();
            let mut sum = 0u64;
            for i in 0..n {
                sum = sum.wrapping_add(grow(|| black_box(i)));
            }
            let after = h.counters();
            assert_eq!(sum, (0..n).sum::<u64>());
            assert!(
                after.grows - before.grows >= n,
                "each call crossed: {}",
                after.grows - before.grows
            );
            let touches = after.segment_allocs - before.segment_allocs;
            if poison {
                assert!(touches >= n, "poison mode frees every segment left behind");
            } else {
                assert!(
                    touches <= 4,
                    "allocator touched {touches} times for {n} crossings"
                );
            }
            sum
        }
        to_edge(&h, n, poison)
    });
}

/// Burn stack without check points until the next `grow` must switch
/// (with the margin `hot_split_reuses_the_spare_segment` explains), then
/// run `f` there.
fn at_edge<R>(f: &mut dyn FnMut() -> R) -> R {
    let left = remaining_stack().unwrap();
    if left + 512 >= bamboo::RED_ZONE {
        let pad = black_box([0u8; 256]);
        let r = at_edge(f);
        black_box(pad);
        return r;
    }
    f()
}

/// The spare-hit path of a split: a panic on the spare unwinds through it
/// and leaves the segment state as it was; a nested split on the spare
/// leaves a second spare that is freed when the outer one comes back; and
/// nothing leaks, crossing after crossing.
#[test]
fn spare_hits_unwind_nest_and_give_every_segment_back() {
    let rt = rt(false);
    let h = rt.handle();
    // The stress mode switches through its alternate, and poison mode
    // frees every segment left behind: no spare to hit in either.
    let spares = !h.stack_move_forced() && !h.stack_poison();
    let h2 = h.clone();
    rt.block_on(move || {
        at_edge(&mut || {
            let left = remaining_stack().unwrap();
            assert_eq!(grow(|| 1), 1); // takes the spare from the cache
            let before = h2.counters();
            for i in 0..200u64 {
                let r = std::panic::catch_unwind(|| {
                    grow(|| {
                        if i % 80 == 0 {
                            panic!("planted panic {i}")
                        } else {
                            i
                        }
                    })
                });
                assert_eq!(r.is_err(), i % 80 == 0, "crossing {i}");
                assert_eq!(remaining_stack(), Some(left), "state after crossing {i}");
                let nested = grow(|| at_edge(&mut || grow(remaining_stack)));
                assert!(nested.unwrap() >= bamboo::RED_ZONE);
                assert_eq!(remaining_stack(), Some(left), "state after nesting {i}");
                let now = h2.counters();
                assert_eq!(
                    (now.segments_inuse, now.stack_inuse),
                    (before.segments_inuse, before.stack_inuse),
                    "segments held after crossing {i}"
                );
            }
            let after = h2.counters();
            assert!(after.grows - before.grows >= 600);
            if spares {
                // Every outer crossing (200 plain, 200 nesting) hits the spare.
                assert!(
                    after.spare_hits - before.spare_hits >= 400,
                    "spare hits {}",
                    after.spare_hits - before.spare_hits
                );
            }
        })
    });
    let c = h.counters();
    assert_eq!((c.segments_inuse, c.stack_inuse), (0, 0), "{c:?}");
}

#[test]
fn stress_mode_gives_identical_results() {
    fn work() -> Vec<u64> {
        (0..50u64)
            .map(|i| bamboo::spawn(move || depth(1000 + i) * i))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect()
    }
    let normal = rt(false).block_on(work);
    let r = rt(true);
    let h = r.handle();
    let stressed = r.block_on(work);
    assert_eq!(normal, stressed);
    assert!(h.counters().forced_grows > 50_000);
}

#[test]
fn max_stack_is_enforced_per_coroutine() {
    let rt = Runtime::builder()
        .workers(2)
        .segment_size(16 << 10)
        .max_stack(4 << 20)
        .build()
        .unwrap();
    let h = rt.handle();
    let err = rt.spawn(|| depth(10_000_000)).join().unwrap_err();
    assert!(err.is_panic());
    let msg = err.panic_message().unwrap().to_string();
    assert!(msg.contains("stack exceeds"), "{msg}");
    assert!(msg.contains(&(4u64 << 20).to_string()), "{msg}");
    // The limit is per coroutine: another coroutine still recurses fine.
    // (2,000 levels: the stress mode, from BAMBOO_DEBUG, spends ~400 bytes
    // per check point; 300 in a debug build, where it spends ~5.9 KB, see
    // `levels`.)
    let ok = if cfg!(debug_assertions) { 300 } else { 2_000 };
    assert_eq!(rt.block_on(move || depth(ok)), ok);
    // ...and the failed one gave every segment back.
    let c = h.counters();
    assert_eq!(c.segments_inuse, 0, "{c:?}");
    assert_eq!(c.stack_inuse, 0);
}

#[test]
fn remaining_stack_tracks_the_current_segment() {
    assert_eq!(remaining_stack(), None, "plain thread");
    let rt = rt(false);
    rt.block_on(|| {
        let top = remaining_stack().unwrap();
        assert!(top <= (16 << 10) + bamboo::RED_ZONE);
        fn down(n: u32) -> usize {
            let pad = black_box([0u8; 512]);
            if n == 0 {
                remaining_stack().unwrap() + usize::from(pad[0])
            } else {
                down(n - 1)
            }
        }
        let deeper = down(8);
        assert!(deeper + 4096 <= top, "{deeper} vs {top}");
        assert_eq!(
            system_stack(remaining_stack),
            None,
            "system stack is not a segment"
        );
    });
}

#[test]
fn grow_on_the_system_stack_never_switches() {
    let rt = rt(true);
    let h = rt.handle();
    rt.block_on(move || {
        let before = h.counters();
        let v = system_stack(|| (0..1000).map(|i| grow(|| i)).sum::<u64>());
        assert_eq!(v, 499_500);
        let after = h.counters();
        assert_eq!(
            after.grows, before.grows,
            "no grow on the system stack, even in stress mode"
        );
        assert!(after.system_stack_calls > before.system_stack_calls);
    });
}

#[test]
fn grow_off_a_coroutine_runs_in_place() {
    assert_eq!(grow(|| 7), 7);
    assert_eq!(system_stack(|| 8), 8);
}
