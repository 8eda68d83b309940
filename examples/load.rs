//! An echo load client: N connections on one hub, M round trips of 64
//! bytes each; prints throughput and latency percentiles.
//!
//! ```sh
//! cargo run --release --example echo &
//! cargo run --release --example load [ADDR] [CONNECTIONS] [ROUNDS]
//! ```
//!
//! Thousands of connections need `ulimit -n` above twice their number
//! when the server runs on the same machine.

#[path = "support/load_client.rs"]
#[allow(dead_code)]
mod load_client;

use std::net::ToSocketAddrs;

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7000".into());
    let connections: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(100);
    let rounds: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let addr = addr
        .to_socket_addrs()
        .expect("a valid address")
        .next()
        .expect("an address");
    let report =
        moss::run(|| load_client::run_load(addr, connections, load_client::Stop::Rounds(rounds)));
    println!(
        "{connections} connections x {rounds} round trips ({} bytes): {} round trips in {:.2?}",
        load_client::MESSAGE,
        report.round_trips,
        report.elapsed
    );
    println!(
        "throughput {:.0} round trips/s, latency p50 {} us, p99 {} us, failed connections {}",
        report.throughput(),
        report.percentile(0.50),
        report.percentile(0.99),
        report.failed
    );
}
