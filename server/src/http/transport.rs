//! What the engine needs from a stream beyond `Read + Write`, and [`NoTimeouts`].

use std::io::{self, Read, Write};
use std::time::Duration;

/// A connection the engine can serve: a byte stream plus the controls the
/// engine uses when the stream supports them.
///
/// Every method has a default, so any `Read + Write` type can be served
/// through [`NoTimeouts`] (or by an empty `impl`). std's and moss's
/// (`moss::net`) TCP and Unix streams implement it; so does `Box<T>` of a
/// `Transport`.
///
/// # Reading without a buffer while idle
///
/// A stream that can wait for readability without reading implements
/// [`wait_readable`](Self::wait_readable) and [`try_read`](Self::try_read)
/// (both or neither; moss's sockets do). The engine then reads with
/// `try_read` into one buffer per OS thread, which it can share between
/// connections because `try_read` never parks, and keeps only the bytes
/// that arrived. A connection waiting for its next request holds no read
/// buffer. Other streams are read with `read` into a buffer of their own.
pub trait Transport: Read + Write {
    /// Bounds each following `read`; `None` removes the bound. The engine
    /// calls it only when the value changes. A read that times out must fail
    /// with `WouldBlock` or `TimedOut`.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Ok(())
    }

    /// Bounds each following write (the engine's `send_timeout`); `None`
    /// removes the bound. A write that makes no progress for this long
    /// must fail (with `WouldBlock` or `TimedOut`). Called once per
    /// connection, and with `None` before an upgraded connection is handed
    /// to the application.
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Ok(())
    }

    /// Half-closes the sending side after a final error response, so the
    /// client sees the response before the connection goes away.
    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Waits until the stream may have bytes to read (or has ended or
    /// failed), returning at once if it already has, bounded by the read
    /// timeout, which it reports as a read would. `Ok(true)` when it
    /// waited; `Ok(false)` when the stream cannot wait without reading (the
    /// default): the engine then reads with `read`. The engine calls it
    /// before a connection's first read and whenever `try_read` returns
    /// `WouldBlock`; a spurious return is fine (the engine reads and waits
    /// again).
    fn wait_readable(&mut self) -> io::Result<bool> {
        Ok(false)
    }

    /// Reads what has already arrived, never waiting: `WouldBlock` when
    /// nothing has. It must not park or block: the engine lends it a buffer
    /// shared by the connections of the OS thread. The default returns
    /// `Unsupported` (the engine then reads with `read`).
    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let _ = buf;
        Err(io::ErrorKind::Unsupported.into())
    }

    /// Whether the stream holds input it has already taken from its
    /// socket (decrypted TLS plaintext, say), or has seen its end: then a
    /// read returns at once, and waiting for the socket to become
    /// readable could wait for nothing. A poller that waits for idle
    /// connections serves such a connection again at once. The default:
    /// `false`, the socket holds everything.
    fn has_buffered_input(&self) -> bool {
        false
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_write_timeout(timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        (**self).shutdown_write()
    }

    fn wait_readable(&mut self) -> io::Result<bool> {
        (**self).wait_readable()
    }

    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (**self).try_read(buf)
    }

    fn has_buffered_input(&self) -> bool {
        (**self).has_buffered_input()
    }
}

/// Serves any `Read + Write` stream without read timeouts or half-close
/// (in-memory streams, tests, pipes).
///
/// # Examples
///
/// ```
/// use std::io::Cursor;
/// use moss_server::NoTimeouts;
/// let stream = NoTimeouts(Cursor::new(Vec::<u8>::new()));
/// # let _ = stream;
/// ```
#[derive(Debug)]
pub struct NoTimeouts<S>(pub S);

impl<S: Read> Read for NoTimeouts<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<S: Write> Write for NoTimeouts<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<S: Read + Write> Transport for NoTimeouts<S> {}
