//! [`serve`]: the Prometheus scrape endpoint, served by coroutines of the
//! runtime it describes.
//!
//! Protocol (HTTP/1.1 parsed with `httparse`):
//! - `GET /metrics` (or `HEAD`; a query string is ignored): `200`, the
//!   Prometheus text format of every metric, from one [`crate::read`];
//! - `GET /debug/coroutines`: `200`, `text/plain`, the coroutine dump
//!   ([`bamboo::Handle::dump`]): a header line, then one line per
//!   coroutine (`coroutine 7 [channel receive]: spawned at ...`);
//! - any other path: `404`; another method on those paths: `405`;
//! - bytes that are not an HTTP request, or a head over 16 KiB: `400`, and
//!   the connection is closed;
//! - keep-alive: HTTP/1.1 connections stay open unless the request says
//!   `Connection: close`; HTTP/1.0 ones close unless it says `keep-alive`.
//!   Pipelined requests are answered in order. A connection idle for
//!   60 s is closed.
//!
//! The accept loop survives running out of descriptors (`EMFILE`,
//! `ENFILE`) and other transient accept errors the way Go's `net/http`
//! does: it sleeps 5 ms, doubling up to 1 s while the errors go on, and
//! accepts again.

use std::io::{self, Read, Write};
use std::time::Duration;

use bamboo::net::{TcpListener, TcpStream, ToSocketAddrs};
use bamboo::{Handle, JoinHandle};

use crate::{all_samples, prometheus::encode, read, Sample};

/// An idle keep-alive connection is closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest request head accepted.
const MAX_HEAD: usize = 16 << 10;

/// Serve `GET /metrics` (and the coroutine dump at `GET /debug/coroutines`)
/// for the runtime of `h` on `addr`, from a coroutine
/// of that runtime (one more per connection). Returns once the socket is
/// listening; the handle finishes only when the runtime shuts down (or the
/// listener fails for good).
///
/// ```no_run
/// let rt = bamboo::Runtime::new().unwrap();
/// let _server = bamboo_metrics::prometheus::serve(&rt.handle(), "127.0.0.1:9090").unwrap();
/// // ... curl http://127.0.0.1:9090/metrics
/// ```
pub fn serve<A: ToSocketAddrs>(h: &Handle, addr: A) -> io::Result<JoinHandle<()>> {
    let listener = TcpListener::bind(addr)?;
    let handle = h.clone();
    Ok(h.spawn(move || accept_loop(&handle, &listener)))
}

/// Accept errors worth waiting out (Go's "temporary" accept errors).
fn transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc_errno::EMFILE | libc_errno::ENFILE | libc_errno::ENOBUFS | libc_errno::ENOMEM)
    ) || matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionReset
    )
}

/// Linux errno values of the transient accept errors.
mod libc_errno {
    pub const ENFILE: i32 = 23;
    pub const EMFILE: i32 = 24;
    pub const ENOMEM: i32 = 12;
    pub const ENOBUFS: i32 = 105;
}

fn accept_loop(h: &Handle, listener: &TcpListener) {
    let mut backoff = Duration::ZERO;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                backoff = Duration::ZERO;
                let h = h.clone();
                bamboo::spawn(move || {
                    let _ = connection(&h, s);
                });
            }
            Err(e) if transient(&e) => {
                backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                bamboo::sleep(backoff);
            }
            Err(e) => {
                eprintln!("bamboo_metrics::prometheus::serve: accept failed: {e}; stopping");
                return;
            }
        }
    }
}

/// What one parsed request asks for.
struct Request {
    head_len: usize,
    method_ok: bool,
    head_only: bool,
    is_metrics: bool,
    is_dump: bool,
    keep_alive: bool,
    has_body: bool,
}

enum Parsed {
    Complete(Request),
    Partial,
    Invalid,
}

fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let n = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Invalid,
    };
    let method = req.method.unwrap_or("");
    let path = req.path.unwrap_or("");
    let path = path.split('?').next().unwrap_or("");
    let http11 = req.version == Some(1);
    let mut keep_alive = http11;
    let mut has_body = false;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
            if v.split(',').any(|t| t.trim() == "close") {
                keep_alive = false;
            } else if v.split(',').any(|t| t.trim() == "keep-alive") {
                keep_alive = true;
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding")
            || (h.name.eq_ignore_ascii_case("content-length") && h.value.trim_ascii() != b"0")
        {
            has_body = true;
        }
    }
    Parsed::Complete(Request {
        head_len: n,
        method_ok: method == "GET" || method == "HEAD",
        head_only: method == "HEAD",
        is_metrics: path == "/metrics",
        is_dump: path == "/debug/coroutines",
        keep_alive,
        has_body,
    })
}

/// The body of `/debug/coroutines`.
fn dump_text(h: &Handle) -> String {
    use std::fmt::Write as _;
    let dump = h.dump();
    let mut out = format!("bamboo: coroutine dump ({} coroutines)\n", dump.len());
    for c in &dump {
        let _ = writeln!(out, "{c}");
    }
    out
}

fn respond(
    s: &mut TcpStream,
    status: &str,
    extra: &str,
    body: &[u8],
    head_only: bool,
    keep_alive: bool,
) -> io::Result<()> {
    let conn = if keep_alive { "keep-alive" } else { "close" };
    let head = format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: {conn}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    if !head_only {
        s.write_all(body)?;
    }
    Ok(())
}

fn connection(h: &Handle, mut s: TcpStream) -> io::Result<()> {
    s.set_read_timeout(Some(IDLE_TIMEOUT))?;
    let _ = s.set_nodelay(true);
    let mut samples: Vec<Sample> = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let req = loop {
            match parse(&buf) {
                Parsed::Complete(r) => break r,
                Parsed::Invalid => {
                    let _ = respond(
                        &mut s,
                        "400 Bad Request",
                        "",
                        b"bad request\n",
                        false,
                        false,
                    );
                    return Ok(());
                }
                Parsed::Partial if buf.len() > MAX_HEAD => {
                    let body = b"request head too large\n";
                    let _ = respond(&mut s, "400 Bad Request", "", body, false, false);
                    return Ok(());
                }
                Parsed::Partial => {
                    let n = s.read(&mut chunk)?;
                    if n == 0 {
                        return Ok(()); // peer closed
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
            }
        };
        buf.drain(..req.head_len);
        // A request with a body is answered, then the connection closed
        // (nothing here takes a body; skipping it is not worth the bytes).
        let keep_alive = req.keep_alive && !req.has_body;
        if !req.is_metrics && !req.is_dump {
            respond(
                &mut s,
                "404 Not Found",
                "",
                b"not found\n",
                req.head_only,
                keep_alive,
            )?;
        } else if !req.method_ok {
            let allow = "Allow: GET, HEAD\r\n";
            respond(
                &mut s,
                "405 Method Not Allowed",
                allow,
                b"use GET\n",
                false,
                keep_alive,
            )?;
        } else if req.is_dump {
            let text = dump_text(h);
            let ty = "Content-Type: text/plain; charset=utf-8\r\n";
            respond(
                &mut s,
                "200 OK",
                ty,
                text.as_bytes(),
                req.head_only,
                keep_alive,
            )?;
        } else {
            if samples.is_empty() {
                samples = all_samples();
            }
            read(h, &mut samples);
            let text = encode(&samples);
            let ty = "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n";
            respond(
                &mut s,
                "200 OK",
                ty,
                text.as_bytes(),
                req.head_only,
                keep_alive,
            )?;
        }
        if !keep_alive {
            let _ = s.shutdown(std::net::Shutdown::Write);
            return Ok(());
        }
    }
}
