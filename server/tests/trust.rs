//! Trusting front ends at the engine: secure-scheme headers from peers in
//! `forwarded_allow_ips` (gunicorn's semantics), and the PROXY protocol
//! read from a real socket before HTTP.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moss_server::trust::proxy::{self, ProxyHeader};
use moss_server::trust::{AllowList, ProxyProtocol, Trust};
use moss_server::{serve_connection, ConnInfo, HttpConfig, Request, RequestExt, Response};
use util::{parse_responses, Parsed, TestStream};

/// What the application saw of a request: scheme, remote address, and the
/// `X-Forwarded-Proto` field it was left.
type Seen = (String, Option<String>, Option<String>);

/// Serves `input` on a connection from `peer` under `config`.
fn exchange(input: &str, peer: &str, config: &HttpConfig) -> (Vec<Seen>, Vec<Parsed>) {
    let seen = Mutex::new(Vec::new());
    let app = |req: Request| {
        let info = req.info();
        seen.lock().unwrap().push((
            info.scheme().to_string(),
            info.remote_addr().map(|ip| ip.to_string()),
            req.headers()
                .get("x-forwarded-proto")
                .map(|v| v.to_str().unwrap().to_owned()),
        ));
        Response::new("ok".into())
    };
    let stream = TestStream::new(input.as_bytes(), &[]);
    let output = stream.output.clone();
    let conn = ConnInfo {
        peer_addr: peer.parse().ok(),
        ..ConnInfo::default()
    };
    serve_connection(stream, &app, config, conn).unwrap();
    let out = output.lock().unwrap().clone();
    (seen.into_inner().unwrap(), parse_responses(&out, &[]))
}

const TRUSTED: &str = "127.0.0.1:40000";
const UNTRUSTED: &str = "192.0.2.9:40000";

#[test]
fn a_trusted_peer_sets_the_scheme() {
    let config = HttpConfig::default();
    for (field, scheme) in [
        ("X-Forwarded-Proto: https", "https"),
        ("X-Forwarded-Ssl: on", "https"),
        ("X-Forwarded-Protocol: ssl", "https"),
        ("X-Forwarded-Proto: http", "http"),
        ("X-Forwarded-Proto: HTTPS", "http"),
    ] {
        let input = format!("GET / HTTP/1.1\r\nHost: a\r\n{field}\r\n\r\n");
        let (seen, responses) = exchange(&input, TRUSTED, &config);
        assert_eq!(responses[0].status, 200, "{field}");
        assert_eq!(seen[0].0, scheme, "{field}");
    }
    // Agreeing headers, and the next request on the connection without any.
    let (seen, _) = exchange(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Ssl: on\r\n\r\n\
         GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "[::1]:1",
        &config,
    );
    assert_eq!((seen[0].0.as_str(), seen[1].0.as_str()), ("https", "http"));
}

#[test]
fn an_untrusted_peer_s_headers_are_left_to_the_application() {
    let (seen, responses) = exchange(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n\r\n",
        UNTRUSTED,
        &HttpConfig::default(),
    );
    assert_eq!(responses[0].status, 200);
    assert_eq!(seen[0].0, "http");
    assert_eq!(seen[0].2.as_deref(), Some("https"));
}

#[test]
fn disagreeing_headers_from_a_trusted_peer_get_400() {
    let (seen, responses) = exchange(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n\r\n",
        TRUSTED,
        &HttpConfig::default(),
    );
    assert!(seen.is_empty());
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, 400);
    assert!(responses[0].closes());
}

#[test]
fn the_allow_list_and_the_header_table_are_settings() {
    let config = HttpConfig {
        trust: Arc::new(Trust {
            forwarded_allow_ips: "192.0.2.0/24".parse().unwrap(),
            secure_scheme_headers: vec![("x-scheme".parse().unwrap(), "https".into())],
            ..Trust::default()
        }),
        ..HttpConfig::default()
    };
    let input = "GET / HTTP/1.1\r\nHost: a\r\nX-Scheme: https\r\nX-Forwarded-Proto: http\r\n\r\n";
    assert_eq!(exchange(input, UNTRUSTED, &config).0[0].0, "https");
    assert_eq!(exchange(input, TRUSTED, &config).0[0].0, "http");
    let anyone = HttpConfig {
        trust: Arc::new(Trust {
            forwarded_allow_ips: AllowList::any(),
            ..Trust::default()
        }),
        ..HttpConfig::default()
    };
    let input = "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\n\r\n";
    assert_eq!(exchange(input, UNTRUSTED, &anyone).0[0].0, "https");
}

#[test]
fn x_forwarded_for_does_not_change_the_remote_address() {
    // gunicorn sets REMOTE_ADDR from the socket's peer whatever
    // X-Forwarded-For says, trusted peer or not.
    let (seen, _) = exchange(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.5\r\n\r\n",
        TRUSTED,
        &HttpConfig::default(),
    );
    assert_eq!(seen[0].1.as_deref(), Some("127.0.0.1"));
}

#[test]
fn an_https_target_is_served_when_a_trusted_front_end_says_https() {
    let config = HttpConfig::default();
    let with = "GET https://a/x HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\n\r\n";
    let without = "GET https://a/x HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_eq!(exchange(with, TRUSTED, &config).1[0].status, 200);
    assert_eq!(exchange(without, TRUSTED, &config).1[0].status, 421);
    assert_eq!(exchange(with, UNTRUSTED, &config).1[0].status, 421);
}

/// A connected pair of loopback sockets: (client, server side, its peer).
fn pair() -> (TcpStream, TcpStream, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, peer) = listener.accept().unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    (client, server, peer)
}

#[test]
fn a_proxy_header_is_read_from_a_socket_and_http_follows() {
    let (mut client, mut server, peer) = pair();
    // Header and request in one write: the request stays in the socket.
    client
        .write_all(b"PROXY TCP4 203.0.113.7 192.0.2.1 51000 443\r\nGET /who HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let trust = Trust {
        proxy_protocol: ProxyProtocol::V1,
        ..Trust::default()
    };
    assert!(trust.expects_proxy_header(Some(peer.ip())));
    let header = proxy::read_header(&mut server, trust.proxy_protocol).unwrap();
    let ProxyHeader::Proxied { source, .. } = header else {
        panic!("{header:?}")
    };
    let conn = ConnInfo {
        peer_addr: Some(source),
        proxy_addr: Some(peer),
        ..ConnInfo::default()
    };
    let app = |req: Request| {
        let info = req.info();
        Response::new(
            format!(
                "{} via {:?}",
                info.peer_addr().unwrap(),
                info.conn().proxy_addr.map(|a| a.ip())
            )
            .into(),
        )
    };
    serve_connection(server, &app, &HttpConfig::default(), conn).unwrap();
    let mut out = String::new();
    client.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(
        out.ends_with("\r\n\r\n203.0.113.7:51000 via Some(127.0.0.1)"),
        "{out}"
    );
}

#[test]
fn a_proxy_header_sent_in_pieces_is_read_whole() {
    let (mut client, mut server, _) = pair();
    let writer = std::thread::spawn(move || {
        for piece in [
            &b"\r\n\r\n\0\r\nQU"[..],
            b"IT\n\x21\x11\x00",
            b"\x0C\xC0\xA8\x01\x0A\xC0\xA8\x01\x01\x30\x39\x01",
            b"\xBBGET",
        ] {
            client.write_all(piece).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        client
    });
    let header = proxy::read_header(&mut server, ProxyProtocol::Auto).unwrap();
    assert!(
        matches!(header, ProxyHeader::Proxied { version: 2, source, .. } if source.to_string() == "192.168.1.10:12345")
    );
    let _client = writer.join().unwrap();
    let mut rest = [0u8; 3];
    server.read_exact(&mut rest).unwrap();
    assert_eq!(&rest, b"GET");
}

#[test]
fn malformed_missing_or_late_proxy_headers_fail() {
    for input in [
        &b"PROXY TCP4 not-an-ip 192.168.0.11 56324 443\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        let (mut client, mut server, _) = pair();
        client.write_all(input).unwrap();
        let error = proxy::read_header(&mut server, ProxyProtocol::Auto).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    }
    // Nothing sent: the read timeout ends the wait.
    let (_client, mut server, _) = pair();
    server
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let error = proxy::read_header(&mut server, ProxyProtocol::V1).unwrap_err();
    assert!(matches!(
        error.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
}

#[test]
fn a_peer_outside_the_proxy_allow_list_sends_no_header() {
    // gunicorn's valid/pp_03 from a peer that is not a front end: no
    // header is expected and the request is served as it is.
    let trust = Trust {
        proxy_protocol: ProxyProtocol::Auto,
        proxy_allow_ips: "10.0.0.0/8".parse().unwrap(),
        ..Trust::default()
    };
    assert!(!trust.expects_proxy_header(Some("192.0.2.9".parse().unwrap())));
    assert!(trust.expects_proxy_header(Some("10.1.2.3".parse().unwrap())));
    assert!(!Trust::default().expects_proxy_header(Some("127.0.0.1".parse().unwrap())));
    let config = HttpConfig {
        trust: Arc::new(trust),
        ..HttpConfig::default()
    };
    let (seen, responses) = exchange(
        "GET /no/proxy/header HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n",
        UNTRUSTED,
        &config,
    );
    assert_eq!((seen.len(), responses[0].status), (1, 200));
}

#[test]
fn the_flags_env_and_file_set_the_trust() {
    use moss_server::config::Config;
    let config = Config::parse_from([
        "moss",
        "--forwarded-allow-ips",
        "10.0.0.0/8, ::1",
        "--proxy-protocol",
        "V2",
        "--proxy-allow-from",
        "*",
        "hello",
    ])
    .unwrap();
    let trust = config.http_config().trust;
    assert_eq!(trust.forwarded_allow_ips.to_string(), "10.0.0.0/8,::1");
    assert_eq!(trust.proxy_protocol, ProxyProtocol::V2);
    assert_eq!(trust.proxy_allow_ips, AllowList::any());
    assert_eq!(
        *trust.secure_scheme_headers,
        Trust::default().secure_scheme_headers
    );
    assert!(Config::parse_from(["moss", "--forwarded-allow-ips", "10.0.0.0/33", "hello"]).is_err());
    assert!(Config::parse_from(["moss", "--proxy-protocol", "on", "hello"]).is_err());

    // FORWARDED_ALLOW_IPS stands in for the flag's default (the only test
    // of this binary that touches the environment), below the file.
    std::env::set_var("FORWARDED_ALLOW_IPS", "*");
    let env = Config::parse_from(["moss", "hello"]).unwrap();
    assert_eq!(env.trust.forwarded_allow_ips, AllowList::any());
    let flag = Config::parse_from(["moss", "--forwarded-allow-ips", "127.0.0.1", "hello"]).unwrap();
    assert_eq!(flag.trust.forwarded_allow_ips.to_string(), "127.0.0.1");
    let path = std::env::temp_dir().join(format!("moss-trust-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "forwarded_allow_ips = \"192.0.2.0/24\"\n[secure_scheme_headers]\nX-Scheme = \"https\"\n",
    )
    .unwrap();
    let file = Config::parse_from(["moss", "-c", path.to_str().unwrap(), "hello"]).unwrap();
    std::env::remove_var("FORWARDED_ALLOW_IPS");
    assert_eq!(file.trust.forwarded_allow_ips.to_string(), "192.0.2.0/24");
    assert_eq!(file.trust.secure_scheme_headers.len(), 1);
    assert_eq!(file.trust.secure_scheme_headers[0].0.as_str(), "x-scheme");
    std::fs::write(&path, "[secure_scheme_headers]\n\"bad name\" = \"https\"\n").unwrap();
    assert!(Config::parse_from(["moss", "-c", path.to_str().unwrap(), "hello"]).is_err());
    std::fs::remove_file(&path).unwrap();
}
