//! The master's listening sockets: bound from `--bind`, inherited from systemd (`LISTEN_FDS`) or an upgrading master (`MOSS_FD`).

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use socket2::{Domain, Socket, Type};

use crate::sys;

/// The environment variable an upgrading master (USR2) passes its
/// listeners' descriptors in: `MOSS_FD=3,4`.
pub(crate) const INHERITED_FDS: &str = "MOSS_FD";

/// The variable an upgrading master passes its metrics listener in.
pub(crate) const INHERITED_METRICS_FD: &str = "MOSS_METRICS_FD";

/// The metrics listener an upgrading master handed down, if any.
pub(crate) fn inherited_metrics() -> io::Result<Option<TcpListener>> {
    let Ok(fd) = std::env::var(INHERITED_METRICS_FD) else {
        return Ok(None);
    };
    std::env::remove_var(INHERITED_METRICS_FD);
    let fd: RawFd = fd
        .parse()
        .map_err(|_| invalid(format!("{INHERITED_METRICS_FD}={fd}: not a descriptor")))?;
    let owned = sys::own_stream_socket(fd)?;
    sys::set_cloexec(owned.as_raw_fd(), true)?;
    Ok(Some(TcpListener::from(owned)))
}

/// One listening socket.
#[derive(Debug)]
pub(crate) enum Listener {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A Unix-domain listener, and its path (removed when the master stops).
    Unix(UnixListener, Option<PathBuf>),
}

impl Listener {
    /// Its descriptor.
    pub(crate) fn fd(&self) -> RawFd {
        match self {
            Listener::Tcp(listener) => listener.as_raw_fd(),
            Listener::Unix(listener, _) => listener.as_raw_fd(),
        }
    }

    /// Sets `O_NONBLOCK` on the socket (on its open file description,
    /// which every worker shares).
    pub(crate) fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        match self {
            Listener::Tcp(listener) => listener.set_nonblocking(nonblocking),
            Listener::Unix(listener, _) => listener.set_nonblocking(nonblocking),
        }
    }

    /// A second handle on the same socket.
    pub(crate) fn try_clone(&self) -> io::Result<Listener> {
        Ok(match self {
            Listener::Tcp(listener) => Listener::Tcp(listener.try_clone()?),
            Listener::Unix(listener, _) => Listener::Unix(listener.try_clone()?, None),
        })
    }

    /// How gunicorn names it in its "Listening at" line.
    pub(crate) fn describe(&self) -> String {
        match self {
            Listener::Tcp(listener) => match listener.local_addr() {
                Ok(addr) => format!("http://{addr}"),
                Err(_) => "tcp:?".to_owned(),
            },
            Listener::Unix(listener, path) => {
                let path = path.clone().or_else(|| {
                    listener
                        .local_addr()
                        .ok()
                        .and_then(|a| a.as_pathname().map(Path::to_path_buf))
                });
                match path {
                    Some(path) => format!("unix:{}", path.display()),
                    None => "unix:?".to_owned(),
                }
            }
        }
    }

    /// Removes a Unix socket's file (the master that bound it is stopping).
    pub(crate) fn unlink(&self) {
        if let Listener::Unix(_, Some(path)) = self {
            let _ = std::fs::remove_file(path);
        }
    }

    /// A listener of this worker's own on the same TCP address, with
    /// `SO_REUSEPORT`: the kernel spreads connections over the workers'
    /// sockets. Unix listeners are shared as they are.
    pub(crate) fn own_reuse_port(&self, backlog: u32) -> io::Result<Listener> {
        match self {
            Listener::Tcp(listener) => {
                let addr = listener.local_addr()?;
                Ok(Listener::Tcp(bind_tcp(addr, backlog, true, true)?))
            }
            Listener::Unix(..) => self.try_clone(),
        }
    }
}

/// What the master binds or inherits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BindOptions {
    pub(crate) backlog: u32,
    pub(crate) reuse_port: bool,
    pub(crate) umask: u32,
}

/// Binds every `--bind` address, or takes the listeners the environment
/// hands down (an upgrading master's `MOSS_FD`, systemd's `LISTEN_FDS`
/// addressed to this process); the environment variables are removed so
/// that workers and children do not take them again.
pub(crate) fn bind_all(binds: &[String], options: BindOptions) -> io::Result<Vec<Listener>> {
    if let Some(fds) = inherited()? {
        return fds.into_iter().map(listener_from_fd).collect();
    }
    let mut listeners = Vec::new();
    for bind in binds {
        listeners.extend(
            bind_one(bind, options)
                .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {bind}: {e}")))?,
        );
    }
    Ok(listeners)
}

/// The descriptors handed down by an upgrading master or systemd.
fn inherited() -> io::Result<Option<Vec<RawFd>>> {
    if let Ok(list) = std::env::var(INHERITED_FDS) {
        std::env::remove_var(INHERITED_FDS);
        let mut fds = list
            .split(',')
            .map(|fd| fd.trim().parse::<RawFd>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| invalid(format!("{INHERITED_FDS}={list}: not a list of descriptors")))?;
        // Each descriptor is owned once, and never stdin, stdout or stderr.
        fds.sort_unstable();
        fds.dedup();
        if fds.iter().any(|&fd| fd <= 2) {
            return Err(invalid(format!(
                "{INHERITED_FDS}={list}: descriptors 0-2 are not listeners"
            )));
        }
        return Ok(Some(fds));
    }
    let (Ok(count), Ok(pid)) = (std::env::var("LISTEN_FDS"), std::env::var("LISTEN_PID")) else {
        return Ok(None);
    };
    if pid.parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(None);
    }
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDNAMES");
    let count: RawFd = count
        .parse()
        .map_err(|_| invalid(format!("LISTEN_FDS={count}: not a number")))?;
    // systemd passes them from descriptor 3 on (SD_LISTEN_FDS_START).
    Ok(Some((3..3 + count).collect()))
}

/// Takes ownership of an inherited listening descriptor.
fn listener_from_fd(fd: RawFd) -> io::Result<Listener> {
    // It was handed down to this process, which owns it from now on.
    let owned = sys::own_stream_socket(fd)
        .map_err(|e| io::Error::new(e.kind(), format!("inherited descriptor {fd}: {e}")))?;
    sys::set_cloexec(owned.as_raw_fd(), true)?;
    let socket = Socket::from(owned);
    Ok(match socket.local_addr()?.as_socket() {
        Some(_) => Listener::Tcp(socket.into()),
        None => Listener::Unix(socket.into(), None),
    })
}

/// Binds one `--bind` value: `host:port` (every address the host resolves
/// to), `[::]:port`, `unix:/path` or `fd://N`.
fn bind_one(bind: &str, options: BindOptions) -> io::Result<Vec<Listener>> {
    if let Some(path) = bind.strip_prefix("unix:") {
        let path = PathBuf::from(path);
        remove_stale_socket(&path)?;
        let old = sys::umask(options.umask);
        let bound = UnixListener::bind(&path);
        sys::umask(old);
        let listener = bound?;
        if options.backlog != 128 {
            // std listens with a backlog of 128; listen again to set ours.
            let socket = Socket::from(OwnedFd::from(listener));
            socket.listen(backlog(options.backlog))?;
            return Ok(vec![Listener::Unix(socket.into(), Some(path))]);
        }
        return Ok(vec![Listener::Unix(listener, Some(path))]);
    }
    if let Some(fd) = bind.strip_prefix("fd://") {
        let fd = fd
            .parse()
            .map_err(|_| invalid(format!("{bind}: not a descriptor number")))?;
        return Ok(vec![listener_from_fd(fd)?]);
    }
    let mut addrs: Vec<SocketAddr> = bind.to_socket_addrs()?.collect();
    addrs.dedup();
    if addrs.is_empty() {
        return Err(invalid(format!("{bind} resolves to no address")));
    }
    addrs
        .into_iter()
        .map(|addr| {
            // With SO_REUSEPORT every worker listens on a socket of its own;
            // the master's only reserves the address.
            bind_tcp(
                addr,
                options.backlog,
                options.reuse_port,
                !options.reuse_port,
            )
            .map(Listener::Tcp)
        })
        .collect()
}

/// A TCP socket bound to `addr`, listening when `listen` (a master that
/// leaves the workers their own `SO_REUSEPORT` sockets only reserves the
/// address; a socket that does not listen gets none of the connections).
fn bind_tcp(
    addr: SocketAddr,
    backlog_size: u32,
    reuse_port: bool,
    listen: bool,
) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    if listen {
        socket.listen(backlog(backlog_size))?;
    }
    Ok(socket.into())
}

fn backlog(size: u32) -> i32 {
    i32::try_from(size).unwrap_or(i32::MAX)
}

/// Removes a socket file left by a master that did not clean up; refuses
/// to remove anything that is not a socket.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path),
        Ok(_) => Err(invalid(format!(
            "{} exists and is not a socket",
            path.display()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Clears close-on-exec on every listener and returns their descriptors
/// as `MOSS_FD` wants them, for a new master started by USR2.
pub(crate) fn hand_down(listeners: &[Listener]) -> io::Result<String> {
    let mut fds = Vec::new();
    for listener in listeners {
        sys::set_cloexec(listener.fd(), false)?;
        fds.push(listener.fd().to_string());
    }
    Ok(fds.join(","))
}

/// Sets close-on-exec again once the new master has started.
pub(crate) fn keep_to_self(listeners: &[Listener]) {
    for listener in listeners {
        let _ = sys::set_cloexec(listener.fd(), true);
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> BindOptions {
        BindOptions {
            backlog: 64,
            reuse_port: false,
            umask: 0,
        }
    }

    #[test]
    fn binds_tcp_and_unix() {
        let listeners = bind_all(&["127.0.0.1:0".to_owned()], options()).unwrap();
        assert_eq!(listeners.len(), 1);
        assert!(listeners[0].describe().starts_with("http://127.0.0.1:"));

        let dir = std::env::temp_dir().join(format!("moss-listeners-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let bind = format!("unix:{}", path.display());
        let listeners = bind_all(std::slice::from_ref(&bind), options()).unwrap();
        assert_eq!(listeners[0].describe(), bind);
        drop(listeners);
        // A stale socket file is replaced; a regular file is not.
        assert!(bind_all(std::slice::from_ref(&bind), options()).is_ok());
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"not a socket").unwrap();
        let error = bind_all(&[bind], options()).unwrap_err();
        assert!(error.to_string().contains("not a socket"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bad_bind_names_itself() {
        let error = bind_all(&["no-such-host.invalid:80".to_owned()], options()).unwrap_err();
        assert!(
            error.to_string().contains("no-such-host.invalid:80"),
            "{error}"
        );
    }
}
