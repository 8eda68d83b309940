//! `hello`: the smallest app, for measuring the server itself.

use http::header::{HeaderValue, CONTENT_TYPE};

use crate::{App, Request, Response, ResponseBody};

/// Answers every request with `Hello, World!` (`text/plain`), a static
/// body: no allocation for the body, no read of the request's.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hello;

impl App for Hello {
    fn call(&self, _request: Request) -> Response {
        let mut response = Response::new(ResponseBody::from("Hello, World!"));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::tests::get;

    #[test]
    fn every_request_gets_hello_world() {
        for uri in ["/", "/any/path?x=1"] {
            let response = Hello.call(get(uri));
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()[CONTENT_TYPE], "text/plain");
            assert_eq!(response.body().len_hint(), Some(13));
        }
    }
}
