//! `accept` under descriptor exhaustion backs off and recovers.

mod util;

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use moss_net_shims::{TcpListener, TcpStream};
use moss_runtime as moss;

/// Opens `/dev/null` until the process runs out of descriptors.
fn exhaust_descriptors() -> Vec<std::fs::File> {
    let mut fillers = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) => fillers.push(file),
            Err(err) => {
                assert_eq!(err.raw_os_error(), Some(libc::EMFILE));
                return fillers;
            }
        }
    }
}

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
        let fillers = exhaust_descriptors();
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

/// Accepts on `listener` when dropped, keeping the outcome.
struct AcceptOnDrop {
    listener: TcpListener,
    outcome: Rc<RefCell<Option<io::Result<TcpStream>>>>,
}

impl Drop for AcceptOnDrop {
    fn drop(&mut self) {
        let accepted = self.listener.accept().map(|(stream, _)| stream);
        *self.outcome.borrow_mut() = Some(accepted);
    }
}

#[test]
fn accept_back_off_in_a_destructor_unwinding_from_a_timeout_returns_instead_of_spinning() {
    const CHILD: &str = "MOSS_EMFILE_UNWIND_CHILD";
    if std::env::var_os(CHILD).is_none() {
        let (ok, output) = util::in_child(
            "accept_back_off_in_a_destructor_unwinding_from_a_timeout_returns_instead_of_spinning",
            CHILD,
        );
        assert!(ok, "child failed:\n{output}");
        return;
    }
    util::set_nofile_limit(256);
    moss::run(|| {
        let (listener, addr) = util::listener();
        // Queued in the backlog, so accept fails with EMFILE, not EAGAIN.
        let client = std::net::TcpStream::connect(addr).unwrap();
        let fillers = exhaust_descriptors();
        let outcome = Rc::new(RefCell::new(None));
        let guard = AcceptOnDrop {
            listener,
            outcome: Rc::clone(&outcome),
        };
        // The scope's deadline passes in the sleep; the unwind runs the
        // guard's accept with the elapsed scope still enclosing it, so
        // every park of the back-off returns at once.
        let elapsed = moss::timeout(Duration::from_millis(10), move || {
            let _guard = guard;
            moss::sleep(Duration::from_secs(60));
        });
        assert!(elapsed.is_err());
        let accepted = outcome.borrow_mut().take().expect("the guard ran");
        let err = accepted.expect_err("no descriptor to accept into");
        assert_eq!(err.raw_os_error(), Some(libc::EMFILE));
        drop((fillers, client));
    });
}
