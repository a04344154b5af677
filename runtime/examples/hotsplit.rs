//! N crossings of a segment boundary (`grow` right at the edge of a
//! segment), for instruction counts under callgrind:
//!
//! ```sh
//! cargo build --release -p bamboo --example hotsplit
//! for n in 100000 200000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/tmp/hs.$n \
//!     target/release/examples/hotsplit $n
//! done
//! # instructions per crossing: (I(200000) - I(100000)) / 100000
//! ```
//!
//! The coroutine recurses in 512-byte frames until less than
//! [`bamboo::RED_ZONE`] is left in its segment, then calls
//! `grow(|| black_box(i))` N times: each call switches to the spare
//! segment and back (bench/peers `hot_split` times the same loop).
use std::hint::black_box;

fn edge(n: u64, depth: u64) -> u64 {
    let rem = bamboo::remaining_stack().expect("on a coroutine");
    if rem < bamboo::RED_ZONE {
        let mut s = 0;
        for i in 0..n {
            s += black_box(bamboo::grow(|| black_box(i)));
        }
        return s;
    }
    let pad = [depth as u8; 512];
    black_box(&pad);
    edge(n, depth + 1) + black_box(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = match std::env::args().nth(1) {
        Some(a) => a.parse().map_err(|e| format!("bad count {a:?}: {e}"))?,
        None => 1_000_000,
    };
    let rt = bamboo::Runtime::builder().workers(1).build()?;
    let s = rt.block_on(move || edge(n, 0));
    assert_eq!(s, n * n.saturating_sub(1) / 2);
    let c = rt.handle().counters();
    println!(
        "{n} crossings, {} grows, {} spare hits",
        c.grows, c.spare_hits
    );
    Ok(())
}
