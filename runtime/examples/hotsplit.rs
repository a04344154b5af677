use std::hint::black_box;
fn main() {
    let n: u64 = std::env::var("N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let rt = bamboo::Runtime::builder().workers(1).build().unwrap();
    let h = rt.handle();
    let (t, grows) = rt.block_on(move || {
        fn edge(n: u64, h: &bamboo::Handle) -> (std::time::Duration, u64) {
            if bamboo::remaining_stack().unwrap() >= bamboo::stack::RED_ZONE {
                let pad = black_box([0u8; 256]);
                let r = edge(n, h);
                black_box(pad);
                return r;
            }
            let g0 = h.counters().grows;
            let t0 = std::time::Instant::now();
            for i in 0..n {
                black_box(bamboo::grow(|| black_box(i)));
            }
            (t0.elapsed(), h.counters().grows - g0)
        }
        edge(n, &h)
    });
    println!(
        "hot split: {:.1} ns per crossing ({grows} grows)",
        t.as_nanos() as f64 / n as f64
    );
}
