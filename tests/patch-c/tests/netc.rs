//! A C library's blocking calls (socket + connect, send, poll, recv,
//! nanosleep — compiled from `c/netc.c`) made cooperative by moss's patch
//! layer: many green threads run the C code at once on one OS thread.

#[path = "../../util/mod.rs"]
mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use util::{held_server, reply, request, silent_server, Overlap, Watchdog};

const CALLERS: usize = 200;

#[test]
fn the_layer_is_active_for_c_code() {
    assert!(moss::patch::is_active());
}

#[test]
fn c_exchanges_from_many_green_threads_wait_at_once() {
    let _watchdog = Watchdog::arm("c_exchanges_from_many_green_threads_wait_at_once");
    static IN_C: Overlap = Overlap::new();
    let os_thread = std::thread::current().id();
    let answered = moss::run(|| {
        let port = held_server(CALLERS, Duration::from_millis(20)).port();
        let callers: Vec<_> = (0..CALLERS)
            .map(|i| {
                moss::spawn(move || {
                    let mut buf = [0u8; 64];
                    let _in_c = IN_C.enter();
                    // connect, send, poll, recv, close: all in C.
                    let len =
                        moss_patch_c_tests::exchange(port, request(i).as_bytes(), &mut buf, 30_000)
                            .unwrap();
                    assert_eq!(std::thread::current().id(), os_thread);
                    buf[..len] == *reply(i).as_bytes()
                })
            })
            .collect();
        callers
            .into_iter()
            .filter_map(|c| c.join().unwrap().then_some(()))
            .count()
    });
    assert_eq!(answered, CALLERS);
    assert_eq!(
        IN_C.peak(),
        CALLERS,
        "every C caller waited in poll at once"
    );
}

#[test]
fn c_nanosleeps_from_many_green_threads_overlap() {
    let _watchdog = Watchdog::arm("c_nanosleeps_from_many_green_threads_overlap");
    static SLEEPING: Overlap = Overlap::new();
    let entered = Rc::new(Cell::new(0));
    moss::run(|| {
        let sleepers: Vec<_> = (0..CALLERS)
            .map(|_| {
                let entered = Rc::clone(&entered);
                moss::spawn(move || {
                    let _sleeping = SLEEPING.enter();
                    entered.set(entered.get() + 1);
                    // Leaves once every sleeper is in: a nanosleep that held
                    // the OS thread would never let the others in.
                    while entered.get() < CALLERS {
                        moss_patch_c_tests::sleep_ms(1).unwrap();
                    }
                })
            })
            .collect();
        sleepers.into_iter().for_each(|s| s.join().unwrap());
    });
    assert_eq!(SLEEPING.peak(), CALLERS);
}

#[test]
fn a_c_poll_timeout_returns_zero_while_the_hub_runs_others() {
    let _watchdog = Watchdog::arm("a_c_poll_timeout_returns_zero_while_the_hub_runs_others");
    moss::run(|| {
        let port = silent_server().port();
        let ticks = Rc::new(Cell::new(0u64));
        let ticker = {
            let ticks = Rc::clone(&ticks);
            moss::spawn(move || loop {
                ticks.set(ticks.get() + 1);
                moss::sleep(Duration::from_millis(1));
            })
        };
        let fd = moss_patch_c_tests::connect(port).unwrap();
        moss_patch_c_tests::send_all(fd, b"anyone?\n").unwrap();
        assert!(
            !moss_patch_c_tests::wait_readable(fd, 50).unwrap(),
            "poll timed out"
        );
        assert!(
            ticks.get() > 0,
            "the hub ran another green thread meanwhile"
        );
        // A C recv with nothing to read parks; a kill fails it with ECANCELED.
        let errno_seen = Rc::new(Cell::new(None));
        let reader = {
            let errno_seen = Rc::clone(&errno_seen);
            moss::spawn(move || {
                let error = moss_patch_c_tests::recv(fd, &mut [0u8; 8]).unwrap_err();
                errno_seen.set(error.raw_os_error());
                moss::yield_now(); // the kill stays pending: this unwinds
            })
        };
        moss::yield_now();
        reader.kill();
        assert!(reader.join().unwrap_err().is_killed());
        assert_eq!(errno_seen.get(), Some(libc::ECANCELED));
        moss_patch_c_tests::close(fd).unwrap();
        ticker.kill();
    });
}
