//! Readiness waits: parking on sockets, timeouts, kills, and the deadlock report.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use moss::io::{Interest, Registration};
use moss_runtime as moss;

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

#[test]
fn a_reader_parks_until_data_arrives_while_others_run() {
    let (log, bytes) = moss::run(|| {
        let (mut a, mut b) = pair();
        let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let reader_log = std::rc::Rc::clone(&log);
        let reader = moss::spawn(move || {
            let registration = Registration::new(b.as_fd()).unwrap();
            let mut buf = [0; 16];
            reader_log.borrow_mut().push("reader parks");
            let n = registration
                .do_io(Interest::Readable, None, || b.read(&mut buf))
                .unwrap();
            reader_log.borrow_mut().push("reader woke");
            buf[..n].to_vec()
        });
        moss::yield_now();
        log.borrow_mut().push("writer writes");
        a.write_all(b"hello").unwrap();
        let bytes = reader.join().unwrap();
        let log = log.borrow().clone();
        (log, bytes)
    });
    assert_eq!(log, ["reader parks", "writer writes", "reader woke"]);
    assert_eq!(bytes, b"hello");
}

#[test]
fn a_deadline_on_a_readiness_wait_is_timed_out() {
    let err = moss::run(|| {
        let (_a, mut b) = pair();
        let registration = Registration::new(b.as_fd()).unwrap();
        let deadline = Some(Instant::now() + Duration::from_millis(5));
        let mut buf = [0; 1];
        registration
            .do_io(Interest::Readable, deadline, || b.read(&mut buf))
            .unwrap_err()
    });
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
}

#[test]
fn kill_interrupts_a_parked_read() {
    let killed = moss::run(|| {
        let (_a, mut b) = pair();
        let reader = moss::spawn(move || {
            let registration = Registration::new(b.as_fd()).unwrap();
            let mut buf = [0; 1];
            registration.do_io(Interest::Readable, None, || b.read(&mut buf))
        });
        moss::yield_now();
        reader.kill();
        reader.join().unwrap_err().is_killed()
    });
    assert!(killed);
}

#[test]
fn peer_close_wakes_the_reader_with_end_of_file() {
    let n = moss::run(|| {
        let (a, mut b) = pair();
        let reader = moss::spawn(move || {
            let registration = Registration::new(b.as_fd()).unwrap();
            let mut buf = [0; 8];
            registration
                .do_io(Interest::Readable, None, || b.read(&mut buf))
                .unwrap()
        });
        moss::yield_now();
        drop(a);
        reader.join().unwrap()
    });
    assert_eq!(n, 0);
}

#[test]
fn a_registration_outside_a_hub_is_an_error() {
    let (a, _b) = pair();
    assert!(Registration::new(a.as_fd()).is_err());
}

#[test]
fn a_deadlock_is_reported_with_who_waits_on_what() {
    let payload = std::panic::catch_unwind(|| {
        moss::run(|| {
            let stuck = moss::Builder::new()
                .name("stuck".into())
                .spawn(|| {
                    let forever: moss::JoinHandle<()> = moss::spawn(|| {
                        moss::park::park_native("a wake-up nobody sends", None, |_| {});
                    });
                    forever.join().ok();
                })
                .unwrap();
            stuck.join().ok();
        })
    })
    .unwrap_err();
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("deadlock"), "{message}");
    assert!(message.contains("green thread 'stuck'"), "{message}");
    assert!(message.contains("a wake-up nobody sends"), "{message}");
    assert!(message.contains("green thread 'root'"), "{message}");
    // Joins name their target.
    assert!(
        message.contains("waits on: join of green thread 'stuck'"),
        "{message}"
    );
    assert!(
        message.contains("waits on: join of green thread '<unnamed>'"),
        "{message}"
    );
}

#[test]
fn polls_counts_the_hubs_polls_alone_and_is_zero_outside_a_hub() {
    assert_eq!(moss::io::polls(), 0);
    moss::run(|| {
        let before = moss::io::polls();
        assert_eq!(before, moss::stats().polls);
        // Nothing else is ready: the hub polls (with a timeout) to sleep.
        moss::sleep(Duration::from_millis(1));
        let after = moss::io::polls();
        assert!(after > before, "{before} -> {after}");
        assert_eq!(after, moss::stats().polls);
    });
    assert_eq!(moss::io::polls(), 0);
}
