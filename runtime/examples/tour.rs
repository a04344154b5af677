//! A short tour of the API: block_on, spawn/join, deep recursion through
//! `grow`, a panic reaching its JoinHandle, a rendezvous channel, sleep.
//! `cargo run --release -p bamboo --example tour`
fn depth(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        bamboo::grow(|| depth(n - 1)) + 1
    }
}
fn main() {
    let rt = bamboo::Runtime::builder().workers(2).build().unwrap();
    let h = rt.handle();
    let v = rt.block_on(|| 40 + 2);
    println!("block_on {v}");
    let hs: Vec<_> = (0..1000).map(|i| rt.spawn(move || i * 2)).collect();
    let s: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    println!("sum {s}");
    let d = rt.block_on(|| depth(100_000));
    println!("depth {d} {:?}", h.counters());
    let r = rt.spawn(|| panic!("boom")).join();
    println!("panic {:?}", r);
    let (tx, rx) = bamboo::sync::channel::<u64>(0);
    let c = rt.spawn(move || rx.into_iter().sum::<u64>());
    rt.block_on(move || {
        for i in 0..1000 {
            tx.send(i).unwrap();
        }
    });
    println!("chan {:?}", c.join());
    rt.block_on(|| bamboo::sleep(std::time::Duration::from_millis(10)));
    println!("slept");
}
