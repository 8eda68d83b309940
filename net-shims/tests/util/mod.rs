//! Helpers shared by the net-shims tests.
#![allow(dead_code)]

use std::net::SocketAddr;

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

/// Runs `f` in a child process (this test binary re-executed with `var`
/// set), returning whether the child succeeded and its stderr.
pub fn in_child(test: &str, var: &str) -> (bool, String) {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(var, "1")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout),
    )
}
