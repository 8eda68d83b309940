//! The master's control socket (gunicorn 25's control interface, `moss ctl`): a Unix socket speaking one JSON object per line.
//!
//! ```text
//!   {"command":"status"}                      the workers, class, target, master pid
//!   {"command":"workers","count":N}           the target count (as TTIN/TTOU), N >= 1
//!   {"command":"reload"}                      as HUP
//!   {"command":"shutdown","graceful":false}   as TERM (graceful, the default) or QUIT
//! ```
//!
//! Each request line gets one answer line: the command's result, or
//! `{"error":"…"}`. The master serves the socket inside its loop, never
//! waiting on a client: it accepts, reads what a client has sent when it
//! is readable, answers, and writes what the socket takes. A client may
//! send at most [`MAX_LINE`] bytes per line, stay idle at most
//! [`IDLE_TIMEOUT`], and [`MAX_CLIENTS`] may be connected at once.
//!
//! Only the master's user (or root) may talk to it: the socket file is
//! `0600` and each connection's `SO_PEERCRED` uid is checked.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::sys::{self, Pid};

/// The longest request line a client may send.
pub(super) const MAX_LINE: usize = 64 * 1024;

/// How long a client may stay connected without sending a request or
/// taking its answer.
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How many clients may be connected at once; more are refused.
pub(super) const MAX_CLIENTS: usize = 32;

/// A request, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Command {
    /// `status`.
    Status,
    /// `workers` with `count`.
    Workers(usize),
    /// `reload`.
    Reload,
    /// `shutdown`, graceful unless `"graceful": false`.
    Shutdown {
        /// TERM rather than QUIT.
        graceful: bool,
    },
}

/// Parses one request line.
pub(super) fn parse(line: &[u8]) -> Result<Command, String> {
    let request: Value = serde_json::from_slice(line).map_err(|e| {
        format!(
            "not a JSON object: {e} (send one object per line, e.g. {{\"command\":\"status\"}})"
        )
    })?;
    let Value::Object(request) = request else {
        return Err("not a JSON object (send e.g. {\"command\":\"status\"})".into());
    };
    let command = request
        .get("command")
        .and_then(Value::as_str)
        .ok_or("no \"command\": expected status, workers, reload or shutdown")?;
    match command {
        "status" => Ok(Command::Status),
        "reload" => Ok(Command::Reload),
        "workers" => match request.get("count").map(|count| (count, count.as_u64())) {
            Some((_, Some(count))) if count >= 1 => usize::try_from(count)
                .map(Command::Workers)
                .map_err(|_| "\"count\" is too large".into()),
            Some((count, _)) => Err(format!(
                "\"count\" must be an integer of at least 1, not {count}"
            )),
            None => {
                Err("workers needs a \"count\", e.g. {\"command\":\"workers\",\"count\":4}".into())
            }
        },
        "shutdown" => match request.get("graceful") {
            None => Ok(Command::Shutdown { graceful: true }),
            Some(Value::Bool(graceful)) => Ok(Command::Shutdown {
                graceful: *graceful,
            }),
            Some(other) => Err(format!("\"graceful\" must be true or false, not {other}")),
        },
        other => Err(format!(
            "unknown command {other:?}: expected status, workers, reload or shutdown"
        )),
    }
}

/// The default control socket of the master with pid `pid`:
/// `$XDG_RUNTIME_DIR/moss-PID.sock`, else `/tmp/moss-UID/moss-PID.sock`.
pub(crate) fn default_path(pid: Pid) -> PathBuf {
    default_dir().join(format!("moss-{pid}.sock"))
}

/// Where default control sockets are: `$XDG_RUNTIME_DIR`, else
/// `/tmp/moss-UID` (UID: the effective user's).
pub(crate) fn default_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(format!("/tmp/moss-{}", sys::geteuid())),
    }
}

/// Creates `/tmp/moss-UID` (mode 0700), or checks that the one there is
/// a directory of this user that no one else may enter.
fn private_dir(dir: &Path) -> io::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() || meta.uid() != sys::geteuid() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is not a directory of this user", dir.display()),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The control socket and its connected clients.
pub(super) struct Control {
    listener: UnixListener,
    path: PathBuf,
    /// The socket file's (device, inode): the file is removed at exit only
    /// if it is still this one (a new master may have taken the path).
    file: (u64, u64),
    euid: libc::uid_t,
    clients: Vec<Client>,
}

impl Control {
    /// Creates the socket at `path` (`None`: [`default_path`]) with mode
    /// 0600. A socket file nobody answers on is replaced; one a live
    /// master answers on is an error unless `take_over` (a new master
    /// started by USR2, whose old master keeps running a while).
    pub(super) fn bind(path: Option<&Path>, pid: Pid, take_over: bool) -> io::Result<Control> {
        let path = match path {
            Some(path) => path.to_owned(),
            None => {
                let dir = default_dir();
                if std::env::var_os("XDG_RUNTIME_DIR").is_none_or(|dir| dir.is_empty()) {
                    private_dir(&dir)?;
                }
                default_path(pid)
            }
        };
        if let Ok(meta) = std::fs::symlink_metadata(&path) {
            use std::os::unix::fs::FileTypeExt;
            if !meta.file_type().is_socket() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a socket", path.display()),
                ));
            }
            if UnixStream::connect(&path).is_ok() && !take_over {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} is in use by another master", path.display()),
                ));
            }
            std::fs::remove_file(&path)?;
        }
        // Created 0600 (no moment with a wider mode), then set again in
        // case the file system ignores the umask for sockets.
        let previous = sys::umask(0o177);
        let listener = UnixListener::bind(&path);
        sys::umask(previous);
        let listener = listener?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        let meta = std::fs::symlink_metadata(&path)?;
        Ok(Control {
            listener,
            path,
            file: (meta.dev(), meta.ino()),
            euid: sys::geteuid(),
            clients: Vec::new(),
        })
    }

    /// The socket's path.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// What to poll, in order: the listener (readable), then each client
    /// (writable while it has an answer to send, else readable).
    pub(super) fn fds(&self) -> Vec<(RawFd, bool)> {
        let mut fds = vec![(self.listener.as_raw_fd(), false)];
        fds.extend(
            self.clients
                .iter()
                .map(|client| (client.stream.as_raw_fd(), !client.output.is_empty())),
        );
        fds
    }

    /// One turn: accepts new clients, reads the ready ones (`ready`, as
    /// [`Control::fds`] listed them), has `handle` answer each request,
    /// writes the answers, and drops finished, failed and idle clients.
    pub(super) fn serve(
        &mut self,
        ready: &[bool],
        handle: &mut dyn FnMut(Command) -> Result<Value, String>,
    ) {
        for (index, client) in self.clients.iter_mut().enumerate() {
            if ready.get(index + 1).copied().unwrap_or(false) {
                client.ready = true;
            }
        }
        if ready.first().copied().unwrap_or(false) {
            self.accept();
        }
        for client in &mut self.clients {
            if std::mem::take(&mut client.ready) {
                client.turn(handle);
            }
        }
        self.clients.retain(|client| {
            if client.done() {
                return false;
            }
            if client.since.elapsed() > IDLE_TIMEOUT {
                log::debug!("control client idle for {IDLE_TIMEOUT:?}: closed");
                return false;
            }
            true
        });
    }

    /// Takes the waiting connections: refused when their peer is another
    /// user, or when too many are connected.
    fn accept(&mut self) {
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::debug!("control socket: accept failed: {e}");
                    return;
                }
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let refusal = match sys::peer_uid(stream.as_raw_fd()) {
                Ok(uid) if uid == self.euid || uid == 0 => None,
                Ok(uid) => {
                    log::warn!(
                        "control socket: refused a client of uid {uid} (only uid {} or root)",
                        self.euid
                    );
                    Some(format!(
                        "permission denied: uid {uid} may not control this master (only uid {} or root)",
                        self.euid
                    ))
                }
                Err(e) => Some(format!("permission denied: cannot check the peer: {e}")),
            }
            .or_else(|| {
                (self.clients.len() >= MAX_CLIENTS)
                    .then(|| format!("too many control connections (at most {MAX_CLIENTS})"))
            });
            let mut client = Client::new(stream);
            if let Some(message) = refusal {
                client.respond(&json!({ "error": message }));
                client.closing = true;
                client.flush();
                if client.done() {
                    continue;
                }
            } else {
                // Its request has usually arrived with it.
                client.ready = true;
            }
            self.clients.push(client);
        }
    }

    /// Writes what it can of the answers still unsent, without waiting:
    /// before the master stops, so that a `shutdown` gets its answer.
    pub(super) fn flush(&mut self) {
        for client in &mut self.clients {
            client.flush();
        }
    }

    /// Removes the socket file, if it is still this socket's.
    pub(super) fn remove_file(&self) {
        let own = std::fs::symlink_metadata(&self.path)
            .map(|meta| (meta.dev(), meta.ino()) == self.file)
            .unwrap_or(false);
        if own {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A connected client: what it has sent that is not a whole line yet,
/// and the answers not sent yet.
struct Client {
    stream: UnixStream,
    input: Vec<u8>,
    output: Vec<u8>,
    /// Its last activity.
    since: Instant,
    /// Polled ready this turn (or just accepted).
    ready: bool,
    /// Closed once its answers are sent (it hung up, or broke a limit).
    closing: bool,
    /// Failed: dropped at once.
    failed: bool,
}

impl Client {
    fn new(stream: UnixStream) -> Client {
        Client {
            stream,
            input: Vec::new(),
            output: Vec::new(),
            since: Instant::now(),
            ready: false,
            closing: false,
            failed: false,
        }
    }

    /// Reads what arrived, answers the whole lines, writes.
    fn turn(&mut self, handle: &mut dyn FnMut(Command) -> Result<Value, String>) {
        if !self.closing {
            self.read();
        }
        while let Some(end) = self.input.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.input.drain(..=end).collect();
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            let answer = parse(line)
                .and_then(&mut *handle)
                .unwrap_or_else(|message| json!({ "error": message }));
            self.respond(&answer);
        }
        if self.input.len() > MAX_LINE {
            self.input.clear();
            self.respond(&json!({
                "error": format!("request line longer than {MAX_LINE} bytes")
            }));
            self.closing = true;
        }
        self.flush();
    }

    /// Reads until the socket would block.
    fn read(&mut self) {
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    // A last request without its newline is still one.
                    if !self.input.trim_ascii().is_empty() {
                        self.input.push(b'\n');
                    }
                    self.closing = true;
                    return;
                }
                Ok(n) => {
                    self.since = Instant::now();
                    self.input.extend_from_slice(&buf[..n]);
                    if self.input.len() > MAX_LINE {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.failed = true;
                    return;
                }
            }
        }
    }

    fn respond(&mut self, answer: &Value) {
        self.output.extend_from_slice(answer.to_string().as_bytes());
        self.output.push(b'\n');
    }

    /// Writes what the socket takes now.
    fn flush(&mut self) {
        while !self.output.is_empty() && !self.failed {
            match self.stream.write(&self.output) {
                Ok(0) => self.failed = true,
                Ok(n) => {
                    self.since = Instant::now();
                    self.output.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => self.failed = true,
            }
        }
    }

    /// Whether it can be dropped now.
    fn done(&self) -> bool {
        self.failed || (self.closing && self.output.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_bad_ones_say_why() {
        assert_eq!(parse(br#"{"command":"status"}"#), Ok(Command::Status));
        assert_eq!(parse(br#"{"command":"reload"}"#), Ok(Command::Reload));
        assert_eq!(
            parse(br#"{"command":"workers","count":3}"#),
            Ok(Command::Workers(3))
        );
        assert_eq!(
            parse(br#"{"command":"shutdown"}"#),
            Ok(Command::Shutdown { graceful: true })
        );
        assert_eq!(
            parse(br#"{"command":"shutdown","graceful":false}"#),
            Ok(Command::Shutdown { graceful: false })
        );
        for (line, needle) in [
            (&br#"{"command":"workers","count":0}"#[..], "at least 1"),
            (br#"{"command":"workers","count":-2}"#, "at least 1"),
            (br#"{"command":"workers","count":"2"}"#, "at least 1"),
            (br#"{"command":"workers"}"#, "needs a \"count\""),
            (br#"{"command":"fly"}"#, "unknown command \"fly\""),
            (br#"{"cmd":"status"}"#, "no \"command\""),
            (br#"["status"]"#, "not a JSON object"),
            (b"status", "not a JSON object"),
            (br#"{"command":"shutdown","graceful":1}"#, "true or false"),
        ] {
            let error = parse(line).unwrap_err();
            assert!(error.contains(needle), "{error}");
        }
    }

    #[test]
    fn a_client_gets_one_answer_per_line_and_limits_hold() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let mut client = Client::new(ours);
        theirs
            .write_all(b"{\"command\":\"status\"}\n\n{\"command\":\"x\"}\n{\"comm")
            .unwrap();
        let mut seen = Vec::new();
        client.turn(&mut |command| {
            seen.push(command);
            Ok(json!({ "ok": true }))
        });
        assert_eq!(seen, [Command::Status]);
        assert_eq!(client.input, b"{\"comm");
        let mut answer = vec![0u8; 256];
        let n = theirs.read(&mut answer).unwrap();
        let text = String::from_utf8_lossy(&answer[..n]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], r#"{"ok":true}"#);
        assert!(
            lines[1].starts_with(r#"{"error":"unknown command \"x\""#),
            "{text}"
        );
        assert!(!client.done());

        theirs.write_all(&vec![b'x'; MAX_LINE + 10]).unwrap_or(());
        client.turn(&mut |_| Ok(json!({})));
        assert!(client.closing);
    }

    #[test]
    fn the_socket_is_0600_and_removed_only_while_its_own() {
        let dir = std::env::temp_dir().join(format!("moss-control-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.sock");
        let control = Control::bind(Some(&path), 1, false).unwrap();
        let mode = std::fs::metadata(&path).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A live socket at the path is refused, unless taken over.
        let error = Control::bind(Some(&path), 1, false).err().unwrap();
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
        let successor = Control::bind(Some(&path), 2, true).unwrap();
        control.remove_file();
        assert!(path.exists(), "the successor's file stays");
        successor.remove_file();
        assert!(!path.exists());
        // A stale file (nobody listening) is replaced.
        drop(successor);
        let stale = UnixListener::bind(&path).unwrap();
        drop(stale);
        let again = Control::bind(Some(&path), 3, false).unwrap();
        again.remove_file();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
