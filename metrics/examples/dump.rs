//! Print every metric of a small workload in the Prometheus text format,
//! then the MemStats of the same consistent read:
//! `cargo run --release -p bamboo-metrics --example dump`.

fn main() {
    let rt = bamboo::Runtime::new().expect("runtime");
    let h = rt.handle();
    rt.block_on(|| {
        for _ in 0..100 {
            bamboo::spawn(|| bamboo::grow(bamboo::yield_now))
                .join()
                .expect("coroutine");
        }
    });
    let mut samples = bamboo_metrics::all_samples();
    let mut mem = bamboo_metrics::MemStats::default();
    bamboo_metrics::read_consistent(&h, &mut mem, &mut samples);
    print!("{}", bamboo_metrics::prometheus::encode(&samples));
    println!("\n{mem:#?}");
    let bad = bamboo_metrics::check(&mem, &samples);
    assert!(bad.is_empty(), "{bad:?}");
}
