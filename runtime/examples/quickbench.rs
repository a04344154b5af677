//! Rough single-run figures for the hot paths (not a benchmark suite; see
//! the criterion benches for that).
use std::hint::black_box;
use std::time::Instant;

fn depth(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        bamboo::grow(|| depth(n - 1)) + 1
    }
}

/// Nanoseconds per round trip of a value over two rendezvous channels.
fn ping_pong(rt: &bamboo::Runtime) -> f64 {
    let n = 200_000u64;
    let t = rt.block_on(move || {
        let (a_tx, a_rx) = bamboo::sync::channel::<u64>(0);
        let (b_tx, b_rx) = bamboo::sync::channel::<u64>(0);
        let echo = bamboo::spawn(move || {
            for v in a_rx {
                b_tx.send(v + 1).unwrap();
            }
        });
        let t0 = Instant::now();
        for i in 0..n {
            a_tx.send(i).unwrap();
            black_box(b_rx.recv().unwrap());
        }
        let e = t0.elapsed();
        drop(a_tx);
        echo.join().unwrap();
        e
    });
    t.as_nanos() as f64 / n as f64
}

fn main() {
    let rt = bamboo::Runtime::builder().workers(2).build().unwrap();
    // spawn + join from a coroutine
    let n = 200_000;
    let t = rt.block_on(move || {
        let t0 = Instant::now();
        for i in 0..n {
            black_box(bamboo::spawn(move || i).join().unwrap());
        }
        t0.elapsed()
    });
    println!("spawn+join: {:.0} ns", t.as_nanos() as f64 / n as f64);
    // yield (two coroutines on one worker)
    let rt1 = bamboo::Runtime::builder().workers(1).build().unwrap();
    let n = 1_000_000;
    let t = rt1.block_on(move || {
        let other = bamboo::spawn(move || {
            for _ in 0..n {
                bamboo::yield_now()
            }
        });
        let t0 = Instant::now();
        for _ in 0..n {
            bamboo::yield_now();
        }
        other.join().unwrap();
        t0.elapsed()
    });
    println!(
        "yield: {:.1} ns per yield",
        t.as_nanos() as f64 / (2 * n) as f64
    );
    // ping-pong over rendezvous channels, on one and on two workers
    println!(
        "ping-pong (1 worker): {:.0} ns per round trip",
        ping_pong(&rt1)
    );
    println!(
        "ping-pong (2 workers): {:.0} ns per round trip",
        ping_pong(&rt)
    );
    // deep recursion
    let n = 1_000_000;
    let t = rt.block_on(move || {
        depth(n); // warm
        let t0 = Instant::now();
        black_box(depth(n));
        t0.elapsed()
    });
    println!(
        "deep recursion: {:.1} ns per frame",
        t.as_nanos() as f64 / n as f64
    );
    // hot split
    let t = rt.block_on(|| {
        fn edge() -> std::time::Duration {
            if bamboo::remaining_stack().unwrap() >= bamboo::RED_ZONE {
                let pad = black_box([0u8; 256]);
                return edge() + std::time::Duration::from_nanos(pad[0] as u64);
            }
            let t0 = Instant::now();
            for i in 0..10_000_000u64 {
                black_box(bamboo::grow(|| black_box(i)));
            }
            t0.elapsed()
        }
        edge()
    });
    println!(
        "hot split: {:.1} ns per crossing",
        t.as_nanos() as f64 / 1e7
    );
    let h = rt.handle();
    let t0 = Instant::now();
    for _ in 0..100_000 {
        black_box(h.counters());
    }
    println!(
        "counters snapshot: {:.0} ns",
        t0.elapsed().as_nanos() as f64 / 1e5
    );
}
