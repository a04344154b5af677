//! Runtime paths at the edge of a segment, and fatal misuse, in child
//! processes (re-running this test binary with an env var set).

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use bamboo::{grow, remaining_stack, Runtime};

const CHILD: &str = "BAMBOO_FATAL_CHILD";

fn child(test: &str, envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut c = cmd
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

/// Recurse (without check points, so the stress mode cannot move us) until
/// only about the red zone is left in the current segment — what a check
/// point that does not switch guarantees — then run `f` there. The tests
/// that use it build their runtime with [`EDGE_SEGMENT`], so that the edge
/// is a few dozen frames away (a backtrace through the ~3,500 frames of a
/// default 2 MiB segment takes minutes to symbolize).
const EDGE_SEGMENT: usize = 16 << 10;

fn at_the_edge<R>(f: impl FnOnce() -> R) -> R {
    #[inline(never)]
    fn go<R>(f: impl FnOnce() -> R) -> R {
        let left = remaining_stack().unwrap();
        if left >= bamboo::RED_ZONE + 1024 {
            let pad = std::hint::black_box([0u8; 512]);
            let r = go(f);
            std::hint::black_box(pad);
            return r;
        }
        f()
    }
    // Start from a fresh check point, as user code would.
    grow(|| go(f))
}

#[test]
fn panic_with_backtrace_at_the_edge_of_a_segment() {
    if is_child() {
        let rt = Runtime::builder()
            .workers(1)
            .segment_size(EDGE_SEGMENT)
            .build()
            .unwrap();
        let e = rt
            .spawn(|| at_the_edge(|| -> u32 { panic!("edge panic {}", std::hint::black_box(1)) }))
            .join()
            .unwrap_err();
        assert_eq!(e.panic_message(), Some("edge panic 1"));
        println!("CHILD-OK");
        return;
    }
    for bt in ["1", "full"] {
        let out = child(
            "panic_with_backtrace_at_the_edge_of_a_segment",
            &[("RUST_BACKTRACE", bt)],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "RUST_BACKTRACE={bt}: {:?}\n{stderr}",
            out.status
        );
        assert!(stdout.contains("CHILD-OK"), "{stdout}");
        assert!(stderr.contains("edge panic 1"), "the hook ran: {stderr}");
        assert!(
            stderr.contains("stack backtrace"),
            "a backtrace was printed: {stderr}"
        );
    }
}

#[test]
fn yielding_on_the_system_stack_is_fatal() {
    if is_child() {
        let rt = Runtime::builder().workers(1).build().unwrap();
        rt.block_on(|| bamboo::system_stack(bamboo::yield_now));
        unreachable!();
    }
    let out = child("yielding_on_the_system_stack_is_fatal", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{stderr}");
    assert!(stderr.contains("on the system stack"), "{stderr}");
    assert!(stderr.contains("tried to yield"), "{stderr}");
}

#[test]
fn parking_on_the_system_stack_is_fatal() {
    if is_child() {
        let rt = Runtime::builder().workers(1).build().unwrap();
        rt.block_on(|| {
            let (_tx, rx) = bamboo::sync::channel::<u8>(0);
            bamboo::system_stack(move || rx.recv())
        })
        .ok();
        unreachable!();
    }
    let out = child("parking_on_the_system_stack_is_fatal", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{stderr}");
    assert!(
        stderr.contains("tried to park on the system stack"),
        "{stderr}"
    );
}

#[test]
fn edge_panic_in_process() {
    let rt = Runtime::builder()
        .workers(2)
        .segment_size(EDGE_SEGMENT)
        .build()
        .unwrap();
    for _ in 0..20 {
        let e = rt
            .spawn(|| at_the_edge(|| -> u8 { panic!("edge") }))
            .join()
            .unwrap_err();
        assert!(e.is_panic());
    }
    assert_eq!(rt.handle().counters().coroutines_panicked, 20);
}

#[test]
fn panic_hook_runs_on_the_system_stack() {
    use std::sync::atomic::{AtomicU8, Ordering::SeqCst};
    static WHERE: AtomicU8 = AtomicU8::new(0);
    if is_child() {
        // A user hook installed before the runtime: the runtime wraps it.
        std::panic::set_hook(Box::new(|_| {
            let on_segment = remaining_stack().is_some();
            WHERE.store(if on_segment { 1 } else { 2 }, SeqCst);
        }));
        let rt = Runtime::builder()
            .workers(1)
            .segment_size(EDGE_SEGMENT)
            .build()
            .unwrap();
        let e = rt.spawn(|| at_the_edge(|| -> u8 { panic!("x") })).join();
        assert!(e.is_err());
        println!("WHERE={}", WHERE.load(SeqCst));
        return;
    }
    let out = child("panic_hook_runs_on_the_system_stack", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{:?}", out);
    assert!(
        stdout.contains("WHERE=2"),
        "hook ran on a coroutine segment: {stdout}"
    );
}

#[test]
fn guards_survive_scavenging() {
    if is_child() {
        let rt = Runtime::builder().workers(1).build().unwrap();
        let h = rt.handle();
        // 5,000 live coroutines, then all finish: far past the pool's
        // high-water mark, so their segments are released in coalesced runs.
        let wg = std::sync::Arc::new(bamboo::sync::WaitGroup::new());
        let (tx, rx) = bamboo::sync::channel::<()>(0);
        let joins: Vec<_> = (0..5000)
            .map(|_| {
                let (rx, wg) = (rx.clone(), wg.clone());
                wg.add(1);
                rt.spawn(move || {
                    wg.done();
                    let _ = rx.recv();
                })
            })
            .collect();
        wg.wait();
        drop((tx, rx));
        for j in joins {
            j.join().unwrap();
        }
        // The worker, now idle, gives the surplus back (no coroutine waits
        // for that: it happens before the worker sleeps).
        let t0 = Instant::now();
        while h.counters().scavenged == 0 && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let c = h.counters();
        assert!(c.scavenged > 0, "{c:?}");
        println!("scavenged {}", c.scavenged);
        // Hold 1,000 segments again: the cache and the pool's dirty list
        // (16 MiB, 8 default segments) run dry, so the next segment handed out is
        // one whose pages (and neighbours' guards) were released in a run.
        let wg = std::sync::Arc::new(bamboo::sync::WaitGroup::new());
        let (_tx2, rx2) = bamboo::sync::channel::<()>(0);
        for _ in 0..1000 {
            let (rx, wg) = (rx2.clone(), wg.clone());
            wg.add(1);
            drop(rt.spawn(move || {
                wg.done();
                let _ = rx.recv();
            }));
        }
        wg.wait();
        assert!(h.counters().stack_released > 0);
        // Overflow a recycled (released) segment without check points.
        #[inline(never)]
        #[allow(unconditional_recursion)]
        fn smash(n: u64) -> u64 {
            let pad = std::hint::black_box([n as u8; 1024]);
            smash(n + 1) + u64::from(pad[7])
        }
        rt.block_on(|| smash(0));
        unreachable!();
    }
    let out = child("guards_survive_scavenging", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("scavenged"), "{stdout}\n{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{stderr}");
    assert!(stderr.contains("overflowed its stack"), "{stderr}");
}

/// The string literals that open the `fatal!` calls under `dir` which
/// start with the prefix `fatal!` adds itself (`bamboo: `), as
/// `file: literal`.
fn doubled_prefixes(dir: &std::path::Path) -> Vec<String> {
    let mut bad = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let src = std::fs::read_to_string(&p).unwrap();
            let mut rest = src.as_str();
            while let Some(i) = rest.find("fatal!(") {
                rest = &rest[i + "fatal!(".len()..];
                let Some(q) = rest.find('"') else { break };
                let lit = &rest[q + 1..];
                if lit.starts_with("bamboo: ") || lit.starts_with("fatal:") {
                    let end = lit.find('"').unwrap_or(lit.len()).min(60);
                    bad.push(format!("{}: {}", p.display(), &lit[..end]));
                }
            }
        }
    }
    bad
}

/// `fatal!` prints `bamboo: fatal: ` once: no message in the source adds
/// it again (older builds printed `bamboo: fatal: ... bamboo: ...`), and a
/// real fatal error's line carries exactly one `bamboo:`.
#[test]
fn fatal_messages_carry_the_prefix_once() {
    if is_child() {
        let rt = Runtime::builder().workers(1).build().unwrap();
        rt.block_on(|| bamboo::system_stack(bamboo::yield_now));
        unreachable!();
    }
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = doubled_prefixes(&src);
    assert!(
        bad.is_empty(),
        "fatal! messages that repeat the prefix:\n{bad:#?}"
    );
    // The scan finds a planted one (so it can fail).
    let planted = std::env::temp_dir().join(format!("bamboo-fatal-scan-{}", std::process::id()));
    std::fs::create_dir_all(&planted).unwrap();
    std::fs::write(
        planted.join("x.rs"),
        "fn f() { fatal!(\"bamboo: worker {}: broken\", 1); }",
    )
    .unwrap();
    let found = doubled_prefixes(&planted);
    std::fs::remove_dir_all(&planted).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    // A real one.
    let out = child("fatal_messages_carry_the_prefix_once", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("fatal:"))
        .unwrap_or_else(|| panic!("no fatal line:\n{stderr}"));
    assert!(line.starts_with("bamboo: fatal: coroutine "), "{line}");
    assert_eq!(line.matches("bamboo:").count(), 1, "{line}");
}
