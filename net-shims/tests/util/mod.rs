//! Helpers shared by the net-shims tests.
#![allow(dead_code)]

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use moss_net_shims::TcpListener;
use socket2::{Domain, Socket, Type};

fn nofile_limit() -> libc::rlimit {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, exclusively borrowed rlimit.
    let result = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(result, 0);
    limit
}

fn set_limit(limit: &libc::rlimit) {
    // SAFETY: `limit` is a valid rlimit.
    let result = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, limit) };
    assert_eq!(result, 0);
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
pub fn raise_nofile_limit() -> u64 {
    let mut limit = nofile_limit();
    limit.rlim_cur = limit.rlim_max;
    set_limit(&limit);
    limit.rlim_cur
}

/// Sets the soft RLIMIT_NOFILE.
pub fn set_nofile_limit(soft: u64) {
    let mut limit = nofile_limit();
    limit.rlim_cur = soft;
    set_limit(&limit);
}

/// A std listener on loopback with the given backlog.
pub fn std_listener(backlog: i32) -> std::net::TcpListener {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_reuse_address(true).unwrap();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    socket.bind(&addr.into()).unwrap();
    socket.listen(backlog).unwrap();
    socket.into()
}

/// A green listener on loopback with a large backlog (so thousands of
/// concurrent connects do not wait on SYN retransmits).
pub fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::from(std_listener(4096));
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// How long a test scenario may run before its watchdog fails it.
pub const WATCHDOG: Duration = Duration::from_secs(30);

/// Runs this test binary again in a child process with `var` set, so that
/// only `test` runs there (in its child branch); returns whether the child
/// succeeded and its output. A child still running after [`WATCHDOG`] is
/// killed and reported as failed.
pub fn in_child(test: &str, var: &str) -> (bool, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(var, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drained on threads so that a chatty child cannot fill a pipe and stall.
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let deadline = Instant::now() + WATCHDOG;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = stderr.join().unwrap() + &stdout.join().unwrap();
    match status {
        Some(status) => (status.success(), output),
        None => (
            false,
            format!("child still running after {WATCHDOG:?}, killed\n{output}"),
        ),
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Runs `scenario` on its own OS thread and returns its value; fails the
/// test if it has not finished within [`WATCHDOG`] (a hang), and re-raises
/// its panic if it panicked.
pub fn within_watchdog<T: Send + 'static>(
    what: &str,
    scenario: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, finished) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let value = scenario();
        // The receiver is gone only when the watchdog already failed.
        let _ = done.send(());
        value
    });
    match finished.recv_timeout(WATCHDOG) {
        Ok(()) | Err(RecvTimeoutError::Disconnected) => match thread.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(RecvTimeoutError::Timeout) => panic!("{what}: still running after {WATCHDOG:?}"),
    }
}
