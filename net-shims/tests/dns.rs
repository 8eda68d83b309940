//! Name resolution through the offload pool.

use moss_net_shims::{lookup_host, TcpListener, TcpStream};
use moss_runtime as moss;

#[test]
fn lookup_host_resolves_localhost_inside_and_outside_a_hub() {
    let outside = lookup_host("localhost").unwrap();
    assert!(outside.iter().any(|addr| addr.ip().is_loopback()));
    let inside = moss::run(|| lookup_host("localhost").unwrap());
    assert!(inside
        .iter()
        .all(|addr| addr.ip().is_loopback() && addr.port() == 0));
    let with_port = moss::run(|| lookup_host("localhost:8080").unwrap());
    assert!(with_port.iter().all(|addr| addr.port() == 8080));
    assert!(moss::run(|| lookup_host("no-such-host.invalid")).is_err());
}

#[test]
fn connect_resolves_a_name_without_blocking_the_hub() {
    moss::run(|| {
        let listener = TcpListener::bind(("localhost", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = moss::spawn(move || listener.accept().map(|_| ()));
        let stream = TcpStream::connect(("localhost", port)).unwrap();
        acceptor.join().unwrap().unwrap();
        assert!(stream.peer_addr().unwrap().ip().is_loopback());
    });
}

#[test]
fn a_lookup_leaves_the_hub_free_for_other_green_threads() {
    moss::run(|| {
        let ticks = std::rc::Rc::new(std::cell::Cell::new(0));
        let ticker_ticks = std::rc::Rc::clone(&ticks);
        let ticker = moss::spawn(move || loop {
            ticker_ticks.set(ticker_ticks.get() + 1);
            moss::yield_now();
        });
        // A lookup that is over before its caller parks leaves nothing to
        // see, so look up until one has parked (one that blocked the hub
        // would never let the ticker run at all).
        for _ in 0..100 {
            let addrs = lookup_host("localhost").unwrap();
            assert!(!addrs.is_empty());
            if ticks.get() > 0 {
                break;
            }
        }
        assert!(
            ticks.get() > 0,
            "the hub ran another green thread during the lookups"
        );
        ticker.kill();
    });
}
