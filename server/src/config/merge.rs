//! Precedence: a flag given on the command line, else the config file's
//! key, else the flag's default; each value checked where it came from so
//! that a message names the flag, or the file and key.

use clap::parser::ValueSource;
use clap::{ArgMatches, Command};

use super::cli::{self, Args};
use super::file::{self, ConfigFile};
use super::value::{self, at_least_one, at_most};
use super::{Config, ConfigError, HttpSettings};
use crate::tls::{ciphers, CertReqs, TlsSettings};

/// The two sources of a value besides the defaults.
struct Sources {
    matches: ArgMatches,
    command: Command,
    file: Option<ConfigFile>,
}

impl Sources {
    /// Whether `id` was given on the command line (not defaulted).
    fn given(&self, id: &str) -> bool {
        self.matches.value_source(id) == Some(ValueSource::CommandLine)
    }

    /// Setting `id` with a default: `flag` holds the command-line value,
    /// or the default when the flag was not given.
    fn setting<T>(
        &mut self,
        id: &str,
        flag: T,
        convert: fn(&toml::Value) -> Result<T, String>,
        check: impl Fn(&T) -> Result<(), String>,
    ) -> Result<T, ConfigError> {
        let from_file = self.file_value(id, convert, &check)?;
        if self.given(id) {
            check(&flag).map_err(|reason| self.invalid_flag(id, reason))?;
            return Ok(flag);
        }
        Ok(from_file.unwrap_or(flag))
    }

    /// Setting `id` without a default.
    fn optional<T>(
        &mut self,
        id: &str,
        flag: Option<T>,
        convert: fn(&toml::Value) -> Result<T, String>,
        check: impl Fn(&T) -> Result<(), String>,
    ) -> Result<Option<T>, ConfigError> {
        let from_file = self.file_value(id, convert, &check)?;
        match flag {
            Some(flag) => {
                check(&flag).map_err(|reason| self.invalid_flag(id, reason))?;
                Ok(Some(flag))
            }
            None => Ok(from_file),
        }
    }

    /// `--bind`: each address checked on its own, so that the message
    /// shows the one at fault.
    fn binds(&mut self, flag: Vec<String>) -> Result<Vec<String>, ConfigError> {
        let from_file = self.file_value("bind", file::strings, value::check_binds)?;
        if self.given("bind") {
            for bind in &flag {
                value::check_bind(bind).map_err(|reason| ConfigError::InvalidFlag {
                    flag: "--bind".into(),
                    value: bind.clone(),
                    reason,
                })?;
            }
            return Ok(flag);
        }
        Ok(from_file.unwrap_or(flag))
    }

    /// The file's value of `key`, checked even when a flag overrides it.
    fn file_value<T>(
        &mut self,
        key: &str,
        convert: fn(&toml::Value) -> Result<T, String>,
        check: impl Fn(&T) -> Result<(), String>,
    ) -> Result<Option<T>, ConfigError> {
        match &mut self.file {
            Some(file) => file.take(key, convert, check),
            None => Ok(None),
        }
    }

    fn invalid_flag(&self, id: &str, reason: String) -> ConfigError {
        let long = self
            .command
            .get_arguments()
            .find(|arg| arg.get_id() == id)
            .and_then(|arg| arg.get_long())
            .unwrap_or(id);
        let value = self
            .matches
            .get_raw(id)
            .and_then(|mut raw| raw.next_back())
            .map(|raw| raw.to_string_lossy().into_owned())
            .unwrap_or_default();
        ConfigError::InvalidFlag {
            flag: format!("--{long}"),
            value,
            reason,
        }
    }
}

/// Every value passes.
fn any<T>(_: &T) -> Result<(), String> {
    Ok(())
}

/// The effective configuration of a parsed command line and its file.
pub(crate) fn build(
    args: Args,
    matches: ArgMatches,
    file: Option<ConfigFile>,
) -> Result<Config, ConfigError> {
    let mut s = Sources {
        matches,
        command: cli::command(),
        file,
    };
    let (socket, workers, logging, http, mechanics) = (
        args.socket,
        args.workers,
        args.logging,
        args.http,
        args.mechanics,
    );
    let config = Config {
        app: args.app.unwrap_or_default(),
        bind: s.binds(socket.bind)?,
        workers: s.setting("workers", workers.workers, file::integer, at_least_one)?,
        worker_class: s.setting("worker_class", workers.worker_class, file::name, any)?,
        threads: s.setting("threads", workers.threads, file::integer, at_least_one)?,
        worker_connections: s.setting(
            "worker_connections",
            workers.worker_connections,
            file::integer,
            at_least_one,
        )?,
        max_requests: s.setting("max_requests", workers.max_requests, file::integer, any)?,
        max_requests_jitter: s.setting(
            "max_requests_jitter",
            workers.max_requests_jitter,
            file::integer,
            any,
        )?,
        timeout: s.setting("timeout", workers.timeout, file::seconds, any)?,
        graceful_timeout: s.setting(
            "graceful_timeout",
            workers.graceful_timeout,
            file::seconds,
            any,
        )?,
        keepalive: s.setting("keepalive", workers.keepalive, file::seconds, any)?,
        backlog: s.setting(
            "backlog",
            socket.backlog,
            file::integer,
            value::check_backlog,
        )?,
        reuse_port: s.setting("reuse_port", socket.reuse_port, file::boolean, any)?,
        umask: s.setting("umask", mechanics.umask, file::umask, any)?,
        user: s.optional("user", mechanics.user, file::string, any)?,
        group: s.optional("group", mechanics.group, file::string, any)?,
        pidfile: s.optional("pidfile", mechanics.pidfile, file::path, any)?,
        control_socket: s.optional(
            "control_socket",
            mechanics.control_socket,
            file::path,
            |path: &std::path::PathBuf| match path.as_os_str().is_empty() {
                true => Err("must not be empty".into()),
                false => Ok(()),
            },
        )?,
        control_socket_disable: s.setting(
            "control_socket_disable",
            mechanics.control_socket_disable,
            file::boolean,
            any,
        )?,
        preload_app: s.setting("preload_app", mechanics.preload_app, file::boolean, any)?,
        accesslog: s.optional("accesslog", logging.accesslog, file::string, any)?,
        access_log_format: s.setting(
            "access_log_format",
            logging.access_log_format,
            file::string,
            any,
        )?,
        errorlog: s.setting("errorlog", logging.errorlog, file::string, any)?,
        loglevel: s.setting("loglevel", logging.loglevel, file::name, any)?,
        metrics_bind: s.optional(
            "metrics_bind",
            socket.metrics_bind,
            file::string,
            |bind: &String| value::check_bind(bind),
        )?,
        upstream: s.optional(
            "upstream",
            mechanics.upstream,
            file::string,
            |url: &String| value::check_upstream(url),
        )?,
        http: HttpSettings {
            limit_request_line: s.setting(
                "limit_request_line",
                http.limit_request_line,
                file::integer,
                at_most(64 * 1024, "0 = 64 KiB, the cap"),
            )?,
            limit_request_fields: s.setting(
                "limit_request_fields",
                http.limit_request_fields,
                file::integer,
                at_most(32768, "0 = 32768"),
            )?,
            limit_request_field_size: s.setting(
                "limit_request_field_size",
                http.limit_request_field_size,
                file::integer,
                any,
            )?,
            limit_request_head: s.setting(
                "limit_request_head",
                http.limit_request_head,
                file::integer,
                at_most(1 << 20, "0 = 1 MiB, the cap"),
            )?,
            limit_request_body: s.setting(
                "limit_request_body",
                http.limit_request_body,
                file::integer,
                any,
            )?,
            header_timeout: s.setting("header_timeout", http.header_timeout, file::seconds, any)?,
            body_timeout: s.setting("body_timeout", http.body_timeout, file::seconds, any)?,
            body_min_rate: s.setting("body_min_rate", http.body_min_rate, file::integer, any)?,
            send_timeout: s.setting("send_timeout", http.send_timeout, file::seconds, any)?,
            header_map: s.setting("header_map", http.header_map, file::header_map, any)?,
        },
        trust: trust(&mut s, args.proxy)?,
        tls: tls(&mut s, args.tls)?,
        check_config: args.config.check_config,
        print_config: args.config.print_config,
        config_file: args.config.config_file,
    };
    if let Some(file) = s.file {
        file.finish()?;
    }
    check_tls(&config.tls)?;
    if config.app == "proxy" && config.upstream.is_none() {
        return Err(ConfigError::Conflict(
            "the proxy app needs an upstream: --upstream URL, or upstream in the config file"
                .into(),
        ));
    }
    Ok(config)
}

/// The trust settings: flags, file keys, and `FORWARDED_ALLOW_IPS` from the
/// environment in place of `--forwarded-allow-ips`'s default (as gunicorn
/// reads it), below the config file.
fn trust(s: &mut Sources, flags: cli::ProxyArgs) -> Result<crate::trust::Trust, ConfigError> {
    let mut forwarded_allow_ips = flags.forwarded_allow_ips;
    if !s.given("forwarded_allow_ips") {
        if let Some(env) = std::env::var_os("FORWARDED_ALLOW_IPS") {
            let env = env.to_string_lossy().into_owned();
            forwarded_allow_ips = env.parse().map_err(|reason| ConfigError::InvalidFlag {
                flag: "FORWARDED_ALLOW_IPS (environment)".into(),
                value: env.clone(),
                reason,
            })?;
        }
    }
    Ok(crate::trust::Trust {
        forwarded_allow_ips: s.setting(
            "forwarded_allow_ips",
            forwarded_allow_ips,
            file::name,
            any,
        )?,
        // A config-file table only (as in gunicorn, which has no flag).
        secure_scheme_headers: s
            .file_value(
                "secure_scheme_headers",
                crate::trust::secure_scheme_headers_value,
                any,
            )?
            .unwrap_or_else(|| crate::trust::Trust::default().secure_scheme_headers),
        proxy_protocol: s.setting("proxy_protocol", flags.proxy_protocol, file::name, any)?,
        proxy_allow_ips: s.setting("proxy_allow_ips", flags.proxy_allow_ips, file::name, any)?,
    })
}

/// The TLS settings: paths, `cert_reqs` (a number or a word), `ciphers`.
fn tls(s: &mut Sources, flags: cli::TlsArgs) -> Result<TlsSettings, ConfigError> {
    Ok(TlsSettings {
        certfile: s.optional("certfile", flags.certfile, file::path, any)?,
        keyfile: s.optional("keyfile", flags.keyfile, file::path, any)?,
        ca_certs: s.optional("ca_certs", flags.ca_certs, file::path, any)?,
        cert_reqs: s.setting("cert_reqs", flags.cert_reqs, file::cert_reqs, any)?,
        ciphers: s.setting("ciphers", flags.ciphers, file::string, |c: &String| {
            ciphers::check(c)
        })?,
    })
}

/// TLS settings that only work together: a certificate with its key, a
/// client certificate with the CAs that verify it.
fn check_tls(tls: &TlsSettings) -> Result<(), ConfigError> {
    let conflict = |message: &str| Err(ConfigError::Conflict(message.into()));
    match (&tls.certfile, &tls.keyfile) {
        (Some(_), None) => return conflict("--certfile needs --keyfile (or keyfile in the config file): the certificate's private key"),
        (None, Some(_)) => return conflict("--keyfile needs --certfile (or certfile in the config file): the certificate to serve"),
        _ => {}
    }
    if tls.enabled() && tls.cert_reqs != CertReqs::None && tls.ca_certs.is_none() {
        return conflict(
            "--cert-reqs 1 or 2 needs --ca-certs: the CAs that sign client certificates",
        );
    }
    Ok(())
}
