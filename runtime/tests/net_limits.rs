//! `bamboo::net` at the edges of the process: thousands of connections at
//! once, `EMFILE` in `accept` (in a child process under a tiny
//! `RLIMIT_NOFILE`), the runtime's drop closing the sockets of parked
//! coroutines, and the io-wait metric.
//!
//! Every test runs under a watchdog (`deadline`) that aborts the process
//! with a message instead of letting CI hang.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bamboo::net::{TcpListener, TcpStream};
use bamboo::Runtime;

mod net_util;
use net_util::{deadline, message, rt, serve_echo};

fn raise_nofile() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    let hard = lim.maximum;
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: hard,
            maximum: hard,
        },
    );
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

#[test]
fn four_thousand_connections_open_then_all_echo() {
    let _d = deadline("four_thousand_connections_open_then_all_echo", 240);
    const N: usize = 4000;
    let soft = raise_nofile();
    assert!(
        soft >= 2 * N as u64 + 100,
        "RLIMIT_NOFILE {soft} is too low for {N} connections"
    );
    let rt = Runtime::new().unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = rt.spawn(move || serve_echo(l));
    let opened = Arc::new(AtomicU64::new(0));
    let go = Arc::new(bamboo::sync::WaitGroup::new());
    go.add(1);
    let hs: Vec<_> = (0..N)
        .map(|c| {
            let (opened, go) = (opened.clone(), go.clone());
            rt.spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                opened.fetch_add(1, SeqCst);
                go.wait();
                let m = message(c as u64, 0, 512);
                s.write_all(&m).unwrap();
                let mut back = vec![0; m.len()];
                s.read_exact(&mut back).unwrap();
                assert!(back == m);
            })
        })
        .collect();
    let t = Instant::now();
    while opened.load(SeqCst) < N as u64 {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "only {} open",
            opened.load(SeqCst)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // All 4,000 are open and their servers parked in read, at once.
    let t = Instant::now();
    while rt.handle().counters().io_wait < N as u64 {
        let waiting = rt.handle().counters().io_wait;
        if server.is_finished() {
            panic!("server died: {:?}", server.join());
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "io-wait stays at {waiting} < {N}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    go.done();
    hs.into_iter().for_each(|h| h.join().unwrap());
}

#[test]
fn dropping_the_runtime_closes_sockets_of_parked_coroutines() {
    let _d = deadline(
        "dropping_the_runtime_closes_sockets_of_parked_coroutines",
        60,
    );
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let rt = rt(2);
    let dropped = Arc::new(AtomicU64::new(0));
    struct Flag(Arc<AtomicU64>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    for _ in 0..4 {
        let f = Flag(dropped.clone());
        rt.spawn(move || {
            let _f = f;
            let mut s = TcpStream::connect(addr).unwrap();
            let _ = s.read(&mut [0u8; 1]); // parks for ever
            unreachable!("nobody writes");
        });
    }
    let peers: Vec<_> = (0..4).map(|_| l.accept().unwrap().0).collect();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(rt.handle().counters().io_wait, 4);
    drop(rt);
    assert_eq!(dropped.load(SeqCst), 4, "every parked coroutine unwound");
    for mut p in peers {
        p.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(
            p.read(&mut [0u8; 1]).unwrap(),
            0,
            "socket closed by the unwind"
        );
    }
}

const CHILD_ENV: &str = "BAMBOO_NET_CHILD";

/// Accept under a tiny `RLIMIT_NOFILE`: `accept` reports `EMFILE` as an
/// `io::Error`, an accept loop that backs off survives it without spinning,
/// and serves again once descriptors are free.
#[test]
fn emfile_in_accept_neither_kills_nor_spins_the_loop() {
    if std::env::var(CHILD_ENV).as_deref() == Ok("emfile") {
        return emfile_child();
    }
    let _d = deadline("emfile_in_accept_neither_kills_nor_spins_the_loop", 120);
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "emfile_in_accept_neither_kills_nor_spins_the_loop",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "emfile")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("emfile child ok"), "{stdout}\n{stderr}");
}

/// CPU time (user + system) of this process, from /proc/self/stat, read
/// through a file opened beforehand (no descriptor is needed while the
/// process is out of them).
fn cpu_time(stat: &mut std::fs::File) -> Duration {
    use std::io::Seek;
    let mut s = String::new();
    stat.rewind().unwrap();
    stat.read_to_string(&mut s).unwrap();
    let after = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 1000 / rustix::param::clock_ticks_per_second())
}

fn emfile_child() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let rt = rt(1);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let emfiles = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let (e2, a2) = (emfiles.clone(), accepted.clone());
    // The accept loop: hold every connection; back off on errors.
    rt.spawn(move || {
        let mut held = Vec::new();
        loop {
            match l.accept() {
                Ok((s, _)) => {
                    a2.fetch_add(1, SeqCst);
                    held.push(s);
                }
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e:?}");
                    e2.fetch_add(1, SeqCst);
                    // Free what we hold so the next accept can succeed.
                    held.clear();
                    bamboo::sleep(Duration::from_millis(20));
                }
            }
        }
    });
    // Let the runtime settle, then cap the process at its descriptors + 8.
    std::thread::sleep(Duration::from_millis(50));
    let mut stat = std::fs::File::open("/proc/self/stat").unwrap();
    let _ = rustix::param::clock_ticks_per_second();
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    let hard = getrlimit(Resource::Nofile).maximum;
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(open + 8),
            maximum: hard,
        },
    )
    .unwrap();
    // Clients from plain std sockets made before the cap bites: connect
    // (kernel accepts into the backlog) until connects themselves fail.
    let mut clients = Vec::new();
    for _ in 0..6 {
        if let Ok(c) = std::net::TcpStream::connect(addr) {
            clients.push(c);
        }
    }
    let cpu0 = cpu_time(&mut stat);
    let t = Instant::now();
    while emfiles.load(SeqCst) == 0 && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(emfiles.load(SeqCst) > 0, "accept never hit EMFILE");
    std::thread::sleep(Duration::from_millis(500));
    let spent = cpu_time(&mut stat) - cpu0;
    // Raise the cap again: the loop must still be alive and accept.
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: hard,
            maximum: hard,
        },
    )
    .unwrap();
    let before = accepted.load(SeqCst);
    let _c = std::net::TcpStream::connect(addr).unwrap();
    let t = Instant::now();
    while accepted.load(SeqCst) == before && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        accepted.load(SeqCst) > before,
        "the accept loop died after EMFILE"
    );
    assert!(
        spent < Duration::from_millis(300),
        "the accept loop spun: {spent:?} CPU in 0.5 s"
    );
    println!(
        "emfile child ok: {} EMFILE, {:?} CPU",
        emfiles.load(SeqCst),
        spent
    );
    drop(clients);
}

#[test]
fn io_wait_metric_counts_parked_coroutines() {
    let _d = deadline("io_wait_metric_counts_parked_coroutines", 60);
    let rt = rt(2);
    let l = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let l = l.clone();
            rt.spawn(move || l.accept().map(|_| ()))
        })
        .collect();
    let t = Instant::now();
    while rt.handle().counters().io_wait < 3 {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(5));
    }
    let addr = l.local_addr().unwrap();
    let cs: Vec<_> = (0..3)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    waiters.into_iter().for_each(|w| w.join().unwrap().unwrap());
    assert_eq!(rt.handle().counters().io_wait, 0);
    drop(cs);
}
