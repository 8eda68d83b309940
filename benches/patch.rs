//! The patch layer's costs, each against its baseline in the same run:
//! echo round trips over patched `std::net::TcpStream` against
//! `moss::net::TcpStream` on one hub, and a hooked libc call against the
//! plain libc call (resolved with `dlsym(RTLD_NEXT, …)`), outside and
//! inside green threads.
//!
//! ```sh
//! cargo bench --bench patch
//! ```

use std::hint::black_box;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "../examples/support/libc_next.rs"]
mod libc_next;

use libc_next::{empty_nonblocking_pipe, hooked_read, hooked_recv, libc_read, libc_recv};

const MESSAGE: usize = 64;

/// Echoes until the peer closes.
fn echo(mut stream: impl Read + Write) {
    let mut buf = [0; MESSAGE];
    while stream.read_exact(&mut buf).is_ok() {
        if stream.write_all(&buf).is_err() {
            return;
        }
    }
}

/// `iters` round trips of `MESSAGE` bytes over `client`.
fn round_trips(mut client: impl Read + Write, iters: u64) -> Duration {
    let mut buf = [7; MESSAGE];
    let start = Instant::now();
    for _ in 0..iters {
        client.write_all(&buf).unwrap();
        client.read_exact(&mut buf).unwrap();
    }
    start.elapsed()
}

fn echo_round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("echo round trip, one hub");
    group.bench_function("patched std::net::TcpStream", |b| {
        b.iter_custom(|iters| {
            moss::run(|| {
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let server = moss::spawn(move || echo(listener.accept().unwrap().0));
                let client = std::net::TcpStream::connect(addr).unwrap();
                client.set_nodelay(true).unwrap();
                let elapsed = round_trips(&client, iters);
                drop(client);
                server.join().unwrap();
                elapsed
            })
        })
    });
    group.bench_function("moss::net::TcpStream", |b| {
        b.iter_custom(|iters| {
            moss::run(|| {
                let listener = moss::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let server = moss::spawn(move || echo(listener.accept().unwrap().0));
                let client = moss::net::TcpStream::connect(addr).unwrap();
                client.set_nodelay(true).unwrap();
                let elapsed = round_trips(&client, iters);
                drop(client);
                server.join().unwrap();
                elapsed
            })
        })
    });
    group.finish();
}

/// A connected socket with nothing to read (the peer stays open).
fn idle_socket() -> (std::net::TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

fn hooked_call(c: &mut Criterion) {
    let (socket, _peer) = idle_socket();
    let fd = socket.as_raw_fd();
    let (pipe, _pipe_writer) = empty_nonblocking_pipe();
    let mut buf = [0u8; 16];

    let mut group = c.benchmark_group("recv(MSG_DONTWAIT) on an empty socket");
    group.bench_function("plain libc (dlsym RTLD_NEXT)", |b| {
        b.iter(|| black_box(libc_recv(fd, &mut buf, libc::MSG_DONTWAIT)))
    });
    group.bench_function("hooked, outside green threads", |b| {
        b.iter(|| black_box(hooked_recv(fd, &mut buf, libc::MSG_DONTWAIT)))
    });
    group.bench_function("hooked, inside a green thread", |b| {
        b.iter_custom(|iters| {
            moss::run(|| {
                let mut buf = [0u8; 16];
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(hooked_recv(fd, &mut buf, libc::MSG_DONTWAIT));
                }
                start.elapsed()
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("read on an empty non-blocking pipe");
    group.bench_function("plain libc (dlsym RTLD_NEXT)", |b| {
        b.iter(|| black_box(libc_read(pipe, &mut buf)))
    });
    group.bench_function("hooked, outside green threads", |b| {
        b.iter(|| black_box(hooked_read(pipe, &mut buf)))
    });
    group.bench_function("hooked, inside a green thread", |b| {
        b.iter_custom(|iters| {
            moss::run(|| {
                let mut buf = [0u8; 16];
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(hooked_read(pipe, &mut buf));
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

fn configure() -> Criterion {
    assert!(
        moss::patch::is_active(),
        "the patch layer is off: build with the `patch` feature"
    );
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! { name = benches; config = configure(); targets = echo_round_trip, hooked_call }
criterion_main!(benches);
