//! One bounded wrk run against a server, with the server tree's CPU time
//! and peak RSS measured meanwhile.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crate::procs::{self, Group};

/// Reports wrk's figures on one parseable line; with `DELAY_MS` set, each
/// connection waits that long between two requests (a moderate load).
const SCRIPT: &str = r#"
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
if delay_ms > 0 then
  delay = function() return delay_ms end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "LOADRESULT %d %d %d %d %d %d %d %d %d %d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
"#;

/// What one wrk run measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub requests: u64,
    pub seconds: f64,
    /// Answers with a 2xx/3xx status per second.
    pub rps: f64,
    /// Socket errors (connect, read, write, timeout) and non-2xx/3xx answers.
    pub errors: u64,
    pub timeouts: u64,
    pub non_2xx: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Server CPU (all its processes) per request, microseconds.
    pub cpu_us_per_req: f64,
    /// Server CPU over the run, as a share of one core.
    pub cpu_share: f64,
    /// wrk's own CPU over the run, as a share of one core (near 1: the
    /// client, not the server, is the bottleneck).
    pub client_cpu_share: f64,
    /// CPU used meanwhile by everything else on the machine (the driver,
    /// the upstream, other work), in cores: from `/proc/stat`, less the
    /// server's and wrk's.
    pub other_cpu: f64,
    /// Peak summed RSS of the server's processes during the run, KiB.
    pub peak_rss_kib: u64,
}

pub struct Wrk {
    pub program: PathBuf,
    pub script: PathBuf,
    pub cpu: usize,
    pub logs: PathBuf,
}

impl Wrk {
    pub fn new(program: PathBuf, dir: &Path, cpu: usize) -> std::io::Result<Wrk> {
        let script = dir.join("report.lua");
        std::fs::write(&script, SCRIPT)?;
        Ok(Wrk {
            program,
            script,
            cpu,
            logs: dir.to_owned(),
        })
    }

    /// Runs wrk (`-t1`, pinned) for `seconds` with `conns` connections on
    /// `path`, while reading the CPU and RSS of the server group `pgid`.
    pub fn run(
        &self,
        addr: SocketAddr,
        path: &str,
        conns: usize,
        seconds: u64,
        delay_ms: u64,
        pgid: i32,
    ) -> Result<Measured, String> {
        let url = format!("http://{addr}{path}");
        self.run_url(&url, &[], conns, seconds, delay_ms, pgid)
    }

    /// [`Wrk::run`] on a whole URL (`https://` too: wrk speaks TLS through
    /// OpenSSL), with extra request headers (`-H`).
    pub fn run_url(
        &self,
        url: &str,
        headers: &[&str],
        conns: usize,
        seconds: u64,
        delay_ms: u64,
        pgid: i32,
    ) -> Result<Measured, String> {
        let mut args = vec![
            "-t1".to_owned(),
            format!("-c{conns}"),
            format!("-d{seconds}s"),
            "--timeout".to_owned(),
            "5s".to_owned(),
            "-s".to_owned(),
            self.script.display().to_string(),
        ];
        for header in headers {
            args.extend(["-H".to_owned(), header.to_string()]);
        }
        args.push(url.to_owned());
        let envs = [("DELAY_MS".to_owned(), delay_ms.to_string())];
        let out = self.logs.join("wrk.out");
        // RSS sampler: the peak over the run.
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(procs::tree_rss(pgid)));
        let sampler = {
            let (stop, peak) = (Arc::clone(&stop), Arc::clone(&peak));
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    peak.fetch_max(procs::tree_rss(pgid), Relaxed);
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        };
        let cpu_before = procs::tree_cpu(pgid);
        let client_before = children_cpu();
        let machine_before = machine_busy();
        let mut group = Group::spawn(Some(self.cpu), &self.program, &args, &envs, &out)
            .map_err(|e| format!("wrk did not start: {e}"))?;
        let finished = group.wait_bounded(Duration::from_secs(seconds + 20));
        let cpu_after = procs::tree_cpu(pgid);
        stop.store(true, Relaxed);
        let _ = sampler.join();
        drop(group);
        let client_cpu = children_cpu() - client_before;
        let machine = machine_busy() - machine_before;
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        let Some(line) = text.lines().find_map(|l| l.strip_prefix("LOADRESULT ")) else {
            let tail: Vec<&str> = text.lines().rev().take(3).collect();
            return Err(format!(
                "wrk {} gave no result ({}): {}",
                args.join(" "),
                match finished {
                    None => "killed after its deadline",
                    Some(true) => "exited",
                    Some(false) => "failed",
                },
                tail.join(" | ")
            ));
        };
        let f: Vec<u64> = line
            .split_whitespace()
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        let get = |i: usize| f.get(i).copied().unwrap_or(0);
        let seconds = get(1) as f64 / 1e6;
        let requests = get(0);
        let cpu = (cpu_after - cpu_before).max(0.0);
        Ok(Measured {
            requests,
            seconds,
            rps: if seconds > 0.0 {
                requests.saturating_sub(get(5)) as f64 / seconds
            } else {
                0.0
            },
            errors: get(2) + get(3) + get(4) + get(6) + get(5),
            timeouts: get(6),
            non_2xx: get(5),
            p50_ms: get(7) as f64 / 1e3,
            p99_ms: get(8) as f64 / 1e3,
            max_ms: get(9) as f64 / 1e3,
            cpu_us_per_req: if requests > 0 {
                cpu * 1e6 / requests as f64
            } else {
                0.0
            },
            cpu_share: if seconds > 0.0 { cpu / seconds } else { 0.0 },
            client_cpu_share: if seconds > 0.0 {
                client_cpu / seconds
            } else {
                0.0
            },
            other_cpu: if seconds > 0.0 {
                ((machine - cpu - client_cpu) / seconds).max(0.0)
            } else {
                0.0
            },
            peak_rss_kib: peak.load(Relaxed),
        })
    }
}

/// CPU seconds used by this process's waited-for children so far.
fn children_cpu() -> f64 {
    // SAFETY: a zeroed rusage is valid; getrusage fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Busy CPU seconds of the whole machine so far (`/proc/stat`: all but idle
/// and iowait).
fn machine_busy() -> f64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let get = |i: usize| f.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal
    let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
    busy as f64 / procs::ticks_per_second()
}
