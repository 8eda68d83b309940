//! Micro-loop for profiling the switch path: `yield_loop [N] [yield|pair|same|chan|spawn|echo]`.
//!
//! `pair`: two green threads yield to each other, each from a loop of its
//! own; `same`: from one function both call (a return into the same code
//! after every hand-off, as a server's connections have); `chan`: a
//! `sync::local` channel round trip, both relaying from one function;
//! `echo`: a 64-byte echo round trip over loopback TCP (`moss::net`),
//! client and server green threads on one hub.
fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50_000_000);
    let what = std::env::args().nth(2).unwrap_or_default();
    if what == "chan" {
        let t = moss::run(|| {
            let (ping_tx, ping_rx) = moss::sync::local::channel::<u64>();
            let (pong_tx, pong_rx) = moss::sync::local::channel::<u64>();
            let echo = moss::spawn(move || relay(&ping_rx, &pong_tx, n));
            let start = std::time::Instant::now();
            ping_tx.send(0).unwrap();
            relay(&pong_rx, &ping_tx, n - 1);
            std::hint::black_box(pong_rx.recv().unwrap());
            let elapsed = start.elapsed();
            echo.join().unwrap();
            elapsed
        });
        report("local channel round trip, same code", t, n);
        return;
    }
    if what == "echo" {
        let t = moss::run(|| echo(n));
        report("echo round trip, one hub", t, n);
        return;
    }
    if what != "spawn" && what != "pair" && what != "same" {
        let t = moss::run(|| {
            let start = std::time::Instant::now();
            for _ in 0..n {
                moss::yield_now();
            }
            start.elapsed()
        });
        report("yield alone", t, n);
    }
    if what == "pair" || what.is_empty() {
        let t = moss::run(|| {
            let other = moss::spawn(move || {
                for _ in 0..n {
                    moss::yield_now();
                }
            });
            moss::yield_now();
            let start = std::time::Instant::now();
            for _ in 0..n {
                moss::yield_now();
            }
            let elapsed = start.elapsed();
            other.join().unwrap();
            elapsed
        });
        report("yield pair round trip", t, n);
    }
    if what == "same" || what.is_empty() {
        let t = moss::run(|| {
            let other = moss::spawn(move || yields(n));
            moss::yield_now();
            let start = std::time::Instant::now();
            yields(n);
            let elapsed = start.elapsed();
            other.join().unwrap();
            elapsed
        });
        report("yield pair round trip, same code", t, n);
    }
    if what != "yield" && what != "pair" && what != "same" {
        let t = moss::run(|| {
            let start = std::time::Instant::now();
            for i in 0..n / 10 {
                std::hint::black_box(moss::spawn(move || i).join().unwrap());
            }
            start.elapsed()
        });
        report("spawn+join", t, n / 10);
    }
}

/// `n` yields, from one place for every green thread that calls it.
#[inline(never)]
fn yields(n: u64) {
    for _ in 0..n {
        moss::yield_now();
    }
}

/// Receives and sends on `n` times, from one place for both green threads.
#[inline(never)]
fn relay(rx: &moss::sync::local::Receiver<u64>, tx: &moss::sync::local::Sender<u64>, n: u64) {
    for _ in 0..n {
        let value = rx.recv().unwrap();
        tx.send(std::hint::black_box(value)).unwrap();
    }
}

/// `n` 64-byte echo round trips between two green threads over loopback.
fn echo(n: u64) -> std::time::Duration {
    use std::io::{Read, Write};
    let listener = moss::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = moss::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_nodelay(true).unwrap();
        let mut buf = [0; 4096];
        loop {
            match stream.read(&mut buf).unwrap() {
                0 => return,
                n => stream.write_all(&buf[..n]).unwrap(),
            }
        }
    });
    let mut client = moss::net::TcpStream::connect(addr).unwrap();
    client.set_nodelay(true).unwrap();
    let message = [7u8; 64];
    let mut back = [0u8; 64];
    let start = std::time::Instant::now();
    for _ in 0..n {
        client.write_all(&message).unwrap();
        client.read_exact(&mut back).unwrap();
    }
    let elapsed = start.elapsed();
    drop(client);
    server.join().unwrap();
    elapsed
}

/// Prints the time per operation of a run of `ops` operations.
fn report(what: &str, elapsed: std::time::Duration, ops: u64) {
    println!("{what}: {:.1} ns", elapsed.as_nanos() as f64 / ops as f64);
}
