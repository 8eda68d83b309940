//! `--proxy-protocol` end to end: the client address of a PROXY v1 header
//! reaches the access log's `%(h)s` in every worker class, and a malformed
//! header gets the connection closed before any HTTP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use super::support::{free_port, Moss};
use super::CLASSES;

/// Sends `bytes` on a new connection and reads until the server closes it.
fn exchange(addr: &str, bytes: &[u8]) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(bytes)?;
    let mut out = Vec::new();
    match stream.read_to_end(&mut out) {
        Ok(_) => {}
        // A close with input unread may reset the connection.
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(error) => return Err(error),
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

const PROXIED: &[u8] = b"PROXY TCP4 203.0.113.7 192.0.2.1 51000 443\r\n\
    GET /proxied HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";

#[test]
fn the_proxy_header_s_client_is_the_remote_address_in_every_class() {
    for class in CLASSES {
        let dir = std::env::temp_dir().join(format!("moss-pp-{}-{class}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("access.log");
        let addr = format!("127.0.0.1:{}", free_port());
        let moss = Moss::start(&[
            "-b",
            &addr,
            "-k",
            class,
            "--proxy-protocol",
            "v1",
            "--access-logfile",
            log.to_str().unwrap(),
            "--access-logformat",
            "%(h)s \"%(r)s\" %(s)s",
            "echo",
        ]);
        // Moss::start cannot probe a server that wants a PROXY header: wait
        // here for the first proxied answer.
        let started = Instant::now();
        let answer = loop {
            match exchange(&addr, PROXIED) {
                Ok(answer) if !answer.is_empty() => break answer,
                _ if started.elapsed() < Duration::from_secs(20) => {
                    thread::sleep(Duration::from_millis(50))
                }
                other => panic!("{class}: {other:?}; the log:\n{}", moss.log_text()),
            }
        };
        assert!(
            answer.starts_with("HTTP/1.1 200 OK\r\n"),
            "{class}: {answer}"
        );

        // Malformed, and missing: closed without an answer, logged once.
        for bad in [
            &b"PROXY TCP4 not-an-ip 192.0.2.1 51000 443\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            assert_eq!(exchange(&addr, bad).unwrap(), "", "{class}");
        }
        moss.wait_log("closing connection from 127.0.0.1");
        assert_eq!(
            moss.log_text().matches("(logged once per address)").count(),
            1,
            "{class}: {}",
            moss.log_text()
        );
        // The server still serves.
        let again = exchange(&addr, PROXIED).unwrap();
        assert!(again.starts_with("HTTP/1.1 200 OK\r\n"), "{class}: {again}");
        assert!(moss.stop().success(), "{class}");
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines, ["203.0.113.7 \"GET /proxied HTTP/1.1\" 200"; 2],
            "{class}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
