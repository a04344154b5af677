//! Rendezvous ping-pong, for instruction counts and timings
//! (`bench/select/callgrind.sh`): `pingpong [WORKERS [ROUNDTRIPS]]`
//! (default 1 worker, 100,000 round trips). One coroutine sends on `a`
//! and receives on `b`; an echo coroutine receives on `a` and sends on
//! `b`; nothing else runs. Prints ns per round trip.
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let workers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let rt = bamboo::Runtime::builder().workers(workers).build().unwrap();
    let ns = rt.block_on(move || {
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
        e.as_nanos() as f64 / n.max(1) as f64
    });
    println!("ping-pong ({workers} worker(s)): {ns:.0} ns per round trip");
}
