//! The TOML config file of `-c/--config`: reading it, and turning its
//! values into settings.
//!
//! Keys are the [`Config`](super::Config) field names, flat (the HTTP
//! limits too); values are TOML integers, floats, strings, booleans and
//! arrays of strings:
//!
//! ```toml
//! bind = ["127.0.0.1:8000", "unix:/run/moss.sock"]
//! workers = 4
//! worker_class = "gthread"
//! keepalive = 5
//! timeout = 0.5
//! umask = 0o022
//! limit_request_line = 8190
//! ```

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::UnderscoreHeaders;
use toml::{Table, Value};

use super::value;
use super::ConfigError;

/// A config file read and parsed, its keys not yet taken by a setting.
pub(crate) struct ConfigFile {
    /// Where it was read from, for messages.
    pub(crate) path: PathBuf,
    /// Keys not taken yet: what is left at the end is unknown.
    pub(crate) table: Table,
}

impl ConfigFile {
    /// Reads and parses the file at `path`.
    pub(crate) fn read(path: &Path) -> Result<ConfigFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let table = text.parse::<Table>().map_err(|err| ConfigError::Syntax {
            path: path.to_owned(),
            message: err.to_string().trim_end().to_owned(),
        })?;
        Ok(ConfigFile {
            path: path.to_owned(),
            table,
        })
    }

    /// Takes key `key` out of the file, converted by `convert` and checked
    /// by `check`; `None` if the file does not set it.
    pub(crate) fn take<T>(
        &mut self,
        key: &str,
        convert: fn(&Value) -> Result<T, String>,
        check: impl Fn(&T) -> Result<(), String>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(raw) = self.table.remove(key) else {
            return Ok(None);
        };
        let value = convert(&raw).and_then(|value| check(&value).map(|()| value));
        value.map(Some).map_err(|reason| ConfigError::InvalidKey {
            path: self.path.clone(),
            key: key.to_owned(),
            value: raw.to_string(),
            reason,
        })
    }

    /// Fails on the first key no setting took.
    pub(crate) fn finish(self) -> Result<(), ConfigError> {
        match self.table.into_iter().next() {
            Some((key, _)) => Err(ConfigError::UnknownKey {
                path: self.path,
                key,
            }),
            None => Ok(()),
        }
    }
}

/// A non-negative integer that fits `T`.
pub(crate) fn integer<T: TryFrom<i64>>(value: &Value) -> Result<T, String> {
    match value {
        Value::Integer(n) if *n < 0 => Err("must not be negative".into()),
        Value::Integer(n) => T::try_from(*n).map_err(|_| "too large".into()),
        _ => Err("expected an integer".into()),
    }
}

/// `true` or `false`.
pub(crate) fn boolean(value: &Value) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| "expected true or false".into())
}

/// A string.
pub(crate) fn string(value: &Value) -> Result<String, String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "expected a string".into())
}

/// A path, as a string.
pub(crate) fn path(value: &Value) -> Result<PathBuf, String> {
    string(value).map(PathBuf::from)
}

/// A string, or an array of strings.
pub(crate) fn strings(value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items.iter().map(string).collect(),
        _ => Err("expected a string or an array of strings".into()),
    }
}

/// Seconds: an integer or a float.
pub(crate) fn seconds(value: &Value) -> Result<Duration, String> {
    match value {
        Value::Integer(n) if *n < 0 => Err("must be at least 0 seconds".into()),
        Value::Integer(n) => Ok(Duration::from_secs(n.unsigned_abs())),
        Value::Float(f) => value::seconds_from_f64(*f),
        _ => Err("expected seconds, e.g. 30 or 0.5".into()),
    }
}

/// A umask: a TOML integer (`0o022`) or a string as on the command line.
pub(crate) fn umask(value: &Value) -> Result<u32, String> {
    match value {
        Value::String(s) => value::parse_umask(s),
        _ => {
            let umask = integer::<u32>(value)?;
            value::check_umask(umask)?;
            Ok(umask)
        }
    }
}

/// A name parsed by `T`'s `FromStr`.
pub(crate) fn name<T: FromStr<Err = String>>(value: &Value) -> Result<T, String> {
    string(value)?.parse()
}

/// `--cert-reqs`: 0, 1, 2, or `none`, `optional`, `required`.
pub(crate) fn cert_reqs(value: &Value) -> Result<crate::tls::CertReqs, String> {
    match value {
        Value::Integer(n) => n.to_string().parse(),
        _ => name(value),
    }
}

/// `drop`, `refuse` or `dangerous`.
pub(crate) fn header_map(value: &Value) -> Result<UnderscoreHeaders, String> {
    super::parse_header_map(&string(value)?)
}
