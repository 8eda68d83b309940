//! The connection loop: keep-alive, pipelining, the app call, the lent body, refusals.
//!
//! Also draining unread bodies, write batching, and closing (with a linger
//! after a refusal).

use std::io::{self, ErrorKind};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Buf;
use http::uri::Scheme;
use http::{HeaderMap, Method, StatusCode};

use super::body::{try_lock, Body, BodySource, Owner};
use super::config::HttpConfig;
use super::decode::Decoder;
use super::encode::{write_refusal, write_response, Answering, IoAccess, Rest, CONTINUE};
use super::error::HttpError;
use super::framing::Framing;
use super::info::{ConnInfo, RequestInfo};
use super::io::{ConnIo, FLUSH_AT};
use super::parse::{parse_head, Head, HeadScanner};
use super::target;
use super::transport::Transport;
use super::upgrade::{OnUpgrade, Upgraded};
use crate::app::{App, Request, Response};

/// How long, and how much, the engine reads and discards after a refusal so
/// the client receives the response rather than a reset.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 256 * 1024;

/// Serves requests on one connection until it closes, an error response
/// ends it, or keep-alive runs out.
///
/// Each request is parsed, handed to `app` (a panic becomes a 500 and ends
/// the connection), and answered in order. Responses to pipelined requests
/// are batched: they are sent when no more input is buffered. `conn` is
/// attached to every request (see [`RequestInfo`]).
///
/// `Ok(())` when the connection ended normally or after an error response
/// to a bad request; `Err` when the stream failed.
///
/// # Examples
///
/// One OS thread per connection (`examples/http_echo.rs` runs the same call
/// in one green thread per connection on `moss::net` sockets):
///
/// ```no_run
/// use moss_server::{serve_connection, ConnInfo, HttpConfig, Request, Response};
/// let listener = std::net::TcpListener::bind("127.0.0.1:8000")?;
/// let app = |_req: Request| Response::new("Hello, World!".into());
/// let config = HttpConfig::default();
/// for stream in listener.incoming() {
///     let stream = stream?;
///     let conn = ConnInfo { peer_addr: stream.peer_addr().ok(), ..Default::default() };
///     serve_connection(stream, &app, &config, conn)?;
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn serve_connection<S, A>(
    stream: S,
    app: &A,
    config: &HttpConfig,
    conn: ConnInfo,
) -> io::Result<()>
where
    S: Transport + Send + 'static,
    A: App + ?Sized,
{
    let mut connection = Connection::new(stream, config, conn)?;
    // An idle connection waits here, in this frame (`wait_for_request` is
    // inlined), so the frames of the wait are all the stack it keeps
    // touched; requests are served in `serve_arrived`, whose larger frames
    // are only used meanwhile.
    while connection.wait_for_request()? {
        if connection.serve_arrived(app, config)? == Served::Closed {
            break;
        }
    }
    Ok(())
}

/// One connection, served a burst of requests at a time: for servers that
/// wait for idle keep-alive connections themselves (in one poller, say,
/// rather than a thread each). [`serve_connection`] is a loop over
/// [`Connection::serve_ready`].
///
/// # Examples
///
/// A thread serves a connection until it goes idle, then hands it back
/// (here, simply serves it again):
///
/// ```no_run
/// use moss_server::{Connection, ConnInfo, HttpConfig, Request, Response, Served};
/// let listener = std::net::TcpListener::bind("127.0.0.1:8000")?;
/// let app = |_req: Request| Response::new("Hello, World!".into());
/// let config = HttpConfig::default();
/// let (stream, _) = listener.accept()?;
/// let mut connection = Connection::new(stream, &config, ConnInfo::default())?;
/// while connection.serve_ready(&app, &config)? == Served::Idle {
///     // wait for readability until `connection.idle_deadline()`, elsewhere
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Connection<S> {
    /// The connection's state; `serve_request` takes it out only to lend it
    /// to a request's `Body`, and puts it back. `None` once handed to the
    /// application after a protocol switch.
    state: Option<ConnState<S>>,
    /// Where the state is lent to a request's `Body` while the application
    /// runs; made at the first request with a body. Requests without one
    /// never touch it.
    lender: Option<Arc<Mutex<Option<ConnState<S>>>>>,
    /// Requests started so far.
    id: u64,
    conn: Arc<ConnInfo>,
    /// Until the next request's first byte arrives: the header timeout from
    /// the connection's start for the first request, the keep-alive time
    /// from the end of the last response for later ones.
    idle_until: Option<Instant>,
}

/// What [`Connection::serve_ready`] left the connection as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// Every response is sent and no input is waiting: the connection waits
    /// for its next request, until [`Connection::idle_deadline`].
    Idle,
    /// The connection is done (closed by either side, timed out, refused,
    /// or handed to the application after a protocol switch).
    Closed,
}

impl<S: Transport + Send + 'static> Connection<S> {
    /// Starts serving `stream`; `conn` is attached to every request.
    ///
    /// # Errors
    /// When the stream refuses its write timeout (`send_timeout`).
    pub fn new(mut stream: S, config: &HttpConfig, conn: ConnInfo) -> io::Result<Connection<S>> {
        stream.set_write_timeout(config.send_timeout)?;
        Ok(Connection {
            state: Some(ConnState::new(stream, config)),
            lender: None,
            id: 0,
            conn: Arc::new(conn),
            idle_until: config.header_timeout.map(|t| Instant::now() + t),
        })
    }

    /// Serves requests: waits (within the idle deadline) for the next one,
    /// then serves it and every request already buffered behind it.
    /// Returns [`Served::Idle`] once the responses are sent and no input is
    /// buffered, so the caller may wait for readability elsewhere before
    /// calling again; the next call reads at once what has arrived.
    ///
    /// # Errors
    /// When the stream fails (a read or write error, a send timeout).
    pub fn serve_ready<A: App + ?Sized>(
        &mut self,
        app: &A,
        config: &HttpConfig,
    ) -> io::Result<Served> {
        if !self.wait_for_request()? {
            return Ok(Served::Closed);
        }
        self.serve_arrived(app, config)
    }

    /// Waits (until the idle deadline) for the next request's first bytes,
    /// unless some are buffered; `false` when the connection has ended.
    /// Inlined: where a connection waits idle, its stack stays shallow.
    #[inline(always)]
    fn wait_for_request(&mut self) -> io::Result<bool> {
        let Some(state) = self.state.as_mut() else {
            return Ok(false);
        };
        if state.io.rbuf.is_empty() && !await_request(&mut state.io, self.idle_until)? {
            state.io.flush()?;
            self.state = None;
            return Ok(false);
        }
        Ok(true)
    }

    /// Serves the request whose first bytes have arrived and every one
    /// buffered behind it. Never inlined (see [`serve_connection`]).
    #[inline(never)]
    fn serve_arrived<A: App + ?Sized>(
        &mut self,
        app: &A,
        config: &HttpConfig,
    ) -> io::Result<Served> {
        loop {
            self.id += 1;
            let next = serve_request(
                &mut self.state,
                &mut self.lender,
                app,
                config,
                &self.conn,
                self.id,
                self.idle_until,
            )?;
            match next {
                Next::KeepAlive => {
                    self.idle_until = Some(Instant::now() + config.keep_alive);
                    let io = &mut self.state.held().io;
                    if io.rbuf.is_empty() {
                        // Whoever waits for the next request (this caller's
                        // wait, or a poller), the connection holds no
                        // buffer meanwhile.
                        io.release_for_idle();
                        return Ok(Served::Idle);
                    }
                }
                Next::Close => {
                    self.state = None;
                    return Ok(Served::Closed);
                }
                Next::Switch(handler) => {
                    let ConnState { mut io, .. } = self.state.take().expect("the state is held");
                    io.clear_timeouts()?;
                    handler(Upgraded::new(Box::new(io)));
                    return Ok(Served::Closed);
                }
            }
        }
    }

    /// When an idle connection's wait for its next request ends (the
    /// keep-alive time after the last response; the header timeout after
    /// the start, before the first request). `None`: no limit.
    pub fn idle_deadline(&self) -> Option<Instant> {
        self.idle_until
    }

    /// The stream, to wait for its readability (`None` once closed).
    pub fn stream(&self) -> Option<&S> {
        self.state.as_ref().map(|state| &state.io.stream)
    }
}

/// The timeout of a wait that must end by `until`: `None` when `until` has
/// passed, `Some(None)` without a bound.
fn time_left(until: Option<Instant>) -> Option<Option<Duration>> {
    match until {
        None => Some(None),
        Some(until) => match until.saturating_duration_since(Instant::now()) {
            left if left.is_zero() => None,
            left => Some(Some(left)),
        },
    }
}

/// Waits for the first bytes of the next request until `until`; `false`
/// when the client closed or the wait timed out, a clean end between
/// requests. Nothing is parsed here: this is where idle connections park.
fn await_request<S: Transport>(io: &mut ConnIo<S>, until: Option<Instant>) -> io::Result<bool> {
    let Some(timeout) = time_left(until) else {
        return Ok(false);
    };
    io.set_read_timeout(timeout)?;
    match io.fill() {
        Ok(n) => Ok(n > 0),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(false),
        Err(e) => Err(e),
    }
}

/// What follows a request.
enum Next {
    /// The connection stays open for the next request.
    KeepAlive,
    /// The connection ended normally or after an error response.
    Close,
    /// The connection switches protocols: it belongs to this function now.
    Switch(Box<dyn FnOnce(Upgraded) + Send>),
}

fn close(result: io::Result<()>) -> io::Result<Next> {
    result.map(|()| Next::Close)
}

/// The connection state, when it is not lent.
trait Held<S> {
    fn held(&mut self) -> &mut ConnState<S>;
}

impl<S> Held<S> for Option<ConnState<S>> {
    fn held(&mut self) -> &mut ConnState<S> {
        self.as_mut()
            .expect("the state is back from the body it was lent to")
    }
}

/// Reads, handles and answers request `id`, whose first bytes have
/// arrived. Never inlined into [`serve_connection`]: its frame (the
/// parsed head, the request, the response) must not weigh on the stack of
/// a connection that waits between requests.
#[inline(never)]
fn serve_request<S, A>(
    holder: &mut Option<ConnState<S>>,
    lender: &mut Option<Arc<Mutex<Option<ConnState<S>>>>>,
    app: &A,
    config: &HttpConfig,
    conn: &Arc<ConnInfo>,
    id: u64,
    idle_until: Option<Instant>,
) -> io::Result<Next>
where
    S: Transport + Send + 'static,
    A: App + ?Sized,
{
    let state = holder.held();
    let head = match read_head(&mut state.io, config, conn, id == 1, idle_until) {
        Ok(Some(head)) => head,
        Ok(None) => return close(state.io.flush()),
        Err(HeadError::Refused(error)) => return close(refuse(&mut state.io, &error, config)),
        Err(HeadError::Io(e)) => return Err(e),
    };
    let mut answering = Answering {
        version: head.version,
        head: head.method == Method::HEAD,
        keep_alive: head.keep_alive && !config.keep_alive.is_zero(),
        continue_pending: false,
        switching: false,
    };
    let connect = head.method == Method::CONNECT;
    let upgrade = head.upgrade;
    state.begin(id, head.framing, head.expect_continue);
    let slot = match head.framing {
        Framing::Empty => None,
        _ => Some(Arc::clone(
            lender.get_or_insert_with(|| Arc::new(Mutex::new(None))),
        )),
    };
    let outcome = match &slot {
        None => call(app, head, Body::empty(), conn),
        Some(slot) => {
            *try_lock(slot)? = holder.take();
            let source: Arc<Mutex<dyn BodySource>> = slot.clone();
            let outcome = call(
                app,
                head,
                Body::streaming(source, id, Owner::current()),
                conn,
            );
            *holder = Some(take_back(slot)?);
            outcome
        }
    };
    let state = holder.held();
    let Some(mut response) = outcome else {
        log::error!("application panicked; answering 500 and closing the connection");
        return close(refuse(&mut state.io, &HttpError::AppPanicked, config));
    };
    if let Some(error) = state.body.error() {
        log::debug!("request body refused: {error}");
        return close(refuse(&mut state.io, error, config));
    }

    // A response that switches protocols hands the connection over; 1xx
    // is otherwise never final (it would answer this request and leave
    // the client waiting for the real answer, then misread the next one).
    let status = response.status();
    let handler = OnUpgrade::take(&mut response);
    let switching = status == StatusCode::SWITCHING_PROTOCOLS || (connect && status.is_success());
    if status.is_informational() && !(switching && upgrade) {
        log::error!("application answered with a final {status}; answering 500");
        let error = HttpError::InvalidResponse("a 1xx status cannot be a final response");
        return close(refuse(&mut state.io, &error, config));
    }
    if switching {
        if connect && handler.is_none() {
            return close(refuse(
                &mut state.io,
                &HttpError::ConnectNotSupported,
                config,
            ));
        }
        // What is left of the request body comes first: the bytes after it
        // belong to the new protocol. A client waiting for `100 Continue`
        // gets it before the switch (RFC 9110 section 10.1.1).
        if std::mem::take(&mut state.continue_pending) {
            state.io.reserve_output();
            state.io.wbuf.extend_from_slice(CONTINUE);
        }
        if !state.body.is_done() && !state.drain_body(config.max_drain) {
            return close(state.io.flush());
        }
        answering.switching = true;
        respond(&mut state.io, response, answering, config)?;
        state.io.flush()?;
        return Ok(match handler {
            Some(handler) => Next::Switch(handler),
            None => Next::Close,
        });
    }

    // A body left unread closes the connection when draining it is out of
    // the question. A streamed response may still read it (an echo), and
    // is sent after `100 Continue` if the client waits for that.
    let streamed = response.body().is_stream() && !answering.head;
    if !streamed
        && !state.body.is_done()
        && (state.continue_pending
            || state
                .body
                .known_remaining()
                .is_some_and(|left| left > config.max_drain))
    {
        answering.keep_alive = false;
    }
    answering.continue_pending = std::mem::take(&mut state.continue_pending);

    let mut keep_alive = match respond(&mut state.io, response, answering, config)? {
        Rest::Done(keep_alive) => keep_alive,
        // A streamed response may read the request body (an echo): the
        // state is lent again while it is copied.
        Rest::Stream(stream) => match &slot {
            None => stream.send(&mut holder.held().io)?,
            Some(slot) => {
                *try_lock(slot)? = holder.take();
                let sent = stream.send(&mut &**slot);
                *holder = Some(take_back(slot)?);
                sent?
            }
        },
    };

    let state = holder.held();
    if keep_alive && !state.body.is_done() && !state.drain_body(config.max_drain) {
        keep_alive = false;
    }
    let unread = !state.body.is_done() || !state.io.rbuf.is_empty();
    state.begin(0, Framing::Empty, false);
    if !keep_alive {
        state.io.flush()?;
        if unread {
            linger(&mut state.io);
        }
        return Ok(Next::Close);
    }
    if state.io.rbuf.is_empty() || state.io.wbuf.len() >= FLUSH_AT {
        state.io.flush()?;
    }
    Ok(Next::KeepAlive)
}

/// Writes the response to the write buffer (a pooled one). Not inlined:
/// its frame and the application's are used one after the other, not
/// stacked.
#[inline(never)]
fn respond<S: Transport>(
    io: &mut ConnIo<S>,
    response: Response,
    answering: Answering,
    config: &HttpConfig,
) -> io::Result<Rest> {
    io.reserve_output();
    write_response(io, response, answering, config)
}

/// A connection's state: its buffered I/O and the current request's body.
/// While the application handles a request that has a body, it is lent to
/// that request's [`Body`] (behind a mutex, as a [`BodySource`]).
struct ConnState<S> {
    io: ConnIo<S>,
    /// The request whose body `body` decodes; reads for other ids fail.
    id: u64,
    body: Decoder,
    /// `Expect: 100-continue` still to be answered: at the first body read,
    /// or before a streamed response that may read the body.
    continue_pending: bool,
    /// The body and trailer limits (`server_header` left out).
    limits: HttpConfig,
}

impl<S: Transport> ConnState<S> {
    fn new(stream: S, config: &HttpConfig) -> ConnState<S> {
        ConnState {
            io: ConnIo::new(stream),
            id: 0,
            body: Decoder::new(Framing::Empty),
            continue_pending: false,
            limits: config.limits(),
        }
    }

    /// Starts the body of request `id`.
    fn begin(&mut self, id: u64, framing: Framing, expect_continue: bool) {
        self.id = id;
        self.body = Decoder::new(framing);
        self.continue_pending = expect_continue;
    }

    /// Reads decoded body bytes of request `id`, sending `100 Continue`
    /// first if the client waits for it.
    fn read_body(&mut self, id: u64, buf: &mut [u8]) -> io::Result<usize> {
        if id != self.id {
            return Err(answered());
        }
        // Only a read that will decode asks the client for the body.
        if self.continue_pending
            && self.body.error().is_none()
            && !buf.is_empty()
            && !self.body.is_done()
        {
            self.continue_pending = false;
            self.io.reserve_output();
            self.io.wbuf.extend_from_slice(CONTINUE);
            self.io.flush()?;
        }
        self.body.read(&mut self.io, &self.limits, buf)
    }

    /// Reads and discards up to `limit` bytes of the rest of the body (a
    /// client still waiting for `100 Continue` is not asked for it); `true`
    /// if the body ended cleanly within them.
    fn drain_body(&mut self, limit: u64) -> bool {
        self.continue_pending = false;
        self.body.drain(&mut self.io, &self.limits, limit)
    }
}

/// The connection state lent to the request's [`Body`] while the
/// application runs: `None` once the engine has taken it back, and then
/// reads fail as for an answered request.
impl<S: Transport + Send> BodySource for Option<ConnState<S>> {
    fn read_body(&mut self, id: u64, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Some(state) => state.read_body(id, buf),
            None => Err(answered()),
        }
    }

    fn trailers(&self, id: u64) -> Option<HeaderMap> {
        let state = self.as_ref()?;
        (id == state.id)
            .then(|| state.body.trailers().cloned())
            .flatten()
    }
}

fn answered() -> io::Error {
    io::Error::other("the request of this body has been answered")
}

impl<S> IoAccess<S> for &Mutex<Option<ConnState<S>>> {
    fn with<R>(&mut self, f: impl FnOnce(&mut ConnIo<S>) -> R) -> io::Result<R> {
        let mut guard = try_lock(self)?;
        let io = &mut guard
            .as_mut()
            .expect("the state stays lent while a body streams")
            .io;
        // Reading the request body may have waited, and given the write
        // buffer back.
        io.reserve_output();
        Ok(f(io))
    }
}

/// Runs the application on the request built from `head` and `body`;
/// `None` if it panicked.
fn call<A: App + ?Sized>(
    app: &A,
    head: Head,
    body: Body,
    conn: &Arc<ConnInfo>,
) -> Option<Response> {
    let conn = match head.secure {
        // A trusted front end's scheme, when it differs from the connection's.
        Some(secure) if secure != (conn.scheme == Scheme::HTTPS) => Arc::new(ConnInfo {
            scheme: if secure { Scheme::HTTPS } else { Scheme::HTTP },
            ..ConnInfo::clone(conn)
        }),
        _ => Arc::clone(conn),
    };
    let info = RequestInfo {
        conn,
        target: head.target,
        host: head.host,
    };
    let mut request = Request::new(body.with_info(info));
    *request.method_mut() = head.method;
    *request.uri_mut() = head.uri;
    *request.version_mut() = head.version;
    *request.headers_mut() = head.headers;
    catch_unwind(AssertUnwindSafe(|| app.call(request))).ok()
}

/// Takes the connection state back from the request's `Body`. The lock is
/// free: only the connection's own green thread reads the body, and it is
/// here, not in a read.
fn take_back<S>(slot: &Mutex<Option<ConnState<S>>>) -> io::Result<ConnState<S>> {
    Ok(try_lock(slot)?
        .take()
        .expect("only the connection loop takes the lent state"))
}

/// Why no request head came.
enum HeadError {
    /// Answer with this error and close.
    Refused(HttpError),
    /// The stream failed.
    Io(io::Error),
}

impl From<HttpError> for HeadError {
    fn from(error: HttpError) -> HeadError {
        HeadError::Refused(error)
    }
}

/// Reads the next request head and checks it against the connection
/// `conn`; `None` when the connection closed or went idle between requests.
///
/// Until a request's first byte (empty lines before it do not count) the
/// wait ends at `idle_until`, quietly. From its first byte the whole head
/// must arrive within `header_timeout` (408); for the connection's first
/// request, also by `idle_until`.
fn read_head<S: Transport>(
    io: &mut ConnIo<S>,
    config: &HttpConfig,
    conn: &ConnInfo,
    first: bool,
    idle_until: Option<Instant>,
) -> Result<Option<Head>, HeadError> {
    let mut scanner = HeadScanner::new();
    let mut deadline = None;
    loop {
        // Empty lines before a request line are skipped (RFC 9112 section
        // 2.2), also when one arrives split across reads: a lone CR waits
        // for what follows it.
        let mut waiting_for_lf = false;
        if scanner.is_fresh() {
            while io.rbuf.starts_with(b"\r\n") {
                io.rbuf.advance(2);
            }
            waiting_for_lf = io.rbuf[..] == *b"\r";
        }
        let started = !scanner.is_fresh() || (!io.rbuf.is_empty() && !waiting_for_lf);
        if started {
            if deadline.is_none() {
                let timeout = config.header_timeout.map(|t| Instant::now() + t);
                deadline = match first {
                    true => idle_until.into_iter().chain(timeout).min(),
                    false => timeout,
                };
            }
            if let Some(len) = scanner.scan(&io.rbuf, config)? {
                // The whole buffer when it holds just this head (the usual
                // case): then the head needs no shared-buffer header.
                let head = match len == io.rbuf.len() {
                    true => std::mem::take(&mut io.rbuf),
                    false => io.rbuf.split_to(len),
                }
                .freeze();
                let mut head = parse_head(head, scanner.fields(), config, &mut io.names)?;
                head.secure = config.trust.secure_scheme(conn, &head.headers)?;
                let secured = head.secure.unwrap_or(conn.scheme == Scheme::HTTPS);
                target::check_secured(&head.target, secured)?;
                return Ok(Some(head));
            }
        }
        let Some(timeout) = time_left(if started { deadline } else { idle_until }) else {
            return match started {
                true => Err(HttpError::RequestTimeout.into()),
                false => Ok(None),
            };
        };
        io.set_read_timeout(timeout).map_err(HeadError::Io)?;
        match io.fill() {
            Ok(0) if !started => return Ok(None),
            Ok(0) => {
                return Err(HttpError::BadRequest("connection closed inside a request head").into())
            }
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return match started {
                    true => Err(HttpError::RequestTimeout.into()),
                    false => Ok(None),
                };
            }
            Err(e) => return Err(HeadError::Io(e)),
        }
    }
}

/// Sends the canned response for `error` and ends the connection.
fn refuse<S: Transport>(
    io: &mut ConnIo<S>,
    error: &HttpError,
    config: &HttpConfig,
) -> io::Result<()> {
    log::debug!("refusing request: {error}");
    io.reserve_output();
    write_refusal(&mut io.wbuf, error, config);
    io.flush()?;
    if *error != HttpError::RequestTimeout {
        linger(io);
    }
    Ok(())
}

/// Half-closes, then reads and discards what the client still sends for a
/// bounded time, so that closing with unread input does not reset the
/// connection before the client has read our last response.
fn linger<S: Transport>(io: &mut ConnIo<S>) {
    if io.stream.shutdown_write().is_err() || io.set_read_timeout(Some(LINGER_TIME)).is_err() {
        return;
    }
    let started = Instant::now();
    let mut discarded = 0;
    io.rbuf.clear();
    while discarded < LINGER_BYTES && started.elapsed() < LINGER_TIME {
        match io.fill() {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                discarded += n;
                io.rbuf.clear();
            }
        }
    }
}
