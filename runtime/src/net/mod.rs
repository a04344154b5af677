//! Sockets that park the coroutine, not the worker: [`TcpListener`],
//! [`TcpStream`], [`UdpSocket`], [`UnixListener`], [`UnixStream`].
//!
//! The types mirror `std::net` / `std::os::unix::net` (porting std code is
//! a rename). Inside a coroutine every call that would block parks the
//! coroutine until the socket is ready (its worker runs others meanwhile);
//! from a plain thread the calls block like std's. Every type is
//! `Send + Sync`; a socket made in one coroutine may be used from another
//! (on any worker) or from a plain thread, and `&TcpStream` reads and writes,
//! so one coroutine can read while another writes.
//!
//! Contract (how the pieces meet):
//! - Each socket is non-blocking for its whole life and owns one
//!   `sched::poller::Registration` (declared before the socket so that it
//!   is deregistered before the descriptor closes). An operation is tried
//!   first; on `WouldBlock` the caller waits for readiness and tries again.
//! - Timeouts (`set_read_timeout`, ...) are kept in the object (not in the
//!   kernel): they become a deadline for the wait, and an expired deadline
//!   is `io::ErrorKind::TimedOut`. A `try_clone` copies them.
//! - Names are resolved by [`ToSocketAddrs`]: numeric addresses at once, host
//!   names through [`crate::blocking`] (the resolver blocks).
//! - Every OS error comes back as the `io::Error` the call returned; writes
//!   use `MSG_NOSIGNAL`, so a closed peer is `BrokenPipe`/`ConnectionReset`
//!   and never a `SIGPIPE`.
//!
//! Files are not sockets: `std::fs` blocks its thread; call it through
//! [`crate::blocking`].

mod addr;
mod tcp;
mod udp;
mod unix;

use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

pub use addr::ToSocketAddrs;
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixIncoming, UnixListener, UnixStream};

/// A read and a write timeout, in nanoseconds (0 = none).
#[derive(Debug, Default)]
struct Timeouts {
    read: AtomicU64,
    write: AtomicU64,
}

impl Timeouts {
    fn copy(&self) -> Timeouts {
        Timeouts {
            read: AtomicU64::new(self.read.load(Relaxed)),
            write: AtomicU64::new(self.write.load(Relaxed)),
        }
    }

    fn set(slot: &AtomicU64, d: Option<Duration>) -> io::Result<()> {
        let ns = match d {
            None => 0,
            Some(d) if d.is_zero() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "cannot set a 0 duration timeout",
                ))
            }
            Some(d) => u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1),
        };
        slot.store(ns, Relaxed);
        Ok(())
    }

    fn get(slot: &AtomicU64) -> Option<Duration> {
        match slot.load(Relaxed) {
            0 => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }

    /// The deadline of an operation starting now.
    fn deadline(slot: &AtomicU64) -> Option<Instant> {
        match slot.load(Relaxed) {
            0 => None,
            ns => Instant::now().checked_add(Duration::from_nanos(ns)),
        }
    }
}

/// The error std gives when an address list is empty.
fn no_addresses() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "could not resolve to any addresses",
    )
}

/// Try `f` on every address; the first success, or the last error.
fn each_addr<T>(
    addrs: Vec<std::net::SocketAddr>,
    mut f: impl FnMut(&std::net::SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in &addrs {
        match f(a) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(no_addresses))
}
