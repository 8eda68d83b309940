//! Response bodies and the serialization of responses into the write buffer.

use std::fmt;
use std::io::{self, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{StatusCode, Version};

use super::config::HttpConfig;
use super::conn::lock;
use super::date::DATE_LEN;
use super::error::HttpError;
use super::io::{ConnIo, CONTINUE, FLUSH_AT};
use super::transport::Transport;

/// A response body: bytes in memory, or a reader streamed to the client.
///
/// A stream of unknown length goes out chunked to HTTP/1.1 clients and
/// delimited by closing the connection to HTTP/1.0 clients. A stream's
/// length comes from [`ResponseBody::sized`] or else from a valid
/// `Content-Length` the application set.
///
/// # Examples
///
/// ```
/// use moss_server::ResponseBody;
/// let fixed = ResponseBody::from("Hello, World!");
/// let streamed = ResponseBody::stream(std::io::repeat(b'x').take(3));
/// # use std::io::Read;
/// # let _ = (fixed, streamed);
/// ```
pub struct ResponseBody {
    inner: Inner,
}

enum Inner {
    Bytes(Bytes),
    Stream {
        reader: Box<dyn Read + Send>,
        len: Option<u64>,
    },
}

impl ResponseBody {
    /// No body.
    pub fn empty() -> ResponseBody {
        ResponseBody::from(Bytes::new())
    }

    /// A body streamed from `reader` until it returns `Ok(0)`.
    pub fn stream(reader: impl Read + Send + 'static) -> ResponseBody {
        ResponseBody {
            inner: Inner::Stream {
                reader: Box::new(reader),
                len: None,
            },
        }
    }

    /// A body of exactly `len` bytes streamed from `reader`; a reader that
    /// ends early makes the engine close the connection.
    pub fn sized(reader: impl Read + Send + 'static, len: u64) -> ResponseBody {
        ResponseBody {
            inner: Inner::Stream {
                reader: Box::new(reader),
                len: Some(len),
            },
        }
    }

    /// The length, when known without reading.
    pub fn len_hint(&self) -> Option<u64> {
        match &self.inner {
            Inner::Bytes(bytes) => Some(bytes.len() as u64),
            Inner::Stream { len, .. } => *len,
        }
    }
}

impl Default for ResponseBody {
    fn default() -> ResponseBody {
        ResponseBody::empty()
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Bytes(bytes) => f.debug_tuple("ResponseBody").field(&bytes.len()).finish(),
            Inner::Stream { len, .. } => f
                .debug_struct("ResponseBody")
                .field("stream_len", len)
                .finish(),
        }
    }
}

impl From<Bytes> for ResponseBody {
    fn from(bytes: Bytes) -> ResponseBody {
        ResponseBody {
            inner: Inner::Bytes(bytes),
        }
    }
}

impl From<Vec<u8>> for ResponseBody {
    fn from(bytes: Vec<u8>) -> ResponseBody {
        ResponseBody::from(Bytes::from(bytes))
    }
}

impl From<String> for ResponseBody {
    fn from(text: String) -> ResponseBody {
        ResponseBody::from(Bytes::from(text))
    }
}

impl From<&'static str> for ResponseBody {
    fn from(text: &'static str) -> ResponseBody {
        ResponseBody::from(Bytes::from_static(text.as_bytes()))
    }
}

impl From<&'static [u8]> for ResponseBody {
    fn from(bytes: &'static [u8]) -> ResponseBody {
        ResponseBody::from(Bytes::from_static(bytes))
    }
}

/// What the engine knows about the request a response answers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answering {
    pub(crate) version: Version,
    pub(crate) head: bool,
    pub(crate) keep_alive: bool,
}

/// What remains of a response once its head is in the write buffer.
pub(crate) enum Rest {
    /// Nothing: the response is complete; whether the connection may stay open.
    Done(bool),
    /// A body to stream ([`PendingStream::send`]).
    Stream(PendingStream),
}

/// A streamed response body still to be copied to the connection.
pub(crate) struct PendingStream {
    reader: Box<dyn Read + Send>,
    length: Option<u64>,
    chunked: bool,
    keep_alive: bool,
}

/// Access to the connection state for a streamed body: directly, or
/// through the lock it is lent behind while the app's reader may read the
/// request body.
pub(crate) trait IoAccess<S> {
    /// Runs `f` on the connection state.
    fn with<R>(&mut self, f: impl FnOnce(&mut ConnIo<S>) -> R) -> R;
}

impl<S> IoAccess<S> for ConnIo<S> {
    fn with<R>(&mut self, f: impl FnOnce(&mut ConnIo<S>) -> R) -> R {
        f(self)
    }
}

impl<S> IoAccess<S> for &Mutex<Option<ConnIo<S>>> {
    fn with<R>(&mut self, f: impl FnOnce(&mut ConnIo<S>) -> R) -> R {
        let mut guard = lock(self);
        f(guard
            .as_mut()
            .expect("the state stays lent while a body streams"))
    }
}

/// `HTTP/1.1 <code> <reason>\r\n` for the usual statuses.
fn status_line(status: StatusCode) -> Option<&'static [u8]> {
    Some(match status.as_u16() {
        200 => b"HTTP/1.1 200 OK\r\n",
        201 => b"HTTP/1.1 201 Created\r\n",
        204 => b"HTTP/1.1 204 No Content\r\n",
        301 => b"HTTP/1.1 301 Moved Permanently\r\n",
        302 => b"HTTP/1.1 302 Found\r\n",
        304 => b"HTTP/1.1 304 Not Modified\r\n",
        400 => b"HTTP/1.1 400 Bad Request\r\n",
        404 => b"HTTP/1.1 404 Not Found\r\n",
        500 => b"HTTP/1.1 500 Internal Server Error\r\n",
        _ => return None,
    })
}

/// Writes the head of `response` into the write buffer, and a bytes body
/// with it; a streamed body is returned to be sent with
/// [`PendingStream::send`].
pub(crate) fn write_response<S: Transport>(
    io: &mut ConnIo<S>,
    response: http::Response<ResponseBody>,
    answering: Answering,
    config: &HttpConfig,
) -> io::Result<Rest> {
    let (parts, body) = response.into_parts();
    let status = parts.status;
    let bodiless_status = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let no_body = answering.head || bodiless_status;
    let headers = &parts.headers;
    let app_close =
        !headers.is_empty() && headers.get_all(header::CONNECTION).iter().any(has_close);
    let length = match &body.inner {
        Inner::Bytes(bytes) => Some(bytes.len() as u64),
        Inner::Stream { len: Some(len), .. } => Some(*len),
        Inner::Stream { len: None, .. } => headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 19 && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse().ok()),
    };
    let http11 = answering.version == Version::HTTP_11;
    let chunked = !no_body && length.is_none() && http11;
    let close_delimited = !no_body && length.is_none() && !http11;
    let keep_alive = answering.keep_alive && !app_close && !close_delimited;

    // A final response ends the chance of a `100 Continue`, except that a
    // streamed response may go on to read the request body (an echo): the
    // client is then told to send it first.
    if io.take_continue() && !no_body && matches!(body.inner, Inner::Stream { .. }) {
        io.wbuf.extend_from_slice(CONTINUE);
    }
    let date = io.date();
    let out = &mut io.wbuf;
    match status_line(status) {
        Some(line) => out.extend_from_slice(line),
        None => {
            out.extend_from_slice(b"HTTP/1.1 ");
            out.extend_from_slice(status.as_str().as_bytes());
            out.push(b' ');
            out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    let (mut has_date, mut has_server) = (false, false);
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || name == header::CONNECTION
        {
            continue;
        }
        has_date |= name == header::DATE;
        has_server |= name == header::SERVER;
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !has_date {
        let mut field = [0; DATE_FIELD_LEN];
        field[..6].copy_from_slice(b"Date: ");
        field[6..6 + DATE_LEN].copy_from_slice(&date);
        field[6 + DATE_LEN..].copy_from_slice(b"\r\n");
        out.extend_from_slice(&field);
    }
    if let (false, Some(server)) = (has_server, &config.server_header) {
        out.extend_from_slice(b"Server: ");
        out.extend_from_slice(server.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if !http11 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    if !bodiless_status {
        if let Some(len) = length {
            append_content_length(out, len);
        } else if chunked {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        } else {
            out.extend_from_slice(b"\r\n");
        }
    } else {
        out.extend_from_slice(b"\r\n");
    }
    if no_body {
        return Ok(Rest::Done(keep_alive));
    }
    match body.inner {
        Inner::Bytes(bytes) => {
            if bytes.len() >= FLUSH_AT {
                io.flush()?;
                io.stream.write_all(&bytes)?;
            } else {
                io.wbuf.extend_from_slice(&bytes);
            }
            Ok(Rest::Done(keep_alive))
        }
        Inner::Stream { reader, .. } => Ok(Rest::Stream(PendingStream {
            reader,
            length,
            chunked,
            keep_alive,
        })),
    }
}

/// `Date: <IMF-fixdate>\r\n`.
const DATE_FIELD_LEN: usize = 6 + DATE_LEN + 2;

impl PendingStream {
    /// Copies the body into the connection (the state is held only while
    /// bytes are appended, never while the app's reader runs). Returns
    /// whether the connection may stay open: not if the body ended before
    /// its declared length.
    pub(crate) fn send<S: Transport>(self, io: &mut impl IoAccess<S>) -> io::Result<bool> {
        let PendingStream {
            mut reader,
            length,
            chunked,
            keep_alive,
        } = self;
        let mut scratch = vec![0u8; 16 * 1024];
        let mut remaining = length;
        loop {
            let want = match remaining {
                Some(0) => break,
                Some(left) => scratch
                    .len()
                    .min(usize::try_from(left).unwrap_or(usize::MAX)),
                None => scratch.len(),
            };
            let read = catch_unwind(AssertUnwindSafe(|| loop {
                match reader.read(&mut scratch[..want]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            }));
            let n = match read {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    log::warn!("response body stream failed: {e}");
                    return Ok(false);
                }
                Err(_) => {
                    log::error!("response body stream panicked");
                    return Ok(false);
                }
            };
            if n == 0 {
                if remaining.is_some() {
                    return Ok(false);
                }
                break;
            }
            if let Some(left) = &mut remaining {
                *left -= n as u64;
            }
            io.with(|io| {
                if chunked {
                    append_hex(&mut io.wbuf, n);
                    io.wbuf.extend_from_slice(b"\r\n");
                    io.wbuf.extend_from_slice(&scratch[..n]);
                    io.wbuf.extend_from_slice(b"\r\n");
                } else {
                    io.wbuf.extend_from_slice(&scratch[..n]);
                }
                match io.wbuf.len() >= FLUSH_AT {
                    true => io.flush(),
                    false => Ok(()),
                }
            })?;
        }
        if chunked {
            io.with(|io| io.wbuf.extend_from_slice(b"0\r\n\r\n"));
        }
        Ok(keep_alive)
    }
}

fn has_close(value: &HeaderValue) -> bool {
    value
        .as_bytes()
        .split(|&b| b == b',')
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"))
}

/// Appends the canned response for a refused request (never echoing input).
pub(crate) fn write_refusal(out: &mut Vec<u8>, error: &HttpError, config: &HttpConfig) {
    let date = super::date::now();
    let status = error.status();
    let reason = status.canonical_reason().unwrap_or("Error");
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(
        b"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nDate: ",
    );
    out.extend_from_slice(&date);
    if let Some(server) = &config.server_header {
        out.extend_from_slice(b"\r\nServer: ");
        out.extend_from_slice(server.as_bytes());
    }
    out.extend_from_slice(b"\r\nContent-Length: ");
    append_decimal(out, (status.as_str().len() + 1 + reason.len() + 1) as u64);
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.push(b'\n');
}

/// `Content-Length: <len>\r\n\r\n`, the end of a head.
fn append_content_length(out: &mut Vec<u8>, len: u64) {
    const PREFIX: &[u8] = b"Content-Length: ";
    let mut field = [0u8; PREFIX.len() + 20 + 4];
    field[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut end = PREFIX.len();
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut value = len;
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    field[end..end + digits.len() - at].copy_from_slice(&digits[at..]);
    end += digits.len() - at;
    field[end..end + 4].copy_from_slice(b"\r\n\r\n");
    out.extend_from_slice(&field[..end + 4]);
}

fn append_decimal(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

fn append_hex(out: &mut Vec<u8>, mut value: usize) {
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b"0123456789abcdef"[value & 15];
        value >>= 4;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}
