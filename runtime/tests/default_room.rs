//! Ordinary Rust code in a coroutine with default settings: each case
//! works on a `std::thread` and, with the old 16 KiB first segment, aborted
//! the process inside a coroutine (a guard hit). Each runs in a child
//! process with a deadline, so a regression is a failed test, not a crashed
//! test binary. The runtime is `Runtime::new()`: defaults, then `BAMBOO_*`
//! (the stress mode's `BAMBOO_DEBUG` applies; nothing sets the segment).
//!
//! Shown to fail: `BAMBOO_SEGMENT=16k cargo test --release --test
//! default_room` (the old default) — four cases die with "overflowed its
//! stack"; the panic case passes there too (the red zone and the panic
//! hook on the system stack already hold the unwinder at any segment size).

mod child;

use std::hint::black_box;
use std::time::Duration;

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
    Runtime::new().unwrap()
}

/// Frames of the plain recursion. 50,000 frames take 1.6 MB in a release
/// build (32 bytes each on x86-64) and twice that unoptimised, more than a
/// `std::thread`'s 2 MiB too; the debug build recurses half as deep.
const FRAMES: u32 = if cfg!(debug_assertions) {
    25_000
} else {
    50_000
};

#[inline(never)]
fn depth(n: u32) -> u32 {
    if n == 0 {
        return 0;
    }
    black_box(depth(black_box(n - 1))) + 1
}

child_test!(plain_recursion_50_000_frames, {
    // The same call on a std::thread (std's 2 MiB default) for comparison.
    let on_thread = std::thread::spawn(|| depth(FRAMES)).join().unwrap();
    let in_coroutine = rt().block_on(|| depth(FRAMES));
    assert_eq!((on_thread, in_coroutine), (FRAMES, FRAMES));
});

#[inline(never)]
fn local_array() -> u64 {
    let mut a = [0u8; 64 << 10];
    for (i, b) in a.iter_mut().enumerate().step_by(4096) {
        *b = i as u8 | 1;
    }
    black_box(&mut a);
    a.iter().map(|&b| u64::from(b)).sum()
}

child_test!(local_array_of_64_kib, {
    let want = std::thread::spawn(local_array).join().unwrap();
    assert!(want > 0);
    assert_eq!(rt().block_on(local_array), want);
});

/// 200 nested groups: regex's parser and compiler recurse per level.
fn nested_regex() -> bool {
    let pattern = format!("{}a{}", "(".repeat(200), ")".repeat(200));
    let re = regex::Regex::new(&pattern).expect("200 nested groups compile");
    re.is_match("xay")
}

child_test!(regex_with_200_nested_groups, {
    assert!(std::thread::spawn(nested_regex).join().unwrap());
    assert!(rt().block_on(nested_regex));
});

child_test!(array_of_64_kib_into_and_out_of_spawn, {
    let rt = rt();
    let big = [7u8; 64 << 10];
    let sum = rt
        .spawn(move || big.iter().map(|&b| u64::from(b)).sum::<u64>())
        .join()
        .unwrap();
    assert_eq!(sum, 7 * 65536);
    let back = rt.spawn(|| [3u8; 64 << 10]).join().unwrap();
    assert!(back.iter().all(|&b| b == 3));
    // From a coroutine: its own 64 KiB local, moved into a child.
    let sum = rt.block_on(|| {
        let big = [5u8; 64 << 10];
        bamboo::spawn(move || big.iter().map(|&b| u64::from(b)).sum::<u64>())
            .join()
            .unwrap()
    });
    assert_eq!(sum, 5 * 65536);
});

/// Recurse without check points until under 4 KiB of the segment's usable
/// bytes are left (the red zone below them), then panic there.
#[inline(never)]
fn panic_near_the_edge() -> u32 {
    let left = bamboo::remaining_stack().unwrap();
    if left >= bamboo::RED_ZONE + 4096 {
        let pad = black_box([0u8; 512]);
        let r = panic_near_the_edge();
        black_box(pad);
        return r;
    }
    panic!("deep panic with {} bytes left", black_box(left));
}

child_test!(panic_with_under_4_kib_left, {
    let rt = rt();
    let e = rt.spawn(panic_near_the_edge).join().unwrap_err();
    let msg = e.panic_message().unwrap_or_default();
    assert!(msg.starts_with("deep panic with "), "{e:?}");
    let left: usize = msg["deep panic with ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(left < bamboo::RED_ZONE + 4096, "{msg}");
});
