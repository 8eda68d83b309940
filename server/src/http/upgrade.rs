//! Handing the connection to the application: [`on_upgrade`] and [`Upgraded`], after `101` or a `2xx` to `CONNECT`.
//!
//! After `101 Switching Protocols` (to a request that asked to upgrade) or
//! a `2xx` answer to `CONNECT`, the bytes on the connection are no longer
//! HTTP/1.1: the engine sends the response head and hands the connection
//! to the function the application registered, which runs on the
//! connection's own green thread (or OS thread) until it returns; then the
//! connection closes.

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};

use crate::Response;

/// What the application registered: run once, with the connection.
type Handler = Box<dyn FnOnce(Upgraded) + Send>;

/// The handler, as a response extension (extensions must be `Clone`).
#[derive(Clone)]
pub(crate) struct OnUpgrade(Arc<Mutex<Option<Handler>>>);

impl OnUpgrade {
    /// Takes the handler out of `response`, if one was registered.
    pub(crate) fn take(response: &mut Response) -> Option<Handler> {
        let OnUpgrade(slot) = response.extensions_mut().remove::<OnUpgrade>()?;
        let handler = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        handler
    }
}

/// Takes over the connection once `response` has been sent, if the engine
/// switches protocols with it: `response` is `101 Switching Protocols` to
/// a request that asked to upgrade (`Upgrade` named in `Connection`), or a
/// `2xx` to `CONNECT` (a tunnel).
///
/// The engine then sends the response head as the application made it,
/// `Connection` and `Upgrade` fields included, with no body and no
/// framing field, and calls `f` with the connection. `f` runs on the
/// connection's green thread; when it returns, the connection closes.
///
/// Without a registered function, a `101` is sent and the connection
/// closed, and a `2xx` to `CONNECT` becomes `501 Not Implemented`.
/// Registered on any other response, `f` is dropped unused.
///
/// # Examples
///
/// An echo over the raw connection after the switch:
///
/// ```
/// use std::io::{Read, Write};
/// use moss_server::{on_upgrade, Request, Response};
/// use http::StatusCode;
///
/// let app = |_req: Request| {
///     let mut response = Response::new(Default::default());
///     *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
///     response.headers_mut().insert("connection", "upgrade".parse().unwrap());
///     response.headers_mut().insert("upgrade", "echo".parse().unwrap());
///     on_upgrade(&mut response, |mut conn| {
///         let mut buf = [0; 1024];
///         while let Ok(n @ 1..) = conn.read(&mut buf) {
///             if conn.write_all(&buf[..n]).is_err() {
///                 break;
///             }
///         }
///     });
///     response
/// };
/// # let _ = app;
/// ```
pub fn on_upgrade(response: &mut Response, f: impl FnOnce(Upgraded) + Send + 'static) {
    let handler: Handler = Box::new(f);
    response
        .extensions_mut()
        .insert(OnUpgrade(Arc::new(Mutex::new(Some(handler)))));
}

/// A stream the connection can be handed over as.
pub(crate) trait Stream: Read + Write + Send {}

impl<T: Read + Write + Send> Stream for T {}

/// The connection after a protocol switch. Reads return first the bytes
/// the client sent past the request (the engine may have read them
/// already), then what the stream brings; writes go straight to the
/// stream.
///
/// The engine's read and write timeouts are cleared at the hand-over.
pub struct Upgraded {
    stream: Box<dyn Stream>,
}

impl Upgraded {
    pub(crate) fn new(stream: Box<dyn Stream>) -> Upgraded {
        Upgraded { stream }
    }
}

impl Read for Upgraded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
}

impl Write for Upgraded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.stream.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgraded").finish_non_exhaustive()
    }
}
