//! Sockets shared by green threads of several hubs at the same time.

mod util;

use std::io;
use std::sync::{mpsc, Arc};

use moss_net_shims::UdpSocket;
use moss_runtime as moss;

/// Parks on `socket` until a datagram arrives; returns it.
fn receive(socket: &UdpSocket) -> io::Result<Vec<u8>> {
    let mut buf = [0; 16];
    let n = socket.recv(&mut buf)?;
    Ok(buf[..n].to_vec())
}

/// Spawns a green thread that receives one datagram on `socket`, and
/// lets it run until it parks there (nothing has been sent yet, so its
/// first `recv` would block: it registers the socket with this hub).
fn parked_receiver(socket: &Arc<UdpSocket>) -> moss::JoinHandle<io::Result<Vec<u8>>> {
    let socket = Arc::clone(socket);
    let receiver = moss::spawn(move || receive(&socket));
    moss::yield_now();
    receiver
}

#[test]
fn a_socket_read_from_two_hubs_does_not_fail_with_eexist() {
    let datagrams = util::within_watchdog("three receivers on two hubs", || {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        let addr = socket.local_addr().unwrap();
        let (a_parked, a_has_parked) = mpsc::channel();
        let (b_parked, b_has_parked) = mpsc::channel();
        let (all_parked, all_have_parked) = mpsc::channel();

        let on_a = Arc::clone(&socket);
        let hub_a = std::thread::spawn(move || {
            moss::run(move || {
                let first = parked_receiver(&on_a);
                a_parked.send(()).unwrap();
                moss::spawn_blocking(move || b_has_parked.recv()).unwrap();
                // Hub B registered the socket while `first` still holds
                // hub A's registration: a second registration with hub A
                // would fail with EEXIST.
                let second = parked_receiver(&on_a);
                all_parked.send(()).unwrap();
                [("first on hub A", first), ("second on hub A", second)]
                    .map(|(who, receiver)| (who, receiver.join().unwrap()))
            })
        });
        let on_b = Arc::clone(&socket);
        let hub_b = std::thread::spawn(move || {
            moss::run(move || {
                moss::spawn_blocking(move || a_has_parked.recv()).unwrap();
                let receiver = parked_receiver(&on_b);
                b_parked.send(()).unwrap();
                ("on hub B", receiver.join().unwrap())
            })
        });

        all_have_parked.recv().unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for datagram in [b"one", b"two", b"six"] {
            sender.send_to(datagram, addr).unwrap();
        }
        let mut results = Vec::from(hub_a.join().unwrap());
        results.push(hub_b.join().unwrap());
        results
    });
    let mut received: Vec<Vec<u8>> = datagrams
        .into_iter()
        .map(|(who, result)| result.unwrap_or_else(|err| panic!("the receiver {who}: {err}")))
        .collect();
    received.sort();
    assert_eq!(received, [b"one", b"six", b"two"]);
}
