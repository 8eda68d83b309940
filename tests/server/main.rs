//! The `moss` binary end to end: every worker class, the master's signals,
//! heartbeats, reloads, upgrades, sockets and metrics. Each test starts
//! the real binary on loopback; waits are bounded, nothing asserts on time.

mod control;
mod nginx;
mod proxy_protocol;
mod support;
mod tls;

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use support::{get, metric_lines, request, request_unix, send_signal, Moss};

const CLASSES: [&str; 3] = ["sync", "gthread", "green"];

#[test]
fn every_worker_class_serves_hello_echo_and_sleep() {
    for class in CLASSES {
        let hello = Moss::start(&["-k", class, "hello"]);
        assert_eq!(
            get(&hello.addr, "/").unwrap(),
            (200, "Hello, World!".to_owned()),
            "{class}"
        );
        assert!(hello.stop().success(), "{class}");

        let echo = Moss::start(&["-k", class, "echo"]);
        let (status, body) = request(&echo.addr, "POST", "/", b"echo me").unwrap();
        assert_eq!((status, body.as_str()), (200, "echo me"), "{class}");
        assert!(echo.stop().success(), "{class}");

        let sleep = Moss::start(&["-k", class, "--threads", "2", "sleep"]);
        let (status, body) = get(&sleep.addr, "/sleep?ms=10").unwrap();
        assert_eq!(status, 200, "{class}: {body}");
        assert!(body.contains("10"), "{class}: {body}");
        assert_eq!(get(&sleep.addr, "/sleep?ms=x").unwrap().0, 400, "{class}");
        assert!(sleep.stop().success(), "{class}");
    }
}

/// One green worker, 500 requests that each sleep 1 s with plain
/// `std::thread::sleep`: the patch layer parks the green thread, so they
/// are handled at once, not one after another.
#[test]
fn one_green_worker_sleeps_through_500_requests_at_once() {
    let moss = Moss::start(&[
        "-k",
        "green",
        "-w",
        "1",
        "--worker-connections",
        "1000",
        "sleep",
    ]);
    let barrier = Arc::new(std::sync::Barrier::new(500));
    let ok = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..500)
        .map(|_| {
            let (addr, barrier, ok) = (moss.addr.clone(), Arc::clone(&barrier), Arc::clone(&ok));
            thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    barrier.wait();
                    if let Ok((200, _)) = get(&addr, "/sleep?ms=1000") {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .unwrap()
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    assert_eq!(ok.load(Ordering::Relaxed), 500);
    let metrics = moss.metrics();
    let peak = metric_lines(&metrics, "moss_worker_peak_requests_in_flight")
        .map(|(_, value)| value)
        .fold(0.0, f64::max);
    // Sleeping blocked the hub, the peak would be 1.
    assert!(
        peak > 100.0,
        "peak of requests in flight: {peak}\n{metrics}"
    );
    assert!(moss.stop().success());
}

#[test]
fn a_killed_worker_is_replaced() {
    let moss = Moss::start(&["-k", "green", "-w", "2", "hello"]);
    let before = moss.wait_workers(2, &[]);
    send_signal(before[0], "KILL");
    let after = moss.wait_workers(2, &[before[0]]);
    assert!(after.contains(&before[1]));
    moss.wait_log("was sent SIGKILL");
    for _ in 0..20 {
        assert_eq!(get(&moss.addr, "/").unwrap().0, 200);
    }
    assert!(moss.stop().success());
}

/// A green worker whose hub is stuck in a CPU loop misses its heartbeat:
/// the master kills it and starts another.
#[test]
fn a_worker_stuck_past_the_timeout_is_killed_and_replaced() {
    let moss = Moss::start(&["-k", "green", "-w", "1", "-t", "2", "sleep"]);
    let before = moss.wait_workers(1, &[]);
    let addr = moss.addr.clone();
    let stuck = thread::spawn(move || get(&addr, "/spin?ms=30000"));
    moss.wait_log(&format!("WORKER TIMEOUT (pid:{})", before[0]));
    moss.wait_workers(1, &before);
    assert!(
        stuck.join().unwrap().is_err(),
        "the stuck request dies with its worker"
    );
    assert_eq!(get(&moss.addr, "/sleep?ms=1").unwrap().0, 200);
    assert!(moss.stop().success());
}

#[test]
fn ttin_and_ttou_change_the_number_of_workers() {
    let moss = Moss::start(&["-k", "sync", "-w", "2", "hello"]);
    moss.wait_workers(2, &[]);
    moss.signal("TTIN");
    moss.wait_workers(3, &[]);
    // One at a time: two deliveries of a signal still pending are one
    // (POSIX merges them), so a second TTOU sent before the master ran
    // would be lost to the kernel, not to moss.
    moss.signal("TTOU");
    moss.wait_workers(2, &[]);
    moss.signal("TTOU");
    moss.wait_workers(1, &[]);
    assert_eq!(get(&moss.addr, "/").unwrap().0, 200);
    assert!(moss.stop().success());
}

/// Requests keep succeeding while HUP replaces every worker.
#[test]
fn hup_under_load_loses_no_request() {
    for class in CLASSES {
        hup_under_load(class);
    }
}

fn hup_under_load(class: &str) {
    let moss = Moss::start(&["-k", class, "-w", "2", "hello"]);
    let before = moss.wait_workers(2, &[]);
    let (done, failures, served) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (addr, done, failures, served) = (
                moss.addr.clone(),
                Arc::clone(&done),
                Arc::clone(&failures),
                Arc::clone(&served),
            );
            thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    match get(&addr, "/") {
                        Ok((200, _)) => served.fetch_add(1, Ordering::Relaxed),
                        other => {
                            eprintln!("request failed during HUP: {other:?}");
                            failures.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();
    moss.signal("HUP");
    moss.wait_workers(2, &before);
    // Load on the new workers too.
    let at_switch = served.load(Ordering::Relaxed);
    while served.load(Ordering::Relaxed) < at_switch + 200 {
        thread::sleep(Duration::from_millis(10));
    }
    done.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "{class}: {}",
        moss.log_text()
    );
    assert!(moss.stop().success());
}

/// USR2 starts a new master on the same listeners, from the binary now at
/// the path the old one was started from (here replaced, as an upgrade
/// replaces it); after WINCH and TERM to the old one, the new one serves
/// alone.
#[test]
fn usr2_upgrades_without_stopping_service() {
    let dir = std::env::temp_dir().join(format!("moss-upgrade-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let binary = dir.join("moss");
    std::fs::copy(env!("CARGO_BIN_EXE_moss"), &binary).unwrap();
    let mut old = Moss::start_binary(&binary, &["-k", "green", "-w", "1", "hello"]);
    // The upgrade: a new file at the same path (the old one is deleted).
    let staged = dir.join("moss.new");
    std::fs::copy(env!("CARGO_BIN_EXE_moss"), &staged).unwrap();
    std::fs::rename(&staged, &binary).unwrap();
    old.signal("USR2");
    let started = old.wait_log("Started a new master (pid: ");
    let new_pid: u32 = started
        .rsplit("(pid: ")
        .next()
        .and_then(|rest| rest.trim_end_matches(')').parse().ok())
        .expect("the new master's pid");
    // The new master says where it listens, with its own pid.
    old.wait_log(&format!("({new_pid})"));
    assert_eq!(get(&old.addr, "/").unwrap().0, 200);
    old.signal("WINCH");
    old.signal("TERM");
    assert!(old.wait_exit().success());
    for _ in 0..20 {
        assert_eq!(
            get(&old.addr, "/").unwrap().0,
            200,
            "served by the new master"
        );
    }
    send_signal(new_pid, "TERM");
    let started = std::time::Instant::now();
    while get(&old.addr, "/").is_ok() && started.elapsed() < support::PATIENCE {
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        get(&old.addr, "/").is_err(),
        "the new master stopped on TERM"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A worker told to stop answers a keep-alive client's request in flight
/// with `Connection: close`, rather than keeping it until the graceful
/// timeout kills the worker under it.
#[test]
fn a_stopping_worker_tells_keep_alive_clients_to_close() {
    use std::io::{Read, Write};
    for class in ["gthread", "green"] {
        let mut moss = Moss::start(&["-k", class, "-w", "1", "sleep"]);
        let mut client = std::net::TcpStream::connect(&moss.addr).unwrap();
        client.set_read_timeout(Some(support::PATIENCE)).unwrap();
        client
            .write_all(b"GET /sleep?ms=1000 HTTP/1.1\r\nHost: test\r\n\r\n")
            .unwrap();
        let started = std::time::Instant::now();
        while started.elapsed() < support::PATIENCE {
            let metrics = moss.metrics();
            if metric_lines(&metrics, "moss_worker_requests_in_flight").any(|(_, v)| v >= 1.0) {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        moss.signal("TERM");
        let mut response = Vec::new();
        client.read_to_end(&mut response).unwrap();
        let response = String::from_utf8_lossy(&response).to_ascii_lowercase();
        assert!(response.starts_with("http/1.1 200"), "{class}: {response}");
        assert!(
            response.contains("connection: close"),
            "{class}: {response}"
        );
        assert!(moss.wait_exit().success(), "{class}");
    }
}

/// TERM lets a request in flight finish before the workers exit.
#[test]
fn term_drains_a_request_in_flight() {
    for class in CLASSES {
        let moss = Moss::start(&["-k", class, "-w", "1", "sleep"]);
        let addr = moss.addr.clone();
        let slow = thread::spawn(move || get(&addr, "/sleep?ms=1500"));
        let started = std::time::Instant::now();
        while started.elapsed() < support::PATIENCE {
            let metrics = moss.metrics();
            if metric_lines(&metrics, "moss_worker_requests_in_flight").any(|(_, v)| v >= 1.0) {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let status = moss.stop();
        let (code, body) = slow.join().unwrap().expect("the slow request is answered");
        assert_eq!(code, 200, "{class}: {body}");
        assert!(status.success(), "{class}");
    }
}

#[test]
fn max_requests_recycles_the_worker() {
    let moss = Moss::start(&["-k", "green", "-w", "1", "--max-requests", "5", "hello"]);
    let before = moss.wait_workers(1, &[]);
    for _ in 0..5 {
        assert_eq!(get(&moss.addr, "/").unwrap().0, 200);
    }
    moss.wait_log("Autorestarting worker after current request.");
    moss.wait_workers(1, &before);
    assert_eq!(get(&moss.addr, "/").unwrap().0, 200);
    assert!(moss.stop().success());
}

#[test]
fn serves_on_a_unix_socket_and_removes_it_after() {
    let dir = std::env::temp_dir().join(format!("moss-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("moss.sock");
    let bind = format!("unix:{}", path.display());
    for class in CLASSES {
        let moss = Moss::start(&["-k", class, "-b", &bind, "echo"]);
        let started = std::time::Instant::now();
        let answer = loop {
            match request_unix(&path, "POST", "/", b"over unix") {
                Ok(answer) => break answer,
                Err(_) if started.elapsed() < support::PATIENCE => {
                    thread::sleep(Duration::from_millis(50))
                }
                Err(error) => panic!("{class}: {error}\n{}", moss.log_text()),
            }
        };
        assert_eq!(answer, (200, "over unix".to_owned()), "{class}");
        assert!(moss.stop().success());
        assert!(!path.exists(), "{class}: the socket file is removed");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// systemd socket activation: a listener passed as descriptor 3 with
/// `LISTEN_FDS=1` and `LISTEN_PID` set to moss's pid.
#[test]
fn takes_a_listener_from_systemd() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    socket2::SockRef::from(&listener)
        .set_cloexec(false)
        .unwrap();
    use std::os::fd::AsRawFd;
    let fd = listener.as_raw_fd();
    let script = format!(
        "exec 3<&{fd}; LISTEN_FDS=1 LISTEN_PID=$$ exec {} -k green hello",
        env!("CARGO_BIN_EXE_moss")
    );
    // bash: dash takes only one-digit descriptors in `3<&N`.
    let moss = Moss::spawn(
        Command::new("bash").arg("-c").arg(script),
        addr.clone(),
        None,
    );
    drop(listener);
    moss.wait_until_serving();
    assert_eq!(get(&addr, "/").unwrap().0, 200);
    moss.wait_log(&format!("Listening at: http://{addr}"));
    assert!(moss.stop().success());
}

#[test]
fn metrics_describe_every_worker() {
    let moss = Moss::start(&["-k", "green", "-w", "2", "hello"]);
    let pids = moss.wait_workers(2, &[]);
    for _ in 0..10 {
        get(&moss.addr, "/").unwrap();
    }
    let metrics = moss.metrics();
    for name in [
        "moss_workers",
        "moss_worker_requests_total",
        "moss_worker_active_connections",
        "moss_worker_green_threads",
        "moss_worker_hub_switches_total",
        "moss_worker_blocked_hub_events_total",
        "moss_worker_restarts_total",
        "moss_worker_heartbeat_age_seconds",
    ] {
        assert!(
            metrics.contains(&format!("# TYPE {name} ")),
            "{name} missing:\n{metrics}"
        );
    }
    let requests: f64 = metric_lines(&metrics, "moss_worker_requests_total")
        .map(|(_, v)| v)
        .sum();
    assert!(requests >= 10.0, "{metrics}");
    for pid in pids {
        assert!(metrics.contains(&format!("pid=\"{pid}\"")), "{metrics}");
    }
    assert!(moss.stop().success());
}

#[test]
fn a_bad_flag_says_which_and_exits_with_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_moss"))
        .args(["--workers", "0", "hello"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--workers"), "{stderr}");

    let output = Command::new(env!("CARGO_BIN_EXE_moss"))
        .args(["no-such-app"])
        .output()
        .unwrap();
    assert_ne!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no-such-app") && stderr.contains("hello"),
        "{stderr}"
    );
}

/// The `status` app shows the master's view of every worker.
#[test]
fn the_status_app_lists_the_workers() {
    let moss = Moss::start(&["-k", "green", "-w", "2", "status"]);
    let pids = moss.wait_workers(2, &[]);
    let (status, body) = get(&moss.addr, "/status.json").unwrap();
    assert_eq!(status, 200, "{body}");
    let body: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    for pid in &pids {
        assert!(
            body.contains(&format!("\"pid\":{pid}")),
            "{pid} missing: {body}"
        );
    }
    assert!(body.contains("\"worker_class\":\"green\""), "{body}");
    let (status, page) = get(&moss.addr, "/").unwrap();
    assert_eq!(status, 200);
    assert!(
        page.contains("<html") || page.contains("<!DOCTYPE"),
        "{page}"
    );
    assert!(moss.stop().success());
}

/// The `proxy` app forwards to its upstream (here another moss), and
/// answers 502 naming the cause when the upstream is gone.
#[test]
fn the_proxy_app_forwards_to_its_upstream() {
    let upstream = Moss::start(&["-k", "green", "echo"]);
    let url = format!("http://{}", upstream.addr);
    for class in CLASSES {
        let proxy = Moss::start(&["-k", class, "--upstream", &url, "proxy"]);
        let (status, body) =
            request(&proxy.addr, "POST", "/anything", b"through the proxy").unwrap();
        assert_eq!(
            (status, body.as_str()),
            (200, "through the proxy"),
            "{class}"
        );
        assert!(proxy.stop().success());
    }
    let upstream_addr = upstream.addr.clone();
    assert!(upstream.stop().success());
    let proxy = Moss::start(&["--upstream", &format!("http://{upstream_addr}"), "proxy"]);
    let (status, body) = get(&proxy.addr, "/").unwrap();
    assert_eq!(status, 502, "{body}");
    assert!(proxy.stop().success());
}

/// `--access-logfile` writes gunicorn's default format.
#[test]
fn the_access_log_has_gunicorns_format() {
    let dir = std::env::temp_dir().join(format!("moss-access-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("access.log");
    let moss = Moss::start(&[
        "-k",
        "green",
        "--access-logfile",
        path.to_str().unwrap(),
        "hello",
    ]);
    let (status, _) = request(&moss.addr, "GET", "/logged?x=1", b"").unwrap();
    assert_eq!(status, 200);
    assert!(moss.stop().success());
    let log = std::fs::read_to_string(&path).unwrap();
    let line = log
        .lines()
        .find(|line| line.contains("/logged?x=1"))
        .unwrap_or_else(|| panic!("no line for the request in {log:?}"));
    // %(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(
        line.contains("] \"GET /logged?x=1 HTTP/1.1\" 200 13 \"-\" \"-\""),
        "{line}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--user` switches the workers (only the workers) to that user, its
/// primary group and its groups, never keeping root's.
#[test]
fn workers_run_as_the_user_given() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |status: &str, name: &str| -> String {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    if field(&status, "Uid:").split(' ').next() != Some("0") {
        eprintln!("skipped: switching users needs root");
        return;
    }
    let moss = Moss::start(&["-k", "green", "-u", "nobody", "hello"]);
    let pids = moss.wait_workers(1, &[]);
    let worker = std::fs::read_to_string(format!("/proc/{}/status", pids[0])).unwrap();
    assert_eq!(
        field(&worker, "Uid:"),
        "65534 65534 65534 65534",
        "{worker}"
    );
    assert_eq!(
        field(&worker, "Gid:"),
        "65534 65534 65534 65534",
        "{worker}"
    );
    assert!(
        !field(&worker, "Groups:").split(' ').any(|g| g == "0"),
        "{worker}"
    );
    let master = std::fs::read_to_string(format!("/proc/{}/status", moss.pid())).unwrap();
    assert!(
        field(&master, "Uid:").starts_with("0 "),
        "the master stays root"
    );
    assert_eq!(get(&moss.addr, "/").unwrap().0, 200);
    assert!(moss.stop().success());
}

/// USR1 reopens the log files (log rotation): after the access log is
/// moved away, the next requests go to a new file at the same path.
#[test]
fn usr1_reopens_the_log_files() {
    let dir = std::env::temp_dir().join(format!("moss-usr1-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("access.log");
    let moss = Moss::start(&[
        "-k",
        "green",
        "--access-logfile",
        path.to_str().unwrap(),
        "hello",
    ]);
    assert_eq!(get(&moss.addr, "/before").unwrap().0, 200);
    let rotated = dir.join("access.log.1");
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(&path)
        .unwrap_or_default()
        .contains("/before")
    {
        assert!(
            started.elapsed() < support::PATIENCE,
            "the first line never came"
        );
        thread::sleep(Duration::from_millis(10));
    }
    std::fs::rename(&path, &rotated).unwrap();
    moss.signal("USR1");
    moss.wait_log("Handling signal: usr1");
    // The workers reopen at their next tick: ask until a line lands there.
    let started = std::time::Instant::now();
    loop {
        assert_eq!(get(&moss.addr, "/after").unwrap().0, 200);
        if std::fs::read_to_string(&path)
            .unwrap_or_default()
            .contains("/after")
        {
            break;
        }
        assert!(
            started.elapsed() < support::PATIENCE,
            "no new access log at {path:?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
    assert!(std::fs::read_to_string(&rotated)
        .unwrap()
        .contains("/before"));
    assert!(moss.stop().success());
    std::fs::remove_dir_all(&dir).unwrap();
}
