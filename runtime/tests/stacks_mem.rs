//! Stack memory at the edges of the address space, in child processes
//! (re-running this test binary with an env var set) under a tight
//! `RLIMIT_AS`: the pool retries smaller chunks, and `build()` reports
//! `Error::Os` when even one first segment cannot be mapped.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

const CHILD: &str = "BAMBOO_STACKS_MEM_CHILD";

fn child(test: &str) -> Output {
    let mut c = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while c.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(60) {
            c.kill().ok();
            panic!("child {test} hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    c.wait_with_output().unwrap()
}

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// The process's address space now, from /proc/self/status.
fn vm_size() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
        .expect("VmSize in /proc/self/status")
        << 10
}

/// Limit the address space to what is mapped now plus `extra` bytes.
fn limit_address_space(extra: u64) {
    let lim = vm_size() + extra;
    let r = libc::rlimit {
        rlim_cur: lim,
        rlim_max: lim,
    };
    // SAFETY: setrlimit with a valid pointer to an initialised rlimit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &r) }, 0);
}

#[test]
fn build_returns_os_error_when_no_first_segment_fits() {
    if is_child() {
        // Build one runtime first so that everything mapped once per process
        // (the signal stack, the test harness's threads) is already there.
        drop(bamboo::Runtime::builder().workers(1).build().unwrap());
        // Room for a poller and a system stack, not for one 2 MiB segment.
        limit_address_space(1 << 20);
        match bamboo::Runtime::builder().workers(1).build() {
            Err(e @ bamboo::Error::Os { .. }) => println!("BUILD_ERR={e}"),
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("build succeeded without room for a segment"),
        }
        return;
    }
    let out = child("build_returns_os_error_when_no_first_segment_fits");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("BUILD_ERR=mapping a stack chunk failed"),
        "{stdout}\n{stderr}"
    );
}

#[test]
fn a_chunk_that_does_not_fit_is_retried_smaller() {
    if is_child() {
        drop(bamboo::Runtime::builder().workers(1).build().unwrap());
        // Room for a few 2 MiB segments, not for a chunk of 8 of them.
        limit_address_space(10 << 20);
        let rt = bamboo::Runtime::builder()
            .workers(1)
            .build()
            .expect("a smaller chunk fits");
        let h = rt.handle();
        assert_eq!(rt.block_on(|| bamboo::spawn(|| 6 * 7).join().unwrap()), 42);
        let c = h.counters();
        let slot = (c.starting_size + bamboo::RED_ZONE as u64) as f64;
        println!("MAPPED_SLOTS={}", c.stack_mapped as f64 / slot);
        return;
    }
    let out = child("a_chunk_that_does_not_fit_is_retried_smaller");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // The harness may print the test's name on the same line.
    let slots: f64 = stdout
        .split("MAPPED_SLOTS=")
        .nth(1)
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}\n{stderr}"));
    assert!((1.0..8.0).contains(&slots), "{slots} slots mapped");
}
