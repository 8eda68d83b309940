//! Table tests: each request-smuggling vector and limit gets its status, a
//! closed connection, and never reaches the application.

mod util;

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};

use moss_server::{HttpConfig, Request, Response};
use util::{parse_responses, serve};

/// Serves `input` whole and byte by byte; returns (status, app calls) and
/// checks the answer closes the connection.
fn refused(input: &str, config: &HttpConfig) -> (u16, usize) {
    let mut result = None;
    for chunks in [&[][..], &[1]] {
        let calls = AtomicUsize::new(0);
        let app = |mut req: Request| {
            calls.fetch_add(1, Ordering::SeqCst);
            let _ = req.body_mut().read_to_end(&mut Vec::new());
            Response::new("ok".into())
        };
        let out = serve(input.as_bytes(), chunks, &app, config);
        let responses = parse_responses(&out, &[]);
        let last = responses.last().expect("a response");
        assert!(last.closes(), "{input:?}: not closed");
        assert_eq!(responses.len(), 1, "{input:?}: {responses:?}");
        assert!(
            !String::from_utf8_lossy(&last.body).contains("<script>"),
            "input echoed"
        );
        let now = (last.status, calls.load(Ordering::SeqCst));
        assert!(result.is_none_or(|r| r == now), "{input:?}: feeds disagree");
        result = Some(now);
    }
    result.unwrap()
}

const HEAD_VECTORS: &[(&str, &str, u16)] = &[
    ("CL and TE together", "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("TE then CL", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400),
    ("differing CL", "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    ("repeated equal CL", "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
    ("CL list", "POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc", 400),
    ("CL plus sign", "POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc", 400),
    ("CL minus sign", "POST / HTTP/1.1\r\nContent-Length: -3\r\n\r\nabc", 400),
    ("CL hex", "POST / HTTP/1.1\r\nContent-Length: 0x3\r\n\r\nabc", 400),
    ("CL inner space", "POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\nabc", 400),
    ("CL overflow", "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
    ("chunked not final", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
    ("chunked twice", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("gzip without chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    ("unknown coding", "POST / HTTP/1.1\r\nTransfer-Encoding: br, chunked\r\n\r\n0\r\n\r\n", 501),
    ("chunked in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("space before colon", "POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
    ("tab before colon", "GET / HTTP/1.1\r\nHost\t: x\r\n\r\n", 400),
    ("NUL in value", "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 400),
    ("bare CR in value", "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 400),
    ("bare LF line end", "GET / HTTP/1.1\r\nX: a\nContent-Length: 5\r\n\r\nhello", 400),
    ("bare LF request line", "GET / HTTP/1.1\nHost: x\r\n\r\n", 400),
    ("obs-fold", "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400),
    ("obs-fold first field", "GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400),
    ("DEL in value", "GET / HTTP/1.1\r\nX: a\x7fb\r\n\r\n", 400),
    ("invalid method char", "G@T / HTTP/1.1\r\n\r\n", 400),
    ("lower-case method", "get / HTTP/1.1\r\n\r\n", 400),
    ("malformed version", "GET / HTTP/1.x\r\n\r\n", 400),
    ("unsupported version", "GET / HTTP/2.0\r\n\r\n", 505),
    ("HTTP/1.2", "GET / HTTP/1.2\r\n\r\n", 505),
    ("two spaces", "GET  / HTTP/1.1\r\n\r\n", 400),
    ("asterisk without OPTIONS", "GET * HTTP/1.1\r\n\r\n", 400),
    ("authority without CONNECT", "GET example.com:80 HTTP/1.1\r\n\r\n", 400),
    ("repeated Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("unknown expectation", "POST / HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417),
    ("escaped input not echoed", "GET /<script> HTTP/9.9<script>\r\n\r\n", 400),
    ("incomplete head", "GET / HTTP/1.1\r\nHost: x\r\n", 400),
];

#[test]
fn head_vectors_are_refused_before_the_app() {
    for (what, input, status) in HEAD_VECTORS {
        let (got, calls) = refused(input, &HttpConfig::default());
        assert_eq!(got, *status, "{what}");
        assert_eq!(calls, 0, "{what}: reached the app");
    }
}

const CHUNK_VECTORS: &[(&str, &str)] = &[
    ("plus sign", "+5\r\nhello\r\n0\r\n\r\n"),
    ("minus sign", "-5\r\nhello\r\n0\r\n\r\n"),
    ("0x prefix", "0x5\r\nhello\r\n0\r\n\r\n"),
    ("space after size", "5 \r\nhello\r\n0\r\n\r\n"),
    ("space before size", " 5\r\nhello\r\n0\r\n\r\n"),
    ("underscore", "5_0\r\nhello\r\n0\r\n\r\n"),
    ("overflow", "10000000000000005\r\nhello\r\n0\r\n\r\n"),
    ("empty size", "\r\nhello\r\n0\r\n\r\n"),
    ("bare LF after size", "5\nhello\r\n0\r\n\r\n"),
    ("bare CR in extension", "5;a=b\rc\r\nhello\r\n0\r\n\r\n"),
    ("extension without name", "5;=b\r\nhello\r\n0\r\n\r\n"),
    (
        "unterminated quoted extension",
        "5;a=\"b\r\nhello\r\n0\r\n\r\n",
    ),
    ("data longer than size", "5\r\nhelloX\r\n0\r\n\r\n"),
    ("missing final CRLF", "5\r\nhello\r\n0\r\n"),
    (
        "forbidden trailer",
        "5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n",
    ),
    ("truncated data", "5\r\nhel"),
];

#[test]
fn chunk_vectors_are_refused() {
    for (what, chunks) in CHUNK_VECTORS {
        let input = format!("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{chunks}");
        let (status, calls) = refused(&input, &HttpConfig::default());
        assert_eq!(status, 400, "{what}");
        assert_eq!(calls, 1, "{what}");
    }
}

#[test]
fn underscore_fields_are_dropped_refused_or_kept() {
    let input = "POST / HTTP/1.1\r\nTransfer_Encoding: chunked\r\nContent-Length: 2\r\n\r\nhi";
    let seen = std::sync::Mutex::new(Vec::new());
    let app = |mut req: Request| {
        let mut body = Vec::new();
        req.body_mut().read_to_end(&mut body).unwrap();
        seen.lock().unwrap().push((req.headers().len(), body));
        Response::new("ok".into())
    };
    let out = serve(input.as_bytes(), &[], &app, &HttpConfig::default());
    assert_eq!(parse_responses(&out, &[])[0].status, 200);
    assert_eq!(seen.lock().unwrap().pop(), Some((1, b"hi".to_vec())));

    let refuse = HttpConfig {
        underscore_headers: moss_server::UnderscoreHeaders::Refuse,
        ..Default::default()
    };
    assert_eq!(refused(input, &refuse), (400, 0));

    let keep = HttpConfig {
        underscore_headers: moss_server::UnderscoreHeaders::Keep,
        ..Default::default()
    };
    let out = serve(input.as_bytes(), &[], &app, &keep);
    assert_eq!(parse_responses(&out, &[])[0].status, 200);
    assert_eq!(seen.lock().unwrap().pop(), Some((2, b"hi".to_vec())));
}

#[test]
fn limits_get_their_statuses() {
    let config = HttpConfig::default();
    let long_line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(4094));
    assert_eq!(refused(&long_line, &config), (414, 0));
    let fits = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(4094 - 15));
    let out = serve(
        fits.as_bytes(),
        &[],
        &|_req: Request| Response::new("ok".into()),
        &config,
    );
    assert_eq!(parse_responses(&out, &[])[0].status, 200);

    let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
    assert_eq!(
        refused(&format!("GET / HTTP/1.1\r\n{many}\r\n"), &config),
        (431, 0)
    );
    let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "v".repeat(8190));
    assert_eq!(refused(&big, &config), (431, 0));

    let limited = HttpConfig {
        limit_request_body: Some(4),
        ..Default::default()
    };
    assert_eq!(
        refused(
            "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            &limited
        ),
        (413, 0)
    );
    let chunked =
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n";
    assert_eq!(refused(chunked, &limited), (413, 1));
}
