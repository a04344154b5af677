//! Re-run the calling test binary as a child process with a deadline, for
//! tests whose failure mode is a hang or an abort (a hang must fail the
//! test, not CI).
//!
//! The parent calls [`run`] with the test's own name; the child sees
//! [`CHILD_ENV`] set to the mode and runs the scenario instead.

#![allow(dead_code)]

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Set in the child to the scenario it must run.
pub const CHILD_ENV: &str = "BAMBOO_TEST_CHILD";

/// How a child ended and what it printed.
pub struct Child {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// The scenario this process must run, when it is a child.
pub fn mode() -> Option<String> {
    std::env::var(CHILD_ENV).ok()
}

/// Re-run this binary with only `test` selected, `CHILD_ENV=mode` and
/// `envs`; kill it and panic if it runs longer than `timeout`.
pub fn run(test: &str, mode: &str, envs: &[(&str, &str)], timeout: Duration) -> Child {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawning the child test process");
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("waiting for the child") {
            break st;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child `{test}` ({CHILD_ENV}={mode}) still running after {timeout:?} (a hang); killed it");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    eprintln!(
        "--- child {test} ({mode}): {status:?}\n--- stdout:\n{stdout}--- stderr:\n{stderr}---"
    );
    Child {
        status,
        stdout,
        stderr,
    }
}

/// Run `test` in `mode` in a child and require a clean exit (status 0,
/// the child's test passed).
pub fn run_ok(test: &str, mode: &str, timeout: Duration) -> Child {
    let c = run(test, mode, &[], timeout);
    assert!(
        c.status.success(),
        "child `{test}` ({mode}) failed: {:?}\nstderr:\n{}",
        c.status,
        c.stderr
    );
    c
}
