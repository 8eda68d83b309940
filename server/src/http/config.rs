//! Engine settings: gunicorn-named limits, timeouts and header policies.

use std::sync::Arc;
use std::time::Duration;

use crate::trust::Trust;

/// What to do with request header names that contain `_`.
///
/// Mirrors gunicorn's `header_map`: CGI-style environments map `-` and `_`
/// to the same name, so `Transfer_Encoding` could pass for
/// `Transfer-Encoding` behind a proxy that ignores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnderscoreHeaders {
    /// Silently drop such fields (gunicorn's default, `drop`).
    #[default]
    Drop,
    /// Refuse the request with 400 (`refuse`).
    Refuse,
    /// Keep them as ordinary fields (`dangerous`).
    Keep,
}

/// The default [`HttpConfig::limit_request_body`]: 64 MiB.
pub const DEFAULT_LIMIT_REQUEST_BODY: u64 = 64 << 20;

/// Settings of the HTTP/1.1 engine, shared by every connection of a worker.
///
/// Limits carry gunicorn's names and defaults where gunicorn has them.
/// Exceeding a limit gets the status named on the field and a closed
/// connection. Every time limit is a deadline the client cannot stretch:
/// bytes that trickle in do not restart it.
///
/// # Examples
///
/// ```
/// let config = moss_server::HttpConfig {
///     limit_request_body: Some(1 << 20),
///     ..Default::default()
/// };
/// assert_eq!(config.limit_request_line, 4094);
/// ```
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Longest request line in bytes, without its CRLF (414). `0` means no
    /// limit beyond the engine's hard cap of 64 KiB for a request head.
    pub limit_request_line: usize,
    /// Most header fields in a request (431). `0` means 32768.
    pub limit_request_fields: usize,
    /// Longest header field line in bytes, CRLF included (431). `0` means
    /// the default, 8190, as in gunicorn.
    pub limit_request_field_size: usize,
    /// Longest request head in bytes: request line, fields and the empty
    /// line (431). Bounds the memory of a connection whose head is still
    /// arriving, whatever the line and field limits allow. `0` means the
    /// engine's hard cap of 1 MiB.
    pub limit_request_head: usize,
    /// Longest request body in bytes after de-chunking (413). Defaults to
    /// [`DEFAULT_LIMIT_REQUEST_BODY`]; `None` means no limit.
    pub limit_request_body: Option<u64>,
    /// Time allowed to receive a whole request head (408): from the
    /// connection's start for its first request, from the first byte of a
    /// later one. `None`: no limit.
    pub header_timeout: Option<Duration>,
    /// Longest wait between two reads of a request body, and the grace
    /// period of [`body_min_rate`](Self::body_min_rate) (408; nginx's
    /// `client_body_timeout`). `None`: no limit.
    pub body_timeout: Option<Duration>,
    /// Slowest average rate, in bytes per second, at which a request body
    /// may arrive once its grace period (`body_timeout`) has passed: a body
    /// of `n` bytes must have arrived `body_timeout + n / rate` after its
    /// first read (408). `None`: no rate.
    pub body_min_rate: Option<u64>,
    /// Longest wait for the client to take response bytes (nginx's
    /// `send_timeout`): a write that makes no progress for this long fails
    /// and the connection closes. `None`: no limit.
    pub send_timeout: Option<Duration>,
    /// How long an idle keep-alive connection waits for the next request
    /// (gunicorn's `keepalive`, 2 s), counted from the end of the previous
    /// response: empty lines sent meanwhile do not extend it. Zero disables
    /// keep-alive.
    pub keep_alive: Duration,
    /// Most unread request-body bytes, counted on the wire (chunk framing
    /// included), the engine reads and discards to keep a connection alive
    /// after the application answered; a longer rest closes the connection
    /// instead.
    pub max_drain: u64,
    /// Policy for header names containing `_` (gunicorn's `header_map`).
    pub underscore_headers: UnderscoreHeaders,
    /// Value of the `Server` response header; `None` sends none.
    pub server_header: Option<String>,
    /// Which front ends are trusted: secure-scheme headers
    /// (`forwarded_allow_ips`, `secure_scheme_headers`) and the PROXY
    /// protocol (`proxy_protocol`, `proxy_allow_ips`, applied by whoever
    /// accepts the connection: see [`crate::trust::proxy`]). gunicorn's
    /// defaults.
    pub trust: Arc<Trust>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            limit_request_line: 4094,
            limit_request_fields: 100,
            limit_request_field_size: 8190,
            limit_request_head: 64 * 1024,
            limit_request_body: Some(DEFAULT_LIMIT_REQUEST_BODY),
            header_timeout: Some(Duration::from_secs(30)),
            body_timeout: Some(Duration::from_secs(30)),
            body_min_rate: Some(1024),
            send_timeout: Some(Duration::from_secs(60)),
            keep_alive: Duration::from_secs(2),
            max_drain: 64 * 1024,
            underscore_headers: UnderscoreHeaders::Drop,
            server_header: Some("moss".to_owned()),
            trust: Arc::new(Trust::default()),
        }
    }
}

/// Hard cap on a request head, whatever the limits say.
pub(crate) const MAX_HEAD: usize = 1 << 20;

impl HttpConfig {
    /// Request-line limit with `0` resolved.
    pub(crate) fn line_limit(&self) -> usize {
        match self.limit_request_line {
            0 => 64 * 1024,
            n => n,
        }
    }

    /// Head-size limit with `0` resolved, never above the hard cap.
    pub(crate) fn head_limit(&self) -> usize {
        match self.limit_request_head {
            0 => MAX_HEAD,
            n => n.min(MAX_HEAD),
        }
    }

    /// Field-count limit with `0` resolved.
    pub(crate) fn fields_limit(&self) -> usize {
        match self.limit_request_fields {
            0 => 32768,
            n => n,
        }
    }

    /// The settings body decoding needs: everything but `server_header`
    /// (so that copying them allocates nothing; `trust` is shared).
    pub(crate) fn limits(&self) -> HttpConfig {
        HttpConfig {
            server_header: None,
            trust: Arc::clone(&self.trust),
            ..*self
        }
    }

    /// Field-size limit with `0` resolved.
    pub(crate) fn field_size_limit(&self) -> usize {
        match self.limit_request_field_size {
            0 => 8190,
            n => n,
        }
    }
}
