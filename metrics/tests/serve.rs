//! `prometheus::serve`: the HTTP endpoint (200/404/405/400, keep-alive,
//! pipelining, HTTP/1.0) and a scrape by a real Prometheus server when one
//! is installed (`scripts/install-tools.sh`); without it that test says it
//! skipped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bamboo::Runtime;

/// A port that was free a moment ago (bind :0, read it, close).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start() -> (Runtime, SocketAddr) {
    let rt = Runtime::builder().workers(2).build().unwrap();
    for _ in 0..20 {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        if bamboo_metrics::prometheus::serve(&rt.handle(), addr).is_ok() {
            return (rt, addr);
        }
    }
    panic!("no free port for serve");
}

/// Read one response (head + Content-Length body) from `s`.
fn response(s: &mut TcpStream, pending: &mut Vec<u8>) -> (String, String) {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            while pending.len() < end + 4 + len {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0, "closed mid-body");
                pending.extend_from_slice(&chunk[..n]);
            }
            let body = String::from_utf8_lossy(&pending[end + 4..end + 4 + len]).into_owned();
            pending.drain(..end + 4 + len);
            return (head, body);
        }
        let n = s.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(pending)
        );
        pending.extend_from_slice(&chunk[..n]);
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

#[test]
fn get_metrics_keep_alive_and_pipelined() {
    let (_rt, addr) = start();
    let mut s = connect(addr);
    let mut pending = Vec::new();
    for _ in 0..3 {
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let (head, body) = response(&mut s, &mut pending);
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert!(
            head.contains("Content-Type: text/plain; version=0.0.4"),
            "{head}"
        );
        assert!(head.contains("Connection: keep-alive"), "{head}");
        assert!(
            body.contains("bamboo_memory_classes_stacks_inuse_bytes "),
            "{body}"
        );
        assert!(body.contains("# TYPE bamboo_sched_blocking_calls_calls_total counter"));
        assert!(body.contains("bamboo_sched_coroutines_io_wait_coroutines "));
    }
    // Two requests in one write, answered in order; a query string is fine.
    s.write_all(b"GET /metrics?x=1 HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\n")
        .unwrap();
    let (h1, _) = response(&mut s, &mut pending);
    let (h2, b2) = response(&mut s, &mut pending);
    assert!(h1.starts_with("HTTP/1.1 200"), "{h1}");
    assert!(h2.starts_with("HTTP/1.1 404"), "{h2}");
    assert_eq!(b2, "not found\n");
    // A request split over several writes.
    for part in [&b"GET /met"[..], b"rics HTTP/1.1\r\nHo", b"st: x\r\n\r\n"] {
        s.write_all(part).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let (h3, _) = response(&mut s, &mut pending);
    assert!(h3.starts_with("HTTP/1.1 200"), "{h3}");
    // HEAD: the head only.
    s.write_all(b"HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        rest.starts_with("HTTP/1.1 200") && rest.ends_with("\r\n\r\n"),
        "{rest}"
    );
}

#[test]
fn errors_404_405_400_and_close() {
    let (_rt, addr) = start();
    let mut pending = Vec::new();
    let mut s = connect(addr);
    s.write_all(b"POST /metrics HTTP/1.1\r\n\r\n").unwrap();
    let (h, _) = response(&mut s, &mut pending);
    assert!(
        h.starts_with("HTTP/1.1 405") && h.contains("Allow: GET, HEAD"),
        "{h}"
    );
    // Garbage: 400 and the connection closes.
    let mut s = connect(addr);
    s.write_all(b"\x00\x01 not http at all\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    assert!(String::from_utf8_lossy(&all).starts_with("HTTP/1.1 400"));
    // A head that never ends: 400 once past the limit.
    let mut s = connect(addr);
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nX: ");
    let _ = s.write_all(&vec![b'a'; 40 << 10]);
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    assert!(String::from_utf8_lossy(&all).starts_with("HTTP/1.1 400"));
    // HTTP/1.0 closes after the answer.
    let mut s = connect(addr);
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let all = String::from_utf8_lossy(&all);
    assert!(all.starts_with("HTTP/1.1 200") && all.contains("Connection: close"));
}

/// Kills the Prometheus child on drop.
struct Prom(Child);

impl Drop for Prom {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut all = Vec::new();
    s.read_to_end(&mut all).ok()?;
    let all = String::from_utf8_lossy(&all).into_owned();
    let (_, body) = all.split_once("\r\n\r\n")?;
    Some(body.to_owned())
}

#[test]
fn a_real_prometheus_scrapes_the_endpoint() {
    let Ok(bin) = which("prometheus") else {
        println!("skipped: no `prometheus` on PATH (scripts/install-tools.sh installs it)");
        return;
    };
    let (_rt, addr) = start();
    let dir = std::env::temp_dir().join(format!("bamboo-prom-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: bamboo\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .unwrap();
    let web: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starting prometheus");
    let _prom = Prom(child);
    let t = Instant::now();
    let query = "/api/v1/query?query=bamboo_memory_classes_stacks_inuse_bytes";
    loop {
        if let Some(body) = http_get(web, query) {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let result = &v["data"]["result"];
            if let Some(first) = result.as_array().and_then(|r| r.first()) {
                assert_eq!(first["metric"]["job"], "bamboo", "{body}");
                let value: f64 = first["value"][1].as_str().unwrap().parse().unwrap();
                assert!(value > 0.0, "stack in use is {value}: {body}");
                break;
            }
        }
        if t.elapsed() > Duration::from_secs(60) {
            let log = std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default();
            let targets = http_get(web, "/api/v1/targets").unwrap_or_default();
            panic!("no sample after 60 s; targets: {targets}\nlog:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let up = http_get(web, "/api/v1/query?query=up").unwrap();
    assert!(up.contains("\"1\""), "target not up: {up}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}

const CHILD_ENV: &str = "BAMBOO_SERVE_CHILD";

/// The accept loop of `serve` under a tiny `RLIMIT_NOFILE` (in a child
/// process): it neither dies nor spins on `EMFILE`, and answers again once
/// descriptors are free.
#[test]
fn serve_survives_emfile_without_spinning() {
    if std::env::var(CHILD_ENV).as_deref() == Ok("emfile") {
        return emfile_child();
    }
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "serve_survives_emfile_without_spinning",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "emfile")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("the EMFILE child hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("serve emfile ok"), "{stdout}\n{stderr}");
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

/// Set the soft `RLIMIT_NOFILE` (`None`: up to the hard limit).
fn set_nofile(soft: Option<u64>) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let hard = getrlimit(Resource::Nofile).maximum;
    let current = soft.or(hard);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current,
            maximum: hard,
        },
    )
    .unwrap();
}

fn emfile_child() {
    let (rt, addr) = start();
    // Connections the kernel completes into the backlog, made first.
    let clients: Vec<_> = (0..8).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut stat = std::fs::File::open("/proc/self/stat").unwrap();
    let _ = rustix::param::clock_ticks_per_second();
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    // Room for about one accept; the rest hit EMFILE.
    set_nofile(Some(open + 1));
    let cpu0 = cpu_time(&mut stat);
    std::thread::sleep(Duration::from_millis(1500));
    let spent = cpu_time(&mut stat) - cpu0;
    set_nofile(None);
    drop(clients);
    let mut s = connect(addr);
    s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
    let mut pending = Vec::new();
    let (head, _) = response(&mut s, &mut pending);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        spent < Duration::from_millis(500),
        "the accept loop spun: {spent:?} CPU in 1.5 s"
    );
    println!("serve emfile ok: {spent:?} CPU while out of descriptors");
    drop(rt);
}

#[test]
fn debug_coroutines_serves_the_dump() {
    let (rt, addr) = start();
    let (tx, rx) = bamboo::sync::channel::<u32>(0);
    let parked = rt.spawn(move || rx.recv());
    let mut s = connect(addr);
    let mut pending = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        s.write_all(b"GET /debug/coroutines HTTP/1.1\r\n\r\n")
            .unwrap();
        let (head, body) = response(&mut s, &mut pending);
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert!(head.contains("Content-Type: text/plain"), "{head}");
        let line = format!("coroutine {} [channel receive]: spawned at ", parked.id());
        // The accept loop may be running (between two accepts) when the
        // dump is taken on the other worker: ask again until it waits.
        if body.contains(&line) && body.contains("[I/O wait]") {
            break body;
        }
        assert!(Instant::now() < deadline, "never parked:\n{body}");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(body.starts_with("bamboo: coroutine dump ("), "{body}");
    // The accept loop waits for I/O; the coroutine answering runs.
    assert!(body.contains("[I/O wait]"), "{body}");
    assert!(body.contains("[running]"), "{body}");
    assert!(body.contains("tests/serve.rs:"), "{body}");
    tx.send(1).unwrap();
    assert_eq!(parked.join().unwrap(), Ok(1));
}
