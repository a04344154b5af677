//! Coroutine-aware channel, Mutex and WaitGroup, from coroutines and from
//! plain threads.

use std::sync::Arc;
use std::time::Duration;

use bamboo::sync::{channel, Mutex, RecvError, TryRecvError, WaitGroup};
use bamboo::Runtime;

fn rt() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

#[test]
fn buffered_and_rendezvous_channels_deliver_everything_in_order() {
    let rt = rt();
    for cap in [0usize, 1, 7, 1024] {
        let (tx, rx) = channel::<u32>(cap);
        let c = rt.spawn(move || rx.into_iter().collect::<Vec<_>>());
        rt.block_on(move || {
            for i in 0..10_000 {
                tx.send(i).unwrap();
            }
        });
        assert_eq!(
            c.join().unwrap(),
            (0..10_000).collect::<Vec<_>>(),
            "cap {cap}"
        );
    }
}

#[test]
fn rendezvous_send_waits_for_the_receiver() {
    let rt = rt();
    let (tx, rx) = channel::<u32>(0);
    let h = rt.spawn(move || {
        tx.send(1).unwrap();
        std::time::Instant::now()
    });
    std::thread::sleep(Duration::from_millis(50));
    let before_recv = std::time::Instant::now();
    assert_eq!(rx.recv(), Ok(1));
    let sent_at = h.join().unwrap();
    assert!(
        sent_at >= before_recv,
        "send returned before anyone received"
    );
}

#[test]
fn many_producers_many_consumers() {
    let rt = rt();
    let (tx, rx) = channel::<u64>(16);
    let producers: Vec<_> = (0..8u64)
        .map(|p| {
            let tx = tx.clone();
            rt.spawn(move || {
                for i in 0..5_000 {
                    tx.send(p * 1_000_000 + i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let rx = rx.clone();
            rt.spawn(move || rx.into_iter().sum::<u64>())
        })
        .collect();
    drop(rx);
    for p in producers {
        p.join().unwrap();
    }
    let total: u64 = consumers.into_iter().map(|c| c.join().unwrap()).sum();
    let expected: u64 = (0..8u64)
        .map(|p| (0..5_000).map(|i| p * 1_000_000 + i).sum::<u64>())
        .sum();
    assert_eq!(total, expected);
}

#[test]
fn closed_channels_never_hang() {
    let rt = rt();
    // Receiver gone: send fails and gives the value back (both kinds).
    for cap in [0, 4] {
        let (tx, rx) = channel::<String>(cap);
        drop(rx);
        let e = rt.block_on(move || tx.send("x".to_string()).unwrap_err());
        assert_eq!(e.0, "x");
    }
    // Sender gone: recv drains then fails.
    let (tx, rx) = channel::<u8>(4);
    tx.send(1).unwrap();
    drop(tx);
    assert_eq!(
        rt.block_on(move || (rx.recv(), rx.recv())),
        (Ok(1), Err(RecvError))
    );
    // A parked receiver is woken by the last sender's drop.
    let (tx, rx) = channel::<u8>(0);
    let h = rt.spawn(move || rx.recv());
    std::thread::sleep(Duration::from_millis(20));
    drop(tx);
    assert_eq!(h.join().unwrap(), Err(RecvError));
    // A parked rendezvous sender is woken by the last receiver's drop.
    let (tx, rx) = channel::<u8>(0);
    let h = rt.spawn(move || tx.send(9).map_err(|e| e.0));
    std::thread::sleep(Duration::from_millis(20));
    drop(rx);
    assert_eq!(h.join().unwrap(), Err(9));
    // try_recv.
    let (tx, rx) = channel::<u8>(1);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.send(3).unwrap();
    assert_eq!(rx.try_recv(), Ok(3));
    drop(tx);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn channels_work_between_plain_threads_and_coroutines() {
    let rt = rt();
    let (tx, rx) = channel::<u32>(0);
    let (back_tx, back_rx) = channel::<u32>(0);
    let echo = rt.spawn(move || {
        for v in rx {
            back_tx.send(v + 1).unwrap();
        }
    });
    for i in 0..1000 {
        tx.send(i).unwrap();
        assert_eq!(back_rx.recv(), Ok(i + 1));
    }
    drop(tx);
    echo.join().unwrap();
}

#[test]
fn mutex_serialises_coroutines_and_threads() {
    let rt = rt();
    let m = Arc::new(Mutex::new(0u64));
    let hs: Vec<_> = (0..100)
        .map(|_| {
            let m = m.clone();
            rt.spawn(move || {
                for _ in 0..1000 {
                    let mut g = m.lock();
                    let v = *g;
                    if v.is_multiple_of(97) {
                        bamboo::yield_now(); // park while holding it
                    }
                    *g = v + 1;
                }
            })
        })
        .collect();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    *m.lock() += 1;
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*m.lock(), 102_000);
    assert!(m.try_lock().is_some());
}

#[test]
fn mutex_held_across_a_park_does_not_block_the_worker() {
    // One worker: the holder sleeps (parks) with the lock; the waiter parks
    // too; a third coroutine still runs.
    let rt = Runtime::builder().workers(1).build().unwrap();
    let m = Arc::new(Mutex::new(()));
    let m2 = m.clone();
    let holder = rt.spawn(move || {
        let _g = m2.lock();
        bamboo::sleep(Duration::from_millis(50));
    });
    std::thread::sleep(Duration::from_millis(10));
    let m3 = m.clone();
    let waiter = rt.spawn(move || drop(m3.lock()));
    let free = rt.spawn(|| 42);
    assert_eq!(free.join().unwrap(), 42);
    holder.join().unwrap();
    waiter.join().unwrap();
}

#[test]
fn waitgroup_waits_for_all() {
    let rt = rt();
    let wg = Arc::new(WaitGroup::new());
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for i in 0..500 {
        wg.add(1);
        let (wg, done) = (wg.clone(), done.clone());
        rt.spawn(move || {
            if i % 3 == 0 {
                bamboo::sleep(Duration::from_millis(1));
            }
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            wg.done();
        });
    }
    // From a plain thread and from a coroutine.
    wg.wait();
    assert_eq!(done.load(std::sync::atomic::Ordering::SeqCst), 500);
    let wg2 = wg.clone();
    rt.block_on(move || wg2.wait());
    assert_eq!(wg.count(), 0);
}

#[test]
#[should_panic(expected = "negative WaitGroup counter")]
fn waitgroup_done_below_zero_panics() {
    WaitGroup::new().done();
}

/// The close as a thousand waiters see it: plain receivers (with and
/// without a deadline), select receivers and a plain thread all wait on one
/// channel, while other coroutines clone and drop senders. Only the last
/// sender's drop closes it (the handle counts are atomics outside the lock;
/// a clone or drop that is not the last takes no lock), and the close frees
/// each plain receiver's record itself (`TAKEN`): every waiter reports
/// `RecvError` once, and the channel's wait list is left empty (a later
/// receiver sees the close at once).
#[test]
fn a_close_wakes_every_kind_of_receiver_once() {
    let rt = rt();
    for round in 0..3 {
        let (tx, rx) = channel::<u32>(0);
        let (side, side_rx) = channel::<u32>(0);
        let mut waiters = Vec::new();
        for i in 0..1_000u32 {
            let (rx, side_rx) = (rx.clone(), side_rx.clone());
            waiters.push(rt.spawn(move || match i % 3 {
                0 => rx.recv(),
                1 => match rx.recv_timeout(Duration::from_secs(60)) {
                    Err(bamboo::sync::RecvTimeoutError::Disconnected) => Err(RecvError),
                    other => panic!("recv_timeout: {other:?}"),
                },
                _ => bamboo::select! {
                    recv(rx) -> r => r,
                    recv(side_rx) -> r => panic!("the side channel delivered {r:?}"),
                },
            }));
        }
        let thread_rx = rx.clone();
        let thread = std::thread::spawn(move || thread_rx.recv());
        // Senders cloned and dropped while the receivers park: none of
        // these drops is the last, so none may close the channel.
        let churn: Vec<_> = (0..8)
            .map(|_| {
                let tx = tx.clone();
                rt.spawn(move || {
                    for _ in 0..2_000 {
                        drop(tx.clone());
                        bamboo::yield_now();
                    }
                })
            })
            .collect();
        for c in churn {
            c.join().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            rx.try_recv(),
            Err(TryRecvError::Empty),
            "round {round}: closed early"
        );
        drop(tx);
        for (i, w) in waiters.into_iter().enumerate() {
            assert_eq!(
                w.join().unwrap(),
                Err(RecvError),
                "round {round}, waiter {i}"
            );
        }
        assert_eq!(
            thread.join().unwrap(),
            Err(RecvError),
            "round {round}: the thread"
        );
        // Nothing is left queued: a new receiver sees the close at once.
        assert_eq!(rx.recv(), Err(RecvError));
        drop(side);
    }
}
