//! The `green` worker (alias `gevent`): one hub, one green thread per connection, at most `--worker-connections` at once.
//!
//! ```text
//!   hub (one OS thread, blocking monitor on)
//!    ├─ ticker      beats, records the hub's counters, watches the flags
//!    ├─ acceptor    one per listener; waits for room in the pool, accepts
//!    └─ pool        ≤ worker_connections green threads, one per connection
//! ```
//!
//! Accepting pauses while the pool is full: a client waits in the listen
//! backlog rather than being refused. On TERM the acceptors are killed and
//! the connections in flight get `--graceful-timeout` to finish.

use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use std::os::fd::{AsFd, BorrowedFd};

use moss_net_shims as net;
use moss_runtime as moss;
use moss_runtime::io::{Interest, Registration};

use super::{
    conn_info, read_proxy_header, serve_accepted, tick, Counted, Flags, WorkerSetup, TICK,
};
use crate::master::listeners::Listener;
use crate::tls::Acceptor;
use crate::{ConnInfo, HttpConfig, Transport};

/// How long one green thread may hold the hub before the monitor reports it.
const MAX_BLOCKING: Duration = Duration::from_millis(500);

pub(super) fn run(setup: &WorkerSetup, flags: &Flags) -> io::Result<()> {
    moss::Hub::builder()
        .max_blocking_time(MAX_BLOCKING)
        .run(|| serve(setup, flags))
}

fn serve(setup: &WorkerSetup, flags: &Flags) -> io::Result<()> {
    let pool = Rc::new(moss::Pool::new(setup.worker_connections.max(1)));
    let app = Rc::new(Counted::new(setup, flags));
    let http = Rc::new(setup.http.clone());
    let mut acceptors = Vec::new();
    for listener in &setup.listeners {
        let listener = listener.try_clone()?;
        let (pool, app, http) = (Rc::clone(&pool), Rc::clone(&app), Rc::clone(&http));
        let (flags, tls) = (flags.clone(), setup.tls.clone());
        acceptors.push(moss::spawn(move || {
            // An acceptor that cannot go on leaves the worker serving
            // nothing: it stops, and the master starts another.
            if let Err(error) = accept_loop(listener, &pool, &app, &http, tls.as_ref()) {
                log::error!("cannot accept connections: {error}");
                flags.request_stop();
            }
        }));
    }
    // This green thread ticks.
    while !tick(setup, flags) {
        record_hub(setup);
        moss::sleep(TICK);
    }
    for acceptor in &acceptors {
        acceptor.kill();
    }
    // An acceptor that was already woken may accept one more connection
    // before the kill lands: it goes into the pool, which is drained next.
    for acceptor in acceptors {
        let _ = acceptor.join();
    }
    // Graceful: the connections in flight finish, within the timeout.
    let deadline = Instant::now() + setup.graceful_timeout;
    while pool.running() > 0 && Instant::now() < deadline {
        setup.slot.beat();
        record_hub(setup);
        moss::sleep(TICK.min(deadline.saturating_duration_since(Instant::now())));
    }
    if pool.running() > 0 {
        log::info!(
            "Graceful timeout: closing {} connections still open",
            pool.running()
        );
    }
    Ok(())
}

/// Copies the hub's counters to the scoreboard.
fn record_hub(setup: &WorkerSetup) {
    let stats = moss::stats();
    setup
        .slot
        .record_hub(stats.alive, stats.switches, stats.blocked);
}

/// Accepts connections on one listener, each served in the pool.
///
/// The listener's open file description is shared with the other workers,
/// so its `O_NONBLOCK` is too: it is set, and a connection another worker
/// took first (`WouldBlock`) parks this acceptor until the next one.
fn accept_loop(
    listener: Listener,
    pool: &moss::Pool,
    app: &Rc<Counted>,
    http: &Rc<HttpConfig>,
    tls: Option<&Acceptor>,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let fd = listener.fd();
    // Dropped before the listener (declared after it): a registration must
    // go before its descriptor closes.
    let registration = Registration::new(listener_fd(&listener))?;
    loop {
        let accepted = registration.do_io(Interest::Readable, None, || match &listener {
            Listener::Tcp(listener) => listener.accept().map(|(stream, peer)| {
                let local = stream.local_addr().ok();
                Accepted::Tcp(net::TcpStream::from(stream), conn_info(Some(peer), local))
            }),
            Listener::Unix(listener, _) => listener
                .accept()
                .map(|(stream, _)| Accepted::Unix(net::UnixStream::from(stream))),
        });
        let accepted = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                accept_failed(fd, &error);
                continue;
            }
        };
        let (app, http, tls) = (Rc::clone(app), Rc::clone(http), tls.cloned());
        // `Pool::spawn` waits for room: accepting pauses when full.
        // The TLS handshake runs in the connection's green thread: its
        // reads park it like any other.
        pool.spawn(move || match accepted {
            Accepted::Tcp(mut stream, mut conn) => {
                let _ = stream.set_nodelay(true);
                if read_proxy_header(&mut stream, &http, &mut conn) {
                    serve_one(stream, &app, &http, conn, tls.as_ref());
                }
            }
            Accepted::Unix(stream) => {
                serve_one(stream, &app, &http, conn_info(None, None), tls.as_ref())
            }
        });
    }
}

/// A connection just accepted, as a green socket.
enum Accepted {
    Tcp(net::TcpStream, ConnInfo),
    Unix(net::UnixStream),
}

fn listener_fd(listener: &Listener) -> BorrowedFd<'_> {
    match listener {
        Listener::Tcp(listener) => listener.as_fd(),
        Listener::Unix(listener, _) => listener.as_fd(),
    }
}

/// Logs a failed accept and pauses a little (a full descriptor table
/// frees up as connections close).
fn accept_failed(fd: std::os::fd::RawFd, error: &io::Error) {
    log::error!("accept on descriptor {fd} failed: {error}");
    moss::sleep(Duration::from_millis(100));
}

fn serve_one<S: Transport + Send + 'static>(
    stream: S,
    app: &Counted,
    http: &HttpConfig,
    conn: ConnInfo,
    tls: Option<&Acceptor>,
) {
    let _open = app.connection();
    if let Err(error) = serve_accepted(stream, app, http, conn, tls) {
        log::debug!("connection ended: {error}");
    }
}
