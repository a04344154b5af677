//! `deep_1m_100b`: a recursion 1,000,000 deep whose frames hold ~100 bytes
//! (an 8-word array kept in memory: 96-112 bytes a level,
//! measured below), ns per frame, 2 recursions per batch.
//!
//! - bamboo: every frame calls the next through `bamboo::grow` (a check
//!   point), in a fresh coroutine each time: the stack grows from its first
//!   segment to ~100 MB of segments and is given back at the end.
//! - Go (../go): plain recursion in a fresh goroutine each time (the stack
//!   grows by copying).
//! - may: the floor: plain recursion, no check at all, on one coroutine
//!   whose stack was allocated once, big enough, and stays faulted in
//!   (every timed recursion reruns on the same stack).
//!
//! `deep_1m_100b_frame` reports the bytes one level takes, measured from
//! the addresses of the array at depths 64 and 32 (same call site, same
//! stack): the frame size the code actually got, for each runtime.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use crate::{emit, may_block_on, timed, DEEP_FRAMES_PER_BATCH};

pub const DEPTH: u64 = 1_000_000;
const PAD: usize = 8;

/// Address of the deepest frame's array, for the frame-size probe.
static LEAF: AtomicUsize = AtomicUsize::new(0);

#[inline(never)]
fn rec_bamboo(d: u64) -> u64 {
    let mut pad = [0u64; PAD];
    if d == 0 {
        LEAF.store(pad.as_ptr() as usize, Relaxed);
        return 0;
    }
    pad[(d % PAD as u64) as usize] = 1;
    black_box(&mut pad);
    bamboo::grow(|| black_box(rec_bamboo(black_box(d - 1)))) + pad[(d % PAD as u64) as usize]
}

#[inline(never)]
fn rec_plain(d: u64) -> u64 {
    let mut pad = [0u64; PAD];
    if d == 0 {
        LEAF.store(pad.as_ptr() as usize, Relaxed);
        return 0;
    }
    pad[(d % PAD as u64) as usize] = 1;
    black_box(&mut pad);
    black_box(rec_plain(black_box(d - 1))) + pad[(d % PAD as u64) as usize]
}

/// Bytes per level of `f`: the leaf's array address after 64 and after 32
/// levels from the same call site.
fn frame_bytes(f: fn(u64) -> u64) -> f64 {
    let mut leaf = [0usize; 2];
    for (k, d) in [64u64, 32].into_iter().enumerate() {
        assert_eq!(f(black_box(d)), d);
        leaf[k] = LEAF.load(Relaxed);
    }
    (leaf[1] as f64 - leaf[0] as f64) / 32.0
}

pub fn bamboo(rt: &bamboo::Runtime) {
    let reps = DEEP_FRAMES_PER_BATCH / DEPTH;
    let before = rt.handle().counters();
    let v = rt.block_on(move || {
        timed(reps * DEPTH, || {
            let t = Instant::now();
            for _ in 0..reps {
                let r = bamboo::spawn(|| rec_bamboo(DEPTH)).join().unwrap();
                assert_eq!(r, DEPTH);
            }
            t.elapsed()
        })
    });
    let after = rt.handle().counters();
    eprintln!(
        "bamboo deep_1m_100b: grows {} segment_allocs {} chunks {} scavenged {}",
        after.grows - before.grows,
        after.segment_allocs - before.segment_allocs,
        after.chunks - before.chunks,
        after.scavenged - before.scavenged
    );
    let frame = rt.block_on(|| bamboo::spawn(|| frame_bytes(rec_bamboo)).join().unwrap());
    emit("bamboo", "deep_1m_100b", v, "ns/frame");
    emit("bamboo", "deep_1m_100b_frame", frame, "bytes/frame");
}

pub fn may() {
    // Room for the recursion at 128 B a level plus 1 MiB, in words.
    let words = (DEPTH as usize * 128 + (1 << 20)) / 8;
    let reps = DEEP_FRAMES_PER_BATCH / DEPTH;
    let b = may::coroutine::Builder::new().stack_size(words);
    // SAFETY: the stack holds DEPTH frames of rec_plain (checked below by
    // the frame probe: well under 128 bytes a level); nothing else runs on it.
    let j = unsafe {
        b.spawn(move || {
            let frame = frame_bytes(rec_plain);
            assert!(
                frame < 128.0,
                "rec_plain frame {frame} B: may's stack too small"
            );
            let v = timed(reps * DEPTH, || {
                let t = Instant::now();
                for _ in 0..reps {
                    assert_eq!(rec_plain(black_box(DEPTH)), DEPTH);
                }
                t.elapsed()
            });
            (v, frame)
        })
    }
    .expect("may spawn");
    let (v, frame) = may_block_on(move || j.join().expect("may deep coroutine"));
    emit("may", "deep_1m_100b", v, "ns/frame");
    emit("may", "deep_1m_100b_frame", frame, "bytes/frame");
}
