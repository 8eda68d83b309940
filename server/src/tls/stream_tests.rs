//! [`TlsStream`] over a Unix socket pair, with a rustls client on the other end.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::Duration;

use super::*;
use crate::tls::testing::Pki;

/// A socket that counts its readiness waits and reads without blocking
/// in `try_read`.
struct Socket {
    sock: UnixStream,
    waits: usize,
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.read(buf)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Socket {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_write_timeout(timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.sock.shutdown(std::net::Shutdown::Write)
    }

    fn wait_readable(&mut self) -> io::Result<bool> {
        self.waits += 1;
        Ok(true)
    }

    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.set_nonblocking(true)?;
        let read = self.sock.read(buf);
        self.sock.set_nonblocking(false)?;
        read
    }
}

const PATIENCE: Duration = Duration::from_secs(30);

/// A handshaken server stream, and the client's connection and socket.
fn connected(pki: &Pki) -> (TlsStream<Socket>, rustls::ClientConnection, UnixStream) {
    let (server, mut client_sock) = UnixStream::pair().unwrap();
    client_sock.set_read_timeout(Some(PATIENCE)).unwrap();
    let config = pki.server_config();
    let server = thread::spawn(move || {
        let socket = Socket {
            sock: server,
            waits: 0,
        };
        handshake(socket, &config, PATIENCE, Peer(None))
    });
    let mut client = pki.client();
    while client.is_handshaking() {
        client.complete_io(&mut client_sock).unwrap();
    }
    let stream = server.join().unwrap().expect("the handshake succeeds");
    (stream, client, client_sock)
}

/// The client's TLS records for `data`.
fn records(client: &mut rustls::ClientConnection, data: &[u8]) -> Vec<u8> {
    client.writer().write_all(data).unwrap();
    let mut wire = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut wire).unwrap();
    }
    wire
}

#[test]
fn bytes_round_trip_and_alpn_is_http11() {
    let pki = Pki::new();
    let (mut stream, mut client, mut sock) = connected(&pki);
    assert_eq!(stream.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(client.alpn_protocol(), Some(&b"http/1.1"[..]));
    sock.write_all(&records(&mut client, b"ping")).unwrap();
    let mut buf = [0; 16];
    let n = stream.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");

    stream.write_all(b"pong").unwrap();
    let mut got = Vec::new();
    while got.len() < 4 {
        client.complete_io(&mut sock).unwrap();
        let mut chunk = [0; 16];
        if let Ok(n) = client.reader().read(&mut chunk) {
            got.extend_from_slice(&chunk[..n]);
        }
    }
    assert_eq!(got, b"pong");
}

#[test]
fn wait_readable_returns_at_once_while_plaintext_is_buffered() {
    let pki = Pki::new();
    let (mut stream, mut client, mut sock) = connected(&pki);
    sock.write_all(&records(&mut client, b"hello world"))
        .unwrap();
    let mut five = [0; 5];
    assert_eq!(stream.read(&mut five).unwrap(), 5);
    assert_eq!(&five, b"hello");
    assert!(stream.has_buffered_input());

    stream.sock.waits = 0;
    assert!(stream.wait_readable().unwrap());
    assert_eq!(
        stream.sock.waits, 0,
        "waited on the socket with plaintext buffered"
    );
    let mut rest = [0; 16];
    let n = stream.try_read(&mut rest).unwrap();
    assert_eq!(&rest[..n], b" world");
    assert!(!stream.has_buffered_input());

    // Nothing buffered: the socket is asked.
    assert!(stream.wait_readable().unwrap());
    assert_eq!(stream.sock.waits, 1);
}

/// Regression: a request sent with the client's last handshake message
/// was decrypted during the handshake, and the stream then waited on the
/// socket for it (a green worker's first connection hung).
#[test]
fn a_request_sent_with_the_handshake_is_read_without_waiting() {
    let pki = Pki::new();
    let (server, mut sock) = UnixStream::pair().unwrap();
    let config = pki.server_config();
    let server = thread::spawn(move || {
        let socket = Socket {
            sock: server,
            waits: 0,
        };
        handshake(socket, &config, PATIENCE, Peer(None))
    });
    let mut client = pki.client();
    // Queued now, sent with the client's Finished.
    client.writer().write_all(b"early request").unwrap();
    while client.is_handshaking() || client.wants_write() {
        client.complete_io(&mut sock).unwrap();
    }
    let mut stream = server.join().unwrap().expect("the handshake succeeds");
    // Written in one go with the Finished, read with it by the handshake.
    assert!(stream.has_buffered_input());
    stream.sock.waits = 0;
    assert!(stream.wait_readable().unwrap());
    assert_eq!(
        stream.sock.waits, 0,
        "waited on the socket for a buffered request"
    );
    let mut buf = [0; 32];
    let n = stream.try_read(&mut buf).unwrap();
    let got = &buf[..n];
    assert_eq!(got, b"early request");
}

#[test]
fn try_read_waits_for_the_rest_of_a_partial_record() {
    let pki = Pki::new();
    let (mut stream, mut client, mut sock) = connected(&pki);
    let wire = records(&mut client, b"split record");
    let (head, tail) = wire.split_at(wire.len() / 2);
    sock.write_all(head).unwrap();
    let mut buf = [0; 32];
    // The half record reaches rustls, which cannot decrypt it yet.
    let error = stream.try_read(&mut buf).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::WouldBlock);
    assert!(!stream.has_buffered_input(), "half a record is no input");
    sock.write_all(tail).unwrap();
    let n = stream.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"split record");
}

#[test]
fn shutdown_write_sends_close_notify_and_the_peers_close_ends_reads() {
    let pki = Pki::new();
    let (mut stream, mut client, mut sock) = connected(&pki);
    stream.shutdown_write().unwrap();
    let mut buf = [0; 8];
    loop {
        if client.complete_io(&mut sock).unwrap() == (0, 0) {
            break;
        }
    }
    // A clean end of stream, not "closed without close_notify".
    assert_eq!(client.reader().read(&mut buf).unwrap(), 0);

    client.send_close_notify();
    client.complete_io(&mut sock).unwrap();
    assert_eq!(stream.read(&mut buf).unwrap(), 0);
    assert!(stream.has_buffered_input(), "an ended stream reads at once");
}

#[test]
fn plain_http_gets_a_400_and_the_close() {
    let pki = Pki::new();
    let (server, mut client) = UnixStream::pair().unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    let config = pki.server_config();
    let server = thread::spawn(move || {
        let socket = Socket {
            sock: server,
            waits: 0,
        };
        handshake(socket, &config, PATIENCE, Peer(None)).is_none()
    });
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(answer.contains("Connection: close\r\n"), "{answer}");
    assert!(
        answer.ends_with("\r\n\r\nplain HTTP request sent to HTTPS port\n"),
        "{answer}"
    );
    let length = answer.split("\r\n\r\n").nth(1).unwrap().len();
    assert!(
        answer.contains(&format!("Content-Length: {length}\r\n")),
        "{answer}"
    );
    drop(client);
    assert!(server.join().unwrap(), "no TLS stream from a plain client");
}

#[test]
fn a_stalled_handshake_ends_at_its_deadline() {
    let pki = Pki::new();
    let (server, mut client) = UnixStream::pair().unwrap();
    let config = pki.server_config();
    let server = thread::spawn(move || {
        let socket = Socket {
            sock: server,
            waits: 0,
        };
        handshake(socket, &config, Duration::from_millis(200), Peer(None)).is_none()
    });
    // The first bytes of a ClientHello, and nothing more.
    let mut hello = Vec::new();
    pki.client().write_tls(&mut hello).unwrap();
    client.write_all(&hello[..hello.len() / 2]).unwrap();
    assert!(server.join().unwrap(), "the stalled handshake failed");
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0; 64];
    // The server dropped its end: end of stream (or a reset), not a timeout.
    match client.read(&mut buf) {
        Ok(n) => assert_eq!(n, 0),
        Err(error) => assert_ne!(error.kind(), ErrorKind::WouldBlock),
    }
}

#[test]
fn a_trickled_record_cannot_stretch_a_read_timeout() {
    let pki = Pki::new();
    let (mut stream, mut client, mut sock) = connected(&pki);
    let wire = records(&mut client, b"a record the client sends one byte at a time");
    // One byte per 50 ms: the whole record takes seconds, each byte comes
    // well within the 300 ms read timeout.
    let trickle = thread::spawn(move || {
        for byte in wire {
            if sock.write_all(&[byte]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
    });
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0; 64];
    let error = stream
        .read(&mut buf)
        .expect_err("the read's deadline ends it");
    assert!(
        matches!(error.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock),
        "{error:?}"
    );
    drop(stream);
    trickle.join().unwrap();
}

#[test]
fn the_rest_of_a_partial_record_waits_one_read_timeout_at_most() {
    let pki = Pki::new();
    let (mut stream, mut client, mut sock) = connected(&pki);
    let wire = records(&mut client, b"split record");
    sock.write_all(&wire[..wire.len() / 2]).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0; 32];
    let error = stream.try_read(&mut buf).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::WouldBlock);
    // Past the deadline the half record set, the wait ends at once.
    thread::sleep(Duration::from_millis(150));
    let error = stream.wait_readable().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TimedOut);
    // A new timeout from the engine starts afresh.
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    assert!(stream.wait_readable().unwrap());
}
