//! The master (gunicorn's arbiter): binds, forks and supervises the workers, and handles the signals.
//!
//! ```text
//!   loop (one thread, never a hub):
//!     signals  ─ handlers only queue them; handled here, in order
//!     reap     ─ waitpid: log how each worker ended, free its slot
//!     murder   ─ a worker whose heartbeat is older than --timeout:
//!                SIGABRT, then SIGKILL
//!     manage   ─ fork workers up to the target count, stop the extras
//!                (oldest first) and those of an older configuration
//!     metrics  ─ answer a scrape on --metrics-bind
//!     control  ─ answer `moss ctl` on --control-socket
//!     wait     ─ for a signal, a scrape or a control client, at most a second
//! ```
//!
//! The master never creates a thread, a hub or a green thread: it forks.

pub(crate) mod control;
pub(crate) mod listeners;
mod metrics;
mod signals;

use std::collections::HashMap;
use std::io;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::os::unix::process::ExitStatusExt;

use self::control::{Command, Control};
use self::listeners::{BindOptions, Listener};
use self::signals::{Signal, Signals};
use crate::config::Config;
use crate::scoreboard::Scoreboard;
use crate::sys::{self, Forked, Pid};
use crate::worker::{self, WorkerSetup};
use crate::App;

/// Builds the application: in each worker after the fork, or once in the
/// master before forking (`--preload`).
pub(crate) type AppFactory = Arc<dyn Fn() -> io::Result<Arc<dyn App>> + Send + Sync>;

/// Re-reads the configuration on HUP.
pub(crate) type Reload = Box<dyn Fn() -> Result<Config, String>>;

/// The exit code of a worker whose application failed to build (gunicorn's
/// `WORKER_BOOT_ERROR`): the master stops rather than fork it again and again.
const BOOT_ERROR: i32 = 3;

/// How long a worker has to die after SIGABRT before SIGKILL.
const ABORT_GRACE: Duration = Duration::from_secs(2);

/// How long the master waits at most between two turns of its loop.
const LOOP_WAIT: Duration = Duration::from_secs(1);

/// Why workers were restarted, counted for the metrics.
#[derive(Debug, Default, Clone)]
pub(crate) struct Restarts {
    /// Exited with an error status or by a signal the master did not send.
    pub(crate) crashed: u64,
    /// Killed for missing their heartbeat.
    pub(crate) timed_out: u64,
    /// Exited by themselves after `--max-requests`.
    pub(crate) recycled: u64,
    /// Stopped by the master (reload, TTOU, shutdown).
    pub(crate) stopped: u64,
}

/// A worker as the master tracks it.
#[derive(Debug)]
struct Worker {
    slot: usize,
    age: u64,
    /// The configuration it was started with (a HUP starts a new one).
    generation: u64,
    /// When the master sent it TERM (it is draining).
    stopping: Option<Instant>,
    /// When the master sent it SIGABRT for a missed heartbeat.
    aborted: Option<Instant>,
}

/// The master process.
pub(crate) struct Master {
    config: Config,
    /// The TLS configuration of `config.tls`, loaded before any fork (at
    /// start, and again on HUP); `None` without `--certfile`.
    tls: Option<Arc<rustls::ServerConfig>>,
    reload: Reload,
    factory: AppFactory,
    preloaded: Option<Arc<dyn App>>,
    listeners: Vec<Listener>,
    scoreboard: Scoreboard,
    signals: Signals,
    workers: HashMap<Pid, Worker>,
    /// How many workers should run (`--workers`, then TTIN/TTOU).
    target: usize,
    /// Workers started so far.
    age: u64,
    /// Configurations loaded so far (HUP).
    generation: u64,
    restarts: Restarts,
    metrics: Option<TcpListener>,
    /// Scrapes of the metrics whose request is still arriving.
    scrapes: Vec<metrics::Scrape>,
    /// The control socket (`moss ctl`), unless `--no-control-socket`.
    control: Option<Control>,
    /// A stop asked for on the control socket.
    stop_requested: Option<Stop>,
    pidfile: Option<PathBuf>,
    /// A new master started by USR2, while it runs.
    successor: Option<Pid>,
    /// The binary's path when the master started: USR2 runs what is at
    /// that path then (a replaced binary; `current_exe` would name the
    /// deleted one).
    executable: Option<PathBuf>,
    pid: Pid,
}

impl Master {
    /// Binds the listeners, writes the pidfile and installs the signal
    /// handlers; builds the application now with `--preload`. `tls` is
    /// the configuration [`crate::tls::load`] made of `config.tls`.
    pub(crate) fn new(
        config: Config,
        tls: Option<Arc<rustls::ServerConfig>>,
        reload: Reload,
        factory: AppFactory,
    ) -> io::Result<Master> {
        // A new master started by USR2 takes the control socket's path
        // over from the old one (which leaves the file to it).
        let upgraded = std::env::var_os(listeners::INHERITED_FDS).is_some();
        let listeners = listeners::bind_all(
            &config.bind,
            BindOptions {
                backlog: config.backlog,
                reuse_port: config.reuse_port,
                umask: config.umask,
            },
        )?;
        if config.user.is_some() || config.group.is_some() {
            let (user, group) = identities(&config)?;
            let gid = group.or(user.as_ref().and_then(|user| user.primary_gid));
            for listener in &listeners {
                if let Listener::Unix(_, Some(path)) = listener {
                    sys::chown(path, user.as_ref().map(|user| user.uid), gid)?;
                }
            }
        }
        let metrics = match &config.metrics_bind {
            Some(addr) => {
                let listener = match listeners::inherited_metrics()? {
                    Some(listener) => listener,
                    None => TcpListener::bind(addr.as_str()).map_err(|e| {
                        io::Error::new(e.kind(), format!("cannot bind --metrics-bind {addr}: {e}"))
                    })?,
                };
                listener.set_nonblocking(true)?;
                Some(listener)
            }
            None => None,
        };
        let preloaded = match config.preload_app {
            true => Some(factory()?),
            false => None,
        };
        let pid = sys::getpid();
        let pidfile = config.pidfile.clone();
        if let Some(path) = &pidfile {
            std::fs::write(path, format!("{pid}\n")).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot write --pid {}: {e}", path.display()),
                )
            })?;
        }
        let scoreboard = Scoreboard::new()?;
        scoreboard.make_current();
        let signals = Signals::install()?;
        let control = match config.control_socket_disable {
            true => None,
            false => match Control::bind(config.control_socket.as_deref(), pid, upgraded) {
                Ok(control) => Some(control),
                Err(e) => match &config.control_socket {
                    Some(path) => {
                        return Err(io::Error::new(
                            e.kind(),
                            format!("cannot create --control-socket {}: {e}", path.display()),
                        ))
                    }
                    None => {
                        log::warn!(
                            "cannot create the control socket {}: {e}; running without one",
                            control::default_path(pid).display()
                        );
                        None
                    }
                },
            },
        };
        Ok(Master {
            target: config.workers,
            config,
            tls,
            reload,
            factory,
            preloaded,
            listeners,
            scoreboard,
            signals,
            workers: HashMap::new(),
            age: 0,
            generation: 0,
            restarts: Restarts::default(),
            metrics,
            scrapes: Vec::new(),
            control,
            stop_requested: None,
            pidfile,
            successor: None,
            executable: std::env::current_exe().ok(),
            pid,
        })
    }

    /// The listeners' addresses, as logged at start.
    pub(crate) fn addresses(&self) -> Vec<String> {
        let tls = self.tls.is_some();
        self.listeners
            .iter()
            .map(|listener| match (tls, listener.describe()) {
                (true, address) if address.starts_with("http://") => {
                    address.replacen("http://", "https://", 1)
                }
                (_, address) => address,
            })
            .collect()
    }

    /// Runs until a stop signal (or a worker that cannot boot); stops the
    /// workers and cleans up.
    pub(crate) fn run(mut self) -> io::Result<()> {
        log::info!("Starting moss {}", env!("CARGO_PKG_VERSION"));
        for address in self.addresses() {
            log::info!("Listening at: {address} ({})", self.pid);
        }
        log::info!("Using worker: {}", self.config.worker_class);
        if let Some(control) = &self.control {
            log::info!("Control socket: {}", control.path().display());
        }
        let result = self.supervise();
        // No new control clients while stopping; answers given are sent.
        if let Some(mut control) = self.control.take() {
            control.flush();
            control.remove_file();
        }
        self.stop(matches!(result, Ok(Stop::Graceful)));
        self.clean_up();
        result.map(drop)
    }

    fn supervise(&mut self) -> io::Result<Stop> {
        loop {
            for signal in self.signals.pending() {
                if let Some(stop) = self.handle(signal)? {
                    return Ok(stop);
                }
            }
            if let Some(stop) = self.reap()? {
                return Ok(stop);
            }
            self.murder();
            self.manage()?;
            self.wait()?;
            if let Some(stop) = self.stop_requested.take() {
                return Ok(stop);
            }
        }
    }

    /// Acts on one signal; `Some` when the master should stop.
    fn handle(&mut self, signal: Signal) -> io::Result<Option<Stop>> {
        match signal {
            Signal::Chld => {}
            Signal::Term => {
                log::info!("Handling signal: term");
                return Ok(Some(Stop::Graceful));
            }
            Signal::Int | Signal::Quit => {
                log::info!(
                    "Handling signal: {}",
                    if signal == Signal::Int { "int" } else { "quit" }
                );
                return Ok(Some(Stop::Quick));
            }
            Signal::Hup => {
                log::info!("Handling signal: hup");
                log::info!("Hang up: Master");
                let _ = self.reload_config();
            }
            Signal::Ttin => {
                log::info!("Handling signal: ttin");
                self.target += 1;
            }
            Signal::Ttou => {
                log::info!("Handling signal: ttou");
                self.target = self.target.saturating_sub(1).max(1);
            }
            Signal::Usr1 => {
                log::info!("Handling signal: usr1");
                if let Err(error) = crate::log::reopen() {
                    log::error!("cannot reopen the log files: {error}");
                }
                self.signal_workers(libc::SIGUSR1);
            }
            Signal::Usr2 => {
                log::info!("Handling signal: usr2");
                self.upgrade();
            }
            Signal::Winch => {
                log::info!("Handling signal: winch");
                log::info!("graceful stop of workers");
                self.target = 0;
            }
        }
        Ok(None)
    }

    /// Reads the configuration again (HUP, `reload`): `manage` then starts
    /// workers of the new one and stops the old ones.
    fn reload_config(&mut self) -> Result<(), String> {
        match (self.reload)() {
            Ok(config) => {
                // The certificate files are read again too: new workers
                // serve the new ones; bad ones keep everything as it was.
                let tls = match crate::tls::load(&config.tls) {
                    Ok(tls) => tls,
                    Err(error) => {
                        log::error!("Reload failed, keeping the configuration: {error}");
                        return Err(format!("reload failed, keeping the configuration: {error}"));
                    }
                };
                self.tls = tls;
                if config.bind != self.config.bind {
                    log::warn!(
                        "--bind changes need a restart or an upgrade (USR2); keeping the listeners"
                    );
                }
                self.target = config.workers;
                self.config = config;
                self.generation += 1;
                if !self.config.preload_app {
                    self.preloaded = None;
                }
                Ok(())
            }
            Err(error) => {
                log::error!("Reload failed, keeping the configuration: {error}");
                Err(format!("reload failed, keeping the configuration: {error}"))
            }
        }
    }

    /// Answers a request of the control socket.
    fn command(&mut self, command: Command) -> Result<serde_json::Value, String> {
        use serde_json::json;
        match command {
            Command::Status => Ok(self.status()),
            Command::Workers(count) => {
                if count > crate::scoreboard::SLOTS {
                    return Err(format!(
                        "at most {} workers (the scoreboard's slots)",
                        crate::scoreboard::SLOTS
                    ));
                }
                log::info!("Control: workers {count}");
                let previous = self.target;
                self.target = count;
                Ok(json!({ "ok": true, "previous": previous, "target": count }))
            }
            Command::Reload => {
                log::info!("Control: reload");
                self.reload_config()?;
                Ok(json!({ "ok": true, "reloaded": true, "target": self.target }))
            }
            Command::Shutdown { graceful } => {
                log::info!(
                    "Control: shutdown ({})",
                    if graceful { "graceful" } else { "quick" }
                );
                self.stop_requested = Some(match graceful {
                    true => Stop::Graceful,
                    false => Stop::Quick,
                });
                Ok(json!({
                    "ok": true,
                    "shutdown": if graceful { "graceful" } else { "quick" },
                }))
            }
        }
    }

    /// The `status` answer: the master and each worker, from the scoreboard.
    fn status(&self) -> serde_json::Value {
        use serde_json::json;
        let mut stats = self.scoreboard.workers();
        stats.sort_by_key(|worker| worker.age);
        let workers: Vec<serde_json::Value> = stats
            .iter()
            .map(|worker| {
                let stopping = worker.stopping
                    || self
                        .workers
                        .get(&(worker.pid as Pid))
                        .is_some_and(|w| w.stopping.is_some());
                json!({
                    "pid": worker.pid,
                    "age": worker.age,
                    "requests": worker.requests,
                    "requests_in_flight": worker.requests_in_flight,
                    "active_connections": worker.active_connections,
                    "green_threads": worker.green_threads,
                    "since_heartbeat": worker.since_heartbeat_ms as f64 / 1000.0,
                    "uptime": worker.uptime_ms as f64 / 1000.0,
                    "stopping": stopping,
                })
            })
            .collect();
        json!({
            "master_pid": self.pid,
            "version": env!("CARGO_PKG_VERSION"),
            "class": self.config.worker_class.name(),
            "target": self.target,
            "running": self.workers.len(),
            "workers": workers,
        })
    }

    /// Reaps the workers that exited; `Some` when one could not boot.
    fn reap(&mut self) -> io::Result<Option<Stop>> {
        while let Some((pid, status)) = sys::reap_child()? {
            if Some(pid) == self.successor {
                log::warn!("The new master (pid: {pid}) exited: {}", describe(status));
                self.successor = None;
                if let Some(path) = &self.pidfile {
                    let _ = std::fs::rename(oldbin(path), path);
                }
                continue;
            }
            let Some(worker) = self.workers.remove(&pid) else {
                continue;
            };
            self.scoreboard.slot(worker.slot).release();
            if status.code() == Some(BOOT_ERROR) {
                log::error!("Worker (pid:{pid}) failed to boot.");
                log::error!("Shutting down: Master");
                return Ok(Some(Stop::Quick));
            }
            if worker.aborted.is_some() {
                self.restarts.timed_out += 1;
                log::error!(
                    "Worker (pid:{pid}) was killed after missing its heartbeat: {}",
                    describe(status)
                );
            } else if worker.stopping.is_some() {
                self.restarts.stopped += 1;
                log::debug!("Worker (pid:{pid}) stopped");
            } else if status.success() {
                self.restarts.recycled += 1;
                log::info!("Worker (pid:{pid}) exited after its requests; starting another");
            } else {
                self.restarts.crashed += 1;
                log::error!("Worker (pid:{pid}) {}", describe(status));
            }
        }
        Ok(None)
    }

    /// Kills workers that missed their heartbeat for `--timeout`.
    fn murder(&mut self) {
        let timeout = self.config.timeout;
        if timeout.is_zero() {
            return;
        }
        for (&pid, worker) in &mut self.workers {
            match worker.aborted {
                None if self.scoreboard.slot(worker.slot).since_beat() > timeout => {
                    log::error!("WORKER TIMEOUT (pid:{pid})");
                    let _ = sys::kill(pid, libc::SIGABRT);
                    worker.aborted = Some(Instant::now());
                }
                Some(at) if at.elapsed() > ABORT_GRACE => {
                    let _ = sys::kill(pid, libc::SIGKILL);
                }
                _ => {}
            }
        }
    }

    /// Forks workers up to the target, stops the extras and those of an
    /// older configuration.
    fn manage(&mut self) -> io::Result<()> {
        let current = |workers: &HashMap<Pid, Worker>, generation| {
            workers
                .values()
                .filter(|w| w.generation == generation && w.stopping.is_none())
                .count()
        };
        while current(&self.workers, self.generation) < self.target {
            if let Err(error) = self.spawn_worker() {
                // Out of processes or memory for now: the next turn retries.
                log::error!("cannot start a worker: {error}");
                break;
            }
        }
        // After a reload the new workers are up before the old ones stop:
        // the listeners are shared, so no connection is refused meanwhile.
        let generation = self.generation;
        let mut to_stop: Vec<Pid> = self
            .workers
            .iter()
            .filter(|(_, w)| w.stopping.is_none() && w.generation != generation)
            .map(|(&pid, _)| pid)
            .collect();
        // Too many of the current configuration (TTOU, WINCH): the oldest go.
        let mut current: Vec<(u64, Pid)> = self
            .workers
            .iter()
            .filter(|(_, w)| w.stopping.is_none() && w.generation == generation)
            .map(|(&pid, w)| (w.age, pid))
            .collect();
        current.sort_unstable();
        let surplus = current.len().saturating_sub(self.target);
        to_stop.extend(current.into_iter().take(surplus).map(|(_, pid)| pid));
        for pid in to_stop {
            if let Some(worker) = self.workers.get_mut(&pid) {
                let _ = sys::kill(pid, libc::SIGTERM);
                worker.stopping = Some(Instant::now());
            }
        }
        Ok(())
    }

    /// Forks one worker.
    fn spawn_worker(&mut self) -> io::Result<()> {
        let Some(slot_index) = self.scoreboard.free_slot() else {
            log::error!("no free scoreboard slot: cannot start more workers");
            self.target = self.workers.len();
            return Ok(());
        };
        self.age += 1;
        let slot = self.scoreboard.slot(slot_index);
        // Claimed before the fork, so the worker's first beat and counts
        // are not wiped by the claim; the pid follows.
        slot.claim(u32::MAX, self.age);
        let listeners = self
            .listeners
            .iter()
            .map(Listener::try_clone)
            .collect::<io::Result<Vec<_>>>()?;
        // The master is single-threaded (it never starts a thread, a hub
        // or a green thread); `fork` checks.
        match sys::fork()? {
            Forked::Parent(pid) => {
                slot.set_pid(pid as u32);
                self.workers.insert(
                    pid,
                    Worker {
                        slot: slot_index,
                        age: self.age,
                        generation: self.generation,
                        stopping: None,
                        aborted: None,
                    },
                );
                Ok(())
            }
            Forked::Child => {
                slot.set_pid(sys::getpid() as u32);
                // Nothing of the worker may unwind back into the master's
                // code in this process (it would clean up the master's
                // pidfile and sockets): a panic ends the worker here.
                let worker = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.become_worker(slot_index, listeners)
                }));
                sys::exit_now(worker.unwrap_or_else(|_| {
                    log::error!("Worker (pid:{}) panicked", sys::getpid());
                    1
                }))
            }
        }
    }

    /// In a new worker process: sets it up and runs it; its exit code.
    fn become_worker(&mut self, slot: usize, listeners: Vec<Listener>) -> i32 {
        self.signals.unregister();
        // The worker keeps only what it serves on.
        self.metrics = None;
        self.scrapes.clear();
        self.control = None;
        if self.config.user.is_some() || self.config.group.is_some() {
            let dropped = identities(&self.config)
                .and_then(|(user, group)| sys::drop_privileges(user.as_ref(), group));
            if let Err(error) = dropped {
                log::error!("Worker cannot switch user/group: {error}");
                return BOOT_ERROR;
            }
        }
        let app = match &self.preloaded {
            Some(app) => Arc::clone(app),
            None => match (self.factory)() {
                Ok(app) => app,
                Err(error) => {
                    log::error!("Exception in worker process: {error}");
                    return BOOT_ERROR;
                }
            },
        };
        let jitter = match self.config.max_requests_jitter {
            0 => 0,
            jitter => u64::from(sys::getpid().unsigned_abs()) % (jitter + 1),
        };
        let max_requests = match self.config.max_requests {
            0 => 0,
            max => max + jitter,
        };
        let http = self.config.http_config();
        let tls = self.tls.as_ref().map(|tls| {
            let deadline = crate::tls::handshake_deadline(self.config.timeout, http.header_timeout);
            crate::tls::Acceptor::new(Arc::clone(tls), deadline)
        });
        worker::run(WorkerSetup {
            class: self.config.worker_class,
            listeners,
            slot: self.scoreboard.slot(slot),
            app,
            http,
            tls,
            threads: self.config.threads,
            worker_connections: self.config.worker_connections,
            max_requests,
            graceful_timeout: self.config.graceful_timeout,
            reuse_port: self.config.reuse_port,
            backlog: self.config.backlog,
            master_pid: self.pid,
        })
    }

    /// Waits for a signal, a metrics scrape or a control client, at most
    /// [`LOOP_WAIT`], and serves the scrapes and clients that are ready.
    fn wait(&mut self) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let mut fds: Vec<(std::os::fd::RawFd, bool)> = self
            .signals
            .fds()
            .into_iter()
            .map(|fd| (fd, false))
            .collect();
        if let Some(metrics) = &self.metrics {
            fds.push((metrics.as_raw_fd(), false));
        }
        let listening = fds.len();
        fds.extend(self.scrapes.iter().map(|scrape| (scrape.fd(), false)));
        let controlling = fds.len();
        if let Some(control) = &self.control {
            fds.extend(control.fds());
        }
        let ready = sys::poll_ready(&fds, LOOP_WAIT)?;
        if self.metrics.is_some() && ready[listening - 1] {
            self.accept_scrapes();
        }
        self.serve_scrapes(&ready[listening..controlling]);
        if let Some(mut control) = self.control.take() {
            control.serve(&ready[controlling..], &mut |command| self.command(command));
            self.control = Some(control);
        }
        Ok(())
    }

    /// Takes the scrapes waiting on the metrics listener.
    fn accept_scrapes(&mut self) {
        let Some(listener) = &self.metrics else {
            return;
        };
        while let Ok((stream, _)) = listener.accept() {
            match metrics::Scrape::new(stream) {
                Ok(scrape) => self.scrapes.push(scrape),
                Err(error) => log::debug!("metrics scrape failed: {error}"),
            }
        }
    }

    /// Reads the scrapes that are readable (`ready`, by position), answers
    /// those whose request has arrived, and drops those that waited too long.
    fn serve_scrapes(&mut self, ready: &[bool]) {
        let scrapes = std::mem::take(&mut self.scrapes);
        for (index, mut scrape) in scrapes.into_iter().enumerate() {
            // A scrape accepted just now is read at once: its request has
            // usually arrived with it.
            let readable = ready.get(index).copied().unwrap_or(true);
            let read = if readable { scrape.read() } else { Ok(false) };
            match read {
                Ok(true) => {
                    let text = metrics::render(
                        &self.scoreboard,
                        self.config.worker_class,
                        self.workers.len(),
                        self.target,
                        &self.restarts,
                    );
                    if let Err(error) = scrape.answer(&text) {
                        log::debug!("metrics scrape failed: {error}");
                    }
                }
                Ok(false) if !scrape.expired() => self.scrapes.push(scrape),
                Ok(false) => log::debug!("metrics scrape sent no request in time"),
                Err(error) => log::debug!("metrics scrape failed: {error}"),
            }
        }
    }

    fn signal_workers(&self, signal: i32) {
        for &pid in self.workers.keys() {
            let _ = sys::kill(pid, signal);
        }
    }

    /// USR2: starts a new master from the binary on disk, handing it the
    /// listeners; this one goes on until told to stop (WINCH, then TERM).
    fn upgrade(&mut self) {
        if self.successor.is_some() {
            log::warn!("an upgrade is already under way");
            return;
        }
        let started = (|| -> io::Result<Pid> {
            let fds = listeners::hand_down(&self.listeners)?;
            if let Some(path) = &self.pidfile {
                std::fs::rename(path, oldbin(path))?;
            }
            let exe = self.executable.clone().ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, "the binary's path is unknown")
            })?;
            let mut command = std::process::Command::new(exe);
            command
                .args(std::env::args_os().skip(1))
                .env(listeners::INHERITED_FDS, fds);
            if let Some(metrics) = &self.metrics {
                use std::os::fd::AsRawFd;
                sys::set_cloexec(metrics.as_raw_fd(), false)?;
                command.env(
                    listeners::INHERITED_METRICS_FD,
                    metrics.as_raw_fd().to_string(),
                );
            }
            let child = command.spawn();
            if let Some(metrics) = &self.metrics {
                use std::os::fd::AsRawFd;
                let _ = sys::set_cloexec(metrics.as_raw_fd(), true);
            }
            let child = child?;
            Ok(child.id() as Pid)
        })();
        listeners::keep_to_self(&self.listeners);
        match started {
            Ok(pid) => {
                log::info!("Started a new master (pid: {pid})");
                self.successor = Some(pid);
            }
            Err(error) => {
                log::error!("Upgrade failed: {error}");
                if let Some(path) = &self.pidfile {
                    let _ = std::fs::rename(oldbin(path), path);
                }
            }
        }
    }

    /// Stops every worker: TERM and `--graceful-timeout` to finish, or
    /// QUIT and a moment; SIGKILL for those still there.
    fn stop(&mut self, graceful: bool) {
        let (signal, limit) = match graceful {
            true => (libc::SIGTERM, self.config.graceful_timeout),
            false => (libc::SIGQUIT, Duration::from_secs(1)),
        };
        for (&pid, worker) in &mut self.workers {
            let _ = sys::kill(pid, signal);
            worker.stopping.get_or_insert_with(Instant::now);
        }
        let deadline = Instant::now() + limit;
        while !self.workers.is_empty() && Instant::now() < deadline {
            let _ = self.reap();
            if !self.workers.is_empty() {
                let _ = sys::wait_readable(&self.signals.fds(), Duration::from_millis(50));
                let _ = self.signals.pending();
            }
        }
        for &pid in self.workers.keys() {
            let _ = sys::kill(pid, libc::SIGKILL);
        }
        while !self.workers.is_empty() {
            match self.reap() {
                Ok(_) if self.workers.is_empty() => break,
                Ok(_) => std::thread::sleep(Duration::from_millis(10)),
                Err(_) => break,
            }
        }
    }

    fn clean_up(&mut self) {
        // A new master that took the listeners over keeps the socket files.
        if self.successor.is_none() {
            for listener in &self.listeners {
                listener.unlink();
            }
        }
        if let Some(path) = &self.pidfile {
            let own = std::fs::read_to_string(path)
                .ok()
                .and_then(|text| text.trim().parse::<Pid>().ok())
                == Some(self.pid);
            if own {
                let _ = std::fs::remove_file(path);
            }
            let _ = std::fs::remove_file(oldbin(path));
        }
        log::info!("Shutting down: Master");
    }
}

/// How the master stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// TERM: the workers finish their requests.
    Graceful,
    /// INT, QUIT, or a worker that cannot boot.
    Quick,
}

/// The pidfile an upgrading master moves its own to.
fn oldbin(path: &std::path::Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".oldbin");
    PathBuf::from(name)
}

/// The user and group `--user` and `--group` name.
fn identities(config: &Config) -> io::Result<(Option<sys::User>, Option<libc::gid_t>)> {
    let user = config.user.as_deref().map(sys::user).transpose()?;
    let gid = config.group.as_deref().map(sys::group_id).transpose()?;
    Ok((user, gid))
}

/// A worker's end, in gunicorn's words.
fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (_, Some(signal)) => format!("was sent {}!", signal_name(signal)),
        _ => format!("ended ({status})"),
    }
}

fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGKILL => "SIGKILL".to_owned(),
        libc::SIGABRT => "SIGABRT".to_owned(),
        libc::SIGSEGV => "SIGSEGV".to_owned(),
        libc::SIGTERM => "SIGTERM".to_owned(),
        libc::SIGINT => "SIGINT".to_owned(),
        libc::SIGQUIT => "SIGQUIT".to_owned(),
        other => format!("signal {other}"),
    }
}
