//! TCP: [`TcpListener`] and [`TcpStream`], green twins of std's.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{self, Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use moss_runtime::io::Interest;
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::addr::{each_addr, ToSocketAddrs};
use crate::source::{back_off, in_hub, Source, Timeouts};

/// The first and the longest pause of `accept` while descriptors are
/// exhausted.
const EXHAUSTION_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(1), Duration::from_millis(100));

/// A TCP socket server, listening for connections: [`std::net::TcpListener`]
/// whose `accept` parks the green thread instead of the OS thread.
///
/// Outside a hub every method is the plain std call.
///
/// # Descriptor exhaustion
/// Inside a hub, when `accept` fails with `EMFILE` or `ENFILE` (too many
/// open files) it does not return the error to a loop that would retry at
/// once: it logs a warning (once per listener), sleeps 1 ms, 2 ms, … up to
/// 100 ms between attempts, and returns when a connection is accepted.
/// The pending connection waits in the backlog meanwhile. A kill or an
/// elapsed `moss::timeout` interrupts the back-off; an `accept` made while
/// the green thread already unwinds from one (in a destructor) returns the
/// error instead of waiting.
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// use std::io::{Read, Write};
/// use moss_net_shims::{TcpListener, TcpStream};
///
/// moss::run(|| {
///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = listener.local_addr().unwrap();
///     let server = moss::spawn(move || {
///         let (mut stream, _) = listener.accept().unwrap();
///         let mut buf = [0; 5];
///         stream.read_exact(&mut buf).unwrap();
///         stream.write_all(&buf).unwrap();
///     });
///     let mut client = TcpStream::connect(addr).unwrap();
///     client.write_all(b"hello").unwrap();
///     let mut buf = [0; 5];
///     client.read_exact(&mut buf).unwrap();
///     assert_eq!(&buf, b"hello");
///     server.join().unwrap();
/// });
/// ```
#[derive(Debug)]
pub struct TcpListener {
    source: Source<net::TcpListener>,
}

/// An iterator over the connections of a [`TcpListener`]
/// ([`TcpListener::incoming`]); it never returns `None`.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

fn is_exhaustion(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

impl TcpListener {
    /// Binds a listener to `addr` (the first address that works), like
    /// [`std::net::TcpListener::bind`]; names resolve off the hub.
    ///
    /// # Errors
    /// Resolution or the last `bind`/`listen` error.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(addr, |addr| net::TcpListener::bind(addr)).map(|listener| TcpListener {
            source: Source::blocking(listener, Timeouts::default()),
        })
    }

    /// Accepts a connection: parks until one arrives inside a hub, blocks
    /// outside (see the type docs for `EMFILE`).
    ///
    /// # Errors
    /// What `accept4` reports; `WouldBlock` in non-blocking mode; a timeout
    /// set on the listening socket.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let mut backoff = EXHAUSTION_BACKOFF.0;
        loop {
            match self.accept_once() {
                Err(err)
                    if is_exhaustion(&err) && in_hub() && !self.source.is_user_nonblocking() =>
                {
                    if self.source.first_exhaustion_warning() {
                        log::warn!(
                            "moss: accept on {:?}: {err}; retrying with back-off until descriptors free up",
                            self.local_addr().ok()
                        );
                    }
                    if !back_off("accept back-off", backoff) {
                        return Err(err);
                    }
                    backoff = (backoff * 2).min(EXHAUSTION_BACKOFF.1);
                }
                result => return result,
            }
        }
    }

    fn accept_once(&self) -> io::Result<(TcpStream, SocketAddr)> {
        // Accepted sockets inherit the listener's SO_RCVTIMEO/SO_SNDTIMEO.
        let timeouts = self.source.timeouts();
        if in_hub() && !self.source.is_user_nonblocking() {
            // Born non-blocking: saves an ioctl per connection.
            let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
            let (socket, addr) = self.source.io(Interest::Readable, |listener| {
                SockRef::from(listener).accept4(flags)
            })?;
            let addr = addr
                .as_socket()
                .ok_or_else(|| io::Error::other("accept returned a non-IP address"))?;
            let source = Source::layer_nonblocking(net::TcpStream::from(socket), timeouts);
            return Ok((TcpStream { source }, addr));
        }
        let (stream, addr) = self
            .source
            .io(Interest::Readable, net::TcpListener::accept)?;
        let source = Source::blocking(stream, timeouts);
        Ok((TcpStream { source }, addr))
    }

    /// An endless iterator of accepted connections.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The local address the listener is bound to.
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
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        let clone = self.source.get_ref().try_clone()?;
        Ok(TcpListener {
            source: self.source.duplicate(clone),
        })
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

    /// Puts the listener in non-blocking mode (`accept` then returns
    /// `WouldBlock` instead of parking, also inside a hub) or back.
    ///
    /// # Errors
    /// What `ioctl(FIONBIO)` reports.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.source.set_nonblocking(nonblocking)
    }

    /// The std listener, deregistered and in blocking mode again (unless
    /// [`set_nonblocking`](Self::set_nonblocking) chose otherwise).
    pub fn into_std(self) -> net::TcpListener {
        self.source.into_inner()
    }
}

impl From<net::TcpListener> for TcpListener {
    /// Adopts a std listener, keeping its blocking mode.
    fn from(listener: net::TcpListener) -> TcpListener {
        TcpListener {
            source: Source::adopt(listener),
        }
    }
}

/// A TCP connection: [`std::net::TcpStream`] whose reads, writes and
/// connects park the green thread instead of the OS thread.
///
/// `Read` and `Write` are implemented for `TcpStream` and `&TcpStream`, so
/// one green thread may read while another writes through a shared
/// reference or a [`try_clone`](Self::try_clone).
///
/// # Timeouts
/// Inside a hub, a read or write timeout ([`set_read_timeout`]) fails the
/// call with `io::ErrorKind::TimedOut`; an enclosing `moss::timeout` or a
/// kill unwinds the green thread out of the parked call. Outside a hub a
/// timeout reports `WouldBlock`, as std does on Unix.
///
/// [`set_read_timeout`]: Self::set_read_timeout
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// use std::io::Read;
/// use std::time::Duration;
/// use moss_net_shims::{TcpListener, TcpStream};
///
/// moss::run(|| {
///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
///     let mut stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
///     stream.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
///     let err = stream.read(&mut [0; 8]).unwrap_err();
///     assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
/// });
/// ```
#[derive(Debug)]
pub struct TcpStream {
    source: Source<net::TcpStream>,
}

impl TcpStream {
    /// Connects to `addr` (each resolved address in turn), like
    /// [`std::net::TcpStream::connect`]; parks while the handshake runs.
    ///
    /// # Errors
    /// Resolution, or the last address's connect error.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(addr, |addr| TcpStream::connect_addr(addr, None))
    }

    /// Connects with a timeout, like [`std::net::TcpStream::connect_timeout`].
    ///
    /// # Errors
    /// `TimedOut` when `timeout` passes first; `InvalidInput` for a zero
    /// timeout; the connect error.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        TcpStream::connect_addr(addr, Some(timeout))
    }

    fn connect_addr(addr: &SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
        if !in_hub() {
            let stream = match timeout {
                Some(timeout) => net::TcpStream::connect_timeout(addr, timeout)?,
                None => net::TcpStream::connect(addr)?,
            };
            return Ok(TcpStream {
                source: Source::blocking(stream, Timeouts::default()),
            });
        }
        let socket = Socket::new(
            Domain::for_address(*addr),
            Type::STREAM.nonblocking(),
            Some(Protocol::TCP),
        )?;
        let stream = TcpStream {
            source: Source::layer_nonblocking(net::TcpStream::from(socket), Timeouts::default()),
        };
        match SockRef::from(stream.source.get_ref()).connect(&(*addr).into()) {
            Ok(()) => return Ok(stream),
            Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(err) => return Err(err),
        }
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        loop {
            stream
                .source
                .wait(Interest::Writable, deadline)
                .map_err(|err| match err.kind() {
                    io::ErrorKind::TimedOut => {
                        io::Error::new(io::ErrorKind::TimedOut, "connection timed out")
                    }
                    _ => err,
                })?;
            if let Some(err) = stream.take_error()? {
                return Err(err);
            }
            match stream.peer_addr() {
                Ok(_) => return Ok(stream),
                // A wake-up before the handshake finished.
                Err(err) if err.kind() == io::ErrorKind::NotConnected => continue,
                Err(err) => return Err(err),
            }
        }
    }

    /// The remote address.
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

    /// Shuts down the read, write, or both halves.
    ///
    /// # Errors
    /// What `shutdown` reports.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.source.get_ref().shutdown(how)
    }

    /// A second handle on the same connection (a duplicated descriptor,
    /// registered on its own).
    ///
    /// # Errors
    /// What `fcntl(F_DUPFD_CLOEXEC)` reports.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        let clone = self.source.get_ref().try_clone()?;
        Ok(TcpStream {
            source: self.source.duplicate(clone),
        })
    }

    /// Sets the read timeout (`None`: none). Inside a hub it bounds each
    /// parked read (`TimedOut`); outside, the kernel applies it.
    ///
    /// # Errors
    /// `InvalidInput` for `Some(Duration::ZERO)`, as std.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.source.set_timeout(Interest::Readable, timeout)
    }

    /// Sets the write timeout; see [`set_read_timeout`](Self::set_read_timeout).
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

    /// Reads without consuming (`MSG_PEEK`), parking until data arrives.
    ///
    /// # Errors
    /// As [`Read::read`].
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.source
            .io(Interest::Readable, |stream| stream.peek(buf))
    }

    /// Reads what has already arrived, without waiting: `WouldBlock` when
    /// nothing has. It never parks nor blocks, inside a hub or outside, in
    /// blocking mode or not (`recv` with `MSG_DONTWAIT`); `Ok(0)` at end of
    /// stream.
    ///
    /// With [`readable`](Self::readable) it reads without lending a buffer
    /// to a connection that waits: a server with thousands of idle
    /// connections waits in `readable`, then reads into one buffer shared
    /// by all of them, since `try_read` cannot park while it holds it.
    ///
    /// # Errors
    /// `WouldBlock` when no data is waiting; otherwise what `recv` reports.
    ///
    /// # Examples
    /// ```
    /// # use moss_runtime as moss;
    /// use std::cell::RefCell;
    /// use std::io::{ErrorKind, Write};
    /// use moss_net_shims::{TcpListener, TcpStream};
    ///
    /// thread_local! {
    ///     // One buffer for every connection of the hub.
    ///     static BUFFER: RefCell<Vec<u8>> = RefCell::new(vec![0; 16 * 1024]);
    /// }
    ///
    /// /// Waits for bytes, then copies out only what arrived.
    /// fn next_bytes(stream: &TcpStream) -> std::io::Result<Vec<u8>> {
    ///     loop {
    ///         // The buffer is borrowed only while `try_read` runs, which never parks.
    ///         let read = BUFFER.with_borrow_mut(|buffer| {
    ///             stream.try_read(buffer).map(|n| buffer[..n].to_vec())
    ///         });
    ///         match read {
    ///             Err(e) if e.kind() == ErrorKind::WouldBlock => stream.readable()?,
    ///             other => return other,
    ///         }
    ///     }
    /// }
    ///
    /// moss::run(|| {
    ///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    ///     let (server, _) = listener.accept().unwrap();
    ///     let writer = moss::spawn(move || client.write_all(b"ping").unwrap());
    ///     assert_eq!(next_bytes(&server).unwrap(), b"ping");
    ///     writer.join().unwrap();
    /// });
    /// ```
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.source.try_read(buf)
    }

    /// Waits until the stream is readable: data, the end of the stream or
    /// an error is waiting. Returns at once when it already is. Inside a
    /// hub it parks the green thread, outside it blocks the OS thread; in
    /// non-blocking mode ([`set_nonblocking`](Self::set_nonblocking)) it
    /// returns `WouldBlock` instead of waiting. The read timeout
    /// ([`set_read_timeout`](Self::set_read_timeout)) bounds the wait.
    ///
    /// A wake-up may be spurious: the [`try_read`](Self::try_read) that
    /// follows may still return `WouldBlock`; wait again then.
    ///
    /// # Implementation notes
    /// Inside a hub readiness is edge-triggered, and an edge that arrives
    /// while nobody waits is not seen again. So `readable` first asks the
    /// socket (`recv` with `MSG_PEEK`, one system call), unless the last
    /// `try_read` on this hub returned `WouldBlock` and the hub has not
    /// polled for readiness since: then nothing can have arrived unnoticed
    /// and it parks at once. Read with `try_read` first and wait on
    /// `WouldBlock`, as in its example, and waiting costs no extra call.
    ///
    /// # Errors
    /// Inside a hub `TimedOut` when the read timeout passes first
    /// (`WouldBlock` outside, as a timed-out read); `WouldBlock` in
    /// non-blocking mode; an error pending on the socket (such as
    /// `ConnectionReset`). A kill or an elapsed `moss::timeout` unwinds the
    /// green thread, as in any parked call.
    pub fn readable(&self) -> io::Result<()> {
        self.source.readable()
    }

    /// Sets `TCP_NODELAY`.
    ///
    /// # Errors
    /// What `setsockopt` reports.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.source.get_ref().set_nodelay(nodelay)
    }

    /// Reads `TCP_NODELAY`.
    ///
    /// # Errors
    /// What `getsockopt` reports.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.source.get_ref().nodelay()
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

    /// The std stream, deregistered and in blocking mode again (unless
    /// [`set_nonblocking`](Self::set_nonblocking) chose otherwise).
    pub fn into_std(self) -> net::TcpStream {
        self.source.into_inner()
    }
}

impl From<net::TcpStream> for TcpStream {
    /// Adopts a std stream, keeping its blocking mode and timeouts.
    fn from(stream: net::TcpStream) -> TcpStream {
        TcpStream {
            source: Source::adopt(stream),
        }
    }
}

/// The most buffers one `readv(2)` takes (Linux's `UIO_MAXIOV`; std
/// passes at most this many).
const IOV_MAX: usize = 1024;

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.source
            .read_stream(buf.len(), |mut stream| stream.read(buf))
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        // readv(2) takes at most IOV_MAX buffers (std passes no more): a
        // read that filled those is not short, whatever follows them.
        let len = bufs.iter().take(IOV_MAX).map(|buf| buf.len()).sum();
        self.source
            .read_stream(len, |mut stream| stream.read_vectored(bufs))
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.source
            .io(Interest::Writable, |mut stream| stream.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.source
            .io(Interest::Writable, |mut stream| stream.write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

crate::by_value_io!(TcpStream);
crate::fd_traits!(TcpStream, TcpListener);
