//! CPU-parallel workloads: is the second worker used?
//!
//! - `cpu2`, `cpu2_w1`: two CPU-bound coroutines spawned together, each
//!   running `CPU2_CHUNKS` chunks of `CHUNK_ITERS` xorshift steps (~10 µs a
//!   chunk), ms for both to finish, on 2 workers and on 1. The report's
//!   `cpu2_ratio` row is `cpu2 / cpu2_w1` (≈ 0.5 when both workers run,
//!   ≈ 1 when one worker runs both).
//! - `cpu64`, `cpu64_share`: 64 long-lived CPU-bound coroutines spawned in a
//!   burst on 2 workers, `CPU64_CHUNKS` chunks each. Every chunk notes the
//!   thread it ran on (`std::thread::current().id()` inside the coroutine:
//!   a worker thread); `cpu64_share` is the busiest thread's chunks over the
//!   average per worker (1.0 = even, 2.0 = one worker ran everything).
//!
//! The check point between chunks: bamboo calls each chunk through
//! `bamboo::grow`; Go's chunk is a function call (its prologue is Go's
//! check point, and Go also preempts asynchronously); may and tokio run the
//! chunks back to back (neither can preempt a coroutine that does not
//! yield, so none is inserted).

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Instant;

use crate::{emit, may_block_on, may_spawn, timed, tokio_timed};

pub const CHUNK_ITERS: u32 = 10_000;
pub const CPU2_CHUNKS: u32 = 5_000;
pub const CPU64_N: usize = 64;
pub const CPU64_CHUNKS: u32 = 500;

/// One chunk: a dependent chain of xorshift steps the compiler cannot skip.
#[inline(never)]
fn spin(mut x: u64) -> u64 {
    for _ in 0..CHUNK_ITERS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    black_box(x)
}

/// Chunks run per thread, merged from every coroutine.
type Tally = Arc<Mutex<HashMap<ThreadId, u64>>>;

/// `chunks` chunks through `check`; with a tally, note each chunk's thread.
fn work(seed: u64, chunks: u32, check: fn(u64) -> u64, tally: Option<&Tally>) -> u64 {
    let mut x = seed | 1;
    let mut mine: Vec<(ThreadId, u64)> = Vec::new();
    for _ in 0..chunks {
        x = check(x);
        if tally.is_some() {
            let id = std::thread::current().id();
            match mine.iter_mut().find(|(t, _)| *t == id) {
                Some((_, n)) => *n += 1,
                None => mine.push((id, 1)),
            }
        }
    }
    if let Some(t) = tally {
        let mut t = t.lock().unwrap();
        for (id, n) in mine {
            *t.entry(id).or_default() += n;
        }
    }
    x
}

fn check_bamboo(x: u64) -> u64 {
    bamboo::grow(|| spin(x))
}

/// Busiest thread's share over the average per worker (at least `workers`
/// threads are counted, so one thread running everything gives `workers`).
fn share(tally: &Tally, workers: usize) -> f64 {
    let t = tally.lock().unwrap();
    let total: u64 = t.values().sum();
    let max = t.values().copied().max().unwrap_or(0);
    let threads = t.len().max(workers);
    eprintln!(
        "cpu64: chunks per thread {:?}",
        t.values().collect::<Vec<_>>()
    );
    max as f64 / (total as f64 / threads as f64)
}

/// The shares of the timed runs (the first entry, the warm-up, is dropped).
fn report_share(rt: &str, mut v: Vec<f64>) {
    v.remove(0);
    eprintln!("{rt} cpu64_share batches: {v:.2?}");
    emit(rt, "cpu64_share", crate::mean(v), "max/avg");
}

fn ms(ns: f64) -> f64 {
    ns / 1e6
}

// ---------------------------------------------------------------- bamboo

pub fn bamboo(rt: &bamboo::Runtime, w: &str) {
    let workers = rt.handle().workers();
    if w == "cpu64" {
        let (v, shares) = rt.block_on(move || {
            let mut shares = Vec::new();
            let v = timed(1, || {
                let tally = Tally::default();
                let t = Instant::now();
                let hs: Vec<_> = (0..CPU64_N as u64)
                    .map(|i| {
                        let tally = tally.clone();
                        bamboo::spawn(move || work(i, CPU64_CHUNKS, check_bamboo, Some(&tally)))
                    })
                    .collect();
                for h in hs {
                    black_box(h.join().unwrap());
                }
                let el = t.elapsed();
                shares.push(share(&tally, workers));
                el
            });
            (v, shares)
        });
        emit("bamboo", w, ms(v), "ms");
        report_share("bamboo", shares);
        return;
    }
    let v = rt.block_on(|| {
        timed(1, || {
            let t = Instant::now();
            let a = bamboo::spawn(|| work(1, CPU2_CHUNKS, check_bamboo, None));
            let b = bamboo::spawn(|| work(2, CPU2_CHUNKS, check_bamboo, None));
            black_box(a.join().unwrap() ^ b.join().unwrap());
            t.elapsed()
        })
    });
    emit("bamboo", w, ms(v), "ms");
}

// ---------------------------------------------------------------- tokio

pub fn tokio(rt: &tokio::runtime::Runtime, w: &str, workers: usize) {
    if w == "cpu64" {
        let shares = Arc::new(Mutex::new(Vec::new()));
        let s2 = shares.clone();
        let v = tokio_timed(rt, 1, move || {
            let shares = s2.clone();
            async move {
                let tally = Tally::default();
                let t = Instant::now();
                let hs: Vec<_> = (0..CPU64_N as u64)
                    .map(|i| {
                        let tally = tally.clone();
                        tokio::spawn(async move { work(i, CPU64_CHUNKS, spin, Some(&tally)) })
                    })
                    .collect();
                for h in hs {
                    black_box(h.await.unwrap());
                }
                let el = t.elapsed();
                shares.lock().unwrap().push(share(&tally, workers));
                el
            }
        });
        emit("tokio", w, ms(v), "ms");
        let s = shares.lock().unwrap().clone();
        report_share("tokio", s);
        return;
    }
    let v = tokio_timed(rt, 1, || async {
        let t = Instant::now();
        let a = tokio::spawn(async { work(1, CPU2_CHUNKS, spin, None) });
        let b = tokio::spawn(async { work(2, CPU2_CHUNKS, spin, None) });
        black_box(a.await.unwrap() ^ b.await.unwrap());
        t.elapsed()
    });
    emit("tokio", w, ms(v), "ms");
}

// ---------------------------------------------------------------- may

pub fn may(w: &str, workers: usize) {
    if w == "cpu64" {
        let (v, shares) = may_block_on(move || {
            let mut shares = Vec::new();
            let v = timed(1, || {
                let tally = Tally::default();
                let t = Instant::now();
                let hs: Vec<_> = (0..CPU64_N as u64)
                    .map(|i| {
                        let tally = tally.clone();
                        may_spawn(move || work(i, CPU64_CHUNKS, spin, Some(&tally)))
                    })
                    .collect();
                for h in hs {
                    black_box(h.join().unwrap());
                }
                let el = t.elapsed();
                shares.push(share(&tally, workers));
                el
            });
            (v, shares)
        });
        emit("may", w, ms(v), "ms");
        report_share("may", shares);
        return;
    }
    let v = may_block_on(|| {
        timed(1, || {
            let t = Instant::now();
            let a = may_spawn(|| work(1, CPU2_CHUNKS, spin, None));
            let b = may_spawn(|| work(2, CPU2_CHUNKS, spin, None));
            black_box(a.join().unwrap() ^ b.join().unwrap());
            t.elapsed()
        })
    });
    emit("may", w, ms(v), "ms");
}
