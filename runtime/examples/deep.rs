use std::hint::black_box;
fn depth(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        bamboo::grow(|| depth(n - 1)) + 1
    }
}
fn main() {
    let rt = bamboo::Runtime::builder().workers(1).build().unwrap();
    let h = rt.handle();
    let n = 1_000_000;
    for _ in 0..5 {
        let t = rt.block_on(move || {
            let t0 = std::time::Instant::now();
            black_box(depth(n));
            t0.elapsed()
        });
        println!(
            "deep recursion: {:.1} ns per frame {:?}",
            t.as_nanos() as f64 / n as f64,
            h.counters().grows
        );
    }
}
