//! Waiting for readability without a buffer: `try_read` and `readable` on
//! TCP and Unix streams, inside a hub and outside.

mod util;

use std::io::{ErrorKind, Write};
use std::time::{Duration, Instant};

use moss_net_shims::{TcpStream, UnixStream};
use moss_runtime as moss;

/// A connected TCP pair: (client, server).
fn tcp_pair() -> (TcpStream, TcpStream) {
    let (listener, addr) = util::listener();
    let client = TcpStream::connect(addr).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

/// What a stream offers for reading without a buffer.
trait Readiness: Write + Send + 'static {
    fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize>;
    fn readable(&self) -> std::io::Result<()>;
    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()>;
    fn set_nonblocking(&self, nonblocking: bool) -> std::io::Result<()>;
}

macro_rules! readiness {
    ($ty:ty) => {
        impl Readiness for $ty {
            fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                <$ty>::try_read(self, buf)
            }
            fn readable(&self) -> std::io::Result<()> {
                <$ty>::readable(self)
            }
            fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
                <$ty>::set_read_timeout(self, timeout)
            }
            fn set_nonblocking(&self, nonblocking: bool) -> std::io::Result<()> {
                <$ty>::set_nonblocking(self, nonblocking)
            }
        }
    };
}
readiness!(TcpStream);
readiness!(UnixStream);

fn assert_would_block<T: std::fmt::Debug>(result: std::io::Result<T>) {
    match result {
        Err(err) if err.kind() == ErrorKind::WouldBlock => {}
        other => panic!("expected WouldBlock, got {other:?}"),
    }
}

/// Reads the next bytes the way a server holding no buffer while idle does.
fn next_bytes(stream: &impl Readiness) -> Vec<u8> {
    let mut buf = [0; 64];
    loop {
        match stream.try_read(&mut buf) {
            Err(err) if err.kind() == ErrorKind::WouldBlock => stream.readable().unwrap(),
            other => return buf[..other.unwrap()].to_vec(),
        }
    }
}

/// Inside a hub: `try_read` never parks, `readable` parks until data
/// arrives and returns at once when data already waits, end of stream is
/// readable, and the read timeout bounds the wait.
fn inside_a_hub<S: Readiness>(pair: impl FnOnce() -> (S, S) + Send + 'static) {
    util::within_watchdog("readiness inside a hub", || {
        moss::run(move || {
            let (mut client, server) = pair();
            let mut buf = [0; 16];
            assert_would_block(server.try_read(&mut buf));

            let writer = moss::spawn(move || {
                moss::sleep(Duration::from_millis(20));
                client.write_all(b"ping").unwrap();
                moss::sleep(Duration::from_millis(20));
                client.write_all(b"pong").unwrap();
                client
            });
            assert_eq!(next_bytes(&server), b"ping");
            assert_eq!(next_bytes(&server), b"pong");
            let mut client = writer.join().unwrap();

            // Data already waiting: no park (nothing else could wake us).
            client.write_all(b"more").unwrap();
            moss::sleep(Duration::from_millis(10));
            server.readable().unwrap();
            assert_eq!(server.try_read(&mut buf).unwrap(), 4);

            server
                .set_read_timeout(Some(Duration::from_millis(30)))
                .unwrap();
            assert_would_block(server.try_read(&mut buf));
            let started = Instant::now();
            let err = server.readable().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::TimedOut);
            assert!(started.elapsed() >= Duration::from_millis(25));

            drop(client);
            server.readable().unwrap();
            assert_eq!(server.try_read(&mut buf).unwrap(), 0);
        });
    });
}

#[test]
fn tcp_try_read_and_readable_inside_a_hub() {
    inside_a_hub(tcp_pair);
}

#[test]
fn unix_try_read_and_readable_inside_a_hub() {
    inside_a_hub(|| UnixStream::pair().unwrap());
}

/// The edge that announced data is consumed by a poll while the reader is
/// parked elsewhere (here in `sleep`): `readable` must still see the data,
/// not wait for an edge that already went by.
fn data_that_arrived_during_another_park_is_seen<S: Readiness>(
    pair: impl FnOnce() -> (S, S) + Send + 'static,
) {
    util::within_watchdog("readiness after another park", || {
        moss::run(move || {
            let (mut client, server) = pair();
            let mut buf = [0; 16];
            assert_would_block(server.try_read(&mut buf));
            let writer = moss::spawn(move || {
                client.write_all(b"early").unwrap();
                client
            });
            moss::sleep(Duration::from_millis(20));
            // No timeout: a missed edge would hang here (the watchdog
            // fails the test).
            server.readable().unwrap();
            assert_eq!(server.try_read(&mut buf).unwrap(), 5);
            drop(writer.join().unwrap());
        });
    });
}

#[test]
fn regression_tcp_readable_after_another_park_does_not_miss_data() {
    data_that_arrived_during_another_park_is_seen(tcp_pair);
}

#[test]
fn regression_unix_readable_after_another_park_does_not_miss_data() {
    data_that_arrived_during_another_park_is_seen(|| UnixStream::pair().unwrap());
}

/// Outside a hub: `try_read` does not block even on a blocking socket,
/// `readable` blocks (bounded by the read timeout, reported as
/// `WouldBlock` as std reports a timed-out read).
fn outside_a_hub<S: Readiness>(pair: impl FnOnce() -> (S, S)) {
    let (mut client, server) = pair();
    let mut buf = [0; 16];
    assert_would_block(server.try_read(&mut buf));

    server
        .set_read_timeout(Some(Duration::from_millis(30)))
        .unwrap();
    let started = Instant::now();
    assert_would_block(server.readable());
    assert!(started.elapsed() >= Duration::from_millis(25));
    server.set_read_timeout(None).unwrap();

    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        client.write_all(b"ping").unwrap();
        client
    });
    server.readable().unwrap();
    assert_eq!(server.try_read(&mut buf).unwrap(), 4);
    drop(writer.join().unwrap());
    server.readable().unwrap();
    assert_eq!(server.try_read(&mut buf).unwrap(), 0);
}

#[test]
fn tcp_try_read_and_readable_outside_a_hub() {
    let listener = util::std_listener(16);
    let addr = listener.local_addr().unwrap();
    outside_a_hub(move || {
        let client = TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, TcpStream::from(server))
    });
}

#[test]
fn unix_try_read_and_readable_outside_a_hub() {
    outside_a_hub(|| UnixStream::pair().unwrap());
}

/// In the user's non-blocking mode `readable` answers at once.
fn nonblocking_mode<S: Readiness>(pair: impl FnOnce() -> (S, S) + Send + 'static) {
    util::within_watchdog("readiness in non-blocking mode", || {
        moss::run(move || {
            let (mut client, server) = pair();
            server.set_nonblocking(true).unwrap();
            assert_would_block(server.readable());
            client.write_all(b"x").unwrap();
            moss::sleep(Duration::from_millis(10));
            server.readable().unwrap();
            assert_eq!(server.try_read(&mut [0; 4]).unwrap(), 1);
        });
    });
}

#[test]
fn tcp_readable_in_nonblocking_mode_returns_would_block() {
    nonblocking_mode(tcp_pair);
}

#[test]
fn unix_readable_in_nonblocking_mode_returns_would_block() {
    nonblocking_mode(|| UnixStream::pair().unwrap());
}

/// A reset pending on the socket is reported, by `readable` or by the
/// `try_read` after it, never taken for a clean end of stream.
#[test]
fn tcp_readable_reports_a_reset() {
    util::within_watchdog("readable after a reset", || {
        moss::run(|| {
            let (client, server) = tcp_pair();
            socket2::SockRef::from(&client)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(client);
            moss::sleep(Duration::from_millis(10));
            let outcome = server
                .readable()
                .and_then(|()| server.try_read(&mut [0; 4]));
            assert_eq!(outcome.unwrap_err().kind(), ErrorKind::ConnectionReset);
        });
    });
}
