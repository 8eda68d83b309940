//! Unmodified `std::net` and `std::thread::sleep` code in green threads:
//! with the patch layer a blocking call parks the green thread, so a
//! thousand of them wait at once on one OS thread.

#![cfg(feature = "patch")]

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use util::{held_server, raise_fd_limit, read_line, reply, request, Overlap, Watchdog};

const CLIENTS: usize = 1000;

#[test]
fn the_layer_is_active() {
    assert!(moss::patch::is_active());
}

#[test]
fn a_thousand_std_clients_wait_at_once_on_one_hub() {
    let _watchdog = Watchdog::arm("a_thousand_std_clients_wait_at_once_on_one_hub");
    raise_fd_limit();
    static WAITING: Overlap = Overlap::new();
    let os_thread = std::thread::current().id();
    let replies = moss::run(|| {
        // The server accepts with std's `accept`, reads and writes with
        // std's `read`/`write`; it answers once every client waits.
        let addr = held_server(CLIENTS, Duration::from_millis(20));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                moss::spawn(move || {
                    let mut stream = if i % 2 == 0 {
                        TcpStream::connect(addr).unwrap()
                    } else {
                        TcpStream::connect_timeout(&addr, Duration::from_secs(30)).unwrap()
                    };
                    let _waiting = WAITING.enter();
                    stream.write_all(request(i).as_bytes()).unwrap();
                    let line = read_line(&mut stream);
                    assert_eq!(std::thread::current().id(), os_thread);
                    line == reply(i)
                })
            })
            .collect();
        clients
            .into_iter()
            .filter_map(|client| client.join().unwrap().then_some(()))
            .count()
    });
    assert_eq!(replies, CLIENTS);
    assert_eq!(
        WAITING.peak(),
        CLIENTS,
        "every client waited for its reply at once"
    );
    assert_eq!(WAITING.now(), 0);
}

#[test]
fn a_thousand_thread_sleeps_overlap_on_one_hub() {
    let _watchdog = Watchdog::arm("a_thousand_thread_sleeps_overlap_on_one_hub");
    static SLEEPING: Overlap = Overlap::new();
    let entered = Rc::new(AtomicUsize::new(0));
    moss::run(|| {
        let sleepers: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let entered = Rc::clone(&entered);
                moss::spawn(move || {
                    let _sleeping = SLEEPING.enter();
                    entered.fetch_add(1, Ordering::SeqCst);
                    // Leaves only once every sleeper has entered: a sleep
                    // that held the OS thread would never let the others in.
                    while entered.load(Ordering::SeqCst) < CLIENTS {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        sleepers.into_iter().for_each(|s| s.join().unwrap());
    });
    assert_eq!(SLEEPING.peak(), CLIENTS);
}

#[test]
fn a_std_read_timeout_in_a_green_thread_fails_with_would_block() {
    let _watchdog = Watchdog::arm("a_std_read_timeout_in_a_green_thread_fails_with_would_block");
    moss::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let silent = moss::spawn(move || listener.accept().unwrap().0);
        let mut stream = TcpStream::connect(addr).unwrap();
        let _peer = silent.join().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        // Another green thread keeps running while the read waits.
        let ticks = Rc::new(AtomicUsize::new(0));
        let ticker = {
            let ticks = Rc::clone(&ticks);
            moss::spawn(move || loop {
                ticks.fetch_add(1, Ordering::SeqCst);
                moss::sleep(Duration::from_millis(1));
            })
        };
        let error = stream.read(&mut [0; 16]).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::WouldBlock, "{error:?}");
        assert_eq!(error.raw_os_error(), Some(libc::EAGAIN));
        assert!(
            ticks.load(Ordering::SeqCst) > 0,
            "the hub ran others meanwhile"
        );
        ticker.kill();
    });
}
