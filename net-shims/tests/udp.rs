//! UDP inside a hub.

use std::io::ErrorKind;
use std::time::Duration;

use moss_net_shims::UdpSocket;
use moss_runtime as moss;

#[test]
fn udp_round_trip_between_green_threads() {
    moss::run(|| {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let server_addr = server.local_addr().unwrap();
        let echo = moss::spawn(move || {
            let mut buf = [0; 64];
            for _ in 0..10 {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                server.send_to(&buf[..n], from).unwrap();
            }
        });
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(server_addr).unwrap();
        for i in 0..10u8 {
            client.send(&[i; 32]).unwrap();
            let mut buf = [0; 64];
            let n = client.peek(&mut buf).unwrap();
            assert_eq!(n, 32);
            let n = client.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &[i; 32]);
        }
        echo.join().unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        assert_eq!(
            client.recv(&mut [0; 8]).unwrap_err().kind(),
            ErrorKind::TimedOut
        );
    });
}
