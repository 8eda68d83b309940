//! One measurement per peer: start its server as a child process, take a
//! baseline, hold N idle connections, close them, and read `/proc` at each
//! step.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::alloc::Stats;
use crate::client;
use crate::procfs::{self, Kernel, Region, SlotPages, Slots, Status};

/// A server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Moss,
    Threads,
    Tokio,
    TokioReadable,
    MossCounted,
    ThreadsCounted,
}

impl Peer {
    pub const ALL: [Peer; 6] = [
        Peer::Moss,
        Peer::Threads,
        Peer::Tokio,
        Peer::TokioReadable,
        Peer::MossCounted,
        Peer::ThreadsCounted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Peer::Moss => "moss",
            Peer::Threads => "threads",
            Peer::Tokio => "tokio",
            Peer::TokioReadable => "tokio-readable",
            Peer::MossCounted => "moss-counted",
            Peer::ThreadsCounted => "threads-counted",
        }
    }

    pub fn parse(name: &str) -> Option<Peer> {
        Peer::ALL.into_iter().find(|peer| peer.name() == name)
    }

    /// Whether the server runs in this binary, its allocations counted,
    /// with a control listener.
    pub fn counted(self) -> bool {
        !matches!(self, Peer::Moss | Peer::Threads)
    }

    /// Whether its connections run on moss green threads.
    pub fn green(self) -> bool {
        matches!(self, Peer::Moss | Peer::MossCounted)
    }

    /// The program and arguments that start it on `address`.
    fn command(self, address: &str) -> io::Result<(PathBuf, Vec<String>)> {
        let me = std::env::current_exe()?;
        let keep_alive = crate::KEEP_ALIVE.as_secs().to_string();
        let http_echo = |threads: bool| {
            let path = me.with_file_name("http_echo");
            if !path.exists() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "{} not found: build it first (cargo build --release --examples)",
                        path.display()
                    ),
                ));
            }
            let mut args = vec!["--keep-alive".to_owned(), keep_alive.clone()];
            if threads {
                args.insert(0, "--threads".to_owned());
            }
            args.push(address.to_owned());
            Ok((path, args))
        };
        match self {
            Peer::Moss => http_echo(false),
            Peer::Threads => http_echo(true),
            _ => Ok((
                me.clone(),
                vec!["--serve".into(), self.name().into(), address.into()],
            )),
        }
    }
}

/// What the command line asked for.
#[derive(Debug, Clone)]
pub struct Settings {
    pub conns: usize,
    /// Connections opened after the idle reading that send nothing.
    pub silent: usize,
    pub peers: Vec<Peer>,
    /// Pause before each reading, for the server to finish its work.
    pub settle: Duration,
    pub server_cpu: usize,
    pub verbose: bool,
}

/// Everything read about one peer.
#[derive(Debug)]
pub struct Measured {
    pub before: Status,
    pub idle: Status,
    pub closed: Status,
    /// After `malloc_trim(0)` in the server (counted peers).
    pub trimmed: Option<Status>,
    pub regions_before: BTreeMap<Region, u64>,
    pub regions_idle: BTreeMap<Region, u64>,
    pub regions_closed: BTreeMap<Region, u64>,
    pub slots_idle: Option<SlotPages>,
    /// With `silent` more connections that never sent a request.
    pub slots_silent: Option<SlotPages>,
    pub slots_closed: Option<SlotPages>,
    pub thread_stacks: BTreeMap<u64, u64>,
    pub kernel_before: Kernel,
    pub kernel_idle: Kernel,
    pub fds_before: usize,
    pub fds_idle: usize,
    pub stats_before: Option<Stats>,
    pub stats_idle: Option<Stats>,
    pub stats_closed: Option<Stats>,
    /// Lines the server wrote to stderr after it started.
    pub server_messages: usize,
    /// Time to open the N connections.
    pub open_time: Duration,
    pub pinned: bool,
}

/// A running server, killed when dropped.
struct Server {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    /// The control listener of a counted peer (see `control.rs`).
    control: Option<SocketAddr>,
    messages: Arc<AtomicUsize>,
    pinned: bool,
}

impl Server {
    fn start(peer: Peer, settings: &Settings) -> io::Result<Server> {
        let (program, args) = peer.command("127.0.0.1:0")?;
        let taskset = which("taskset");
        let mut command = match &taskset {
            Some(taskset) => {
                let mut command = Command::new(taskset);
                command
                    .arg("-c")
                    .arg(settings.server_cpu.to_string())
                    .arg(&program);
                command
            }
            None => Command::new(&program),
        };
        let mut child = command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let pid = child.id();
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel();
        let messages = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&messages);
        let (name, verbose) = (peer.name(), settings.verbose);
        // Drained until the server exits, so that it never blocks on a
        // full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let announced = ["control on http://", "listening on http://"]
                    .iter()
                    .find_map(|what| {
                        let at = line.find(what)?;
                        let addr: SocketAddr = line[at + what.len()..].trim().parse().ok()?;
                        Some((what.starts_with("control"), addr))
                    });
                match announced {
                    Some(announced) => {
                        let _ = tx.send(announced);
                    }
                    None => {
                        counted.fetch_add(1, Relaxed);
                        if verbose {
                            eprintln!("  [{name}] {line}");
                        }
                    }
                }
            }
        });
        let mut server = Server {
            child,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            control: None,
            messages,
            pinned: taskset.is_some(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.addr.port() == 0 || (peer.counted() && server.control.is_none()) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((true, addr)) => server.control = Some(addr),
                Ok((false, addr)) => server.addr = addr,
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("{} did not report its addresses", program.display()),
                    ))
                }
            }
        }
        Ok(server)
    }

    /// The counting allocator's report (counted peers).
    fn stats(&self) -> io::Result<Option<Stats>> {
        let Some(control) = self.control else {
            return Ok(None);
        };
        let body = client::get(control, "/stats")?;
        Ok(Some(Stats::parse(&String::from_utf8_lossy(&body))))
    }

    /// Runs `malloc_trim(0)` in the server (counted peers); `false` for
    /// the others.
    fn trim(&self) -> io::Result<bool> {
        let Some(control) = self.control else {
            return Ok(false);
        };
        client::get(control, "/trim")?;
        Ok(true)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first `name` on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|path| Path::new(path).is_file())
    })
}

/// Measures every peer of `settings` in turn; a peer that fails is
/// reported and the run goes on.
pub fn run_all(settings: &Settings) -> io::Result<Vec<(Peer, Result<Measured, String>)>> {
    let limit = raise_nofile_limit();
    let needed = settings.conns + settings.silent + 100;
    if (limit as usize) < needed {
        return Err(io::Error::other(format!(
            "--conns {} needs {needed} descriptors per process; RLIMIT_NOFILE allows {limit}",
            settings.conns
        )));
    }
    let mut results = Vec::new();
    for &peer in &settings.peers {
        eprintln!("idle_conns: {} ...", peer.name());
        let result = measure(peer, settings).map_err(|e| e.to_string());
        if let Err(error) = &result {
            eprintln!("idle_conns: {} failed: {error}", peer.name());
        }
        results.push((peer, result));
    }
    Ok(results)
}

fn measure(peer: Peer, settings: &Settings) -> io::Result<Measured> {
    let server = Server::start(peer, settings)?;
    let pid = server.pid;
    let slots = Slots::of_moss();
    client::get(server.addr, "/")?;
    // Before the baseline, so that what a report costs belongs to it.
    let stats_before = server.stats()?;
    std::thread::sleep(settings.settle);

    let before = procfs::status(pid)?;
    let regions_before = procfs::rss_by_region(&procfs::mappings(pid, slots)?);
    let kernel_before = procfs::kernel();
    let fds_before = procfs::fd_count(pid);

    let started = Instant::now();
    let conns = client::open_idle(
        server.addr,
        settings.conns,
        started + Duration::from_secs(120),
    )?;
    let open_time = started.elapsed();
    std::thread::sleep(settings.settle);

    let idle = procfs::status(pid)?;
    let mappings = procfs::mappings(pid, slots)?;
    let regions_idle = procfs::rss_by_region(&mappings);
    let slots_idle = match peer.green() {
        true => Some(procfs::slot_pages(pid, &mappings, slots.green)?),
        false => None,
    };
    let thread_stacks = procfs::thread_stack_rss(&mappings);
    // The kernel first: listing /proc/PID/fd makes the kernel build an
    // inode per descriptor, which would count as the connections'.
    let kernel_idle = procfs::kernel();
    let fds_idle = procfs::fd_count(pid);
    let stats_idle = server.stats()?;

    // Connections that send nothing: a green thread parked in its first
    // read has run no request, so its stack holds only the park point.
    let silent = client::open_silent(server.addr, settings.silent)?;
    std::thread::sleep(settings.settle);
    let slots_silent = match peer.green() {
        true => Some(procfs::slot_pages(
            pid,
            &procfs::mappings(pid, slots)?,
            slots.green,
        )?),
        false => None,
    };

    drop(silent);
    drop(conns);
    let deadline = Instant::now() + Duration::from_secs(20);
    while procfs::fd_count(pid) > fds_before + 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(settings.settle);
    let closed = procfs::status(pid)?;
    let mappings = procfs::mappings(pid, slots)?;
    let regions_closed = procfs::rss_by_region(&mappings);
    let slots_closed = match peer.green() {
        true => Some(procfs::slot_pages(pid, &mappings, slots.green)?),
        false => None,
    };
    let stats_closed = server.stats()?;
    let trimmed = match server.trim()? {
        true => {
            std::thread::sleep(settings.settle);
            Some(procfs::status(pid)?)
        }
        false => None,
    };
    Ok(Measured {
        before,
        idle,
        closed,
        trimmed,
        regions_before,
        regions_idle,
        regions_closed,
        slots_idle,
        slots_silent,
        slots_closed,
        thread_stacks,
        kernel_before,
        kernel_idle,
        fds_before,
        fds_idle,
        stats_before,
        stats_idle,
        stats_closed,
        server_messages: server.messages.load(Relaxed),
        open_time,
        pinned: server.pinned,
    })
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (children inherit
/// it); returns the soft limit now in force.
fn raise_nofile_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, exclusively borrowed rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: `limit` is a valid rlimit whose soft value does not exceed
    // its hard one.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    let mut now = limit;
    // SAFETY: as above.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut now) };
    now.rlim_cur
}
