//! Why a request was refused, and the status and canned response each reason gets.

use http::StatusCode;

/// A request the engine refuses before (or instead of) the application's answer.
///
/// Each variant maps to one status ([`HttpError::status`]); the engine answers
/// with a fixed text that never echoes the client's input, then closes the
/// connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// Malformed request: request line, header, framing or chunk syntax (400).
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The request line is longer than `limit_request_line` (414).
    #[error("request line too long")]
    UriTooLong,
    /// Too many header fields, or one longer than `limit_request_field_size` (431).
    #[error("request header fields too large")]
    HeaderFieldsTooLarge,
    /// The body is longer than `limit_request_body` (413).
    #[error("request body too large")]
    PayloadTooLarge,
    /// The request head did not arrive within `header_timeout` (408).
    #[error("timed out reading the request head")]
    RequestTimeout,
    /// An `https` target on a connection that is not secured (421, RFC 9110
    /// section 7.4): [`ConnInfo::scheme`](crate::ConnInfo::scheme) is not `https`.
    #[error("https target on a connection that is not secured")]
    MisdirectedRequest,
    /// A transfer coding the engine does not know, before a final `chunked` (501).
    #[error("unsupported transfer coding")]
    UnsupportedTransferCoding,
    /// A well-formed HTTP version other than 1.0 and 1.1 (505).
    #[error("unsupported HTTP version")]
    VersionNotSupported,
    /// An `Expect` value other than `100-continue` (417).
    #[error("unsupported expectation")]
    ExpectationFailed,
    /// The application panicked (500).
    #[error("application panicked")]
    AppPanicked,
    /// The application's response cannot be sent as it is (500): a final
    /// `1xx` status, or `101 Switching Protocols` to a request that did not
    /// ask to upgrade.
    #[error("invalid response: {0}")]
    InvalidResponse(&'static str),
    /// A `CONNECT` request the application answered with `2xx` without
    /// taking the connection ([`on_upgrade`](crate::on_upgrade)) (501).
    #[error("CONNECT is not supported here")]
    ConnectNotSupported,
}

impl HttpError {
    /// The response status for this refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HttpError::UriTooLong => StatusCode::URI_TOO_LONG,
            HttpError::HeaderFieldsTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            HttpError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            HttpError::MisdirectedRequest => StatusCode::MISDIRECTED_REQUEST,
            HttpError::UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
            HttpError::VersionNotSupported => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            HttpError::ExpectationFailed => StatusCode::EXPECTATION_FAILED,
            HttpError::AppPanicked | HttpError::InvalidResponse(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            HttpError::ConnectNotSupported => StatusCode::NOT_IMPLEMENTED,
        }
    }
}
