//! Child processes: every server and every wrk in a process group of its own,
//! pinned with `taskset`, killed as a group; the `/proc` readings of a
//! server's whole process tree (master and workers: the processes of its
//! group) — CPU time and RSS.

use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering::SeqCst};
use std::time::{Duration, Instant};

/// Process groups alive, killed by `kill_all` (at exit and on a signal).
static GROUPS: [AtomicI32; 16] = [const { AtomicI32::new(0) }; 16];

fn register(pgid: i32) {
    for slot in &GROUPS {
        if slot.compare_exchange(0, pgid, SeqCst, SeqCst).is_ok() {
            return;
        }
    }
}

fn unregister(pgid: i32) {
    for slot in &GROUPS {
        let _ = slot.compare_exchange(pgid, 0, SeqCst, SeqCst);
    }
}

/// SIGKILL to every group still registered.
pub fn kill_all() {
    for slot in &GROUPS {
        let pgid = slot.swap(0, SeqCst);
        if pgid > 0 {
            // SAFETY: plain system call on a process group we started.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}

extern "C" fn on_signal(signal: libc::c_int) {
    kill_all();
    // SAFETY: async-signal-safe exit.
    unsafe { libc::_exit(128 + signal) };
}

/// Kills the children's groups on SIGINT/SIGTERM/SIGHUP, and makes this
/// process the subreaper of the servers' orphaned workers.
pub fn install_cleanup() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only makes async-signal-safe calls.
        unsafe { libc::signal(signal, on_signal as *const () as libc::sighandler_t) };
    }
    // SAFETY: plain prctl.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
}

/// Reaps orphaned processes (workers of a killed master) that were
/// reparented to this process.
fn reap_orphans() {
    loop {
        let mut status = 0;
        // SAFETY: plain waitpid.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            break;
        }
    }
}

/// A child process in a group of its own, killed (the whole group) on drop.
pub struct Group {
    pub child: Child,
    pub pid: i32,
}

impl Group {
    /// Starts `program args` pinned to `cpu` (through `taskset`), stdout and
    /// stderr to `log`.
    pub fn spawn(
        cpu: Option<usize>,
        program: &Path,
        args: &[String],
        envs: &[(String, String)],
        log: &Path,
    ) -> io::Result<Group> {
        let mut command = match cpu {
            Some(cpu) => {
                let mut command = Command::new("taskset");
                command.arg("-c").arg(cpu.to_string()).arg(program);
                command
            }
            None => Command::new(program),
        };
        let out = File::create(log)?;
        let err = out.try_clone()?;
        command
            .args(args)
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = command.spawn()?;
        let pid = child.id() as i32;
        register(pid);
        Ok(Group { child, pid })
    }

    /// Waits at most `limit` for the process to exit; kills the group then.
    /// `Some(success)` if it exited by itself.
    pub fn wait_bounded(&mut self, limit: Duration) -> Option<bool> {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status.success()),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    self.kill();
                    return None;
                }
            }
        }
    }

    /// Whether the group's leader still runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn kill(&mut self) {
        // SAFETY: plain system call on the group this process started.
        unsafe { libc::kill(-self.pid, libc::SIGKILL) };
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
        // The workers die with the group; wait (bounded) until none is left.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !tree(self.pid).is_empty() && Instant::now() < deadline {
            reap_orphans();
            std::thread::sleep(Duration::from_millis(20));
        }
        reap_orphans();
        unregister(self.pid);
    }
}

/// The processes of group `pgid`.
pub fn tree(pgid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| stat_fields(pid).is_some_and(|f| f.get(2) == Some(&pgid.to_string())))
        .collect()
}

/// The fields of `/proc/PID/stat` after the command name (state first).
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = text.rsplit_once(')')?.1;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// Clock ticks per second.
pub fn ticks_per_second() -> f64 {
    // SAFETY: plain sysconf.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).max(1) as f64
}

/// CPU seconds (user + system) used so far by the processes of group
/// `pgid` (zombies excluded).
pub fn tree_cpu(pgid: i32) -> f64 {
    let ticks: u64 = tree(pgid)
        .into_iter()
        .filter_map(stat_fields)
        .filter(|f| f.first().map(String::as_str) != Some("Z"))
        .map(|f| {
            let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            field(11) + field(12)
        })
        .sum();
    ticks as f64 / ticks_per_second()
}

/// The summed `VmRSS` of group `pgid`, KiB.
pub fn tree_rss(pgid: i32) -> u64 {
    tree(pgid)
        .into_iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        })
        .sum()
}

/// A free loopback port (bound, then released for the server to take).
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits (at most `limit`) until `addr` answers an HTTP request with any
/// HTTP response; false if it never did.
pub fn wait_http(addr: SocketAddr, limit: Duration) -> bool {
    use std::io::{Read, Write};
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let request = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
            let mut answer = [0u8; 16];
            if stream.write_all(request).is_ok()
                && stream.read(&mut answer).is_ok_and(|n| n >= 8)
                && answer.starts_with(b"HTTP/1.")
            {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (children inherit it);
/// returns the soft limit now in force.
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
    // SAFETY: a valid rlimit whose soft value does not exceed its hard one.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    // SAFETY: as above.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    limit.rlim_cur
}

/// Pins this process (and the threads it starts later) to `cpu`.
pub fn pin_self(cpu: usize) -> bool {
    // SAFETY: a zeroed cpu_set_t is a valid, empty set; `cpu` is small.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}
