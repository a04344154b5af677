//! TCP: [`TcpListener`] and [`TcpStream`], non-blocking underneath.
//!
//! A stream is `(Registration, std::net::TcpStream, Timeouts)`; the
//! registration field comes first so it is dropped (deregistered) before
//! the descriptor closes. Connects are non-blocking (`socket2`): the caller
//! waits for writability, then reads `SO_ERROR`.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::addr::ToSocketAddrs;
use super::{each_addr, Timeouts};
use crate::sched::poller::{Dir, Registration};

/// Backlog asked for by [`TcpListener::bind`] (the kernel caps it).
const LISTEN_BACKLOG: i32 = 65535;

/// A TCP socket server, listening for connections (like
/// `std::net::TcpListener`; `accept` parks the coroutine).
///
/// ```no_run
/// use std::io::{Read, Write};
/// let rt = bamboo::Runtime::new().unwrap();
/// rt.block_on(|| {
///     let listener = bamboo::net::TcpListener::bind("127.0.0.1:7000").unwrap();
///     for stream in listener.incoming() {
///         let mut s = stream.unwrap();
///         bamboo::spawn(move || {
///             let mut buf = [0u8; 4096];
///             while let Ok(n @ 1..) = s.read(&mut buf) {
///                 if s.write_all(&buf[..n]).is_err() { break; }
///             }
///         });
///     }
/// });
/// ```
pub struct TcpListener {
    reg: Registration,
    sock: std::net::TcpListener,
}

impl TcpListener {
    /// Bind to `addr` (each resolved address is tried in turn) and listen.
    ///
    /// Like std, it sets `SO_REUSEADDR`; unlike std's backlog of 128, the
    /// backlog is 65535 (the kernel caps it at
    /// `net.core.somaxconn`, as Go's listeners do), so a burst of
    /// connections is not dropped while the accept loop catches up.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(addr.resolve()?, |a| {
            let ty = Type::STREAM.nonblocking().cloexec();
            let sock = Socket::new(Domain::for_address(*a), ty, Some(Protocol::TCP))?;
            sock.set_reuse_address(true)?;
            sock.bind(&(*a).into())?;
            sock.listen(LISTEN_BACKLOG)?;
            let sock: std::net::TcpListener = sock.into();
            Ok(TcpListener {
                reg: Registration::new(&sock),
                sock,
            })
        })
    }

    /// Take over a std listener (it is switched to non-blocking mode).
    pub fn from_std(sock: std::net::TcpListener) -> io::Result<TcpListener> {
        sock.set_nonblocking(true)?;
        Ok(TcpListener {
            reg: Registration::new(&sock),
            sock,
        })
    }

    /// Wait for a connection. The new stream is non-blocking underneath and
    /// usable from any coroutine or thread.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, a) = self.reg.io(&self.sock, Dir::Read, None, || {
            SockRef::from(&self.sock).accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
        })?;
        let addr = a
            .as_socket()
            .ok_or_else(|| io::Error::other("accepted a connection without an IP address"))?;
        Ok((TcpStream::from_nonblocking(s.into()), addr))
    }

    /// An endless iterator of accepted connections (errors included: an
    /// accept loop should log them, back off briefly on `EMFILE`, and go on).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// A second handle to the same socket (its own registration).
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        TcpListener::from_std(self.sock.try_clone()?)
    }

    /// The pending socket error (`SO_ERROR`), cleared.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.take_error()
    }

    /// Set the IP time-to-live of accepted sockets.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.set_ttl(ttl)
    }
}

/// Iterator of [`TcpListener::incoming`]; never returns `None`.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// A TCP connection (like `std::net::TcpStream`; reads, writes and connects
/// park the coroutine). `Read` and `Write` are implemented for `&TcpStream`
/// too, so one coroutine can read while another writes.
pub struct TcpStream {
    reg: Registration,
    sock: std::net::TcpStream,
    timeouts: Timeouts,
}

impl TcpStream {
    fn from_nonblocking(sock: std::net::TcpStream) -> TcpStream {
        TcpStream {
            reg: Registration::new(&sock),
            sock,
            timeouts: Timeouts::default(),
        }
    }

    /// Take over a connected std stream (switched to non-blocking mode).
    pub fn from_std(sock: std::net::TcpStream) -> io::Result<TcpStream> {
        sock.set_nonblocking(true)?;
        Ok(TcpStream::from_nonblocking(sock))
    }

    /// Connect to `addr`, trying each resolved address in turn; host names
    /// are resolved on the blocking pool.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(addr.resolve()?, |a| connect_one(a, None))
    }

    /// Connect to `addr`, giving `TimedOut` if that takes longer than `d`.
    pub fn connect_timeout(addr: &SocketAddr, d: Duration) -> io::Result<TcpStream> {
        if d.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        connect_one(addr, Some(Instant::now() + d))
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

    /// Set `TCP_NODELAY` (disable Nagle's algorithm).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.sock.set_nodelay(nodelay)
    }

    /// `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.sock.nodelay()
    }

    /// Reads wait at most `d` (`None`: for ever), then give `TimedOut`.
    /// `Some(Duration::ZERO)` is an `InvalidInput` error, as in std.
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

    /// Read without consuming (waits like `read`).
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let deadline = Timeouts::deadline(&self.timeouts.read);
        self.reg
            .io(&self.sock, Dir::Read, deadline, || self.sock.peek(buf))
    }

    /// A second handle to the same connection (a duplicated descriptor with
    /// its own registration; the timeouts are copied).
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        let sock = self.sock.try_clone()?;
        Ok(TcpStream {
            reg: Registration::new(&sock),
            sock,
            timeouts: self.timeouts.copy(),
        })
    }

    /// The pending socket error (`SO_ERROR`), cleared.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.take_error()
    }

    /// Set the IP time-to-live.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.set_ttl(ttl)
    }

    /// The IP time-to-live.
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.ttl()
    }
}

/// One non-blocking connect attempt, waiting until `deadline`.
fn connect_one(addr: &SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
    let ty = Type::STREAM.nonblocking().cloexec();
    let sock = Socket::new(Domain::for_address(*addr), ty, Some(Protocol::TCP))?;
    let reg = Registration::new(&sock);
    match sock.connect(&(*addr).into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
            reg.io(&sock, Dir::Write, deadline, || {
                if let Some(e) = sock.take_error()? {
                    return Err(e);
                }
                match sock.peer_addr() {
                    Ok(_) => Ok(()),
                    Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Err(e) => Err(e),
                }
            })?;
        }
        Err(e) => return Err(e),
    }
    Ok(TcpStream {
        reg,
        sock: sock.into(),
        timeouts: Timeouts::default(),
    })
}

forward_fd_traits!(TcpListener, TcpStream);
stream_read_write!(TcpStream);
