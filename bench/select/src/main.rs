//! `select` over two ready buffered channels, ns per select, and the
//! rendezvous ping-pong for comparison; one workload per process.
//!
//! usage: select-bench (bamboo|bamboo_dyn|crossbeam) (select2|pingpong)
//!
//! Prints `runtime workload value ns/op`. Every figure is the mean of three
//! timed batches after one warm-up batch. bamboo runs inside a coroutine on
//! a 2-worker runtime; crossbeam on the main thread (select2) or two
//! threads (pingpong).
use std::hint::black_box;
use std::time::Instant;

/// Selects per batch; each channel is filled with this many values first,
/// so both stay ready for the whole batch.
const N: usize = 1_000_000;
const ROUNDTRIPS: u64 = 100_000;

fn bamboo_select2(dynamic: bool) -> f64 {
    let (a_tx, a_rx) = bamboo::sync::channel::<u64>(N);
    let (b_tx, b_rx) = bamboo::sync::channel::<u64>(N);
    for i in 0..N as u64 {
        a_tx.send(i).unwrap();
        b_tx.send(i).unwrap();
    }
    let t0 = Instant::now();
    let mut sum = 0u64;
    if dynamic {
        let mut sel = bamboo::sync::Select::new();
        sel.recv(&a_rx);
        sel.recv(&b_rx);
        for _ in 0..N {
            let i = sel.select();
            sum += sel.recv_result::<u64>(i).unwrap();
        }
    } else {
        for _ in 0..N {
            bamboo::select! {
                recv(a_rx) -> v => sum += v.unwrap(),
                recv(b_rx) -> v => sum += v.unwrap(),
            }
        }
    }
    let e = t0.elapsed();
    black_box(sum);
    e.as_nanos() as f64 / N as f64
}

fn crossbeam_select2() -> f64 {
    let (a_tx, a_rx) = crossbeam_channel::bounded::<u64>(N);
    let (b_tx, b_rx) = crossbeam_channel::bounded::<u64>(N);
    for i in 0..N as u64 {
        a_tx.send(i).unwrap();
        b_tx.send(i).unwrap();
    }
    let t0 = Instant::now();
    let mut sum = 0u64;
    for _ in 0..N {
        crossbeam_channel::select! {
            recv(a_rx) -> v => sum += v.unwrap(),
            recv(b_rx) -> v => sum += v.unwrap(),
        }
    }
    let e = t0.elapsed();
    black_box(sum);
    e.as_nanos() as f64 / N as f64
}

fn bamboo_pingpong() -> f64 {
    let (a_tx, a_rx) = bamboo::sync::channel::<u64>(0);
    let (b_tx, b_rx) = bamboo::sync::channel::<u64>(0);
    let echo = bamboo::spawn(move || {
        for v in a_rx {
            b_tx.send(v + 1).unwrap();
        }
    });
    let t0 = Instant::now();
    for i in 0..ROUNDTRIPS {
        a_tx.send(i).unwrap();
        black_box(b_rx.recv().unwrap());
    }
    let e = t0.elapsed();
    drop(a_tx);
    echo.join().unwrap();
    e.as_nanos() as f64 / ROUNDTRIPS as f64
}

fn crossbeam_pingpong() -> f64 {
    let (a_tx, a_rx) = crossbeam_channel::bounded::<u64>(0);
    let (b_tx, b_rx) = crossbeam_channel::bounded::<u64>(0);
    let echo = std::thread::spawn(move || {
        for v in a_rx {
            b_tx.send(v + 1).unwrap();
        }
    });
    let t0 = Instant::now();
    for i in 0..ROUNDTRIPS {
        a_tx.send(i).unwrap();
        black_box(b_rx.recv().unwrap());
    }
    let e = t0.elapsed();
    drop(a_tx);
    echo.join().unwrap();
    e.as_nanos() as f64 / ROUNDTRIPS as f64
}

fn mean_of_batches(f: impl Fn() -> f64) -> f64 {
    f(); // warm-up
    (0..3).map(|_| f()).sum::<f64>() / 3.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (who, what) = match (args.get(1), args.get(2)) {
        (Some(a), Some(b)) => (a.as_str(), b.as_str()),
        _ => {
            eprintln!("usage: select-bench (bamboo|bamboo_dyn|crossbeam) (select2|pingpong)");
            std::process::exit(2);
        }
    };
    let ns = match (who, what) {
        ("crossbeam", "select2") => mean_of_batches(crossbeam_select2),
        ("crossbeam", "pingpong") => mean_of_batches(crossbeam_pingpong),
        ("bamboo" | "bamboo_dyn", w) => {
            let rt = bamboo::Runtime::builder().workers(2).build().unwrap();
            let dynamic = who == "bamboo_dyn";
            let w = w.to_string();
            rt.block_on(move || match w.as_str() {
                "select2" => mean_of_batches(|| bamboo_select2(dynamic)),
                "pingpong" => mean_of_batches(bamboo_pingpong),
                other => {
                    eprintln!("unknown workload {other}");
                    std::process::exit(2)
                }
            })
        }
        _ => {
            eprintln!("unknown runtime/workload {who} {what}");
            std::process::exit(2);
        }
    };
    println!("{who} {what} {ns:.1} ns/op");
}
