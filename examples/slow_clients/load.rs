//! The normal clients: keep-alive connections each doing `GET /` in a
//! loop for a fixed time, all on one tokio current-thread runtime (one OS
//! thread), every request's latency recorded.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// What a load run measured.
#[derive(Debug, Default)]
pub struct Load {
    /// Requests answered with 200.
    pub requests: usize,
    /// From the start until the last connection stopped.
    pub elapsed: Duration,
    /// Every request's latency in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// Connects and exchanges that failed (the connection is then made
    /// again).
    pub errors: usize,
    /// Requests still unanswered at the hard end (the run's time plus 5 s).
    pub unanswered: usize,
    /// Filled in by the caller, which runs several rounds and keeps the
    /// median one: the CPU time the server used over all rounds (seconds),
    /// the requests of all rounds, and each round's requests/s, sorted.
    pub server_cpu: f64,
    pub all_requests: usize,
    pub rates: Vec<f64>,
}

impl Load {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// Server CPU time per request over all rounds, microseconds.
    pub fn server_us_per_request(&self) -> f64 {
        self.server_cpu * 1e6 / self.all_requests as f64
    }

    /// The latency at quantile `q` (0..=1), in milliseconds.
    pub fn percentile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let index = ((self.latencies_us.len() - 1) as f64 * q).round() as usize;
        self.latencies_us[index] as f64 / 1000.0
    }
}

/// Runs `conns` keep-alive connections against `addr` for `time`.
pub fn run(addr: SocketAddr, conns: usize, time: Duration) -> io::Result<Load> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let start = Instant::now();
    let end = start + time;
    let hard_end = tokio::time::Instant::from_std(end + Duration::from_secs(5));
    let results = runtime.block_on(async move {
        let tasks: Vec<_> = (0..conns)
            .map(|_| tokio::spawn(client(addr, end, hard_end)))
            .collect();
        let mut results = Vec::with_capacity(conns);
        for task in tasks {
            results.push(task.await);
        }
        results
    });
    let mut load = Load {
        elapsed: start.elapsed(),
        ..Load::default()
    };
    for result in results {
        let one = result.map_err(io::Error::other)?;
        load.latencies_us.extend(one.latencies_us);
        load.errors += one.errors;
        load.unanswered += one.unanswered;
    }
    load.requests = load.latencies_us.len();
    load.latencies_us.sort_unstable();
    Ok(load)
}

/// One connection's loop: a request, its whole response, again, until
/// `end`; made again after an error.
async fn client(addr: SocketAddr, end: Instant, hard_end: tokio::time::Instant) -> Load {
    let mut load = Load::default();
    let mut stream: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(1024);
    while Instant::now() < end {
        if stream.is_none() {
            match tokio::time::timeout_at(hard_end, TcpStream::connect(addr)).await {
                Ok(Ok(connected)) => {
                    let _ = connected.set_nodelay(true);
                    stream = Some(connected);
                }
                Ok(Err(_)) => {
                    load.errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                Err(_) => {
                    load.unanswered += 1;
                    break;
                }
            }
        }
        let connection = stream.as_mut().expect("connected above");
        let sent = Instant::now();
        match tokio::time::timeout_at(hard_end, exchange(connection, &mut buf)).await {
            Ok(Ok(())) => load
                .latencies_us
                .push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32),
            Ok(Err(_)) => {
                load.errors += 1;
                stream = None;
            }
            Err(_) => {
                load.unanswered += 1;
                break;
            }
        }
    }
    load
}

/// Sends [`REQUEST`] and reads one `200` response with a `Content-Length`
/// body.
async fn exchange(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    stream.write_all(REQUEST).await?;
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(head_end) = find(buf, b"\r\n\r\n").map(|at| at + 4) {
            let head = std::str::from_utf8(&buf[..head_end]).map_err(io::Error::other)?;
            if !head.starts_with("HTTP/1.1 200") {
                return Err(io::Error::other("status other than 200"));
            }
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .ok_or_else(|| io::Error::other("response without Content-Length"))?;
            if buf.len() >= head_end + length {
                return Ok(());
            }
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
