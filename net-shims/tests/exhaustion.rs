//! `accept` under descriptor exhaustion backs off and recovers.

mod util;

use std::time::Duration;

use moss_net_shims::TcpStream;
use moss_runtime as moss;

#[test]
fn accept_under_a_low_nofile_limit_recovers_once_descriptors_free_up() {
    if std::env::var_os("MOSS_EMFILE_CHILD").is_none() {
        let (ok, output) = util::in_child(
            "accept_under_a_low_nofile_limit_recovers_once_descriptors_free_up",
            "MOSS_EMFILE_CHILD",
        );
        assert!(ok, "child failed:\n{output}");
        return;
    }
    util::set_nofile_limit(256);
    moss::run(|| {
        let (listener, addr) = util::listener();
        // Connected (queued in the backlog) before the descriptors run out.
        let client = std::net::TcpStream::connect(addr).unwrap();
        let mut fillers = Vec::new();
        loop {
            match std::fs::File::open("/dev/null") {
                Ok(file) => fillers.push(file),
                Err(err) => {
                    assert_eq!(err.raw_os_error(), Some(libc::EMFILE));
                    break;
                }
            }
        }
        let switches_before = moss::stats().switches;
        let acceptor = moss::spawn(move || listener.accept().map(|(stream, _)| stream));
        moss::sleep(Duration::from_millis(200));
        assert!(!acceptor.is_finished(), "no descriptor to accept into yet");
        drop(fillers);
        let stream: TcpStream = acceptor.join().unwrap().unwrap();
        assert_eq!(stream.peer_addr().unwrap(), client.local_addr().unwrap());
        // Backing off sleeps: a handful of retries, not a busy loop.
        let switches = moss::stats().switches - switches_before;
        assert!(switches < 200, "{switches} switches while waiting");
    });
}
