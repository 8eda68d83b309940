//! The pre-fork server as a library: [`Server`] runs a master that forks workers serving an application, and [`main`] is the `moss` binary.

use std::ffi::OsString;
use std::io;
use std::process::ExitCode;
use std::sync::Arc;

use crate::apps::{self, AppContext};
use crate::config::{Config, ConfigError};
use crate::log::AccessLog;
use crate::master::{AppFactory, Master, Reload};
use crate::scoreboard::Scoreboard;
use crate::tls::TlsError;
use crate::App;

/// A gunicorn-style server: a master process that binds the listeners,
/// forks `--workers` workers of `--worker-class`, and supervises them
/// (heartbeats, signals, reloads), each worker serving the application.
///
/// Built from the command line ([`Server::from_args`], gunicorn's flags and
/// `-c moss.toml`) or from a [`Config`] made in code. The application is
/// one of the demo apps named by `APP` unless [`Server::app`] gives one.
///
/// # Examples
///
/// A binary of your own that takes moss's flags and serves your app:
///
/// ```no_run
/// use moss_server::{Request, Response, Server};
///
/// fn main() -> std::process::ExitCode {
///     let server = match Server::from_args() {
///         Ok(server) => server,
///         Err(error) => return moss_server::report(&error),
///     };
///     let served = server
///         .app(|| |_req: Request| Response::new("Hello from my app".into()))
///         .run();
///     match served {
///         Ok(()) => std::process::ExitCode::SUCCESS,
///         Err(error) => {
///             eprintln!("{error}");
///             std::process::ExitCode::FAILURE
///         }
///     }
/// }
/// ```
pub struct Server {
    config: Config,
    /// The TLS configuration, once loaded ([`Server::load_tls`]).
    tls: Option<Option<Arc<rustls::ServerConfig>>>,
    /// The command line it was built from, read again on HUP.
    args: Option<Vec<OsString>>,
    factory: Option<AppFactory>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .field("app", &self.factory.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl Server {
    /// A server with `config`. A HUP reloads nothing from disk: the
    /// configuration stays this one (workers are still replaced).
    pub fn new(config: Config) -> Server {
        Server {
            config,
            tls: None,
            args: None,
            factory: None,
        }
    }

    /// A server configured by the process's command line (and the file it
    /// names with `-c`), which a HUP reads again.
    ///
    /// # Errors
    /// Invalid flags or file: the error says which and how to fix it
    /// ([`report`] prints it and gives the exit code).
    pub fn from_args() -> Result<Server, ConfigError> {
        Server::from_args_iter(std::env::args_os())
    }

    /// [`Server::from_args`] from the given arguments (the first one is the
    /// program's name).
    ///
    /// # Errors
    /// As [`Server::from_args`].
    pub fn from_args_iter(args: impl IntoIterator<Item = OsString>) -> Result<Server, ConfigError> {
        let args: Vec<OsString> = args.into_iter().collect();
        let config = Config::parse_from(args.clone())?;
        Ok(Server {
            config,
            tls: None,
            args: Some(args),
            factory: None,
        })
    }

    /// The application: `build` runs in each worker after the fork (or once
    /// in the master before it, with `--preload`).
    pub fn app<F, A>(self, build: F) -> Server
    where
        F: Fn() -> A + Send + Sync + 'static,
        A: App + 'static,
    {
        self.try_app(move || Ok(build()))
    }

    /// [`Server::app`] for a build that can fail: the worker then exits
    /// with gunicorn's boot-error code, and the master stops.
    pub fn try_app<F, A>(mut self, build: F) -> Server
    where
        F: Fn() -> io::Result<A> + Send + Sync + 'static,
        A: App + 'static,
    {
        self.factory = Some(Arc::new(move || Ok(Arc::new(build()?) as Arc<dyn App>)));
        self
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Reads and checks the TLS certificate, key and CA files of the
    /// configuration (`--certfile`, `--keyfile`, `--ca-certs`), for
    /// [`Server::run`]; without it, `run` reads them itself. Nothing to do
    /// without `--certfile`.
    ///
    /// # Errors
    /// A file that cannot be read or used, or a key that is not the
    /// certificate's: the error names the flag and the file.
    pub fn load_tls(&mut self) -> Result<(), TlsError> {
        self.tls = Some(crate::tls::load(&self.config.tls)?);
        Ok(())
    }

    /// Starts the error log, then runs the master until it is stopped
    /// (TERM, INT, QUIT) or a worker cannot boot.
    ///
    /// # Errors
    /// The TLS files (see [`Server::load_tls`]), binding, the pidfile, the
    /// log files, a preloaded app that fails, or a worker that cannot boot.
    pub fn run(mut self) -> io::Result<()> {
        if self.tls.is_none() {
            self.load_tls()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        }
        let tls = self.tls.take().flatten();
        crate::log::init(&self.config.errorlog, self.config.loglevel.level_filter())?;
        let config = self.config;
        let factory = match self.factory {
            Some(factory) => factory,
            None => demo_factory(&config)?,
        };
        let factory = with_access_log(&config, factory);
        let args = self.args;
        let fallback = config.clone();
        let reload: Reload = Box::new(move || match &args {
            Some(args) => Config::parse_from(args.clone()).map_err(|e| e.to_string()),
            None => Ok(fallback.clone()),
        });
        let master = Master::new(config, tls, reload, factory)?;
        master.run()
    }
}

/// The factory of the demo app `config.app` names; checked now, so that a
/// wrong name fails before anything is bound.
fn demo_factory(config: &Config) -> io::Result<AppFactory> {
    let name = config.app.clone();
    if !apps::DEMO_APPS.iter().any(|(app, _)| *app == name) {
        let names: Vec<&str> = apps::DEMO_APPS.iter().map(|(app, _)| *app).collect();
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "unknown app {name:?}: the demo apps are {}",
                names.join(", ")
            ),
        ));
    }
    let class = config.worker_class.to_string();
    let upstream = config.upstream.clone();
    let master_pid = std::process::id();
    let started = std::time::SystemTime::now();
    Ok(Arc::new(move || {
        let context = AppContext {
            scoreboard: Scoreboard::current(),
            worker_class: class.clone(),
            upstream: upstream.clone(),
            master_pid,
            started,
        };
        apps::demo_app(&name, context)
            .map(Arc::from)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
    }))
}

/// Wraps the factory's apps in the access log, when `--access-logfile` asks.
fn with_access_log(config: &Config, factory: AppFactory) -> AppFactory {
    let Some(target) = config.accesslog.clone() else {
        return factory;
    };
    let format = config.access_log_format.clone();
    Arc::new(move || {
        let app = factory()?;
        let log = AccessLog::new(&target, &format)?;
        Ok(Arc::new(log.wrap(app)) as Arc<dyn App>)
    })
}

/// The `moss` binary: parses the command line, prints `--check-config` and
/// `--print-config`, and runs the server on the demo app `APP`; `moss ctl
/// …` is the control socket's client instead.
///
/// Exit codes: 0 after a stop, 1 when serving failed, 2 for invalid flags
/// or configuration.
pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|arg| arg == "ctl") {
        return crate::ctl::main(&args[2..]);
    }
    let mut server = match Server::from_args() {
        Ok(server) => server,
        Err(error) => return report(&error),
    };
    if server.config().print_config {
        print!("{}", server.config().render());
        return ExitCode::SUCCESS;
    }
    // The master reads the TLS files before anything else: a bad one is a
    // configuration error, never workers failing one after another.
    if let Err(error) = server.load_tls() {
        eprintln!("moss: {error}");
        return ExitCode::from(2);
    }
    let config = server.config();
    if config.check_config {
        print!("{}", config.render());
        return ExitCode::SUCCESS;
    }
    if config.app.is_empty() {
        let names: Vec<&str> = apps::DEMO_APPS.iter().map(|(name, _)| *name).collect();
        eprintln!(
            "moss: no APP given: name one of {} (moss --help)",
            names.join(", ")
        );
        return ExitCode::from(2);
    }
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("moss: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a configuration error as the `moss` binary does (help and
/// version text to stdout, errors to stderr) and returns its exit code: 0
/// for `--help` and `--version`, 2 otherwise.
pub fn report(error: &ConfigError) -> ExitCode {
    match error {
        ConfigError::Help(text) | ConfigError::Version(text) => print!("{text}"),
        error => eprintln!("moss: {error}"),
    }
    ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2))
}
