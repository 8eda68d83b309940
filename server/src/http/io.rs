//! A connection's buffered I/O: read and write buffers, fill and flush, read timeout, `Date`.
//!
//! The buffers come from a per-thread pool; the `Date` value is shared by
//! a batch of responses.

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

/// Buffers kept per OS thread for the next connection: a new connection
/// then neither allocates nor zeroes its read scratch.
const POOL_BUFFERS: usize = 32;

/// A write buffer that grew past this is not pooled.
const POOL_WBUF_MAX: usize = 256 * 1024;

/// The reusable buffers of a connection.
struct Buffers {
    /// Where the stream reads into (zeroed once, when first allocated).
    scratch: Box<[u8]>,
    wbuf: Vec<u8>,
    names: NameCache,
}

thread_local! {
    /// Buffers of finished connections, taken by new ones on this thread
    /// (each green thread of a hub takes its own; none is shared).
    static POOL: RefCell<Vec<Buffers>> = const { RefCell::new(Vec::new()) };
}

fn take_buffers() -> Buffers {
    POOL.with(|pool| pool.borrow_mut().pop())
        .unwrap_or_else(|| Buffers {
            scratch: vec![0; READ_SIZE].into_boxed_slice(),
            wbuf: Vec::with_capacity(8 * 1024),
            names: NameCache::default(),
        })
}

fn give_back(buffers: Buffers) {
    if buffers.wbuf.capacity() > POOL_WBUF_MAX {
        return;
    }
    // `try_with`: a connection dropped during thread teardown just frees.
    let _ = POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOL_BUFFERS {
            pool.push(buffers);
        }
    });
}

/// The connection's stream and buffers.
pub(crate) struct ConnIo<S> {
    pub(crate) stream: S,
    /// Received bytes not yet consumed.
    pub(crate) rbuf: BytesMut,
    /// Response bytes not yet sent.
    pub(crate) wbuf: Vec<u8>,
    /// Reads land here first, then are copied to `rbuf`: reading straight
    /// into `rbuf`'s spare capacity would need it zeroed at every read.
    scratch: Box<[u8]>,
    /// Header names of the last request (see [`NameCache`]), pooled with
    /// the buffers.
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

impl<S: Transport> ConnIo<S> {
    pub(crate) fn new(stream: S) -> ConnIo<S> {
        let Buffers {
            scratch,
            wbuf,
            names,
        } = take_buffers();
        ConnIo {
            stream,
            rbuf: BytesMut::with_capacity(READ_SIZE),
            wbuf,
            scratch,
            names,
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

    /// Sets the stream's read timeout if it differs from the current one.
    pub(crate) fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let timeout = timeout.filter(|t| !t.is_zero());
        if timeout != self.read_timeout {
            self.stream.set_read_timeout(timeout)?;
            self.read_timeout = timeout;
        }
        Ok(())
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
    /// since the peer may wait for it); `Ok(0)` at end of stream.
    pub(crate) fn fill(&mut self) -> io::Result<usize> {
        if !self.wbuf.is_empty() {
            self.flush()?;
        }
        self.date_uses = 0;
        if self.rbuf.capacity() - self.rbuf.len() < READ_SIZE / 4 {
            self.rbuf.reserve(READ_SIZE);
        }
        let n = loop {
            match self.stream.read(&mut self.scratch) {
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        self.rbuf.extend_from_slice(&self.scratch[..n]);
        Ok(n)
    }
}

impl<S> Drop for ConnIo<S> {
    fn drop(&mut self) {
        let mut wbuf = std::mem::take(&mut self.wbuf);
        wbuf.clear();
        give_back(Buffers {
            scratch: std::mem::take(&mut self.scratch),
            wbuf,
            names: std::mem::take(&mut self.names),
        });
    }
}
