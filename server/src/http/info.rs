//! The CGI-style facts an application sees about each request.

use std::any::Any;
use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::uri::Scheme;
use http::HeaderValue;

use super::body::Body;
use super::target::RequestTarget;

/// Facts about a connection, given by whoever accepted it.
///
/// # Examples
///
/// ```
/// let info = moss_server::ConnInfo {
///     peer_addr: "127.0.0.1:50000".parse().ok(),
///     ..Default::default()
/// };
/// assert_eq!(info.scheme, http::uri::Scheme::HTTP);
/// ```
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client's address, when the transport has one.
    pub peer_addr: Option<SocketAddr>,
    /// The address the connection was accepted on.
    pub local_addr: Option<SocketAddr>,
    /// `http`, or `https` behind TLS.
    pub scheme: Scheme,
    /// The address of the front end that sent a PROXY protocol header
    /// (gunicorn's `PROXY_ADDR`); `peer_addr` is then the client's address
    /// the header named. `None` without a PROXY header.
    pub proxy_addr: Option<SocketAddr>,
}

impl Default for ConnInfo {
    fn default() -> ConnInfo {
        ConnInfo {
            peer_addr: None,
            local_addr: None,
            scheme: Scheme::HTTP,
            proxy_addr: None,
        }
    }
}

/// Per-request facts, carried by every request the engine builds (see
/// [`RequestExt::info`]): what gunicorn puts in a WSGI environ as
/// `REMOTE_ADDR`, `wsgi.url_scheme`, `SERVER_NAME`, `SERVER_PORT`,
/// `PATH_INFO` and `QUERY_STRING`, plus the raw request-target.
///
/// # Examples
///
/// An absolute-form target names the host, whatever the `Host` field says
/// (RFC 9112 section 3.2.2):
///
/// ```
/// use moss_server::RequestExt;
/// let request = http::Request::get("http://a.example:8080/x")
///     .header("host", "b.example")
///     .body(())
///     .unwrap();
/// let info = request.info();
/// assert_eq!((&*info.server_name(), info.server_port()), ("a.example", 8080));
/// ```
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub(crate) conn: Arc<ConnInfo>,
    pub(crate) target: RequestTarget,
    /// The `Host` field (of a hand-built request: its `Uri`'s authority, if
    /// it has one), consulted when the target is not in absolute form.
    pub(crate) host: Option<HeaderValue>,
}

impl RequestInfo {
    /// The client's socket address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.conn.peer_addr
    }

    /// The client's IP address (`REMOTE_ADDR`).
    pub fn remote_addr(&self) -> Option<IpAddr> {
        self.conn.peer_addr.map(|a| a.ip())
    }

    /// The URL scheme (`wsgi.url_scheme`): the connection's, or what a
    /// trusted front end's secure-scheme headers said
    /// ([`Trust`](crate::trust::Trust)).
    pub fn scheme(&self) -> &Scheme {
        &self.conn.scheme
    }

    /// The connection facts.
    pub fn conn(&self) -> &ConnInfo {
        &self.conn
    }

    /// The request-target as received.
    pub fn target(&self) -> &RequestTarget {
        &self.target
    }

    /// The percent-decoded path (`PATH_INFO`).
    pub fn path(&self) -> Cow<'_, str> {
        self.target.decoded_path()
    }

    /// The raw query string (`QUERY_STRING`).
    pub fn query(&self) -> &str {
        self.target.query()
    }

    /// The `host [ ":" port ]` the client asked for: an absolute-form
    /// target's authority (without userinfo), which RFC 9112 section 3.2.2
    /// puts before the `Host` field; else the `Host` field.
    fn authority(&self) -> Option<&str> {
        self.target
            .authority()
            .or_else(|| self.host.as_ref().and_then(|h| h.to_str().ok()))
    }

    /// The host the client asked for (`SERVER_NAME`): the absolute-form
    /// target's host, else the `Host` field's, else the local address, else
    /// empty.
    pub fn server_name(&self) -> Cow<'_, str> {
        match self.authority() {
            Some(authority) => Cow::Borrowed(split_host(authority).0),
            None => match self.conn.local_addr {
                Some(addr) => Cow::Owned(addr.ip().to_string()),
                None => Cow::Borrowed(""),
            },
        }
    }

    /// The port the client asked for (`SERVER_PORT`): that of the
    /// absolute-form target's authority, else of the `Host` field; when
    /// that authority has none, the default port (443 for `https`, else 80)
    /// of the target's scheme, else of the connection's. Without either,
    /// the local address's port, else the default.
    pub fn server_port(&self) -> u16 {
        let https = match self.target.scheme() {
            Some(scheme) => scheme.eq_ignore_ascii_case("https"),
            None => self.conn.scheme == Scheme::HTTPS,
        };
        let default = if https { 443 } else { 80 };
        match self.authority() {
            Some(authority) => split_host(authority)
                .1
                .and_then(|p| p.parse().ok())
                .unwrap_or(default),
            None => self.conn.local_addr.map_or(default, |a| a.port()),
        }
    }
}

/// Splits `host[:port]`, keeping an IPv6 literal's brackets.
fn split_host(host: &str) -> (&str, Option<&str>) {
    if host.starts_with('[') {
        match host.find(']') {
            Some(end) => (&host[..=end], host[end + 1..].strip_prefix(':')),
            None => (host, None),
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    }
}

/// Access to [`RequestInfo`] on a [`Request`](crate::Request).
///
/// The engine attaches the facts to the request's [`Body`] ([`Body::info`]),
/// where they cost no allocation, rather than to its extensions. A
/// `RequestInfo` placed in the extensions takes precedence; that is also
/// how to keep the facts on a request whose body is replaced
/// (`Request::map`).
///
/// # Examples
///
/// ```
/// use moss_server::{Request, RequestExt, Response};
/// let app = |req: Request| {
///     let info = req.info().into_owned();
///     // The body is replaced: the facts move to the extensions.
///     let mut req = req.map(|_body| ());
///     req.extensions_mut().insert(info);
///     Response::new(req.info().path().into_owned().into())
/// };
/// # let _ = app;
/// ```
pub trait RequestExt {
    /// The request's facts: from the extensions, else from the engine's
    /// [`Body`], else — for a request built by hand — from its `Uri` and
    /// `Host` field (its scheme, else `http`; no addresses).
    fn info(&self) -> Cow<'_, RequestInfo>;
}

impl<B: 'static> RequestExt for http::Request<B> {
    fn info(&self) -> Cow<'_, RequestInfo> {
        if let Some(info) = self.extensions().get::<RequestInfo>() {
            return Cow::Borrowed(info);
        }
        let body: &dyn Any = self.body();
        if let Some(info) = body.downcast_ref::<Body>().and_then(Body::info) {
            return Cow::Borrowed(info);
        }
        let uri = self.uri();
        // The `Uri`'s authority, without userinfo, stands for an
        // absolute-form target's.
        let host = match uri.authority() {
            Some(authority) => {
                let text = authority.as_str();
                let host = text.rsplit_once('@').map_or(text, |(_, host)| host);
                HeaderValue::from_str(host).ok()
            }
            None => self.headers().get(http::header::HOST).cloned(),
        };
        Cow::Owned(RequestInfo {
            conn: Arc::new(ConnInfo {
                scheme: uri.scheme().cloned().unwrap_or(Scheme::HTTP),
                ..ConnInfo::default()
            }),
            target: RequestTarget::of_uri(uri),
            host,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::Arc;

    use bytes::Bytes;
    use http::Method;

    use super::{split_host, ConnInfo, RequestExt, RequestInfo};
    use crate::http::body::Body;
    use crate::http::target;

    fn engine_info(path: &'static str) -> RequestInfo {
        RequestInfo {
            conn: Arc::new(ConnInfo {
                peer_addr: "10.0.0.1:5000".parse().ok(),
                ..ConnInfo::default()
            }),
            target: target::split(Bytes::from_static(path.as_bytes()), &Method::GET).unwrap(),
            host: None,
        }
    }

    #[test]
    fn info_comes_from_the_extensions_then_the_body_then_the_uri() {
        let body = Body::empty().with_info(engine_info("/from-body"));
        let request = http::Request::get("/from-uri").body(body).unwrap();
        let info = request.info();
        assert!(matches!(info, Cow::Borrowed(_)));
        assert_eq!(
            (&*info.path(), info.peer_addr()),
            ("/from-body", "10.0.0.1:5000".parse().ok())
        );

        let mut request = request;
        request
            .extensions_mut()
            .insert(engine_info("/from-extensions"));
        assert_eq!(request.info().path(), "/from-extensions");

        let mapped = http::Request::get("/from-uri").body(()).unwrap();
        assert_eq!(mapped.info().path(), "/from-uri");
        assert_eq!(mapped.info().peer_addr(), None);
    }

    #[test]
    fn the_info_stays_with_the_body_taken_out_of_its_request() {
        let body = Body::empty().with_info(engine_info("/a"));
        let request = http::Request::new(body);
        let body = request.into_body();
        assert_eq!(
            body.info().map(|info| info.path().into_owned()),
            Some("/a".into())
        );
        assert!(Body::from("by hand").info().is_none());
    }

    #[test]
    fn splits_hosts() {
        assert_eq!(
            split_host("example.com:8080"),
            ("example.com", Some("8080"))
        );
        assert_eq!(split_host("[::1]:443"), ("[::1]", Some("443")));
        assert_eq!(split_host("[::1]"), ("[::1]", None));
        assert_eq!(split_host("example.com"), ("example.com", None));
    }
}
