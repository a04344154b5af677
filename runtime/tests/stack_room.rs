//! Stack room for ordinary code: `coroutine::Builder` (name, stack size),
//! `grow_with`, large closures and results through `spawn`, and the cases
//! that used to abort in a coroutine with default settings. The aborting
//! cases run in a child process: a regression is a crash, which must fail
//! the test and not the whole test binary.

mod child;

use std::hint::black_box;
use std::time::Duration;

use bamboo::coroutine::{self, Builder};
use bamboo::Runtime;

const TIMEOUT: Duration = Duration::from_secs(60);

macro_rules! child_test {
    ($name:ident, $body:block) => {
        #[test]
        fn $name() {
            if child::mode().as_deref() == Some(stringify!($name)) {
                $body
            } else if child::mode().is_none() {
                child::run_ok(stringify!($name), stringify!($name), TIMEOUT);
            }
        }
    };
}

fn rt() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

/// A recursion with ~`frame` bytes per frame and no check point.
#[inline(never)]
fn plain_recursion(n: u64, frame: &mut [u8; 64]) -> u64 {
    frame[(n % 64) as usize] = n as u8;
    black_box(&mut *frame);
    if n == 0 {
        return 0;
    }
    let mut next = [0u8; 64];
    plain_recursion(n - 1, &mut next) + u64::from(black_box(frame[0]) & 1) + 1
}

#[test]
fn builder_names_the_coroutine() {
    let rt = rt();
    let h = rt.handle();
    let j = Builder::new().name("worker-a").spawn_on(&h, || {
        (
            coroutine::name(),
            bamboo::spawn(coroutine::name).join().unwrap(),
        )
    });
    assert_eq!(j.join().unwrap(), (Some("worker-a".to_string()), None));
    assert_eq!(rt.block_on(coroutine::name), None);
    assert_eq!(
        coroutine::name(),
        None,
        "a plain thread has no coroutine name"
    );
    // spawn (not spawn_on) from inside a coroutine.
    let got = rt.block_on(|| {
        Builder::new()
            .name("inner")
            .spawn(coroutine::name)
            .join()
            .unwrap()
    });
    assert_eq!(got.as_deref(), Some("inner"));
}

#[test]
fn builder_stack_size_sets_the_first_segment() {
    let rt = rt();
    let h = rt.handle();
    for (asked, usable) in [
        (4096, 4096),
        (5000, 8192),
        (1 << 20, 1 << 20),
        (64 << 20, 64 << 20),
    ] {
        let left = Builder::new()
            .stack_size(asked)
            .spawn_on(&h, || bamboo::remaining_stack().unwrap())
            .join()
            .unwrap();
        // Whole segment = usable + red zone; the body's frames took a little.
        let whole = usable + bamboo::RED_ZONE;
        assert!(
            left <= whole && left + 16384 > whole,
            "asked {asked}: {left} left of {whole}"
        );
    }
    // 1 MiB is enough for 10,000 frames of 64+ bytes with no check point.
    let n = Builder::new()
        .stack_size(8 << 20)
        .spawn_on(&h, || plain_recursion(10_000, &mut [0; 64]))
        .join()
        .unwrap();
    assert!(n >= 10_000);
}

#[test]
fn builder_rejects_bad_stack_sizes_with_the_value() {
    for bad in [0usize, 4095, (64 << 20) + 1, usize::MAX] {
        let e = std::panic::catch_unwind(|| Builder::new().stack_size(bad)).unwrap_err();
        let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains(&format!("stack_size({bad})")), "{msg}");
    }
}

#[test]
fn grow_with_gives_the_room_asked_for() {
    let rt = Runtime::builder()
        .workers(1)
        .segment_size(16 << 10)
        .build()
        .unwrap();
    let (before, inside, after) = rt.block_on(|| {
        let before = bamboo::remaining_stack().unwrap();
        let inside = bamboo::grow_with(4 << 20, || bamboo::remaining_stack().unwrap());
        (before, inside, bamboo::remaining_stack().unwrap())
    });
    assert!(before < 4 << 20);
    assert!(
        inside >= 4 << 20,
        "grow_with(4 MiB) ran with {inside} bytes left"
    );
    assert!(after < 4 << 20 && after.abs_diff(before) < 4096);
    // Enough room already: in place.
    let (a, b) = rt.block_on(|| {
        bamboo::grow_with(8 << 20, || {
            let a = bamboo::remaining_stack().unwrap();
            (
                a,
                bamboo::grow_with(4096, || bamboo::remaining_stack().unwrap()),
            )
        })
    });
    // (The stress mode switches at every check point, grow_with included.)
    if !rt.handle().stack_move_forced() {
        assert!(b <= a && a - b < 8192, "{a} then {b}: a needless switch");
    }
    // A deep plain recursion inside grow_with.
    let n = rt.block_on(|| bamboo::grow_with(32 << 20, || plain_recursion(100_000, &mut [0; 64])));
    assert!(n >= 100_000);
    // Off a coroutine it runs in place; too large panics with the value.
    assert_eq!(bamboo::grow_with(1 << 20, || 5), 5);
    let e = rt
        .spawn(|| bamboo::grow_with(1 << 40, || ()))
        .join()
        .unwrap_err();
    assert!(
        e.panic_message()
            .unwrap_or("")
            .contains("grow_with(1099511627776)"),
        "{e:?}"
    );
    // In the stress mode too.
    let rt = Runtime::builder()
        .workers(1)
        .force_stack_move(true)
        .build()
        .unwrap();
    let inside = rt.block_on(|| bamboo::grow_with(2 << 20, || bamboo::remaining_stack().unwrap()));
    assert!(inside >= 2 << 20);
    // max_stack applies.
    let rt = Runtime::builder()
        .workers(1)
        .segment_size(16 << 10)
        .max_stack(1 << 20)
        .build()
        .unwrap();
    let e = rt
        .spawn(|| bamboo::grow_with(2 << 20, || ()))
        .join()
        .unwrap_err();
    assert!(
        e.panic_message().unwrap_or("").contains("stack exceeds"),
        "{e:?}"
    );
}

// A large closure and a large result go through spawn on the smallest
// first segment there is.
child_test!(large_closure_and_result_never_overflow_spawn, {
    let rt = Runtime::builder()
        .workers(2)
        .segment_size(4096)
        .build()
        .unwrap();
    let big = [7u8; 64 << 10];
    let j = rt.spawn(move || big.iter().map(|&b| u64::from(b)).sum::<u64>());
    assert_eq!(j.join().unwrap(), 7 * 65536);
    let j = rt.spawn(|| [3u8; 64 << 10]);
    let v = j.join().unwrap();
    assert!(v.iter().all(|&b| b == 3));
    // From a coroutine (given room for its own 64 KiB local): the child,
    // on the runtime's 4 KiB first segment, gets one sized for the closure.
    let h = rt.handle();
    let s = Builder::new()
        .stack_size(1 << 20)
        .spawn_on(&h, || {
            let big = [5u8; 64 << 10];
            let j = bamboo::spawn(move || big.iter().map(|&b| u64::from(b)).sum::<u64>());
            j.join().unwrap()
        })
        .join()
        .unwrap();
    assert_eq!(s, 5 * 65536);
    let h = rt.handle();
    let arr = [9u8; 32 << 10];
    let j = Builder::new().name("big").spawn_on(&h, move || arr[100]);
    assert_eq!(j.join().unwrap(), 9);
});
