//! `sieve`, `sieve_w1`: the concurrent prime sieve from Go's documentation
//! (go.dev/doc/play/sieve.go), 2,000 primes. A generator coroutine sends
//! 2, 3, 4, ... down an unbuffered channel; for every prime the main
//! coroutine receives, it starts a filter coroutine that passes on what the
//! prime does not divide, and reads from that filter next.
//!
//! ```text
//!   generate --ch0--> filter(2) --ch1--> filter(3) --ch2--> ... --> main
//!                      one coroutine and one unbuffered channel per prime
//! ```
//!
//! Reported in µs per prime: the time until the 2,000th prime (17,389,
//! checked) has arrived, divided by 2,000. Tearing the chain down afterwards
//! (dropping the last receiver makes every filter's send fail in turn) is
//! not timed; Go's version leaves its goroutines blocked instead.
//!
//! Channels: bamboo `sync::channel(0)`; tokio `mpsc::channel(1)` (its
//! minimum: one value may wait in each channel). may has only unbounded
//! channels, with which the generator would run ahead without bound:
//! skipped.

use std::time::{Duration, Instant};

use crate::{emit, skip, timed, tokio_timed};

const PRIMES: usize = 2_000;
const LAST: u64 = 17_389;

fn per_prime_us(ns_per_prime: f64) -> f64 {
    ns_per_prime / 1e3
}

fn filter_bamboo(inp: bamboo::sync::Receiver<u64>, out: bamboo::sync::Sender<u64>, p: u64) {
    while let Ok(i) = inp.recv() {
        if i % p != 0 && out.send(i).is_err() {
            return;
        }
    }
}

fn run_bamboo() -> Duration {
    let t = Instant::now();
    let (tx, mut rx) = bamboo::sync::channel::<u64>(0);
    let mut hs = Vec::with_capacity(PRIMES + 1);
    hs.push(bamboo::spawn(move || {
        let mut i = 2;
        while tx.send(i).is_ok() {
            i += 1;
        }
    }));
    let mut prime = 0;
    for _ in 0..PRIMES {
        prime = rx.recv().expect("sieve");
        let (tx1, rx1) = bamboo::sync::channel::<u64>(0);
        let inp = std::mem::replace(&mut rx, rx1);
        hs.push(bamboo::spawn(move || filter_bamboo(inp, tx1, prime)));
    }
    let el = t.elapsed();
    assert_eq!(prime, LAST);
    drop(rx);
    for h in hs {
        h.join().expect("sieve coroutine");
    }
    el
}

pub fn bamboo(rt: &bamboo::Runtime, w: &str) {
    let v = rt.block_on(|| timed(PRIMES as u64, run_bamboo));
    emit("bamboo", w, per_prime_us(v), "us/prime");
}

async fn filter_tokio(
    mut inp: tokio::sync::mpsc::Receiver<u64>,
    out: tokio::sync::mpsc::Sender<u64>,
    p: u64,
) {
    while let Some(i) = inp.recv().await {
        if i % p != 0 && out.send(i).await.is_err() {
            return;
        }
    }
}

async fn run_tokio() -> Duration {
    let t = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(1);
    let mut hs = Vec::with_capacity(PRIMES + 1);
    hs.push(tokio::spawn(async move {
        let mut i = 2;
        while tx.send(i).await.is_ok() {
            i += 1;
        }
    }));
    let mut prime = 0;
    for _ in 0..PRIMES {
        prime = rx.recv().await.expect("sieve");
        let (tx1, rx1) = tokio::sync::mpsc::channel::<u64>(1);
        let inp = std::mem::replace(&mut rx, rx1);
        hs.push(tokio::spawn(filter_tokio(inp, tx1, prime)));
    }
    let el = t.elapsed();
    assert_eq!(prime, LAST);
    drop(rx);
    for h in hs {
        h.await.expect("sieve task");
    }
    el
}

pub fn tokio(rt: &tokio::runtime::Runtime, w: &str) {
    let v = tokio_timed(rt, PRIMES as u64, run_tokio);
    emit("tokio", w, per_prime_us(v), "us/prime");
}

pub fn may(w: &str) {
    skip("may", w, "only unbounded channels");
}
