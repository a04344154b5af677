//! What a locked instruction costs on this machine, against the plain
//! load and store it replaces: the figures behind `src/lock.rs` and
//! docs/benchmarks.md ("Locked instructions"). One thread, nothing
//! contended: each line is ns per operation, best of 5 runs of 20M.
//!
//! ```sh
//! cargo run --release -p bamboo --example lockcost
//! ```

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::time::Instant;

const N: u64 = 20_000_000;

fn best(f: &mut dyn FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_nanos() as f64 / N as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let pl = parking_lot::Mutex::new(0u64);
    let sp = spin::mutex::SpinMutex::<u64>::new(0);
    let a = AtomicU64::new(0);
    let rows: [(&str, f64); 5] = [
        (
            "parking_lot::Mutex lock+unlock",
            best(&mut || {
                for i in 0..N {
                    *black_box(&pl).lock() += i;
                }
            }),
        ),
        (
            "spin::SpinMutex lock+unlock",
            best(&mut || {
                for i in 0..N {
                    *black_box(&sp).lock() += i;
                }
            }),
        ),
        (
            "AtomicU64::fetch_add",
            best(&mut || {
                for i in 0..N {
                    black_box(&a).fetch_add(i, Relaxed);
                }
            }),
        ),
        (
            "AtomicU64 compare_exchange (failing)",
            best(&mut || {
                for _ in 0..N {
                    let _ = black_box(&a).compare_exchange(u64::MAX, 0, AcqRel, Acquire);
                }
            }),
        ),
        (
            "AtomicU64 load + release store",
            best(&mut || {
                for i in 0..N {
                    let a = black_box(&a);
                    a.store(a.load(Relaxed).wrapping_add(i), Release);
                }
            }),
        ),
    ];
    for (what, ns) in rows {
        println!("{what:<40} {ns:>6.2} ns");
    }
}
