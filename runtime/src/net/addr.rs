//! [`ToSocketAddrs`]: std's conversions to socket addresses, with host
//! names resolved on the blocking pool instead of on the worker.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Values that name one or more socket addresses: the same types as std's
/// `std::net::ToSocketAddrs` (`"host:port"`, `("host", port)`, `SocketAddr`,
/// `(IpAddr, u16)`, slices of addresses, ...). A numeric address is used
/// as is; a host name is resolved through [`crate::blocking`], so the
/// resolver never freezes a worker.
///
/// The trait is sealed: its one method is the runtime's own.
pub trait ToSocketAddrs: sealed::Resolve {}

pub(crate) mod sealed {
    use std::io;
    use std::net::SocketAddr;

    /// The resolution step behind [`super::ToSocketAddrs`].
    pub trait Resolve {
        /// Every address this value names, in order.
        fn resolve(&self) -> io::Result<Vec<SocketAddr>>;
    }
}

use sealed::Resolve;

/// Resolve `name` (not a numeric address) on the blocking pool.
fn lookup(name: String) -> io::Result<Vec<SocketAddr>> {
    crate::blocking(move || {
        std::net::ToSocketAddrs::to_socket_addrs(name.as_str()).map(Iterator::collect)
    })
}

fn lookup_host(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let host = host.to_owned();
    crate::blocking(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)).map(Iterator::collect)
    })
}

macro_rules! one {
    ($($t:ty),*) => {$(
        impl Resolve for $t {
            fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
                Ok(vec![SocketAddr::from(*self)])
            }
        }
        impl ToSocketAddrs for $t {}
    )*};
}
one!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl Resolve for str {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        if let Ok(a) = self.parse::<SocketAddr>() {
            return Ok(vec![a]);
        }
        lookup(self.to_owned())
    }
}
impl ToSocketAddrs for str {}

impl Resolve for String {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        self.as_str().resolve()
    }
}
impl ToSocketAddrs for String {}

impl Resolve for (&str, u16) {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        lookup_host(self.0, self.1)
    }
}
impl ToSocketAddrs for (&str, u16) {}

impl Resolve for (String, u16) {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        lookup_host(&self.0, self.1)
    }
}
impl ToSocketAddrs for (String, u16) {}

impl Resolve for [SocketAddr] {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(self.to_vec())
    }
}
impl ToSocketAddrs for [SocketAddr] {}

impl Resolve for Vec<SocketAddr> {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(self.clone())
    }
}
impl ToSocketAddrs for Vec<SocketAddr> {}

impl<T: Resolve + ?Sized> Resolve for &T {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        (**self).resolve()
    }
}
impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
