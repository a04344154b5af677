//! An echo server: every connection gets a coroutine that writes back what
//! it reads.
//!
//! ```text
//! cargo run --release -p bamboo --example echo -- 127.0.0.1:7000
//! nc 127.0.0.1 7000
//! ```
//!
//! The accept loop backs off on `EMFILE`/`ENFILE` (out of descriptors), as
//! Go's `net/http` does, instead of spinning or dying.

use std::io::{self, Read, Write};
use std::time::Duration;

use bamboo::net::{TcpListener, TcpStream};

fn echo(mut s: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 16 << 10];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        s.write_all(&buf[..n])?;
    }
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".into());
    let rt = bamboo::Runtime::new().map_err(io::Error::other)?;
    rt.block_on(move || {
        let listener = TcpListener::bind(addr.as_str())?;
        eprintln!("echo: listening on {}", listener.local_addr()?);
        let mut backoff = Duration::ZERO;
        loop {
            match listener.accept() {
                Ok((s, _)) => {
                    backoff = Duration::ZERO;
                    let _ = s.set_nodelay(true);
                    bamboo::spawn(move || echo(s));
                }
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc_emfile::EMFILE | libc_emfile::ENFILE)
                    ) =>
                {
                    backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                    eprintln!("echo: accept: {e}; retrying in {backoff:?}");
                    bamboo::sleep(backoff);
                }
                Err(e) => eprintln!("echo: accept: {e}"),
            }
        }
    })
}

/// The descriptor-exhaustion errors of `accept` (Linux values).
mod libc_emfile {
    pub const ENFILE: i32 = 23;
    pub const EMFILE: i32 = 24;
}
