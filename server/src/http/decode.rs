//! Request body decoding: Content-Length and chunked bodies, trailers, draining.
//!
//! The decoder reads from the connection's read buffer, filling it as
//! needed; chunked covers chunk-size lines, chunk extensions and the
//! trailer section.

use std::io::{self, ErrorKind};
use std::time::{Duration, Instant};

use bytes::Buf;
use http::header::{self, HeaderName, HeaderValue};
use http::HeaderMap;

use super::config::{HttpConfig, UnderscoreHeaders};
use super::error::HttpError;
use super::framing::Framing;
use super::io::ConnIo;
use super::parse::HeadScanner;
use super::transport::Transport;

/// Longest chunk-size line (size and extensions).
const MAX_CHUNK_LINE: usize = 4096;

/// Most chunk-extension bytes in one body (hyper's limit): extensions are
/// ignored, so they must not cost more than a little wire.
pub(crate) const MAX_CHUNK_EXTENSIONS: u64 = 16 * 1024;

/// Where the decoding of one request body stands.
#[derive(Debug)]
enum State {
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

/// The decoder of one request's body: reads from a [`ConnIo`]'s buffer
/// (filling it as needed) and remembers the first framing error, which the
/// engine answers instead of the application's response.
#[derive(Debug)]
pub(crate) struct Decoder {
    state: State,
    /// Decoded bytes so far.
    received: u64,
    /// Bytes taken off the wire so far: data, chunk lines, CRLFs, trailers.
    wire: u64,
    /// Chunk-extension bytes so far.
    extensions: u64,
    /// Time spent waiting for the client's bytes so far (the minimum rate
    /// counts only that, not the time the application takes between reads).
    waited: Duration,
    error: Option<HttpError>,
    trailers: Option<HeaderMap>,
}

impl Decoder {
    /// A decoder for a body delimited by `framing`.
    pub(crate) fn new(framing: Framing) -> Decoder {
        Decoder {
            state: match framing {
                Framing::Empty | Framing::UntilClose => State::Done,
                Framing::Length(len) => State::Length { remaining: len },
                Framing::Chunked => State::ChunkSize,
            },
            received: 0,
            wire: 0,
            extensions: 0,
            waited: Duration::ZERO,
            error: None,
            trailers: None,
        }
    }

    /// Takes `n` bytes off the front of the read buffer.
    fn consume<S>(&mut self, io: &mut ConnIo<S>, n: usize) {
        io.rbuf.advance(n);
        self.wire += n as u64;
    }

    /// Whether the body has been read to its end.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The framing error met while reading the body, if any.
    pub(crate) fn error(&self) -> Option<&HttpError> {
        self.error.as_ref()
    }

    /// The trailer fields, once a chunked body has been read whole.
    pub(crate) fn trailers(&self) -> Option<&HeaderMap> {
        self.trailers.as_ref()
    }

    /// Bytes of a Content-Length body not yet read, if the body has one.
    pub(crate) fn known_remaining(&self) -> Option<u64> {
        match self.state {
            State::Length { remaining } => Some(remaining),
            State::Done => Some(0),
            _ => None,
        }
    }

    /// Reads decoded body bytes into `buf`; `Ok(0)` at the body's end. A
    /// body that failed keeps failing.
    pub(crate) fn read<S: Transport>(
        &mut self,
        io: &mut ConnIo<S>,
        config: &HttpConfig,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        if let Some(error) = &self.error {
            return Err(io::Error::new(ErrorKind::InvalidData, error.to_string()));
        }
        if buf.is_empty() || self.is_done() {
            return Ok(0);
        }
        self.decode(io, config, buf)
    }

    /// Reads and discards the rest of the body, as long as it takes at
    /// most `limit` bytes of wire (chunk framing counts); `true` if the
    /// body ended cleanly within them.
    pub(crate) fn drain<S: Transport>(
        &mut self,
        io: &mut ConnIo<S>,
        config: &HttpConfig,
        limit: u64,
    ) -> bool {
        let mut scratch = [0u8; 4096];
        let start = self.wire;
        while !self.is_done() {
            match self.read(io, config, &mut scratch) {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => return false,
            }
            if self.wire - start > limit {
                return false;
            }
        }
        self.error.is_none()
    }

    fn fail(&mut self, error: HttpError, kind: ErrorKind) -> io::Error {
        let message = error.to_string();
        if self.error.is_none() {
            self.error = Some(error);
        }
        io::Error::new(kind, message)
    }

    /// How long the next read may wait: `body_timeout`, and no longer than
    /// the minimum rate allows; `None` when the body is already late.
    fn read_timeout(&self, config: &HttpConfig) -> Option<Option<Duration>> {
        let Some(grace) = config.body_timeout else {
            return Some(None);
        };
        let Some(rate) = config.body_min_rate.filter(|&rate| rate > 0) else {
            return Some(Some(grace));
        };
        let earned = Duration::from_millis(self.received.saturating_mul(1000) / rate);
        let allowed = grace.saturating_add(earned);
        match allowed.checked_sub(self.waited) {
            Some(left) if !left.is_zero() => Some(Some(left.min(grace))),
            _ => None,
        }
    }

    /// Fills the read buffer; a closed stream is an incomplete body, a
    /// timed-out read (or a body slower than the minimum rate) a 408.
    fn fill<S: Transport>(&mut self, io: &mut ConnIo<S>, config: &HttpConfig) -> io::Result<()> {
        let Some(timeout) = self.read_timeout(config) else {
            return Err(self.fail(HttpError::RequestTimeout, ErrorKind::TimedOut));
        };
        if let Err(e) = io.set_read_timeout(timeout) {
            self.error
                .get_or_insert(HttpError::BadRequest("request body unreadable"));
            return Err(e);
        }
        let started = Instant::now();
        let filled = io.fill();
        self.waited += started.elapsed();
        match filled {
            Ok(0) => Err(self.fail(
                HttpError::BadRequest("request body ended early"),
                ErrorKind::UnexpectedEof,
            )),
            Ok(_) => Ok(()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(self.fail(HttpError::RequestTimeout, e.kind()))
            }
            Err(e) => {
                if self.error.is_none() {
                    self.error = Some(HttpError::BadRequest("request body unreadable"));
                }
                Err(e)
            }
        }
    }

    /// Copies up to `remaining` buffered body bytes into `buf`.
    fn take_data<S: Transport>(
        &mut self,
        io: &mut ConnIo<S>,
        config: &HttpConfig,
        remaining: u64,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        if io.rbuf.is_empty() {
            self.fill(io, config)?;
        }
        let n = (io.rbuf.len() as u64).min(remaining).min(buf.len() as u64) as usize;
        buf[..n].copy_from_slice(&io.rbuf[..n]);
        self.consume(io, n);
        self.received += n as u64;
        Ok(n)
    }

    fn decode<S: Transport>(
        &mut self,
        io: &mut ConnIo<S>,
        config: &HttpConfig,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        loop {
            match &mut self.state {
                State::Done => return Ok(0),
                State::Length { remaining } => {
                    let remaining = *remaining;
                    let n = self.take_data(io, config, remaining, buf)?;
                    self.state = match remaining - n as u64 {
                        0 => State::Done,
                        left => State::Length { remaining: left },
                    };
                    return Ok(n);
                }
                State::ChunkData { remaining } => {
                    let remaining = *remaining;
                    let n = self.take_data(io, config, remaining, buf)?;
                    self.state = match remaining - n as u64 {
                        0 => State::ChunkEnd,
                        left => State::ChunkData { remaining: left },
                    };
                    return Ok(n);
                }
                State::ChunkSize => {
                    let newline = memchr::memchr(b'\n', &io.rbuf);
                    // The line's length is checked whether or not its end
                    // has arrived.
                    if newline.unwrap_or(io.rbuf.len()) > MAX_CHUNK_LINE + 1 {
                        let error = HttpError::BadRequest("chunk-size line too long");
                        return Err(self.fail(error, ErrorKind::InvalidData));
                    }
                    let Some(newline) = newline else {
                        self.fill(io, config)?;
                        continue;
                    };
                    if newline == 0 || io.rbuf[newline - 1] != b'\r' {
                        let error = HttpError::BadRequest("chunk-size line not ended by CRLF");
                        return Err(self.fail(error, ErrorKind::InvalidData));
                    }
                    let (size, extensions) = match parse_chunk_size(&io.rbuf[..newline - 1]) {
                        Ok(parsed) => parsed,
                        Err(error) => return Err(self.fail(error, ErrorKind::InvalidData)),
                    };
                    self.extensions += extensions as u64;
                    if self.extensions > MAX_CHUNK_EXTENSIONS {
                        let error = HttpError::BadRequest("too many chunk-extension bytes");
                        return Err(self.fail(error, ErrorKind::InvalidData));
                    }
                    self.consume(io, newline + 1);
                    if let Some(limit) = config.limit_request_body {
                        if self.received.saturating_add(size) > limit {
                            let error = HttpError::PayloadTooLarge;
                            return Err(self.fail(error, ErrorKind::InvalidData));
                        }
                    }
                    self.state = match size {
                        0 => State::Trailers(HeadScanner::trailers()),
                        size => State::ChunkData { remaining: size },
                    };
                }
                State::ChunkEnd => {
                    if io.rbuf.len() < 2 {
                        self.fill(io, config)?;
                        continue;
                    }
                    if &io.rbuf[..2] != b"\r\n" {
                        let error = HttpError::BadRequest("chunk data not followed by CRLF");
                        return Err(self.fail(error, ErrorKind::InvalidData));
                    }
                    self.consume(io, 2);
                    self.state = State::ChunkSize;
                }
                State::Trailers(scanner) => match scanner.scan(&io.rbuf, config) {
                    Ok(Some(len)) => {
                        let fields = scanner
                            .fields()
                            .expect("a trailer section is scanned line by line");
                        let trailers = match parse_trailers(&io.rbuf[..len], fields, config) {
                            Ok(trailers) => trailers,
                            Err(error) => return Err(self.fail(error, ErrorKind::InvalidData)),
                        };
                        self.consume(io, len);
                        self.trailers = (!trailers.is_empty()).then_some(trailers);
                        self.state = State::Done;
                        return Ok(0);
                    }
                    Ok(None) => self.fill(io, config)?,
                    Err(error) => return Err(self.fail(error, ErrorKind::InvalidData)),
                },
            }
        }
    }
}

/// Parses a chunk-size line without its CRLF:
/// `1*HEXDIG *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )`;
/// the size, and how many bytes follow it (the extensions).
fn parse_chunk_size(line: &[u8]) -> Result<(u64, usize), HttpError> {
    const BAD_SIZE: HttpError = HttpError::BadRequest("invalid chunk size");
    const BAD_EXT: HttpError = HttpError::BadRequest("invalid chunk extension");
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(BAD_SIZE);
    }
    let significant = line[..digits].iter().skip_while(|&&b| b == b'0').count();
    if significant > 15 {
        return Err(BAD_SIZE);
    }
    let size = line[..digits].iter().fold(0u64, |n, &b| {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => b - b'A' + 10,
        };
        n << 4 | u64::from(digit)
    });
    let rest = &line[digits..];
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < rest.len() && matches!(rest[*i], b' ' | b'\t') {
            *i += 1;
        }
    };
    let mut extensions = 0;
    loop {
        skip_ws(&mut i);
        if i == rest.len() {
            return if extensions > 0 || rest.is_empty() {
                Ok((size, rest.len()))
            } else {
                Err(BAD_SIZE)
            };
        }
        if rest[i] != b';' {
            return Err(if extensions == 0 && i == 0 {
                BAD_SIZE
            } else {
                BAD_EXT
            });
        }
        i += 1;
        skip_ws(&mut i);
        let name = rest[i..].iter().take_while(|&&b| is_tchar(b)).count();
        if name == 0 {
            return Err(BAD_EXT);
        }
        i += name;
        skip_ws(&mut i);
        if i < rest.len() && rest[i] == b'=' {
            i += 1;
            skip_ws(&mut i);
            if i < rest.len() && rest[i] == b'"' {
                i += 1;
                loop {
                    match rest.get(i) {
                        Some(b'"') => break,
                        Some(b'\\')
                            if rest
                                .get(i + 1)
                                .is_some_and(|&b| is_qdtext(b) || b == b'"' || b == b'\\') =>
                        {
                            i += 2
                        }
                        Some(&b) if is_qdtext(b) => i += 1,
                        _ => return Err(BAD_EXT),
                    }
                }
                i += 1;
            } else {
                let value = rest[i..].iter().take_while(|&&b| is_tchar(b)).count();
                if value == 0 {
                    return Err(BAD_EXT);
                }
                i += value;
            }
        }
        extensions += 1;
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_qdtext(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5B | 0x5D..=0x7E | 0x80..=0xFF)
}

/// Header fields that must not appear in a trailer section (RFC 9110 6.5.1):
/// framing, routing, request modifiers, authentication and content coding.
/// (`Content-Type` is allowed, as gunicorn's corpus expects; trailers never
/// replace header fields, the app reads them apart.)
const FORBIDDEN_TRAILERS: [HeaderName; 16] = [
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::HOST,
    header::TRAILER,
    header::TE,
    header::CONNECTION,
    header::UPGRADE,
    header::EXPECT,
    header::RANGE,
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_UNMODIFIED_SINCE,
    header::AUTHORIZATION,
    header::CONTENT_ENCODING,
    header::CACHE_CONTROL,
];

/// Parses a complete trailer section of `fields` fields (its empty line
/// included), as delimited by a [`HeadScanner::trailers`].
fn parse_trailers(
    section: &[u8],
    fields: usize,
    config: &HttpConfig,
) -> Result<HeaderMap, HttpError> {
    let mut slots = vec![httparse::EMPTY_HEADER; fields];
    match httparse::parse_headers(section, &mut slots) {
        Ok(httparse::Status::Complete((len, parsed))) if len == section.len() => {
            let mut trailers = HeaderMap::with_capacity(parsed.len());
            for field in parsed {
                if field.name.contains('_') {
                    match config.underscore_headers {
                        UnderscoreHeaders::Drop => continue,
                        UnderscoreHeaders::Refuse => {
                            return Err(HttpError::BadRequest("trailer name with underscore"))
                        }
                        UnderscoreHeaders::Keep => {}
                    }
                }
                let name = HeaderName::from_bytes(field.name.as_bytes())
                    .map_err(|_| HttpError::BadRequest("invalid trailer name"))?;
                if FORBIDDEN_TRAILERS.contains(&name) {
                    return Err(HttpError::BadRequest("forbidden trailer field"));
                }
                let value = HeaderValue::from_bytes(field.value)
                    .map_err(|_| HttpError::BadRequest("invalid trailer value"))?;
                trailers.append(name, value);
            }
            Ok(trailers)
        }
        _ => Err(HttpError::BadRequest("malformed trailer section")),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_chunk_size;

    #[test]
    fn chunk_sizes() {
        for (line, size) in [
            (&b"5"[..], 5),
            (b"000", 0),
            (b"A", 10),
            (b"0005", 5),
            (b"5; some; parameters=stuff", 5),
            (b"5;foo=\"bar baz\"", 5),
            (b"5 ;a", 5),
            (b"ffffffffffffff", 0x00ff_ffff_ffff_ffff),
        ] {
            assert_eq!(
                parse_chunk_size(line).map(|(size, _)| size),
                Ok(size),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
        for line in [
            &b""[..],
            b" 0",
            b"0 ",
            b"6_0",
            b"-5",
            b"+5",
            b" ;foo=bar",
            b"5;ext=val\rue",
            b"5;",
            b"5;a=",
            b"5;a=\"open",
            b"10000000000000000",
            b"0x5",
        ] {
            assert!(
                parse_chunk_size(line).is_err(),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
