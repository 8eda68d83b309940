//! The `moss` server's configuration: gunicorn's flags, a TOML config
//! file, their precedence and checks, and the effective settings.
//!
//! A value comes from the command line if given there, else from the
//! config file of `-c/--config`, else from the default shown by `--help`.
//! Each value is checked where it came from, so that a message names the
//! flag, or the file and key, and what it accepts.
//!
//! ```text
//!  argv ──clap──▶ cli::Args ─┐
//!                            ├─ merge::build ─▶ Config ─▶ http_config() ─▶ HttpConfig
//!  -c FILE ──toml──▶ Table ──┘                    └──────▶ render() ─▶ TOML text
//! ```
//!
//! Dependencies, and why each:
//! - `clap` (derive): gunicorn's ~40 flags with short and long names,
//!   aliases, grouped `--help`, defaults shown, and standard usage errors,
//!   declared next to the fields instead of a hand-written parser.
//! - `serde` (derive): `Config` serializes itself for `--print-config`
//!   with per-field formats (seconds, octal umask) instead of a
//!   hand-written printer that could drift from the fields.
//! - `toml`: the config-file format (typed values, comments, octal
//!   integers), read as a table so every key can be checked and unknown
//!   keys named; also writes `--print-config`, so its output is a valid
//!   config file.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use moss_server::config::{Config, WorkerClass};
//!
//! let config = Config::parse_from(["moss", "-w", "4", "-k", "gevent", "--keep-alive", "5", "hello"])
//!     .unwrap();
//! assert_eq!(config.workers, 4);
//! assert_eq!(config.worker_class, WorkerClass::Green);
//! assert_eq!(config.http_config().keep_alive, Duration::from_secs(5));
//! assert!(config.render().contains("workers = 4"));
//! ```

mod cli;
mod error;
mod file;
mod merge;
mod value;

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Serialize, Serializer};

pub use self::error::ConfigError;
pub use self::value::BindAddress;
use crate::{HttpConfig, UnderscoreHeaders};

/// The built-in applications `APP` may name.
pub const APPS: &[&str] = &["hello", "sleep", "echo", "proxy", "status"];

/// The kind of worker process (`-k/--worker-class`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkerClass {
    /// One request at a time per process (`sync`).
    Sync,
    /// A pool of OS threads per process (`gthread`).
    Gthread,
    /// Green threads, one per connection (`green`, alias `gevent`): moss's
    /// default; gunicorn's is `sync`.
    #[value(alias = "gevent")]
    Green,
}

impl WorkerClass {
    /// The canonical name: `sync`, `gthread` or `green`.
    pub fn name(self) -> &'static str {
        match self {
            WorkerClass::Sync => "sync",
            WorkerClass::Gthread => "gthread",
            WorkerClass::Green => "green",
        }
    }
}

impl FromStr for WorkerClass {
    type Err = String;

    /// Parses `sync`, `gthread`, `green` or `gevent`, in any case.
    fn from_str(name: &str) -> Result<Self, String> {
        match name.to_ascii_lowercase().as_str() {
            "sync" => Ok(WorkerClass::Sync),
            "gthread" => Ok(WorkerClass::Gthread),
            "green" | "gevent" => Ok(WorkerClass::Green),
            _ => Err("expected sync, gthread, green or gevent".into()),
        }
    }
}

impl fmt::Display for WorkerClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for WorkerClass {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// The error log's threshold (`--log-level`), in gunicorn's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum LogLevel {
    /// `debug`.
    Debug,
    /// `info`, the default.
    Info,
    /// `warning`.
    Warning,
    /// `error`.
    Error,
    /// `critical`: logged as `error`, the `log` crate's highest level.
    Critical,
}

impl LogLevel {
    /// The name: `debug`, `info`, `warning`, `error` or `critical`.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
            LogLevel::Critical => "critical",
        }
    }

    /// The `log` crate's filter for this level.
    pub fn level_filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Warning => log::LevelFilter::Warn,
            LogLevel::Error | LogLevel::Critical => log::LevelFilter::Error,
        }
    }
}

impl FromStr for LogLevel {
    type Err = String;

    /// Parses a level name, in any case.
    fn from_str(name: &str) -> Result<Self, String> {
        match name.to_ascii_lowercase().as_str() {
            "debug" => Ok(LogLevel::Debug),
            "info" => Ok(LogLevel::Info),
            "warning" => Ok(LogLevel::Warning),
            "error" => Ok(LogLevel::Error),
            "critical" => Ok(LogLevel::Critical),
            _ => Err("expected debug, info, warning, error or critical".into()),
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for LogLevel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// The HTTP engine's limits, as flags and config-file keys spell them
/// (docs/http.md, "Limits"). Zero means "none" where the engine's
/// [`HttpConfig`] takes an `Option`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpSettings {
    /// `--limit-request-line`: bytes of the request line; 0 = 64 KiB cap.
    pub limit_request_line: usize,
    /// `--limit-request-fields`: header fields; 0 = 32768.
    pub limit_request_fields: usize,
    /// `--limit-request-field_size` (or `-field-size`): bytes of a field
    /// line; 0 = 8190.
    pub limit_request_field_size: usize,
    /// `--limit-request-head`: bytes of the whole head; 0 = 1 MiB cap.
    pub limit_request_head: usize,
    /// `--limit-request-body`: bytes of a body; 0 = no limit.
    pub limit_request_body: u64,
    /// `--header-timeout`: time to receive a request head; 0 = none.
    #[serde(serialize_with = "value::serialize_seconds")]
    pub header_timeout: Duration,
    /// `--body-timeout`: longest wait between body reads; 0 = none.
    #[serde(serialize_with = "value::serialize_seconds")]
    pub body_timeout: Duration,
    /// `--body-min-rate`: slowest body rate in bytes per second; 0 = none.
    pub body_min_rate: u64,
    /// `--send-timeout`: longest stall of a response write; 0 = none.
    #[serde(serialize_with = "value::serialize_seconds")]
    pub send_timeout: Duration,
    /// `--header-map`: header names with `_` (`drop`, `refuse`,
    /// `dangerous`).
    #[serde(serialize_with = "serialize_header_map")]
    pub header_map: UnderscoreHeaders,
}

impl Default for HttpSettings {
    /// The engine's defaults, [`HttpConfig::default`].
    fn default() -> Self {
        let engine = HttpConfig::default();
        let seconds = |d: Option<Duration>| d.unwrap_or_default();
        HttpSettings {
            limit_request_line: engine.limit_request_line,
            limit_request_fields: engine.limit_request_fields,
            limit_request_field_size: engine.limit_request_field_size,
            limit_request_head: engine.limit_request_head,
            limit_request_body: engine.limit_request_body.unwrap_or(0),
            header_timeout: seconds(engine.header_timeout),
            body_timeout: seconds(engine.body_timeout),
            body_min_rate: engine.body_min_rate.unwrap_or(0),
            send_timeout: seconds(engine.send_timeout),
            header_map: engine.underscore_headers,
        }
    }
}

/// Parses `--header-map`: `drop`, `refuse` or `dangerous`.
pub(crate) fn parse_header_map(name: &str) -> Result<UnderscoreHeaders, String> {
    match name.to_ascii_lowercase().as_str() {
        "drop" => Ok(UnderscoreHeaders::Drop),
        "refuse" => Ok(UnderscoreHeaders::Refuse),
        "dangerous" => Ok(UnderscoreHeaders::Keep),
        _ => Err("expected drop, refuse or dangerous".into()),
    }
}

fn serialize_header_map<S: Serializer>(
    policy: &UnderscoreHeaders,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(match policy {
        UnderscoreHeaders::Drop => "drop",
        UnderscoreHeaders::Refuse => "refuse",
        UnderscoreHeaders::Keep => "dangerous",
    })
}

/// The effective settings of a `moss` server: flags over the config file
/// over defaults, every value checked.
///
/// Serializes (for [`render`](Config::render)) to the config-file format:
/// every setting but `app` and the three config-handling flags.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// `APP`: the built-in application to serve, one of [`APPS`]; empty
    /// when none was given (a program with its own application).
    #[serde(skip)]
    pub app: String,
    /// `-b/--bind`: addresses to listen on, each valid [`BindAddress`]
    /// syntax; default `["127.0.0.1:8000"]`.
    pub bind: Vec<String>,
    /// `-w/--workers`: worker processes, at least 1; default 1.
    pub workers: usize,
    /// `-k/--worker-class`: default [`WorkerClass::Green`].
    pub worker_class: WorkerClass,
    /// `--threads`: threads per `gthread` worker, at least 1; default 1.
    pub threads: usize,
    /// `--worker-connections`: clients per green worker, at least 1;
    /// default 1000.
    pub worker_connections: usize,
    /// `--max-requests`: requests before a worker restarts; 0 (default) =
    /// never.
    pub max_requests: u64,
    /// `--max-requests-jitter`: random extra requests, 0 to this.
    pub max_requests_jitter: u64,
    /// `-t/--timeout`: a worker silent this long is killed; 0 = never;
    /// default 30 s.
    #[serde(serialize_with = "value::serialize_seconds")]
    pub timeout: Duration,
    /// `--graceful-timeout`: time to finish requests on stop; default 30 s.
    #[serde(serialize_with = "value::serialize_seconds")]
    pub graceful_timeout: Duration,
    /// `--keep-alive`: idle wait for the next request; 0 disables
    /// keep-alive; default 2 s.
    #[serde(serialize_with = "value::serialize_seconds")]
    pub keepalive: Duration,
    /// `--backlog`: pending connections, 1 to `i32::MAX`; default 2048.
    pub backlog: u32,
    /// `--reuse-port`: each worker listens on a `SO_REUSEPORT` socket of its own.
    pub reuse_port: bool,
    /// `-m/--umask`: at most `0o777`; default 0.
    #[serde(serialize_with = "value::serialize_umask")]
    pub umask: u32,
    /// `-u/--user`: name or numeric id to run workers as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `-g/--group`: name or numeric id to run workers as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `-p/--pid`: PID file to write.
    #[serde(
        serialize_with = "value::serialize_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub pidfile: Option<PathBuf>,
    /// `--control-socket`: the master's control socket (`moss ctl`);
    /// `None` (default) = `$XDG_RUNTIME_DIR/moss-PID.sock`, or
    /// `/tmp/moss-UID/moss-PID.sock` without `XDG_RUNTIME_DIR`.
    #[serde(
        serialize_with = "value::serialize_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub control_socket: Option<PathBuf>,
    /// `--no-control-socket`: create no control socket.
    pub control_socket_disable: bool,
    /// `--preload`: load the application before forking.
    pub preload_app: bool,
    /// `--access-logfile`: `-` for stdout; `None` (default) logs no access.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accesslog: Option<String>,
    /// `--access-logformat`: gunicorn's atoms; default gunicorn's format.
    pub access_log_format: String,
    /// `--error-logfile`: `-` (default) for stderr.
    pub errorlog: String,
    /// `--log-level`: default [`LogLevel::Info`].
    pub loglevel: LogLevel,
    /// `--metrics-bind`: address of the metrics listener, [`BindAddress`]
    /// syntax.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_bind: Option<String>,
    /// `--upstream`: `http://` URL of the proxy app's upstream (required
    /// by `proxy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// The HTTP engine's limits; see [`http_config`](Config::http_config).
    #[serde(flatten)]
    pub http: HttpSettings,
    /// Which front ends are trusted: `--forwarded-allow-ips`,
    /// `--proxy-protocol`, `--proxy-allow-ips`, and the config file's
    /// `secure_scheme_headers` table (gunicorn's settings and defaults;
    /// docs/server.md, "Behind a proxy").
    #[serde(flatten)]
    pub trust: crate::trust::Trust,
    /// TLS termination: `--certfile`, `--keyfile`, `--ca-certs`,
    /// `--cert-reqs`, `--ciphers` (docs/server.md, "TLS"). The files are
    /// read when the server starts ([`crate::tls::load`]), not here.
    #[serde(flatten)]
    pub tls: crate::tls::TlsSettings,
    /// `--check-config`: print the configuration and exit 0.
    #[serde(skip)]
    pub check_config: bool,
    /// `--print-config`: print the configuration as TOML and exit 0.
    #[serde(skip)]
    pub print_config: bool,
    /// `-c/--config`: the TOML file read.
    #[serde(skip)]
    pub config_file: Option<PathBuf>,
}

impl Config {
    /// Parses the process's command line (and the config file it names).
    pub fn from_args() -> Result<Config, ConfigError> {
        Config::parse_from(std::env::args_os())
    }

    /// Parses `args`, the program name first, and the config file it names.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Help`] and [`ConfigError::Version`] for `-h` and
    /// `-v`; otherwise the first invalid flag, file or key.
    pub fn parse_from<I, T>(args: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let (args, matches) = cli::parse(args)?;
        let file = match &args.config.config_file {
            Some(path) => Some(file::ConfigFile::read(path)?),
            None => None,
        };
        merge::build(args, matches, file)
    }

    /// The engine's settings: `keepalive` and the [`http`](Config::http)
    /// limits, the rest [`HttpConfig::default`]'s.
    pub fn http_config(&self) -> HttpConfig {
        let http = &self.http;
        let nonzero = |d: Duration| (!d.is_zero()).then_some(d);
        HttpConfig {
            limit_request_line: http.limit_request_line,
            limit_request_fields: http.limit_request_fields,
            limit_request_field_size: http.limit_request_field_size,
            limit_request_head: http.limit_request_head,
            limit_request_body: (http.limit_request_body > 0).then_some(http.limit_request_body),
            header_timeout: nonzero(http.header_timeout),
            body_timeout: nonzero(http.body_timeout),
            body_min_rate: (http.body_min_rate > 0).then_some(http.body_min_rate),
            send_timeout: nonzero(http.send_timeout),
            keep_alive: self.keepalive,
            underscore_headers: http.header_map,
            trust: std::sync::Arc::new(self.trust.clone()),
            ..HttpConfig::default()
        }
    }

    /// The addresses of [`bind`](Config::bind), parsed.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidFlag`] if `bind` was changed after parsing
    /// to an invalid address.
    pub fn bind_addresses(&self) -> Result<Vec<BindAddress>, ConfigError> {
        self.bind
            .iter()
            .map(|bind| {
                bind.parse().map_err(|reason| ConfigError::InvalidFlag {
                    flag: "--bind".into(),
                    value: bind.clone(),
                    reason,
                })
            })
            .collect()
    }

    /// The effective configuration as a TOML config file, the application
    /// named in a leading comment: what `--print-config` and
    /// `--check-config` print, and what `-c` reads back.
    pub fn render(&self) -> String {
        let body = toml::to_string(self)
            .expect("every field serializes to TOML: no maps with non-string keys, paths lossy");
        format!(
            "# moss configuration; run it with: moss -c FILE {}\n{body}",
            self.app
        )
    }
}
