//! The request-side requirements of RFC 9112 and RFC 9110 that no corpus
//! vector or other test already proves, one test per requirement (or small
//! group), each named after it. The conformance table in `docs/http.md`
//! lists every requirement with the test or corpus vector that proves it.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;
use std::time::Duration;

use http::uri::Scheme;
use http::StatusCode;
use moss_server::{
    serve_connection, ConnInfo, HttpConfig, Request, RequestExt, Response, ResponseBody,
};
use util::{parse_responses, Parsed, TestStream};

/// What the application saw of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    body_error: Option<ErrorKind>,
    server_name: String,
    server_port: u16,
}

/// Serves `input` on a connection described by `conn`, whole and then
/// byte by byte, to an application that reads each body to its end and
/// answers `200 ok`. Returns what the application saw and the responses;
/// both feeds must agree on them.
fn exchange_on(input: &[u8], config: &HttpConfig, conn: &ConnInfo) -> (Vec<Seen>, Vec<Parsed>) {
    let mut runs = [&[][..], &[1][..]].map(|chunks| {
        let seen = Mutex::new(Vec::new());
        let app = |mut req: Request| {
            let mut body = Vec::new();
            let body_error = req
                .body_mut()
                .read_to_end(&mut body)
                .err()
                .map(|e| e.kind());
            let info = req.info();
            seen.lock().unwrap().push(Seen {
                method: req.method().to_string(),
                target: info.target().as_str().to_owned(),
                headers: req
                    .headers()
                    .iter()
                    .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
                    .collect(),
                body,
                body_error,
                server_name: info.server_name().into_owned(),
                server_port: info.server_port(),
            });
            Response::new("ok".into())
        };
        let stream = TestStream::new(input, chunks);
        let output = stream.output.clone();
        serve_connection(stream, &app, config, conn.clone()).expect("in-memory I/O");
        let output = output.lock().unwrap().clone();
        (seen.into_inner().unwrap(), parse_responses(&output, &[]))
    });
    let (whole, bytewise) = (runs[0].clone(), std::mem::take(&mut runs[1]));
    let summary = |responses: &[Parsed]| -> Vec<(u16, bool, Vec<u8>)> {
        responses
            .iter()
            .map(|r| (r.status, r.closes(), r.body.clone()))
            .collect()
    };
    assert_eq!(whole.0, bytewise.0, "feeds disagree on what the app saw");
    assert_eq!(summary(&whole.1), summary(&bytewise.1), "feeds disagree");
    whole
}

/// [`exchange_on`] with the default settings on a plain connection.
fn exchange(input: &[u8]) -> (Vec<Seen>, Vec<Parsed>) {
    exchange_on(input, &HttpConfig::default(), &ConnInfo::default())
}

/// Asserts that `input` gets one response, `status`, closing the connection,
/// and that the application never ran.
fn assert_refused(input: &[u8], status: u16) {
    let (seen, responses) = exchange(input);
    let text = String::from_utf8_lossy(input);
    assert!(seen.is_empty(), "{text:?}: the application ran: {seen:?}");
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [status], "{text:?}");
    assert!(responses[0].closes(), "{text:?}: connection kept open");
}

// RFC 9112 section 2.2: message parsing.

/// "A recipient MUST parse an HTTP message as a sequence of octets in an
/// encoding that is a superset of US-ASCII."
#[test]
fn field_values_are_parsed_as_octets_not_as_text() {
    let (seen, responses) =
        exchange(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: \xff\xfe\x80 \xc3\r\n\r\n");
    assert_eq!(responses[0].status, 200);
    assert_eq!(
        seen[0].headers[1],
        ("x-a".to_owned(), b"\xff\xfe\x80 \xc3".to_vec())
    );
}

/// "A recipient of such a bare CR MUST consider that element to be invalid
/// or replace each bare CR with SP": in the request line and field names
/// (values, chunk lines and trailers are in the corpus).
#[test]
fn a_bare_cr_in_the_request_line_or_a_field_name_is_refused() {
    for input in [
        &b"GET /a\rb HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"GET\r/ HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /\rHTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX\rA: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A\r: 1\r\n\r\n",
    ] {
        assert_refused(input, 400);
    }
}

// RFC 9112 section 3.2 and RFC 9110 sections 4.2 and 7: the target and Host.

/// "A server MUST respond with a 400 (Bad Request) status code to any
/// HTTP/1.1 request message that lacks a Host header field."
#[test]
fn an_http11_request_without_host_is_refused() {
    assert_refused(b"GET / HTTP/1.1\r\n\r\n", 400);
    assert_refused(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", 400);
    assert_refused(b"GET http://a.example/ HTTP/1.1\r\n\r\n", 400);
    assert_refused(b"OPTIONS * HTTP/1.1\r\n\r\n", 400);
    // A later request on a kept connection is refused the same way.
    let (seen, responses) = exchange(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
    assert_eq!(seen.len(), 1);
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 400]);
    // HTTP/1.0 needs none.
    let (seen, _) = exchange(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(seen.len(), 1);
}

/// "When an origin server receives a request with an absolute-form of
/// request-target, the origin server MUST ignore the received Host header
/// field (if any) and instead use the host information of the
/// request-target."
#[test]
fn an_absolute_form_target_overrides_the_host_field() {
    let (seen, _) = exchange(b"GET http://a.example:8080/x HTTP/1.1\r\nHost: b.example\r\n\r\n");
    assert_eq!(
        (seen[0].server_name.as_str(), seen[0].server_port),
        ("a.example", 8080)
    );
    let (seen, _) = exchange(b"GET http://a.example/x HTTP/1.1\r\nHost: b.example:81\r\n\r\n");
    assert_eq!(
        (seen[0].server_name.as_str(), seen[0].server_port),
        ("a.example", 80)
    );
    // Userinfo is not part of the host; an https target's default port is 443.
    let secured = ConnInfo {
        scheme: Scheme::HTTPS,
        ..ConnInfo::default()
    };
    let (seen, _) = exchange_on(
        b"GET https://u:p@[::1]/x HTTP/1.1\r\nHost: b.example:81\r\n\r\n",
        &HttpConfig::default(),
        &secured,
    );
    assert_eq!(
        (seen[0].server_name.as_str(), seen[0].server_port),
        ("[::1]", 443)
    );
}

/// RFC 9110 section 4.2.1: "A sender MUST NOT generate an "http" URI with
/// an empty host identifier. A recipient that processes such a URI
/// reference MUST reject it as invalid." Section 4.2.2 the same for
/// "https" (`http:///a` and `http://:80/a` are in the corpus).
#[test]
fn an_absolute_form_target_with_an_empty_host_is_refused() {
    assert_refused(b"GET http://:80/a HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    assert_refused(b"GET http://u:p@/a HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    // Empty before the port also on a secured connection, where https
    // targets are otherwise served.
    let secured = ConnInfo {
        scheme: Scheme::HTTPS,
        ..ConnInfo::default()
    };
    let (seen, responses) = exchange_on(
        b"GET https://:443/ HTTP/1.1\r\nHost: x\r\n\r\n",
        &HttpConfig::default(),
        &secured,
    );
    assert!(seen.is_empty(), "the application ran");
    assert_eq!(responses[0].status, 400);
}

/// RFC 9110 section 7.4: "Unless the connection is from a trusted gateway,
/// an origin server MUST reject a request if any scheme-specific
/// requirements for the target URI are not met. In particular, a request
/// for an "https" resource MUST be rejected unless it has been received
/// over a connection that has been secured [...]. The 421 (Misdirected
/// Request) status code in a response indicates that the origin server
/// has rejected the request because it appears to have been misdirected."
/// Secured means `ConnInfo::scheme` is `https`.
#[test]
fn an_https_target_on_an_unsecured_connection_is_refused() {
    for input in [
        &b"GET https://x/a HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"GET HTTPS://x/a HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        assert_refused(input, 421);
        let secured = ConnInfo {
            scheme: Scheme::HTTPS,
            ..ConnInfo::default()
        };
        let (seen, responses) = exchange_on(input, &HttpConfig::default(), &secured);
        assert_eq!(seen.len(), 1);
        assert_eq!(responses[0].status, 200);
        assert!(!responses[0].closes());
    }
}

// RFC 9110 section 5: fields.

/// RFC 9110 section 5.3: "A server MUST NOT apply a request to the target
/// resource until it receives the entire request header section."
#[test]
fn the_application_runs_only_after_the_whole_header_section() {
    let calls = Mutex::new(0);
    let app = |_req: Request| {
        *calls.lock().unwrap() += 1;
        Response::new("ok".into())
    };
    let mut stream = TestStream::new(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n", &[1]);
    stream.stall_at_end = true;
    let output = stream.output.clone();
    serve_connection(stream, &app, &HttpConfig::default(), ConnInfo::default()).unwrap();
    let responses = parse_responses(&output.lock().unwrap(), &[]);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, 408);
    assert_eq!(*calls.lock().unwrap(), 0, "ran before the empty line");

    // The last field line decides: a second Content-Length refuses the
    // request that the first one framed.
    assert_refused(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi!",
        400,
    );
}

/// RFC 9110 section 5.6.1.2: "A recipient MUST parse and ignore a
/// reasonable number of empty list elements"; `Connection` is read as
/// such a list.
#[test]
fn empty_list_elements_in_connection_are_ignored() {
    let (seen, responses) =
        exchange(b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: , close,\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(seen.len(), 1);
    assert!(responses[0].closes());

    let (seen, responses) =
        exchange(b"GET /a HTTP/1.0\r\nConnection: ,keep-alive ,\r\n\r\nGET /b HTTP/1.0\r\n\r\n");
    assert_eq!(seen.len(), 2);
    assert!(!responses[0].closes());
}

/// RFC 9110 section 5.6.1.2 for `Expect = #expectation`: a recipient "MUST
/// accept lists that satisfy the following syntax: `#element => [ element ]
/// *( OWS "," OWS [ element ] )`".
#[test]
fn empty_list_elements_in_expect_are_ignored() {
    for expect in ["100-continue,", ", 100-continue"] {
        let input = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nExpect: {expect}\r\nContent-Length: 5\r\n\r\nhello"
        );
        let (seen, responses) = exchange(input.as_bytes());
        assert_eq!(seen.len(), 1, "{expect:?}");
        assert_eq!(seen[0].body, b"hello", "{expect:?}");
        let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [100, 200], "{expect:?}");
    }
}

// RFC 9112 section 6: message body framing.

/// RFC 9112 section 6.3, rule 7: "If this is a request message and none of
/// the above are true, then the message body length is zero (no message
/// body is present)." What follows the head is the next request.
#[test]
fn a_request_without_content_length_or_transfer_encoding_has_no_body() {
    let (seen, responses) =
        exchange(b"POST /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    let got: Vec<(&str, &str, &[u8])> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.target.as_str(), &s.body[..]))
        .collect();
    assert_eq!(got, [("POST", "/a", &b""[..]), ("GET", "/b", b"")]);
    assert_eq!(responses.len(), 2);
}

/// RFC 9112 section 6.1: "A server MAY reject a request that contains both
/// Content-Length and Transfer-Encoding or process such a request in
/// accordance with the Transfer-Encoding alone. Regardless, the server MUST
/// close the connection after responding to such a request." moss rejects
/// it, whatever the codings (more in the corpus).
#[test]
fn a_request_with_both_transfer_encoding_and_content_length_is_answered_then_closed() {
    for coding in ["identity", "chunked", "gzip, chunked", "br, chunked"] {
        let input = format!(
            "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {coding}\r\nContent-Length: 5\r\n\r\n\
             0\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        assert_refused(input.as_bytes(), 400);
    }
}

/// RFC 9112 section 6.1: "A server or client that receives an HTTP/1.0
/// message containing a Transfer-Encoding header field MUST treat the
/// message as if the framing is faulty, even if a Content-Length is
/// present, and close the connection after processing the message."
/// Faulty framing is refused with 400 and a close, as section 6.3 has it
/// for an invalid Content-Length: the body is never read.
#[test]
fn an_http10_request_with_transfer_encoding_is_refused() {
    for coding in ["identity", "chunked", "br"] {
        let input = format!(
            "POST /a HTTP/1.0\r\nTransfer-Encoding: {coding}\r\nConnection: keep-alive\r\n\
             Content-Length: 3\r\n\r\nabc\
             GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        );
        assert_refused(input.as_bytes(), 400);
    }
}

/// RFC 9112 section 6.3, rule 4: "If a Transfer-Encoding header field is
/// present in a request and the chunked transfer coding is not the final
/// encoding, the message body length cannot be determined reliably; the
/// server MUST respond with the 400 (Bad Request) status code and then
/// close the connection." Whether the engine knows the final coding or not
/// (RFC 9112 defines no `identity` coding). Section 6.1's 501 is for an
/// unknown coding before a final `chunked`.
#[test]
fn a_transfer_encoding_without_final_chunked_is_refused_with_400() {
    for input in [
        &b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunk\r\n\r\n0\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: br\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: br, gzip\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: br\r\n\r\n0\r\n\r\n",
    ] {
        assert_refused(input, 400);
    }
    assert_refused(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: br\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        501,
    );
}

/// RFC 9112 section 6.3, rule 6: "If the sender closes the connection or
/// the recipient times out before the indicated number of octets are
/// received, the recipient MUST consider the message to be incomplete and
/// close the connection." (A body cut short by a close is in the corpus.)
#[test]
fn a_body_that_times_out_is_incomplete_and_closes_the_connection() {
    for input in [
        &b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello"[..],
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    ] {
        let errors = Mutex::new(Vec::new());
        let app = |mut req: Request| {
            let read = req.body_mut().read_to_end(&mut Vec::new());
            errors.lock().unwrap().push(read.err().map(|e| e.kind()));
            Response::new("ok".into())
        };
        let mut stream = TestStream::new(input, &[]);
        stream.stall_at_end = true;
        let output = stream.output.clone();
        serve_connection(stream, &app, &HttpConfig::default(), ConnInfo::default()).unwrap();
        let responses = parse_responses(&output.lock().unwrap(), &[]);
        assert_eq!(*errors.lock().unwrap(), [Some(ErrorKind::WouldBlock)]);
        assert_eq!(responses.len(), 1);
        assert_eq!(responses[0].status, 408);
        assert!(responses[0].closes());
    }
}

// RFC 9112 section 9: connection management.

/// RFC 9112 section 9.6: "A server that sends a "close" connection option
/// MUST initiate closure of the connection (see below) after it sends the
/// response containing the "close" connection option. The server MUST NOT
/// process any further requests received on that connection."
#[test]
fn a_response_with_connection_close_ends_the_connection() {
    let calls = Mutex::new(0);
    let app = |_req: Request| {
        *calls.lock().unwrap() += 1;
        let mut response = Response::new("bye".into());
        response
            .headers_mut()
            .insert("connection", "close".parse().unwrap());
        response
    };
    let out = util::serve(
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
        &[],
        &app,
        &HttpConfig::default(),
    );
    let responses = parse_responses(&out, &[]);
    assert_eq!(responses.len(), 1);
    assert!(responses[0].closes());
    assert_eq!(*calls.lock().unwrap(), 1);
}

/// RFC 9112 section 9.3: "A server that does not support persistent
/// connections MUST send the "close" connection option in every response
/// message that does not have a 1xx (Informational) status code."
/// (`keep_alive: 0` turns persistence off.)
#[test]
fn without_persistent_connections_every_response_says_close() {
    let config = HttpConfig {
        keep_alive: Duration::ZERO,
        ..HttpConfig::default()
    };
    for input in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
    ] {
        let (seen, responses) = exchange_on(input, &config, &ConnInfo::default());
        assert_eq!(seen.len(), 1);
        let finals: Vec<&Parsed> = responses.iter().filter(|r| r.status != 100).collect();
        assert_eq!(finals.len(), 1);
        assert!(finals[0].closes());
    }
}

// RFC 9110 section 10.1.1: Expect.

/// RFC 9110 section 10.1.1: an origin server "MUST send either: an
/// immediate response with a final status code, [...] or an immediate 100
/// (Continue) response [...]. The origin server MUST NOT wait for the
/// content before sending the 100 (Continue) response." Over loopback: the
/// client sends the body only once it has read the `100 Continue`.
#[test]
fn continue_is_sent_before_the_engine_waits_for_the_content() {
    const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let echo = |mut req: Request| {
        let mut body = Vec::new();
        req.body_mut().read_to_end(&mut body).unwrap();
        Response::new(body.into())
    };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let (stream, _) = listener.accept().expect("accept");
            serve_connection(stream, &echo, &HttpConfig::default(), ConnInfo::default())
                .expect("served");
        });
        let mut client = TcpStream::connect(addr).expect("connect");
        // A guard against a hang, not a measurement: the 100 comes at once.
        client
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        client
            .write_all(
                b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\
                  Content-Length: 5\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
        let mut interim = [0; CONTINUE.len()];
        client
            .read_exact(&mut interim)
            .expect("100 Continue before any content was sent");
        assert_eq!(interim, CONTINUE);
        client.write_all(b"hello").unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).unwrap();
        let responses = parse_responses(&rest, &[]);
        assert_eq!(responses.len(), 1);
        assert_eq!(responses[0].status, 200);
        assert_eq!(responses[0].body, b"hello");
    });
}

// RFC 9110 sections 6.2, 6.6.1, 8.6 and 9.3.2, RFC 9112 sections 4 and
// 6.1: what the engine writes in every response.

/// RFC 9110 section 9.3.2: "The HEAD method is identical to GET except
/// that the server MUST NOT send content in the response." Also for a
/// streamed body: the next response follows the head directly.
#[test]
fn a_head_response_has_no_content_even_when_streamed() {
    let streamed = |_req: Request| {
        Response::new(ResponseBody::stream(std::io::Cursor::new(
            b"streamed".to_vec(),
        )))
    };
    let sized = |_req: Request| {
        Response::new(ResponseBody::sized(
            std::io::Cursor::new(b"sized".to_vec()),
            5,
        ))
    };
    let input = b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    for out in [
        util::serve(input, &[], &streamed, &HttpConfig::default()),
        util::serve(input, &[], &sized, &HttpConfig::default()),
    ] {
        let responses = parse_responses(&out, &[true, false]);
        assert_eq!(responses.len(), 2, "{}", String::from_utf8_lossy(&out));
        assert!(responses[0].body.is_empty());
        assert_eq!(responses[1].status, 200);
        assert!(!responses[1].body.is_empty());
    }
}

/// RFC 9112 section 4: "A server MUST send the space that separates the
/// status-code from the reason-phrase even when the reason-phrase is
/// absent (i.e., the status-line would end with the space)."
#[test]
fn a_status_line_without_a_reason_phrase_keeps_its_space() {
    let app = |_req: Request| {
        let mut response = Response::new("ok".into());
        *response.status_mut() = StatusCode::from_u16(299).unwrap();
        response
    };
    let out = util::serve(
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[],
        &app,
        &HttpConfig::default(),
    );
    assert!(
        out.starts_with(b"HTTP/1.1 299 \r\n"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

/// RFC 9112 section 6.1: "A server MUST NOT send a Transfer-Encoding header
/// field in any response with a status code of 1xx (Informational) or 204
/// (No Content)"; RFC 9110 section 8.6: "A server MUST NOT send a
/// Content-Length header field in any response with a status code of 1xx
/// (Informational) or 204 (No Content)". Whatever body and framing fields
/// the application gives a 204.
#[test]
fn a_204_response_carries_neither_content_length_nor_transfer_encoding() {
    let app = |req: Request| {
        let body = match req.uri().path() {
            "/bytes" => ResponseBody::from("ignored"),
            _ => ResponseBody::stream(std::io::Cursor::new(b"ignored".to_vec())),
        };
        let mut response = Response::new(body);
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        headers.insert("content-length", "7".parse().unwrap());
        headers.insert("transfer-encoding", "chunked".parse().unwrap());
        response
    };
    let out = util::serve(
        b"GET /bytes HTTP/1.1\r\nHost: x\r\n\r\nGET /stream HTTP/1.1\r\nHost: x\r\n\r\n",
        &[],
        &app,
        &HttpConfig::default(),
    );
    let responses = parse_responses(&out, &[]);
    assert_eq!(responses.len(), 2, "{}", String::from_utf8_lossy(&out));
    for response in &responses {
        assert_eq!(response.status, 204);
        assert_eq!(response.header("content-length"), None);
        assert_eq!(response.header("transfer-encoding"), None);
    }
}

/// RFC 9110 section 6.2: "A server MUST NOT send a version to which it is
/// not conformant." moss answers every request, an HTTP/1.0 one or a
/// refused one, as HTTP/1.1.
#[test]
fn responses_carry_http_1_1_whatever_the_request_version() {
    for input in [
        &b"GET / HTTP/1.0\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    ] {
        let out = util::serve(
            input,
            &[],
            &|_req: Request| Response::new("ok".into()),
            &HttpConfig::default(),
        );
        assert!(
            out.starts_with(b"HTTP/1.1 "),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }
}

/// RFC 9110 section 6.6.1: "An origin server with a clock [...] MUST
/// generate a Date header field in all 2xx (Successful), 3xx (Redirection),
/// and 4xx (Client Error) responses", in IMF-fixdate (section 5.6.7).
#[test]
fn every_2xx_3xx_4xx_response_carries_a_date() {
    let app = |req: Request| {
        let mut response = Response::new("ok".into());
        *response.status_mut() = match req.uri().path() {
            "/301" => StatusCode::MOVED_PERMANENTLY,
            "/404" => StatusCode::NOT_FOUND,
            _ => StatusCode::OK,
        };
        response
    };
    let out = util::serve(
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /301 HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /404 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost : x\r\n\r\n",
        &[],
        &app,
        &HttpConfig::default(),
    );
    let responses = parse_responses(&out, &[]);
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 301, 404, 400]);
    for response in &responses {
        let date = response.header("date").expect("a Date field");
        // `Sun, 06 Nov 1994 08:49:37 GMT`
        assert_eq!(date.len(), 29, "{date:?}");
        assert!(
            date.ends_with(" GMT") && date.as_bytes()[3] == b',',
            "{date:?}"
        );
    }
}
