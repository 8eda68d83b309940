//! The `gthread` worker: `--threads` OS threads serve requests; idle keep-alive connections wait in one poller, not in a thread.
//!
//! ```text
//!   poller (the worker's main thread, epoll via mio)
//!     accept ──► jobs ──► thread 1..N: Connection::serve_ready
//!        ▲                      │ Idle: back to the poller
//!        └── readable ◄── idle ◄┘ (until its keep-alive deadline)
//! ```
//!
//! A thread serves a connection until it goes idle (every response sent,
//! no input waiting), then hands it back; the poller gives it to a thread
//! again when its next request arrives, or closes it at its keep-alive
//! deadline. At most `--worker-connections` connections are open at once:
//! accepting pauses until one closes.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Instant;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use super::{
    conn_info, read_proxy_header, tick, Counted, Flags, OpenConnection, WorkerSetup, TICK,
};
use crate::master::listeners::Listener;
use crate::tls::Acceptor;
use crate::{ConnInfo, Connection, HttpConfig, NoTimeouts, Served, Transport};

/// A connection as the worker moves it between the poller and the threads.
struct Job {
    connection: Connection<Box<dyn Transport + Send>>,
    /// A connection that must first send a PROXY header, or shake hands
    /// for TLS: done by the thread that serves it first (never by the
    /// poller); `connection` is then a placeholder.
    unstarted: Option<(Unstarted, ConnInfo)>,
    fd: RawFd,
    /// Accepted and not yet served: its client is sending a request.
    fresh: bool,
    _open: OpenConnection,
}

/// An accepted socket whose PROXY header or TLS handshake is still to come.
enum Unstarted {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

/// The poller's token for the threads' "a connection came back" wake-up.
const WAKE: Token = Token(usize::MAX);

pub(super) fn run(setup: &WorkerSetup, flags: &Flags) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
    for (index, listener) in setup.listeners.iter().enumerate() {
        listener.set_nonblocking(true)?;
        poll.registry().register(
            &mut SourceFd(&listener.fd()),
            Token(index),
            Interest::READABLE,
        )?;
    }
    let app = Arc::new(Counted::new(setup, flags));
    let http = Arc::new(setup.http.clone());
    let open = Arc::new(AtomicUsize::new(0));
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    let (give_back, returned) = mpsc::channel::<Job>();
    let mut threads = Vec::new();
    for index in 0..setup.threads.max(1) {
        let (queue, app, http) = (Arc::clone(&queue), Arc::clone(&app), Arc::clone(&http));
        let (give_back, waker) = (give_back.clone(), Arc::clone(&waker));
        let tls = setup.tls.clone();
        threads.push(
            thread::Builder::new()
                .name(format!("moss-gthread-{index}"))
                .spawn(move || serve_jobs(&queue, &app, &http, tls.as_ref(), &give_back, &waker))?,
        );
    }
    drop(give_back);

    let first_idle = setup.listeners.len();
    let mut idle = Idle::new();
    let mut next_token = first_idle;
    let mut events = Events::with_capacity(256);
    while !tick(setup, flags) {
        wait(&mut poll, &mut events)?;
        let mut to_serve = Vec::new();
        for event in &events {
            match event.token() {
                WAKE => {}
                Token(index) if index < first_idle => {}
                token => {
                    if let Some((job, _)) = idle.remove(&token.0) {
                        let _ = poll.registry().deregister(&mut SourceFd(&job.fd));
                        to_serve.push(job);
                    }
                }
            }
        }
        // Connections the threads gave back wait here for their next request.
        while let Ok(job) = returned.try_recv() {
            wait_for_request(&poll, &mut idle, &mut next_token, first_idle, job);
        }
        // Keep-alive deadlines.
        let now = Instant::now();
        idle.retain(|_, (job, deadline)| {
            let keep = deadline.is_none_or(|deadline| deadline > now);
            if !keep {
                let _ = poll.registry().deregister(&mut SourceFd(&job.fd));
            }
            keep
        });
        // Accept while there is room (every tick: a listener whose edge
        // came while the worker was full is tried again).
        for listener in &setup.listeners {
            while open.load(Ordering::Relaxed) < setup.worker_connections.max(1) {
                match accept(listener, &app, &http, setup.tls.is_some(), &open) {
                    // A new connection waits here too: no thread is held by
                    // a client that has not sent its request yet.
                    Ok(Some(job)) => {
                        wait_for_request(&poll, &mut idle, &mut next_token, first_idle, job)
                    }
                    Ok(None) => break,
                    Err(error) => {
                        log::error!("accept failed: {error}");
                        break;
                    }
                }
            }
        }
        for job in to_serve {
            if jobs.send(job).is_err() {
                return Err(io::Error::other("every gthread thread has stopped"));
            }
        }
    }
    // Graceful: stop accepting, close the idle, let the busy finish.
    for listener in &setup.listeners {
        let _ = poll.registry().deregister(&mut SourceFd(&listener.fd()));
    }
    // A connection accepted and not yet served, or one whose next request
    // has arrived, is served (its client is already talking); the others
    // are idle keep-alive connections, closed as gunicorn closes them.
    for (_, (job, _)) in idle.drain() {
        let _ = poll.registry().deregister(&mut SourceFd(&job.fd));
        let waiting = crate::sys::wait_readable(&[job.fd], std::time::Duration::ZERO)?.is_some();
        if (job.fresh || waiting) && jobs.send(job).is_err() {
            break;
        }
    }
    let deadline = Instant::now() + setup.graceful_timeout;
    while open.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        setup.slot.beat();
        wait(&mut poll, &mut events)?;
        // Whatever comes back idle now is closed.
        while returned.try_recv().is_ok() {}
    }
    drop(jobs);
    if open.load(Ordering::Relaxed) > 0 {
        log::info!(
            "Graceful timeout: closing {} connections still open",
            open.load(Ordering::Relaxed)
        );
        return Ok(());
    }
    for thread in threads {
        let _ = thread.join();
    }
    Ok(())
}

/// Waits for events for at most a tick; a signal (TERM, USR1) ends the
/// wait early with none.
fn wait(poll: &mut Poll, events: &mut Events) -> io::Result<()> {
    match poll.poll(events, Some(TICK)) {
        Err(error) if error.kind() == io::ErrorKind::Interrupted => {
            events.clear();
            Ok(())
        }
        other => other,
    }
}

/// Idle connections, by token, with their deadline.
type Idle = HashMap<usize, (Job, Option<Instant>)>;

/// Registers `job` with the poller until its next request arrives or its
/// deadline passes.
fn wait_for_request(poll: &Poll, idle: &mut Idle, next_token: &mut usize, first: usize, job: Job) {
    *next_token = next_token.wrapping_add(1).max(first);
    let token = Token(*next_token);
    match poll
        .registry()
        .register(&mut SourceFd(&job.fd), token, Interest::READABLE)
    {
        Ok(()) => {
            let deadline = job.connection.idle_deadline();
            idle.insert(token.0, (job, deadline));
        }
        Err(error) => log::debug!("cannot wait for a connection: {error}"),
    }
}

/// Accepts one connection if one is waiting.
fn accept(
    listener: &Listener,
    app: &Counted,
    http: &HttpConfig,
    tls: bool,
    open: &Arc<AtomicUsize>,
) -> io::Result<Option<Job>> {
    let stand_in = || Box::new(NoTimeouts(io::empty())) as Box<dyn Transport + Send>;
    let accepted = match listener {
        Listener::Tcp(listener) => listener.accept().and_then(|(stream, peer)| {
            stream.set_nonblocking(false)?;
            let _ = stream.set_nodelay(true);
            let conn = conn_info(Some(peer), stream.local_addr().ok());
            let fd = stream.as_raw_fd();
            if tls || http.trust.expects_proxy_header(Some(peer.ip())) {
                let unstarted = Some((Unstarted::Tcp(stream), conn));
                return Ok((stand_in(), fd, ConnInfo::default(), unstarted));
            }
            Ok((
                Box::new(stream) as Box<dyn Transport + Send>,
                fd,
                conn,
                None,
            ))
        }),
        Listener::Unix(listener, _) => listener.accept().and_then(|(stream, _)| {
            stream.set_nonblocking(false)?;
            let fd = stream.as_raw_fd();
            if tls {
                let unstarted = Some((Unstarted::Unix(stream), ConnInfo::default()));
                return Ok((stand_in(), fd, ConnInfo::default(), unstarted));
            }
            Ok((
                Box::new(stream) as Box<dyn Transport + Send>,
                fd,
                ConnInfo::default(),
                None,
            ))
        }),
    };
    let (stream, fd, conn, unstarted) = match accepted {
        Ok(accepted) => accepted,
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(None),
        Err(error) => return Err(error),
    };
    // Until its PROXY header is read and its TLS handshake done, the
    // connection is an empty stand-in whose deadline is the header
    // timeout's.
    let connection = Connection::new(stream, http, conn)?;
    Ok(Some(Job {
        connection,
        unstarted,
        fd,
        fresh: true,
        _open: app.connection_counting(Arc::clone(open)),
    }))
}

/// A thread's loop: serve connections until they go idle or close.
fn serve_jobs(
    queue: &Mutex<mpsc::Receiver<Job>>,
    app: &Counted,
    http: &HttpConfig,
    tls: Option<&Acceptor>,
    give_back: &mpsc::Sender<Job>,
    waker: &Waker,
) {
    loop {
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(mut job) = job else {
            return;
        };
        job.fresh = false;
        if let Some((unstarted, conn)) = job.unstarted.take() {
            let Some((stream, conn)) = start(unstarted, conn, http, tls) else {
                continue;
            };
            match Connection::new(stream, http, conn) {
                Ok(connection) => job.connection = connection,
                Err(error) => {
                    log::debug!("connection ended: {error}");
                    continue;
                }
            }
            // A first request that did not come with the handshake (or the
            // PROXY header) is waited for in the poller, as a plain
            // connection's is, not on this thread; still fresh, so that a
            // graceful stop serves it.
            if !has_buffered_input(&job) {
                job.fresh = true;
                if give_back.send(job).is_ok() {
                    let _ = waker.wake();
                }
                continue;
            }
        }
        loop {
            match job.connection.serve_ready(app, http) {
                // Input the stream already holds (TLS plaintext rustls
                // decrypted with the last request) would never wake the
                // poller: served now.
                Ok(Served::Idle) if has_buffered_input(&job) => continue,
                Ok(Served::Idle) => {
                    if give_back.send(job).is_ok() {
                        let _ = waker.wake();
                    }
                }
                Ok(Served::Closed) => {}
                Err(error) => log::debug!("connection ended: {error}"),
            }
            break;
        }
    }
}

fn has_buffered_input(job: &Job) -> bool {
    job.connection
        .stream()
        .is_some_and(|stream| stream.has_buffered_input())
}

/// Reads the PROXY header a connection owes, then shakes hands for TLS;
/// `None` when either fails (logged).
fn start(
    unstarted: Unstarted,
    mut conn: ConnInfo,
    http: &HttpConfig,
    tls: Option<&Acceptor>,
) -> Option<(Box<dyn Transport + Send>, ConnInfo)> {
    let stream: Box<dyn Transport + Send> = match unstarted {
        Unstarted::Tcp(mut stream) => {
            if !read_proxy_header(&mut stream, http, &mut conn) {
                return None;
            }
            match tls {
                Some(tls) => Box::new(tls.accept(stream, &mut conn)?),
                None => Box::new(stream),
            }
        }
        Unstarted::Unix(stream) => match tls {
            Some(tls) => Box::new(tls.accept(stream, &mut conn)?),
            None => Box::new(stream),
        },
    };
    Some((stream, conn))
}
