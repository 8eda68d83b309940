//! The servers under test: each a fresh child process pinned to one CPU
//! with `taskset`, its address read from its stderr, its memory and
//! descriptors read from `/proc`, killed when dropped.

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use crate::Settings;

/// A server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// `http_echo`: moss's engine, a green thread per connection, one hub.
    Moss,
    /// A minimal hyper 1 server on a tokio current-thread runtime
    /// (`hyper_peer.rs`), run by this binary.
    Hyper,
}

impl Peer {
    pub const ALL: [Peer; 2] = [Peer::Moss, Peer::Hyper];

    pub fn name(self) -> &'static str {
        match self {
            Peer::Moss => "moss",
            Peer::Hyper => "hyper",
        }
    }

    pub fn parse(name: &str) -> Option<Peer> {
        Peer::ALL.into_iter().find(|peer| peer.name() == name)
    }

    /// The program and arguments that start it on `address`.
    fn command(self, address: &str, settings: &Settings) -> io::Result<(PathBuf, Vec<String>)> {
        let me = std::env::current_exe()?;
        match self {
            Peer::Moss => {
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
                let mut args = settings.moss_args.clone();
                args.push(address.to_owned());
                Ok((path, args))
            }
            Peer::Hyper => Ok((me, vec!["--serve-hyper".into(), address.into()])),
        }
    }
}

/// A running server, killed when dropped.
pub struct Server {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    /// Lines the server wrote to stderr after announcing its address.
    pub messages: Arc<AtomicUsize>,
}

impl Server {
    pub fn start(peer: Peer, settings: &Settings) -> io::Result<Server> {
        let (program, args) = peer.command("127.0.0.1:0", settings)?;
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
            None => {
                eprintln!("slow_clients: taskset not found: the server is not pinned");
                Command::new(&program)
            }
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
                const ANNOUNCE: &str = "listening on http://";
                let announced = line
                    .find(ANNOUNCE)
                    .and_then(|at| line[at + ANNOUNCE.len()..].trim().parse().ok());
                match announced {
                    Some(addr) => {
                        let _ = tx.send(addr);
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
            messages,
        };
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(addr) => server.addr = addr,
            Err(_) => {
                let exited = server.child.try_wait().ok().flatten();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{} {} did not report its address{}",
                        program.display(),
                        args.join(" "),
                        exited.map_or(String::new(), |status| format!(" ({status})"))
                    ),
                ));
            }
        }
        Ok(server)
    }

    /// `VmRSS` in KiB.
    pub fn rss(&self) -> io::Result<u64> {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        text.lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .ok_or_else(|| io::Error::other("no VmRSS in /proc/PID/status"))
    }

    /// CPU time the server has used (user and system), in clock ticks.
    pub fn cpu_ticks(&self) -> io::Result<u64> {
        let text = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        // The fields after the command name, which ends with the last ')'.
        let rest = text.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        // utime and stime are fields 14 and 15 of stat, 12 and 13 here.
        match (field(11), field(12)) {
            (Some(user), Some(system)) => Ok(user + system),
            _ => Err(io::Error::other("unreadable /proc/PID/stat")),
        }
    }

    /// Open descriptors.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid)).map_or(0, |dir| dir.count())
    }

    /// Whether the process still runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
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

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (children inherit
/// it); returns the soft limit now in force.
pub fn raise_nofile_limit() -> u64 {
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

/// Pins this process (and the threads it starts later) to one CPU other
/// than `server_cpu`, of those it may run on; returns that CPU, or `None`
/// when there is no other.
pub fn pin_client(server_cpu: usize) -> Option<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid, empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is a valid cpu_set_t of `size` bytes.
    if unsafe { libc::sched_getaffinity(0, size, &mut set) } != 0 {
        return None;
    }
    let cpus = libc::CPU_SETSIZE as usize;
    // SAFETY: `cpu` is below CPU_SETSIZE and `set` is a valid set.
    let cpu = (0..cpus).find(|&cpu| cpu != server_cpu && unsafe { libc::CPU_ISSET(cpu, &set) })?;
    // SAFETY: as above.
    let mut only: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut only) };
    // SAFETY: `only` is a valid cpu_set_t of `size` bytes.
    (unsafe { libc::sched_setaffinity(0, size, &only) } == 0).then_some(cpu)
}
