//! The handshake, bounded by a deadline, and [`TlsStream`]: a [`Transport`] that runs rustls over any other.
//!
//! ```text
//!   engine ─ read/try_read ─▶ plaintext rustls holds ─(none)─▶ read_tls(socket) ─▶ decrypt
//!   engine ─ write ─────────▶ rustls ─▶ write_tls(socket), at once
//! ```
//!
//! rustls may hold bytes already taken from the socket: decrypted
//! plaintext the engine has not read yet, or the end of the stream. A
//! connection with such bytes must not wait for the socket to become
//! readable (nothing more may come): [`TlsStream::wait_readable`] returns
//! at once, and [`Transport::has_buffered_input`] tells a poller (the
//! `gthread` worker's) to serve the connection again instead of waiting.
//! A partial TLS record is not such a byte: its rest must come from the
//! socket.

use std::fmt;
use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection};

use crate::Transport;

/// The answer to a plain HTTP request on a TLS listener (as nginx gives).
const PLAIN_HTTP_ANSWER: &str = "HTTP/1.1 400 Bad Request\r\n\
    Content-Type: text/plain; charset=utf-8\r\n\
    Content-Length: 38\r\n\
    Connection: close\r\n\
    \r\n\
    plain HTTP request sent to HTTPS port\n";

/// How long, and how much, a plain HTTP client's request is read and
/// discarded after the answer, so that it reads the answer rather than a
/// reset.
const LINGER_TIME: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;

/// The peer as log lines name it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub(crate) Option<SocketAddr>);

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => write!(f, "{addr}"),
            None => f.write_str("a Unix socket client"),
        }
    }
}

/// A TLS connection over `S`, after its handshake.
pub(crate) struct TlsStream<S: Transport> {
    tls: ServerConnection,
    sock: S,
    /// Decrypted bytes rustls holds that have not been read.
    plaintext: usize,
    /// The peer closed (close_notify, or the socket's end of stream): a
    /// read returns at once.
    ended: bool,
    /// A send failed (a write timeout, a reset): no close_notify is tried
    /// at the drop, which would wait for the write timeout again.
    broken: bool,
    /// The read timeout the engine set: a bound on each of its reads and
    /// waits, whatever number of socket reads a record takes.
    read_timeout: Option<Duration>,
    /// When the rest of a record that has begun to arrive must be there
    /// (see [`TlsStream::wait_readable`]).
    record_deadline: Option<Instant>,
}

/// Shakes hands on `sock` within `deadline`: the stream, or `None` once
/// the failure is logged (naming `peer`) and the connection answered or
/// alerted. A plain HTTP request gets a plain `400` saying so.
pub(crate) fn handshake<S: Transport>(
    mut sock: S,
    config: &Arc<ServerConfig>,
    deadline: Duration,
    peer: Peer,
) -> Option<TlsStream<S>> {
    let until = Instant::now()
        .checked_add(deadline)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
    match shake(&mut sock, config, until) {
        Ok(Some(tls)) => {
            // The engine starts from no read timeout, and sets its own.
            if let Err(error) = sock.set_read_timeout(None) {
                log::info!("TLS connection from {peer} failed: {error}");
                return None;
            }
            let mut stream = TlsStream {
                tls,
                sock,
                plaintext: 0,
                ended: false,
                broken: false,
                read_timeout: None,
                record_deadline: None,
            };
            // The client's first request may have come with its last
            // handshake message: rustls holds it decrypted already.
            if let Err(error) = stream.decrypt() {
                log::info!("TLS connection from {peer} failed: {error}");
                return None;
            }
            Some(stream)
        }
        Ok(None) => {
            log::info!("plain HTTP request sent to the HTTPS port from {peer}: answered 400");
            answer_plain_http(&mut sock, until);
            None
        }
        Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            log::info!("TLS handshake with {peer} failed: not done within {deadline:?}");
            None
        }
        Err(error) => {
            log::info!("TLS handshake with {peer} failed: {error}");
            None
        }
    }
}

/// The time left before `until`, as a timeout; `TimedOut` once past.
fn left(until: Instant) -> io::Result<Duration> {
    match until.saturating_duration_since(Instant::now()) {
        left if left.is_zero() => Err(ErrorKind::TimedOut.into()),
        left => Ok(left.max(Duration::from_millis(1))),
    }
}

/// The handshake; `Ok(None)` for a client speaking plain HTTP.
fn shake<S: Transport>(
    sock: &mut S,
    config: &Arc<ServerConfig>,
    until: Instant,
) -> io::Result<Option<ServerConnection>> {
    let mut tls = ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
    sock.set_write_timeout(Some(left(until)?))?;
    // The first bytes tell TLS (a handshake record, 0x16) from plain HTTP
    // (a method's letters).
    let mut first = [0; 1024];
    sock.set_read_timeout(Some(left(until)?))?;
    let n = read_retrying(sock, &mut first)?;
    if n == 0 {
        return Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            "closed before the handshake",
        ));
    }
    if first[0].is_ascii_alphabetic() {
        return Ok(None);
    }
    let mut received = &first[..n];
    while !received.is_empty() {
        tls.read_tls(&mut received)?;
        process(&mut tls, sock)?;
    }
    while tls.is_handshaking() {
        sock.set_write_timeout(Some(left(until)?))?;
        send_pending(&mut tls, sock)?;
        if !tls.is_handshaking() {
            break;
        }
        sock.set_read_timeout(Some(left(until)?))?;
        let read = loop {
            match tls.read_tls(sock) {
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if read == 0 {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                "closed during the handshake",
            ));
        }
        process(&mut tls, sock)?;
    }
    // TLS 1.3 session tickets follow the handshake.
    send_pending(&mut tls, sock)?;
    Ok(Some(tls))
}

/// Decrypts what was read; on a TLS error, sends rustls's alert (best
/// effort) and returns the error.
fn process<S: Write>(tls: &mut ServerConnection, sock: &mut S) -> io::Result<rustls::IoState> {
    tls.process_new_packets().map_err(|error| {
        let _ = send_pending(tls, sock);
        io::Error::new(ErrorKind::InvalidData, error)
    })
}

/// Sends every TLS byte rustls has queued.
fn send_pending<S: Write>(tls: &mut ServerConnection, sock: &mut S) -> io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(sock) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    sock.flush()
}

fn read_retrying<S: Read>(sock: &mut S, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match sock.read(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Answers a plain HTTP client with a `400`, then reads and discards what
/// it sent for a short while, until it closes.
fn answer_plain_http<S: Transport>(sock: &mut S, until: Instant) {
    let _ = sock.set_write_timeout(Some(LINGER_TIME));
    if sock.write_all(PLAIN_HTTP_ANSWER.as_bytes()).is_err() || sock.flush().is_err() {
        return;
    }
    let _ = sock.shutdown_write();
    let linger = until.min(Instant::now() + LINGER_TIME);
    let (mut sink, mut discarded) = ([0; 4096], 0);
    while discarded < LINGER_BYTES {
        let Ok(timeout) = left(linger) else { return };
        if sock.set_read_timeout(Some(timeout)).is_err() {
            return;
        }
        match read_retrying(sock, &mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => discarded += n,
        }
    }
}

/// Reads with the inner stream's `try_read`, for rustls's `read_tls`.
struct TryRead<'a, S>(&'a mut S);

impl<S: Transport> Read for TryRead<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl<S: Transport> TlsStream<S> {
    /// The protocol ALPN chose, if the client offered any.
    #[cfg(test)]
    pub(crate) fn alpn_protocol(&self) -> Option<&[u8]> {
        self.tls.alpn_protocol()
    }

    /// Reads plaintext rustls already holds; `None` when it holds none and
    /// the stream has not ended.
    fn read_plaintext(&mut self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        match self.tls.reader().read(buf) {
            Ok(n) => {
                self.plaintext = self.plaintext.saturating_sub(n);
                if n == 0 {
                    self.ended = true;
                }
                Some(Ok(n))
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                self.plaintext = 0;
                None
            }
            // The peer closed without close_notify: the engine delimits
            // its messages itself, so this is an end of stream like
            // another.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                self.ended = true;
                Some(Ok(0))
            }
            Err(e) => Some(Err(e)),
        }
    }

    /// Sends every TLS byte rustls has queued, remembering a failure.
    fn send(&mut self) -> io::Result<()> {
        let sent = send_pending(&mut self.tls, &mut self.sock);
        self.broken |= sent.is_err();
        sent
    }

    /// Decrypts what `read_tls` took from the socket.
    fn decrypt(&mut self) -> io::Result<()> {
        let state = process(&mut self.tls, &mut self.sock)?;
        self.plaintext = state.plaintext_bytes_to_read();
        self.ended |= state.peer_has_closed();
        Ok(())
    }

    /// The socket's read timeout made the time left until `deadline`;
    /// `TimedOut` once it has passed.
    fn arm(&mut self, deadline: Instant) -> io::Result<()> {
        match deadline.saturating_duration_since(Instant::now()) {
            left if left.is_zero() => Err(ErrorKind::TimedOut.into()),
            left => self.sock.set_read_timeout(Some(left)),
        }
    }

    /// [`Read::read`] once a deadline bounds it: every socket read after
    /// the first gets only the time left, so a client that trickles a
    /// record byte by byte cannot stretch one timeout into one per byte.
    fn read_until(&mut self, buf: &mut [u8], deadline: Option<Instant>) -> io::Result<usize> {
        let mut first = true;
        loop {
            if let Some(read) = self.read_plaintext(buf) {
                return read;
            }
            // A key update's answer, say, goes before a wait for more.
            self.send()?;
            match deadline {
                Some(deadline) if !first => self.arm(deadline)?,
                _ => first = false,
            }
            self.tls.read_tls(&mut self.sock)?;
            self.decrypt()?;
        }
    }
}

impl<S: Transport> Read for TlsStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let deadline = self
            .read_timeout
            .and_then(|timeout| Instant::now().checked_add(timeout));
        let read = self.read_until(buf, deadline);
        if deadline.is_some() {
            // Back to the engine's timeout for the next call.
            let timeout = self.read_timeout;
            self.sock.set_read_timeout(timeout)?;
        }
        read
    }
}

impl<S: Transport> Write for TlsStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.tls.writer().write(buf)?;
        self.send()?;
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let n = self.tls.writer().write_vectored(bufs)?;
        self.send()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tls.writer().flush()?;
        self.send()
    }
}

/// Timeouts are the socket's; a half-close sends close_notify first.
impl<S: Transport> Transport for TlsStream<S> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeout = timeout;
        self.record_deadline = None;
        self.sock.set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_write_timeout(timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.tls.send_close_notify();
        self.send()?;
        self.sock.shutdown_write()
    }

    /// At once while rustls holds plaintext (or the stream has ended);
    /// else the socket's wait. A partial record waits for its rest, but
    /// only until one read timeout after it began to arrive
    /// ([`TlsStream::try_read`] sets that deadline): the engine's wait
    /// would otherwise start again with each byte of a trickled record.
    fn wait_readable(&mut self) -> io::Result<bool> {
        if self.has_buffered_input() {
            return Ok(true);
        }
        self.send()?;
        let Some(deadline) = self.record_deadline else {
            return self.sock.wait_readable();
        };
        self.arm(deadline)?;
        let ready = self.sock.wait_readable();
        let timeout = self.read_timeout;
        self.sock.set_read_timeout(timeout)?;
        ready
    }

    /// Plaintext rustls holds, else whatever the socket's `try_read` gives
    /// rustls, decrypted; `WouldBlock` when no whole record has arrived.
    /// Never writes (a TLS alert or answer waits for the next write).
    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if let Some(read) = self.read_plaintext(buf) {
                self.record_deadline = None;
                return read;
            }
            self.tls.read_tls(&mut TryRead(&mut self.sock))?;
            let state = self
                .tls
                .process_new_packets()
                .map_err(|error| io::Error::new(ErrorKind::InvalidData, error))?;
            self.plaintext = state.plaintext_bytes_to_read();
            self.ended |= state.peer_has_closed();
            if !self.has_buffered_input() && self.record_deadline.is_none() {
                // Part of a record came: its rest has one read timeout.
                self.record_deadline = self
                    .read_timeout
                    .and_then(|timeout| Instant::now().checked_add(timeout));
            }
        }
    }

    fn has_buffered_input(&self) -> bool {
        self.plaintext > 0 || self.ended
    }
}

/// How long a close_notify at the drop may wait for room in the socket's
/// send buffer: a client that stopped reading must not hold the thread
/// that drops the connection (the gthread poller, a green worker's pool
/// slot) for the whole send timeout.
const GOODBYE_TIME: Duration = Duration::from_millis(1);

impl<S: Transport> Drop for TlsStream<S> {
    /// Says goodbye with close_notify (best effort, within
    /// [`GOODBYE_TIME`]), so that the client sees a clean end of stream.
    /// Not after a failed send. (A green thread killed mid-write fails its
    /// writes at once, so this needs no check of an unwind, which std can
    /// only tell per OS thread.)
    fn drop(&mut self) {
        if !self.broken && self.sock.set_write_timeout(Some(GOODBYE_TIME)).is_ok() {
            self.tls.send_close_notify();
            let _ = send_pending(&mut self.tls, &mut self.sock);
        }
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
