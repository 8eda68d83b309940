//! Why a command line or config file was not accepted, and the exit code
//! that goes with it.

use std::path::PathBuf;

/// A command line or config file that yields no [`Config`](super::Config),
/// or a request for help or the version.
///
/// `Display` gives one message without an `error:` prefix, naming the flag
/// (or the config file and key) and what it accepts; for [`Help`] and
/// [`Version`] it is the text to print on stdout.
///
/// [`Help`]: ConfigError::Help
/// [`Version`]: ConfigError::Version
///
/// # Examples
///
/// ```
/// use moss_server::config::{Config, ConfigError};
///
/// let err = Config::parse_from(["moss", "--workers", "0", "hello"]).unwrap_err();
/// assert_eq!(err.to_string(), "--workers 0: must be at least 1");
/// assert_eq!(err.exit_code(), 2);
///
/// let help = Config::parse_from(["moss", "--help"]).unwrap_err();
/// assert!(matches!(help, ConfigError::Help(_)));
/// assert_eq!(help.exit_code(), 0);
/// ```
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `-h/--help`: the help text, to print on stdout before exiting 0.
    #[error("{0}")]
    Help(String),
    /// `-v/--version`: the version line, to print on stdout before exiting 0.
    #[error("{0}")]
    Version(String),
    /// A command line clap refused: unknown flag, missing APP, a value of
    /// the wrong syntax. The message includes the usage line.
    #[error("{0}")]
    Usage(String),
    /// A flag's value out of its range.
    #[error("{flag} {value}: {reason}")]
    InvalidFlag {
        /// The flag as spelled in `--help`, e.g. `--workers`.
        flag: String,
        /// The value given.
        value: String,
        /// What the flag accepts.
        reason: String,
    },
    /// A config-file value of the wrong type or out of its range.
    #[error("{}: {key} = {value}: {reason}", path.display())]
    InvalidKey {
        /// The config file.
        path: PathBuf,
        /// The key, e.g. `workers`.
        key: String,
        /// The value, in TOML syntax.
        value: String,
        /// What the key accepts.
        reason: String,
    },
    /// A config-file key that names no setting.
    #[error("{}: unknown key `{key}`", path.display())]
    UnknownKey {
        /// The config file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// The config file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The config file is not valid TOML.
    #[error("{}: {message}", path.display())]
    Syntax {
        /// The config file.
        path: PathBuf,
        /// The TOML parser's message, with line and column.
        message: String,
    },
    /// Settings valid one by one that do not go together, e.g. the proxy
    /// app without an upstream.
    #[error("{0}")]
    Conflict(String),
}

impl ConfigError {
    /// The process exit code: 0 for [`Help`](Self::Help) and
    /// [`Version`](Self::Version), 2 (usage error) for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            ConfigError::Help(_) | ConfigError::Version(_) => 0,
            _ => 2,
        }
    }
}
