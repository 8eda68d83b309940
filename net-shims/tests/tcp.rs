//! TCP: echo at scale, std-identical errors, timeouts, kill, blackholes.

mod util;

use std::io::{self, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use moss_net_shims::{TcpListener, TcpStream};
use moss_runtime as moss;
use socket2::SockRef;

/// Serves every connection of `listener` with an echo green thread.
fn echo_server(listener: TcpListener) -> moss::JoinHandle<()> {
    moss::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            moss::spawn(move || {
                let mut buf = [0; 1024];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    })
}

#[test]
fn echo_round_trips_on_2000_concurrent_connections_from_one_hub() {
    const CONNECTIONS: usize = 2000;
    const ROUNDS: usize = 5;
    util::raise_nofile_limit();
    let total = moss::run(|| {
        let (listener, addr) = util::listener();
        let server = echo_server(listener);
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|i| {
                moss::spawn(move || {
                    let mut stream = TcpStream::connect(addr).unwrap();
                    let mut echoed = 0;
                    for round in 0..ROUNDS {
                        let mut message = [0u8; 64];
                        message[..16].copy_from_slice(
                            &(i as u64 * 1000 + round as u64).to_le_bytes().repeat(2),
                        );
                        stream.write_all(&message).unwrap();
                        let mut reply = [0u8; 64];
                        stream.read_exact(&mut reply).unwrap();
                        assert_eq!(reply, message);
                        echoed += 1;
                    }
                    echoed
                })
            })
            .collect();
        let total: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
        server.kill();
        total
    });
    assert_eq!(total, CONNECTIONS * ROUNDS);
}

/// The outcome of each client call: after the peer's half-close on one
/// connection, after the peer's reset (linger 0, close) on another.
fn half_close_and_reset<S: Read + Write>(
    (mut half_closed, half_close): (S, impl FnOnce()),
    (mut reset, do_reset): (S, impl FnOnce()),
) -> Vec<Result<usize, ErrorKind>> {
    let mut outcomes = Vec::new();
    let mut buf = [0; 16];
    let mut record = |result: io::Result<usize>| outcomes.push(result.map_err(|e| e.kind()));
    half_close();
    record(half_closed.read(&mut buf));
    record(half_closed.read(&mut buf));
    record(half_closed.write(b"x"));
    do_reset();
    record(reset.read(&mut buf));
    record(reset.read(&mut buf));
    record(reset.write(b"y"));
    outcomes
}

fn linger_zero_close<S: std::os::fd::AsFd>(server: S) {
    SockRef::from(&server)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
}

#[test]
fn half_close_and_peer_reset_surface_as_std_reports_them() {
    let expected = {
        let listener = util::std_listener(16);
        let addr = listener.local_addr().unwrap();
        let (a, b) = (
            std::net::TcpStream::connect(addr).unwrap(),
            std::net::TcpStream::connect(addr).unwrap(),
        );
        let (server_a, _) = listener.accept().unwrap();
        let (server_b, _) = listener.accept().unwrap();
        half_close_and_reset(
            (&a, || server_a.shutdown(Shutdown::Write).unwrap()),
            (&b, || linger_zero_close(server_b)),
        )
    };
    assert_eq!(
        expected,
        [
            Ok(0),
            Ok(0),
            Ok(1),
            Err(ErrorKind::ConnectionReset),
            Ok(0),
            Err(ErrorKind::BrokenPipe)
        ],
        "what std reports"
    );
    let green = moss::run(|| {
        let (listener, addr) = util::listener();
        let (a, b) = (
            TcpStream::connect(addr).unwrap(),
            TcpStream::connect(addr).unwrap(),
        );
        let (server_a, _) = listener.accept().unwrap();
        let (server_b, _) = listener.accept().unwrap();
        half_close_and_reset(
            (&a, || server_a.shutdown(Shutdown::Write).unwrap()),
            (&b, || linger_zero_close(server_b)),
        )
    });
    assert_eq!(green, expected);
}

#[test]
fn read_and_write_timeouts_fail_with_timed_out_inside_a_hub() {
    moss::run(|| {
        let (listener, addr) = util::listener();
        let client = TcpStream::connect(addr).unwrap();
        let (_server, _) = listener.accept().unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        assert_eq!(
            client.read_timeout().unwrap(),
            Some(Duration::from_millis(20))
        );
        let err = (&client).read(&mut [0; 8]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);

        // Nobody reads: the buffers fill up and a write times out.
        client
            .set_write_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let chunk = vec![0u8; 64 * 1024];
        let err = loop {
            if let Err(err) = (&client).write(&chunk) {
                break err;
            }
        };
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert_eq!(
            client
                .set_read_timeout(Some(Duration::ZERO))
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidInput,
            "as std"
        );
    });
}

#[test]
fn moss_timeout_and_kill_interrupt_a_parked_read() {
    moss::run(|| {
        let (listener, addr) = util::listener();
        let client = TcpStream::connect(addr).unwrap();
        let (_server, _) = listener.accept().unwrap();
        let timed = moss::timeout(Duration::from_millis(20), || (&client).read(&mut [0; 8]));
        assert!(timed.is_err(), "the scope's deadline interrupts the read");

        let reader = moss::spawn(move || (&client).read(&mut [0; 8]));
        moss::sleep(Duration::from_millis(10));
        reader.kill();
        assert!(reader.join().unwrap_err().is_killed());
    });
}

#[test]
fn moss_timeout_bounds_a_connect_to_a_full_backlog() {
    moss::run(|| {
        // Backlog 1, never accepted: once the accept queue is full, Linux
        // drops further SYNs and the connect waits.
        let blackhole = util::std_listener(1);
        let addr = blackhole.local_addr().unwrap();
        let mut connected = Vec::new();
        let mut elapsed = false;
        for _ in 0..16 {
            match moss::timeout(Duration::from_millis(300), || TcpStream::connect(addr)) {
                Ok(stream) => connected.push(stream.unwrap()),
                Err(_) => {
                    elapsed = true;
                    break;
                }
            }
        }
        assert!(
            elapsed,
            "a connect waits once the backlog is full ({} connected)",
            connected.len()
        );
        let err = TcpStream::connect_timeout(&addr, Duration::from_millis(100)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        drop(blackhole);
    });
}

#[test]
fn a_user_nonblocking_socket_returns_would_block_inside_a_hub() {
    moss::run(|| {
        let (listener, addr) = util::listener();
        let client = TcpStream::connect(addr).unwrap();
        let (_server, _) = listener.accept().unwrap();
        client.set_nonblocking(true).unwrap();
        let err = (&client).read(&mut [0; 8]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
        listener.set_nonblocking(true).unwrap();
        assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    });
}

#[test]
fn sockets_are_send_and_sync_like_std() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TcpStream>();
    assert_send_sync::<TcpListener>();
    assert_send_sync::<moss_net_shims::UdpSocket>();
    assert_send_sync::<moss_net_shims::UnixStream>();
    assert_send_sync::<moss_net_shims::UnixListener>();
}

#[test]
fn a_socket_used_in_one_hub_works_in_another_hub_on_another_thread() {
    let (listener, client, server) = moss::run(|| {
        let (listener, addr) = util::listener();
        let mut client = TcpStream::connect(addr).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.write_all(b"one").unwrap();
        let mut buf = [0; 3];
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"one");
        (listener, client, server)
    });
    std::thread::spawn(move || {
        moss::run(move || {
            let addr = listener.local_addr().unwrap();
            let acceptor = moss::spawn(move || listener.accept().unwrap().0);
            let second = TcpStream::connect(addr).unwrap();
            let reader = moss::spawn(move || {
                let mut server = server;
                let mut buf = [0; 3];
                server.read_exact(&mut buf).unwrap();
                buf
            });
            moss::sleep(Duration::from_millis(5));
            (&client).write_all(b"two").unwrap();
            assert_eq!(&reader.join().unwrap(), b"two");
            drop((acceptor.join().unwrap(), second));
        });
    })
    .join()
    .unwrap();
}
