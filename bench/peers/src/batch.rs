//! `spawn_batch`: spawn 1,000,000 empty coroutines from one coroutine, then
//! join them all (in spawn order). ns per coroutine, the whole batch
//! (including the vector of 1M handles) divided by 1M. Go has no join
//! handle: its version waits on one `sync.WaitGroup`.
//!
//! may maps a stack per live coroutine and fails near `vm.max_map_count / 2`
//! of them; when a spawn fails the harness reports `fail` with the count.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::{emit, may_block_on, may_try_spawn, timed, tokio_timed};

pub const N: u64 = 1_000_000;

pub fn bamboo(rt: &bamboo::Runtime) {
    let v = rt.block_on(|| {
        timed(N, || {
            let t = Instant::now();
            let hs: Vec<_> = (0..N)
                .map(|i| bamboo::spawn(move || black_box(i)))
                .collect();
            for h in hs {
                black_box(h.join().expect("spawn_batch child"));
            }
            t.elapsed()
        })
    });
    emit("bamboo", "spawn_batch", v, "ns/op");
}

pub fn tokio(rt: &tokio::runtime::Runtime) {
    let v = tokio_timed(rt, N, || async {
        let t = Instant::now();
        let hs: Vec<_> = (0..N)
            .map(|i| tokio::spawn(async move { black_box(i) }))
            .collect();
        for h in hs {
            black_box(h.await.expect("spawn_batch child"));
        }
        t.elapsed()
    });
    emit("tokio", "spawn_batch", v, "ns/op");
}

pub fn may() {
    let r = may_block_on(|| {
        let run = || -> Result<Duration, u64> {
            let t = Instant::now();
            let mut hs = Vec::with_capacity(N as usize);
            for i in 0..N {
                match may_try_spawn(move || black_box(i)) {
                    Ok(h) => hs.push(h),
                    Err(e) => {
                        eprintln!("may spawn_batch: spawn {i} failed: {e}");
                        for h in hs {
                            let _ = h.join();
                        }
                        return Err(i);
                    }
                }
            }
            for h in hs {
                black_box(h.join().expect("spawn_batch child"));
            }
            Ok(t.elapsed())
        };
        run()?;
        let mut v = Vec::new();
        for _ in 0..crate::BATCHES {
            v.push(run()?.as_nanos() as f64 / N as f64);
        }
        eprintln!("batches (ns/op): {v:.1?}");
        Ok::<f64, u64>(crate::mean(v))
    });
    match r {
        Ok(v) => emit("may", "spawn_batch", v, "ns/op"),
        Err(at) => println!("may spawn_batch fail at_{at}"),
    }
}
