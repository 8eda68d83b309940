//! The command line: every flag, its help text, group and default.
//!
//! Flag defaults here are the defaults of the settings: a value counts as
//! given only when clap reports it came from the command line, so
//! `--help` shows exactly what applies when neither a flag nor the config
//! file sets a value.

use std::ffi::OsString;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches, Parser};

use super::value::{parse_seconds, parse_umask};
use super::{parse_header_map, ConfigError, LogLevel, WorkerClass, APPS};
use crate::tls::CertReqs;
use crate::trust::{AllowList, ProxyProtocol};
use crate::{UnderscoreHeaders, DEFAULT_LIMIT_REQUEST_BODY};

/// gunicorn's default access log format.
pub(crate) const DEFAULT_ACCESS_LOG_FORMAT: &str =
    r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s""#;

/// `moss [OPTIONS] APP`.
#[derive(Parser, Debug)]
#[command(
    name = "moss",
    version,
    about = "moss: a pre-fork HTTP/1.1 server with green-thread workers, run like gunicorn",
    disable_help_flag = true,
    disable_version_flag = true,
    color = clap::ColorChoice::Never
)]
pub(crate) struct Args {
    /// The built-in application to serve (a program that embeds the
    /// server with its own application takes none).
    #[arg(value_name = "APP", value_parser = clap::builder::PossibleValuesParser::new(APPS))]
    pub(crate) app: Option<String>,
    #[command(flatten)]
    pub(crate) socket: SocketArgs,
    #[command(flatten)]
    pub(crate) workers: WorkerArgs,
    #[command(flatten)]
    pub(crate) logging: LoggingArgs,
    #[command(flatten)]
    pub(crate) http: HttpArgs,
    #[command(flatten)]
    pub(crate) mechanics: MechanicsArgs,
    #[command(flatten)]
    pub(crate) proxy: ProxyArgs,
    #[command(flatten)]
    pub(crate) tls: TlsArgs,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
}

/// Where to listen.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Server socket")]
pub(crate) struct SocketArgs {
    /// The socket to bind: HOST:PORT, [IPV6]:PORT, unix:PATH or fd://N; repeat for more.
    #[arg(short, long, value_name = "ADDRESS", default_value = "127.0.0.1:8000", action = ArgAction::Append)]
    pub(crate) bind: Vec<String>,
    /// The maximum number of pending connections.
    #[arg(long, value_name = "INT", default_value_t = 2048)]
    pub(crate) backlog: u32,
    /// Give each worker its own SO_REUSEPORT listening socket (the kernel spreads connections over them).
    #[arg(long)]
    pub(crate) reuse_port: bool,
    /// Serve metrics on this address (same syntax as --bind).
    #[arg(long, value_name = "ADDRESS")]
    pub(crate) metrics_bind: Option<String>,
}

/// How many workers, of which kind, for how long.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Worker processes")]
pub(crate) struct WorkerArgs {
    /// The number of worker processes for handling requests.
    #[arg(short, long, value_name = "INT", default_value_t = 1)]
    pub(crate) workers: usize,
    /// The type of workers to use (gevent is an alias of green; gunicorn's default is sync).
    #[arg(short = 'k', long, value_name = "CLASS", default_value_t = WorkerClass::Green, ignore_case = true)]
    pub(crate) worker_class: WorkerClass,
    /// The number of worker threads for handling requests (gthread).
    #[arg(long, value_name = "INT", default_value_t = 1)]
    pub(crate) threads: usize,
    /// The maximum number of simultaneous clients of a green worker.
    #[arg(long, value_name = "INT", default_value_t = 1000)]
    pub(crate) worker_connections: usize,
    /// Restart a worker after this many requests; 0 disables restarts.
    #[arg(long, value_name = "INT", default_value_t = 0)]
    pub(crate) max_requests: u64,
    /// Add a random 0..=N to --max-requests per worker, to stagger restarts.
    #[arg(long, value_name = "INT", default_value_t = 0)]
    pub(crate) max_requests_jitter: u64,
    /// Kill a worker silent for this many seconds; 0 disables the check.
    #[arg(short, long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    pub(crate) timeout: Duration,
    /// Seconds workers get to finish their requests after a stop or restart.
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    pub(crate) graceful_timeout: Duration,
    /// Seconds to wait for the next request on a keep-alive connection; 0 disables keep-alive.
    #[arg(long = "keep-alive", value_name = "SECONDS", default_value = "2", value_parser = parse_seconds)]
    pub(crate) keepalive: Duration,
}

/// Where logs go and what they say.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Logging")]
pub(crate) struct LoggingArgs {
    /// The access log file to write to; '-' means stdout. No access log by default.
    #[arg(long = "access-logfile", value_name = "FILE")]
    pub(crate) accesslog: Option<String>,
    /// The access log format, in gunicorn's %(x)s atoms.
    #[arg(long = "access-logformat", value_name = "STRING", default_value = DEFAULT_ACCESS_LOG_FORMAT)]
    pub(crate) access_log_format: String,
    /// The error log file to write to; '-' means stderr.
    #[arg(
        long = "error-logfile",
        visible_alias = "log-file",
        value_name = "FILE",
        default_value = "-"
    )]
    pub(crate) errorlog: String,
    /// The granularity of error log outputs.
    #[arg(long = "log-level", value_name = "LEVEL", default_value_t = LogLevel::Info, ignore_case = true)]
    pub(crate) loglevel: LogLevel,
}

/// The HTTP engine's limits (docs/http.md, "Limits").
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "HTTP limits")]
pub(crate) struct HttpArgs {
    /// The maximum size of the request line in bytes (414); 0 = 64 KiB, the cap.
    #[arg(long, value_name = "INT", default_value_t = 4094)]
    pub(crate) limit_request_line: usize,
    /// The maximum number of header fields in a request (431); 0 = 32768.
    #[arg(long, value_name = "INT", default_value_t = 100)]
    pub(crate) limit_request_fields: usize,
    /// The maximum size of a header field line in bytes (431); 0 = 8190.
    #[arg(
        long = "limit-request-field_size",
        visible_alias = "limit-request-field-size",
        value_name = "INT",
        default_value_t = 8190
    )]
    pub(crate) limit_request_field_size: usize,
    /// The maximum size of the whole request head in bytes (431); 0 = 1 MiB, the cap.
    #[arg(long, value_name = "INT", default_value_t = 64 * 1024)]
    pub(crate) limit_request_head: usize,
    /// The maximum size of a request body in bytes (413); 0 = no limit.
    #[arg(long, value_name = "INT", default_value_t = DEFAULT_LIMIT_REQUEST_BODY)]
    pub(crate) limit_request_body: u64,
    /// Seconds allowed to receive a whole request head (408); 0 = no limit.
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    pub(crate) header_timeout: Duration,
    /// Longest wait between two reads of a request body, in seconds (408); 0 = no limit.
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    pub(crate) body_timeout: Duration,
    /// Slowest average request-body rate in bytes per second after --body-timeout (408); 0 = none.
    #[arg(long, value_name = "INT", default_value_t = 1024)]
    pub(crate) body_min_rate: u64,
    /// Longest wait for the client to take response bytes, in seconds; 0 = no limit.
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = parse_seconds)]
    pub(crate) send_timeout: Duration,
    /// Header names with '_': drop them, refuse the request (400), or keep them (dangerous).
    #[arg(long, value_name = "POLICY", default_value = "drop", value_parser = parse_header_map)]
    pub(crate) header_map: UnderscoreHeaders,
}

/// Process-level settings.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Server mechanics")]
pub(crate) struct MechanicsArgs {
    /// Load the application before forking the workers.
    #[arg(long = "preload")]
    pub(crate) preload_app: bool,
    /// Switch worker processes to run as this user (name or id).
    #[arg(short, long, value_name = "USER")]
    pub(crate) user: Option<String>,
    /// Switch worker processes to run as this group (name or id).
    #[arg(short, long, value_name = "GROUP")]
    pub(crate) group: Option<String>,
    /// A bit mask for the file mode of files written by moss: 0o022, 022 or decimal.
    #[arg(short = 'm', long, value_name = "INT", default_value = "0", value_parser = parse_umask)]
    pub(crate) umask: u32,
    /// A filename to use for the PID file.
    #[arg(short, long = "pid", value_name = "FILE")]
    pub(crate) pidfile: Option<PathBuf>,
    /// The master's control socket (`moss ctl`); default $XDG_RUNTIME_DIR/moss-PID.sock or /tmp/moss-UID/moss-PID.sock.
    #[arg(long, value_name = "PATH")]
    pub(crate) control_socket: Option<PathBuf>,
    /// Do not create the control socket.
    #[arg(long = "no-control-socket")]
    pub(crate) control_socket_disable: bool,
    /// The upstream of the proxy app: http://HOST:PORT[/PATH].
    #[arg(long, value_name = "URL")]
    pub(crate) upstream: Option<String>,
}

/// Which front ends are trusted (docs/server.md, "Behind a proxy").
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Proxies")]
pub(crate) struct ProxyArgs {
    /// Front ends (IPs, CIDR networks, '*' for any; comma-separated) whose secure-scheme headers are trusted; default $FORWARDED_ALLOW_IPS, else 127.0.0.1,::1.
    #[arg(long, value_name = "LIST", default_value = crate::trust::DEFAULT_ALLOW_IPS, value_parser = AllowList::from_str)]
    pub(crate) forwarded_allow_ips: AllowList,
    /// Read a PROXY protocol header (v1, v2, or auto: either) before HTTP on connections from --proxy-allow-ips.
    #[arg(long, value_name = "MODE", default_value = "off", value_parser = ProxyProtocol::from_str)]
    pub(crate) proxy_protocol: ProxyProtocol,
    /// Front ends (IPs, CIDR networks, '*' for any; comma-separated) that must send a PROXY header.
    #[arg(long, visible_alias = "proxy-allow-from", value_name = "LIST", default_value = crate::trust::DEFAULT_ALLOW_IPS, value_parser = AllowList::from_str)]
    pub(crate) proxy_allow_ips: AllowList,
}

/// TLS termination (docs/server.md, "TLS").
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "SSL")]
pub(crate) struct TlsArgs {
    /// The PEM certificate chain to serve (turns TLS on; needs --keyfile).
    #[arg(long, value_name = "FILE")]
    pub(crate) certfile: Option<PathBuf>,
    /// The PEM private key of --certfile.
    #[arg(long, value_name = "FILE")]
    pub(crate) keyfile: Option<PathBuf>,
    /// The PEM certificates of the CAs that sign client certificates.
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_certs: Option<PathBuf>,
    /// Whether a client certificate is needed: 0 (none), 1 (optional), 2 (required).
    #[arg(long, value_name = "INT", default_value = "0", value_parser = CertReqs::from_str)]
    pub(crate) cert_reqs: CertReqs,
    /// The cipher suites: TLS (all that rustls offers), or colon-separated names (IANA or OpenSSL).
    #[arg(long, value_name = "CIPHERS", default_value = crate::tls::DEFAULT_CIPHERS)]
    pub(crate) ciphers: String,
}

/// Where settings come from, and checking them.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Config")]
pub(crate) struct ConfigArgs {
    /// Read settings from this TOML file; flags override it.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub(crate) config_file: Option<PathBuf>,
    /// Check the configuration, print it and exit (0 if valid, 2 if not).
    #[arg(long)]
    pub(crate) check_config: bool,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub(crate) print_config: bool,
}

/// The command with gunicorn's `-h/--help` and `-v/--version` in the
/// Config group. Both help flags print the one-line-per-flag form, as
/// gunicorn does.
pub(crate) fn command() -> Command {
    Args::command()
        .next_help_heading("Config")
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::HelpShort)
                .help("Show this help message and exit."),
        )
        .arg(
            Arg::new("version")
                .short('v')
                .long("version")
                .action(ArgAction::Version)
                .help("Show program's version number and exit."),
        )
}

/// Parses a command line into its typed flags and clap's record of which
/// of them were given.
pub(crate) fn parse<I, T>(args: I) -> Result<(Args, ArgMatches), ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let matches = command().try_get_matches_from(args).map_err(from_clap)?;
    let args = Args::from_arg_matches(&matches).map_err(from_clap)?;
    Ok((args, matches))
}

/// Help and version become text to print; anything else a usage error.
fn from_clap(err: clap::Error) -> ConfigError {
    let text = err.render().to_string();
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            ConfigError::Help(text)
        }
        ErrorKind::DisplayVersion => ConfigError::Version(text),
        _ => {
            let text = text.trim_end();
            ConfigError::Usage(text.strip_prefix("error: ").unwrap_or(text).to_owned())
        }
    }
}
