//! Per-connection I/O state: the read and write buffers, read timeouts, and
//! decoding of the current request's body from the read buffer.

use std::cell::RefCell;
use std::io::{self, ErrorKind};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use http::HeaderMap;

use super::body::{parse_chunk_size, BodySource, MAX_CHUNK_LINE};
use super::config::HttpConfig;
use super::date::{self, DATE_LEN};
use super::error::HttpError;
use super::parse::{parse_trailers, Framing, HeadScanner, NameCache};
use super::transport::Transport;

/// Bytes asked of the stream per read.
const READ_SIZE: usize = 16 * 1024;

/// Write buffer size past which pending responses are sent even while
/// pipelined input is still buffered.
pub(crate) const FLUSH_AT: usize = 64 * 1024;

/// Responses that may share one reading of the clock (within one batch).
const DATE_REUSE: u32 = 16;

/// `HTTP/1.1 100 Continue`, sent at the first read of a body that expects it.
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

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

/// Where the current request's body decoding stands.
#[derive(Debug)]
enum Decoder {
    /// Nothing (more) to read.
    Done,
    /// `remaining` bytes of a Content-Length body.
    Length { remaining: u64 },
    /// Expecting a chunk-size line.
    ChunkSize,
    /// Inside a chunk.
    ChunkData { remaining: u64 },
    /// Expecting the CRLF after a chunk's data.
    ChunkEnd,
    /// Reading the trailer section after the last chunk.
    Trailers(HeadScanner),
}

/// Body state of the request being served.
#[derive(Debug)]
struct BodyState {
    /// Request the state belongs to; reads for other ids fail.
    id: u64,
    decoder: Decoder,
    /// `Expect: 100-continue` still to be answered.
    continue_pending: bool,
    /// Decoded bytes so far.
    received: u64,
    /// The first framing error, which the engine answers instead of the app.
    error: Option<HttpError>,
    trailers: Option<HeaderMap>,
}

/// The connection's buffers and stream, shared with the request [`Body`]
/// handle behind a mutex while the application runs.
///
/// [`Body`]: super::Body
pub(crate) struct ConnIo<S> {
    pub(crate) stream: S,
    /// Received bytes not yet consumed.
    pub(crate) rbuf: BytesMut,
    /// Response bytes not yet sent.
    pub(crate) wbuf: Vec<u8>,
    /// Reads land here first, then are copied to `rbuf`: reading straight
    /// into `rbuf`'s spare capacity would need it zeroed at every read.
    scratch: Box<[u8]>,
    /// Header names of the last request (see [`NameCache`]).
    pub(crate) names: NameCache,
    /// The body and trailer limits (`server_header` left out).
    config: HttpConfig,
    /// The `Date` value for responses, and how many more responses may use
    /// it: reading the clock costs as much as parsing a small request, so a
    /// batch of pipelined responses shares one reading (refreshed at each
    /// read from the client and every few responses).
    date: [u8; DATE_LEN],
    date_uses: u32,
    /// Last value given to `Transport::set_read_timeout`.
    read_timeout: Option<Duration>,
    body: BodyState,
}

impl<S: Transport> ConnIo<S> {
    pub(crate) fn new(stream: S, config: &HttpConfig) -> ConnIo<S> {
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
            config: config.limits(),
            date: [b' '; DATE_LEN],
            date_uses: 0,
            read_timeout: None,
            body: BodyState {
                id: 0,
                decoder: Decoder::Done,
                continue_pending: false,
                received: 0,
                error: None,
                trailers: None,
            },
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

    /// Starts the body state of request `id`.
    pub(crate) fn begin_body(&mut self, id: u64, framing: Framing, expect_continue: bool) {
        self.body = BodyState {
            id,
            decoder: match framing {
                Framing::Empty => Decoder::Done,
                Framing::Length(len) => Decoder::Length { remaining: len },
                Framing::Chunked => Decoder::ChunkSize,
            },
            continue_pending: expect_continue,
            received: 0,
            error: None,
            trailers: None,
        };
    }

    /// The framing error met while reading the current body, if any.
    pub(crate) fn body_error(&self) -> Option<HttpError> {
        self.body.error.clone()
    }

    /// Whether the current body has been read to its end.
    pub(crate) fn body_done(&self) -> bool {
        matches!(self.body.decoder, Decoder::Done)
    }

    /// Whether `100 Continue` was due but never sent (the app did not read).
    pub(crate) fn continue_unsent(&self) -> bool {
        self.body.continue_pending
    }

    /// Clears a pending `100 Continue`, returning whether one was pending.
    pub(crate) fn take_continue(&mut self) -> bool {
        std::mem::take(&mut self.body.continue_pending)
    }

    /// Bytes of a Content-Length body not yet read, if the body has one.
    pub(crate) fn known_remaining(&self) -> Option<u64> {
        match self.body.decoder {
            Decoder::Length { remaining } => Some(remaining),
            Decoder::Done => Some(0),
            _ => None,
        }
    }

    /// Reads and discards up to `limit` bytes of the rest of the body;
    /// `true` if the body ended cleanly within them.
    pub(crate) fn drain_body(&mut self, limit: u64) -> bool {
        let id = self.body.id;
        let mut scratch = [0u8; 4096];
        let mut drained = 0;
        self.body.continue_pending = false;
        while !self.body_done() {
            match self.read_current(id, &mut scratch) {
                Ok(0) => break,
                Ok(n) => drained += n as u64,
                Err(_) => return false,
            }
            if drained > limit {
                return false;
            }
        }
        self.body.error.is_none()
    }

    fn fail(&mut self, error: HttpError, kind: ErrorKind) -> io::Error {
        let message = error.to_string();
        if self.body.error.is_none() {
            self.body.error = Some(error);
        }
        io::Error::new(kind, message)
    }

    /// Fills the read buffer for body decoding; a closed stream is an
    /// incomplete body, a timed-out read a 408.
    fn fill_body(&mut self) -> io::Result<()> {
        match self.fill() {
            Ok(0) => Err(self.fail(
                HttpError::BadRequest("request body ended early"),
                ErrorKind::UnexpectedEof,
            )),
            Ok(_) => Ok(()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(self.fail(HttpError::RequestTimeout, e.kind()))
            }
            Err(e) => {
                if self.body.error.is_none() {
                    self.body.error = Some(HttpError::BadRequest("request body unreadable"));
                }
                Err(e)
            }
        }
    }

    /// Copies up to `remaining` buffered body bytes into `buf`.
    fn take_data(&mut self, remaining: u64, buf: &mut [u8]) -> io::Result<usize> {
        if self.rbuf.is_empty() {
            self.fill_body()?;
        }
        let n = (self.rbuf.len() as u64)
            .min(remaining)
            .min(buf.len() as u64) as usize;
        buf[..n].copy_from_slice(&self.rbuf[..n]);
        self.rbuf.advance(n);
        self.body.received += n as u64;
        Ok(n)
    }

    fn decode(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match &mut self.body.decoder {
                Decoder::Done => return Ok(0),
                Decoder::Length { remaining } => {
                    let remaining = *remaining;
                    let n = self.take_data(remaining, buf)?;
                    self.body.decoder = match remaining - n as u64 {
                        0 => Decoder::Done,
                        left => Decoder::Length { remaining: left },
                    };
                    return Ok(n);
                }
                Decoder::ChunkData { remaining } => {
                    let remaining = *remaining;
                    let n = self.take_data(remaining, buf)?;
                    self.body.decoder = match remaining - n as u64 {
                        0 => Decoder::ChunkEnd,
                        left => Decoder::ChunkData { remaining: left },
                    };
                    return Ok(n);
                }
                Decoder::ChunkSize => {
                    let Some(newline) = memchr::memchr(b'\n', &self.rbuf) else {
                        if self.rbuf.len() > MAX_CHUNK_LINE {
                            let error = HttpError::BadRequest("chunk-size line too long");
                            return Err(self.fail(error, ErrorKind::InvalidData));
                        }
                        self.fill_body()?;
                        continue;
                    };
                    if newline == 0 || self.rbuf[newline - 1] != b'\r' {
                        let error = HttpError::BadRequest("chunk-size line not ended by CRLF");
                        return Err(self.fail(error, ErrorKind::InvalidData));
                    }
                    let size = match parse_chunk_size(&self.rbuf[..newline - 1]) {
                        Ok(size) => size,
                        Err(error) => return Err(self.fail(error, ErrorKind::InvalidData)),
                    };
                    self.rbuf.advance(newline + 1);
                    if let Some(limit) = self.config.limit_request_body {
                        if self.body.received.saturating_add(size) > limit {
                            return Err(
                                self.fail(HttpError::PayloadTooLarge, ErrorKind::InvalidData)
                            );
                        }
                    }
                    self.body.decoder = match size {
                        0 => Decoder::Trailers(HeadScanner::trailers()),
                        size => Decoder::ChunkData { remaining: size },
                    };
                }
                Decoder::ChunkEnd => {
                    if self.rbuf.len() < 2 {
                        self.fill_body()?;
                        continue;
                    }
                    if &self.rbuf[..2] != b"\r\n" {
                        let error = HttpError::BadRequest("chunk data not followed by CRLF");
                        return Err(self.fail(error, ErrorKind::InvalidData));
                    }
                    self.rbuf.advance(2);
                    self.body.decoder = Decoder::ChunkSize;
                }
                Decoder::Trailers(scanner) => match scanner.scan(&self.rbuf, &self.config) {
                    Ok(Some(len)) => {
                        let fields = scanner.fields();
                        let trailers = match parse_trailers(&self.rbuf[..len], fields, &self.config)
                        {
                            Ok(trailers) => trailers,
                            Err(error) => return Err(self.fail(error, ErrorKind::InvalidData)),
                        };
                        self.rbuf.advance(len);
                        self.body.trailers = (!trailers.is_empty()).then_some(trailers);
                        self.body.decoder = Decoder::Done;
                        return Ok(0);
                    }
                    Ok(None) => self.fill_body()?,
                    Err(error) => return Err(self.fail(error, ErrorKind::InvalidData)),
                },
            }
        }
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

/// The connection state lent to the request's [`Body`] while the
/// application runs: `None` once the engine has taken it back, and then
/// reads fail as for an answered request.
///
/// [`Body`]: super::Body
impl<S: Transport + Send> BodySource for Option<ConnIo<S>> {
    fn read_body(&mut self, id: u64, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Some(io) => io.read_current(id, buf),
            None => Err(answered()),
        }
    }

    fn trailers(&self, id: u64) -> Option<HeaderMap> {
        let io = self.as_ref()?;
        (id == io.body.id)
            .then(|| io.body.trailers.clone())
            .flatten()
    }
}

fn answered() -> io::Error {
    io::Error::other("the request of this body has been answered")
}

impl<S: Transport> ConnIo<S> {
    /// Reads decoded body bytes of request `id` (see [`BodySource`]).
    fn read_current(&mut self, id: u64, buf: &mut [u8]) -> io::Result<usize> {
        if id != self.body.id {
            return Err(answered());
        }
        if let Some(error) = &self.body.error {
            return Err(io::Error::new(ErrorKind::InvalidData, error.to_string()));
        }
        if buf.is_empty() || self.body_done() {
            return Ok(0);
        }
        if std::mem::take(&mut self.body.continue_pending) {
            self.wbuf.extend_from_slice(CONTINUE);
            self.flush()?;
        }
        self.decode(buf)
    }
}
