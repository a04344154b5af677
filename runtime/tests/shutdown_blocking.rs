//! Dropping a runtime while destructors block on bamboo primitives: a
//! pool-style `Drop` that locks a `Mutex` another parked coroutine holds
//! (in either spawn order), a `sleep` inside a `Drop`, a channel send in a
//! `Drop`. None of these may abort or hang the process; each runs in a
//! child process with a deadline.

mod child;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use bamboo::sync::{Mutex, WaitGroup};
use bamboo::Runtime;

const TIMEOUT: Duration = Duration::from_secs(30);

macro_rules! child_test {
    ($name:ident, $body:block) => {
        #[test]
        fn $name() {
            if child::mode().as_deref() == Some(stringify!($name)) {
                $body
            } else if child::mode().is_none() {
                child::run_ok(stringify!($name), stringify!($name), TIMEOUT);
            }
        }
    };
}

/// Returns its item to the pool on drop (locks the pool's mutex).
struct Lease {
    pool: Arc<Mutex<Vec<u32>>>,
    item: u32,
    returned: Arc<AtomicUsize>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.pool.lock().push(self.item);
        self.returned.fetch_add(1, SeqCst);
    }
}

/// One coroutine parks holding the pool's lock; four park holding a
/// lease. `holder_first` picks the spawn order (the order the workers
/// unwind them in): the holder is spawned first or last, and locks only
/// after the leases have their items.
fn pool_drop(workers: usize, holder_first: bool) {
    let rt = Runtime::builder().workers(workers).build().unwrap();
    let pool = Arc::new(Mutex::new((0..8).collect::<Vec<u32>>()));
    let returned = Arc::new(AtomicUsize::new(0));
    let leased = Arc::new(WaitGroup::new());
    let locked = Arc::new(WaitGroup::new());
    let go = Arc::new(WaitGroup::new());
    go.add(1);
    locked.add(1);
    let spawn_holder = |rt: &Runtime| {
        let (pool, locked, go) = (pool.clone(), locked.clone(), go.clone());
        rt.spawn(move || {
            go.wait();
            let _g = pool.lock();
            locked.done();
            bamboo::sleep(Duration::from_secs(3600));
        })
    };
    let spawn_leases = |rt: &Runtime| {
        (0..4)
            .map(|_| {
                let (pool, leased, returned) = (pool.clone(), leased.clone(), returned.clone());
                leased.add(1);
                rt.spawn(move || {
                    let item = pool.lock().pop().unwrap();
                    let _lease = Lease {
                        pool,
                        item,
                        returned,
                    };
                    leased.done();
                    bamboo::sleep(Duration::from_secs(3600));
                })
            })
            .collect::<Vec<_>>()
    };
    let (h, leases) = if holder_first {
        let h = spawn_holder(&rt);
        (h, spawn_leases(&rt))
    } else {
        let leases = spawn_leases(&rt);
        (spawn_holder(&rt), leases)
    };
    leased.wait();
    go.done();
    locked.wait();
    std::thread::sleep(Duration::from_millis(5)); // let them park
    drop(rt);
    // Unwound at its sleep, or (had the shutdown come first) returned
    // from it: never a panic, never an abort.
    let _ = h.join().map_err(|e| assert!(e.is_cancelled(), "{e:?}"));
    for l in leases {
        let _ = l.join().map_err(|e| assert!(e.is_cancelled(), "{e:?}"));
    }
    assert_eq!(returned.load(SeqCst), 4, "every lease went back");
    assert_eq!(pool.try_lock().expect("unlocked").len(), 8);
}

child_test!(pool_drop_one_worker, {
    pool_drop(1, true);
    pool_drop(1, false);
});

child_test!(pool_drop_two_workers, {
    for _ in 0..20 {
        pool_drop(2, true);
        pool_drop(2, false);
    }
});

struct SleepOnDrop(Arc<AtomicUsize>);
impl Drop for SleepOnDrop {
    fn drop(&mut self) {
        bamboo::sleep(Duration::from_millis(5));
        bamboo::yield_now();
        self.0.fetch_add(1, SeqCst);
    }
}

child_test!(sleep_in_a_drop_during_shutdown, {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..50)
        .map(|_| {
            let d = done.clone();
            rt.spawn(move || {
                let _s = SleepOnDrop(d);
                bamboo::sleep(Duration::MAX);
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    drop(rt);
    for h in hs {
        assert!(h.join().unwrap_err().is_cancelled());
    }
    assert_eq!(done.load(SeqCst), 50, "every destructor finished");
});

struct SendOnDrop(bamboo::sync::Sender<u32>);
impl Drop for SendOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(1);
    }
}

child_test!(rendezvous_between_destructors_during_shutdown, {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let (tx, rx) = bamboo::sync::channel::<u32>(0);
    let got = Arc::new(AtomicUsize::new(0));
    let g = got.clone();
    struct RecvOnDrop(bamboo::sync::Receiver<u32>, Arc<AtomicUsize>);
    impl Drop for RecvOnDrop {
        fn drop(&mut self) {
            if let Ok(v) = self.0.recv() {
                self.1.fetch_add(v as usize, SeqCst);
            }
        }
    }
    rt.spawn(move || {
        let _r = RecvOnDrop(rx, g);
        bamboo::sleep(Duration::MAX);
    });
    rt.spawn(move || {
        let _s = SendOnDrop(tx);
        bamboo::sleep(Duration::MAX);
    });
    std::thread::sleep(Duration::from_millis(50));
    drop(rt);
    assert_eq!(got.load(SeqCst), 1);
});

/// Locks `0` on drop.
struct LockOnDrop(Arc<Mutex<()>>);
impl Drop for LockOnDrop {
    fn drop(&mut self) {
        drop(self.0.lock());
    }
}

/// Two destructors that wait for each other (A holds `a` and locks `b` on
/// drop, B the other way round) can never finish: the drain gives up and
/// the process aborts with a message that says so, instead of hanging or
/// dying of "panic in a destructor during cleanup".
#[test]
fn destructors_waiting_for_each_other_abort_with_a_message() {
    if child::mode().as_deref() == Some("deadlock") {
        let rt = Runtime::builder().workers(2).build().unwrap();
        let (a, b) = (Arc::new(Mutex::new(())), Arc::new(Mutex::new(())));
        let wg = Arc::new(WaitGroup::new());
        for (mine, theirs) in [(a.clone(), b.clone()), (b, a)] {
            let wg = wg.clone();
            wg.add(1);
            rt.spawn(move || {
                let _g = mine.lock();
                let _d = LockOnDrop(theirs);
                wg.done();
                bamboo::sleep(Duration::MAX);
            });
        }
        wg.wait();
        drop(rt);
        unreachable!("the drain cannot finish");
    }
    if child::mode().is_some() {
        return;
    }
    use std::os::unix::process::ExitStatusExt;
    let c = child::run(
        "destructors_waiting_for_each_other_abort_with_a_message",
        "deadlock",
        &[],
        TIMEOUT,
    );
    assert_eq!(c.status.signal(), Some(libc::SIGABRT), "{:?}", c.status);
    assert!(
        c.stderr
            .contains("waits in a destructor during runtime shutdown"),
        "{}",
        c.stderr
    );
    assert!(
        !c.stderr.contains("panic in a destructor during cleanup"),
        "{}",
        c.stderr
    );
}
