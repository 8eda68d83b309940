//! The master's Prometheus text exposition on `--metrics-bind`: per-worker counters from the scoreboard, restarts by cause.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use super::Restarts;
use crate::config::WorkerClass;
use crate::scoreboard::{Scoreboard, WorkerStats};

/// How long a scrape may take to send its request before the master drops
/// it (the master reads scrapes as they become readable, between its other
/// duties, never waiting on one).
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// A per-worker metric: name, type, help, and how to read it.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&WorkerStats) -> f64,
);

/// The exposition text.
pub(super) fn render(
    scoreboard: &Scoreboard,
    class: WorkerClass,
    workers: usize,
    target: usize,
    restarts: &Restarts,
) -> String {
    let mut out = String::new();
    let stats = scoreboard.workers();
    let _ = writeln!(out, "# HELP moss_workers Worker processes running.");
    let _ = writeln!(out, "# TYPE moss_workers gauge");
    let _ = writeln!(out, "moss_workers{{class=\"{class}\"}} {workers}");
    let _ = writeln!(
        out,
        "# HELP moss_workers_target Worker processes the master keeps."
    );
    let _ = writeln!(out, "# TYPE moss_workers_target gauge");
    let _ = writeln!(out, "moss_workers_target {target}");
    let _ = writeln!(
        out,
        "# HELP moss_worker_restarts_total Workers that ended, by cause."
    );
    let _ = writeln!(out, "# TYPE moss_worker_restarts_total counter");
    for (cause, count) in [
        ("crash", restarts.crashed),
        ("timeout", restarts.timed_out),
        ("max_requests", restarts.recycled),
        ("stopped", restarts.stopped),
    ] {
        let _ = writeln!(
            out,
            "moss_worker_restarts_total{{cause=\"{cause}\"}} {count}"
        );
    }
    let series: [Series; 8] = [
        (
            "moss_worker_requests_total",
            "counter",
            "Requests served.",
            |s| s.requests as f64,
        ),
        (
            "moss_worker_requests_in_flight",
            "gauge",
            "Requests being handled now.",
            |s| s.requests_in_flight as f64,
        ),
        (
            "moss_worker_peak_requests_in_flight",
            "gauge",
            "The most requests the worker has handled at once.",
            |s| s.peak_requests_in_flight as f64,
        ),
        (
            "moss_worker_active_connections",
            "gauge",
            "Connections open now.",
            |s| s.active_connections as f64,
        ),
        (
            "moss_worker_green_threads",
            "gauge",
            "Green threads alive on the worker's hub.",
            |s| s.green_threads as f64,
        ),
        (
            "moss_worker_hub_switches_total",
            "counter",
            "Green-thread switches of the worker's hub.",
            |s| s.switches as f64,
        ),
        (
            "moss_worker_blocked_hub_events_total",
            "counter",
            "Times one green thread held the worker's hub too long.",
            |s| s.blocked_hub_events as f64,
        ),
        (
            "moss_worker_heartbeat_age_seconds",
            "gauge",
            "Seconds since the worker's last heartbeat.",
            |s| s.since_heartbeat_ms as f64 / 1000.0,
        ),
    ];
    for (name, kind, help, value) in series {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for worker in &stats {
            let _ = writeln!(
                out,
                "{name}{{pid=\"{}\",age=\"{}\"}} {}",
                worker.pid,
                worker.age,
                value(worker)
            );
        }
    }
    out
}

/// A scrape whose request head is still arriving: the master reads it
/// when the socket is readable, never waiting on it.
pub(super) struct Scrape {
    stream: TcpStream,
    head: Vec<u8>,
    since: Instant,
}

impl Scrape {
    /// A scrape just accepted.
    pub(super) fn new(stream: TcpStream) -> io::Result<Scrape> {
        stream.set_nonblocking(true)?;
        Ok(Scrape {
            stream,
            head: Vec::new(),
            since: Instant::now(),
        })
    }

    /// The socket, to poll.
    pub(super) fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// Whether it has waited longer than [`SCRAPE_TIMEOUT`] for its head.
    pub(super) fn expired(&self) -> bool {
        self.since.elapsed() > SCRAPE_TIMEOUT
    }

    /// Reads what arrived; `Ok(true)` once the head is whole (or the client
    /// stopped sending), when [`Scrape::answer`] may follow.
    pub(super) fn read(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(true),
                Ok(n) => {
                    self.head.extend_from_slice(&buf[..n]);
                    if self.head.windows(4).any(|w| w == b"\r\n\r\n") || self.head.len() > 16 * 1024
                    {
                        return Ok(true);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends `text` (whatever the request asked) and closes. The answer
    /// is a few KiB, which the socket's buffer takes at once.
    pub(super) fn answer(mut self, text: &str) -> io::Result<()> {
        self.stream.set_nonblocking(false)?;
        self.stream.set_write_timeout(Some(SCRAPE_TIMEOUT))?;
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        );
        self.stream.write_all(response.as_bytes())?;
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        Ok(())
    }
}
