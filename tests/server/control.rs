//! The master's control socket and `moss ctl`, with the real binary: status against the metrics, workers, reload, shutdown, the socket's path, mode and owner check.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{free_port, Moss, PATIENCE};

const MOSS: &str = env!("CARGO_BIN_EXE_moss");

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moss-ctl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `moss ctl ARGS` (with `command` prepared, e.g. its environment): exit
/// code, stdout, stderr.
fn run_ctl(mut command: Command, args: &[&str]) -> (i32, String, String) {
    let out = command
        .arg("ctl")
        .args(args)
        .output()
        .expect("moss ctl runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ctl(socket: &Path, args: &[&str]) -> (i32, String, String) {
    let mut full = vec!["--socket", socket.to_str().unwrap()];
    full.extend_from_slice(args);
    run_ctl(Command::new(MOSS), &full)
}

/// `moss ctl --json status`: the answer line.
fn status(socket: &Path) -> String {
    let (code, out, err) = ctl(socket, &["--json", "status"]);
    assert_eq!(code, 0, "{out}{err}");
    out.trim().to_owned()
}

/// The values of `"key":` in a compact JSON text, in order (numbers,
/// `true`/`false` and strings without commas, as the master's answers).
fn values(json: &str, key: &str) -> Vec<String> {
    let needle = format!("\"{key}\":");
    json.match_indices(&needle)
        .map(|(at, _)| {
            let rest = &json[at + needle.len()..];
            let end = rest.find([',', '}', ']']).unwrap_or(rest.len());
            rest[..end].trim_matches('"').to_owned()
        })
        .collect()
}

fn value(json: &str, key: &str) -> String {
    values(json, key).into_iter().next().unwrap_or_default()
}

fn status_pids(status: &str) -> Vec<u32> {
    let mut pids: Vec<u32> = values(status, "pid")
        .iter()
        .map(|pid| pid.parse().unwrap())
        .collect();
    pids.sort_unstable();
    pids
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o777
}

#[test]
fn ctl_shows_status_sets_workers_reloads_and_shuts_down() {
    let dir = scratch("cycle");
    let socket = dir.join("control.sock");
    let moss = Moss::start(&[
        "-w",
        "2",
        "--control-socket",
        socket.to_str().unwrap(),
        "hello",
    ]);
    moss.wait_log("Control socket: ");
    assert_eq!(mode(&socket), 0o600, "the socket file is the user's only");

    let pids = moss.wait_workers(2, &[]);
    let answer = status(&socket);
    assert_eq!(status_pids(&answer), pids, "{answer}");
    assert_eq!(value(&answer, "master_pid"), moss.pid().to_string());
    assert_eq!(value(&answer, "class"), "green");
    assert_eq!(value(&answer, "target"), "2");
    for key in [
        "age",
        "requests",
        "active_connections",
        "green_threads",
        "since_heartbeat",
    ] {
        assert_eq!(values(&answer, key).len(), 2, "{key} in {answer}");
    }
    let (code, table, err) = ctl(&socket, &["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(table.contains(&format!("master {}", moss.pid())), "{table}");
    for pid in &pids {
        assert!(
            table.contains(&pid.to_string()),
            "{pid} missing from\n{table}"
        );
    }

    let (code, out, err) = ctl(&socket, &["workers", "3"]);
    assert_eq!(code, 0, "{out}{err}");
    let three = moss.wait_workers(3, &[]);
    let answer = status(&socket);
    assert_eq!(value(&answer, "target"), "3");
    assert_eq!(status_pids(&answer), three);

    // As HUP: the configuration read again (-w 2) replaces every worker.
    let (code, out, err) = ctl(&socket, &["reload"]);
    assert_eq!(code, 0, "{out}{err}");
    let renewed = moss.wait_workers(2, &three);
    let answer = status(&socket);
    assert_eq!(status_pids(&answer), renewed);
    assert_eq!(value(&answer, "target"), "2");

    // Errors are answers, and the connection goes on.
    let mut raw = UnixStream::connect(&socket).unwrap();
    raw.set_read_timeout(Some(PATIENCE)).unwrap();
    raw.write_all(b"{\"command\":\"workers\",\"count\":0}\nnot json\n{\"command\":\"status\"}\n")
        .unwrap();
    let mut lines = BufReader::new(raw.try_clone().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.starts_with("{\"error\":") && first.contains("at least 1"),
        "{first}"
    );
    let second = lines.next().unwrap().unwrap();
    assert!(second.contains("not a JSON object"), "{second}");
    let third = lines.next().unwrap().unwrap();
    assert_eq!(value(&third, "target"), "2", "{third}");
    drop(lines);
    drop(raw);
    let (code, _, err) = ctl(&socket, &["workers", "0"]);
    assert_eq!(code, 2, "a usage error: {err}");

    let (code, out, err) = ctl(&socket, &["shutdown"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("graceful"), "{out}");
    let mut moss = moss;
    assert!(moss.wait_exit().success(), "{}", moss.log_text());
    assert!(!socket.exists(), "the socket file is removed at exit");
    let (code, _, err) = ctl(&socket, &["status"]);
    assert_eq!(code, 1, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts `moss -w 1 hello` with `env` set (and `extra` flags) on a free
/// port, as [`Moss::start`] does.
fn start_with_env(env: &[(&str, Option<&Path>)], extra: &[&str]) -> Moss {
    let addr = format!("127.0.0.1:{}", free_port());
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut command = Command::new(MOSS);
    for (key, value) in env {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    command
        .args(["-b", &addr, "--metrics-bind", &metrics])
        .args(extra)
        .arg("hello");
    let moss = Moss::spawn(&mut command, addr, Some(metrics));
    moss.wait_until_serving();
    moss
}

#[test]
fn the_default_socket_is_per_master_and_found_by_ctl() {
    let dir = scratch("xdg");
    let moss = start_with_env(&[("XDG_RUNTIME_DIR", Some(&dir))], &[]);
    let socket = dir.join(format!("moss-{}.sock", moss.pid()));
    moss.wait_log(&format!("Control socket: {}", socket.display()));
    assert_eq!(mode(&socket), 0o600);
    // Found as the only one in the directory, or by the master's pid.
    let mut found = Command::new(MOSS);
    found.env("XDG_RUNTIME_DIR", &dir);
    let (code, out, err) = run_ctl(found, &["--json", "status"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(value(&out, "master_pid"), moss.pid().to_string());
    let mut by_pid = Command::new(MOSS);
    by_pid.env("XDG_RUNTIME_DIR", &dir);
    let (code, _, err) = run_ctl(by_pid, &["--pid", &moss.pid().to_string(), "status"]);
    assert_eq!(code, 0, "{err}");
    assert!(moss.stop().success());
    assert!(!socket.exists());

    // Without XDG_RUNTIME_DIR: /tmp/moss-UID, a directory of mode 0700.
    let moss = start_with_env(&[("XDG_RUNTIME_DIR", None)], &[]);
    let uid = std::fs::metadata("/proc/self").unwrap().uid();
    let private = PathBuf::from(format!("/tmp/moss-{uid}"));
    let socket = private.join(format!("moss-{}.sock", moss.pid()));
    moss.wait_log(&format!("Control socket: {}", socket.display()));
    assert_eq!(mode(&private), 0o700);
    assert_eq!(mode(&socket), 0o600);
    let mut by_pid = Command::new(MOSS);
    by_pid.env_remove("XDG_RUNTIME_DIR");
    let (code, _, err) = run_ctl(by_pid, &["--pid", &moss.pid().to_string(), "status"]);
    assert_eq!(code, 0, "{err}");
    let mut moss = moss;
    let mut quick = Command::new(MOSS);
    quick.env_remove("XDG_RUNTIME_DIR");
    let (code, out, err) = run_ctl(
        quick,
        &["--pid", &moss.pid().to_string(), "shutdown", "--quick"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(moss.wait_exit().success());
    assert!(!socket.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_control_socket_creates_none() {
    let dir = scratch("none");
    let moss = start_with_env(&[("XDG_RUNTIME_DIR", Some(&dir))], &["--no-control-socket"]);
    assert!(moss
        .log_text()
        .lines()
        .all(|l| !l.contains("Control socket")));
    let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(entries.is_empty(), "{entries:?}");
    let mut find = Command::new(MOSS);
    find.env("XDG_RUNTIME_DIR", &dir);
    let (code, _, err) = run_ctl(find, &["status"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no control socket"), "{err}");
    assert!(moss.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_client_of_another_uid_is_refused() {
    if std::fs::metadata("/proc/self").unwrap().uid() != 0 {
        eprintln!("skipped: running a client as another user needs root");
        return;
    }
    let nobody = |socket: &Path| {
        let mut command = Command::new("setpriv");
        command.args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            MOSS,
        ]);
        run_ctl(command, &["--socket", socket.to_str().unwrap(), "status"])
    };
    let dir = scratch("uid");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let socket = dir.join("control.sock");
    let moss = Moss::start(&["--control-socket", socket.to_str().unwrap(), "hello"]);
    moss.wait_log("Control socket: ");
    // The file's mode keeps another user out...
    let (code, out, err) = nobody(&socket);
    if !err.contains("moss ctl") {
        // setpriv itself failed (a restricted container).
        eprintln!("skipped: setpriv cannot run the client as uid 65534: {code} {err}");
        return;
    }
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("ermission denied"), "{err}");
    // ...and with the mode opened, the master checks the peer's uid.
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (code, out, err) = nobody(&socket);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("permission denied: uid 65534"), "{err}");
    moss.wait_log("refused a client of uid 65534");
    // The owner still gets in.
    assert_eq!(
        value(&status(&socket), "master_pid"),
        moss.pid().to_string()
    );
    assert!(moss.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}
