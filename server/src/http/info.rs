//! The CGI-style facts an application sees through request extensions.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::uri::Scheme;
use http::HeaderValue;

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
}

impl Default for ConnInfo {
    fn default() -> ConnInfo {
        ConnInfo {
            peer_addr: None,
            local_addr: None,
            scheme: Scheme::HTTP,
        }
    }
}

/// Per-request facts, found in every request's extensions (see
/// [`RequestExt::info`]): what gunicorn puts in a WSGI environ as
/// `REMOTE_ADDR`, `wsgi.url_scheme`, `SERVER_NAME`, `SERVER_PORT`,
/// `PATH_INFO` and `QUERY_STRING`, plus the raw request-target.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub(crate) conn: Arc<ConnInfo>,
    pub(crate) target: RequestTarget,
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

    /// The URL scheme (`wsgi.url_scheme`).
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

    /// The host the client asked for (`SERVER_NAME`): the `Host` header
    /// without its port, else the local address, else empty.
    pub fn server_name(&self) -> Cow<'_, str> {
        match self.host.as_ref().and_then(|h| h.to_str().ok()) {
            Some(host) => Cow::Borrowed(split_host(host).0),
            None => match self.conn.local_addr {
                Some(addr) => Cow::Owned(addr.ip().to_string()),
                None => Cow::Borrowed(""),
            },
        }
    }

    /// The port the client asked for (`SERVER_PORT`): from the `Host`
    /// header, else the local address, else the scheme's default.
    pub fn server_port(&self) -> u16 {
        let default = if self.conn.scheme == Scheme::HTTPS {
            443
        } else {
            80
        };
        match self.host.as_ref().and_then(|h| h.to_str().ok()) {
            Some(host) => split_host(host)
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
pub trait RequestExt {
    /// The request's facts; present on every request the engine builds
    /// (a placeholder with empty values on hand-built requests).
    fn info(&self) -> Cow<'_, RequestInfo>;
}

impl<B> RequestExt for http::Request<B> {
    fn info(&self) -> Cow<'_, RequestInfo> {
        match self.extensions().get::<RequestInfo>() {
            Some(info) => Cow::Borrowed(info),
            None => Cow::Owned(RequestInfo {
                conn: Arc::new(ConnInfo::default()),
                target: RequestTarget::of_uri(self.uri()),
                host: self.headers().get(http::header::HOST).cloned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_host;

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
