//! The engine on green threads: one hub, `moss::net` sockets over loopback,
//! one green thread per connection (clients are green threads of the same
//! hub).

use std::io::{Read, Write};
use std::rc::Rc;
use std::time::Duration;

use moss_net_shims::{TcpListener, TcpStream};
use moss_runtime as moss;
use moss_server::{serve_connection, ConnInfo, HttpConfig, Request, Response};

/// `GET` answers `Hello, World!`; a request with a body gets it back.
fn echo(mut request: Request) -> Response {
    let mut body = Vec::new();
    request
        .body_mut()
        .read_to_end(&mut body)
        .expect("body reads");
    match body.is_empty() {
        true => Response::new("Hello, World!".into()),
        false => Response::new(body.into()),
    }
}

/// Accepts `connections` connections, each served on its own green thread.
fn spawn_server(
    listener: TcpListener,
    config: HttpConfig,
    connections: usize,
) -> moss::JoinHandle<()> {
    let config = Rc::new(config);
    moss::spawn(move || {
        for _ in 0..connections {
            let (stream, peer) = listener.accept().expect("accept");
            let config = Rc::clone(&config);
            moss::spawn(move || {
                let conn = ConnInfo {
                    peer_addr: Some(peer),
                    ..ConnInfo::default()
                };
                serve_connection(stream, &echo, &config, conn).expect("connection served");
            });
        }
    })
}

/// Reads one response with a `Content-Length` body; returns (head, body).
fn read_response(stream: &mut TcpStream, pending: &mut Vec<u8>) -> (String, Vec<u8>) {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(pending[..end].to_vec()).expect("UTF-8 head");
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .expect("Content-Length")
                .parse()
                .expect("a number");
            let total = end + 4 + length;
            if pending.len() >= total {
                let body = pending[end + 4..total].to_vec();
                pending.drain(..total);
                return (head, body);
            }
        }
        let n = stream.read(&mut buf).expect("read");
        assert!(n > 0, "connection closed before a whole response");
        pending.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn two_hundred_keep_alive_clients_on_one_hub() {
    const CLIENTS: usize = 200;
    const REQUESTS: usize = 4;
    moss::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let server = spawn_server(listener, HttpConfig::default(), CLIENTS);
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                moss::spawn(move || {
                    let mut stream = TcpStream::connect(addr).expect("connect");
                    let mut pending = Vec::new();
                    for request in 0..REQUESTS {
                        let expected = if request % 2 == 0 {
                            stream
                                .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
                                .expect("write");
                            b"Hello, World!".to_vec()
                        } else {
                            let body = format!("client {client} request {request}");
                            let text = format!(
                                "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            stream.write_all(text.as_bytes()).expect("write");
                            body.into_bytes()
                        };
                        let (head, body) = read_response(&mut stream, &mut pending);
                        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
                        assert!(!head.contains("Connection: close"), "{head}");
                        assert_eq!(body, expected);
                    }
                    client
                })
            })
            .collect();
        for (i, client) in clients.into_iter().enumerate() {
            assert_eq!(client.join().expect("client finished"), i);
        }
        server.join().expect("server accepted every client");
    });
}

#[test]
fn idle_connection_is_closed_after_the_keep_alive_timeout() {
    moss::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let config = HttpConfig {
            keep_alive: Duration::from_millis(100),
            ..HttpConfig::default()
        };
        let server = spawn_server(listener, config, 1);
        let mut stream = TcpStream::connect(addr).expect("connect");
        // A bound far above the keep-alive timeout, so that a missing
        // close fails the test instead of hanging it.
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            .expect("write");
        let mut pending = Vec::new();
        let (head, body) = read_response(&mut stream, &mut pending);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert_eq!(body, b"Hello, World!");
        // Idle now: the server closes quietly, without a response.
        let mut buf = [0u8; 64];
        assert_eq!(stream.read(&mut buf).expect("a close, not a timeout"), 0);
        assert!(pending.is_empty());
        server.join().expect("server");
    });
}

#[test]
fn unfinished_head_gets_408_after_the_header_timeout() {
    moss::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let config = HttpConfig {
            header_timeout: Some(Duration::from_millis(100)),
            ..HttpConfig::default()
        };
        let server = spawn_server(listener, config, 1);
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: te")
            .expect("write");
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .expect("a response and a close, not a timeout");
        let response = String::from_utf8(response).expect("UTF-8");
        assert!(
            response.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{response}"
        );
        assert!(response.contains("Connection: close\r\n"), "{response}");
        server.join().expect("server");
    });
}

/// Serves one connection and returns the client's end.
fn one_connection(config: HttpConfig) -> (TcpStream, moss::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = spawn_server(listener, config, 1);
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    (stream, server)
}

/// A connection waits for readability between the pieces of a request
/// (holding no buffer), and keeps the bytes it has not parsed yet.
#[test]
fn requests_arriving_in_pieces_between_waits_are_served() {
    moss::run(|| {
        let (mut stream, server) = one_connection(HttpConfig::default());
        let pieces: [&[u8]; 5] = [
            b"GET / HT",
            b"TP/1.1\r\nHost: te",
            b"st\r\n\r\nPOST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\nhello",
            b" wor",
            b"ld",
        ];
        for piece in pieces {
            stream.write_all(piece).expect("write");
            moss::sleep(Duration::from_millis(5));
        }
        let mut pending = Vec::new();
        let (head, body) = read_response(&mut stream, &mut pending);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert_eq!(body, b"Hello, World!");
        let (head, body) = read_response(&mut stream, &mut pending);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert_eq!(body, b"hello world");
        drop(stream);
        server.join().expect("server");
    });
}

/// Requests that arrive in one read are answered in order, in one batch.
#[test]
fn pipelined_requests_on_green_sockets_are_answered_in_order() {
    moss::run(|| {
        let (mut stream, server) = one_connection(HttpConfig::default());
        let mut requests = Vec::new();
        for i in 0..20 {
            let body = format!("request {i}");
            requests.extend_from_slice(
                format!(
                    "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
        stream.write_all(&requests).expect("write");
        let mut pending = Vec::new();
        for i in 0..20 {
            let (head, body) = read_response(&mut stream, &mut pending);
            assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
            assert_eq!(body, format!("request {i}").into_bytes());
        }
        drop(stream);
        server.join().expect("server");
    });
}

/// A body larger than one read, sent slowly, is read through several
/// waits and echoed whole.
#[test]
fn a_large_body_sent_slowly_is_echoed_whole() {
    moss::run(|| {
        let (stream, server) = one_connection(HttpConfig::default());
        let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let writer = {
            let mut stream = stream.try_clone().expect("clone");
            let body = body.clone();
            moss::spawn(move || {
                let head = format!(
                    "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                stream.write_all(head.as_bytes()).expect("write");
                for piece in body.chunks(30_000) {
                    stream.write_all(piece).expect("write");
                    moss::sleep(Duration::from_millis(2));
                }
            })
        };
        let mut stream = stream;
        let mut pending = Vec::new();
        let (head, echoed) = read_response(&mut stream, &mut pending);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(echoed == body, "the echoed body differs");
        writer.join().expect("writer");
        drop(stream);
        server.join().expect("server");
    });
}
