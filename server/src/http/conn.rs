//! The connection loop: keep-alive and pipelining, the app call, draining,
//! write batching, refusals and closing.

use std::io::{self, ErrorKind};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Buf;
use http::Method;

use super::body::{Body, BodySource};
use super::config::HttpConfig;
use super::error::HttpError;
use super::info::{ConnInfo, RequestInfo};
use super::io::{ConnIo, FLUSH_AT};
use super::parse::{parse_head, Framing, Head, HeadScanner};
use super::response::{write_refusal, write_response, Answering, Rest};
use super::transport::Transport;
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
    let conn = Arc::new(conn);
    let mut io = ConnIo::new(stream, config);
    // Where the connection state is lent to a request's `Body` while the
    // application runs; made at the first request with a body. Requests
    // without one never touch it: the state stays in `io`.
    let mut lender: Option<Arc<Mutex<Option<ConnIo<S>>>>> = None;
    let mut id: u64 = 0;
    loop {
        id += 1;
        let head = match read_head(&mut io, config, id == 1) {
            Ok(Some(head)) => head,
            Ok(None) => return io.flush(),
            Err(HeadError::Refused(error)) => return refuse(&mut io, &error, config),
            Err(HeadError::Io(e)) => return Err(e),
        };
        let answering = Answering {
            version: head.version,
            head: head.method == Method::HEAD,
            keep_alive: head.keep_alive && !config.keep_alive.is_zero(),
        };
        io.begin_body(id, head.framing, head.expect_continue);
        let slot = match head.framing {
            Framing::Empty => None,
            _ => {
                // Body reads get the head's timeout, not the idle keep-alive one.
                io.set_read_timeout(config.header_timeout)?;
                Some(Arc::clone(
                    lender.get_or_insert_with(|| Arc::new(Mutex::new(None))),
                ))
            }
        };
        let (outcome, back) = match &slot {
            None => (call(app, head, Body::empty(), &conn), io),
            Some(slot) => {
                *lock(slot) = Some(io);
                let source: Arc<Mutex<dyn BodySource>> = slot.clone();
                let outcome = call(app, head, Body::streaming(source, id), &conn);
                (outcome, take_back(slot))
            }
        };
        io = back;
        let Some(response) = outcome else {
            log::error!("application panicked; answering 500 and closing the connection");
            return refuse(&mut io, &HttpError::AppPanicked, config);
        };
        if let Some(error) = io.body_error() {
            log::debug!("request body refused: {error}");
            return refuse(&mut io, &error, config);
        }
        let mut answering = answering;
        if !io.body_done()
            && (io.continue_unsent()
                || io
                    .known_remaining()
                    .is_some_and(|left| left > config.max_drain))
        {
            answering.keep_alive = false;
        }

        let mut keep_alive = match write_response(&mut io, response, answering, config)? {
            Rest::Done(keep_alive) => keep_alive,
            // A streamed response may read the request body (an echo): the
            // state is lent again while it is copied.
            Rest::Stream(stream) => match &slot {
                None => stream.send(&mut io)?,
                Some(slot) => {
                    *lock(slot) = Some(io);
                    let sent = stream.send(&mut &**slot);
                    io = take_back(slot);
                    sent?
                }
            },
        };

        if keep_alive && !io.body_done() && !io.drain_body(config.max_drain) {
            keep_alive = false;
        }
        let unread = !io.body_done() || !io.rbuf.is_empty();
        io.begin_body(0, Framing::Empty, false);
        if !keep_alive {
            io.flush()?;
            if unread {
                linger(&mut io);
            }
            return Ok(());
        }
        if io.rbuf.is_empty() || io.wbuf.len() >= FLUSH_AT {
            io.flush()?;
        }
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
    let request = build_request(head, body, conn);
    catch_unwind(AssertUnwindSafe(|| app.call(request))).ok()
}

pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Takes the connection state back from the request's `Body`.
fn take_back<S>(slot: &Mutex<Option<ConnIo<S>>>) -> ConnIo<S> {
    lock(slot)
        .take()
        .expect("only the connection loop takes the lent state")
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

/// Reads the next request head; `None` when the connection closed or went
/// idle between requests.
fn read_head<S: Transport>(
    io: &mut ConnIo<S>,
    config: &HttpConfig,
    first: bool,
) -> Result<Option<Head>, HeadError> {
    let mut scanner = HeadScanner::new();
    let mut deadline: Option<Instant> = None;
    loop {
        if scanner.is_fresh() {
            while io.rbuf.starts_with(b"\r\n") {
                io.rbuf.advance(2);
            }
        }
        if !io.rbuf.is_empty() {
            if let Some(len) = scanner.scan(&io.rbuf, config)? {
                let head = io.rbuf.split_to(len).freeze();
                return Ok(Some(parse_head(
                    head,
                    scanner.fields(),
                    config,
                    &mut io.names,
                )?));
            }
        }
        let idle = io.rbuf.is_empty() && !first;
        let timeout = if idle {
            Some(config.keep_alive)
        } else {
            config.header_timeout
        };
        io.set_read_timeout(timeout).map_err(HeadError::Io)?;
        if !idle && deadline.is_none() {
            deadline = config.header_timeout.map(|t| Instant::now() + t);
        }
        match io.fill() {
            Ok(0) if io.rbuf.is_empty() => return Ok(None),
            Ok(0) => {
                return Err(HttpError::BadRequest("connection closed inside a request head").into())
            }
            Ok(_) => {
                if deadline.is_some_and(|d| Instant::now() > d) {
                    return Err(HttpError::RequestTimeout.into());
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return match io.rbuf.is_empty() {
                    true => Ok(None),
                    false => Err(HttpError::RequestTimeout.into()),
                };
            }
            Err(e) => return Err(HeadError::Io(e)),
        }
    }
}

fn build_request(head: Head, body: Body, conn: &Arc<ConnInfo>) -> Request {
    let mut request = Request::new(body);
    *request.method_mut() = head.method;
    *request.uri_mut() = head.uri;
    *request.version_mut() = head.version;
    *request.headers_mut() = head.headers;
    request.extensions_mut().insert(RequestInfo {
        conn: Arc::clone(conn),
        target: head.target,
        host: head.host,
    });
    request
}

/// Sends the canned response for `error` and ends the connection.
fn refuse<S: Transport>(
    io: &mut ConnIo<S>,
    error: &HttpError,
    config: &HttpConfig,
) -> io::Result<()> {
    log::debug!("refusing request: {error}");
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
