//! The TLS scenario's certificate, made at the start of the scenario, and
//! the readiness check of a server that speaks HTTPS.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};

/// A self-signed certificate and its key, as PEM files.
pub struct Files {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// What the readiness check trusts (the certificate itself).
    config: Arc<rustls::ClientConfig>,
}

/// What the certificate is, for the stamp.
pub const CERT_KIND: &str = "self-signed ECDSA P-256 (rcgen, ring), SAN localhost and 127.0.0.1";

/// Makes a self-signed certificate (ECDSA P-256, rcgen's default) for
/// `localhost` and `127.0.0.1`, and writes `tls-cert.pem` and `tls-key.pem`
/// (PKCS#8) into `dir`.
pub fn make_cert(dir: &Path) -> Result<Files, String> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(names).map_err(|e| format!("rcgen: {e}"))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let cert_path = dir.join("tls-cert.pem");
    let key_path = dir.join("tls-key.pem");
    std::fs::write(&cert_path, cert.pem()).map_err(|e| format!("{}: {e}", cert_path.display()))?;
    std::fs::write(&key_path, key_pair.serialize_pem())
        .map_err(|e| format!("{}: {e}", key_path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(cert.der().to_vec()))
        .map_err(|e| format!("the certificate as a root: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Files {
        cert: cert_path,
        key: key_path,
        config: Arc::new(config),
    })
}

/// One HTTPS `GET /` (certificate verified against `files`' own): the
/// status line's start, or why not.
fn probe(addr: SocketAddr, files: &Files) -> Result<(), String> {
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_millis(500))
        .map_err(|e| format!("connect: {e}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").expect("a DNS name");
    let conn = rustls::ClientConnection::new(Arc::clone(&files.config), name)
        .map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("TLS handshake or write: {e}"))?;
    let mut answer = [0u8; 16];
    let mut got = 0;
    while got < 8 {
        match tls.read(&mut answer[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(format!("TLS read: {e}")),
        }
    }
    if answer[..got].starts_with(b"HTTP/1.") {
        Ok(())
    } else {
        Err(format!(
            "not an HTTP answer: {:?}",
            String::from_utf8_lossy(&answer[..got])
        ))
    }
}

/// Waits (at most `limit`, and while `alive`) until the server at `addr`
/// answers an HTTPS request; the last failure otherwise.
pub fn wait_https(
    addr: SocketAddr,
    files: &Files,
    limit: Duration,
    mut alive: impl FnMut() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    let mut last = String::from("no attempt");
    while Instant::now() < deadline {
        match probe(addr, files) {
            Ok(()) => return Ok(()),
            Err(why) => last = why,
        }
        if !alive() {
            return Err(format!("{last} (it exited)"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(last)
}
