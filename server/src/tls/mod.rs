//! TLS termination: gunicorn's `--certfile`, `--keyfile`, `--ca-certs`, `--cert-reqs` and `--ciphers`, on rustls.
//!
//! ```text
//!   master: TlsSettings ──load──▶ Arc<rustls::ServerConfig>   (at start and on HUP,
//!                                        │                      before any fork)
//!   worker: accept ─▶ [PROXY header] ─▶ handshake ─▶ TlsStream<socket> ─▶ engine
//! ```
//!
//! The master reads and checks the files ([`load`]) before it forks: a
//! missing or bad file, or a key that does not match the certificate, is
//! reported by the master with the file's name, never by workers failing
//! one after another. On HUP it reads them again; bad new files are logged
//! and the previous configuration stays.
//!
//! Session tickets (resumption, TLS 1.3 and 1.2) are sealed with one key
//! made by the master at each load, so every worker forked from it takes
//! every other worker's tickets (`tickets.rs`).
//!
//! A connection is handshaken by the worker that accepted it, within a
//! deadline (`--timeout`, or `--header-timeout` when shorter), then served
//! like a plain one through a TLS stream that implements
//! [`Transport`] over the accepted socket.

pub(crate) mod ciphers;
pub(crate) mod stream;
mod tickets;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use serde::ser::{Serialize, SerializeMap, Serializer};

pub use self::ciphers::DEFAULT_CIPHERS;
use self::stream::Peer;
use crate::{ConnInfo, Transport};

/// The protocol ALPN advertises: the engine speaks HTTP/1.1 only.
pub(crate) const ALPN_HTTP11: &[u8] = b"http/1.1";

/// The handshake deadline when neither `--timeout` nor `--header-timeout`
/// gives one.
pub(crate) const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether clients must present a certificate (`--cert-reqs`, gunicorn's
/// values of Python's `ssl.CERT_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CertReqs {
    /// `0` / `none`: no client certificate is asked for (the default).
    #[default]
    None,
    /// `1` / `optional`: asked for, and verified against `--ca-certs` when
    /// given; a client without one is served.
    Optional,
    /// `2` / `required`: a client without a certificate that
    /// `--ca-certs` verifies fails the handshake.
    Required,
}

impl CertReqs {
    /// gunicorn's number: 0, 1 or 2.
    pub fn number(self) -> u8 {
        match self {
            CertReqs::None => 0,
            CertReqs::Optional => 1,
            CertReqs::Required => 2,
        }
    }
}

impl FromStr for CertReqs {
    type Err = String;

    /// Parses `0`/`none`, `1`/`optional`, `2`/`required` (any case; also
    /// Python's `CERT_NONE`, `CERT_OPTIONAL`, `CERT_REQUIRED`).
    fn from_str(value: &str) -> Result<Self, String> {
        let value = value.trim().to_ascii_lowercase();
        match value.strip_prefix("cert_").unwrap_or(&value) {
            "0" | "none" => Ok(CertReqs::None),
            "1" | "optional" => Ok(CertReqs::Optional),
            "2" | "required" => Ok(CertReqs::Required),
            _ => Err("expected 0 (none), 1 (optional) or 2 (required)".into()),
        }
    }
}

impl fmt::Display for CertReqs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

/// The TLS settings as flags and config-file keys spell them. TLS is on
/// when [`certfile`](Self::certfile) is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// `--certfile`: the PEM certificate chain, server certificate first.
    pub certfile: Option<PathBuf>,
    /// `--keyfile`: the PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub keyfile: Option<PathBuf>,
    /// `--ca-certs`: PEM certificates of the CAs that sign client
    /// certificates.
    pub ca_certs: Option<PathBuf>,
    /// `--cert-reqs`: whether a client certificate is asked for.
    pub cert_reqs: CertReqs,
    /// `--ciphers`: `TLS` (all suites), or colon-separated suite names.
    pub ciphers: String,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            certfile: None,
            keyfile: None,
            ca_certs: None,
            cert_reqs: CertReqs::None,
            ciphers: DEFAULT_CIPHERS.to_owned(),
        }
    }
}

impl TlsSettings {
    /// Whether connections are served over TLS (`--certfile` given).
    pub fn enabled(&self) -> bool {
        self.certfile.is_some()
    }
}

impl Serialize for TlsSettings {
    /// As config-file keys: the paths when set, `cert_reqs` as gunicorn's
    /// number, `ciphers`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (key, path) in [
            ("certfile", &self.certfile),
            ("keyfile", &self.keyfile),
            ("ca_certs", &self.ca_certs),
        ] {
            if let Some(path) = path {
                map.serialize_entry(key, &path.to_string_lossy())?;
            }
        }
        map.serialize_entry("cert_reqs", &self.cert_reqs.number())?;
        map.serialize_entry("ciphers", &self.ciphers)?;
        map.end()
    }
}

/// A certificate, key or CA file that cannot be used, or settings rustls
/// refuses. The message names the flag and the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file that cannot be read, or holds nothing usable.
    #[error("{flag} {}: {cause}", path.display())]
    File {
        /// The flag naming the file, e.g. `--keyfile`.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it cannot be used.
        cause: String,
    },
    /// The key is not the certificate's.
    #[error("--keyfile {} does not match --certfile {}: {cause}", keyfile.display(), certfile.display())]
    Mismatch {
        /// The certificate file.
        certfile: PathBuf,
        /// The key file.
        keyfile: PathBuf,
        /// rustls's reason.
        cause: String,
    },
    /// Settings that do not go together (a key without a certificate).
    #[error("{0}")]
    Settings(String),
}

fn file_error(flag: &'static str, path: &Path, cause: impl fmt::Display) -> TlsError {
    TlsError::File {
        flag,
        path: path.to_owned(),
        cause: cause.to_string(),
    }
}

/// The rustls configuration of `settings`, reading its files; `None`
/// without `--certfile`.
///
/// # Errors
/// A file that cannot be read or parsed, a key that does not match the
/// certificate, a CA file without a usable certificate, unknown ciphers.
pub fn load(settings: &TlsSettings) -> Result<Option<Arc<ServerConfig>>, TlsError> {
    let (certfile, keyfile) = match (&settings.certfile, &settings.keyfile) {
        (None, None) => return Ok(None),
        (Some(certfile), Some(keyfile)) => (certfile, keyfile),
        (Some(_), None) => {
            return Err(TlsError::Settings(
                "--certfile needs --keyfile: the certificate's private key".into(),
            ))
        }
        (None, Some(_)) => {
            return Err(TlsError::Settings(
                "--keyfile needs --certfile: the certificate to serve".into(),
            ))
        }
    };
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = ciphers::parse(&settings.ciphers).map_err(TlsError::Settings)?;
    let provider = Arc::new(provider);

    let certs = read_certs("--certfile", certfile)?;
    let key_flag = "--keyfile";
    let key =
        PrivateKeyDer::from_pem_file(keyfile).map_err(|e| file_error(key_flag, keyfile, e))?;
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| file_error(key_flag, keyfile, e))?;
    match CertifiedKey::new(certs.clone(), signing_key).keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(cause)) => {
            return Err(TlsError::Mismatch {
                certfile: certfile.clone(),
                keyfile: keyfile.clone(),
                cause: format!("{cause:?}"),
            })
        }
        Err(cause) => return Err(file_error("--certfile", certfile, cause)),
    }

    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    for suite in &provider.cipher_suites {
        if !versions.contains(&suite.version()) {
            versions.push(suite.version());
        }
    }
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError::Settings(format!("--ciphers {}: {e}", settings.ciphers)))?;
    let builder = match (settings.cert_reqs, &settings.ca_certs) {
        (CertReqs::None, _) => builder.with_no_client_auth(),
        (_, None) => {
            return Err(TlsError::Settings(format!(
                "--cert-reqs {} needs --ca-certs: the CAs that sign client certificates",
                settings.cert_reqs
            )))
        }
        (reqs, Some(ca_certs)) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs("--ca-certs", ca_certs)? {
                roots
                    .add(cert)
                    .map_err(|e| file_error("--ca-certs", ca_certs, e))?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            let verifier = match reqs {
                CertReqs::Optional => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| file_error("--ca-certs", ca_certs, e))?,
            )
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| file_error(key_flag, keyfile, e))?;
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    // Made here, in the master before it forks: every worker shares the
    // ticket key, so a client resumes whichever worker it reaches.
    config.ticketer = tickets::SharedTickets::shared()
        .map_err(|e| TlsError::Settings(format!("cannot make a session ticket key: {e}")))?;
    Ok(Some(Arc::new(config)))
}

/// The certificates of a PEM file; at least one.
fn read_certs(flag: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(flag, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(flag, path, e))?;
    if certs.is_empty() {
        return Err(file_error(flag, path, "no PEM certificate in it"));
    }
    Ok(certs)
}

/// How long a TLS handshake may take: `--timeout` (gunicorn's worker
/// timeout), or `--header-timeout` when shorter; either counts only when
/// not zero, and [`DEFAULT_HANDSHAKE_TIMEOUT`] applies when both are.
pub(crate) fn handshake_deadline(timeout: Duration, header_timeout: Option<Duration>) -> Duration {
    [Some(timeout), header_timeout]
        .into_iter()
        .flatten()
        .filter(|t| !t.is_zero())
        .min()
        .unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT)
}

/// What a worker needs to terminate TLS: the configuration the master
/// loaded and the handshake deadline.
#[derive(Clone)]
pub(crate) struct Acceptor {
    config: Arc<ServerConfig>,
    deadline: Duration,
}

impl Acceptor {
    pub(crate) fn new(config: Arc<ServerConfig>, deadline: Duration) -> Acceptor {
        Acceptor { config, deadline }
    }

    /// Shakes hands on an accepted connection (after its PROXY header, if
    /// any) and marks `conn` as `https`; `None` once a failure is logged.
    pub(crate) fn accept<S: Transport>(
        &self,
        sock: S,
        conn: &mut ConnInfo,
    ) -> Option<stream::TlsStream<S>> {
        let stream = stream::handshake(sock, &self.config, self.deadline, Peer(conn.peer_addr))?;
        conn.scheme = http::uri::Scheme::HTTPS;
        Some(stream)
    }
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_reqs_takes_gunicorns_numbers_and_words() {
        for (text, reqs) in [
            ("0", CertReqs::None),
            ("none", CertReqs::None),
            ("1", CertReqs::Optional),
            ("Optional", CertReqs::Optional),
            ("2", CertReqs::Required),
            ("CERT_REQUIRED", CertReqs::Required),
        ] {
            assert_eq!(text.parse::<CertReqs>(), Ok(reqs), "{text}");
        }
        assert!("3".parse::<CertReqs>().is_err());
    }

    #[test]
    fn the_handshake_deadline_is_the_shorter_nonzero_timeout() {
        let s = Duration::from_secs;
        assert_eq!(handshake_deadline(s(30), Some(s(10))), s(10));
        assert_eq!(handshake_deadline(s(2), Some(s(30))), s(2));
        assert_eq!(handshake_deadline(s(0), Some(s(5))), s(5));
        assert_eq!(handshake_deadline(s(0), None), DEFAULT_HANDSHAKE_TIMEOUT);
    }

    #[test]
    fn load_names_the_file_at_fault() {
        let pki = testing::Pki::new();
        let dir = pki.write("load");
        let settings = |cert: &str, key: &str| TlsSettings {
            certfile: Some(dir.join(cert)),
            keyfile: Some(dir.join(key)),
            ..TlsSettings::default()
        };
        assert!(load(&settings("cert.pem", "key.pem")).unwrap().is_some());
        assert!(load(&TlsSettings::default()).unwrap().is_none());

        let missing = load(&settings("nope.pem", "key.pem"))
            .unwrap_err()
            .to_string();
        assert!(
            missing.starts_with("--certfile ") && missing.contains("nope.pem"),
            "{missing}"
        );
        std::fs::write(dir.join("bad.pem"), "not a key").unwrap();
        let bad = load(&settings("cert.pem", "bad.pem"))
            .unwrap_err()
            .to_string();
        assert!(
            bad.starts_with("--keyfile ") && bad.contains("bad.pem"),
            "{bad}"
        );
        let other = load(&settings("cert.pem", "client-key.pem")).unwrap_err();
        assert!(matches!(other, TlsError::Mismatch { .. }), "{other}");

        let required = TlsSettings {
            cert_reqs: CertReqs::Required,
            ..settings("cert.pem", "key.pem")
        };
        assert!(load(&required)
            .unwrap_err()
            .to_string()
            .contains("--ca-certs"));
        let verified = TlsSettings {
            ca_certs: Some(dir.join("ca.pem")),
            ..required
        };
        assert!(load(&verified).unwrap().is_some());
    }
}
