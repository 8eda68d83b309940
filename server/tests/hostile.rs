//! Slow and hostile clients, and application mistakes, against the engine:
//! nothing holds a worker, every time limit is a deadline, work limits
//! count wire bytes, and every response keeps client and server in step.
//!
//! Timing tests use short settings and assert what happened (408, a close,
//! how far the client got), never how long it took. Tests that would hang
//! on failure wait for their server with a bounded `recv_timeout`.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use http::StatusCode;
use moss_runtime as moss;
use moss_server::{
    on_upgrade, serve_connection, ConnInfo, HttpConfig, Request, Response, ResponseBody,
    DEFAULT_LIMIT_REQUEST_BODY,
};
use util::{parse_responses, serve};

/// How long a test waits for a server thread that should have finished.
const WATCHDOG: Duration = Duration::from_secs(60);

fn ok(_: Request) -> Response {
    Response::new("ok".into())
}

fn echo(mut request: Request) -> Response {
    let mut body = Vec::new();
    match request.body_mut().read_to_end(&mut body) {
        Ok(_) => Response::new(body.into()),
        Err(_) => Response::new("unread".into()),
    }
}

/// Serves one connection on a std thread with `config` and `app`; returns
/// the client side and a receiver of the server's result.
fn one_connection(
    config: HttpConfig,
    app: fn(Request) -> Response,
) -> (TcpStream, mpsc::Receiver<std::io::Result<()>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (done, result) = mpsc::channel();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let _ = done.send(serve_connection(stream, &app, &config, ConnInfo::default()));
    });
    (TcpStream::connect(addr).unwrap(), result)
}

/// Reads until the server closes (or the read fails), at most for `WATCHDOG`.
fn read_all(client: &mut TcpStream) -> Vec<u8> {
    client.set_read_timeout(Some(WATCHDOG)).unwrap();
    let mut out = Vec::new();
    let _ = client.read_to_end(&mut out);
    out
}

// ---- The whole worker hangs ----------------------------------------------

/// The body handed to a spawned green thread reads as an error there, at
/// once; the connection's green thread never blocks the hub on it, and
/// the hub goes on serving other connections.
#[test]
fn a_body_read_from_a_spawned_green_thread_fails_and_never_blocks_the_hub() {
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        let result = moss::run(|| {
            let listener = moss_net_shims::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let reads = Arc::new(std::sync::Mutex::new(Vec::new()));
            let server = {
                let reads = Arc::clone(&reads);
                moss::spawn(move || {
                    let mut connections = Vec::new();
                    for _ in 0..2 {
                        let (stream, _) = listener.accept().unwrap();
                        let reads = Arc::clone(&reads);
                        connections.push(moss::spawn(move || {
                            let app = move |request: Request| {
                                let mut body = request.into_body();
                                let reads = Arc::clone(&reads);
                                // Read elsewhere, after answering 202.
                                moss::spawn(move || {
                                    let mut buf = Vec::new();
                                    let result = body.read_to_end(&mut buf);
                                    reads.lock().unwrap().push(result.map_err(|e| e.kind()));
                                });
                                moss::yield_now();
                                let mut response = Response::new("accepted".into());
                                *response.status_mut() = StatusCode::ACCEPTED;
                                response
                            };
                            let _ = serve_connection(
                                stream,
                                &app,
                                &HttpConfig::default(),
                                ConnInfo::default(),
                            );
                        }));
                    }
                    for connection in connections {
                        connection.join().unwrap();
                    }
                })
            };
            // Two clients, one after the other, each sending a head whose
            // body never comes: the hub must answer both.
            let mut statuses = Vec::new();
            for _ in 0..2 {
                let mut client = moss_net_shims::TcpStream::connect(addr).unwrap();
                client
                    .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n")
                    .unwrap();
                let mut out = Vec::new();
                client.read_to_end(&mut out).unwrap();
                statuses.push(parse_responses(&out, &[false])[0].status);
            }
            server.join().unwrap();
            let reads = reads.lock().unwrap().clone();
            (statuses, reads)
        });
        let _ = done.send(result);
    });
    let (statuses, reads) = finished
        .recv_timeout(WATCHDOG)
        .expect("the hub was blocked: a body read elsewhere held the connection");
    assert_eq!(statuses, [202, 202]);
    assert_eq!(reads.len(), 2);
    assert!(reads.iter().all(Result::is_err), "{reads:?}");
}

/// A body sent to another OS thread reads as an error too.
#[test]
fn a_body_read_from_another_os_thread_fails() {
    let seen = std::sync::Mutex::new(None);
    let app = |request: Request| {
        let mut body = request.into_body();
        let result = thread::spawn(move || body.read_to_end(&mut Vec::new()).map_err(|e| e.kind()))
            .join()
            .unwrap();
        *seen.lock().unwrap() = Some(result);
        Response::new("ok".into())
    };
    let out = serve(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
        &[],
        &app,
        &HttpConfig::default(),
    );
    assert_eq!(parse_responses(&out, &[false])[0].status, 200);
    assert!(seen.lock().unwrap().take().unwrap().is_err());
}

// ---- Time limits that hold -----------------------------------------------

/// A head sent a byte at a time, each byte well within the timeout, gets
/// its 408 when the whole head's time is up, long before its end.
#[test]
fn the_header_timeout_bounds_the_whole_head_not_each_read() {
    let config = HttpConfig {
        header_timeout: Some(Duration::from_millis(300)),
        ..HttpConfig::default()
    };
    let (mut client, result) = one_connection(config, ok);
    let head = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: {}\r\n\r\n",
        "a".repeat(200)
    );
    let mut sent = 0;
    for byte in head.as_bytes() {
        if client.write_all(&[*byte]).is_err() {
            break;
        }
        sent += 1;
        thread::sleep(Duration::from_millis(20));
        if result.try_recv().is_ok() {
            break;
        }
    }
    let out = read_all(&mut client);
    assert!(
        sent < head.len(),
        "the whole head went through a byte at a time"
    );
    assert_eq!(parse_responses(&out, &[false])[0].status, 408);
}

/// Empty lines after a response do not keep an idle connection alive: the
/// keep-alive time counts from the end of the last response.
#[test]
fn empty_lines_do_not_extend_keep_alive() {
    let config = HttpConfig {
        keep_alive: Duration::from_millis(300),
        ..HttpConfig::default()
    };
    let (mut client, result) = one_connection(config, ok);
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 512];
    let n = client.read(&mut first).unwrap();
    assert_eq!(parse_responses(&first[..n], &[false])[0].status, 200);
    let mut lines = 0;
    while lines < 1000 {
        if client.write_all(b"\r\n").is_err() {
            break;
        }
        lines += 1;
        thread::sleep(Duration::from_millis(20));
        if result.try_recv().is_ok() {
            break;
        }
    }
    assert!(lines < 1000, "empty lines held the connection open");
    // The server closed quietly: no response after the first.
    assert!(read_all(&mut client).is_empty());
}

/// A body that trickles in slower than the minimum rate gets 408, even
/// though every read arrives within `body_timeout`.
#[test]
fn a_body_slower_than_the_minimum_rate_gets_408() {
    let config = HttpConfig {
        body_timeout: Some(Duration::from_millis(300)),
        body_min_rate: Some(1000),
        ..HttpConfig::default()
    };
    let (mut client, result) = one_connection(config, echo);
    client
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n")
        .unwrap();
    let mut sent = 0;
    while sent < 200 {
        if client.write_all(b"x").is_err() {
            break;
        }
        sent += 1;
        thread::sleep(Duration::from_millis(20));
        if result.try_recv().is_ok() {
            break;
        }
    }
    let out = read_all(&mut client);
    assert!(sent < 200, "the whole body went through a byte at a time");
    assert_eq!(parse_responses(&out, &[false])[0].status, 408);
}

/// A body that waits longer than `body_timeout` between two reads gets 408.
#[test]
fn a_stalled_body_gets_408_after_the_body_timeout() {
    let config = HttpConfig {
        body_timeout: Some(Duration::from_millis(200)),
        ..HttpConfig::default()
    };
    let (mut client, result) = one_connection(config, echo);
    client
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    let out = read_all(&mut client);
    assert_eq!(parse_responses(&out, &[false])[0].status, 408);
    assert!(result.recv_timeout(WATCHDOG).unwrap().is_ok());
}

/// A client that sends requests and never reads the responses is dropped
/// once a write has made no progress for `send_timeout`.
#[test]
fn a_client_that_never_reads_is_dropped_after_the_send_timeout() {
    fn big(_: Request) -> Response {
        Response::new(vec![b'x'; 64 << 20].into())
    }
    let config = HttpConfig {
        send_timeout: Some(Duration::from_millis(200)),
        ..HttpConfig::default()
    };
    let (mut client, result) = one_connection(config, big);
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let served = result
        .recv_timeout(WATCHDOG)
        .expect("the server still waits on a client that never reads");
    let error = served.expect_err("64 MiB cannot fit in the socket buffers");
    assert!(
        matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{error:?}"
    );
    client.shutdown(Shutdown::Both).unwrap();
}

// ---- Limits that count what the client sends ------------------------------

#[test]
fn bodies_are_limited_by_default() {
    assert_eq!(
        HttpConfig::default().limit_request_body,
        Some(DEFAULT_LIMIT_REQUEST_BODY)
    );
    let input = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        DEFAULT_LIMIT_REQUEST_BODY + 1
    );
    let out = serve(input.as_bytes(), &[], &echo, &HttpConfig::default());
    assert_eq!(parse_responses(&out, &[false])[0].status, 413);
}

/// Chunk extensions cost wire the application never sees: past 16 KiB of
/// them in one body, the body is refused.
#[test]
fn chunk_extensions_are_capped_per_body() {
    let mut input = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let extension = "e".repeat(1000);
    for _ in 0..40 {
        input.extend_from_slice(format!("1;{extension}\r\nx\r\n").as_bytes());
    }
    input.extend_from_slice(b"0\r\n\r\n");
    let out = serve(&input, &[], &echo, &HttpConfig::default());
    assert_eq!(parse_responses(&out, &[false])[0].status, 400);
}

/// A chunk-size line over the cap is refused when it arrives whole in one
/// read, as when it trickles in.
#[test]
fn a_long_chunk_line_is_refused_even_in_one_segment() {
    for chunks in [&[][..], &[100]] {
        let mut input =
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;".to_vec();
        input.extend_from_slice("e".repeat(15_000).as_bytes());
        input.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        let out = serve(&input, chunks, &echo, &HttpConfig::default());
        assert_eq!(parse_responses(&out, &[false])[0].status, 400, "{chunks:?}");
    }
}

/// Draining an unread body to keep the connection counts wire bytes: a
/// chunked body of tiny chunks whose decoded size is under `max_drain`
/// but whose wire is over it closes the connection instead.
#[test]
fn draining_counts_wire_bytes() {
    let mut input = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..12_000 {
        input.extend_from_slice(b"1\r\nx\r\n");
    }
    input.extend_from_slice(b"0\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n");
    let out = serve(&input, &[], &ok, &HttpConfig::default());
    // 12,000 decoded bytes, 72,000 on the wire: over the 64 KiB drain.
    assert_eq!(parse_responses(&out, &[false, false]).len(), 1);

    // Within the drain on the wire too, the connection goes on.
    let mut input = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..1_000 {
        input.extend_from_slice(b"1\r\nx\r\n");
    }
    input.extend_from_slice(b"0\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n");
    let out = serve(&input, &[], &ok, &HttpConfig::default());
    assert_eq!(parse_responses(&out, &[false, false]).len(), 2);
}

/// A head within the line and field limits but over `limit_request_head`
/// gets 431, whole or trickling in.
#[test]
fn the_whole_head_is_limited() {
    let mut input = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..20 {
        input.extend_from_slice(format!("X-Field-{i}: {}\r\n", "v".repeat(4000)).as_bytes());
    }
    input.extend_from_slice(b"\r\n");
    for chunks in [&[][..], &[1000]] {
        let out = serve(&input, chunks, &ok, &HttpConfig::default());
        assert_eq!(parse_responses(&out, &[false])[0].status, 431, "{chunks:?}");
    }
    let roomy = HttpConfig {
        limit_request_head: 128 * 1024,
        ..HttpConfig::default()
    };
    let out = serve(&input, &[], &ok, &roomy);
    assert_eq!(parse_responses(&out, &[false])[0].status, 200);
}

// ---- Responses that keep client and server in step -------------------------

/// CONNECT answered 2xx by an application that takes no tunnel becomes
/// 501 and a close: no `Content-Length`, no HTTP parsed after it.
#[test]
fn connect_without_a_tunnel_is_refused() {
    let input = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let out = serve(input, &[], &ok, &HttpConfig::default());
    let responses = parse_responses(&out, &[false]);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, 501);
    assert!(responses[0].closes());
    // A target that is not host:port is refused before the application.
    for target in [
        "/path",
        "example.com",
        "example.com:",
        "example.com:abc",
        "example.com:0",
        "example.com:65536",
        ":443",
        "[::1]",
        "user@example.com:443",
    ] {
        let input = format!("CONNECT {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        let out = serve(input.as_bytes(), &[], &ok, &HttpConfig::default());
        assert_eq!(parse_responses(&out, &[false])[0].status, 400, "{target}");
    }
}

/// CONNECT answered 200 with `on_upgrade`: the head goes without framing
/// fields, and the bytes after it belong to the tunnel.
#[test]
fn connect_with_a_tunnel_hands_the_connection_over() {
    let app = |_req: Request| {
        let mut response = Response::new(ResponseBody::from("ignored"));
        on_upgrade(&mut response, |mut tunnel| {
            let mut got = Vec::new();
            tunnel.read_to_end(&mut got).unwrap();
            tunnel.write_all(b"tunnel saw: ").unwrap();
            tunnel.write_all(&got).unwrap();
        });
        response
    };
    let input = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nnot http at all";
    let out = serve(input, &[], &app, &HttpConfig::default());
    let text = String::from_utf8(out).unwrap();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let head = head.to_ascii_lowercase();
    assert!(
        !head.contains("content-length") && !head.contains("transfer-encoding"),
        "{head}"
    );
    assert_eq!(rest, "tunnel saw: not http at all");
}

/// A 1xx status as the final response becomes 500 and a close: written
/// as is, it would leave the client waiting and answer the next request
/// with the wrong response.
#[test]
fn a_final_1xx_becomes_500() {
    fn early_hints(_: Request) -> Response {
        let mut response = Response::new(ResponseBody::empty());
        *response.status_mut() = StatusCode::from_u16(103).unwrap();
        response
    }
    fn switching(_: Request) -> Response {
        let mut response = Response::new(ResponseBody::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        response
    }
    let two = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    for app in [early_hints as fn(Request) -> Response, switching] {
        let out = serve(two, &[], &app, &HttpConfig::default());
        let responses = parse_responses(&out, &[false]);
        assert_eq!(responses.len(), 1);
        assert_eq!(responses[0].status, 500);
        assert!(responses[0].closes());
    }
}

/// `101` to a request that asked to upgrade: the application's
/// `Connection` and `Upgrade` fields go out, then the connection is the
/// application's (with `on_upgrade`) or closed (without).
#[test]
fn switching_protocols_hands_over_or_closes() {
    fn switching(with_handler: bool) -> impl Fn(Request) -> Response {
        move |_req: Request| {
            let mut response = Response::new(ResponseBody::empty());
            *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            let headers = response.headers_mut();
            headers.insert("connection", "upgrade".parse().unwrap());
            headers.insert("upgrade", "echo".parse().unwrap());
            if with_handler {
                on_upgrade(&mut response, |mut conn| {
                    let mut buf = [0; 64];
                    let n = conn.read(&mut buf).unwrap();
                    conn.write_all(&buf[..n]).unwrap();
                });
            }
            response
        }
    }
    let input =
        b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nping";
    let out =
        String::from_utf8(serve(input, &[], &switching(true), &HttpConfig::default())).unwrap();
    let (head, rest) = out.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(
        head.contains("connection: upgrade") && head.contains("upgrade: echo"),
        "{head}"
    );
    assert!(
        !head.to_ascii_lowercase().contains("content-length"),
        "{head}"
    );
    assert_eq!(rest, "ping");

    let out =
        String::from_utf8(serve(input, &[], &switching(false), &HttpConfig::default())).unwrap();
    let (head, rest) = out.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert_eq!(rest, "", "nothing follows a 101 nobody took over");
}

/// HEAD carries what GET would send: the application's own
/// `Content-Length` stays.
#[test]
fn head_keeps_the_applications_content_length() {
    fn sized(_: Request) -> Response {
        let mut response = Response::new(ResponseBody::empty());
        response
            .headers_mut()
            .insert("content-length", "1234".parse().unwrap());
        response
    }
    let out = serve(
        b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[],
        &sized,
        &HttpConfig::default(),
    );
    let responses = parse_responses(&out, &[true]);
    assert_eq!(responses[0].header("content-length"), Some("1234"));
    // Without one, HEAD announces the length of the body given.
    let out = serve(
        b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[],
        &ok,
        &HttpConfig::default(),
    );
    let responses = parse_responses(&out, &[true]);
    assert_eq!(responses[0].header("content-length"), Some("2"));
}

/// `Expect: 100-continue` with a streamed response that reads the body
/// (an echo) keeps the connection for the next request.
#[test]
fn expect_continue_with_a_streamed_echo_keeps_the_connection() {
    fn stream_echo(request: Request) -> Response {
        Response::new(ResponseBody::stream(request.into_body()))
    }
    let input = b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let out = serve(input, &[], &stream_echo, &HttpConfig::default());
    let responses = parse_responses(&out, &[false, false, false]);
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [100, 200, 200]);
    assert_eq!(responses[1].body, b"hello");
    assert!(!responses[1].closes());
}

/// The handler itself reads its body in as many pieces as it likes.
#[test]
fn a_body_read_by_its_handler_still_streams() {
    let reads = AtomicUsize::new(0);
    let app = |mut request: Request| {
        let mut buf = [0u8; 2];
        while request.body_mut().read(&mut buf).unwrap() > 0 {
            reads.fetch_add(1, Ordering::SeqCst);
        }
        Response::new("ok".into())
    };
    let out = serve(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabcdef",
        &[],
        &app,
        &HttpConfig::default(),
    );
    assert_eq!(parse_responses(&out, &[false])[0].status, 200);
    assert_eq!(reads.load(Ordering::SeqCst), 3);
}
