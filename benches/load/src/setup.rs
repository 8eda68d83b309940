//! Everything the run needs, installed or built if missing: the `moss`
//! binary (release), the peers (this crate's binaries), a virtualenv under
//! `target/load/venv` with gunicorn and gevent, and wrk (Debian's); and the
//! stamp of the machine and versions.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::procs::Group;
use crate::servers::Paths;
use crate::Settings;

pub struct Tools {
    pub paths: Paths,
    pub wrk: PathBuf,
    pub python: PathBuf,
}

/// The repository's root (this crate is `benches/load` in it).
pub fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.join("../..")
        .canonicalize()
        .unwrap_or_else(|_| here.join("../.."))
}

/// Runs `program args` in `dir` (inheriting stdout/stderr), at most `limit`.
fn step(
    what: &str,
    program: &str,
    args: &[&str],
    dir: &Path,
    envs: &[(&str, &str)],
    limit: Duration,
) -> Result<(), String> {
    eprintln!("load: {what}: {program} {}", args.join(" "));
    let mut command = Command::new(program);
    command.args(args).current_dir(dir).stdin(Stdio::null());
    for (k, v) in envs {
        command.env(k, v);
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("{what}: {program}: {e}"))?;
    let deadline = std::time::Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("{what} failed ({status})")),
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what}: no result within {} s", limit.as_secs()));
            }
        }
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    })
}

fn apt_install(package: &str, root: &Path) -> Result<(), String> {
    let limit = Duration::from_secs(600);
    let env = [("DEBIAN_FRONTEND", "noninteractive")];
    if step(
        "apt-get install",
        "apt-get",
        &["install", "-y", package],
        root,
        &env,
        limit,
    )
    .is_err()
    {
        step("apt-get update", "apt-get", &["update"], root, &env, limit)?;
        step(
            "apt-get install",
            "apt-get",
            &["install", "-y", package],
            root,
            &env,
            limit,
        )?;
    }
    Ok(())
}

pub fn prepare(root: &Path) -> Result<Tools, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let minutes = |m: u64| Duration::from_secs(60 * m);
    // The moss binary, built as the repository builds it (no CARGO_TARGET_DIR
    // of ours).
    let mut command_env: Vec<(&str, &str)> = Vec::new();
    let root_target = root.join("target").display().to_string();
    command_env.push(("CARGO_TARGET_DIR", &root_target));
    // A failed build is no end of the run (the repository may be mid-edit):
    // the moss rows fail with it, the peers still run.
    let moss_build_error = step(
        "build moss",
        &cargo,
        &["build", "--release", "--bin", "moss"],
        root,
        &command_env,
        minutes(30),
    )
    .err();
    if let Some(why) = &moss_build_error {
        eprintln!("load: {why}: every moss row will fail");
    }
    let moss = root.join("target/release/moss");
    // The peers, next to this binary.
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin_dir = exe.parent().ok_or("no directory of the driver")?.to_owned();
    let own_target = bin_dir
        .parent()
        .ok_or("no target directory")?
        .display()
        .to_string();
    let manifest = root.join("benches/load/Cargo.toml").display().to_string();
    step(
        "build the peers",
        &cargo,
        &["build", "--release", "--bins", "--manifest-path", &manifest],
        root,
        &[("CARGO_TARGET_DIR", &own_target)],
        minutes(20),
    )?;
    // gunicorn and gevent in a virtualenv of their own.
    let venv = root.join("target/load/venv");
    let python = venv.join("bin/python");
    let gunicorn = venv.join("bin/gunicorn");
    let has_gevent = || {
        Command::new(&python)
            .args(["-c", "import gevent, gunicorn, packaging"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !gunicorn.is_file() || !has_gevent() {
        let venv_s = venv.display().to_string();
        if step(
            "virtualenv",
            "python3",
            &["-m", "venv", &venv_s],
            root,
            &[],
            minutes(5),
        )
        .is_err()
        {
            apt_install("python3-venv", root)?;
            step(
                "virtualenv",
                "python3",
                &["-m", "venv", &venv_s],
                root,
                &[],
                minutes(5),
            )?;
        }
        let pip = venv.join("bin/pip").display().to_string();
        step(
            "pip install",
            &pip,
            &["install", "-q", "gunicorn", "gevent", "packaging"],
            root,
            &[],
            minutes(15),
        )?;
    }
    let wrk = match which("wrk") {
        Some(wrk) => wrk,
        None => {
            apt_install("wrk", root)?;
            which("wrk").ok_or("wrk is still missing after apt-get install")?
        }
    };
    if which("taskset").is_none() {
        return Err("taskset (util-linux) is missing".into());
    }
    let logs = root.join("target/load/logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    Ok(Tools {
        paths: Paths {
            moss,
            moss_build_error,
            gunicorn,
            wsgi_dir: root.join("benches/load/wsgi"),
            peer_hyper: bin_dir.join("peer-hyper"),
            peer_hyper_tls: bin_dir.join("peer-hyper-tls"),
            peer_may: bin_dir.join("peer-may"),
            logs,
        },
        wrk,
        python,
    })
}

/// The first line a command prints (stdout or stderr), bounded.
fn output_of(program: &Path, args: &[&str]) -> String {
    let log = std::env::temp_dir().join(format!("moss-load-{}.out", std::process::id()));
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let Ok(mut group) = Group::spawn(None, program, &args, &[], &log) else {
        return "unknown".into();
    };
    group.wait_bounded(Duration::from_secs(20));
    drop(group);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("unknown")
        .trim()
        .to_owned()
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The version of `package` in this crate's Cargo.lock.
fn locked_version(root: &Path, package: &str) -> Option<String> {
    let lock = std::fs::read_to_string(root.join("benches/load/Cargo.lock")).ok()?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{package}\"") {
            let version = lines.next()?.strip_prefix("version = ")?;
            return Some(version.trim_matches('"').to_owned());
        }
    }
    None
}

/// The TLS stacks of the TLS scenario: the peer's rustls, wrk's OpenSSL,
/// the certificate.
fn tls_stamp(root: &Path) -> Value {
    let openssl = output_of(Path::new("openssl"), &["version"]);
    json!({
        "peer": format!(
            "rustls {} (ring), tokio-rustls {}",
            locked_version(root, "rustls").unwrap_or_else(|| "?".into()),
            locked_version(root, "tokio-rustls").unwrap_or_else(|| "?".into())
        ),
        "wrk_openssl": openssl,
        "certificate": crate::tls::CERT_KIND,
    })
}

pub fn stamp(tools: &Tools, settings: &Settings, nofile: u64) -> Value {
    let root = crate::setup::repo_root();
    let python = &tools.python;
    let tls = (settings.scenarios.iter().any(|s| s == "tls")).then(|| tls_stamp(&root));
    json!({
        "date": output_of(Path::new("date"), &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
        // SAFETY: plain sysconf (the driver is pinned: not its affinity).
        "cores": unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) },
        "cpu_model": std::fs::read_to_string("/proc/cpuinfo").ok()
            .and_then(|t| t.lines().find_map(|l| l.strip_prefix("model name")).map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())),
        "kernel": output_of(Path::new("uname"), &["-sr"]),
        "rustc": output_of(Path::new("rustc"), &["-V"]),
        "python": output_of(python, &["-V"]),
        "gunicorn": output_of(python, &["-c", "import gunicorn; print(gunicorn.__version__)"]),
        "gevent": output_of(python, &["-c", "import gevent; print(gevent.__version__)"]),
        "wrk": output_of(&tools.wrk, &["-v"]),
        "moss_commit": output_of(Path::new("git"), &["-C", &root.display().to_string(), "describe", "--always", "--dirty"]),
        "nofile_limit": nofile,
        "server_cpu": settings.server_cpu,
        "client_cpu": settings.client_cpu,
        "quick": settings.quick,
        "rounds": settings.rounds,
        "seconds_per_run": settings.seconds,
        "warmup_seconds": settings.warmup,
        "idle_conns": settings.idle_conns,
        "idle_settle_seconds": settings.idle_settle,
        "scenarios": settings.scenarios,
        "servers": settings.servers.iter().map(|s| s.name).collect::<Vec<_>>(),
        "workers": 2,
        "gthread_threads": crate::servers::THREADS,
        "worker_connections": crate::servers::WORKER_CONNECTIONS,
        "wrk_threads": 1,
        "tls": tls,
    })
}
