//! The bodies an application handles: the request [`Body`] and the [`ResponseBody`].

use std::fmt;
use std::io::{self, Read};
use std::sync::{Arc, Mutex, TryLockError};
use std::thread::{self, ThreadId};

use moss_runtime::GreenId;

use bytes::{Buf, Bytes};
use http::HeaderMap;

use super::info::RequestInfo;

/// The connection side of a streaming body: implemented by the connection
/// state, which decodes the body of the request numbered `id` only.
pub(crate) trait BodySource: Send {
    /// Reads decoded body bytes of request `id`; `Ok(0)` at its end.
    fn read_body(&mut self, id: u64, buf: &mut [u8]) -> io::Result<usize>;
    /// The trailer fields of request `id`, once its body has been read whole.
    fn trailers(&self, id: u64) -> Option<HeaderMap>;
}

/// A request body, streamed from the connection as the application reads it.
///
/// Reading starts the body: the engine answers `Expect: 100-continue` at the
/// first read, not before. A body that ends early fails with
/// `UnexpectedEof`; malformed chunking fails with `InvalidData`, and the
/// engine then answers the request with an error status itself.
///
/// A body streams from its connection only while the application handles
/// its request, and only to the green thread (or OS thread) that handles
/// it: read anywhere else (a spawned green thread, another OS thread) or
/// kept past its request's response, it reads as an error, at once. Read
/// it whole first ([`Read::read_to_end`]) to hand its bytes elsewhere.
///
/// The engine's bodies also carry their request's [`RequestInfo`]
/// ([`Body::info`]); [`RequestExt::info`](crate::RequestExt::info) finds it
/// there.
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// let mut body = moss_server::Body::from("hello");
/// let mut text = String::new();
/// body.read_to_string(&mut text).unwrap();
/// assert_eq!(text, "hello");
/// ```
pub struct Body {
    inner: Inner,
    /// The facts of the request this body came with. Carried here rather
    /// than in the request's extensions, where attaching them would cost
    /// three allocations per request.
    info: Option<RequestInfo>,
}

enum Inner {
    Bytes(Bytes),
    Connection {
        source: Arc<Mutex<dyn BodySource>>,
        id: u64,
        /// Where the request is handled: the only place the body reads.
        owner: Owner,
    },
}

/// A green thread, or an OS thread outside any hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    Green(GreenId),
    Thread(ThreadId),
}

impl Owner {
    /// Where the caller runs.
    pub(crate) fn current() -> Owner {
        match moss_runtime::try_current() {
            Some(green) => Owner::Green(green.id()),
            None => Owner::Thread(thread::current().id()),
        }
    }
}

/// Locks `mutex` if it is free, never waiting: the connection's state is
/// only ever used by the green thread that serves the connection, so a
/// busy lock means the caller is somewhere it must not be, and waiting
/// could block the OS thread (and every green thread of its hub).
pub(crate) fn try_lock<T: ?Sized>(mutex: &Mutex<T>) -> io::Result<std::sync::MutexGuard<'_, T>> {
    match mutex.try_lock() {
        Ok(guard) => Ok(guard),
        Err(TryLockError::Poisoned(poisoned)) => Ok(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::ResourceBusy,
            "the connection is in use by another reader of this request body",
        )),
    }
}

impl Body {
    /// A body with no bytes.
    pub fn empty() -> Body {
        Body::from(Bytes::new())
    }

    /// The body of request `id`, read from `source` by `owner` only.
    pub(crate) fn streaming(source: Arc<Mutex<dyn BodySource>>, id: u64, owner: Owner) -> Body {
        Body {
            inner: Inner::Connection { source, id, owner },
            info: None,
        }
    }

    /// This body with the facts of its request attached.
    pub(crate) fn with_info(self, info: RequestInfo) -> Body {
        Body {
            info: Some(info),
            ..self
        }
    }

    /// The facts of the request this body came with: present on every body
    /// the engine makes, `None` on one made by hand. They stay with the
    /// body when it is taken out of its request (`into_body`,
    /// `into_parts`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(moss_server::Body::from("made by hand").info().is_none());
    /// ```
    pub fn info(&self) -> Option<&RequestInfo> {
        self.info.as_ref()
    }

    /// Trailer fields of a chunked body, available once the body has been
    /// read to its end; `None` before that or when there were none.
    pub fn trailers(&self) -> Option<HeaderMap> {
        match &self.inner {
            Inner::Bytes(_) => None,
            Inner::Connection { source, id, owner } => {
                if *owner != Owner::current() {
                    return None;
                }
                try_lock(source).ok()?.trailers(*id)
            }
        }
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Bytes(bytes) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                bytes.advance(n);
                Ok(n)
            }
            Inner::Connection { source, id, owner } => {
                Streaming::new(source, *id, *owner)?.read(buf)
            }
        }
    }

    /// Bytes in memory (every bodiless request's empty body among them) are
    /// appended at once, without the probing reads of the default method.
    fn read_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Bytes(bytes) => {
                let n = bytes.len();
                out.extend_from_slice(bytes);
                bytes.advance(n);
                Ok(n)
            }
            Inner::Connection { source, id, owner } => {
                Streaming::new(source, *id, *owner)?.read_to_end(out)
            }
        }
    }
}

/// A body being read from its connection, by its owner.
struct Streaming<'a> {
    source: &'a Mutex<dyn BodySource>,
    id: u64,
}

impl<'a> Streaming<'a> {
    /// Checks that the caller is the body's owner.
    fn new(source: &'a Mutex<dyn BodySource>, id: u64, owner: Owner) -> io::Result<Streaming<'a>> {
        match owner == Owner::current() {
            true => Ok(Streaming { source, id }),
            false => Err(io::Error::other(
                "a request body reads only where its request is handled \
                 (not from a spawned green thread or another OS thread)",
            )),
        }
    }
}

impl Read for Streaming<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        try_lock(self.source)?.read_body(self.id, buf)
    }
}

impl Default for Body {
    fn default() -> Body {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Bytes(bytes) => f
                .debug_struct("Body")
                .field("buffered", &bytes.len())
                .finish(),
            Inner::Connection { id, .. } => f.debug_struct("Body").field("request", id).finish(),
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Body {
        Body {
            inner: Inner::Bytes(bytes),
            info: None,
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Body {
        Body::from(Bytes::from(bytes))
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Body {
        Body::from(Bytes::from_static(text.as_bytes()))
    }
}

impl From<String> for Body {
    fn from(text: String) -> Body {
        Body::from(Bytes::from(text))
    }
}

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
    inner: Payload,
}

/// What a [`ResponseBody`] holds, as the response encoder takes it.
pub(crate) enum Payload {
    /// Bytes in memory.
    Bytes(Bytes),
    /// A reader, and its length when known.
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
            inner: Payload::Stream {
                reader: Box::new(reader),
                len: None,
            },
        }
    }

    /// A body of exactly `len` bytes streamed from `reader`; a reader that
    /// ends early makes the engine close the connection.
    pub fn sized(reader: impl Read + Send + 'static, len: u64) -> ResponseBody {
        ResponseBody {
            inner: Payload::Stream {
                reader: Box::new(reader),
                len: Some(len),
            },
        }
    }

    /// What the body holds, for the response encoder.
    pub(crate) fn into_payload(self) -> Payload {
        self.inner
    }

    /// Whether the body is a stream (read while it is sent).
    pub(crate) fn is_stream(&self) -> bool {
        matches!(self.inner, Payload::Stream { .. })
    }

    /// The length, when known without reading.
    pub fn len_hint(&self) -> Option<u64> {
        match &self.inner {
            Payload::Bytes(bytes) => Some(bytes.len() as u64),
            Payload::Stream { len, .. } => *len,
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
            Payload::Bytes(bytes) => f.debug_tuple("ResponseBody").field(&bytes.len()).finish(),
            Payload::Stream { len, .. } => f
                .debug_struct("ResponseBody")
                .field("stream_len", len)
                .finish(),
        }
    }
}

impl From<Bytes> for ResponseBody {
    fn from(bytes: Bytes) -> ResponseBody {
        ResponseBody {
            inner: Payload::Bytes(bytes),
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
