//! A connection's buffered I/O: read and write buffers, fill and flush, read timeout, `Date`.
//!
//! A connection holds buffers only while it has bytes in them:
//!
//! ```text
//!                  waiting for a request     reading a request         writing responses
//!   read buffer    none, or unparsed bytes   exactly what arrived      -
//!   write buffer   none                      -                         from the thread's pool,
//!                                                                      back before the next wait
//! ```
//!
//! Reads land in one buffer per OS thread ([`READ_BUFFER`]) and only the
//! bytes that arrived are copied to the connection's read buffer. The
//! connections of a hub can share it because they borrow it only for a
//! [`Transport::try_read`], which never parks; they wait for their next
//! bytes in [`Transport::wait_readable`], holding nothing. A stream that
//! cannot wait without reading is read with `read` into a buffer of the
//! connection's own instead.

use std::cell::RefCell;
use std::io::{self, ErrorKind};
use std::time::Duration;

use bytes::BytesMut;

use super::date::{self, DATE_LEN};
use super::parse::NameCache;
use super::transport::Transport;

/// Bytes asked of the stream per read.
const READ_SIZE: usize = 16 * 1024;

/// Write buffer size past which pending responses are sent even while
/// pipelined input is still buffered.
pub(crate) const FLUSH_AT: usize = 64 * 1024;

/// Responses that may share one reading of the clock (within one batch).
const DATE_REUSE: u32 = 16;

/// Capacity of a new write buffer.
const WRITE_SIZE: usize = 8 * 1024;

/// Write buffers kept per OS thread for the next responses. A connection
/// holds one from its first response to its next wait, so on a hub few
/// are out at a time.
const POOL_WRITE_BUFFERS: usize = 16;

/// A write buffer that grew past this is freed, not pooled.
const POOL_WRITE_MAX: usize = 256 * 1024;

/// Own read buffers kept per OS thread, for connections on streams without
/// `try_read`.
const POOL_READ_BUFFERS: usize = 8;

thread_local! {
    /// Where `try_read` reads land, for every connection of the OS thread
    /// (of the hub, when it runs one). Borrowed only for the duration of a
    /// `try_read` and the copy out of it: `try_read` never parks, so no
    /// other green thread can run, and need it, meanwhile. Allocated and
    /// zeroed at the first read.
    static READ_BUFFER: RefCell<Box<[u8]>> = RefCell::new(Box::default());

    /// Write buffers of connections that are waiting, for the next
    /// connection that writes.
    static WRITE_BUFFERS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };

    /// Own read buffers of finished connections on streams without
    /// `try_read`, for the next ones (already zeroed).
    static READ_BUFFERS: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

/// A write buffer from the thread's pool, or a new one.
fn take_write_buffer() -> Vec<u8> {
    WRITE_BUFFERS
        .try_with(|pool| pool.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(WRITE_SIZE))
}

/// Returns an empty write buffer to the thread's pool (or frees it).
fn give_back_write_buffer(buffer: Vec<u8>) {
    debug_assert!(buffer.is_empty());
    if buffer.capacity() == 0 || buffer.capacity() > POOL_WRITE_MAX {
        return;
    }
    // `try_with`: a connection dropped during thread teardown just frees.
    let _ = WRITE_BUFFERS.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOL_WRITE_BUFFERS {
            pool.push(buffer);
        }
    });
}

/// Returns a connection's own read buffer to the thread's pool (or frees it).
fn give_back_read_buffer(own: Box<[u8]>) {
    // `try_with`: a connection dropped during thread teardown just frees.
    let _ = READ_BUFFERS.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOL_READ_BUFFERS {
            pool.push(own);
        }
    });
}

/// Whether a stream waits for readability without reading
/// ([`Transport::wait_readable`]). Its first read asks, by waiting: a
/// `try_read` first would need the shared buffer, made for nothing on a
/// thread whose streams cannot use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Readiness {
    /// Not asked yet.
    Untried,
    /// Read with `try_read` into [`READ_BUFFER`] after `wait_readable`.
    Supported,
    /// Read with `read` into the connection's own buffer.
    Unsupported,
}

/// The connection's stream and buffers.
pub(crate) struct ConnIo<S> {
    pub(crate) stream: S,
    /// Received bytes not yet consumed; no allocation while empty between
    /// requests.
    pub(crate) rbuf: BytesMut,
    /// Response bytes not yet sent; no allocation while the connection
    /// waits (see [`ConnIo::reserve_output`]).
    pub(crate) wbuf: Vec<u8>,
    /// Whether the stream is read through `try_read` and `wait_readable`.
    readiness: Readiness,
    /// The connection's own read buffer, made only for streams read with
    /// `read` (which may park while it is lent): the shared
    /// [`READ_BUFFER`] must not be lent across a park. Reads land here
    /// first, then are copied to `rbuf`: reading straight into `rbuf`'s
    /// spare capacity would need it zeroed at every read.
    own_buffer: Option<Box<[u8]>>,
    /// Header names of the last request (see [`NameCache`]).
    pub(crate) names: NameCache,
    /// The `Date` value for responses, and how many more responses may use
    /// it: reading the clock costs as much as parsing a small request, so a
    /// batch of pipelined responses shares one reading (refreshed at each
    /// read from the client and every few responses).
    date: [u8; DATE_LEN],
    date_uses: u32,
    /// Last value given to `Transport::set_read_timeout`.
    read_timeout: Option<Duration>,
}

impl<S> ConnIo<S> {
    /// Gives the write buffer a pooled allocation before responses are
    /// written into it. Writing without it works too, growing a buffer
    /// from nothing.
    pub(crate) fn reserve_output(&mut self) {
        if self.wbuf.capacity() == 0 {
            self.wbuf = take_write_buffer();
        }
    }
}

impl<S: Transport> ConnIo<S> {
    pub(crate) fn new(stream: S) -> ConnIo<S> {
        ConnIo {
            stream,
            rbuf: BytesMut::new(),
            wbuf: Vec::new(),
            readiness: Readiness::Untried,
            own_buffer: None,
            names: NameCache::default(),
            date: [b' '; DATE_LEN],
            date_uses: 0,
            read_timeout: None,
        }
    }

    /// The `Date` value for the next response.
    pub(crate) fn date(&mut self) -> [u8; DATE_LEN] {
        if self.date_uses == 0 {
            self.date = date::now();
            self.date_uses = DATE_REUSE;
        }
        self.date_uses -= 1;
        self.date
    }

    /// Sets the stream's read timeout unless it is within a millisecond of
    /// the current one (deadlines give a slightly shorter timeout at every
    /// read; a stream's timeout may cost a system call to change). A zero
    /// timeout becomes one millisecond: zero would mean "none" to some
    /// streams.
    pub(crate) fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        const SLACK: Duration = Duration::from_millis(1);
        let timeout = timeout.map(|t| t.max(SLACK));
        let close_enough = match (timeout, self.read_timeout) {
            (Some(new), Some(old)) => new.abs_diff(old) <= SLACK,
            (new, old) => new == old,
        };
        if !close_enough {
            self.stream.set_read_timeout(timeout)?;
            self.read_timeout = timeout;
        }
        Ok(())
    }

    /// Clears the stream's read and write timeouts, before the connection
    /// is handed to the application.
    pub(crate) fn clear_timeouts(&mut self) -> io::Result<()> {
        self.stream.set_read_timeout(None)?;
        self.read_timeout = None;
        self.stream.set_write_timeout(None)
    }

    /// Sends everything in the write buffer.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if !self.wbuf.is_empty() {
            let result = self.stream.write_all(&self.wbuf);
            self.wbuf.clear();
            result?;
        }
        self.stream.flush()
    }

    /// Reads more bytes into the read buffer (sending pending output first,
    /// since the peer may wait for it); `Ok(0)` at end of stream. While it
    /// waits the connection holds no empty buffer.
    pub(crate) fn fill(&mut self) -> io::Result<usize> {
        if !self.wbuf.is_empty() {
            self.flush()?;
        }
        self.date_uses = 0;
        while self.readiness != Readiness::Unsupported {
            if self.readiness == Readiness::Supported {
                match self.try_read() {
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == ErrorKind::Unsupported => {
                        self.readiness = Readiness::Unsupported;
                        break;
                    }
                    other => return other,
                }
            }
            // Nothing has arrived (or the stream has not been asked yet):
            // the wait may last the whole keep-alive timeout.
            self.release_empty_buffers();
            self.readiness = match self.stream.wait_readable()? {
                true => Readiness::Supported,
                false => Readiness::Unsupported,
            };
        }
        // `read` may wait too.
        self.release_empty_buffers();
        let own = self.own_buffer.get_or_insert_with(|| {
            READ_BUFFERS
                .try_with(|pool| pool.borrow_mut().pop())
                .ok()
                .flatten()
                .unwrap_or_else(|| vec![0; READ_SIZE].into_boxed_slice())
        });
        let n = loop {
            match self.stream.read(own) {
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        self.rbuf.extend_from_slice(&own[..n]);
        Ok(n)
    }

    /// One `try_read` into the thread's [`READ_BUFFER`], appending what
    /// arrived to `rbuf` (which grows by exactly that when empty).
    fn try_read(&mut self) -> io::Result<usize> {
        let (stream, rbuf) = (&mut self.stream, &mut self.rbuf);
        let shared = READ_BUFFER.try_with(|buffer| {
            // Busy only if a `try_read` broke its contract and parked
            // while another connection's read held the buffer.
            let mut buffer = buffer.try_borrow_mut().ok()?;
            if buffer.is_empty() {
                *buffer = vec![0; READ_SIZE].into_boxed_slice();
            }
            let result = stream.try_read(&mut buffer);
            if let Ok(n) = result {
                rbuf.extend_from_slice(&buffer[..n]);
            }
            Some(result)
        });
        match shared {
            Ok(Some(result)) => result,
            // Thread teardown, or the buffer is busy: a small one of our own.
            _ => {
                let mut buffer = vec![0; READ_SIZE / 4];
                let n = stream.try_read(&mut buffer)?;
                rbuf.extend_from_slice(&buffer[..n]);
                Ok(n)
            }
        }
    }

    /// Before the connection waits elsewhere (a poller holds it while it is
    /// idle): its empty buffers, and its own read buffer, go back to this
    /// OS thread's pools, so an idle connection holds none.
    pub(crate) fn release_for_idle(&mut self) {
        self.release_empty_buffers();
        if let Some(own) = self.own_buffer.take() {
            give_back_read_buffer(own);
        }
    }

    /// Frees an empty read buffer (kept unparsed bytes stay) and returns an
    /// empty write buffer to the pool, before a wait.
    fn release_empty_buffers(&mut self) {
        if self.rbuf.is_empty() {
            // Also drops a reference to a buffer shared with request heads
            // (`split_to`), whatever its capacity says.
            self.rbuf = BytesMut::new();
        }
        if self.wbuf.is_empty() {
            give_back_write_buffer(std::mem::take(&mut self.wbuf));
        }
    }
}

/// The connection after a protocol switch ([`Upgraded`](super::Upgraded)):
/// reads take buffered bytes first, writes send pending output first.
impl<S: Transport> io::Read for ConnIo<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.rbuf.is_empty() {
            // Reading may wait: nothing of ours stays lent.
            self.release_empty_buffers();
            return self.stream.read(buf);
        }
        let n = self.rbuf.len().min(buf.len());
        buf[..n].copy_from_slice(&self.rbuf[..n]);
        bytes::Buf::advance(&mut self.rbuf, n);
        Ok(n)
    }
}

impl<S: Transport> io::Write for ConnIo<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.wbuf.is_empty() {
            self.flush()?;
        }
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        ConnIo::flush(self)
    }
}

impl<S> Drop for ConnIo<S> {
    fn drop(&mut self) {
        let mut wbuf = std::mem::take(&mut self.wbuf);
        wbuf.clear();
        give_back_write_buffer(wbuf);
        if let Some(own) = self.own_buffer.take() {
            give_back_read_buffer(own);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::io::{Cursor, Read, Write};

    use super::super::transport::NoTimeouts;
    use super::*;

    /// What a scripted stream does at each `try_read`.
    enum Step {
        Data(&'static [u8]),
        WouldBlock,
    }

    /// A stream that waits for readability: `try_read` follows `script`;
    /// `wait_readable` checks that nothing is lent meanwhile, and times out
    /// once the script is done.
    struct Scripted {
        script: VecDeque<Step>,
        written: Vec<u8>,
        waits: usize,
    }

    impl Scripted {
        fn new(script: impl IntoIterator<Item = Step>) -> Scripted {
            Scripted {
                script: script.into_iter().collect(),
                written: Vec::new(),
                waits: 0,
            }
        }
    }

    impl Read for Scripted {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            panic!("a stream that waits for readability is never read with `read`");
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Transport for Scripted {
        fn wait_readable(&mut self) -> io::Result<bool> {
            self.waits += 1;
            // Another connection of this thread could run now and read.
            assert!(
                READ_BUFFER.with(|buffer| buffer.try_borrow_mut().is_ok()),
                "the shared read buffer is lent across a wait"
            );
            match self.script.is_empty() {
                true => Err(ErrorKind::TimedOut.into()),
                false => Ok(true),
            }
        }

        fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.script.pop_front() {
                Some(Step::Data(data)) => {
                    buf[..data.len()].copy_from_slice(data);
                    Ok(data.len())
                }
                Some(Step::WouldBlock) | None => Err(ErrorKind::WouldBlock.into()),
            }
        }
    }

    const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";

    #[test]
    fn reads_keep_exactly_the_bytes_that_arrived() {
        let mut io = ConnIo::new(Scripted::new([Step::Data(REQUEST)]));
        assert_eq!(io.fill().unwrap(), REQUEST.len());
        assert_eq!(&io.rbuf[..], REQUEST);
        assert!(io.rbuf.capacity() < 64, "{}", io.rbuf.capacity());
        // The first read asked the stream whether it can wait, by waiting.
        assert_eq!(io.stream.waits, 1);
    }

    #[test]
    fn a_waiting_connection_holds_no_empty_buffer() {
        let mut io = ConnIo::new(Scripted::new([Step::Data(REQUEST), Step::WouldBlock]));
        io.fill().unwrap();
        io.rbuf.clear();
        io.reserve_output();
        io.wbuf.extend_from_slice(b"HTTP/1.1 200 OK\r\n\r\n");
        let pooled = WRITE_BUFFERS.with(|pool| pool.borrow().len());

        let err = io.fill().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert_eq!(io.stream.written, b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(io.rbuf.capacity(), 0);
        assert_eq!(io.wbuf.capacity(), 0);
        // The write buffer went back to the thread's pool for the next writer.
        assert_eq!(WRITE_BUFFERS.with(|pool| pool.borrow().len()), pooled + 1);
        io.reserve_output();
        assert_eq!(WRITE_BUFFERS.with(|pool| pool.borrow().len()), pooled);
    }

    #[test]
    fn unparsed_bytes_are_kept_across_a_wait() {
        let (first, rest) = REQUEST.split_at(10);
        let mut io = ConnIo::new(Scripted::new([
            Step::Data(first),
            Step::WouldBlock,
            Step::Data(rest),
        ]));
        io.fill().unwrap();
        io.fill().unwrap();
        assert_eq!(&io.rbuf[..], REQUEST);
        assert_eq!(io.stream.waits, 2);
    }

    #[test]
    fn streams_that_cannot_wait_are_read_into_their_own_buffer() {
        let mut io = ConnIo::new(NoTimeouts(Cursor::new(REQUEST.to_vec())));
        assert_eq!(io.fill().unwrap(), REQUEST.len());
        assert_eq!(&io.rbuf[..], REQUEST);
        assert_eq!(io.readiness, Readiness::Unsupported);
        assert!(io.own_buffer.is_some());
        assert_eq!(io.fill().unwrap(), 0);
    }

    /// Waits, but has no `try_read`: read with `read` instead.
    struct WaitOnly(Cursor<Vec<u8>>);

    impl Read for WaitOnly {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0.read(buf)
        }
    }

    impl Write for WaitOnly {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Transport for WaitOnly {
        fn wait_readable(&mut self) -> io::Result<bool> {
            Ok(true)
        }
    }

    #[test]
    fn a_stream_without_try_read_is_read_with_read() {
        let mut io = ConnIo::new(WaitOnly(Cursor::new(REQUEST.to_vec())));
        assert_eq!(io.fill().unwrap(), REQUEST.len());
        assert_eq!(&io.rbuf[..], REQUEST);
        assert_eq!(io.readiness, Readiness::Unsupported);
    }
}
