//! `echo`: the request body back, streamed.

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};

use crate::{App, Request, Response, ResponseBody};

/// Sends the request body back with the request's `Content-Type`.
///
/// The body is streamed: the engine reads the request body while it writes
/// the response (on the request's own green thread, where a `Body` may be
/// read), so memory stays flat whatever the size, and the engine's
/// `limit_request_body` applies. A body of known length goes back with
/// that length; a chunked one goes back chunked.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

impl App for Echo {
    fn call(&self, request: Request) -> Response {
        let headers = request.headers();
        let content_type = headers.get(CONTENT_TYPE).cloned();
        // Neither framing field: no body (RFC 9112 section 6.3).
        let length = match (headers.get(CONTENT_LENGTH), headers.get(TRANSFER_ENCODING)) {
            (_, Some(_)) => None,
            (Some(value), None) => value.to_str().ok().and_then(|v| v.parse::<u64>().ok()),
            (None, None) => Some(0),
        };
        let body = request.into_body();
        let mut response = Response::new(match length {
            Some(0) => ResponseBody::empty(),
            Some(length) => ResponseBody::sized(body, length),
            None => ResponseBody::stream(body),
        });
        if let Some(content_type) = content_type {
            response.headers_mut().insert(CONTENT_TYPE, content_type);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::tests::{body, exchange};

    #[test]
    fn a_sized_body_comes_back_with_its_length_and_type() {
        let request = http::Request::post("/")
            .header("content-type", "application/x-thing")
            .header("content-length", "5")
            .body("hello".into())
            .unwrap();
        let response = Echo.call(request);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/x-thing");
        assert_eq!(response.body().len_hint(), Some(5));

        let response = exchange(
            &Echo,
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 5\r\n\r\na,b,c",
        );
        let head = response.to_ascii_lowercase();
        assert!(
            head.contains("\r\ncontent-type: text/csv\r\n"),
            "{response}"
        );
        assert!(head.contains("\r\ncontent-length: 5\r\n"), "{response}");
        assert_eq!(body(&response), "a,b,c");
    }

    #[test]
    fn a_chunked_body_streams_back_chunked() {
        let response = exchange(
            &Echo,
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
             3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        );
        let head = response.to_ascii_lowercase();
        assert!(
            head.contains("\r\ntransfer-encoding: chunked\r\n"),
            "{response}"
        );
        let body = body(&response);
        assert!(
            body.contains("abc") && body.ends_with("0\r\n\r\n"),
            "{body}"
        );
        assert!(!head.contains("content-type"));
    }

    #[test]
    fn no_body_gives_an_empty_response() {
        let response = exchange(&Echo, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        let head = response.to_ascii_lowercase();
        assert!(head.contains("\r\ncontent-length: 0\r\n"), "{response}");
        assert_eq!(body(&response), "");
    }
}
