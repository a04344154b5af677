//! select!, Select, timeouts and the non-blocking forms, from coroutines
//! and plain threads. Every test runs under a watchdog (no hang in CI).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bamboo::sync::{
    channel, RecvError, RecvTimeoutError, Select, SendError, SendTimeoutError, TryRecvError,
    TrySendError,
};
use bamboo::Runtime;

fn rt() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

/// Abort the test process if `f` takes longer than `secs`.
fn watchdog<R>(secs: u64, f: impl FnOnce() -> R) -> R {
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = done.clone();
    let name = std::thread::current().name().unwrap_or("?").to_string();
    std::thread::spawn(move || {
        let t0 = Instant::now();
        while !d.load(Relaxed) {
            if t0.elapsed() > Duration::from_secs(secs) {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "watchdog: test {name} still running after {secs} s"
                );
                std::process::abort();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let r = f();
    done.store(true, Relaxed);
    r
}

#[test]
fn select_syntax_recv_send_default() {
    watchdog(30, || {
        let rt = rt();
        rt.block_on(|| {
            let (tx1, rx1) = channel::<u32>(1);
            let (tx2, rx2) = channel::<u32>(1);
            // Nothing ready: default.
            let r = bamboo::select! {
                recv(rx1) -> _ => 1,
                recv(rx2) -> _ => 2,
                default => 0,
            };
            assert_eq!(r, 0);
            tx2.send(5).unwrap();
            bamboo::select! {
                recv(rx1) -> _v => panic!("rx1 is empty"),
                recv(rx2) -> v => assert_eq!(v, Ok(5)),
            }
            // A send case with room takes effect; the value arrives.
            bamboo::select! {
                send(tx1, 9) -> r => { assert_eq!(r, Ok(())); }
                recv(rx2) -> _ => panic!("rx2 is empty"),
            }
            assert_eq!(rx1.recv(), Ok(9));
            // Full buffer, nothing within the timeout.
            tx1.send(1).unwrap();
            let t0 = Instant::now();
            bamboo::select! {
                send(tx1, 2) -> _ => panic!("tx1 is full"),
                default(Duration::from_millis(30)) => {}
            }
            assert!(t0.elapsed() >= Duration::from_millis(30));
            // A closed channel's recv is ready with Err.
            drop(tx2);
            bamboo::select! {
                recv(rx2) -> v => assert_eq!(v, Err(RecvError)),
                default(Duration::from_secs(5)) => panic!("closed recv not ready"),
            }
            // A send on a channel without receivers is ready with Err.
            drop(rx1);
            bamboo::select! {
                send(tx1, 3) -> r => assert_eq!(r, Err(SendError(3))),
            }
        });
    })
}

#[test]
fn select_with_time_after() {
    watchdog(30, || {
        let rt = rt();
        rt.block_on(|| {
            let (_tx, rx) = channel::<u32>(0);
            let t0 = Instant::now();
            bamboo::select! {
                recv(rx) -> _ => panic!("nobody sends"),
                recv(bamboo::time::after(Duration::from_millis(20))) -> t => {
                    assert!(t.unwrap() >= t0 + Duration::from_millis(20));
                }
            }
        });
    })
}

#[test]
fn fairness_two_ready_cases() {
    watchdog(60, || {
        let rt = rt();
        let (a, b) = rt.block_on(|| {
            let (tx1, rx1) = channel::<u32>(1);
            let (tx2, rx2) = channel::<u32>(1);
            let (mut a, mut b) = (0u32, 0u32);
            for _ in 0..10_000 {
                if rx1.is_empty() {
                    tx1.send(1).unwrap();
                }
                if rx2.is_empty() {
                    tx2.send(2).unwrap();
                }
                bamboo::select! {
                    recv(rx1) -> _ => a += 1,
                    recv(rx2) -> _ => b += 1,
                }
            }
            (a, b)
        });
        assert_eq!(a + b, 10_000);
        assert!(
            (4_000..=6_000).contains(&a),
            "case 1 won {a} of 10000, case 2 {b}"
        );
    })
}

#[test]
fn rendezvous_select_send_pairs_with_a_receiver() {
    watchdog(30, || {
        let rt = rt();
        let (tx, rx) = channel::<u32>(0);
        let (_tx2, rx2) = channel::<u32>(0);
        let h = rt.spawn(move || {
            bamboo::select! {
                send(tx, 7) -> r => r.map(|_| 1),
                recv(rx2) -> _ => Ok(2),
            }
        });
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(rx.recv(), Ok(7));
        assert_eq!(h.join().unwrap(), Ok(1));
        // try_send on a rendezvous channel: only with a receiver waiting.
        let (tx, rx) = channel::<u32>(0);
        assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
        let r = rt.spawn(move || rx.recv());
        let t0 = Instant::now();
        loop {
            match tx.try_send(2) {
                Ok(()) => break,
                Err(TrySendError::Full(_)) if t0.elapsed() < Duration::from_secs(10) => {
                    std::thread::yield_now()
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(r.join().unwrap(), Ok(2));
    })
}

#[test]
fn timeouts_and_try_forms() {
    watchdog(30, || {
        let rt = rt();
        let check = || {
            let (tx, rx) = channel::<u32>(1);
            assert_eq!(
                rx.recv_timeout(Duration::from_millis(10)),
                Err(RecvTimeoutError::Timeout)
            );
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            tx.try_send(1).unwrap();
            assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
            let t0 = Instant::now();
            assert_eq!(
                tx.send_timeout(3, Duration::from_millis(20)),
                Err(SendTimeoutError::Timeout(3))
            );
            assert!(t0.elapsed() >= Duration::from_millis(20));
            assert_eq!(rx.recv_timeout(Duration::from_millis(10)), Ok(1));
            drop(tx);
            assert_eq!(
                rx.recv_timeout(Duration::from_millis(10)),
                Err(RecvTimeoutError::Disconnected)
            );
            let (tx, rx) = channel::<u32>(0);
            drop(rx);
            assert_eq!(tx.try_send(4), Err(TrySendError::Disconnected(4)));
            assert_eq!(
                tx.send_timeout(5, Duration::from_millis(10)),
                Err(SendTimeoutError::Disconnected(5))
            );
        };
        rt.block_on(check);
        check(); // and from a plain thread
    })
}

#[test]
fn blocked_timeouts_wake_when_the_counterpart_arrives() {
    watchdog(30, || {
        let rt = rt();
        let (tx, rx) = channel::<u32>(0);
        let h = rt.spawn(move || rx.recv_timeout(Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        tx.send(8).unwrap();
        assert_eq!(h.join().unwrap(), Ok(8));
        let (tx, rx) = channel::<u32>(0);
        let h = rt.spawn(move || tx.send_timeout(9, Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(rx.recv(), Ok(9));
        assert_eq!(h.join().unwrap(), Ok(()));
    })
}

#[test]
fn receiver_iterates_by_value_and_by_reference() {
    watchdog(30, || {
        let (tx, rx) = channel::<u32>(4);
        for i in 0..3 {
            tx.send(i).unwrap();
        }
        let mut got = vec![];
        for v in &rx {
            got.push(v);
            if got.len() == 3 {
                break;
            }
        }
        tx.send(3).unwrap();
        drop(tx);
        got.extend(rx);
        assert_eq!(got, vec![0, 1, 2, 3]);
    })
}

#[test]
fn dynamic_select_gives_back_unsent_values() {
    watchdog(30, || {
        let (tx1, rx1) = channel::<String>(0);
        let (tx2, rx2) = channel::<u32>(1);
        let mut sel = Select::new();
        let s = sel.send(&tx1, "kept".to_string());
        let r = sel.recv(&rx2);
        assert_eq!(sel.try_select(), None);
        tx2.send(4).unwrap();
        let i = sel.select();
        assert_eq!(i, r);
        assert_eq!(sel.recv_result::<u32>(i), Ok(4));
        assert_eq!(
            sel.select_timeout(Duration::from_millis(10)),
            None,
            "nothing ready"
        );
        assert_eq!(sel.take_unsent::<String>(s).as_deref(), Some("kept"));
        drop(rx1);
    })
}

#[test]
fn select_from_plain_threads_and_coroutines_mixed() {
    watchdog(60, || {
        let rt = rt();
        let (tx_a, rx_a) = channel::<u64>(0);
        let (tx_b, rx_b) = channel::<u64>(3);
        let n = 4_000u64;
        let pa = std::thread::spawn(move || {
            for i in 0..n {
                tx_a.send(i).unwrap();
            }
        });
        let pb = rt.spawn(move || {
            for i in n..2 * n {
                tx_b.send(i).unwrap();
            }
        });
        let consume = move |rx_a: bamboo::sync::Receiver<u64>,
                            rx_b: bamboo::sync::Receiver<u64>| {
            let mut got = vec![];
            let (mut a_open, mut b_open) = (true, true);
            let off = bamboo::sync::never::<u64>();
            while a_open || b_open {
                bamboo::select! {
                    recv(if a_open { &rx_a } else { &off }) -> v => match v { Ok(v) => got.push(v), Err(_) => a_open = false },
                    recv(if b_open { &rx_b } else { &off }) -> v => match v { Ok(v) => got.push(v), Err(_) => b_open = false },
                }
            }
            got
        };
        let (ra, rb) = (rx_a.clone(), rx_b.clone());
        let c1 = std::thread::spawn(move || consume(ra, rb));
        let c2 = rt.spawn(move || consume(rx_a, rx_b));
        pa.join().unwrap();
        pb.join().unwrap();
        let mut all = c1.join().unwrap();
        all.extend(c2.join().unwrap());
        let set: HashSet<u64> = all.iter().copied().collect();
        assert_eq!(all.len() as u64, 2 * n, "every value exactly once");
        assert_eq!(set.len() as u64, 2 * n);
    })
}

/// Three selecting consumers over three channels (one rendezvous) fed by
/// six producers: 120,000 values, each received exactly once.
#[test]
fn three_selecting_consumers_six_producers() {
    watchdog(120, || {
        let rt = rt();
        let per = 20_000u64;
        let chans: Vec<_> = [0usize, 1, 64].iter().map(|&c| channel::<u64>(c)).collect();
        let seen = Arc::new(AtomicUsize::new(0));
        let mut producers = vec![];
        for p in 0..6u64 {
            let tx = chans[(p % 3) as usize].0.clone();
            producers.push(rt.spawn(move || {
                for i in 0..per {
                    tx.send(p * per + i).unwrap();
                }
            }));
        }
        let rxs: Vec<_> = chans.iter().map(|(_, r)| r.clone()).collect();
        drop(chans);
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let (r0, r1, r2) = (rxs[0].clone(), rxs[1].clone(), rxs[2].clone());
                let seen = seen.clone();
                rt.spawn(move || {
                    let mut got = vec![];
                    let mut open = [true; 3];
                    // A closed channel is always ready: switch its case off
                    // (Go: set it to nil), or this loop would spin.
                    let off = bamboo::sync::never::<u64>();
                    while open.iter().any(|&o| o) {
                        bamboo::select! {
                            recv(if open[0] { &r0 } else { &off }) -> v => match v { Ok(v) => got.push(v), Err(_) => open[0] = false },
                            recv(if open[1] { &r1 } else { &off }) -> v => match v { Ok(v) => got.push(v), Err(_) => open[1] = false },
                            recv(if open[2] { &r2 } else { &off }) -> v => match v { Ok(v) => got.push(v), Err(_) => open[2] = false },
                        }
                    }
                    seen.fetch_add(got.len(), Relaxed);
                    got
                })
            })
            .collect();
        drop(rxs);
        for p in producers {
            p.join().unwrap();
        }
        let mut all: Vec<u64> = consumers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(all.len(), 120_000);
        assert!(
            all.iter().enumerate().all(|(i, &v)| v == i as u64),
            "each of 0..120000 exactly once"
        );
    })
}

#[test]
fn a_select_waiting_on_three_channels_takes_exactly_one() {
    watchdog(60, || {
        let rt = rt();
        for round in 0..300 {
            let (t0, r0) = channel::<u32>(0);
            let (t1, r1) = channel::<u32>(1);
            let (t2, r2) = channel::<u32>(0);
            let sel = rt.spawn(move || {
                bamboo::select! {
                    recv(r0) -> v => (0, v.unwrap()),
                    recv(r1) -> v => (1, v.unwrap()),
                    recv(r2) -> v => (2, v.unwrap()),
                }
            });
            // Three senders race for the one select; exactly one value is
            // taken, the other two come back (timeout) or stay buffered.
            let s0 = rt.spawn(move || t0.send_timeout(10, Duration::from_millis(50)).is_ok());
            // Buffered: succeeds while r1 lives, taken or not.
            let s1 = rt.spawn(move || {
                let _ = t1.send(11);
                t1
            });
            let s2 =
                std::thread::spawn(move || t2.send_timeout(12, Duration::from_millis(50)).is_ok());
            let (case, v) = sel.join().unwrap();
            let ok0 = s0.join().unwrap();
            let t1 = s1.join().unwrap();
            let ok2 = s2.join().unwrap();
            drop(t1);
            assert_eq!(v, [10, 11, 12][case], "round {round}");
            assert_eq!(ok0, case == 0, "round {round}");
            assert_eq!(ok2, case == 2, "round {round}");
        }
    })
}
