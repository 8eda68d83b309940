//! Running the real `moss` binary: start it on a free port, watch its log, talk HTTP to it, signal it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long any wait in these tests may last before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A running `moss` master.
pub struct Moss {
    child: Child,
    /// `127.0.0.1:PORT` it listens on (when started with a TCP bind).
    pub addr: String,
    /// Its metrics address, when started with one.
    pub metrics: Option<String>,
    log: Arc<(Mutex<Vec<String>>, Condvar)>,
}

/// A free TCP port on loopback (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Moss {
    /// Starts `moss ARGS` bound to a free port (unless `args` has a `-b`),
    /// with metrics on another, and waits until it answers.
    pub fn start(args: &[&str]) -> Moss {
        Moss::start_binary(Path::new(env!("CARGO_BIN_EXE_moss")), args)
    }

    /// [`Moss::start`] with the binary at `binary`.
    pub fn start_binary(binary: &Path, args: &[&str]) -> Moss {
        let addr = format!("127.0.0.1:{}", free_port());
        let metrics = format!("127.0.0.1:{}", free_port());
        let mut full: Vec<String> = Vec::new();
        let binds = args.iter().any(|a| *a == "-b" || a.starts_with("--bind"));
        if !binds {
            full.extend(["-b".to_owned(), addr.clone()]);
        }
        full.extend(["--metrics-bind".to_owned(), metrics.clone()]);
        full.extend(args.iter().map(|a| (*a).to_owned()));
        let moss = Moss::spawn(Command::new(binary).args(&full), addr, Some(metrics));
        if !binds {
            moss.wait_until_serving();
        }
        moss
    }

    /// Runs `command` (a `moss` invocation, maybe through a shell) and
    /// collects its stderr.
    pub fn spawn(command: &mut Command, addr: String, metrics: Option<String>) -> Moss {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the moss binary starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let sink = Arc::clone(&log);
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if std::env::var_os("MOSS_TEST_VERBOSE").is_some() {
                    eprintln!("moss: {line}");
                }
                sink.0.lock().unwrap().push(line);
                sink.1.notify_all();
            }
        });
        Moss {
            child,
            addr,
            metrics,
            log,
        }
    }

    /// The master's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `GET /` on [`Moss::addr`] gets an answer.
    pub fn wait_until_serving(&self) {
        let started = Instant::now();
        while started.elapsed() < PATIENCE {
            if get(&self.addr, "/").is_ok() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!("moss never answered; its log:\n{}", self.log_text());
    }

    /// Waits until a log line contains `needle`; the line.
    pub fn wait_log(&self, needle: &str) -> String {
        self.wait_log_count(needle, 1)
    }

    /// Waits until `count` log lines contain `needle`; the last of them.
    pub fn wait_log_count(&self, needle: &str, count: usize) -> String {
        let (lines, changed) = &*self.log;
        let deadline = Instant::now() + PATIENCE;
        let mut lines = lines.lock().unwrap();
        loop {
            let found: Vec<&String> = lines.iter().filter(|l| l.contains(needle)).collect();
            if found.len() >= count {
                return found[count - 1].clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                drop(lines);
                panic!(
                    "no {count} log lines with {needle:?}; the log:\n{}",
                    self.log_text()
                );
            }
            lines = changed.wait_timeout(lines, left).unwrap().0;
        }
    }

    /// Every log line so far.
    pub fn log_text(&self) -> String {
        self.log.0.lock().unwrap().join("\n")
    }

    /// Sends `signal` (`TERM`, `HUP`, …) to the master.
    pub fn signal(&self, signal: &str) {
        send_signal(self.pid(), signal);
    }

    /// The metrics text.
    pub fn metrics(&self) -> String {
        let addr = self.metrics.as_ref().expect("started with metrics");
        get(addr, "/metrics").expect("metrics answer").1
    }

    /// The pids of the workers, from the metrics.
    pub fn worker_pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = metric_lines(&self.metrics(), "moss_worker_requests_total")
            .map(|(labels, _)| label(&labels, "pid").parse().unwrap())
            .collect();
        pids.sort_unstable();
        pids
    }

    /// Waits until the metrics show `count` workers, none of them in
    /// `not`; their pids.
    pub fn wait_workers(&self, count: usize, not: &[u32]) -> Vec<u32> {
        let started = Instant::now();
        loop {
            let pids = self.worker_pids();
            if pids.len() == count && pids.iter().all(|pid| !not.contains(pid)) {
                return pids;
            }
            if started.elapsed() > PATIENCE {
                panic!(
                    "workers stayed {pids:?} (wanted {count}, none of {not:?}); the log:\n{}",
                    self.log_text()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends TERM and waits for the master to exit.
    pub fn stop(mut self) -> ExitStatus {
        self.signal("TERM");
        self.wait_exit()
    }

    /// Waits (bounded) for the master to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if started.elapsed() > PATIENCE {
                let _ = self.child.kill();
                panic!("moss did not exit; its log:\n{}", self.log_text());
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Moss {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // Workers die with their master (PR_SET_PDEATHSIG).
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `kill -SIGNAL pid`.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// `(labels, value)` of each sample of metric `name`.
pub fn metric_lines<'a>(text: &'a str, name: &'a str) -> impl Iterator<Item = (String, f64)> + 'a {
    text.lines().filter_map(move |line| {
        let rest = line.strip_prefix(name)?;
        let (labels, value) = match rest.strip_prefix('{') {
            Some(rest) => {
                let (labels, value) = rest.split_once('}')?;
                (labels.to_owned(), value)
            }
            None if rest.starts_with(' ') => (String::new(), rest),
            None => return None,
        };
        Some((labels, value.trim().parse().ok()?))
    })
}

/// The value of `key` in `key="value",…`.
pub fn label(labels: &str, key: &str) -> String {
    labels
        .split(',')
        .find_map(|pair| pair.strip_prefix(&format!("{key}=\"")))
        .and_then(|value| value.strip_suffix('"'))
        .unwrap_or_default()
        .to_owned()
}

/// `GET path` with `Connection: close`: (status, body).
pub fn get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    request(addr, "GET", path, b"")
}

/// One request on a new TCP connection: (status, body).
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(PATIENCE))?;
    exchange(&mut stream, method, path, body)
}

/// One request over a Unix socket.
pub fn request_unix(
    path: &Path,
    method: &str,
    target: &str,
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut stream = UnixStream::connect(path)?;
    stream.set_read_timeout(Some(PATIENCE))?;
    exchange(&mut stream, method, target, body)
}

fn exchange(
    stream: &mut (impl Read + Write),
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out)?;
    parse(&out).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not a response: {:?}", String::from_utf8_lossy(&out)),
        )
    })
}

/// Parses one response (Content-Length or chunked or until close).
fn parse(out: &[u8]) -> Option<(u16, String)> {
    let end = out.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&out[..end]).ok()?;
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    let rest = &out[end + 4..];
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    let body = match chunked {
        false => rest.to_vec(),
        true => {
            let mut body = Vec::new();
            let mut rest = rest;
            loop {
                let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
                let size =
                    usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).ok()?.trim(), 16)
                        .ok()?;
                rest = &rest[line_end + 2..];
                if size == 0 {
                    break;
                }
                body.extend_from_slice(rest.get(..size)?);
                rest = rest.get(size + 2..)?;
            }
            body
        }
    };
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}
