//! Two coroutines yielding to each other on one worker, for instruction
//! counts and timings (`bench/select/callgrind.sh --example yieldloop`):
//! `yieldloop [WORKERS [YIELDS]]` (default 1 worker, 100,000 yields per
//! coroutine). Both are spawned from the `block_on` coroutine, which then
//! joins them; with one worker every yield is a switch to the other
//! yielder. Prints ns per yield (of both together).
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let workers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let rt = bamboo::Runtime::builder().workers(workers).build().unwrap();
    let ns = rt.block_on(move || {
        let t0 = Instant::now();
        let yielder = move || {
            for i in 0..n {
                bamboo::yield_now();
                black_box(i);
            }
        };
        let a = bamboo::spawn(yielder);
        let b = bamboo::spawn(yielder);
        a.join().unwrap();
        b.join().unwrap();
        t0.elapsed().as_nanos() as f64 / (2 * n).max(1) as f64
    });
    println!("yield loop ({workers} worker(s)): {ns:.1} ns per yield");
}
