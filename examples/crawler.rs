//! A crawler written in plain blocking style with `ureq`, one green thread
//! per URL: the patch layer makes ureq's `std::net` calls park the green
//! thread, so every request overlaps on one OS thread with no change to
//! ureq or to the code that calls it.
//!
//! ```sh
//! cargo run --release --example crawler [URLS] [DELAY_MS]   # default 200 URLs, 100 ms
//! ```
//!
//! The pages come from a local server started in-process (a hub on its own
//! OS thread, plain `std::net` in green threads) that answers each request
//! after `DELAY_MS`. The crawler prints the wall time against the sum of the
//! per-request times, and the most requests that were in flight at once.

use std::cell::Cell;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Serves `GET /page/N` with a small page after `delay`, one green thread
/// per connection, on a hub of its own OS thread.
fn start_server(delay: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    let addr = listener.local_addr().expect("local address");
    std::thread::spawn(move || {
        moss::run(|| {
            for stream in listener.incoming().flatten() {
                moss::spawn(move || serve(stream, delay));
            }
        })
    });
    addr
}

fn serve(stream: TcpStream, delay: Duration) {
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Skip the rest of the head.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    // std::thread::sleep parks this green thread too: the layer hooks it.
    std::thread::sleep(delay);
    let body = format!("<html><body>page {path}</body></html>\n");
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = (&stream).write_all(response.as_bytes());
}

fn main() {
    let mut args = std::env::args().skip(1);
    let urls: usize = args
        .next()
        .map_or(200, |n| n.parse().expect("URLS: a count"));
    let delay_ms: u64 = args
        .next()
        .map_or(100, |n| n.parse().expect("DELAY_MS: milliseconds"));
    if !moss::patch::is_active() {
        eprintln!(
            "crawler: the patch layer is off (feature `patch`): requests will run one by one"
        );
    }
    let addr = start_server(Duration::from_millis(delay_ms));
    let urls: Vec<String> = (0..urls)
        .map(|i| format!("http://{addr}/page/{i}"))
        .collect();

    let (wall, times, bytes, peak) = moss::run(|| {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .build();
        let in_flight = Rc::new(Cell::new(0usize));
        let peak = Rc::new(Cell::new(0usize));
        let start = Instant::now();
        let fetches: Vec<_> = urls
            .into_iter()
            .map(|url| {
                let (agent, in_flight, peak) = (agent.clone(), in_flight.clone(), peak.clone());
                moss::spawn(move || {
                    in_flight.set(in_flight.get() + 1);
                    peak.set(peak.get().max(in_flight.get()));
                    let begun = Instant::now();
                    // Plain blocking ureq: no async, no moss type in sight.
                    let body = match agent.get(&url).call() {
                        Ok(response) => response.into_string().map_err(|e| e.to_string()),
                        Err(error) => Err(error.to_string()),
                    };
                    let took = begun.elapsed();
                    in_flight.set(in_flight.get() - 1);
                    (url, body, took)
                })
            })
            .collect();
        let mut times = Vec::new();
        let mut bytes = 0;
        for fetch in fetches {
            let (url, body, took) = fetch.join().expect("a fetch panicked");
            match body {
                Ok(body) => bytes += body.len(),
                Err(error) => eprintln!("crawler: {url}: {error}"),
            }
            times.push(took);
        }
        (start.elapsed(), times, bytes, peak.get())
    });

    let sum: Duration = times.iter().sum();
    println!(
        "fetched {} URLs ({bytes} bytes) on one OS thread",
        times.len()
    );
    println!(
        "wall time:                {:>10.1} ms",
        wall.as_secs_f64() * 1e3
    );
    println!(
        "sum of request times:     {:>10.1} ms",
        sum.as_secs_f64() * 1e3
    );
    println!(
        "overlap (sum / wall):     {:>10.1}x",
        sum.as_secs_f64() / wall.as_secs_f64()
    );
    println!("peak concurrent requests: {peak:>10}");
}
