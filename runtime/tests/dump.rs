//! The coroutine dump (`Handle::dump`, its `Display`, `sigquitdump=1`) and
//! the deadlock watchdog (docs/reliability.md, "Coroutine dump and deadlock
//! report").
//!
//! Watchdog and SIGQUIT tests re-run this test binary as a child with
//! `BAMBOO_TEST_CHILD` (`tests/child`) naming the scenario, a short grace period, and a
//! deadline: the child's own watchdog thread ends it after a few seconds
//! (a deadlocked child would otherwise hang for ever), and the parent kills
//! it if even that fails. They assert on the child's stderr.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bamboo::sync::{channel, Mutex, WaitGroup};
use bamboo::{CoroutineState, Runtime};

const CHILD_TIMEOUT: Duration = Duration::from_secs(60);
const MESSAGE: &str = "all coroutines are asleep - possible deadlock";
/// The grace period the children run with (ms).
const GRACE_MS: u64 = 300;

mod child;
use child::Child;

/// Re-run this binary with only `test` selected in `mode` (`tests/child`)
/// and `BAMBOO_DEBUG=debug`; kill it after `CHILD_TIMEOUT`.
fn run_child(test: &str, mode: &str, debug: &str) -> Child {
    child::run(test, mode, &[("BAMBOO_DEBUG", debug)], CHILD_TIMEOUT)
}

fn child_mode() -> Option<String> {
    child::mode()
}

/// In the child: end the process with `code` after `after` (a deadlocked
/// scenario never returns by itself; the watchdog only warns).
fn exit_after(after: Duration, code: i32) {
    std::thread::spawn(move || {
        std::thread::sleep(after);
        std::process::exit(code);
    });
}

/// Exit code of a child that reached its deadline still running.
const STILL_RUNNING: i32 = 17;

/// The scenarios a child runs (`BAMBOO_TEST_CHILD`).
fn scenario(mode: &str) {
    let rt = Runtime::builder().workers(2).build().unwrap();
    match mode {
        // A receive whose sender is held by this (plain) thread.
        "recv-held-sender" => {
            exit_after(Duration::from_secs(3), STILL_RUNNING);
            let (tx, rx) = channel::<u32>(0);
            let _held = tx;
            let _ = rt.block_on(move || rx.recv());
        }
        "waitgroup" => {
            exit_after(Duration::from_secs(3), STILL_RUNNING);
            rt.block_on(|| {
                let wg = WaitGroup::new();
                wg.add(1);
                wg.wait();
            });
        }
        "double-lock" => {
            exit_after(Duration::from_secs(3), STILL_RUNNING);
            rt.block_on(|| {
                let m = Mutex::new(0u32);
                let _a = m.lock();
                let _b = m.lock();
            });
        }
        "channel-cycle" => {
            exit_after(Duration::from_secs(3), STILL_RUNNING);
            rt.block_on(|| {
                let (t1, r1) = channel::<u32>(0);
                let (t2, r2) = channel::<u32>(0);
                let a = bamboo::spawn(move || {
                    let v = r1.recv();
                    let _ = t2.send(1);
                    v
                });
                let b = bamboo::spawn(move || {
                    let v = r2.recv();
                    let _ = t1.send(1);
                    v
                });
                let _ = a.join();
                let _ = b.join();
            });
        }
        // Negative: each of these waits 2 s on something a timer, the poller
        // or a pool thread ends, then finishes.
        "sleep" => rt.block_on(|| bamboo::sleep(Duration::from_secs(2))),
        "blocking" => {
            rt.block_on(|| bamboo::blocking(|| std::thread::sleep(Duration::from_secs(2))))
        }
        "io" => {
            let (addr_tx, addr_rx) = std::sync::mpsc::channel();
            let server = rt.spawn(move || {
                let l = bamboo::net::TcpListener::bind("127.0.0.1:0").unwrap();
                addr_tx.send(l.local_addr().unwrap()).unwrap();
                let (mut s, _) = l.accept().unwrap();
                let mut b = [0u8; 1];
                std::io::Read::read_exact(&mut s, &mut b).unwrap();
                b[0]
            });
            let addr = addr_rx.recv().unwrap();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(2));
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                std::io::Write::write_all(&mut c, &[7]).unwrap();
                std::thread::sleep(Duration::from_secs(1));
            });
            assert_eq!(server.join().unwrap(), 7);
        }
        // A timed wait (recv_timeout) whose deadline ends it.
        "timeout" => rt.block_on(|| {
            let (_tx, rx) = channel::<u32>(0);
            assert!(rx.recv_timeout(Duration::from_secs(2)).is_err());
        }),
        "sigquit" => {
            let (tx, rx) = channel::<u32>(0);
            let parked = rt.spawn(move || rx.recv());
            while rt
                .handle()
                .dump()
                .iter()
                .all(|c| c.state != CoroutineState::Waiting)
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            // SAFETY: raise only sends a signal to this process.
            unsafe { libc::raise(libc::SIGQUIT) };
            // The watcher thread prints asynchronously; wait for it to finish.
            std::thread::sleep(Duration::from_millis(500));
            tx.send(5).unwrap();
            assert_eq!(parked.join().unwrap(), Ok(5));
            eprintln!("child: still running after SIGQUIT");
        }
        other => panic!("unknown child scenario {other:?}"),
    }
}

/// Run `mode` in a child with the watchdog's grace at `GRACE_MS`.
fn watchdog_child(test: &str, mode: &str) -> Child {
    run_child(test, mode, &format!("deadlockgrace={GRACE_MS}"))
}

/// The report: the message exactly once, then the dump; returns the dump's
/// lines.
fn assert_reported(c: &Child) -> Vec<String> {
    assert_eq!(
        c.status.code(),
        Some(STILL_RUNNING),
        "the watchdog warns, it does not kill: the child must still run at its deadline"
    );
    assert_eq!(
        c.stderr.matches(MESSAGE).count(),
        1,
        "the report, once:\n{}",
        c.stderr
    );
    let from = c.stderr.find(MESSAGE).unwrap();
    c.stderr[from..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("coroutine "))
        .map(str::to_owned)
        .collect()
}

fn assert_quiet(c: &Child) {
    assert_eq!(c.status.code(), Some(0), "the scenario finishes");
    assert!(!c.stderr.contains(MESSAGE), "no report:\n{}", c.stderr);
}

macro_rules! child_test {
    ($name:ident, $mode:literal, |$c:ident| $check:block) => {
        #[test]
        fn $name() {
            if let Some(mode) = child_mode() {
                scenario(&mode);
                return;
            }
            let $c = watchdog_child(stringify!($name), $mode);
            $check
        }
    };
}

child_test!(deadlock_recv_with_held_sender, "recv-held-sender", |c| {
    let lines = assert_reported(&c);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("[channel receive]"), "{lines:?}");
    assert!(lines[0].contains("tests/dump.rs:"), "spawned at: {lines:?}");
});

child_test!(deadlock_waitgroup_never_zero, "waitgroup", |c| {
    let lines = assert_reported(&c);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("[waitgroup wait]"), "{lines:?}");
});

child_test!(deadlock_double_mutex_lock, "double-lock", |c| {
    let lines = assert_reported(&c);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("[mutex lock]"), "{lines:?}");
});

child_test!(deadlock_two_channel_cycle, "channel-cycle", |c| {
    let lines = assert_reported(&c);
    assert_eq!(
        lines.len(),
        3,
        "block_on's coroutine and the two: {lines:?}"
    );
    let recv = lines
        .iter()
        .filter(|l| l.contains("[channel receive]"))
        .count();
    let join = lines.iter().filter(|l| l.contains("[join]")).count();
    assert_eq!((recv, join), (2, 1), "{lines:?}");
});

child_test!(no_report_while_sleeping, "sleep", |c| {
    assert_quiet(&c);
});

child_test!(no_report_during_blocking_call, "blocking", |c| {
    assert_quiet(&c);
});

child_test!(no_report_while_waiting_for_io, "io", |c| {
    assert_quiet(&c);
});

child_test!(no_report_before_a_timeout, "timeout", |c| {
    assert_quiet(&c);
});

/// With the watchdog off (`deadlockgrace=0`) a deadlock is silent.
#[test]
fn watchdog_off() {
    if let Some(mode) = child_mode() {
        scenario(&mode);
        return;
    }
    let c = run_child("watchdog_off", "waitgroup", "deadlockgrace=0");
    assert_eq!(c.status.code(), Some(STILL_RUNNING));
    assert!(!c.stderr.contains(MESSAGE), "{}", c.stderr);
}

/// `sigquitdump=1`: SIGQUIT prints the dump and the process keeps running.
#[test]
fn sigquit_prints_the_dump() {
    if let Some(mode) = child_mode() {
        scenario(&mode);
        return;
    }
    let c = run_child("sigquit_prints_the_dump", "sigquit", "sigquitdump=1");
    assert_eq!(
        c.status.code(),
        Some(0),
        "still running after SIGQUIT, then done"
    );
    assert!(
        c.stderr
            .contains("bamboo: SIGQUIT: coroutine dump of runtime 1 of 1"),
        "{}",
        c.stderr
    );
    let line = c
        .stderr
        .lines()
        .find(|l| l.contains("[channel receive]"))
        .unwrap_or_else(|| panic!("the parked coroutine is listed:\n{}", c.stderr));
    assert!(line.contains("tests/dump.rs:"), "{line}");
    assert!(c.stderr.contains("child: still running after SIGQUIT"));
}

/// The dump lists every live coroutine with its state, what it waits on,
/// where it was spawned, its stack and its age.
#[test]
fn dump_lists_every_coroutine() {
    if child_mode().is_some() {
        return;
    }
    let rt = Runtime::builder().workers(2).build().unwrap();
    let h = rt.handle();
    let (tx, rx) = channel::<u32>(0);
    let m = Arc::new(Mutex::new(()));
    let wg = Arc::new(WaitGroup::new());
    wg.add(1);
    let held = m.lock();
    let line = line!() + 1;
    let recv = rt.spawn(move || rx.recv());
    let m2 = m.clone();
    let lock = rt.spawn(move || drop(m2.lock()));
    let wg2 = wg.clone();
    let wait = rt.spawn(move || wg2.wait());
    let sleeper = rt.spawn(|| bamboo::sleep(Duration::from_secs(30)));
    let ids = [recv.id(), lock.id(), wait.id(), sleeper.id()];
    let want = [
        "channel receive",
        "mutex lock",
        "waitgroup wait",
        "sleep (with timeout)",
    ];
    let deadline = Instant::now() + Duration::from_secs(20);
    let dump = loop {
        let d = h.dump();
        let waiting = ids.iter().zip(want).all(|(id, w)| {
            d.iter()
                .any(|c| c.id == *id && c.waiting_on.as_deref() == Some(w))
        });
        if waiting {
            break d;
        }
        assert!(Instant::now() < deadline, "never all waiting: {d:#?}");
        std::thread::sleep(Duration::from_millis(5));
    };
    let r = dump.iter().find(|c| c.id == recv.id()).unwrap();
    assert_eq!(r.state, CoroutineState::Waiting);
    assert_eq!(r.spawned_at.file(), file!());
    assert_eq!(r.spawned_at.line(), line);
    assert!(r.stack_bytes >= 4096, "{r:?}");
    assert!(r.age < Duration::from_secs(20), "{r:?}");
    assert_eq!(r.name, None);
    let text = r.to_string();
    assert!(
        text.starts_with(&format!(
            "coroutine {} [channel receive]: spawned at {}:{line}:",
            r.id,
            file!()
        )),
        "{text}"
    );
    assert!(text.contains(" bytes"), "{text}");
    // Waking them takes them out of the dump once they are done.
    tx.send(1).unwrap();
    drop(held);
    wg.done();
    sleeper.cancel();
    assert_eq!(recv.join().unwrap(), Ok(1));
    lock.join().unwrap();
    wait.join().unwrap();
    assert!(sleeper.join().unwrap_err().is_cancelled());
    let left = h.dump();
    assert!(left.iter().all(|c| !ids.contains(&c.id)), "{left:#?}");
    // A name given by coroutine::Builder shows in the dump and its line.
    let (ntx, nrx) = channel::<u32>(0);
    let named = bamboo::coroutine::Builder::new()
        .name("conn-handler")
        .spawn_on(&h, move || nrx.recv());
    let deadline = Instant::now() + Duration::from_secs(20);
    let n = loop {
        let d = h.dump();
        if let Some(c) = d
            .into_iter()
            .find(|c| c.id == named.id() && c.waiting_on.is_some())
        {
            break c;
        }
        assert!(Instant::now() < deadline, "named coroutine never waits");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(n.name.as_deref(), Some("conn-handler"));
    assert!(n.to_string().contains("\"conn-handler\""), "{n}");
    ntx.send(2).unwrap();
    assert_eq!(named.join().unwrap(), Ok(2));
    // The running coroutine sees itself running.
    let me = rt.block_on(move || {
        let id = bamboo::Handle::current().unwrap().dump();
        id.into_iter()
            .find(|c| c.state == CoroutineState::Running)
            .map(|c| c.waiting_on)
    });
    assert_eq!(me, Some(None));
}

/// Task structs go back to a free list and are reused by later spawns,
/// staying listed in the registry from their allocation: the dump must
/// skip the free ones and show a reused one as its new spawn (id, place,
/// state), never the coroutine that had the struct before.
#[test]
fn dump_shows_a_reused_task_struct_as_its_new_spawn() {
    if child_mode().is_some() {
        return;
    }
    let rt = Runtime::builder().workers(1).build().unwrap();
    let reuses_before = bamboo::test_hooks::task_reuses();
    let (line, id, dump) = rt.block_on(|| {
        // Spawned on the worker: their structs go to its free list.
        for i in 0..64u32 {
            assert_eq!(bamboo::spawn(move || i).join().unwrap(), i);
        }
        let (tx, rx) = channel::<u32>(0);
        let line = line!() + 1;
        let waiter = bamboo::spawn(move || rx.recv());
        let id = waiter.id();
        while !bamboo::Handle::current()
            .unwrap()
            .dump()
            .iter()
            .any(|c| c.id == id && c.waiting_on.is_some())
        {
            bamboo::yield_now();
        }
        let dump = bamboo::Handle::current().unwrap().dump();
        tx.send(7).unwrap();
        assert_eq!(waiter.join().unwrap(), Ok(7));
        (line, id, dump)
    });
    assert!(
        bamboo::test_hooks::task_reuses() > reuses_before,
        "no spawn reused a task struct"
    );
    // This coroutine (running) and the waiter: the 64 finished ones, whose
    // structs sat on the free list (one of them now the waiter's), are not
    // listed.
    assert_eq!(dump.len(), 2, "{dump:#?}");
    let w = dump
        .iter()
        .find(|c| c.id == id)
        .expect("the waiter is listed");
    assert_eq!(w.state, CoroutineState::Waiting, "{w:?}");
    assert_eq!(w.waiting_on.as_deref(), Some("channel receive"), "{w:?}");
    assert_eq!(w.spawned_at.line(), line, "{w:?}");
    assert!(dump.iter().any(|c| c.state == CoroutineState::Running));
}
