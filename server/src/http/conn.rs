//! The connection loop: keep-alive and pipelining, the app call, draining,
//! write batching, refusals and closing.

use std::io::{self, ErrorKind};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Buf;
use http::{header, Method};

use super::body::{Body, BodySource};
use super::config::HttpConfig;
use super::error::HttpError;
use super::info::{ConnInfo, RequestInfo};
use super::io::{ConnIo, FLUSH_AT};
use super::parse::{parse_head, Framing, Head, HeadScanner};
use super::response::{write_refusal, write_response, Answering};
use super::transport::Transport;
use crate::app::{App, Request};

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
/// One OS thread per connection (the green runtime will run the same call
/// in a green thread):
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
    let shared = Arc::new(Mutex::new(ConnIo::new(stream, config)));
    let source: Arc<Mutex<dyn BodySource>> = shared.clone();
    let mut id: u64 = 0;
    loop {
        id += 1;
        let mut io = lock(&shared);
        let head = match read_head(&mut io, config, id == 1) {
            Ok(Some(head)) => head,
            Ok(None) => return io.flush(),
            Err(HeadError::Refused(error)) => return refuse(&mut io, &error, config),
            Err(HeadError::Io(e)) => return Err(e),
        };
        let keep_alive = head.keep_alive && !config.keep_alive.is_zero();
        let answering = Answering {
            version: head.version,
            head: head.method == Method::HEAD,
            keep_alive,
        };
        io.begin_body(id, head.framing, head.expect_continue);
        if head.framing != Framing::Empty {
            // Body reads get the head's timeout, not the idle keep-alive one.
            io.set_read_timeout(config.header_timeout)?;
        }
        drop(io);

        let body = match head.framing {
            Framing::Empty => Body::empty(),
            _ => Body::streaming(source.clone(), id),
        };
        let request = build_request(head, body, &conn);
        let outcome = catch_unwind(AssertUnwindSafe(|| app.call(request)));

        let mut io = lock(&shared);
        let response = match outcome {
            Ok(response) => response,
            Err(_) => {
                log::error!("application panicked; answering 500 and closing the connection");
                return refuse(&mut io, &HttpError::AppPanicked, config);
            }
        };
        if let Some(error) = io.body_error() {
            log::debug!("request body refused: {error}");
            return refuse(&mut io, &error, config);
        }
        let mut keep_alive = answering.keep_alive;
        if !io.body_done()
            && (io.continue_unsent()
                || io
                    .known_remaining()
                    .is_some_and(|left| left > config.max_drain))
        {
            keep_alive = false;
        }
        drop(io);

        let answering = Answering {
            keep_alive,
            ..answering
        };
        let mut keep_alive = write_response(&shared, response, answering, config)?;

        let mut io = lock(&shared);
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

fn lock<S>(shared: &Mutex<ConnIo<S>>) -> MutexGuard<'_, ConnIo<S>> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
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
                return Ok(Some(parse_head(head, scanner.fields(), config)?));
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
    let host = head.headers.get(header::HOST).cloned();
    let mut request = Request::new(body);
    *request.method_mut() = head.method;
    *request.uri_mut() = head.uri;
    *request.version_mut() = head.version;
    *request.headers_mut() = head.headers;
    request.extensions_mut().insert(RequestInfo {
        conn: Arc::clone(conn),
        target: head.target,
        host,
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
