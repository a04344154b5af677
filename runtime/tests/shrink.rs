//! Stack shrinking for parked coroutines: a coroutine that touched 1 MiB of
//! stack once and then parks gives those pages back within a few seconds
//! (`/stack/shrunk:bytes`, `/stack/resident:bytes` and `mincore` over the
//! very pages it touched), and every live byte of its frames survives. A
//! child process with the pass switched off (a test hook: the planted bug)
//! shows that the check fails without it.

use std::hint::black_box;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bamboo::Runtime;

const CHILD: &str = "BAMBOO_SHRINK_PLANTED_CHILD";
const TOUCH: usize = 1 << 20;
const PAGE: usize = 4096;
const CANARY: u64 = 0x5a5a_a5a5_5a5a_a5a5;

/// Resident bytes of `lo..hi` (page-aligned), by mincore.
fn resident(lo: usize, hi: usize) -> usize {
    let pages = (hi - lo) / PAGE;
    let mut v = vec![0u8; pages];
    // SAFETY: mincore reads page tables only; the range lies in a stack
    // chunk of a live runtime, and `v` has one byte per page.
    let r = unsafe { libc::mincore(lo as *mut _, hi - lo, v.as_mut_ptr()) };
    assert_eq!(r, 0, "mincore: {}", std::io::Error::last_os_error());
    v.iter().filter(|&&b| b & 1 != 0).count() * PAGE
}

/// Touch `TOUCH` bytes of stack once (every page written) and publish
/// where they were.
#[inline(never)]
fn touch_deep(at: &AtomicUsize) -> u64 {
    let mut big = [1u8; TOUCH];
    for i in (0..TOUCH).step_by(PAGE) {
        big[i] = (i / PAGE) as u8;
    }
    black_box(&mut big);
    at.store(big.as_ptr() as usize, SeqCst);
    big.iter().step_by(PAGE).map(|&b| b as u64).sum()
}

/// Recurse through `grow` check points (8 KiB a frame) until the stack
/// switched to a new segment, and touch there: when this returns, that
/// segment is the coroutine's spare (or, in the poison mode, freed).
fn touch_on_a_grown_segment(at: &AtomicUsize) -> u64 {
    fn dive(prev_left: usize, at: &AtomicUsize) -> u64 {
        let left = bamboo::remaining_stack().unwrap();
        if left > prev_left && left > TOUCH + (64 << 10) {
            return touch_deep(at);
        }
        let pad = black_box([0u8; 8192]);
        bamboo::grow(|| dive(left, at)) + black_box(&pad)[0] as u64
    }
    dive(usize::MAX, at)
}

/// Run the scenario (`touch` dirties `TOUCH` bytes of stack and publishes
/// where); Ok with the figures, Err when the pages were not given back
/// within `deadline`.
fn check_shrinks(deadline: Duration, touch: fn(&AtomicUsize) -> u64) -> Result<String, String> {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let h = rt.handle();
    let at = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = bamboo::sync::channel::<u64>(1);
    let at2 = at.clone();
    let join = rt.spawn(move || {
        let canary = black_box([CANARY; 64]);
        let sum = touch(&at2);
        let v = rx.recv().unwrap();
        assert!(
            black_box(&canary).iter().all(|&c| c == CANARY),
            "a live frame lost its bytes"
        );
        sum + v
    });
    let t0 = Instant::now();
    while at.load(SeqCst) == 0 || h.counters().parks == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "coroutine never parked"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let p = at.load(SeqCst);
    let (lo, hi) = (p.next_multiple_of(PAGE), (p + TOUCH) & !(PAGE - 1));
    let touched = resident(lo, hi);
    assert!(
        touched >= (hi - lo) * 3 / 4,
        "only {touched} bytes resident after the touch"
    );
    let shrunk0 = h.counters().shrunk;
    // The resident figure is measured at most ~100 ms late: wait until it
    // has seen the touched pages.
    let mut res_before = 0;
    while res_before < TOUCH as u64 {
        res_before = h.counters().stack_resident;
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "resident {res_before} never saw the touch"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let t1 = Instant::now();
    let result = loop {
        let left = resident(lo, hi);
        let c = h.counters();
        let shrunk = c.shrunk - shrunk0;
        let res_drop = res_before.saturating_sub(c.stack_resident);
        if left <= TOUCH / 8 && shrunk >= (TOUCH * 3 / 4) as u64 && res_drop >= (TOUCH / 2) as u64 {
            break Ok(format!(
                "after {:?}: {left} of {touched} touched bytes still resident, /stack/shrunk +{shrunk}, /stack/resident {res_before} -> {}",
                t1.elapsed(),
                c.stack_resident
            ));
        }
        if t1.elapsed() > deadline {
            break Err(format!(
                "not given back within {deadline:?}: {left} of {touched} touched bytes resident, /stack/shrunk +{shrunk}, /stack/resident {res_before} -> {}",
                c.stack_resident
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Wake it: its frames (canary, sum) must have survived.
    tx.send(1).unwrap();
    let sum = join.join().unwrap();
    let want: u64 = (0..TOUCH / PAGE).map(|i| (i as u8) as u64).sum::<u64>() + 1;
    assert_eq!(sum, want);
    result
}

#[test]
fn a_parked_coroutine_gives_back_the_stack_it_touched_once() {
    if std::env::var_os(CHILD).is_some() {
        // The planted bug: no shrink pass. The same check must fail.
        bamboo::test_hooks::set_stack_shrink_enabled(false);
        match check_shrinks(Duration::from_secs(4), touch_deep) {
            Ok(s) => println!("PLANTED_PASSED {s}"),
            Err(e) => println!("PLANTED_FAILED {e}"),
        }
        return;
    }
    let figures = check_shrinks(Duration::from_secs(10), touch_deep).unwrap();
    println!("{figures}");
}

/// The same through a grown segment: its pages go with the spare, the
/// first segment's pages the dive dirtied go below the saved stack pointer.
#[test]
fn a_parked_coroutine_gives_back_its_spare_segment() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    if std::env::var("BAMBOO_DEBUG").is_ok_and(|d| d.contains("stackpoison=1")) {
        // A grown segment is freed (and poisoned) as soon as its grow
        // frame returns: there is no spare to shrink.
        println!("skipped: the poison mode keeps no spare segment");
        return;
    }
    let figures = check_shrinks(Duration::from_secs(10), touch_on_a_grown_segment).unwrap();
    println!("{figures}");
}

#[test]
fn without_the_shrink_pass_the_check_fails() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let mut c = Command::new(std::env::current_exe().unwrap())
        .args([
            "a_parked_coroutine_gives_back_the_stack_it_touched_once",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while c.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(60) {
            c.kill().ok();
            panic!("planted child hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = c.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("PLANTED_FAILED"),
        "the check passed without the pass:\n{stdout}\n{stderr}"
    );
}

/// A coroutine that parks again and again, briefly (a 20 ms sleep in a
/// loop, as a ticker or a polling loop would), is never shrunk: only one
/// that stayed parked across two sweeps of its worker is, so pages it is
/// about to use again are not faulted in on every wake-up.
#[test]
fn brief_parks_are_never_shrunk() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let rt = Runtime::builder().workers(1).build().unwrap();
    let h = rt.handle();
    let at = Arc::new(AtomicUsize::new(0));
    let at2 = at.clone();
    let join = rt.spawn(move || {
        let sum = touch_deep(&at2);
        let t0 = Instant::now();
        let mut naps = 0u64;
        while t0.elapsed() < Duration::from_secs(3) {
            bamboo::sleep(Duration::from_millis(20));
            naps += 1;
        }
        sum + naps
    });
    let naps = join.join().unwrap();
    let c = h.counters();
    assert!(at.load(SeqCst) != 0);
    assert!(naps > 20, "{naps} naps");
    assert_eq!(
        c.shrunk, 0,
        "a coroutine parked for 20 ms at a time was shrunk"
    );
}
