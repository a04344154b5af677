//! Unix-domain stream sockets: [`UnixListener`] and [`UnixStream`], the
//! same shape as the TCP types.
//!
//! A connect whose listener's backlog is full gets `EAGAIN` from a
//! non-blocking socket (Linux does not report completion on such a socket
//! later): the connect sleeps 1 ms (`bamboo::sleep`, which parks a
//! coroutine) and tries again.

use std::io;
use std::net::Shutdown;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};

use super::Timeouts;
use crate::sched::poller::{Dir, Registration};

/// A Unix-domain socket server (like `std::os::unix::net::UnixListener`;
/// `accept` parks the coroutine).
pub struct UnixListener {
    reg: Registration,
    sock: std::os::unix::net::UnixListener,
}

impl UnixListener {
    /// Bind to the socket file `path` and listen.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        UnixListener::from_std(std::os::unix::net::UnixListener::bind(path)?)
    }

    /// Take over a std listener (switched to non-blocking mode).
    pub fn from_std(sock: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        sock.set_nonblocking(true)?;
        Ok(UnixListener {
            reg: Registration::new(&sock),
            sock,
        })
    }

    /// Wait for a connection.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (s, a) = self
            .reg
            .io(&self.sock, Dir::Read, None, || self.sock.accept())?;
        Ok((UnixStream::from_std(s)?, a))
    }

    /// An endless iterator of accepted connections (errors included).
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// A second handle to the same socket (its own registration).
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        UnixListener::from_std(self.sock.try_clone()?)
    }

    /// The pending socket error (`SO_ERROR`), cleared.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.take_error()
    }
}

/// Iterator of [`UnixListener::incoming`]; never returns `None`.
#[derive(Debug)]
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;
    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// A Unix-domain stream connection (like `std::os::unix::net::UnixStream`;
/// reads and writes park the coroutine). `Read`/`Write` for `&UnixStream` too.
pub struct UnixStream {
    reg: Registration,
    sock: std::os::unix::net::UnixStream,
    timeouts: Timeouts,
}

impl UnixStream {
    /// Connect to the socket file `path`.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let addr = SockAddr::unix(path)?;
        let sock = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
        loop {
            match sock.connect(&addr) {
                Ok(()) => break,
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                    crate::sleep(Duration::from_millis(1))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let sock: std::os::unix::net::UnixStream = sock.into();
        Ok(UnixStream {
            reg: Registration::new(&sock),
            sock,
            timeouts: Timeouts::default(),
        })
    }

    /// Two connected sockets.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// Take over a std stream (switched to non-blocking mode).
    pub fn from_std(sock: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        sock.set_nonblocking(true)?;
        Ok(UnixStream {
            reg: Registration::new(&sock),
            sock,
            timeouts: Timeouts::default(),
        })
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// Shut down the read half, the write half, or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.shutdown(how)
    }

    /// Reads wait at most `d` (`None`: for ever), then give `TimedOut`.
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        Timeouts::set(&self.timeouts.read, d)
    }

    /// Writes wait at most `d` (`None`: for ever), then give `TimedOut`.
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        Timeouts::set(&self.timeouts.write, d)
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(Timeouts::get(&self.timeouts.read))
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(Timeouts::get(&self.timeouts.write))
    }

    /// A second handle to the same connection (its own registration; the
    /// timeouts are copied).
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        let sock = self.sock.try_clone()?;
        Ok(UnixStream {
            reg: Registration::new(&sock),
            sock,
            timeouts: self.timeouts.copy(),
        })
    }

    /// The pending socket error (`SO_ERROR`), cleared.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.take_error()
    }
}

forward_fd_traits!(UnixListener, UnixStream);
stream_read_write!(UnixStream);
