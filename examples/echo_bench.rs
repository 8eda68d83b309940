//! Echo benchmark: moss (one hub) vs thread-per-connection std::net vs
//! may vs tokio (current-thread runtime), at 100, 1,000 and 10,000
//! concurrent connections with 64-byte messages, in one run.
//!
//! ```sh
//! cargo run --release --example echo_bench [SECONDS_PER_CASE] [CONNECTIONS...]
//! ```
//!
//! Each server runs in this process on its own OS thread and port; the
//! client is the same for every server: the `load` example's logic on one
//! moss hub on another OS thread. Each case runs for a fixed time and
//! reports round trips per second and latency percentiles.

#[path = "support/load_client.rs"]
#[allow(dead_code)]
mod load_client;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use load_client::{Report, Stop};

/// One server under test: starts on a fresh port, returns its address.
struct Server {
    name: &'static str,
    start: fn() -> SocketAddr,
}

fn echo_blocking(mut stream: impl Read + Write) {
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// A loopback listener with a 4,096-connection backlog (std's `bind` uses
/// 128, which makes 10,000 simultaneous connects wait on SYN retransmits
/// and skews whichever server happens to accept slowest).
fn listener() -> std::net::TcpListener {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    socket.bind(&addr.into()).unwrap();
    socket.listen(4096).unwrap();
    socket.into()
}

fn start_moss() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        moss::run(|| {
            let listener = moss::net::TcpListener::from(listener());
            tx.send(listener.local_addr().unwrap()).unwrap();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let _ = stream.set_nodelay(true);
                moss::Builder::new()
                    .stack_size(64 * 1024)
                    .spawn(move || echo_blocking(stream))
                    .unwrap();
            }
        });
    });
    rx.recv().unwrap()
}

fn start_threads() -> SocketAddr {
    let listener = listener();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let _ = stream.set_nodelay(true);
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || echo_blocking(stream))
                .unwrap();
        }
    });
    addr
}

fn start_may() -> SocketAddr {
    use std::os::fd::{FromRawFd, IntoRawFd};
    let fd = listener().into_raw_fd();
    // SAFETY: `fd` is an open listening socket whose ownership was just
    // released by `into_raw_fd`.
    let listener = unsafe { may::net::TcpListener::from_raw_fd(fd) };
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let _ = stream.set_nodelay(true);
            // SAFETY: may requires that a coroutine neither uses
            // thread-local storage nor blocks its worker thread; the echo
            // loop only calls may's own socket methods.
            let spawned = unsafe { may::coroutine::spawn(move || echo_blocking(stream)) };
            drop(spawned);
        }
    });
    addr
}

fn start_tokio() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        runtime.block_on(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let std_listener = listener();
            std_listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let mut buf = [0; 4096];
                    loop {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if stream.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
    });
    rx.recv().unwrap()
}

/// Raises RLIMIT_NOFILE: both ends of every connection live in this
/// process. Tries 65,536 (root may raise the hard limit), else the hard
/// limit. Returns the soft limit in force.
fn raise_nofile_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, exclusively borrowed rlimit.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    let wanted = libc::rlimit {
        rlim_cur: 65_536.max(limit.rlim_cur),
        rlim_max: 65_536.max(limit.rlim_max),
    };
    // SAFETY: `wanted` is a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } == 0 {
        return wanted.rlim_cur;
    }
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: `limit` is a valid rlimit.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    limit.rlim_cur
}

/// CPU time (user + system) this process has used so far: the servers',
/// since the client runs in a child process.
fn cpu_time() -> Duration {
    // SAFETY: an all-zero rusage is a valid value to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, exclusively borrowed rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Runs the client in a child process (this binary with `--client`), so
/// that the client's descriptors do not count against the server's
/// RLIMIT_NOFILE. Returns round trips/s, p50 µs, p99 µs, failed.
fn measure(addr: SocketAddr, connections: usize, duration: Duration) -> (f64, u32, u32, usize) {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--client",
            &addr.to_string(),
            &connections.to_string(),
            &duration.as_secs_f64().to_string(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<&str> = stdout
        .lines()
        .find_map(|line| line.strip_prefix("RESULT "))
        .unwrap_or("0 0 0 0")
        .split_whitespace()
        .collect();
    (
        fields[0].parse().unwrap_or(0.0),
        fields[1].parse().unwrap_or(0),
        fields[2].parse().unwrap_or(0),
        fields[3].parse().unwrap_or(connections),
    )
}

/// The client side: `--client ADDR CONNECTIONS SECONDS`.
fn client(mut args: impl Iterator<Item = String>) {
    raise_nofile_limit();
    let addr: SocketAddr = args.next().unwrap().parse().unwrap();
    let connections: usize = args.next().unwrap().parse().unwrap();
    let seconds: f64 = args.next().unwrap().parse().unwrap();
    let report: Report = moss::run(|| {
        load_client::run_load(
            addr,
            connections,
            Stop::After(Duration::from_secs_f64(seconds)),
        )
    });
    println!(
        "RESULT {:.0} {} {} {}",
        report.throughput(),
        report.percentile(0.50),
        report.percentile(0.99),
        report.failed
    );
}

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().is_some_and(|arg| arg == "--client") {
        args.next();
        return client(args);
    }
    let seconds: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let mut sizes: Vec<usize> = args.filter_map(|n| n.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = vec![100, 1_000, 10_000];
    }
    let nofile = raise_nofile_limit();
    may::config().set_workers(1);
    let servers = [
        Server {
            name: "moss (1 hub)",
            start: start_moss,
        },
        Server {
            name: "std threads",
            start: start_threads,
        },
        Server {
            name: "may (1 worker)",
            start: start_may,
        },
        Server {
            name: "tokio (current-thread)",
            start: start_tokio,
        },
    ];
    println!(
        "echo, 64-byte messages, {seconds} s per case, RLIMIT_NOFILE {nofile}, {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "| connections | server | round trips/s | p50 µs | p99 µs | failed | moss ÷ this (throughput) | server CPU µs per round trip |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    // `ECHO_BENCH_SERVERS=moss,tokio` runs only the servers whose names
    // start with one of these words.
    let only = std::env::var("ECHO_BENCH_SERVERS").ok();
    let chosen = |server: &&Server| {
        only.as_deref().is_none_or(|only| {
            only.split(',')
                .any(|word| server.name.starts_with(word.trim()))
        })
    };
    for &connections in &sizes {
        let mut moss_throughput = None;
        for server in servers.iter().filter(chosen) {
            let addr = (server.start)();
            let cpu_before = cpu_time();
            let (throughput, p50, p99, failed) =
                measure(addr, connections, Duration::from_secs_f64(seconds));
            // Includes accepting and closing the connections.
            let cpu = (cpu_time() - cpu_before).as_secs_f64() * 1e6;
            let cpu_per_round_trip = cpu / (throughput * seconds).max(1.0);
            let base = *moss_throughput.get_or_insert(throughput);
            println!(
                "| {connections} | {} | {throughput:.0} | {p50} | {p99} | {failed} | {:.2} | {cpu_per_round_trip:.2} |",
                server.name,
                base / throughput
            );
            // Let the closed connections drain before the next server.
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}
