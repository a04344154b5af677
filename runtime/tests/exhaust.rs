//! Running out: address space (`RLIMIT_AS`), mappings (`vm.max_map_count`
//! under the `mprotect` guard path), and the stack limit (docs/reliability.md,
//! "Exhaustion"). Each case runs in a child process (this binary re-run with
//! the child mode naming it, `tests/child`) and must end in the documented message
//! or error, with a runtime that still runs what it has: the coroutines that
//! started finish, and new ones start once segments are back.
//!
//! The child prints `exhaust-result: <figures>` when every check in it held;
//! the parent requires that line, a zero exit status, and the messages.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use bamboo::sync::{channel, Sender};
use bamboo::{JoinHandle, Runtime};

mod child;
use child::Child;

const CHILD_TIMEOUT: Duration = Duration::from_secs(180);

/// Re-run this binary with only `test` selected and the child mode set to
/// `test`, with the debug knobs off; kill it and fail after `CHILD_TIMEOUT`.
fn run_child(test: &str) -> Child {
    child::run(test, test, &[("BAMBOO_DEBUG", "")], CHILD_TIMEOUT)
}

fn is_child(test: &str) -> bool {
    child::mode().is_some_and(|m| m == test)
}

/// The child's success line, after checking the exit status.
fn result_line(c: &Child) -> &str {
    assert!(c.status.success(), "child failed: {:?}", c.status);
    c.stdout
        .lines()
        .find_map(|l| Some(&l[l.find("exhaust-result: ")? + "exhaust-result: ".len()..]))
        .unwrap_or_else(|| panic!("no result line in the child's stdout"))
}

fn proc_status(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .expect("/proc/self/maps")
        .lines()
        .count()
}

fn depth(n: u32) -> u32 {
    if n == 0 {
        0
    } else {
        bamboo::grow(|| std::hint::black_box(depth(n - 1))) + 1
    }
}

/// What [`spawn_until_refused`] saw.
struct Exhausted {
    /// Coroutines that started and are parked.
    parked: Vec<JoinHandle<u32>>,
    /// The refused spawn's panic message.
    message: String,
    mappings: usize,
}

/// On one worker, spawn coroutines that park until `release` closes, one at
/// a time, until one cannot start (or `limit` started: then panic). A
/// spawned coroutine starts at the spawner's next yield (unstarted ones go
/// first after a yield), so a spawn that did not bump `started` failed.
fn spawn_until_refused(limit: usize) -> (Exhausted, Sender<()>) {
    let (release, wait) = channel::<()>(0);
    let started = Arc::new(AtomicUsize::new(0));
    let mut parked = Vec::new();
    loop {
        assert!(
            parked.len() < limit,
            "{limit} coroutines started: nothing ran out"
        );
        let before = started.load(SeqCst);
        let (s, w) = (started.clone(), wait.clone());
        let h = bamboo::spawn(move || {
            s.fetch_add(1, SeqCst);
            // Parked until the sender is dropped.
            assert!(w.recv().is_err());
            depth(8)
        });
        bamboo::yield_now();
        if started.load(SeqCst) > before {
            parked.push(h);
            continue;
        }
        let e = h
            .join()
            .expect_err("a coroutine that did not start joined Ok");
        assert!(e.is_panic() && !e.is_cancelled(), "{e:?}");
        let message = e.panic_message().expect("a message").to_string();
        let mappings = mappings();
        return (
            Exhausted {
                parked,
                message,
                mappings,
            },
            release,
        );
    }
}

/// Release the parked coroutines, check each finished, then check the
/// runtime starts `n` new ones (on the segments given back).
fn release_and_run_more(ex: Exhausted, release: Sender<()>, n: u32) -> usize {
    drop(release);
    let parked = ex.parked.len();
    for h in ex.parked {
        assert_eq!(h.join().expect("a parked coroutine finished"), 8);
    }
    let more: Vec<_> = (0..n)
        .map(|i| bamboo::spawn(move || depth(i % 64)))
        .collect();
    for (i, h) in more.into_iter().enumerate() {
        assert_eq!(h.join().expect("a new coroutine ran"), i as u32 % 64);
    }
    parked
}

#[test]
fn rlimit_as_refuses_a_spawn_with_a_message_and_the_runtime_goes_on() {
    const TEST: &str = "rlimit_as_refuses_a_spawn_with_a_message_and_the_runtime_goes_on";
    if is_child(TEST) {
        // Default segment size (2 MiB first segments, address space only
        // until touched); one worker keeps the order deterministic.
        let rt = Runtime::builder().workers(1).build().unwrap();
        rt.block_on(|| depth(1)); // the worker and its heap arena are up
        let room = 256u64 << 20;
        let vm = proc_status("VmSize:") << 10;
        let lim = libc::rlimit {
            rlim_cur: vm + room,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: setrlimit reads a valid rlimit struct.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);
        let (parked, message, grow_msg) = rt.block_on(|| {
            let (ex, release) = spawn_until_refused(100_000);
            let message = ex.message.clone();
            // Growing needs a segment too: the grower panics, and only it.
            let p = std::panic::catch_unwind(|| depth(1_000_000))
                .expect_err("a million frames fit without a new segment");
            let grow_msg = p.downcast_ref::<String>().expect("a String panic").clone();
            let parked = release_and_run_more(ex, release, 200);
            (parked, message, grow_msg)
        });
        println!(
            "exhaust-result: RLIMIT_AS = VmSize + {} MiB: {parked} coroutines parked, \
             the next one refused; then 200 more ran. Refusal: {message} | Grow: {grow_msg}",
            room >> 20
        );
        return;
    }
    let c = run_child(TEST);
    let r = result_line(&c);
    assert!(
        r.contains(
            "could not start, out of stack memory: allocating a stack segment failed: chunk"
        ) && r.contains("mapping a stack chunk failed")
            && r.contains("Cannot allocate memory")
            && r.contains(
                "cannot grow its stack, out of stack memory: allocating a stack segment failed"
            ),
        "{r}"
    );
    let parked: usize = r
        .split(": ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .expect("parked count");
    // 256 MiB of room holds about 120 first segments of 2 MiB + guard.
    assert!(parked >= 50, "{r}");
    assert!(!c.stderr.contains("bamboo: fatal"), "{}", c.stderr);
}

#[test]
fn mapping_count_runs_out_under_mprotect_guards_with_a_message() {
    const TEST: &str = "mapping_count_runs_out_under_mprotect_guards_with_a_message";
    if is_child(TEST) {
        let max_maps: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(65530);
        if max_maps > 1 << 18 {
            println!(
                "exhaust-result: skipped: vm.max_map_count is {max_maps} \
                 (the test needs about max_map_count / 2 coroutines)"
            );
            return;
        }
        // Kernels before 6.13: one mprotect'ed guard per slot, each a VMA
        // split. 16 KiB segments keep each coroutine's address space small.
        bamboo::test_hooks::force_mprotect_guards();
        let rt = Runtime::builder()
            .workers(1)
            .segment_size(16 << 10)
            .build()
            .unwrap();
        let (parked, message, maps) = rt.block_on(move || {
            let (ex, release) = spawn_until_refused(max_maps);
            let (message, maps) = (ex.message.clone(), ex.mappings);
            let parked = release_and_run_more(ex, release, 200);
            (parked, message, maps)
        });
        println!(
            "exhaust-result: vm.max_map_count {max_maps}: {parked} coroutines parked \
             ({maps} mappings), the next one refused; then 200 more ran. Refusal: {message}"
        );
        return;
    }
    let c = run_child(TEST);
    let r = result_line(&c);
    if r.starts_with("skipped") {
        eprintln!("{r}");
        return;
    }
    assert!(
        r.contains("could not start, out of stack memory: allocating a stack segment failed")
            && r.contains("mprotect(PROT_NONE)")
            && r.contains("Cannot allocate memory"),
        "{r}"
    );
    assert!(!c.stderr.contains("bamboo: fatal"), "{}", c.stderr);
}

#[test]
fn max_stack_of_one_segment_panics_the_grower_only() {
    const TEST: &str = "max_stack_of_one_segment_panics_the_grower_only";
    if is_child(TEST) {
        let seg = 16 << 10;
        // The smallest max_stack build() accepts for this first segment:
        // its whole bytes (16 + 32 KiB) plus one grow (32 + 32 KiB).
        let rt = Runtime::builder()
            .workers(2)
            .segment_size(seg)
            .max_stack(112 << 10)
            .build()
            .unwrap();
        let (msg, ok) = rt.block_on(|| {
            let shallow: Vec<_> = (0..100u32)
                .map(|i| {
                    bamboo::spawn(move || {
                        bamboo::yield_now();
                        i
                    })
                })
                .collect();
            let deep = bamboo::spawn(|| depth(100_000));
            let e = deep
                .join()
                .expect_err("a 100,000-frame recursion fit in 112 KiB");
            let msg = e.panic_message().expect("a message").to_string();
            let ok: u32 = shallow.into_iter().map(|h| h.join().unwrap()).sum();
            // And the runtime still starts and runs coroutines.
            assert_eq!(bamboo::spawn(|| depth(10)).join().unwrap(), 10);
            (msg, ok)
        });
        assert_eq!(ok, (0..100).sum());
        println!("exhaust-result: {msg}");
        return;
    }
    let c = run_child(TEST);
    let r = result_line(&c);
    assert!(
        r.contains("stack exceeds max_stack of 114688 bytes (growing to"),
        "{r}"
    );
}

#[test]
fn first_segment_larger_than_max_stack_is_rejected_by_build() {
    const TEST: &str = "first_segment_larger_than_max_stack_is_rejected_by_build";
    if is_child(TEST) {
        let err = Runtime::builder()
            .segment_size(1 << 20)
            .max_stack(64 << 10)
            .build()
            .map(|_| ())
            .expect_err("a 1 MiB first segment under a 64 KiB max_stack");
        assert!(
            matches!(err, bamboo::Error::InvalidConfig { setting, .. } if setting == "Builder::max_stack"),
            "{err:?}"
        );
        // The process goes on: a valid runtime still builds and runs.
        let rt = Runtime::builder().workers(1).build().unwrap();
        assert_eq!(rt.block_on(|| depth(100)), 100);
        println!("exhaust-result: {err}");
        return;
    }
    let c = run_child(TEST);
    let r = result_line(&c);
    assert_eq!(
        r,
        "invalid Builder::max_stack(65536): stack limit must be at least the first segment size (1048576 bytes)"
    );
}
