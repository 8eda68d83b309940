//! Helpers shared by the patch layer's integration tests: a watchdog that
//! aborts a hung test binary, an overlap counter, and a green server that
//! holds every reply until all expected requests are in.

#![allow(dead_code)] // each test file uses its own subset

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// How long a test may run before its watchdog aborts the process.
pub const WATCHDOG: Duration = Duration::from_secs(60);

/// Aborts the process if not dropped within [`WATCHDOG`]: a test whose
/// failure mode is a blocked OS thread (a hook that does not park) fails
/// loudly instead of hanging the suite.
pub struct Watchdog {
    _cancel: mpsc::Sender<()>,
}

impl Watchdog {
    /// Arms a watchdog for the test `name`.
    pub fn arm(name: &'static str) -> Watchdog {
        let (cancel, cancelled) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            // A closed channel (the guard dropped) ends the wait early.
            if let Err(mpsc::RecvTimeoutError::Timeout) = cancelled.recv_timeout(WATCHDOG) {
                eprintln!(
                    "{name}: still running after {WATCHDOG:?}; aborting (an OS thread blocked)"
                );
                std::process::abort();
            }
        });
        Watchdog { _cancel: cancel }
    }
}

/// Counts how many callers are inside a section now, and the most at once.
#[derive(Debug, Default)]
pub struct Overlap {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Overlap {
    /// A counter at zero.
    pub const fn new() -> Overlap {
        Overlap {
            now: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// Enters the section until the guard drops.
    pub fn enter(&self) -> Inside<'_> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        Inside(self)
    }

    /// Callers inside now.
    pub fn now(&self) -> usize {
        self.now.load(Ordering::SeqCst)
    }

    /// The most callers that were ever inside at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// One caller inside an [`Overlap`] section.
pub struct Inside<'a>(&'a Overlap);

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Raises the soft limit on open descriptors to the hard limit, for tests
/// that hold a thousand connections (two descriptors each).
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write and read the local struct only.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// A request the [`held_server`] answers: one line.
pub fn request(i: usize) -> String {
    format!("request {i}\n")
}

/// The reply to [`request`]`(i)`.
pub fn reply(i: usize) -> String {
    format!("reply to request {i}\n")
}

/// Starts, in green threads of the current hub, a plain `std::net` server
/// that reads one line per connection and holds every reply until
/// `expected` requests have arrived, then sleeps `delay` (`moss::sleep`)
/// and answers each connection with `reply`, closing it.
///
/// Holding the replies makes overlap a fact rather than a race: the
/// server answers only once all `expected` clients wait at the same time,
/// so a client whose blocking call held the OS thread would hang the test
/// (caught by the [`Watchdog`]) instead of passing slowly.
pub fn held_server(expected: usize, delay: Duration) -> SocketAddr {
    hold(expected, delay, |stream| {
        let line = read_line(stream);
        let i: usize = line.trim().trim_start_matches("request ").parse().unwrap();
        reply(i).into_bytes()
    })
}

/// [`held_server`] speaking HTTP/1.1: `GET /item/I` is answered `200 OK`
/// with the body [`reply`]`(I)` and `Connection: close`.
pub fn held_http_server(expected: usize, delay: Duration) -> SocketAddr {
    hold(expected, delay, |stream| {
        let head = read_head(stream);
        let path = head.split_whitespace().nth(1).unwrap();
        let i: usize = path.trim_start_matches("/item/").parse().unwrap();
        let body = reply(i);
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        response.into_bytes()
    })
}

/// The server of [`held_server`]: `read` takes one request off a
/// connection and returns the bytes to answer.
fn hold(expected: usize, delay: Duration, read: fn(&mut TcpStream) -> Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let arrived = Rc::new(std::cell::Cell::new(0));
    let all_in = Rc::new(moss::sync::Event::new());
    // The loop ends when the hub kills it (an accept failing with ECANCELED).
    moss::spawn(move || {
        while let Ok((mut stream, _)) = listener.accept() {
            let (arrived, all_in) = (Rc::clone(&arrived), Rc::clone(&all_in));
            moss::spawn(move || {
                let answer = read(&mut stream);
                arrived.set(arrived.get() + 1);
                if arrived.get() == expected {
                    all_in.set();
                }
                all_in.wait();
                moss::sleep(delay);
                stream.write_all(&answer).unwrap();
            });
        }
    });
    addr
}

/// A server that accepts connections and never answers, keeping them open
/// until the hub ends.
pub fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    moss::spawn(move || {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept() {
            open.push(stream);
        }
    });
    addr
}

/// Reads an HTTP request head, up to and including the blank line.
pub fn read_head(stream: &mut impl Read) -> String {
    let mut head = String::new();
    loop {
        let line = read_line(stream);
        head.push_str(&line);
        if line == "\r\n" || line.is_empty() {
            return head;
        }
    }
}

/// Reads bytes up to and including the first `\n` (or end of stream).
pub fn read_line(stream: &mut impl Read) -> String {
    let mut line = Vec::new();
    let mut byte = [0];
    while stream.read(&mut byte).unwrap() == 1 {
        line.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    String::from_utf8(line).unwrap()
}

/// A connected loopback TCP pair of plain std sockets (blocking mode).
/// Works inside or outside a hub: the connect completes in the listener's
/// backlog before the accept.
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}
