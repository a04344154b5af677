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

// The trait impls every socket type forwards to its std socket, and the
// `Read`/`Write` pair of the stream types (for `T` and `&T`), written once.
// Defined before the `mod` items so the socket modules see them.

/// `Debug`, `AsFd` and `AsRawFd` forwarded to the type's `sock` field.
macro_rules! forward_fd_traits {
    ($($t:ty),* $(,)?) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.sock, f)
            }
        }

        impl std::os::fd::AsFd for $t {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(&self.sock)
            }
        }

        impl std::os::fd::AsRawFd for $t {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(&self.sock)
            }
        }
    )*};
}

/// `Read` and `Write` for a stream type and for a shared reference to it:
/// reads and writes park on the type's `reg` until ready or past the
/// `timeouts` deadline; writes use `MSG_NOSIGNAL`, so a closed peer is an
/// error, not a `SIGPIPE`.
macro_rules! stream_read_write {
    ($t:ty) => {
        impl std::io::Read for &$t {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let deadline = $crate::net::Timeouts::deadline(&self.timeouts.read);
                let s = &self.sock;
                let want = buf.len();
                self.reg
                    .io_stream(s, $crate::sched::poller::Dir::Read, deadline, want, || {
                        std::io::Read::read(&mut &*s, buf)
                    })
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                let deadline = $crate::net::Timeouts::deadline(&self.timeouts.read);
                let s = &self.sock;
                self.reg
                    .io(s, $crate::sched::poller::Dir::Read, deadline, || {
                        std::io::Read::read_vectored(&mut &*s, bufs)
                    })
            }
        }

        impl std::io::Write for &$t {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                let deadline = $crate::net::Timeouts::deadline(&self.timeouts.write);
                let s = &self.sock;
                self.reg.io_stream(
                    s,
                    $crate::sched::poller::Dir::Write,
                    deadline,
                    buf.len(),
                    || socket2::SockRef::from(s).send_with_flags(buf, libc::MSG_NOSIGNAL),
                )
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Read for $t {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                std::io::Read::read(&mut &*self, buf)
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                std::io::Read::read_vectored(&mut &*self, bufs)
            }
        }

        impl std::io::Write for $t {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                std::io::Write::write(&mut &*self, buf)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}

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
