//! `moss ctl`: the control socket's client (gunicorn's `gunicornc`): sends one command to a running master and prints its answer.
//!
//! ```text
//! moss ctl [--socket PATH | --pid PID] [--json] status | workers N | reload | shutdown [--quick]
//! ```
//!
//! The socket is `--socket`, else the default path of master `--pid`,
//! else the only `moss-PID.sock` of a running master in the default
//! directory (`$XDG_RUNTIME_DIR`, or `/tmp/moss-UID`). Exit codes: 0 when
//! the master did it, 1 when it answered an error or could not be
//! reached, 2 for a usage error.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Value};

use crate::master::control;

const USAGE: &str = "\
Usage: moss ctl [--socket PATH | --pid PID] [--json] COMMAND

Commands:
  status              the master and its workers
  workers N           keep N workers (N >= 1), as TTIN/TTOU
  reload              reload the configuration and replace the workers, as HUP
  shutdown [--quick]  stop the master: gracefully (TERM), or at once (QUIT)

Options:
  -s, --socket PATH   the control socket (moss --control-socket)
  -p, --pid PID       the master's pid: its default socket
  -j, --json          print the master's answer as it came, one JSON line
  -h, --help          show this help
";

/// How long the client waits for the master's answer.
const TIMEOUT: Duration = Duration::from_secs(30);

/// What the command line asks.
#[derive(Debug, PartialEq)]
struct Invocation {
    socket: Option<PathBuf>,
    pid: Option<i32>,
    json: bool,
    request: Value,
}

/// Runs `moss ctl ARGS` (the arguments after `ctl`); the exit code.
pub(crate) fn main(args: &[OsString]) -> ExitCode {
    let invocation = match parse(args) {
        Ok(Some(invocation)) => invocation,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("moss ctl: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let path = match socket_path(&invocation) {
        Ok(path) => path,
        Err(message) => {
            eprintln!("moss ctl: {message}");
            return ExitCode::FAILURE;
        }
    };
    let (line, answer) = match send(&path, &invocation.request) {
        Ok(answer) => answer,
        Err(message) => {
            eprintln!("moss ctl: {}: {message}", path.display());
            return ExitCode::FAILURE;
        }
    };
    if let Some(error) = answer.get("error") {
        let error = error
            .as_str()
            .map_or_else(|| error.to_string(), str::to_owned);
        if invocation.json {
            println!("{line}");
        }
        eprintln!("moss ctl: {error}");
        return ExitCode::FAILURE;
    }
    if invocation.json {
        println!("{line}");
    } else if invocation.request["command"] == "status" {
        print!("{}", status_table(&answer));
    } else {
        println!("{}", serde_json::to_string_pretty(&answer).unwrap_or(line));
    }
    ExitCode::SUCCESS
}

/// Parses the arguments after `ctl`; `None` for `--help`.
fn parse(args: &[OsString]) -> Result<Option<Invocation>, String> {
    let mut socket = None;
    let mut pid = None;
    let mut json = false;
    let mut quick = false;
    let mut words: Vec<String> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        let (flag, inline) = match text.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value)),
            _ => (text.clone().into_owned(), None),
        };
        let mut value = |name: &str| -> Result<OsString, String> {
            match inline {
                Some(value) => Ok(value.into()),
                None => args.next().cloned().ok_or(format!("{name} needs a value")),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "-s" | "--socket" => socket = Some(PathBuf::from(value("--socket")?)),
            "-p" | "--pid" => {
                let text = value("--pid")?;
                let text = text.to_string_lossy();
                pid = Some(
                    text.parse::<i32>()
                        .ok()
                        .filter(|pid| *pid > 0)
                        .ok_or(format!("--pid {text}: not a process id"))?,
                );
            }
            "-j" | "--json" => json = true,
            "-q" | "--quick" => quick = true,
            flag if flag.starts_with('-') && flag.len() > 1 => {
                return Err(format!("unknown option {flag}"))
            }
            _ => words.push(text.into_owned()),
        }
    }
    if socket.is_some() && pid.is_some() {
        return Err("give --socket or --pid, not both".into());
    }
    let request = match words.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["status"] => json!({ "command": "status" }),
        ["reload"] => json!({ "command": "reload" }),
        ["shutdown"] => json!({ "command": "shutdown", "graceful": !quick }),
        ["workers", count] => {
            let count: u64 = count
                .parse()
                .ok()
                .filter(|count| *count >= 1)
                .ok_or(format!("workers {count}: expected a count of at least 1"))?;
            json!({ "command": "workers", "count": count })
        }
        ["workers"] => return Err("workers needs a count: moss ctl workers N".into()),
        [] => return Err("no command given".into()),
        [command, ..] if ["status", "reload", "shutdown", "workers"].contains(&command) => {
            return Err(format!("too many arguments for {command}"))
        }
        [command, ..] => return Err(format!("unknown command {command:?}")),
    };
    if quick && request["command"] != "shutdown" {
        return Err("--quick goes with shutdown".into());
    }
    Ok(Some(Invocation {
        socket,
        pid,
        json,
        request,
    }))
}

/// The socket to talk to.
fn socket_path(invocation: &Invocation) -> Result<PathBuf, String> {
    if let Some(path) = &invocation.socket {
        return Ok(path.clone());
    }
    if let Some(pid) = invocation.pid {
        return Ok(control::default_path(pid));
    }
    let dir = control::default_dir();
    let entries = std::fs::read_dir(&dir).map_err(|e| {
        format!(
            "no control socket found in {}: {e} (is moss running? give --socket or --pid)",
            dir.display()
        )
    })?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // A master that died without cleaning up left its file behind.
            name.strip_prefix("moss-")
                .and_then(|rest| rest.strip_suffix(".sock"))
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| PathBuf::from(format!("/proc/{pid}")).exists())
        })
        .map(|entry| entry.path())
        .collect();
    found.sort();
    match found.len() {
        0 => Err(format!(
            "no control socket of a running master in {} (is moss running? give --socket or --pid)",
            dir.display()
        )),
        1 => Ok(found.remove(0)),
        _ => Err(format!(
            "several masters run ({}): choose one with --pid or --socket",
            found
                .iter()
                .map(|path| path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Sends `request` and reads the answer line: (the line, parsed).
fn send(path: &std::path::Path, request: &Value) -> Result<(String, Value), String> {
    let mut stream = UnixStream::connect(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            format!("{e} (only the master's user may use its control socket)")
        }
        _ => format!("cannot connect: {e}"),
    })?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let mut line = request.to_string();
    line.push('\n');
    // A master that refuses the client answers at once and closes: the
    // send may then fail, but its answer is still there to read.
    let sent = stream.write_all(line.as_bytes());
    let mut answer = String::new();
    let read = BufReader::new(&stream).read_line(&mut answer);
    let answer = answer.trim_end().to_owned();
    if answer.is_empty() {
        return Err(match (sent, read) {
            (Err(e), _) => format!("cannot send the command: {e}"),
            (Ok(()), Err(e)) => format!("no answer: {e}"),
            (Ok(()), Ok(_)) => "the master closed the connection without answering".into(),
        });
    }
    let parsed = serde_json::from_str(&answer).map_err(|e| format!("not a JSON answer: {e}"))?;
    Ok((answer, parsed))
}

/// `status` as a table.
fn status_table(status: &Value) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let number = |value: &Value| value.as_u64().map_or_else(|| "-".into(), |n| n.to_string());
    let _ = writeln!(
        out,
        "master {}  moss {}  class {}  workers {} (target {})",
        number(&status["master_pid"]),
        status["version"].as_str().unwrap_or("?"),
        status["class"].as_str().unwrap_or("?"),
        number(&status["running"]),
        number(&status["target"]),
    );
    let _ = writeln!(
        out,
        "{:>8} {:>5} {:>10} {:>9} {:>11} {:>6} {:>10} {:>9}  STATE",
        "PID", "AGE", "REQUESTS", "IN_FLIGHT", "CONNECTIONS", "GREEN", "HEARTBEAT", "UPTIME"
    );
    let empty = Vec::new();
    for worker in status["workers"].as_array().unwrap_or(&empty) {
        let seconds = |value: &Value| {
            value
                .as_f64()
                .map_or_else(|| "-".into(), |s| format!("{s:.1}s"))
        };
        let _ = writeln!(
            out,
            "{:>8} {:>5} {:>10} {:>9} {:>11} {:>6} {:>10} {:>9}  {}",
            number(&worker["pid"]),
            number(&worker["age"]),
            number(&worker["requests"]),
            number(&worker["requests_in_flight"]),
            number(&worker["active_connections"]),
            number(&worker["green_threads"]),
            seconds(&worker["since_heartbeat"]),
            seconds(&worker["uptime"]),
            if worker["stopping"] == true {
                "stopping"
            } else {
                "running"
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<OsString> {
        line.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn command_lines_become_requests() {
        let parsed = parse(&args("--socket /x.sock workers 3")).unwrap().unwrap();
        assert_eq!(parsed.socket, Some(PathBuf::from("/x.sock")));
        assert_eq!(parsed.request, json!({"command": "workers", "count": 3}));
        let parsed = parse(&args("--pid=42 --json shutdown --quick"))
            .unwrap()
            .unwrap();
        assert_eq!((parsed.pid, parsed.json), (Some(42), true));
        assert_eq!(
            parsed.request,
            json!({"command": "shutdown", "graceful": false})
        );
        assert_eq!(
            parse(&args("status")).unwrap().unwrap().request,
            json!({"command": "status"})
        );
        assert_eq!(parse(&args("-h")).unwrap(), None);
        for (line, needle) in [
            ("", "no command"),
            ("workers 0", "at least 1"),
            ("workers", "needs a count"),
            ("fly", "unknown command"),
            ("status now", "too many"),
            ("--pid 1 --socket /x status", "not both"),
            ("--pid x status", "not a process id"),
            ("reload --quick", "--quick goes with shutdown"),
            ("--bogus status", "unknown option"),
        ] {
            let error = parse(&args(line)).unwrap_err();
            assert!(error.contains(needle), "{line}: {error}");
        }
    }

    #[test]
    fn status_reads_as_a_table() {
        let table = status_table(&json!({
            "master_pid": 10, "version": "0.1.0", "class": "green", "target": 2, "running": 1,
            "workers": [{"pid": 11, "age": 1, "requests": 5, "requests_in_flight": 0,
                         "active_connections": 1, "green_threads": 2, "since_heartbeat": 0.3,
                         "uptime": 3.0, "stopping": false}]
        }));
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "master 10  moss 0.1.0  class green  workers 1 (target 2)"
        );
        assert!(lines[1].contains("PID") && lines[1].contains("HEARTBEAT"));
        let cells: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(
            cells,
            ["11", "1", "5", "0", "1", "2", "0.3s", "3.0s", "running"]
        );
    }
}
