fn main() {
    let rt1 = bamboo::Runtime::builder().workers(1).build().unwrap();
    let n: u64 = std::env::var("N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000_000);
    let t = rt1.block_on(move || {
        let other = bamboo::spawn(move || {
            for _ in 0..n {
                bamboo::yield_now()
            }
        });
        let t0 = std::time::Instant::now();
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
}
