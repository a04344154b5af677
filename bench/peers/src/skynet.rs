//! `skynet`: the atemerev/skynet benchmark as published. A 10-ary tree of
//! 1,111,111 coroutines (1,000,000 leaves): every inner node makes one
//! channel, spawns its 10 children with it, receives their 10 numbers and
//! sends their sum up its parent's channel; leaf `num` sends `num`. The root's
//! answer is 0 + 1 + ... + 999,999 = 499,999,500,000, checked every run.
//!
//! ```text
//!            root(0, 1e6)            one unbuffered channel per inner node,
//!        /     |       \             shared by its 10 children (each sends
//!   (0,1e5) (1e5,1e5) ... x10        once, the parent receives 10 times)
//!     ...
//!   leaves: send num
//! ```
//!
//! Channels: bamboo `sync::channel(0)` (rendezvous, like Go's unbuffered
//! `chan int`); tokio `mpsc::channel(1)` (its minimum); may
//! `sync::mpsc::channel` (unbounded: may has no bounded channel; each child
//! sends exactly once, so nothing runs ahead). Reported in ms per run (the
//! mean of 3 timed runs after a warm-up run).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

use crate::{emit, may_block_on, may_try_spawn, timed, tokio_timed};

const SIZE: u64 = 1_000_000;
const DIV: u64 = 10;
const ANSWER: u64 = SIZE * (SIZE - 1) / 2;

fn ms(ns_per_run: f64) -> f64 {
    ns_per_run / 1e6
}

// ---------------------------------------------------------------- bamboo

fn node_bamboo(out: bamboo::sync::Sender<u64>, num: u64, size: u64) {
    if size == 1 {
        let _ = out.send(num);
        return;
    }
    let (tx, rx) = bamboo::sync::channel::<u64>(0);
    for i in 0..DIV {
        let sub = num + i * (size / DIV);
        let tx = tx.clone();
        drop(bamboo::spawn(move || node_bamboo(tx, sub, size / DIV)));
    }
    drop(tx);
    let mut sum = 0;
    for _ in 0..DIV {
        sum += rx.recv().expect("skynet child");
    }
    let _ = out.send(sum);
}

pub fn bamboo(rt: &bamboo::Runtime) {
    let v = rt.block_on(|| {
        timed(1, || {
            let t = Instant::now();
            let (tx, rx) = bamboo::sync::channel::<u64>(0);
            drop(bamboo::spawn(move || node_bamboo(tx, 0, SIZE)));
            let r = rx.recv().expect("skynet root");
            let el = t.elapsed();
            assert_eq!(black_box(r), ANSWER);
            el
        })
    });
    emit("bamboo", "skynet", ms(v), "ms");
}

// ---------------------------------------------------------------- tokio

fn node_tokio(
    out: tokio::sync::mpsc::Sender<u64>,
    num: u64,
    size: u64,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        if size == 1 {
            let _ = out.send(num).await;
            return;
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(1);
        for i in 0..DIV {
            let sub = num + i * (size / DIV);
            drop(tokio::spawn(node_tokio(tx.clone(), sub, size / DIV)));
        }
        drop(tx);
        let mut sum = 0;
        for _ in 0..DIV {
            sum += rx.recv().await.expect("skynet child");
        }
        let _ = out.send(sum).await;
    })
}

pub fn tokio(rt: &tokio::runtime::Runtime) {
    let v = tokio_timed(rt, 1, || async {
        let t = Instant::now();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(1);
        drop(tokio::spawn(node_tokio(tx, 0, SIZE)));
        let r = rx.recv().await.expect("skynet root");
        let el = t.elapsed();
        assert_eq!(black_box(r), ANSWER);
        el
    });
    emit("tokio", "skynet", ms(v), "ms");
}

// ---------------------------------------------------------------- may

/// Set when a may spawn failed (it maps every stack separately and runs
/// out of mappings near `vm.max_map_count / 2` live coroutines).
static MAY_FAILED: AtomicBool = AtomicBool::new(false);

fn node_may(out: may::sync::mpsc::Sender<u64>, num: u64, size: u64) {
    if size == 1 {
        let _ = out.send(num);
        return;
    }
    let (tx, rx) = may::sync::mpsc::channel::<u64>();
    let mut children = 0;
    for i in 0..DIV {
        let sub = num + i * (size / DIV);
        let tx = tx.clone();
        match may_try_spawn(move || node_may(tx, sub, size / DIV)) {
            Ok(h) => {
                drop(h);
                children += 1;
            }
            Err(e) => {
                if !MAY_FAILED.swap(true, SeqCst) {
                    eprintln!("may skynet: spawn failed: {e}");
                }
                break;
            }
        }
    }
    drop(tx);
    let mut sum = 0;
    for _ in 0..children {
        sum += rx.recv().expect("skynet child");
    }
    let _ = out.send(sum);
}

pub fn may() {
    let r = may_block_on(|| {
        let run = || -> Result<Duration, ()> {
            let t = Instant::now();
            let (tx, rx) = may::sync::mpsc::channel::<u64>();
            may_try_spawn(move || node_may(tx, 0, SIZE)).map_err(|_| ())?;
            let r = rx.recv().expect("skynet root");
            let el = t.elapsed();
            if MAY_FAILED.load(SeqCst) {
                return Err(());
            }
            assert_eq!(black_box(r), ANSWER);
            Ok(el)
        };
        run()?;
        let mut v = Vec::new();
        for _ in 0..crate::BATCHES {
            v.push(run()?.as_nanos() as f64);
        }
        eprintln!("batches (ns/run): {v:.0?}");
        Ok::<f64, ()>(crate::mean(v))
    });
    match r {
        Ok(v) => emit("may", "skynet", ms(v), "ms"),
        Err(()) => println!("may skynet fail spawn_failed_(out_of_mappings)"),
    }
}
