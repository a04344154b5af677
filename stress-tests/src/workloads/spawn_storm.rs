//! `spawn-storm`: waves of short coroutines, spawned and joined.
//!
//! Each round spawns a wave of 200..1000 coroutines with `bamboo::spawn`.
//! Each computes a value from its index through a `grow` check point, some
//! yield first. Even rounds join every `JoinHandle` and compare each value
//! with the expected one; odd rounds also add the values into a shared
//! `bamboo::sync::Mutex` and wait on a `WaitGroup`, then compare the sum.
//!
//! What it proves: spawn, first run, finish and join are correct under
//! churn (every coroutine ran exactly once and returned its own value),
//! including while segments are recycled between thousands of short-lived
//! stacks; `Mutex` loses no update and `WaitGroup` does not release early.

use std::sync::Arc;

use bamboo::sync::{Mutex, WaitGroup};

use super::{mix, Single};
use crate::stats::Shared;

/// The value coroutine `i` of round `round` returns.
fn value(round: u64, i: u64) -> u64 {
    mix(round.wrapping_mul(1_000_003) ^ i) >> 16
}

/// Calls `WaitGroup::done` when dropped, so a panicking coroutine cannot
/// leave the waiter hanging.
struct Done(Arc<WaitGroup>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.done();
    }
}

/// One wave.
pub fn round(shared: &Arc<Shared>, round: u64) {
    let n = 200 + mix(round) % 800;
    let with_wg = round % 2 == 1;
    let wg = Arc::new(WaitGroup::new());
    let sum = Arc::new(Mutex::new(0u64));
    if with_wg {
        wg.add(n as usize);
    }
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let done = with_wg.then(|| Done(wg.clone()));
            let sum = sum.clone();
            bamboo::spawn(move || {
                let _done = done;
                if i % 4 == 0 {
                    bamboo::yield_now();
                }
                let v = bamboo::grow(|| value(round, i));
                let mut s = sum.lock();
                *s = s.wrapping_add(v);
                v
            })
        })
        .collect();
    if with_wg {
        wg.wait();
        let want = (0..n).fold(0u64, |a, i| a.wrapping_add(value(round, i)));
        let got = *sum.lock();
        shared.check(got == want, || {
            format!("spawn-storm round {round}: WaitGroup sum {got}, expected {want}")
        });
    }
    for (i, h) in handles.into_iter().enumerate() {
        let i = i as u64;
        if let Some(v) = shared.join(h, Single::SpawnStorm.name()) {
            let want = value(round, i);
            shared.check(v == want, || {
                format!("spawn-storm round {round}: coroutine {i} returned {v}, expected {want}")
            });
        }
    }
}
