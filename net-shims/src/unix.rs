//! Unix domain sockets: [`UnixListener`] and [`UnixStream`], green twins of std's.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;
use std::time::Duration;

use moss_runtime::io::Interest;
use socket2::{Domain, SockAddr, Socket, Type};

use crate::source::{back_off, in_hub, Source, Timeouts};

/// The first and the longest pause of a connect to a listener whose
/// backlog is full (Unix sockets report `EAGAIN`, not readiness).
const FULL_BACKLOG_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(1), Duration::from_millis(50));

/// A Unix stream socket server: [`std::os::unix::net::UnixListener`] whose
/// `accept` parks the green thread.
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// use std::io::{Read, Write};
/// use moss_net_shims::{UnixListener, UnixStream};
///
/// let dir = std::env::temp_dir().join(format!("moss-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("sock");
/// let _ = std::fs::remove_file(&path);
/// moss::run(|| {
///     let listener = UnixListener::bind(&path).unwrap();
///     let server = moss::spawn(move || {
///         let (mut stream, _) = listener.accept().unwrap();
///         stream.write_all(b"hi").unwrap();
///     });
///     let mut client = UnixStream::connect(&path).unwrap();
///     let mut buf = String::new();
///     client.read_to_string(&mut buf).unwrap();
///     assert_eq!(buf, "hi");
///     server.join().unwrap();
/// });
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct UnixListener {
    source: Source<net::UnixListener>,
}

/// An iterator over the connections of a [`UnixListener`]; it never
/// returns `None`.
#[derive(Debug)]
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;

    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

impl UnixListener {
    /// Binds a listener to the socket file `path`.
    ///
    /// # Errors
    /// What `bind`/`listen` report (`AddrInUse` when the file exists).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        net::UnixListener::bind(path).map(|listener| UnixListener {
            source: Source::blocking(listener, Timeouts::default()),
        })
    }

    /// Accepts a connection, parking until one arrives inside a hub.
    ///
    /// # Errors
    /// What `accept4` reports; `WouldBlock` in non-blocking mode.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let timeouts = self.source.timeouts();
        let (stream, addr) = self
            .source
            .io(Interest::Readable, net::UnixListener::accept)?;
        let source = Source::blocking(stream, timeouts);
        Ok((UnixStream { source }, addr))
    }

    /// An endless iterator of accepted connections.
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }

    /// The address the listener is bound to.
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
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        let clone = self.source.get_ref().try_clone()?;
        Ok(UnixListener {
            source: self.source.duplicate(clone),
        })
    }

    /// Takes the pending `SO_ERROR`.
    ///
    /// # Errors
    /// What `getsockopt` reports.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.source.get_ref().take_error()
    }

    /// Puts the listener in non-blocking mode (`accept` then returns
    /// `WouldBlock`, also inside a hub) or back.
    ///
    /// # Errors
    /// What `ioctl(FIONBIO)` reports.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.source.set_nonblocking(nonblocking)
    }

    /// The std listener, deregistered and in blocking mode again.
    pub fn into_std(self) -> net::UnixListener {
        self.source.into_inner()
    }
}

impl From<net::UnixListener> for UnixListener {
    /// Adopts a std listener, keeping its blocking mode.
    fn from(listener: net::UnixListener) -> UnixListener {
        UnixListener {
            source: Source::adopt(listener),
        }
    }
}

/// A Unix stream connection: [`std::os::unix::net::UnixStream`] whose
/// reads and writes park the green thread.
///
/// Timeouts behave as on [`TcpStream`](crate::TcpStream).
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// use std::io::{Read, Write};
/// use moss_net_shims::UnixStream;
///
/// moss::run(|| {
///     let (mut a, mut b) = UnixStream::pair().unwrap();
///     let reader = moss::spawn(move || {
///         let mut buf = [0; 4];
///         b.read_exact(&mut buf).unwrap();
///         buf
///     });
///     a.write_all(b"ping").unwrap();
///     assert_eq!(&reader.join().unwrap(), b"ping");
/// });
/// ```
#[derive(Debug)]
pub struct UnixStream {
    source: Source<net::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket file `path`. Inside a hub, a connect to a
    /// listener whose backlog is full is retried after a pause of 1 ms,
    /// 2 ms, … up to 50 ms (the kernel reports `EAGAIN` and no readiness).
    ///
    /// # Errors
    /// What `connect` reports (`NotFound`, `ConnectionRefused`); `EAGAIN`
    /// (`WouldBlock`) for a full backlog when the green thread is already
    /// unwinding from a kill or an elapsed `moss::timeout` (in a
    /// destructor) and cannot wait.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        if !in_hub() {
            return net::UnixStream::connect(path).map(UnixStream::fresh);
        }
        let socket = Socket::new(Domain::UNIX, Type::STREAM.nonblocking(), None)?;
        let addr = SockAddr::unix(path)?;
        let mut backoff = FULL_BACKLOG_BACKOFF.0;
        loop {
            match socket.connect(&addr) {
                Ok(()) => break,
                // The listener's backlog is full: no readiness tells when
                // it drains, so retry after a pause.
                Err(err) if err.raw_os_error() == Some(libc::EAGAIN) => {
                    if !back_off("connect back-off", backoff) {
                        return Err(err);
                    }
                    backoff = (backoff * 2).min(FULL_BACKLOG_BACKOFF.1);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(UnixStream {
            source: Source::layer_nonblocking(net::UnixStream::from(socket), Timeouts::default()),
        })
    }

    /// An unnamed pair of connected sockets.
    ///
    /// # Errors
    /// What `socketpair` reports.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = net::UnixStream::pair()?;
        Ok((UnixStream::fresh(a), UnixStream::fresh(b)))
    }

    fn fresh(stream: net::UnixStream) -> UnixStream {
        UnixStream {
            source: Source::blocking(stream, Timeouts::default()),
        }
    }

    /// The peer's address.
    ///
    /// # Errors
    /// What `getpeername` reports.
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

    /// A second handle on the same connection.
    ///
    /// # Errors
    /// What `fcntl(F_DUPFD_CLOEXEC)` reports.
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        let clone = self.source.get_ref().try_clone()?;
        Ok(UnixStream {
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

    /// Reads what has already arrived, without waiting: `WouldBlock` when
    /// nothing has; see [`TcpStream::try_read`](crate::TcpStream::try_read).
    ///
    /// # Errors
    /// `WouldBlock` when no data is waiting; otherwise what `recv` reports.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.source.try_read(buf)
    }

    /// Waits until the stream is readable (data, the end of the stream or
    /// an error is waiting), returning at once when it already is; see
    /// [`TcpStream::readable`](crate::TcpStream::readable).
    ///
    /// # Errors
    /// Inside a hub `TimedOut` when the read timeout passes first
    /// (`WouldBlock` outside); `WouldBlock` in non-blocking mode; an error
    /// pending on the socket.
    pub fn readable(&self) -> io::Result<()> {
        self.source.readable()
    }

    /// Takes the pending `SO_ERROR`.
    ///
    /// # Errors
    /// What `getsockopt` reports.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.source.get_ref().take_error()
    }

    /// Puts the socket in non-blocking mode (calls then return
    /// `WouldBlock`, also inside a hub) or back.
    ///
    /// # Errors
    /// What `ioctl(FIONBIO)` reports.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.source.set_nonblocking(nonblocking)
    }

    /// The std stream, deregistered and in blocking mode again.
    pub fn into_std(self) -> net::UnixStream {
        self.source.into_inner()
    }
}

impl From<net::UnixStream> for UnixStream {
    /// Adopts a std stream, keeping its blocking mode and timeouts.
    fn from(stream: net::UnixStream) -> UnixStream {
        UnixStream {
            source: Source::adopt(stream),
        }
    }
}

impl Read for &UnixStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.source
            .io(Interest::Readable, |mut stream| stream.read(buf))
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.source
            .io(Interest::Readable, |mut stream| stream.read_vectored(bufs))
    }
}

impl Write for &UnixStream {
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

crate::by_value_io!(UnixStream);
crate::fd_traits!(UnixStream, UnixListener);
