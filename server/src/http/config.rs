//! Engine settings: gunicorn-named limits, timeouts and header policies.

use std::time::Duration;

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

/// Settings of the HTTP/1.1 engine, shared by every connection of a worker.
///
/// Limits carry gunicorn's names and defaults. Exceeding a limit gets the
/// status named on the field and a closed connection.
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
    /// Longest request body in bytes after de-chunking (413); `None`, the
    /// default, means no limit.
    pub limit_request_body: Option<u64>,
    /// Time allowed to receive a whole request head once it has started
    /// (408), also applied to each read of a request body. `None`: no limit.
    pub header_timeout: Option<Duration>,
    /// How long an idle keep-alive connection waits for the next request
    /// (gunicorn's `keepalive`, 2 s). Zero disables keep-alive.
    pub keep_alive: Duration,
    /// Most unread request-body bytes the engine reads and discards to keep
    /// a connection alive after the application answered; a longer rest
    /// closes the connection instead.
    pub max_drain: u64,
    /// Policy for header names containing `_` (gunicorn's `header_map`).
    pub underscore_headers: UnderscoreHeaders,
    /// Value of the `Server` response header; `None` sends none.
    pub server_header: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            limit_request_line: 4094,
            limit_request_fields: 100,
            limit_request_field_size: 8190,
            limit_request_body: None,
            header_timeout: Some(Duration::from_secs(30)),
            keep_alive: Duration::from_secs(2),
            max_drain: 64 * 1024,
            underscore_headers: UnderscoreHeaders::Drop,
            server_header: Some("moss".to_owned()),
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

    /// Field-count limit with `0` resolved.
    pub(crate) fn fields_limit(&self) -> usize {
        match self.limit_request_fields {
            0 => 32768,
            n => n,
        }
    }

    /// The settings body decoding needs: everything but `server_header`
    /// (so that copying them allocates nothing).
    pub(crate) fn limits(&self) -> HttpConfig {
        HttpConfig {
            server_header: None,
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
