//! The overflow report a user can act on: a coroutine that runs past its
//! stack between check points aborts with a report naming it (id and
//! name), how much stack it had, and the fixes; with `RUST_BACKTRACE=1` the
//! overflowing coroutine's backtrace follows. Runs the overflow in a child.

mod child;

use std::hint::black_box;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bamboo::coroutine::Builder;
use bamboo::Runtime;

const TIMEOUT: Duration = Duration::from_secs(60);
const TEST: &str = "overflow_report_names_the_coroutine_and_the_fix";

/// Recurse with a 1 KiB frame and no check point until the guard is hit.
#[inline(never)]
fn overflow_without_check_points(n: u64) -> u64 {
    let mut frame = [0u8; 1024];
    frame[(n % 1024) as usize] = n as u8;
    black_box(&mut frame);
    if black_box(n) == u64::MAX {
        return 0;
    }
    overflow_without_check_points(n + 1) + u64::from(frame[(n % 7) as usize])
}

fn child_overflow() -> ! {
    // SAFETY: setrlimit reads a valid rlimit: no core dump for this crash.
    unsafe {
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &zero);
    }
    let rt = Runtime::builder().workers(1).build().unwrap();
    let h = rt.handle();
    static GO: AtomicBool = AtomicBool::new(false);
    let j = Builder::new()
        .name("deep-parser")
        .stack_size(64 << 10)
        .spawn_on(&h, || {
            while !GO.load(Ordering::Acquire) {
                bamboo::yield_now();
            }
            overflow_without_check_points(0)
        });
    eprintln!("child: overflowing coroutine {}", j.id());
    GO.store(true, Ordering::Release);
    let r = j.join();
    panic!("the overflowing coroutine returned: {r:?}");
}

fn check(c: &child::Child, backtrace: bool) {
    assert_eq!(
        c.status.signal(),
        Some(libc::SIGABRT),
        "{:?}\n{}",
        c.status,
        c.stderr
    );
    let id: u64 = c
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("child: overflowing coroutine "))
        .expect("the child printed the id")
        .trim()
        .parse()
        .unwrap();
    let first = format!("bamboo: coroutine {id} overflowed its stack: fault at 0x");
    assert!(
        c.stderr.contains(&first),
        "{first:?} missing:\n{}",
        c.stderr
    );
    // 64 KiB usable + 32 KiB red zone, no check point ran.
    let advice = format!(
        "bamboo: coroutine {id} \"deep-parser\" had {} bytes of stack",
        96 << 10
    );
    assert!(
        c.stderr.contains(&advice),
        "{advice:?} missing:\n{}",
        c.stderr
    );
    for fix in [
        "bamboo::grow_with(",
        "coroutine::Builder::new().stack_size(",
        "BAMBOO_SEGMENT",
    ] {
        assert!(
            c.stderr.contains(fix),
            "the fix {fix:?} is not named:\n{}",
            c.stderr
        );
    }
    let bt = format!("bamboo: backtrace of coroutine {id}");
    if backtrace {
        let at = c
            .stderr
            .find(&bt)
            .unwrap_or_else(|| panic!("no backtrace:\n{}", c.stderr));
        assert!(
            c.stderr[at..].contains("overflow_without_check_points"),
            "the backtrace does not show the overflowing function:\n{}",
            c.stderr
        );
    } else {
        assert!(
            !c.stderr.contains(&bt),
            "a backtrace without RUST_BACKTRACE:\n{}",
            c.stderr
        );
    }
}

#[test]
fn overflow_report_names_the_coroutine_and_the_fix() {
    if child::mode().is_some() {
        child_overflow();
    }
    let c = child::run(TEST, "overflow", &[("RUST_BACKTRACE", "1")], TIMEOUT);
    check(&c, true);
    let c = child::run(TEST, "overflow", &[("RUST_BACKTRACE", "0")], TIMEOUT);
    check(&c, false);
}

/// An overflow on the default (2 MiB) first segment is thousands of frames
/// deep: with `RUST_BACKTRACE=1` the report prints the innermost frames
/// only and still ends in the abort, not in the backtrace's 10 s alarm.
/// (Found that way: with every frame symbolised, as
/// `std::backtrace::Backtrace` does, `fatal.rs::guards_survive_scavenging`
/// under `RUST_BACKTRACE=1` on a loaded machine died of `SIGALRM` (14)
/// instead of `SIGABRT`; this test's cut check fails on that code too.)
#[test]
fn deep_overflow_backtrace_is_cut_and_still_aborts() {
    const DEEP: &str = "deep_overflow_backtrace_is_cut_and_still_aborts";
    if child::mode().as_deref() == Some("deep") {
        // SAFETY: setrlimit reads a valid rlimit: no core dump for this crash.
        unsafe {
            let zero = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &zero);
        }
        let rt = Runtime::builder().workers(1).build().unwrap();
        let j = rt.spawn(|| overflow_without_check_points(0));
        eprintln!("child: overflowing coroutine {}", j.id());
        let r = j.join();
        panic!("the overflowing coroutine returned: {r:?}");
    }
    if child::mode().is_some() {
        return;
    }
    let c = child::run(DEEP, "deep", &[("RUST_BACKTRACE", "1")], TIMEOUT);
    assert_eq!(
        c.status.signal(),
        Some(libc::SIGABRT),
        "{:?}\n{}",
        c.status,
        c.stderr
    );
    let bt = c
        .stderr
        .find("bamboo: backtrace of coroutine ")
        .unwrap_or_else(|| panic!("no backtrace:\n{}", c.stderr));
    let bt = &c.stderr[bt..];
    assert!(
        bt.contains("overflow_without_check_points"),
        "the backtrace does not show the overflowing function:\n{bt}"
    );
    assert!(
        bt.contains("... (outer frames not shown)"),
        "the backtrace is not cut:\n{bt}"
    );
    let frames = bt
        .lines()
        .filter(|l| l.contains("overflow_without_check_points"))
        .count();
    assert!((1..=64).contains(&frames), "{frames} frames shown:\n{bt}");
}
