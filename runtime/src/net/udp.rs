//! UDP: [`UdpSocket`], non-blocking underneath.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use super::addr::ToSocketAddrs;
use super::{each_addr, no_addresses, Timeouts};
use crate::sched::poller::{Dir, Registration};

/// A UDP socket (like `std::net::UdpSocket`; receives and sends park the
/// coroutine).
///
/// ```no_run
/// let rt = bamboo::Runtime::new().unwrap();
/// rt.block_on(|| {
///     let a = bamboo::net::UdpSocket::bind("127.0.0.1:0").unwrap();
///     let b = bamboo::net::UdpSocket::bind("127.0.0.1:0").unwrap();
///     a.send_to(b"hi", b.local_addr().unwrap()).unwrap();
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).unwrap();
///     assert_eq!((&buf[..n], from), (&b"hi"[..], a.local_addr().unwrap()));
/// });
/// ```
pub struct UdpSocket {
    reg: Registration,
    sock: std::net::UdpSocket,
    timeouts: Timeouts,
}

impl UdpSocket {
    /// Bind to `addr` (each resolved address is tried in turn).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(addr.resolve()?, |a| {
            UdpSocket::from_std(std::net::UdpSocket::bind(a)?)
        })
    }

    /// Take over a std socket (switched to non-blocking mode).
    pub fn from_std(sock: std::net::UdpSocket) -> io::Result<UdpSocket> {
        sock.set_nonblocking(true)?;
        Ok(UdpSocket {
            reg: Registration::new(&sock),
            sock,
            timeouts: Timeouts::default(),
        })
    }

    /// Set the default destination of `send` and the only source `recv`
    /// accepts (the first resolved address that works).
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(addr.resolve()?, |a| self.sock.connect(a))
    }

    /// Send to the connected address.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        let deadline = Timeouts::deadline(&self.timeouts.write);
        self.reg
            .io(&self.sock, Dir::Write, deadline, || self.sock.send(buf))
    }

    /// Receive one datagram from the connected address.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        let deadline = Timeouts::deadline(&self.timeouts.read);
        self.reg
            .io(&self.sock, Dir::Read, deadline, || self.sock.recv(buf))
    }

    /// Send one datagram to `addr` (its first resolved address).
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let to = *addr.resolve()?.first().ok_or_else(no_addresses)?;
        let deadline = Timeouts::deadline(&self.timeouts.write);
        self.reg.io(&self.sock, Dir::Write, deadline, || {
            self.sock.send_to(buf, to)
        })
    }

    /// Receive one datagram and its source.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let deadline = Timeouts::deadline(&self.timeouts.read);
        self.reg
            .io(&self.sock, Dir::Read, deadline, || self.sock.recv_from(buf))
    }

    /// Receives wait at most `d` (`None`: for ever), then give `TimedOut`.
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        Timeouts::set(&self.timeouts.read, d)
    }

    /// Sends wait at most `d` (`None`: for ever), then give `TimedOut`.
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        Timeouts::set(&self.timeouts.write, d)
    }

    /// The receive timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(Timeouts::get(&self.timeouts.read))
    }

    /// The send timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(Timeouts::get(&self.timeouts.write))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// The connected address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.peer_addr()
    }

    /// Allow sending to broadcast addresses.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.sock.set_broadcast(on)
    }

    /// A second handle to the same socket (its own registration; the
    /// timeouts are copied).
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        let sock = self.sock.try_clone()?;
        Ok(UdpSocket {
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

forward_fd_traits!(UdpSocket);
