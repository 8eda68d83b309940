//! The hyper peer over TLS: `peer-hyper` (hyper 1 http1 on a tokio
//! multi-thread runtime with `--threads` worker threads, 2 in the benchmark,
//! a task per connection) behind tokio-rustls: rustls 0.23 with the `ring`
//! provider, TLS 1.3 and 1.2, ALPN `http/1.1`. It serves what the plain
//! peer serves, with the same headers:
//!
//! * `/` (any other path too): `Hello, World!` as `text/plain`;
//! * `/sleep?ms=N`: waits N ms (`tokio::time::sleep`).
//!
//! rustls's default session resumption is on (a stateful cache of 256
//! sessions, two TLS 1.3 tickets per handshake); `--no-resumption` turns it
//! off: every handshake full.
//!
//! `peer-hyper-tls --bind 127.0.0.1:PORT --certfile CERT.pem --keyfile KEY.pem [--threads N] [--no-resumption]`

#[path = "../hyper_service.rs"]
mod hyper_service;

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use hyper_service::hello_or_sleep;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let uri = request.uri();
    Ok(hello_or_sleep(uri).await)
}

/// The server configuration: the certificate chain and key from PEM files,
/// the ring provider, ALPN `http/1.1`; no session resumption if `resume`
/// is false.
fn tls_config(certfile: &str, keyfile: &str, resume: bool) -> Result<rustls::ServerConfig, String> {
    let chain = CertificateDer::pem_file_iter(certfile)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{certfile}: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(keyfile).map_err(|e| format!("{keyfile}: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if !resume {
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
    }
    Ok(config)
}

/// Handshakes so far: full, resumed (a session ticket or id the client
/// kept); printed to stderr (the log) every 2 s when they change.
static FULL: AtomicU64 = AtomicU64::new(0);
static RESUMED: AtomicU64 = AtomicU64::new(0);

fn main() {
    let usage = "usage: peer-hyper-tls --bind ADDR --certfile CERT --keyfile KEY [--threads N] [--no-resumption]";
    let mut resume = true;
    let mut bind = String::from("127.0.0.1:8443");
    let mut threads = 2;
    let (mut certfile, mut keyfile) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--no-resumption" {
            resume = false;
            continue;
        }
        let value = args.next().unwrap_or_default();
        match arg.as_str() {
            "--bind" => bind = value,
            "--threads" => threads = value.parse().expect("--threads N"),
            "--certfile" => certfile = Some(value),
            "--keyfile" => keyfile = Some(value),
            _ => panic!("{usage}"),
        }
    }
    let (Some(certfile), Some(keyfile)) = (certfile, keyfile) else {
        panic!("{usage}");
    };
    let config = match tls_config(&certfile, &keyfile, resume) {
        Ok(config) => config,
        Err(why) => {
            eprintln!("peer-hyper-tls: {why}");
            std::process::exit(1);
        }
    };
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&bind).await.expect("bind");
        eprintln!("peer-hyper-tls listening on https://{}", bind);
        tokio::spawn(async {
            let mut last = (0, 0);
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let now = (FULL.load(Relaxed), RESUMED.load(Relaxed));
                if now != last {
                    eprintln!(
                        "peer-hyper-tls: handshakes full {}, resumed {}",
                        now.0, now.1
                    );
                    last = now;
                }
            }
        });
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(error) => {
                    eprintln!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // The handshake in the connection's task, as the request
                // handling: a slow client holds up no other connection.
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                match stream.get_ref().1.handshake_kind() {
                    Some(rustls::HandshakeKind::Resumed) => RESUMED.fetch_add(1, Relaxed),
                    _ => FULL.fetch_add(1, Relaxed),
                };
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(answer))
                    .await;
            });
        }
    });
}
