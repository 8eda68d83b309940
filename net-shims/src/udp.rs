//! UDP: [`UdpSocket`], the green twin of std's.

use std::io;
use std::net::{self, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use moss_runtime::io::Interest;

use crate::addr::{each_addr, ToSocketAddrs};
use crate::source::{Source, Timeouts};

/// A UDP socket: [`std::net::UdpSocket`] whose receives (and sends, when
/// the buffer is full) park the green thread instead of the OS thread.
///
/// Timeouts behave as on [`TcpStream`](crate::TcpStream).
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// use moss_net_shims::UdpSocket;
///
/// moss::run(|| {
///     let a = UdpSocket::bind("127.0.0.1:0").unwrap();
///     let b = UdpSocket::bind("127.0.0.1:0").unwrap();
///     let b_addr = b.local_addr().unwrap();
///     let receiver = moss::spawn(move || {
///         let mut buf = [0; 16];
///         let (n, from) = b.recv_from(&mut buf).unwrap();
///         (buf[..n].to_vec(), from)
///     });
///     a.send_to(b"ping", b_addr).unwrap();
///     let (bytes, from) = receiver.join().unwrap();
///     assert_eq!((bytes.as_slice(), from), (&b"ping"[..], a.local_addr().unwrap()));
/// });
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    source: Source<net::UdpSocket>,
}

impl UdpSocket {
    /// Binds a socket to `addr` (the first address that works).
    ///
    /// # Errors
    /// Resolution or the last `bind` error.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(addr, |addr| net::UdpSocket::bind(addr)).map(|socket| UdpSocket {
            source: Source::blocking(socket, Timeouts::default()),
        })
    }

    /// Receives one datagram and its sender, parking until one arrives.
    ///
    /// # Errors
    /// What `recvfrom` reports; `TimedOut` after the read timeout (inside
    /// a hub).
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.source
            .io(Interest::Readable, |socket| socket.recv_from(buf))
    }

    /// [`recv_from`](Self::recv_from) without consuming the datagram.
    ///
    /// # Errors
    /// As [`recv_from`](Self::recv_from).
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.source
            .io(Interest::Readable, |socket| socket.peek_from(buf))
    }

    /// Sends one datagram to `addr` (its first resolved address, as std).
    ///
    /// # Errors
    /// Resolution, or what `sendto` reports.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let addr = addr.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to")
        })?;
        self.source
            .io(Interest::Writable, |socket| socket.send_to(buf, addr))
    }

    /// Sets the default peer (and filters received datagrams to it).
    ///
    /// # Errors
    /// Resolution or the last `connect` error.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(addr, |addr| self.source.get_ref().connect(addr))
    }

    /// Sends one datagram to the connected peer.
    ///
    /// # Errors
    /// What `send` reports (`NotConnected` without a peer).
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.source
            .io(Interest::Writable, |socket| socket.send(buf))
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Errors
    /// What `recv` reports.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.source
            .io(Interest::Readable, |socket| socket.recv(buf))
    }

    /// [`recv`](Self::recv) without consuming the datagram.
    ///
    /// # Errors
    /// What `recv` reports.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.source
            .io(Interest::Readable, |socket| socket.peek(buf))
    }

    /// The connected peer's address.
    ///
    /// # Errors
    /// `NotConnected`, or what `getpeername` reports.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    /// What `getsockname` reports.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().local_addr()
    }

    /// A second handle on the same socket.
    ///
    /// # Errors
    /// What `fcntl(F_DUPFD_CLOEXEC)` reports.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        let clone = self.source.get_ref().try_clone()?;
        Ok(UdpSocket {
            source: self.source.duplicate(clone),
        })
    }

    /// Sets the read timeout; see [`TcpStream::set_read_timeout`](crate::TcpStream::set_read_timeout).
    ///
    /// # Errors
    /// `InvalidInput` for `Some(Duration::ZERO)`, as std.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.source.set_timeout(Interest::Readable, timeout)
    }

    /// Sets the write timeout.
    ///
    /// # Errors
    /// `InvalidInput` for `Some(Duration::ZERO)`, as std.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.source.set_timeout(Interest::Writable, timeout)
    }

    /// The read timeout.
    ///
    /// # Errors
    /// What `getsockopt` reports.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.source.get_ref().read_timeout()
    }

    /// The write timeout.
    ///
    /// # Errors
    /// What `getsockopt` reports.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.source.get_ref().write_timeout()
    }

    /// Sets `SO_BROADCAST`.
    ///
    /// # Errors
    /// What `setsockopt` reports.
    pub fn set_broadcast(&self, broadcast: bool) -> io::Result<()> {
        self.source.get_ref().set_broadcast(broadcast)
    }

    /// Reads `SO_BROADCAST`.
    ///
    /// # Errors
    /// What `getsockopt` reports.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.source.get_ref().broadcast()
    }

    /// Sets `IP_MULTICAST_LOOP`.
    ///
    /// # Errors
    /// What `setsockopt` reports.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.source.get_ref().set_multicast_loop_v4(on)
    }

    /// Reads `IP_MULTICAST_LOOP`.
    ///
    /// # Errors
    /// What `getsockopt` reports.
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.source.get_ref().multicast_loop_v4()
    }

    /// Sets `IP_MULTICAST_TTL`.
    ///
    /// # Errors
    /// What `setsockopt` reports.
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.source.get_ref().set_multicast_ttl_v4(ttl)
    }

    /// Reads `IP_MULTICAST_TTL`.
    ///
    /// # Errors
    /// What `getsockopt` reports.
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.source.get_ref().multicast_ttl_v4()
    }

    /// Sets `IPV6_MULTICAST_LOOP`.
    ///
    /// # Errors
    /// What `setsockopt` reports.
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        self.source.get_ref().set_multicast_loop_v6(on)
    }

    /// Reads `IPV6_MULTICAST_LOOP`.
    ///
    /// # Errors
    /// What `getsockopt` reports.
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        self.source.get_ref().multicast_loop_v6()
    }

    /// Joins an IPv4 multicast group on `interface`.
    ///
    /// # Errors
    /// What `setsockopt` reports.
    pub fn join_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.source
            .get_ref()
            .join_multicast_v4(multiaddr, interface)
    }

    /// Joins an IPv6 multicast group on interface index `interface`.
    ///
    /// # Errors
    /// What `setsockopt` reports.
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.source
            .get_ref()
            .join_multicast_v6(multiaddr, interface)
    }

    /// Leaves an IPv4 multicast group.
    ///
    /// # Errors
    /// What `setsockopt` reports.
    pub fn leave_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.source
            .get_ref()
            .leave_multicast_v4(multiaddr, interface)
    }

    /// Leaves an IPv6 multicast group.
    ///
    /// # Errors
    /// What `setsockopt` reports.
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.source
            .get_ref()
            .leave_multicast_v6(multiaddr, interface)
    }

    /// Sets `IP_TTL`.
    ///
    /// # Errors
    /// What `setsockopt` reports.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.source.get_ref().set_ttl(ttl)
    }

    /// Reads `IP_TTL`.
    ///
    /// # Errors
    /// What `getsockopt` reports.
    pub fn ttl(&self) -> io::Result<u32> {
        self.source.get_ref().ttl()
    }

    /// Takes the pending `SO_ERROR`.
    ///
    /// # Errors
    /// What `getsockopt` reports.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.source.get_ref().take_error()
    }

    /// Puts the socket in non-blocking mode (calls then return
    /// `WouldBlock` instead of parking, also inside a hub) or back.
    ///
    /// # Errors
    /// What `ioctl(FIONBIO)` reports.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.source.set_nonblocking(nonblocking)
    }

    /// The std socket, deregistered and in blocking mode again (unless
    /// [`set_nonblocking`](Self::set_nonblocking) chose otherwise).
    pub fn into_std(self) -> net::UdpSocket {
        self.source.into_inner()
    }
}

impl From<net::UdpSocket> for UdpSocket {
    /// Adopts a std socket, keeping its blocking mode and timeouts.
    fn from(socket: net::UdpSocket) -> UdpSocket {
        UdpSocket {
            source: Source::adopt(socket),
        }
    }
}

crate::fd_traits!(UdpSocket);
