//! Outside a hub the green sockets behave as std's: plain blocking calls.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use moss_net_shims::{TcpListener, TcpStream, UdpSocket};
use moss_runtime as moss;

#[test]
fn outside_a_hub_calls_block_and_time_out_as_std() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(30));
        stream.write_all(b"late").unwrap();
        stream
    });
    let mut client = TcpStream::connect(addr).unwrap();
    let mut buf = [0; 4];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"late", "read blocked until the data came");
    let _server = server.join().unwrap();

    let std_client = std::net::TcpStream::connect(addr);
    assert!(std_client.is_err(), "the listener is gone");
    let green_err = TcpStream::connect(addr).unwrap_err();
    assert_eq!(green_err.kind(), std_client.unwrap_err().kind());

    // A socket timeout is the kernel's EAGAIN outside a hub, as with std.
    client
        .set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    let green = client.read(&mut buf).unwrap_err();
    let std_stream = client.try_clone().unwrap().into_std();
    let std = (&std_stream).read(&mut buf).unwrap_err();
    assert_eq!(green.kind(), std.kind());
    assert_eq!(green.kind(), ErrorKind::WouldBlock);
}

#[test]
fn a_socket_used_in_a_hub_still_blocks_outside_it() {
    let (client, server) = moss::run(|| {
        let (listener, addr) = util::listener();
        let client = TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        (&client).write_all(b"in hub").unwrap();
        let mut buf = [0; 6];
        (&server).read_exact(&mut buf).unwrap();
        (client, server)
    });
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        (&server).write_all(b"outside").unwrap();
        server
    });
    let mut buf = [0; 7];
    (&client).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"outside", "blocked instead of WouldBlock");
    let _server = writer.join().unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    let err = (&client).read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock, "the timeout std reports");

    // into_std gives back a blocking socket.
    let std_client = client.into_std();
    std_client
        .set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    let err = (&std_client).read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
}

#[test]
fn udp_outside_a_hub_matches_std() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.send_to(b"hi", b.local_addr().unwrap()).unwrap();
    let mut buf = [0; 8];
    let (n, from) = b.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"hi"[..], a.local_addr().unwrap()));
    b.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    assert_eq!(b.recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
}

#[test]
fn a_zero_timeout_is_refused_like_std() {
    let listener = moss_net_shims::TcpListener::bind("127.0.0.1:0").unwrap();
    let stream = moss_net_shims::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let std_stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let ours = stream
        .set_read_timeout(Some(std::time::Duration::ZERO))
        .unwrap_err();
    let theirs = std_stream
        .set_read_timeout(Some(std::time::Duration::ZERO))
        .unwrap_err();
    assert_eq!(ours.kind(), theirs.kind());
    assert_eq!(ours.kind(), std::io::ErrorKind::InvalidInput);
    // The kernel rounds timeouts to its tick; both read back the same.
    let five = Some(std::time::Duration::from_millis(5));
    stream.set_write_timeout(five).unwrap();
    std_stream.set_write_timeout(five).unwrap();
    assert_eq!(
        stream.write_timeout().unwrap(),
        std_stream.write_timeout().unwrap()
    );
    assert!(stream.write_timeout().unwrap().is_some());
    let udp = moss_net_shims::UdpSocket::bind("127.0.0.1:0").unwrap();
    assert_eq!(
        udp.set_write_timeout(Some(std::time::Duration::ZERO))
            .unwrap_err()
            .kind(),
        std::io::ErrorKind::InvalidInput
    );
}
