//! The SIGSEGV/SIGBUS handler (docs/stacks.md, "Segment layout"): a frame that runs into a segment's
//! guard region is reported on one line and aborts; any other fault goes to
//! the previous handler (std's, which lets the process die of SIGSEGV).
//!
//! Crash tests re-run this test binary as a child (`tests/child`) with
//! `BAMBOO_TEST_CHILD` naming the crash to perform, and check the child's signal and stderr.

use std::hint::black_box;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bamboo::test_hooks::{class_of, stack_bytes, GUARD};
use bamboo::{grow, Runtime};

const SEGMENT: usize = 16 << 10;

mod child;
use child::Child;

const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

/// Re-run this binary with only `test` selected in crash `mode`
/// (`tests/child`); kills the child and fails after `CHILD_TIMEOUT`.
fn run_child(test: &str, mode: &str) -> Child {
    child::run(test, mode, &[], CHILD_TIMEOUT)
}

/// In the child: no core dump for the crash we are about to cause.
fn no_core_dumps() {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads a valid rlimit; prctl(PR_SET_DUMPABLE, 0) only
    // changes this process's dumpable flag.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &zero);
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

fn child_mode() -> Option<String> {
    child::mode()
}

/// Recurse with a 1 KiB frame and no check point until the guard is hit.
#[inline(never)]
fn overflow(n: u64) -> u64 {
    let mut frame = [0u8; 1024];
    frame[(n % 1024) as usize] = n as u8;
    black_box(&mut frame);
    if black_box(n) == u64::MAX {
        return 0;
    }
    overflow(n + 1) + u64::from(frame[(n % 7) as usize])
}

/// The child side of the guard-hit tests: overflow a coroutine's first
/// segment. Prints the coroutine's id first so the parent can match it.
fn overflow_in_coroutine(stress: bool) -> ! {
    no_core_dumps();
    static GO: AtomicBool = AtomicBool::new(false);
    let rt = Runtime::builder()
        .workers(1)
        .segment_size(SEGMENT)
        .force_stack_move(stress)
        .build()
        .unwrap();
    let h = rt.spawn(|| {
        while !GO.load(Ordering::Acquire) {
            bamboo::yield_now();
        }
        overflow(0)
    });
    eprintln!("child: overflowing coroutine {}", h.id());
    GO.store(true, Ordering::Release);
    let r = h.join();
    panic!("the overflowing coroutine returned: {r:?}");
}

/// Parse `bamboo: coroutine <id> overflowed its stack: fault at 0x<a> in the
/// guard below segment 0x<lo>..0x<hi>` out of `stderr`.
fn parse_report(stderr: &str) -> (u64, usize, usize, usize) {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("overflowed its stack"))
        .collect();
    assert_eq!(lines.len(), 1, "exactly one report line:\n{stderr}");
    let line = lines[0];
    let rest = line
        .strip_prefix("bamboo: coroutine ")
        .unwrap_or_else(|| panic!("report starts with `bamboo: coroutine `: {line:?}"));
    let (id, rest) = rest.split_once(' ').expect("id then a space");
    let rest = rest
        .strip_prefix("overflowed its stack: fault at 0x")
        .unwrap_or_else(|| panic!("report wording: {line:?}"));
    let (addr, rest) = rest.split_once(' ').expect("address then a space");
    let range = rest
        .strip_prefix("in the guard below segment 0x")
        .unwrap_or_else(|| panic!("report wording: {line:?}"));
    let (lo, hi) = range.split_once("..0x").expect("segment range lo..hi");
    let hex = |s: &str| usize::from_str_radix(s, 16).unwrap_or_else(|e| panic!("{s:?}: {e}"));
    (id.parse().expect("decimal id"), hex(addr), hex(lo), hex(hi))
}

fn check_guard_hit_report(c: &Child) {
    assert_eq!(
        c.status.signal(),
        Some(libc::SIGABRT),
        "killed by SIGABRT: {:?}\n{}",
        c.status,
        c.stderr
    );
    for needle in ["overflowed its stack", "coroutine ", "segment 0x"] {
        assert!(
            c.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            c.stderr
        );
    }
    let (id, addr, lo, hi) = parse_report(&c.stderr);
    let expected_id: u64 = c
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("child: overflowing coroutine "))
        .expect("the child printed the coroutine id")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        id, expected_id,
        "the report names the overflowing coroutine"
    );
    assert!(
        addr < lo && addr >= lo - GUARD,
        "fault {addr:#x} lies in the guard below {lo:#x}"
    );
    assert_eq!(
        hi - lo,
        stack_bytes(class_of(SEGMENT).unwrap()),
        "the overflowed segment is the first one (no check point ran)"
    );
}

#[test]
fn guard_hit_is_reported_and_aborts() {
    if child_mode().as_deref() == Some("overflow") {
        overflow_in_coroutine(false);
    }
    let c = run_child("guard_hit_is_reported_and_aborts", "overflow");
    check_guard_hit_report(&c);
}

/// The pre-6.13 kernels' path: guards installed with `mprotect(PROT_NONE)`
/// instead of `MADV_GUARD_INSTALL`. A hit must be reported the same way.
#[test]
fn guard_hit_under_mprotect_guards_is_reported_too() {
    if child_mode().as_deref() == Some("overflow-mprotect") {
        bamboo::test_hooks::force_mprotect_guards();
        eprintln!("child: guard mode {:?}", bamboo::test_hooks::guard_mode());
        overflow_in_coroutine(false);
    }
    let c = run_child(
        "guard_hit_under_mprotect_guards_is_reported_too",
        "overflow-mprotect",
    );
    assert!(
        c.stderr.contains("child: guard mode Mprotect"),
        "the child ran with mprotect guards:\n{}",
        c.stderr
    );
    check_guard_hit_report(&c);
}

#[test]
fn guard_hit_in_stress_mode_reports_too() {
    if child_mode().as_deref() == Some("overflow-stress") {
        overflow_in_coroutine(true);
    }
    let c = run_child("guard_hit_in_stress_mode_reports_too", "overflow-stress");
    check_guard_hit_report(&c);
}

/// An address that faults on any access and is no guard region: a page
/// mapped `PROT_NONE` and kept (an unmapped page could be reused at once by
/// another thread's `mmap`, e.g. a worker mapping its system stack).
fn inaccessible_address() -> *mut u8 {
    // SAFETY: a fresh anonymous mapping that nothing else refers to; it is
    // never unmapped, so the address stays inaccessible.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    p.cast()
}

fn check_plain_segfault(c: &Child) {
    assert_eq!(
        c.status.signal(),
        Some(libc::SIGSEGV),
        "killed by SIGSEGV: {:?}\n{}",
        c.status,
        c.stderr
    );
    assert!(
        !c.stderr.contains("overflowed its stack"),
        "a fault outside any guard is not reported as an overflow:\n{}",
        c.stderr
    );
    assert!(
        c.stderr.contains("child: faulting"),
        "the child got to the fault:\n{}",
        c.stderr
    );
}

#[test]
fn foreign_segfault_goes_to_previous_handler() {
    if child_mode().as_deref() == Some("foreign") {
        no_core_dumps();
        let rt = Runtime::builder().workers(1).build().unwrap();
        let p = inaccessible_address();
        eprintln!("child: faulting at {p:p}");
        // SAFETY: not safe at all: the point is to fault on an inaccessible page.
        unsafe { std::ptr::write_volatile(p, 1) };
        drop(rt);
        panic!("the write to an inaccessible page did not fault");
    }
    let c = run_child("foreign_segfault_goes_to_previous_handler", "foreign");
    check_plain_segfault(&c);
}

/// Same, from a coroutine: the worker runs on our alternate stack, and the
/// fault still reaches the previous handler.
#[test]
fn foreign_segfault_in_coroutine_goes_to_previous_handler() {
    if child_mode().as_deref() == Some("foreign-coroutine") {
        no_core_dumps();
        fault_in_a_coroutine();
    }
    let c = run_child(
        "foreign_segfault_in_coroutine_goes_to_previous_handler",
        "foreign-coroutine",
    );
    check_plain_segfault(&c);
}

/// Write to an inaccessible page from inside a coroutine (child side).
fn fault_in_a_coroutine() -> ! {
    let rt = Runtime::builder().workers(1).build().unwrap();
    rt.block_on(|| {
        let p = inaccessible_address();
        eprintln!("child: faulting at {p:p} in a coroutine");
        // SAFETY: not safe at all: the point is to fault on an inaccessible page.
        unsafe { std::ptr::write_volatile(p, 1) };
    });
    panic!("the write to an inaccessible page did not fault");
}

/// Set `sig`'s action before any runtime exists, so it becomes the action
/// bamboo's handler chains to.
fn set_action(sig: libc::c_int, handler: libc::sighandler_t, flags: libc::c_int) {
    // SAFETY: all-zero is a valid sigaction (SIG_DFL, empty mask); the
    // handlers passed here are async-signal-safe.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = handler;
        act.sa_flags = flags;
        libc::sigemptyset(&mut act.sa_mask);
        assert_eq!(libc::sigaction(sig, &act, std::ptr::null_mut()), 0);
    }
}

extern "C" fn custom_siginfo_handler(
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    _ctx: *mut libc::c_void,
) {
    let msg: &[u8] = if sig == libc::SIGSEGV && !info.is_null() {
        b"custom handler: SIGSEGV with siginfo\n"
    } else {
        b"custom handler: unexpected call\n"
    };
    // SAFETY: write(2) and _exit(2) are async-signal-safe; `msg` is static.
    unsafe {
        libc::write(libc::STDERR_FILENO, msg.as_ptr().cast(), msg.len());
        libc::_exit(42);
    }
}

/// A custom `SA_SIGINFO` handler installed before the runtime gets the
/// foreign fault (with its siginfo); a guard hit still never reaches it.
#[test]
fn foreign_segfault_reaches_a_custom_previous_handler() {
    match child_mode().as_deref() {
        Some("custom-foreign") => {
            no_core_dumps();
            let h = custom_siginfo_handler as *const () as libc::sighandler_t;
            set_action(libc::SIGSEGV, h, libc::SA_SIGINFO);
            let rt = Runtime::builder().workers(1).build().unwrap();
            rt.block_on(|| {
                let p = inaccessible_address();
                eprintln!("child: faulting at {p:p} in a coroutine");
                // SAFETY: not safe at all: the point is to fault.
                unsafe { std::ptr::write_volatile(p, 1) };
            });
            panic!("the write to an inaccessible page did not fault");
        }
        Some("custom-overflow") => {
            let h = custom_siginfo_handler as *const () as libc::sighandler_t;
            set_action(libc::SIGSEGV, h, libc::SA_SIGINFO);
            overflow_in_coroutine(false);
        }
        _ => {}
    }
    let test = "foreign_segfault_reaches_a_custom_previous_handler";
    let c = run_child(test, "custom-foreign");
    assert_eq!(
        c.status.code(),
        Some(42),
        "the custom handler ran: {:?}",
        c.status
    );
    assert!(
        c.stderr.contains("custom handler: SIGSEGV with siginfo"),
        "{}",
        c.stderr
    );
    assert!(!c.stderr.contains("overflowed its stack"), "{}", c.stderr);

    let c = run_child(test, "custom-overflow");
    check_guard_hit_report(&c);
    assert!(!c.stderr.contains("custom handler"), "{}", c.stderr);
}

/// With `SIG_DFL` as the previous action, a foreign fault kills the process
/// with SIGSEGV (the default action is restored and the write re-executes).
#[test]
fn foreign_segfault_with_default_previous_action_dies_of_sigsegv() {
    if child_mode().as_deref() == Some("default-foreign") {
        no_core_dumps();
        set_action(libc::SIGSEGV, libc::SIG_DFL, 0);
        fault_in_a_coroutine();
    }
    let c = run_child(
        "foreign_segfault_with_default_previous_action_dies_of_sigsegv",
        "default-foreign",
    );
    check_plain_segfault(&c);
}

/// One 1 KiB frame per level, each behind a check point.
fn deep(n: u64) -> u64 {
    let mut frame = [0u8; 1024];
    frame[(n % 1024) as usize] = 1;
    black_box(&mut frame);
    if n == 0 {
        return 0;
    }
    grow(|| deep(n - 1)) + u64::from(frame[(n % 1024) as usize])
}

#[test]
fn grow_protected_deep_recursion_does_not_crash() {
    let rt = Runtime::builder()
        .workers(1)
        .segment_size(SEGMENT)
        .build()
        .unwrap();
    assert_eq!(rt.block_on(|| deep(200_000)), 200_000);
}
