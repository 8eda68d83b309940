//! The settings that change what the engine refuses: each size limit gets
//! its status and a closed connection, and `underscore_headers` drops,
//! refuses or keeps field names with `_`. (Request vectors under the
//! default settings, the smuggling ones included, are in `corpus/`.)

mod util;

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};

use moss_server::{HttpConfig, Request, Response};
use util::{parse_responses, serve};

/// Serves `input` whole and byte by byte; returns (status, app calls) and
/// checks the answer is a single refusal that closes the connection.
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
        let now = (last.status, calls.load(Ordering::SeqCst));
        assert!(result.is_none_or(|r| r == now), "{input:?}: feeds disagree");
        result = Some(now);
    }
    result.unwrap()
}

#[test]
fn underscore_fields_are_dropped_refused_or_kept() {
    let input =
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer_Encoding: chunked\r\nContent-Length: 2\r\n\r\nhi";
    let seen = std::sync::Mutex::new(Vec::new());
    let app = |mut req: Request| {
        let mut body = Vec::new();
        req.body_mut().read_to_end(&mut body).unwrap();
        seen.lock().unwrap().push((req.headers().len(), body));
        Response::new("ok".into())
    };
    let out = serve(input.as_bytes(), &[], &app, &HttpConfig::default());
    assert_eq!(parse_responses(&out, &[])[0].status, 200);
    assert_eq!(seen.lock().unwrap().pop(), Some((2, b"hi".to_vec())));

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
    assert_eq!(seen.lock().unwrap().pop(), Some((3, b"hi".to_vec())));
}

#[test]
fn limits_get_their_statuses() {
    let config = HttpConfig::default();
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(4094));
    assert_eq!(refused(&long_line, &config), (414, 0));
    let fits = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(4094 - 15));
    let out = serve(
        fits.as_bytes(),
        &[],
        &|_req: Request| Response::new("ok".into()),
        &config,
    );
    assert_eq!(parse_responses(&out, &[])[0].status, 200);

    // With Host, 101 fields: one past the limit.
    let many: String = (0..100).map(|i| format!("X-{i}: v\r\n")).collect();
    assert_eq!(
        refused(&format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n"), &config),
        (431, 0)
    );
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "v".repeat(8190)
    );
    assert_eq!(refused(&big, &config), (431, 0));

    let limited = HttpConfig {
        limit_request_body: Some(4),
        ..Default::default()
    };
    assert_eq!(
        refused(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            &limited
        ),
        (413, 0)
    );
    let chunked =
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n";
    assert_eq!(refused(chunked, &limited), (413, 1));
}
