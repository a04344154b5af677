//! A keep-alive HTTP/1.1 "Hello, World!" server: one coroutine per
//! connection, requests parsed with `httparse` (pipelining works: every
//! complete request in the buffer is answered, the answers written in one
//! go).
//!
//! ```text
//! cargo run --release -p bamboo --example http_hello -- 127.0.0.1:8080
//! wrk -t1 -c64 -d10s http://127.0.0.1:8080/
//! ```

use std::io::{self, Read, Write};
use std::time::Duration;

use bamboo::net::{TcpListener, TcpStream};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

fn serve(mut s: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 8 << 10];
    let mut len = 0;
    let mut out = Vec::with_capacity(4 << 10);
    loop {
        let n = s.read(&mut buf[len..])?;
        if n == 0 {
            return Ok(());
        }
        len += n;
        let mut start = 0;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf[start..len]) {
                Ok(httparse::Status::Complete(used)) => {
                    out.extend_from_slice(RESPONSE);
                    start += used;
                }
                Ok(httparse::Status::Partial) => break,
                Err(_) => {
                    s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
                    return Ok(());
                }
            }
        }
        if !out.is_empty() {
            s.write_all(&out)?;
            out.clear();
        }
        buf.copy_within(start..len, 0);
        len -= start;
        if len == buf.len() {
            return Ok(()); // a request head larger than the buffer
        }
    }
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let rt = bamboo::Runtime::new().map_err(io::Error::other)?;
    rt.block_on(move || {
        let listener = TcpListener::bind(addr.as_str())?;
        eprintln!("http_hello: listening on {}", listener.local_addr()?);
        let mut backoff = Duration::ZERO;
        loop {
            match listener.accept() {
                Ok((s, _)) => {
                    backoff = Duration::ZERO;
                    let _ = s.set_nodelay(true);
                    bamboo::spawn(move || serve(s));
                }
                Err(e) => {
                    // Out of descriptors and the like: back off, go on.
                    backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                    eprintln!("http_hello: accept: {e}; retrying in {backoff:?}");
                    bamboo::sleep(backoff);
                }
            }
        }
    })
}
