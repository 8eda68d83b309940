//! What both hyper peers (`peer-hyper`, `peer-hyper-tls`) serve: `/sleep?ms=N` and `Hello, World!`, as moss's demo apps.

use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode, Uri};

/// A `text/plain` response.
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// The `ms` parameter of a query, at most a minute.
fn millis(query: Option<&str>) -> Option<u64> {
    let ms = query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("ms="))?;
    ms.parse().ok().filter(|&ms| ms <= 60_000)
}

/// `/sleep?ms=N` waits N ms (`tokio::time::sleep`); any other path is
/// `Hello, World!`.
pub async fn hello_or_sleep(uri: &Uri) -> Response<Full<Bytes>> {
    if uri.path() != "/sleep" {
        return text(StatusCode::OK, Bytes::from_static(b"Hello, World!"));
    }
    match millis(uri.query()) {
        Some(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            text(StatusCode::OK, format!("slept {ms} ms\n"))
        }
        None => text(StatusCode::BAD_REQUEST, "try /sleep?ms=N\n"),
    }
}
