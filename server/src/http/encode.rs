//! Response framing: the head, Content-Length or chunked, bodiless responses, chunk coding.
//!
//! The head is the status line, the app's fields and the engine's (`Date`,
//! `Server`, `Connection`, the framing field chosen by [`framing`]); HEAD,
//! 1xx, 204 and 304 get no body; streamed bodies are chunk-coded for
//! HTTP/1.1. Also the canned responses: `100 Continue` and refusals.

use std::io::{self, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};

use http::header::{self, HeaderValue};
use http::{StatusCode, Version};

use super::body::{Payload, ResponseBody};
use super::config::HttpConfig;
use super::date::{self, DATE_LEN};
use super::error::HttpError;
use super::framing::{self, Framing};
use super::io::{ConnIo, FLUSH_AT};
use super::transport::Transport;

/// `HTTP/1.1 100 Continue`, sent at the first read of a body that expects it.
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What the engine knows about the request a response answers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answering {
    pub(crate) version: Version,
    /// The request's method was HEAD.
    pub(crate) head: bool,
    pub(crate) keep_alive: bool,
    /// The request's `Expect: 100-continue` has not been answered.
    pub(crate) continue_pending: bool,
    /// The response switches the connection to another protocol (`101`,
    /// or `2xx` to `CONNECT`): its head goes as the application made it,
    /// `Connection` included, with no body and no framing field.
    pub(crate) switching: bool,
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
    /// `Length`, `Chunked` or `UntilClose`; `Empty` for a length of 0.
    framing: Framing,
    keep_alive: bool,
}

/// Access to the connection's I/O for a streamed body: directly, or
/// through the lock it is lent behind while the app's reader may read the
/// request body.
pub(crate) trait IoAccess<S> {
    /// Runs `f` on the connection's I/O; fails if it is not available.
    fn with<R>(&mut self, f: impl FnOnce(&mut ConnIo<S>) -> R) -> io::Result<R>;
}

impl<S> IoAccess<S> for ConnIo<S> {
    fn with<R>(&mut self, f: impl FnOnce(&mut ConnIo<S>) -> R) -> io::Result<R> {
        Ok(f(self))
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
    // 1xx, 204 and 304 have no body and announce no length; a response to
    // HEAD has no body but announces the length a GET would get.
    let bodiless_status = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let no_body = answering.head || bodiless_status || answering.switching;
    let headers = &parts.headers;
    let payload = body.into_payload();
    let app_length = || {
        headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| framing::content_length(value.as_bytes()))
    };
    let length = match &payload {
        // HEAD announces what GET would send: the application's own
        // `Content-Length` when it gave no body.
        Payload::Bytes(bytes) if answering.head && bytes.is_empty() => app_length().or(Some(0)),
        Payload::Bytes(bytes) => Some(bytes.len() as u64),
        Payload::Stream { len: Some(len), .. } => Some(*len),
        Payload::Stream { len: None, .. } => app_length(),
    };
    let framing = framing::response_framing(no_body, length, answering.version);

    // A final response ends the chance of a `100 Continue`, except that a
    // streamed response may go on to read the request body (an echo): the
    // client is then told to send it first.
    if answering.continue_pending && !no_body && matches!(payload, Payload::Stream { .. }) {
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
    // One pass over the app's fields: its framing and `Connection` fields
    // are replaced by the engine's (a `close` among them is honoured).
    let (mut has_date, mut has_server, mut app_close) = (false, false, false);
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        if name == header::CONNECTION && !answering.switching {
            app_close |= has_close(value);
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
    if answering.switching {
        out.extend_from_slice(b"\r\n");
        return Ok(Rest::Done(false));
    }
    let keep_alive = answering.keep_alive && !app_close && framing != Framing::UntilClose;
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if answering.version != Version::HTTP_11 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    match (bodiless_status, length) {
        (false, Some(len)) => append_content_length(out, len),
        _ if framing == Framing::Chunked => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n")
        }
        _ => out.extend_from_slice(b"\r\n"),
    }
    if no_body {
        return Ok(Rest::Done(keep_alive));
    }
    match payload {
        Payload::Bytes(bytes) => {
            if bytes.len() >= FLUSH_AT {
                io.flush()?;
                io.stream.write_all(&bytes)?;
            } else {
                io.wbuf.extend_from_slice(&bytes);
            }
            Ok(Rest::Done(keep_alive))
        }
        Payload::Stream { reader, .. } => Ok(Rest::Stream(PendingStream {
            reader,
            framing,
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
            framing,
            keep_alive,
        } = self;
        let chunked = framing == Framing::Chunked;
        let mut scratch = vec![0u8; 16 * 1024];
        let mut remaining = match framing {
            Framing::Length(len) => Some(len),
            Framing::Empty => Some(0),
            Framing::Chunked | Framing::UntilClose => None,
        };
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
            })??;
        }
        if chunked {
            io.with(|io| io.wbuf.extend_from_slice(b"0\r\n\r\n"))?;
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
    let date = date::now();
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
