//! The slow clients: connections that start a request and never finish
//! it, each kept going by one driver thread that trickles bytes and notes
//! when the server closes the connection (and what it answered, if
//! anything).

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How a slow client misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `GET / HTTP/1.1`, `Host`, then one byte of a header field every
    /// interval; the head never ends.
    SlowHead,
    /// A head just under the server's largest accepted head, without its
    /// final CRLF, then nothing.
    BigHead,
    /// A complete head announcing `Content-Length: 1000000`, then one body
    /// byte every interval.
    SlowBody,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::SlowHead, Mode::BigHead, Mode::SlowBody];

    pub fn name(self) -> &'static str {
        match self {
            Mode::SlowHead => "slow-head",
            Mode::BigHead => "big-head",
            Mode::SlowBody => "slow-body",
        }
    }

    pub fn parse(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|mode| mode.name() == name)
    }

    /// What a connection sends when it opens.
    fn opening(self, big_head: &[u8]) -> &[u8] {
        match self {
            Mode::SlowHead => SLOW_HEAD_START,
            Mode::BigHead => big_head,
            Mode::SlowBody => SLOW_BODY_HEAD,
        }
    }

    /// The `i`-th byte trickled after the opening, if any.
    fn trickle(self, i: usize) -> Option<u8> {
        match self {
            Mode::SlowHead => Some(*SLOW_FIELD.get(i).unwrap_or(&b'a')),
            Mode::BigHead => None,
            Mode::SlowBody => Some(b'a'),
        }
    }
}

const SLOW_HEAD_START: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n";
/// The field a slow head spells out, one byte at a time (then `a` on).
const SLOW_FIELD: &[u8] = b"X-Slow: a";
const SLOW_BODY_HEAD: &[u8] = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n";

/// Bytes of a field line of a big head, CRLF included: the default
/// field-size limit of both gunicorn (`limit_request_field_size`) and
/// moss. hyper has no limit per field.
const FIELD_LINE: usize = 8190;

/// How long one connect, write or response of the set-up may take.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A complete `GET` head of exactly `len` bytes (at least 64): the request
/// line, `Host`, fields of [`FIELD_LINE`] bytes and one shorter field, the
/// empty line.
pub fn head_of(len: usize) -> Vec<u8> {
    let start = b"GET / HTTP/1.1\r\nHost: x\r\n";
    let mut head = Vec::with_capacity(len);
    head.extend_from_slice(start);
    let mut left = len.max(64) - start.len() - 2;
    let mut field = 0;
    while left > 0 {
        // Never leave a rest too short to be a field line of its own.
        let line = match left {
            n if n <= FIELD_LINE => n,
            n if n - FIELD_LINE < 32 => n - 32,
            _ => FIELD_LINE,
        };
        let name = format!("X-Big-{field:03}: ");
        head.extend_from_slice(name.as_bytes());
        head.resize(head.len() + line - name.len() - 2, b'a');
        head.extend_from_slice(b"\r\n");
        left -= line;
        field += 1;
    }
    head.extend_from_slice(b"\r\n");
    debug_assert_eq!(head.len(), len.max(64));
    head
}

/// Whether the server answers a complete head of `len` bytes with 200.
pub fn accepts(addr: SocketAddr, len: usize) -> bool {
    let exchange = || -> io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.write_all(&head_of(len))?;
        let mut status = [0u8; 12];
        stream.read_exact(&mut status)?;
        Ok(&status[9..12] == b"200")
    };
    exchange().unwrap_or(false)
}

/// Whether the server at `addr` waits on the head of `len` bytes (final
/// CRLF included) sent less its final CRLF, without answering or closing
/// for [`PROBE_WAIT`], and then answers the completed head with 200.
fn holds(addr: SocketAddr, len: usize) -> bool {
    let exchange = || -> io::Result<bool> {
        let mut head = head_of(len);
        let end = head.split_off(head.len() - 2);
        let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.write_all(&head)?;
        stream.set_read_timeout(Some(PROBE_WAIT))?;
        let mut status = [0u8; 12];
        match stream.read(&mut status) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            _ => return Ok(false),
        }
        stream.write_all(&end)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.read_exact(&mut status)?;
        Ok(&status[9..12] == b"200")
    };
    exchange().unwrap_or(false)
}

/// How long [`holds`] waits for a refusal of an unfinished head.
const PROBE_WAIT: Duration = Duration::from_millis(250);

/// The largest request head (final CRLF included) whose unfinished part
/// the server waits on, found by bisection between 1 KiB and 4 MiB, each
/// probe on a fresh connection; `None` if it does not hold even 1 KiB.
pub fn probe_max_head(addr: SocketAddr) -> Option<usize> {
    let (mut ok, mut refused) = (1024, 4 << 20);
    if !holds(addr, ok) {
        return None;
    }
    if holds(addr, refused) {
        return Some(refused);
    }
    while refused - ok > 1 {
        let mid = ok + (refused - ok) / 2;
        match holds(addr, mid) {
            true => ok = mid,
            false => refused = mid,
        }
    }
    Some(ok)
}

/// One slow connection.
pub struct SlowConn {
    stream: TcpStream,
    /// When its opening was sent.
    pub opened: Instant,
    /// Bytes trickled so far.
    sent: usize,
    next_send: Instant,
    /// When the server closed it (end of stream, reset or failed write).
    pub closed: Option<Instant>,
    /// The status code of a response the server sent, if any.
    pub status: Option<u16>,
}

/// Opens `count` connections that each send `mode`'s opening, one after
/// the other; fails past `deadline` or when a connect fails. A connection
/// the server closes during its opening counts as closed, not failed.
pub fn open(
    addr: SocketAddr,
    mode: Mode,
    count: usize,
    big_head: &[u8],
    interval: Duration,
    deadline: Instant,
) -> io::Result<Vec<SlowConn>> {
    let mut conns = Vec::with_capacity(count);
    for i in 0..count {
        if Instant::now() > deadline {
            return Err(io::Error::new(
                ErrorKind::TimedOut,
                format!("only {i} of {count} slow connections opened in time"),
            ));
        }
        let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .map_err(|e| io::Error::new(e.kind(), format!("slow connection {i}: connect: {e}")))?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let written = stream.write_all(mode.opening(big_head));
        let opened = Instant::now();
        stream.set_nonblocking(true)?;
        // Spread the trickled bytes of the connections over the interval.
        let offset = interval.mul_f64(i as f64 / count as f64);
        conns.push(SlowConn {
            stream,
            opened,
            sent: 0,
            next_send: opened + interval + offset,
            closed: written.is_err().then_some(opened),
            status: None,
        });
    }
    Ok(conns)
}

/// The driver thread of a set of slow connections.
pub struct Driver {
    stop: Arc<AtomicBool>,
    closed: Arc<AtomicUsize>,
    thread: JoinHandle<Vec<SlowConn>>,
}

impl Driver {
    /// Starts trickling `mode`'s bytes on `conns`, one byte per
    /// connection every `interval`.
    pub fn start(mut conns: Vec<SlowConn>, mode: Mode, interval: Duration) -> Driver {
        let stop = Arc::new(AtomicBool::new(false));
        let closed = Arc::new(AtomicUsize::new(
            conns.iter().filter(|c| c.closed.is_some()).count(),
        ));
        let thread = {
            let (stop, closed) = (Arc::clone(&stop), Arc::clone(&closed));
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    drive(&mut conns, mode, interval, &closed);
                }
                conns
            })
        };
        Driver {
            stop,
            closed,
            thread,
        }
    }

    /// How many connections the server has closed so far.
    pub fn closed(&self) -> usize {
        self.closed.load(Relaxed)
    }

    /// Stops the driver and hands the connections back (still open on this
    /// side).
    pub fn stop(self) -> Vec<SlowConn> {
        self.stop.store(true, Relaxed);
        self.thread.join().expect("the slow-client driver panicked")
    }
}

/// One round: waits up to 50 ms for news from the server, reads it, then
/// sends the bytes that are due.
fn drive(conns: &mut [SlowConn], mode: Mode, interval: Duration, closed: &AtomicUsize) {
    let open: Vec<usize> = (0..conns.len())
        .filter(|&i| conns[i].closed.is_none())
        .collect();
    let mut fds: Vec<libc::pollfd> = open
        .iter()
        .map(|&i| libc::pollfd {
            fd: conns[i].stream.as_raw_fd(),
            events: libc::POLLIN | libc::POLLRDHUP,
            revents: 0,
        })
        .collect();
    // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 50) };
    if open.is_empty() {
        std::thread::sleep(Duration::from_millis(50));
    }
    if ready > 0 {
        for (pollfd, &i) in fds.iter().zip(&open) {
            if pollfd.revents != 0 && receive(&mut conns[i]) {
                closed.fetch_add(1, Relaxed);
            }
        }
    }
    let now = Instant::now();
    for &i in &open {
        let conn = &mut conns[i];
        if conn.closed.is_some() || now < conn.next_send {
            continue;
        }
        let Some(byte) = mode.trickle(conn.sent) else {
            conn.next_send = now + interval;
            continue;
        };
        match conn.stream.write(&[byte]) {
            Ok(_) => conn.sent += 1,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => {
                conn.closed = Some(now);
                closed.fetch_add(1, Relaxed);
            }
        }
        conn.next_send += interval;
    }
}

/// Reads what the server sent; `true` when this shows it closed the
/// connection.
fn receive(conn: &mut SlowConn) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match conn.stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if conn.status.is_none() && n >= 12 && buf.starts_with(b"HTTP/1.") {
                    conn.status = std::str::from_utf8(&buf[9..12])
                        .ok()
                        .and_then(|code| code.parse().ok());
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    conn.closed = Some(Instant::now());
    true
}
