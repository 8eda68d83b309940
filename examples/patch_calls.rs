//! Runs N calls of `recv(MSG_DONTWAIT)` on an empty socket (or `read` on an
//! empty non-blocking pipe), hooked or plain, outside or inside a green
//! thread: a fixed workload for counting instructions per hooked call.
//!
//! ```sh
//! cargo build --release --example patch_calls
//! valgrind --tool=callgrind target/release/examples/patch_calls 1000000 hooked
//! valgrind --tool=callgrind target/release/examples/patch_calls 1000000 plain
//! ```
//!
//! Modes: `plain` (libc's `recv` through `dlsym(RTLD_NEXT)`), `hooked`
//! (the hooked `recv`, outside green threads), `green` (the hooked `recv`
//! in a green thread), and `plain-read`, `hooked-read`, `green-read` for
//! `read` on a pipe. The difference of two runs' totals divided by N is
//! the cost of the hook per call. `echo-std` and `echo-moss` run N 64-byte
//! echo round trips between two green threads of one hub, over patched
//! `std::net::TcpStream` or over `moss::net::TcpStream`.

use std::hint::black_box;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::time::Instant;

#[path = "support/libc_next.rs"]
mod libc_next;

use libc_next::{empty_nonblocking_pipe, hooked_read, hooked_recv, libc_read, libc_recv};

fn main() {
    let mut args = std::env::args().skip(1);
    let calls: u64 = args
        .next()
        .map_or(1_000_000, |n| n.parse().expect("N: a count"));
    let mode = args.next().unwrap_or_else(|| "hooked".into());

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let socket =
        std::net::TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
    let _peer = listener.accept().expect("accept");
    let fd = socket.as_raw_fd();
    let (pipe, _pipe_writer) = empty_nonblocking_pipe();

    let run = |call: &dyn Fn(&mut [u8]) -> isize| {
        let mut buf = [0u8; 16];
        for _ in 0..calls {
            black_box(call(&mut buf));
        }
    };
    let start = Instant::now();
    match mode.as_str() {
        "plain" => run(&|buf| libc_recv(fd, buf, libc::MSG_DONTWAIT)),
        "hooked" => run(&|buf| hooked_recv(fd, buf, libc::MSG_DONTWAIT)),
        "green" => moss::run(|| run(&|buf| hooked_recv(fd, buf, libc::MSG_DONTWAIT))),
        "plain-read" => run(&|buf| libc_read(pipe, buf)),
        "hooked-read" => run(&|buf| hooked_read(pipe, buf)),
        "green-read" => moss::run(|| run(&|buf| hooked_read(pipe, buf))),
        "echo-std" => moss::run(|| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("address");
            let server = moss::spawn(move || echo(listener.accept().expect("accept").0));
            echo_round_trips(std::net::TcpStream::connect(addr).expect("connect"), calls);
            server.join().expect("echo server");
        }),
        "echo-moss" => moss::run(|| {
            let listener = moss::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("address");
            let server = moss::spawn(move || echo(listener.accept().expect("accept").0));
            echo_round_trips(moss::net::TcpStream::connect(addr).expect("connect"), calls);
            server.join().expect("echo server");
        }),
        other => panic!(
            "unknown mode {other}: plain, hooked, green, plain-read, hooked-read, green-read"
        ),
    }
    let elapsed = start.elapsed();
    println!(
        "{calls} calls ({mode}, patch layer {}): {:.1} ns each",
        if moss::patch::is_active() {
            "active"
        } else {
            "off"
        },
        elapsed.as_nanos() as f64 / calls as f64
    );
}

/// Echoes 64-byte messages until the peer closes.
fn echo(mut stream: impl Read + Write) {
    let mut buf = [0; 64];
    while stream.read_exact(&mut buf).is_ok() {
        if stream.write_all(&buf).is_err() {
            return;
        }
    }
}

/// `count` 64-byte round trips over `client`, then closes it.
fn echo_round_trips(mut client: impl Read + Write, count: u64) {
    let mut buf = [7; 64];
    for _ in 0..count {
        client.write_all(&buf).expect("write");
        client.read_exact(&mut buf).expect("read");
    }
}
