//! Address resolution: [`ToSocketAddrs`] and [`lookup_host`], with names resolved on the offload pool.
//!
//! glibc's `getaddrinfo` blocks in calls no hook sees (and may wait five
//! seconds for a resolver), so inside a hub every name that is not a
//! numeric address is resolved by a thread of the offload pool while the
//! green thread parks. Numeric addresses are parsed in place.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::vec;

use crate::source::in_hub;

/// Runs `f`, which may block the OS thread, off the hub when called from a
/// green thread; directly otherwise.
fn offload<R, F>(f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    if !in_hub() {
        return f();
    }
    moss_runtime::spawn_blocking(f)
}

/// Resolves a name with the system resolver, through [`offload`].
fn resolve_owned<A>(owned: A) -> io::Result<vec::IntoIter<SocketAddr>>
where
    A: std::net::ToSocketAddrs + Send + 'static,
{
    offload(move || {
        owned
            .to_socket_addrs()
            .map(|addrs| addrs.collect::<Vec<_>>().into_iter())
    })
}

/// Values that can become socket addresses: the twin of
/// [`std::net::ToSocketAddrs`], implemented for the same types, whose host
/// names are resolved without blocking the hub.
///
/// moss's sockets take this trait where std's take std's, so calls such as
/// `TcpStream::connect("example.com:80")` or `UdpSocket::bind(("0.0.0.0", 0))`
/// read the same. (A type that implements only std's trait can be passed
/// as its resolved addresses: `&addrs[..]`.)
///
/// # Examples
/// ```
/// use moss_net_shims::ToSocketAddrs;
/// let addrs: Vec<_> = ("127.0.0.1", 80).to_socket_addrs().unwrap().collect();
/// assert_eq!(addrs, ["127.0.0.1:80".parse().unwrap()]);
/// ```
pub trait ToSocketAddrs {
    /// The addresses `self` stands for, in the resolver's order.
    ///
    /// # Errors
    /// An unparsable address, or the resolver's error for a name.
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>>;
}

fn one(addr: SocketAddr) -> io::Result<vec::IntoIter<SocketAddr>> {
    Ok(vec![addr].into_iter())
}

impl ToSocketAddrs for SocketAddr {
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        one(*self)
    }
}

impl ToSocketAddrs for SocketAddrV4 {
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        one(SocketAddr::V4(*self))
    }
}

impl ToSocketAddrs for SocketAddrV6 {
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        one(SocketAddr::V6(*self))
    }
}

impl ToSocketAddrs for (IpAddr, u16) {
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        one(SocketAddr::from(*self))
    }
}

impl ToSocketAddrs for (Ipv4Addr, u16) {
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        one(SocketAddr::from(*self))
    }
}

impl ToSocketAddrs for (Ipv6Addr, u16) {
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        one(SocketAddr::from(*self))
    }
}

impl ToSocketAddrs for (&str, u16) {
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        let (host, port) = *self;
        if let Ok(ip) = host.parse::<IpAddr>() {
            return one(SocketAddr::new(ip, port));
        }
        resolve_owned((host.to_owned(), port))
    }
}

impl ToSocketAddrs for (String, u16) {
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        (self.0.as_str(), self.1).to_socket_addrs()
    }
}

impl ToSocketAddrs for str {
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return one(addr);
        }
        // std parses "host:port" and reports malformed input itself.
        resolve_owned(self.to_owned())
    }
}

impl ToSocketAddrs for String {
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        self.as_str().to_socket_addrs()
    }
}

impl ToSocketAddrs for [SocketAddr] {
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        Ok(Vec::from(self).into_iter())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        (**self).to_socket_addrs()
    }
}

/// Resolves `host` to its addresses, without blocking the hub.
///
/// `host` is a name (`"localhost"`) or a numeric address, optionally with
/// a port (`"example.com:443"`, `"[::1]:80"`); without one the addresses
/// carry port 0.
///
/// # Errors
/// The resolver's error (for example an unknown name).
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// # use moss_net_shims as net;
/// moss::run(|| {
///     let addrs = net::lookup_host("localhost").unwrap();
///     assert!(addrs.iter().any(|addr| addr.ip().is_loopback()));
/// });
/// ```
pub fn lookup_host(host: &str) -> io::Result<Vec<SocketAddr>> {
    if let Ok(addr) = host.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, 0)]);
    }
    let with_port = host
        .rsplit_once(':')
        .filter(|(name, port)| !name.contains(':') && port.parse::<u16>().is_ok());
    let addrs = match with_port {
        Some(_) => host.to_socket_addrs()?,
        None => (host, 0).to_socket_addrs()?,
    };
    Ok(addrs.collect())
}

/// Runs `f` on each address in turn until one succeeds, like std's
/// `each_addr`: the last error otherwise.
pub(crate) fn each_addr<A, T>(
    addr: A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T>
where
    A: ToSocketAddrs,
{
    let mut last = None;
    for addr in addr.to_socket_addrs()? {
        match f(&addr) {
            Ok(value) => return Ok(value),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}
