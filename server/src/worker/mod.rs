//! Workers: what a forked process runs, one class per file (`sync`, `gthread`, `green`), and what they share.
//!
//! A worker serves the listeners it inherited from the master with the
//! application, writes its heartbeat and counters to its scoreboard slot,
//! and stops on the master's signals as gunicorn's workers do:
//!
//! | signal | worker |
//! |---|---|
//! | TERM | graceful stop: stop accepting, finish in-flight requests within `--graceful-timeout` |
//! | INT, QUIT | quick stop |
//! | USR1 | reopen log files |
//! | ABRT | sent by the master to a worker that missed its heartbeat: dies |
//!
//! A worker also stops when its master is gone, and after `--max-requests`
//! requests (plus jitter), so that the master starts a fresh one.

mod green;
mod gthread;
mod sync;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::WorkerClass;
use crate::master::listeners::Listener;
use crate::scoreboard::Slot;
use crate::sys::{self, Pid};
use crate::tls::Acceptor;
use crate::{App, HttpConfig, Request, Response};

/// How often a worker beats and checks its signals.
pub(crate) const TICK: Duration = Duration::from_millis(200);

/// Everything a worker needs, prepared by the master before the fork.
pub(crate) struct WorkerSetup {
    pub(crate) class: WorkerClass,
    pub(crate) listeners: Vec<Listener>,
    pub(crate) slot: Slot,
    pub(crate) app: Arc<dyn App>,
    pub(crate) http: HttpConfig,
    /// OS threads of a `gthread` worker.
    pub(crate) threads: usize,
    /// Most connections at once.
    pub(crate) worker_connections: usize,
    /// Requests after which the worker stops for a fresh one (0: never).
    pub(crate) max_requests: u64,
    pub(crate) graceful_timeout: Duration,
    /// Listen on a `SO_REUSEPORT` socket of the worker's own.
    pub(crate) reuse_port: bool,
    pub(crate) backlog: u32,
    pub(crate) master_pid: Pid,
    /// TLS termination (`--certfile`), with the configuration the master
    /// loaded before the fork.
    pub(crate) tls: Option<Acceptor>,
}

/// The worker's signal flags, set by its signal handlers.
#[derive(Clone, Default)]
pub(crate) struct Flags {
    /// TERM (or max requests, or the master gone): stop gracefully.
    stop: Arc<AtomicBool>,
    /// USR1: reopen log files.
    reopen: Arc<AtomicBool>,
}

impl Flags {
    /// Registers the worker's signal handlers. INT and QUIT end the
    /// process from the handler itself (`_exit(0)`): a quick stop cannot
    /// wait for a loop to notice a flag while a request blocks it.
    fn install() -> io::Result<Flags> {
        use signal_hook::consts::{SIGINT, SIGQUIT, SIGTERM, SIGUSR1};
        let flags = Flags::default();
        signal_hook::flag::register(SIGTERM, Arc::clone(&flags.stop))?;
        signal_hook::flag::register(SIGUSR1, Arc::clone(&flags.reopen))?;
        let now = Arc::new(AtomicBool::new(true));
        for signal in [SIGINT, SIGQUIT] {
            signal_hook::flag::register_conditional_shutdown(signal, 0, Arc::clone(&now))?;
        }
        Ok(flags)
    }

    /// Whether the worker should stop accepting and finish.
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Asks for a graceful stop.
    pub(crate) fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What a worker does at every tick, whatever its class: beat, notice a
/// vanished master, reopen logs. Returns whether the worker should stop.
pub(crate) fn tick(setup: &WorkerSetup, flags: &Flags) -> bool {
    setup.slot.beat();
    if sys::getppid() != setup.master_pid {
        log::info!("Parent changed, shutting down: {}", sys::getpid());
        flags.request_stop();
    }
    if flags.reopen.swap(false, Ordering::Relaxed) {
        if let Err(error) = crate::log::reopen() {
            log::error!("cannot reopen the log files: {error}");
        }
    }
    if flags.stopping() {
        setup.slot.mark_stopping();
    }
    flags.stopping()
}

/// The application as a worker serves it: counts each request in the
/// scoreboard and asks for a stop after `max_requests`.
pub(crate) struct Counted {
    slot: Slot,
    max_requests: u64,
    flags: Flags,
    app: Arc<dyn App>,
}

impl Counted {
    pub(crate) fn new(setup: &WorkerSetup, flags: &Flags) -> Counted {
        Counted {
            slot: setup.slot,
            max_requests: setup.max_requests,
            flags: flags.clone(),
            app: Arc::clone(&setup.app),
        }
    }

    /// Counts a connection opened; the guard counts it closed however the
    /// serving ends (a kill at shutdown included).
    pub(crate) fn connection(&self) -> OpenConnection {
        self.slot.count_connection(true);
        OpenConnection(self.slot, None)
    }

    /// [`Counted::connection`], also counted in `open`.
    pub(crate) fn connection_counting(&self, open: Arc<AtomicUsize>) -> OpenConnection {
        open.fetch_add(1, Ordering::Relaxed);
        self.slot.count_connection(true);
        OpenConnection(self.slot, Some(open))
    }
}

impl App for Counted {
    fn call(&self, request: Request) -> Response {
        let served = self.slot.count_request();
        if self.max_requests > 0 && served == self.max_requests {
            log::info!("Autorestarting worker after current request.");
            self.flags.request_stop();
        }
        self.slot.count_in_flight(true);
        let _in_flight = InFlight(self.slot);
        let mut response = self.app.call(request);
        if self.flags.stopping() {
            // Draining: a keep-alive client (a proxy reusing upstream
            // connections) is told to go, rather than kept until the
            // graceful timeout kills the worker under it.
            response.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

/// A request being handled, counted while the application runs (a panic
/// or a kill included).
struct InFlight(Slot);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.count_in_flight(false);
    }
}

/// One open connection, counted in the scoreboard (and a worker's own
/// count) while it lives.
pub(crate) struct OpenConnection(Slot, Option<Arc<AtomicUsize>>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.count_connection(false);
        if let Some(open) = &self.1 {
            open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Runs the worker until it stops; returns its exit code.
pub(crate) fn run(mut setup: WorkerSetup) -> i32 {
    let flags = match Flags::install() {
        Ok(flags) => flags,
        Err(error) => {
            log::error!("worker cannot install its signal handlers: {error}");
            return 1;
        }
    };
    // The master's death ends the worker even if it is stuck between ticks.
    let _ = sys::die_with_parent(libc::SIGTERM);
    if setup.reuse_port {
        let own: io::Result<Vec<Listener>> = setup
            .listeners
            .iter()
            .map(|listener| listener.own_reuse_port(setup.backlog))
            .collect();
        match own {
            Ok(own) => setup.listeners = own,
            Err(error) => {
                log::error!("worker cannot listen with SO_REUSEPORT: {error}");
                return 1;
            }
        }
    }
    log::info!("Booting worker with pid: {}", sys::getpid());
    let served = match setup.class {
        WorkerClass::Sync => sync::run(&setup, &flags),
        WorkerClass::Gthread => gthread::run(&setup, &flags),
        WorkerClass::Green => green::run(&setup, &flags),
    };
    match served {
        Ok(()) => {
            log::info!("Worker exiting (pid: {})", sys::getpid());
            0
        }
        Err(error) => {
            log::error!("Worker failed (pid: {}): {error}", sys::getpid());
            1
        }
    }
}

/// Reads the PROXY header a connection from a peer in `--proxy-allow-ips`
/// must start with (`--proxy-protocol`), within `--header-timeout`, and
/// puts the client's address in `conn` (the sender's in
/// `conn.proxy_addr`). `false`: close the connection (logged once per
/// peer address).
pub(crate) fn read_proxy_header<S>(
    stream: &mut S,
    http: &HttpConfig,
    conn: &mut crate::ConnInfo,
) -> bool
where
    S: crate::trust::proxy::Peek + crate::Transport,
{
    use crate::trust::proxy::{self, ProxyHeader};
    let trust = &http.trust;
    if !trust.expects_proxy_header(conn.peer_addr.map(|a| a.ip())) {
        return true;
    }
    let read = stream
        .set_read_timeout(http.header_timeout)
        .and_then(|()| proxy::read_header(stream, trust.proxy_protocol));
    let _ = stream.set_read_timeout(None);
    match read {
        Ok(ProxyHeader::Proxied { source, .. }) => {
            conn.proxy_addr = conn.peer_addr;
            conn.peer_addr = Some(source);
            true
        }
        Ok(ProxyHeader::Local { .. }) => true,
        Err(error) => {
            proxy::log_refused(conn.peer_addr, &error);
            false
        }
    }
}

/// Serves a connection to its end: through TLS when the worker terminates
/// it (a failed handshake is logged and ends the connection), else as is.
pub(crate) fn serve_accepted<S: crate::Transport + Send + 'static>(
    stream: S,
    app: &Counted,
    http: &HttpConfig,
    mut conn: crate::ConnInfo,
    tls: Option<&Acceptor>,
) -> io::Result<()> {
    match tls {
        None => crate::serve_connection(stream, app, http, conn),
        Some(tls) => match tls.accept(stream, &mut conn) {
            Some(stream) => crate::serve_connection(stream, app, http, conn),
            None => Ok(()),
        },
    }
}

/// The peer and local addresses of an accepted connection, for `ConnInfo`.
pub(crate) fn conn_info(
    peer: Option<std::net::SocketAddr>,
    local: Option<std::net::SocketAddr>,
) -> crate::ConnInfo {
    crate::ConnInfo {
        peer_addr: peer,
        local_addr: local,
        ..crate::ConnInfo::default()
    }
}
