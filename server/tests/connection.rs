//! Connection behaviour: keep-alive, pipelining and write batching, bodies
//! split at every byte, 100-continue, HEAD, HTTP/1.0, draining, panics,
//! streamed responses and timeouts.

mod util;

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use http::StatusCode;
use moss_server::{
    serve_connection, ConnInfo, HttpConfig, Request, RequestExt, Response, ResponseBody,
};
use util::{parse_responses, serve, TestStream};

/// Echoes the body, or answers `Hello, World!` to requests without one.
fn echo(mut req: Request) -> Response {
    let mut body = Vec::new();
    req.body_mut().read_to_end(&mut body).unwrap();
    if body.is_empty() {
        let path = req.info().path().into_owned();
        let mut response = Response::new(format!("Hello, World! {path}").into());
        response
            .headers_mut()
            .insert("content-type", "text/plain".parse().unwrap());
        response
    } else {
        Response::new(body.into())
    }
}

#[test]
fn pipelined_requests_are_answered_in_order_in_one_write() {
    let input: String = (0..100)
        .map(|i| format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n"))
        .collect();
    let stream = TestStream::new(input.as_bytes(), &[]);
    let (output, writes) = (stream.output.clone(), stream.writes.clone());
    serve_connection(stream, &echo, &HttpConfig::default(), ConnInfo::default()).unwrap();
    let responses = parse_responses(&output.lock().unwrap(), &[]);
    assert_eq!(responses.len(), 100);
    for (i, response) in responses.iter().enumerate() {
        assert_eq!(response.status, 200);
        assert_eq!(response.body, format!("Hello, World! /{i}").as_bytes());
        assert!(response.header("date").is_some_and(|d| d.ends_with(" GMT")));
        assert_eq!(response.header("server"), Some("moss"));
    }
    assert_eq!(
        *writes.lock().unwrap(),
        1,
        "pipelined responses leave in one write"
    );
}

#[test]
fn responses_are_flushed_when_input_runs_out() {
    let input = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    let stream = TestStream::new(input.as_bytes(), &[28]);
    let writes = stream.writes.clone();
    serve_connection(stream, &echo, &HttpConfig::default(), ConnInfo::default()).unwrap();
    assert_eq!(*writes.lock().unwrap(), 2);
}

const CHUNKED: &[u8] = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
    5;name=\"v a\"\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Sum: 1\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n";
const LENGTH: &[u8] =
    b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\nhello 0123456789GET /next HTTP/1.1\r\nHost: x\r\n\r\n";

#[test]
fn bodies_split_at_every_byte_boundary() {
    for input in [CHUNKED, LENGTH] {
        for split in 1..input.len() {
            for chunks in [vec![split, usize::MAX], vec![split, 1]] {
                let out = serve(input, &chunks, &echo, &HttpConfig::default());
                let responses = parse_responses(&out, &[]);
                assert_eq!(responses.len(), 2, "split at {split}");
                assert_eq!(responses[0].body, b"hello 0123456789", "split at {split}");
                assert_eq!(responses[1].body, b"Hello, World! /next");
            }
        }
    }
}

#[test]
fn trailers_reach_the_app() {
    let trailers = Mutex::new(None);
    let app = |mut req: Request| {
        std::io::copy(req.body_mut(), &mut std::io::sink()).unwrap();
        if req.method() == http::Method::POST {
            *trailers.lock().unwrap() = req.body().trailers();
        }
        Response::new(ResponseBody::empty())
    };
    serve(CHUNKED, &[1], &app, &HttpConfig::default());
    assert_eq!(trailers.lock().unwrap().as_ref().unwrap()["x-sum"], "1");
}

#[test]
fn continue_is_sent_when_the_app_reads_the_body() {
    let input =
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello";
    let out = serve(input, &[], &echo, &HttpConfig::default());
    assert!(out.starts_with(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"));
    let responses = parse_responses(&out, &[]);
    assert_eq!(responses[1].body, b"hello");
    assert!(!responses[1].closes());
}

#[test]
fn continue_is_not_sent_when_the_app_ignores_the_body() {
    let input = b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let app = |_req: Request| Response::new("no".into());
    let out = serve(input, &[], &app, &HttpConfig::default());
    let responses = parse_responses(&out, &[]);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, 200);
    assert!(responses[0].closes(), "the body was never asked for: close");
}

#[test]
fn head_gets_headers_without_body() {
    let input = b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let out = serve(input, &[], &echo, &HttpConfig::default());
    let responses = parse_responses(&out, &[true, false]);
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0].header("content-length"), Some("15"));
    assert!(responses[0].body.is_empty());
    assert_eq!(responses[1].body, b"Hello, World! /");
}

#[test]
fn http10_closes_unless_asked_to_keep_alive() {
    let out = serve(
        b"GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\n",
        &[],
        &echo,
        &HttpConfig::default(),
    );
    let responses = parse_responses(&out, &[]);
    assert_eq!(responses.len(), 1);
    assert!(responses[0].closes());

    let input = b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n";
    let out = serve(input, &[], &echo, &HttpConfig::default());
    let responses = parse_responses(&out, &[]);
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0].header("connection"), Some("keep-alive"));
    assert!(responses[1].closes());
}

#[test]
fn http11_closes_when_asked() {
    let input = b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    let out = serve(input, &[], &echo, &HttpConfig::default());
    let responses = parse_responses(&out, &[]);
    assert_eq!(responses.len(), 1);
    assert!(responses[0].closes());
}

#[test]
fn streamed_bodies_are_chunked_for_11_and_close_delimited_for_10() {
    let app = |_req: Request| {
        Response::new(ResponseBody::stream(std::io::Cursor::new(
            b"streamed".to_vec(),
        )))
    };
    let out = serve(
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[],
        &app,
        &HttpConfig::default(),
    );
    let responses = parse_responses(&out, &[]);
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0].header("transfer-encoding"), Some("chunked"));
    assert_eq!(responses[0].body, b"streamed");

    let out = serve(
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        &[],
        &app,
        &HttpConfig::default(),
    );
    let responses = parse_responses(&out, &[]);
    assert!(responses[0].closes());
    assert!(responses[0].header("transfer-encoding").is_none());
    assert_eq!(responses[0].body, b"streamed");
}

#[test]
fn request_body_can_be_streamed_back() {
    let app = |req: Request| Response::new(ResponseBody::stream(req.into_body()));
    let out = serve(CHUNKED, &[7], &app, &HttpConfig::default());
    let responses = parse_responses(&out, &[]);
    assert_eq!(responses[0].body, b"hello 0123456789");
    assert_eq!(responses.len(), 2);
}

#[test]
fn a_streamed_echo_gets_continue_before_its_response() {
    let app = |req: Request| Response::new(ResponseBody::stream(req.into_body()));
    let input =
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello";
    let out = serve(input, &[], &app, &HttpConfig::default());
    assert!(out.starts_with(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"));
    let responses = parse_responses(&out, &[]);
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[1].body, b"hello");
}

#[test]
fn bodiless_statuses_have_no_body() {
    for status in [StatusCode::NO_CONTENT, StatusCode::NOT_MODIFIED] {
        let app = move |_req: Request| {
            let mut response = Response::new("ignored".into());
            *response.status_mut() = status;
            response
        };
        let out = serve(
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            &[],
            &app,
            &HttpConfig::default(),
        );
        let responses = parse_responses(&out, &[]);
        assert_eq!(responses.len(), 2, "{status}");
        assert!(responses[0].body.is_empty());
        assert!(responses[0].header("content-length").is_none());
    }
}

#[test]
fn unread_bodies_are_drained_or_the_connection_closed() {
    let ignore = |_req: Request| Response::new("ok".into());
    let small = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let responses = parse_responses(&serve(small, &[2], &ignore, &HttpConfig::default()), &[]);
    assert_eq!(responses.len(), 2);

    let config = HttpConfig {
        max_drain: 4,
        ..Default::default()
    };
    let responses = parse_responses(&serve(small, &[], &ignore, &config), &[]);
    assert_eq!(responses.len(), 1);
    assert!(responses[0].closes());

    let chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let responses = parse_responses(&serve(chunked, &[3], &ignore, &HttpConfig::default()), &[]);
    assert_eq!(responses.len(), 2);
}

#[test]
fn a_panicking_app_gets_500_and_a_closed_connection() {
    let calls = AtomicUsize::new(0);
    let app = |_req: Request| -> Response {
        calls.fetch_add(1, Ordering::SeqCst);
        panic!("application bug");
    };
    let out = serve(
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[],
        &app,
        &HttpConfig::default(),
    );
    let responses = parse_responses(&out, &[]);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, 500);
    assert!(responses[0].closes());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn a_body_kept_past_its_response_reads_as_an_error() {
    let kept = Mutex::new(None);
    let app = |req: Request| {
        kept.lock().unwrap().get_or_insert(req.into_body());
        Response::new("ok".into())
    };
    let input = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nho";
    let responses = parse_responses(&serve(input, &[], &app, &HttpConfig::default()), &[]);
    assert_eq!(responses.len(), 2);
    let mut body = kept.lock().unwrap().take().unwrap();
    assert!(body.read(&mut [0; 8]).is_err());
}

#[test]
fn a_partial_head_that_times_out_gets_408_and_idle_connections_close_quietly() {
    let mut stream = TestStream::new(b"GET / HTTP/1.1\r\nHost:", &[]);
    stream.stall_at_end = true;
    let output = stream.output.clone();
    serve_connection(stream, &echo, &HttpConfig::default(), ConnInfo::default()).unwrap();
    let responses = parse_responses(&output.lock().unwrap(), &[]);
    assert_eq!(responses[0].status, 408);
    assert!(responses[0].closes());

    let mut stream = TestStream::new(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", &[]);
    stream.stall_at_end = true;
    let (output, timeouts) = (stream.output.clone(), stream.timeouts.clone());
    serve_connection(stream, &echo, &HttpConfig::default(), ConnInfo::default()).unwrap();
    let responses = parse_responses(&output.lock().unwrap(), &[]);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, 200);
    // The waits were bounded by what was left of the header timeout, then
    // of the keep-alive time (deadlines, so a little less than each).
    let config = HttpConfig::default();
    let timeouts = timeouts.lock().unwrap();
    let expected = [config.header_timeout.unwrap(), config.keep_alive];
    assert_eq!(timeouts.len(), expected.len(), "{timeouts:?}");
    for (timeout, limit) in timeouts.iter().zip(expected) {
        let timeout = timeout.expect("every wait is bounded");
        assert!(
            timeout <= limit && timeout > limit / 2,
            "{timeout:?} for {limit:?}"
        );
    }
}

#[test]
fn request_info_carries_cgi_facts() {
    let seen = Mutex::new(None);
    let app = |req: Request| {
        let info = req.info();
        *seen.lock().unwrap() = Some((
            info.remote_addr(),
            info.server_name().into_owned(),
            info.server_port(),
            info.path().into_owned(),
            info.query().to_owned(),
            info.scheme().to_string(),
        ));
        Response::new(ResponseBody::empty())
    };
    let stream = TestStream::new(
        b"GET /a%20b?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
        &[],
    );
    let conn = ConnInfo {
        peer_addr: "10.0.0.1:4000".parse().ok(),
        ..Default::default()
    };
    serve_connection(stream, &app, &HttpConfig::default(), conn).unwrap();
    let seen = seen.lock().unwrap().clone().unwrap();
    assert_eq!(seen.0, "10.0.0.1".parse().ok());
    assert_eq!((seen.1.as_str(), seen.2), ("example.com", 8080));
    assert_eq!(
        (seen.3.as_str(), seen.4.as_str(), seen.5.as_str()),
        ("/a b", "x=1", "http")
    );
}
