//! Plain `ureq` (blocking HTTP, no source change) in green threads: a
//! hundred GETs wait at once on one OS thread, and ureq's own read timeout
//! still fires.

#![cfg(feature = "patch")]

mod util;

use std::cell::Cell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

use util::{held_http_server, reply, silent_server, Overlap, Watchdog};

const REQUESTS: usize = 100;

#[test]
fn a_hundred_ureq_gets_wait_at_once_on_one_hub() {
    let _watchdog = Watchdog::arm("a_hundred_ureq_gets_wait_at_once_on_one_hub");
    static IN_FLIGHT: Overlap = Overlap::new();
    let os_thread = std::thread::current().id();
    let bodies = moss::run(|| {
        let addr = held_http_server(REQUESTS, Duration::from_millis(20));
        let agent = ureq::AgentBuilder::new().build();
        let gets: Vec<_> = (0..REQUESTS)
            .map(|i| {
                let agent = agent.clone();
                moss::spawn(move || {
                    let _in_flight = IN_FLIGHT.enter();
                    let response = agent
                        .get(&format!("http://{addr}/item/{i}"))
                        .call()
                        .unwrap();
                    assert_eq!(std::thread::current().id(), os_thread);
                    response.into_string().unwrap() == reply(i)
                })
            })
            .collect();
        gets.into_iter()
            .filter_map(|get| get.join().unwrap().then_some(()))
            .count()
    });
    assert_eq!(bodies, REQUESTS);
    assert_eq!(
        IN_FLIGHT.peak(),
        REQUESTS,
        "every GET waited for its answer at once"
    );
}

#[test]
fn a_ureq_read_timeout_still_fires_in_a_green_thread() {
    let _watchdog = Watchdog::arm("a_ureq_read_timeout_still_fires_in_a_green_thread");
    moss::run(|| {
        let addr = silent_server();
        let ticks = Rc::new(Cell::new(0u64));
        let ticker = {
            let ticks = Rc::clone(&ticks);
            moss::spawn(move || loop {
                ticks.set(ticks.get() + 1);
                moss::sleep(Duration::from_millis(1));
            })
        };
        let agent = ureq::AgentBuilder::new()
            .timeout_read(Duration::from_millis(100))
            .build();
        let error = agent.get(&format!("http://{addr}/")).call().unwrap_err();
        let ureq::Error::Transport(transport) = &error else {
            panic!("expected a transport error, got {error:?}");
        };
        assert_eq!(transport.kind(), ureq::ErrorKind::Io, "{error}");
        let io = std::error::Error::source(transport)
            .and_then(|source| source.downcast_ref::<std::io::Error>())
            .unwrap_or_else(|| panic!("no io::Error under {error}"));
        assert_eq!(io.kind(), ErrorKind::TimedOut, "{error}");
        assert!(
            ticks.get() > 0,
            "the hub ran another green thread meanwhile"
        );
        ticker.kill();
    });
}
