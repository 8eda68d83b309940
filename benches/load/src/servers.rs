//! The servers compared, and how each is started for each scenario.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::procs::{self, Group};
use crate::tls;

/// Threads of a gthread worker (moss and gunicorn alike).
pub const THREADS: usize = 8;
/// `--worker-connections` of moss green/gthread and gunicorn gevent/gthread:
/// room for the 10,000 idle connections on either worker.
pub const WORKER_CONNECTIONS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Moss(&'static str),
    Gunicorn(&'static str),
    May,
    Hyper,
    /// The hyper peer behind tokio-rustls: the TLS scenario only.
    HyperTls,
    /// The same without session resumption (`--no-resumption`): the TLS
    /// scenario's new-connection-per-request runs only (not in [`ALL`]).
    HyperTlsFull,
}

/// A server compared: 2 workers each (2 processes, or 2 worker threads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Server {
    pub name: &'static str,
    pub kind: Kind,
}

pub const ALL: [Server; 9] = [
    Server {
        name: "moss-sync",
        kind: Kind::Moss("sync"),
    },
    Server {
        name: "moss-gthread",
        kind: Kind::Moss("gthread"),
    },
    Server {
        name: "moss-green",
        kind: Kind::Moss("green"),
    },
    Server {
        name: "gunicorn-sync",
        kind: Kind::Gunicorn("sync"),
    },
    Server {
        name: "gunicorn-gthread",
        kind: Kind::Gunicorn("gthread"),
    },
    Server {
        name: "gunicorn-gevent",
        kind: Kind::Gunicorn("gevent"),
    },
    Server {
        name: "may_minihttp",
        kind: Kind::May,
    },
    Server {
        name: "hyper",
        kind: Kind::Hyper,
    },
    Server {
        name: "hyper-tls",
        kind: Kind::HyperTls,
    },
];

impl Server {
    /// A `sync` worker serves one connection at a time and closes it after
    /// each response: it cannot hold idle keep-alive connections.
    pub fn holds_idle(self) -> bool {
        !matches!(self.kind, Kind::Moss("sync") | Kind::Gunicorn("sync"))
    }

    /// Whether the server takes part in `scenario`: the TLS scenario is
    /// moss-green, gunicorn-gevent (both given `--certfile`/`--keyfile`)
    /// and hyper-tls; hyper-tls is in no other.
    pub fn runs(self, scenario: &str) -> bool {
        match scenario {
            "tls" => matches!(
                self.kind,
                Kind::Moss("green") | Kind::Gunicorn("gevent") | Kind::HyperTls
            ),
            _ => self.kind != Kind::HyperTls,
        }
    }

    /// The hyper-tls peer without session resumption.
    pub const HYPER_TLS_FULL: Server = Server {
        name: "hyper-tls-noresume",
        kind: Kind::HyperTlsFull,
    };

    /// Whether the TLS scenario also measures it with a new connection (a
    /// TLS handshake) per request.
    pub fn tls_close(self) -> bool {
        matches!(self.kind, Kind::Moss("green") | Kind::HyperTls)
    }
}

/// What the server should serve.
#[derive(Debug, Clone, Copy)]
pub enum App {
    Hello,
    Sleep,
    Proxy(SocketAddr),
}

/// Where the programs are.
pub struct Paths {
    pub moss: PathBuf,
    /// Why `cargo build --bin moss` failed, if it did: every moss row then
    /// fails with it (the others still run).
    pub moss_build_error: Option<String>,
    pub gunicorn: PathBuf,
    pub wsgi_dir: PathBuf,
    pub peer_hyper: PathBuf,
    pub peer_hyper_tls: PathBuf,
    pub peer_may: PathBuf,
    pub logs: PathBuf,
}

/// A running server: its group, its address.
pub struct Running {
    pub group: Group,
    pub addr: SocketAddr,
}

/// Starts `server` serving `app` on a free port, pinned to `cpu`, with
/// keep-alive `keep_alive` seconds (moss and gunicorn; the Rust peers have
/// no idle timeout), over TLS with `tls`'s certificate and key if given;
/// waits (bounded) until it answers.
pub fn start(
    server: Server,
    app: App,
    cpu: usize,
    keep_alive: u64,
    tls: Option<&tls::Files>,
    paths: &Paths,
) -> Result<Running, String> {
    let tls_args = |args: &mut Vec<String>| {
        if let Some(files) = tls {
            args.extend([
                "--certfile".into(),
                files.cert.display().to_string(),
                "--keyfile".into(),
                files.key.display().to_string(),
            ]);
        }
    };
    if let (Kind::Moss(_), Some(why)) = (server.kind, &paths.moss_build_error) {
        return Err(format!("moss did not build: {why}"));
    }
    let port = procs::free_port().map_err(|e| format!("no free port: {e}"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let bind = addr.to_string();
    let mut envs = Vec::new();
    // moss takes gunicorn's flags: what both are given alike.
    let common = |class: &str| -> Vec<String> {
        vec![
            "-w".into(),
            "2".into(),
            "-k".into(),
            class.into(),
            "-b".into(),
            bind.clone(),
            "--keep-alive".into(),
            keep_alive.to_string(),
            "--log-level".into(),
            "warning".into(),
        ]
    };
    let (program, mut args): (&Path, Vec<String>) = match server.kind {
        Kind::Moss(class) => {
            let mut args = common(class);
            if class == "gthread" {
                args.extend(["--threads".into(), THREADS.to_string()]);
            }
            if class != "sync" {
                args.extend([
                    "--worker-connections".into(),
                    WORKER_CONNECTIONS.to_string(),
                ]);
            }
            tls_args(&mut args);
            match app {
                App::Hello => args.push("hello".into()),
                App::Sleep => args.push("sleep".into()),
                App::Proxy(upstream) => {
                    args.extend(["--upstream".into(), format!("http://{upstream}")]);
                    args.push("proxy".into());
                }
            }
            (&paths.moss, args)
        }
        Kind::Gunicorn(class) => {
            let mut args = common(class);
            args.extend(["--chdir".into(), paths.wsgi_dir.display().to_string()]);
            // `--threads` above 1 turns gunicorn's sync worker into gthread:
            // given to gthread only.
            if class == "gthread" {
                args.extend(["--threads".into(), THREADS.to_string()]);
            }
            if class != "sync" {
                args.extend([
                    "--worker-connections".into(),
                    WORKER_CONNECTIONS.to_string(),
                ]);
            }
            tls_args(&mut args);
            args.push("bench_app:application".into());
            if let App::Proxy(upstream) = app {
                envs.push(("UPSTREAM".to_owned(), upstream.to_string()));
            }
            (&paths.gunicorn, args)
        }
        Kind::May | Kind::Hyper => {
            let program = match server.kind {
                Kind::May => &paths.peer_may,
                _ => &paths.peer_hyper,
            };
            let mut args = vec![
                "--bind".into(),
                bind.clone(),
                "--threads".into(),
                "2".into(),
            ];
            if let App::Proxy(upstream) = app {
                args.extend(["--upstream".into(), upstream.to_string()]);
            }
            (program, args)
        }
        Kind::HyperTls | Kind::HyperTlsFull => {
            let mut args = vec![
                "--bind".into(),
                bind.clone(),
                "--threads".into(),
                "2".into(),
            ];
            tls_args(&mut args);
            if server.kind == Kind::HyperTlsFull {
                args.push("--no-resumption".into());
            }
            (&paths.peer_hyper_tls, args)
        }
    };
    args.shrink_to_fit();
    let tag = match app {
        _ if tls.is_some() => "tls",
        App::Hello if keep_alive > 2 => "idle",
        App::Hello => "hello",
        App::Sleep => "sleep",
        App::Proxy(_) => "proxy",
    };
    let log = paths.logs.join(format!("{}-{tag}.log", server.name));
    let mut group = Group::spawn(Some(cpu), program, &args, &envs, &log)
        .map_err(|e| format!("{} did not start: {e}", program.display()))?;
    let limit = Duration::from_secs(20);
    let ready = match tls {
        None => procs::wait_http(addr, limit)
            .then_some(())
            .ok_or_else(String::new),
        Some(files) => tls::wait_https(addr, files, limit, || group.alive())
            .map_err(|why| format!(" (last HTTPS attempt: {why})")),
    };
    if let Err(why) = ready {
        let exited = !group.alive();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        // A moss built before its TLS options: say so, not only the log.
        let hint = match server.kind {
            Kind::Moss(_) if tls.is_some() && exited && text.contains("certfile") => {
                "this moss binary does not take --certfile/--keyfile (no TLS support yet?); "
            }
            _ => "",
        };
        return Err(format!(
            "{hint}{} {} did not answer on {addr} within 20 s{}{why}; log: {}",
            program.display(),
            args.join(" "),
            if exited { " (it exited)" } else { "" },
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    Ok(Running { group, addr })
}

/// Starts the upstream of the proxy scenario: the hyper peer with one worker
/// thread, pinned to `cpu`.
pub fn start_upstream(cpu: usize, paths: &Paths) -> Result<Running, String> {
    let port = procs::free_port().map_err(|e| format!("no free port: {e}"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let args = vec![
        "--bind".to_owned(),
        addr.to_string(),
        "--threads".to_owned(),
        "1".to_owned(),
    ];
    let log = paths.logs.join(format!("upstream-cpu{cpu}.log"));
    let group = Group::spawn(Some(cpu), &paths.peer_hyper, &args, &[], &log)
        .map_err(|e| format!("upstream did not start: {e}"))?;
    if !procs::wait_http(addr, Duration::from_secs(20)) {
        return Err("the upstream did not answer within 20 s".into());
    }
    Ok(Running { group, addr })
}
