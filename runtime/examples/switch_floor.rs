//! The floor under a yield: corosensei's resume and suspend alone (the
//! switch pair bamboo's yield makes), against bamboo's `yield_now` of two
//! coroutines on one worker, rounds interleaved in one process:
//!
//! ```sh
//! cargo run --release -p bamboo --example switch_floor [ROUNDS [N]]
//! ```
//!
//! Prints, per round, ns per resume+suspend pair of a bare corosensei
//! coroutine driven by a loop, ns per bamboo yield, and the share of the
//! yield the switches are: what a direct coroutine-to-coroutine switch (one
//! switch per yield instead of two) could save at most, against what the
//! scheduler's own bookkeeping costs.
use std::hint::black_box;
use std::time::Instant;

use corosensei::{Coroutine, CoroutineResult};

/// ns per resume+suspend pair of one coroutine resumed by a plain loop.
fn switch_pair(n: u64) -> f64 {
    let mut co = Coroutine::new(|y, mut v: u64| loop {
        v = y.suspend(black_box(v + 1));
    });
    let t = Instant::now();
    let mut x = 0u64;
    for _ in 0..n {
        match co.resume(x) {
            CoroutineResult::Yield(v) => x = v,
            CoroutineResult::Return(()) => unreachable!("the coroutine never returns"),
        }
    }
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    assert_eq!(black_box(x), n);
    // (Dropping `co`, suspended, unwinds its loop.)
    ns
}

/// ns per `yield_now` of two coroutines yielding to each other.
fn bamboo_yield(rt: &bamboo::Runtime, n: u64) -> f64 {
    rt.block_on(move || {
        let yielder = move || {
            for i in 0..n / 2 {
                bamboo::yield_now();
                black_box(i);
            }
        };
        let t = Instant::now();
        let a = bamboo::spawn(yielder);
        let b = bamboo::spawn(yielder);
        a.join().unwrap();
        b.join().unwrap();
        t.elapsed().as_nanos() as f64 / n as f64
    })
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(4_000_000);
    let rt = bamboo::Runtime::builder().workers(1).build().unwrap();
    // Warm-up of both.
    switch_pair(n / 10);
    bamboo_yield(&rt, n / 10);
    for r in 1..=rounds {
        let pair = switch_pair(n);
        let y = bamboo_yield(&rt, n);
        println!(
            "round {r}: corosensei resume+suspend {pair:.2} ns, bamboo yield {y:.2} ns, switches {:.0}% of the yield",
            100.0 * pair / y
        );
    }
}
