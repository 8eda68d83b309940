//! Value syntax shared by flags and the config file: seconds, umasks,
//! bind addresses, and the range checks every setting goes through.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::Serializer;

/// One listening address of `--bind`, in gunicorn's syntax.
///
/// # Examples
///
/// ```
/// use moss_server::config::BindAddress;
///
/// let tcp: BindAddress = "[::]:8000".parse().unwrap();
/// assert_eq!(tcp, BindAddress::Tcp { host: "::".into(), port: 8000 });
/// let unix: BindAddress = "unix:/run/moss.sock".parse().unwrap();
/// assert_eq!(unix, BindAddress::Unix("/run/moss.sock".into()));
/// assert_eq!("fd://3".parse::<BindAddress>().unwrap(), BindAddress::Fd(3));
/// assert!("localhost".parse::<BindAddress>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindAddress {
    /// `host:port` or `[ipv6]:port`; `host` is an IP address (without
    /// brackets) or a host name still to be resolved.
    Tcp {
        /// IP address or host name.
        host: String,
        /// Port number; `0` asks the kernel for a free one.
        port: u16,
    },
    /// `unix:PATH` or `unix://PATH`: a Unix domain socket.
    Unix(PathBuf),
    /// `fd://N`: an already listening socket inherited as descriptor `N`.
    Fd(i32),
}

impl FromStr for BindAddress {
    type Err = String;

    fn from_str(address: &str) -> Result<Self, String> {
        if let Some(path) = address
            .strip_prefix("unix://")
            .or_else(|| address.strip_prefix("unix:"))
        {
            if path.is_empty() {
                return Err("a unix: address needs a path, e.g. unix:/run/moss.sock".into());
            }
            return Ok(BindAddress::Unix(path.into()));
        }
        if let Some(fd) = address.strip_prefix("fd://") {
            return match fd.parse::<i32>() {
                Ok(fd) if fd >= 0 => Ok(BindAddress::Fd(fd)),
                _ => Err("fd:// needs a descriptor number, e.g. fd://3".into()),
            };
        }
        let (host, port) = address
            .rsplit_once(':')
            .ok_or("expected host:port, [ipv6]:port, unix:PATH or fd://N")?;
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("port {port:?} is not a number from 0 to 65535"))?;
        let host = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            v6.parse::<std::net::Ipv6Addr>()
                .map_err(|_| format!("[{v6}] is not an IPv6 address"))?;
            v6
        } else if host.contains(':') {
            return Err("an IPv6 address needs brackets, e.g. [::1]:8000".into());
        } else if host.parse::<std::net::Ipv4Addr>().is_ok() || is_host_name(host) {
            host
        } else {
            return Err(format!("{host:?} is neither an IP address nor a host name"));
        };
        Ok(BindAddress::Tcp {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for BindAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindAddress::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            BindAddress::Tcp { host, port } => write!(f, "{host}:{port}"),
            BindAddress::Unix(path) => write!(f, "unix:{}", path.display()),
            BindAddress::Fd(fd) => write!(f, "fd://{fd}"),
        }
    }
}

/// RFC 1123 host name: dot-separated labels of letters, digits and inner
/// hyphens, 253 bytes at most.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Parses seconds, integer or fractional: `30`, `0.5`.
pub(crate) fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| "expected seconds, e.g. 30 or 0.5".to_owned())?;
    seconds_from_f64(seconds)
}

/// A duration of `seconds`, which must be finite and not negative.
pub(crate) fn seconds_from_f64(seconds: f64) -> Result<Duration, String> {
    if seconds < 0.0 {
        return Err("must be at least 0 seconds".into());
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| "expected a finite number of seconds".into())
}

/// Parses a umask as gunicorn does: `0o022`, `022` (leading zero: octal),
/// `0x12`, `0b10010` or decimal `18`; at most `0o777`.
pub(crate) fn parse_umask(text: &str) -> Result<u32, String> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    let parsed = if let Some(octal) = lower.strip_prefix("0o") {
        u32::from_str_radix(octal, 8)
    } else if let Some(hex) = lower.strip_prefix("0x") {
        u32::from_str_radix(hex, 16)
    } else if let Some(binary) = lower.strip_prefix("0b") {
        u32::from_str_radix(binary, 2)
    } else if lower.len() > 1 && lower.starts_with('0') {
        u32::from_str_radix(&lower[1..], 8)
    } else {
        lower.parse()
    };
    let umask = parsed.map_err(|_| "expected an octal mode such as 0o022 or 022".to_owned())?;
    check_umask(umask)?;
    Ok(umask)
}

/// `umask` is a permission mask: `0o777` at most.
pub(crate) fn check_umask(umask: u32) -> Result<(), String> {
    if umask > 0o777 {
        return Err("must be from 0 to 0o777".into());
    }
    Ok(())
}

/// Counts of workers, threads and connections: 1 or more.
pub(crate) fn at_least_one(n: &usize) -> Result<(), String> {
    if *n == 0 {
        return Err("must be at least 1".into());
    }
    Ok(())
}

/// Returns a check that `n` is at most `max`; `what_zero_means` goes in
/// the message.
pub(crate) fn at_most(
    max: usize,
    what_zero_means: &'static str,
) -> impl Fn(&usize) -> Result<(), String> {
    move |n| {
        if *n > max {
            return Err(format!("must be from 0 to {max} ({what_zero_means})"));
        }
        Ok(())
    }
}

/// `listen(2)` takes an `int`: 1 to `i32::MAX`.
pub(crate) fn check_backlog(n: &u32) -> Result<(), String> {
    if *n == 0 || *n > i32::MAX as u32 {
        return Err(format!("must be from 1 to {}", i32::MAX));
    }
    Ok(())
}

/// A non-empty list of valid bind addresses.
pub(crate) fn check_binds(binds: &Vec<String>) -> Result<(), String> {
    if binds.is_empty() {
        return Err("needs at least one address".into());
    }
    for bind in binds {
        check_bind(bind).map_err(|reason| format!("{bind}: {reason}"))?;
    }
    Ok(())
}

/// One valid bind address (`--metrics-bind`).
pub(crate) fn check_bind(bind: &str) -> Result<(), String> {
    bind.parse::<BindAddress>().map(drop)
}

/// An `http://host[:port][/path]` URL: the proxy app speaks plain HTTP/1.1.
pub(crate) fn check_upstream(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("expected an http:// URL, e.g. http://127.0.0.1:9000")?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err("the URL needs a host, e.g. http://127.0.0.1:9000".into());
    }
    Ok(())
}

/// Serializes a duration as whole seconds when it is whole, else as a float.
pub(crate) fn serialize_seconds<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    if d.subsec_nanos() == 0 {
        s.serialize_u64(d.as_secs())
    } else {
        s.serialize_f64(d.as_secs_f64())
    }
}

/// Serializes a umask as an octal string, `"0o022"`.
pub(crate) fn serialize_umask<S: Serializer>(umask: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("0o{umask:03o}"))
}

/// Serializes a path as text, replacing bytes that are not UTF-8.
pub(crate) fn serialize_path<S: Serializer>(
    path: &Option<PathBuf>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match path {
        Some(path) => s.serialize_str(&path.to_string_lossy()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_addresses_in_gunicorn_syntax() {
        let tcp = |host: &str, port| BindAddress::Tcp {
            host: host.into(),
            port,
        };
        assert_eq!("127.0.0.1:8000".parse(), Ok(tcp("127.0.0.1", 8000)));
        assert_eq!("localhost:80".parse(), Ok(tcp("localhost", 80)));
        assert_eq!("[::1]:0".parse(), Ok(tcp("::1", 0)));
        assert_eq!(
            "unix:///tmp/x".parse(),
            Ok(BindAddress::Unix("/tmp/x".into()))
        );
        for bad in [
            "",
            "8000",
            "::1:80",
            "host:",
            "host:99999",
            "unix:",
            "fd://x",
            "fd://-1",
            "a b:1",
            "[x]:1",
        ] {
            assert!(bad.parse::<BindAddress>().is_err(), "{bad:?} accepted");
        }
        assert_eq!(tcp("::", 80).to_string(), "[::]:80");
    }

    #[test]
    fn umask_reads_like_gunicorn() {
        assert_eq!(parse_umask("0o022"), Ok(0o22));
        assert_eq!(parse_umask("022"), Ok(0o22));
        assert_eq!(parse_umask("18"), Ok(18));
        assert_eq!(parse_umask("0x12"), Ok(18));
        assert_eq!(parse_umask("0"), Ok(0));
        assert!(parse_umask("0o1000").is_err());
        assert!(parse_umask("09").is_err());
    }

    #[test]
    fn seconds_take_fractions_and_refuse_negatives() {
        assert_eq!(parse_seconds("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        for bad in ["-1", "inf", "NaN", "1e400", "x"] {
            assert!(parse_seconds(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn upstream_must_be_plain_http() {
        assert!(check_upstream("http://127.0.0.1:9000/x").is_ok());
        assert!(check_upstream("https://a").is_err());
        assert!(check_upstream("http:///x").is_err());
    }
}
