//! What the engine needs from a stream beyond `Read + Write`, and [`NoTimeouts`].

use std::io::{self, Read, Write};
use std::time::Duration;

/// A connection the engine can serve: a byte stream plus the two controls
/// the engine uses when the stream supports them.
///
/// Both methods default to doing nothing, so any `Read + Write` type can be
/// served through [`NoTimeouts`] (or by an empty `impl`). std's and moss's
/// (`moss::net`) TCP and Unix streams implement it; so does `Box<T>` of a
/// `Transport`.
pub trait Transport: Read + Write {
    /// Bounds each following `read`; `None` removes the bound. The engine
    /// calls it only when the value changes. A read that times out must fail
    /// with `WouldBlock` or `TimedOut`.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Ok(())
    }

    /// Half-closes the sending side after a final error response, so the
    /// client sees the response before the connection goes away.
    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        (**self).shutdown_write()
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
