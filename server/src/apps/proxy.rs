//! `proxy`: every request forwarded to an upstream HTTP server, with ureq over std::net.
//!
//! ```text
//!   client ──► moss worker ──ureq, std::net──► --upstream URL
//!          ◄── status, fields, body streamed ◄──
//! ```
//!
//! In a green worker the patch layer makes ureq's std sockets park instead
//! of blocking the hub. Name resolution is the C library's and blocks; an
//! upstream given by IP address avoids it.

use std::time::Duration;

use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode};

use super::text;
use crate::{App, Request, RequestExt, Response, ResponseBody};

/// Fields that describe one connection, not the message (RFC 9110 section
/// 7.6.1), never forwarded; fields a `Connection` field names are not either.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Forwards each request — method, path and query, fields but the
/// hop-by-hop ones, body — to an upstream `http://` URL, and sends its
/// answer back the same way. Adds `X-Forwarded-For`, `-Proto` and `-Host`.
///
/// Without an upstream, or when the upstream fails, the answer is 502 with
/// the cause. Redirects are passed back, not followed. `https` upstreams
/// are refused: this build of ureq has no TLS.
pub struct Proxy {
    /// The upstream URL without a trailing `/`, or why there is none.
    upstream: Result<String, String>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// A proxy to `upstream` (`http://host[:port][/prefix]`).
    pub fn new(upstream: Option<&str>) -> Proxy {
        let upstream = match upstream {
            None => Err("the proxy app needs an upstream: pass --upstream http://HOST:PORT".into()),
            Some(url) if !url.starts_with("http://") => Err(format!(
                "the proxy app's upstream must be an http:// URL, not {url:?}"
            )),
            Some(url) => Ok(url.trim_end_matches('/').to_owned()),
        };
        let agent = ureq::AgentBuilder::new()
            .redirects(0)
            .timeout_connect(Duration::from_secs(10))
            .timeout_read(Duration::from_secs(60))
            .timeout_write(Duration::from_secs(60))
            .build();
        Proxy { upstream, agent }
    }
}

impl App for Proxy {
    fn call(&self, request: Request) -> Response {
        let upstream = match &self.upstream {
            Ok(upstream) => upstream,
            Err(why) => return text(StatusCode::BAD_GATEWAY, format!("{why}\n")),
        };
        if request.method() == Method::CONNECT {
            return text(
                StatusCode::METHOD_NOT_ALLOWED,
                "the proxy does not tunnel\n",
            );
        }
        let info = request.info();
        let target = info.target();
        let path = match target.path() {
            "" => "/",
            path => path,
        };
        let url = match target.query() {
            "" => format!("{upstream}{path}"),
            query => format!("{upstream}{path}?{query}"),
        };
        let mut forward = self.agent.request(request.method().as_str(), &url);
        let headers = request.headers();
        let named = connection_options(headers.get_all(header::CONNECTION));
        for name in headers.keys() {
            // ureq names the upstream in `Host`; `Expect` was answered here.
            let skipped = name == header::HOST || name == header::EXPECT;
            if skipped || is_hop_by_hop(name.as_str(), &named) {
                continue;
            }
            let separator = if name == header::COOKIE { "; " } else { ", " };
            let values: Option<Vec<&str>> = (headers.get_all(name).iter())
                .map(|value| value.to_str().ok())
                .collect();
            if let Some(values) = values {
                forward = forward.set(name.as_str(), &values.join(separator));
            }
        }
        let forwarded_for = match (headers.get("x-forwarded-for"), info.remote_addr()) {
            (Some(earlier), Some(addr)) => {
                format!("{}, {addr}", String::from_utf8_lossy(earlier.as_bytes()))
            }
            (None, Some(addr)) => addr.to_string(),
            (earlier, None) => earlier.map_or_else(String::new, |v| {
                String::from_utf8_lossy(v.as_bytes()).into_owned()
            }),
        };
        if !forwarded_for.is_empty() {
            forward = forward.set("x-forwarded-for", &forwarded_for);
        }
        forward = forward.set("x-forwarded-proto", info.scheme().as_str());
        if let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
            forward = forward.set("x-forwarded-host", host);
        }
        let has_body = headers.contains_key(header::CONTENT_LENGTH)
            || headers.contains_key(header::TRANSFER_ENCODING);
        let head = request.method() == Method::HEAD;
        drop(info);
        // A body goes with its `Content-Length` (copied above) or, when it
        // came chunked, chunked again by ureq.
        let result = match has_body {
            true => forward.send(request.into_body()),
            false => forward.call(),
        };
        match result {
            Ok(answer) | Err(ureq::Error::Status(_, answer)) => respond(answer, head),
            Err(ureq::Error::Transport(error)) => text(
                StatusCode::BAD_GATEWAY,
                format!("upstream {url} failed: {error}\n"),
            ),
        }
    }
}

/// The response to send back for the upstream's `answer`.
fn respond(answer: ureq::Response, head: bool) -> Response {
    let status = StatusCode::from_u16(answer.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() = status;
    let named: Vec<String> = (answer.all("connection").iter())
        .flat_map(|value| value.split(','))
        .map(|option| option.trim().to_ascii_lowercase())
        .collect();
    let mut seen: Vec<String> = Vec::new();
    for name in answer.headers_names() {
        if seen.contains(&name) || is_hop_by_hop(&name, &named) {
            continue;
        }
        let Ok(field) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        for value in answer.all(&name) {
            if let Ok(value) = HeaderValue::from_str(value) {
                response.headers_mut().append(field.clone(), value);
            }
        }
        seen.push(name);
    }
    let bodiless = head
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if !bodiless {
        let length = (answer.header("content-length")).and_then(|v| v.trim().parse::<u64>().ok());
        let reader = answer.into_reader();
        *response.body_mut() = match length {
            Some(length) => ResponseBody::sized(reader, length),
            None => ResponseBody::stream(reader),
        };
    }
    response
}

/// The field names a `Connection` field lists, lower case.
fn connection_options(values: header::GetAll<'_, HeaderValue>) -> Vec<String> {
    values
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|option| option.trim().to_ascii_lowercase())
        .collect()
}

/// Whether field `name` (lower case) stays on its hop.
fn is_hop_by_hop(name: &str, named: &[String]) -> bool {
    HOP_BY_HOP.contains(&name) || named.iter().any(|option| option == name)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::thread::JoinHandle;

    use super::*;
    use crate::apps::tests::{body, exchange, get};

    /// An upstream on a std::net thread: takes one request, answers
    /// `response`, returns what it received.
    fn upstream(response: &'static str) -> (String, JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut received = Vec::new();
            let mut buf = [0; 4096];
            loop {
                let n = stream.read(&mut buf).unwrap();
                received.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&received).to_ascii_lowercase();
                let Some((head, body)) = text.split_once("\r\n\r\n") else {
                    assert!(n > 0, "the proxy closed mid-head");
                    continue;
                };
                let length = (head.lines())
                    .find_map(|line| line.strip_prefix("content-length: "))
                    .map_or(0, |v| v.parse().unwrap());
                if n == 0 || body.len() >= length {
                    break;
                }
            }
            stream.write_all(response.as_bytes()).unwrap();
            String::from_utf8(received).unwrap()
        });
        (url, server)
    }

    #[test]
    fn requests_and_answers_cross_without_hop_by_hop_fields() {
        let (url, server) = upstream(
            "HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-Up: yes\r\n\
             Keep-Alive: timeout=5\r\nConnection: close, X-Private\r\nX-Private: 1\r\n\r\nhello",
        );
        let proxy = Proxy::new(Some(&format!("{url}/")));
        let response = exchange(
            &proxy,
            "POST /a/b?x=1 HTTP/1.1\r\nHost: front.example\r\nConnection: X-Hop\r\n\
             X-Hop: 1\r\nKeep-Alive: 5\r\nX-Custom: yes\r\nCookie: a=1\r\nCookie: b=2\r\n\
             Content-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc",
        );
        let received = server.join().unwrap();
        assert!(
            received.starts_with("POST /a/b?x=1 HTTP/1.1\r\n"),
            "{received}"
        );
        let received = received.to_ascii_lowercase();
        for field in [
            "\r\nx-custom: yes\r\n",
            "\r\ncookie: a=1; b=2\r\n",
            "\r\ncontent-length: 3\r\n",
            "\r\nx-forwarded-for: 10.0.0.1\r\n",
            "\r\nx-forwarded-proto: http\r\n",
            "\r\nx-forwarded-host: front.example\r\n",
        ] {
            assert!(received.contains(field), "{field:?} in {received}");
        }
        assert!(!received.contains("x-hop") && !received.contains("keep-alive"));
        assert!(
            received.contains("\r\nhost: 127.0.0.1:"),
            "ureq names the upstream"
        );
        assert!(received.ends_with("\r\n\r\nabc"));

        assert!(
            response.starts_with("HTTP/1.1 201 Created\r\n"),
            "{response}"
        );
        assert!(response.contains("\r\nx-up: yes\r\n"), "{response}");
        assert!(!response.contains("keep-alive") && !response.contains("x-private"));
        assert_eq!(body(&response), "hello");
    }

    #[test]
    fn an_upstream_error_status_passes_through() {
        let (url, server) = upstream(
            "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope",
        );
        let response = exchange(
            &Proxy::new(Some(&url)),
            "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        server.join().unwrap();
        assert!(
            response.starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{response}"
        );
        assert_eq!(body(&response), "nope");
    }

    #[test]
    fn an_unreachable_upstream_gets_502_naming_the_cause() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let response = exchange(&Proxy::new(Some(&url)), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(
            response.starts_with("HTTP/1.1 502 Bad Gateway\r\n"),
            "{response}"
        );
        assert!(body(&response).starts_with(&format!("upstream {url}/ failed: ")));
        assert!(
            body(&response).to_ascii_lowercase().contains("refused"),
            "{response}"
        );
    }

    #[test]
    fn without_an_upstream_every_request_gets_502_saying_so() {
        let response = Proxy::new(None).call(get("/"));
        assert_eq!(response.status(), 502);
        let response = exchange(&Proxy::new(None), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(body(&response).contains("pass --upstream"), "{response}");
        let response = Proxy::new(Some("https://example.com")).call(get("/"));
        assert_eq!(response.status(), 502);
    }
}
