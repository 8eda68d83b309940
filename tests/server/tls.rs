//! TLS termination (`--certfile`, `--keyfile`, `--ca-certs`, `--cert-reqs`,
//! `--ciphers`) in every worker class, with certificates made at test time
//! (rcgen) and a real TLS client (rustls over `std::net::TcpStream`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::support::{free_port, Moss, PATIENCE};
use super::CLASSES;

/// A CA, and certificates it signed, as PEM files in a directory of the
/// test's own.
struct Pki {
    dir: PathBuf,
    ca: Certificate,
    ca_key: KeyPair,
}

impl Pki {
    /// A new CA, a server certificate for `localhost` and 127.0.0.1
    /// (`cert.pem`, `key.pem`) and a client certificate (`client.pem`,
    /// `client-key.pem`), in a directory named after `test`.
    fn new(test: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("moss-tls-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "moss test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = params.self_signed(&ca_key).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        let pki = Pki { dir, ca, ca_key };
        pki.issue_server("cert.pem", "key.pem");
        pki.issue(
            Vec::new(),
            ExtendedKeyUsagePurpose::ClientAuth,
            "client.pem",
            "client-key.pem",
        );
        pki
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    fn arg(&self, file: &str) -> String {
        self.path(file).to_str().unwrap().to_owned()
    }

    /// A new server certificate and key, written to `cert` and `key`; the
    /// certificate's DER.
    fn issue_server(&self, cert: &str, key: &str) -> Vec<u8> {
        self.issue(
            vec!["localhost".into(), "127.0.0.1".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
            cert,
            key,
        )
    }

    fn issue(
        &self,
        names: Vec<String>,
        usage: ExtendedKeyUsagePurpose,
        cert: &str,
        key: &str,
    ) -> Vec<u8> {
        let key_pair = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![usage];
        params
            .distinguished_name
            .push(DnType::CommonName, "moss test");
        let signed = params.signed_by(&key_pair, &self.ca, &self.ca_key).unwrap();
        // Written whole then renamed: a server reading them meanwhile sees
        // the old file or the new one.
        for (file, text) in [(cert, signed.pem()), (key, key_pair.serialize_pem())] {
            let partial = self.path(&format!("{file}.partial"));
            std::fs::write(&partial, text).unwrap();
            std::fs::rename(&partial, self.path(file)).unwrap();
        }
        signed.der().to_vec()
    }

    /// The DER of the certificate in `file`.
    fn der(&self, file: &str) -> Vec<u8> {
        CertificateDer::from_pem_file(self.path(file))
            .unwrap()
            .to_vec()
    }

    /// A client trusting the CA, offering `http/1.1`; with the client
    /// certificate if `with_cert`.
    fn client(&self, with_cert: bool) -> Arc<ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots);
        let mut config = match with_cert {
            false => builder.with_no_client_auth(),
            true => {
                let certs = vec![CertificateDer::from_pem_file(self.path("client.pem")).unwrap()];
                let key = PrivateKeyDer::from_pem_file(self.path("client-key.pem")).unwrap();
                builder.with_client_auth_cert(certs, key).unwrap()
            }
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// `moss -k CLASS --certfile … --keyfile … ARGS`.
    fn start(&self, class: &str, args: &[&str]) -> Moss {
        let (cert, key) = (self.arg("cert.pem"), self.arg("key.pem"));
        let mut full = vec!["-k", class, "--certfile", &cert, "--keyfile", &key];
        full.extend_from_slice(args);
        Moss::start(&full)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A TLS connection to `addr`, its handshake done; every read and write
/// bounded by [`PATIENCE`].
fn connect(addr: &str, config: &Arc<ClientConfig>) -> std::io::Result<Tls> {
    let sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(PATIENCE))?;
    sock.set_write_timeout(Some(PATIENCE))?;
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(Arc::clone(config), name).map_err(std::io::Error::other)?;
    let mut tls = StreamOwned::new(conn, sock);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

/// One request on `tls`, keeping it open: (status, head, body).
fn exchange(
    tls: &mut Tls,
    method: &str,
    path: &str,
    extra: &str,
    body: &[u8],
) -> std::io::Result<(u16, String, String)> {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Content-Length: {}\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes())?;
    tls.write_all(body)?;
    tls.flush()?;
    let mut received = Vec::new();
    let mut byte = [0; 1];
    while !received.ends_with(b"\r\n\r\n") {
        if tls.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        received.push(byte[0]);
    }
    let head = String::from_utf8(received).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .expect("a Content-Length");
    let mut body = vec![0; length];
    tls.read_exact(&mut body)?;
    Ok((status, head, String::from_utf8(body).unwrap()))
}

/// `GET path` on a new TLS connection: (status, body).
fn https_get(addr: &str, config: &Arc<ClientConfig>, path: &str) -> std::io::Result<(u16, String)> {
    let mut tls = connect(addr, config)?;
    exchange(&mut tls, "GET", path, "", b"").map(|(status, _, body)| (status, body))
}

/// The server certificate a new connection is shown.
fn peer_certificate(addr: &str, config: &Arc<ClientConfig>) -> Vec<u8> {
    let tls = connect(addr, config).unwrap();
    tls.conn.peer_certificates().unwrap()[0].to_vec()
}

/// Reads until the server closes: `true` for an end of stream or a
/// reset, `false` if data came.
fn closed_by_server(sock: &mut TcpStream) -> bool {
    sock.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0; 256];
    match sock.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => {
            assert!(
                !matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "the server never closed the connection"
            );
            true
        }
    }
}

#[test]
fn every_worker_class_serves_https_with_alpn_keep_alive_and_bodies() {
    let pki = Pki::new("classes");
    let client = pki.client(false);
    for class in CLASSES {
        let moss = pki.start(class, &["hello"]);
        moss.wait_log("Listening at: https://127.0.0.1:");
        let mut tls = connect(&moss.addr, &client).unwrap();
        assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]), "{class}");
        assert_eq!(
            tls.conn.peer_certificates().unwrap()[0].to_vec(),
            pki.der("cert.pem"),
            "{class}"
        );
        let (status, head, body) = exchange(&mut tls, "GET", "/", "", b"").unwrap();
        assert_eq!((status, body.as_str()), (200, "Hello, World!"), "{class}");
        if class == "sync" {
            assert!(
                head.to_ascii_lowercase().contains("connection: close"),
                "{head}"
            );
        } else {
            // Keep-alive: a second request on the same TLS connection.
            let (status, _, body) = exchange(&mut tls, "GET", "/again", "", b"").unwrap();
            assert_eq!((status, body.as_str()), (200, "Hello, World!"), "{class}");
        }
        drop(tls);
        assert!(moss.stop().success(), "{class}");

        let echo = pki.start(class, &["echo"]);
        let mut tls = connect(&echo.addr, &client).unwrap();
        let payload = "a TLS body ".repeat(4000);
        let (status, _, body) = exchange(&mut tls, "POST", "/", "", payload.as_bytes()).unwrap();
        assert_eq!(status, 200, "{class}");
        assert!(body == payload, "{class}: the echo differs");
        drop(tls);
        assert!(echo.stop().success(), "{class}");
    }
}

#[test]
fn plain_http_on_the_tls_port_gets_a_400_and_the_worker_serves_on() {
    let pki = Pki::new("plain");
    let client = pki.client(false);
    for class in CLASSES {
        let moss = pki.start(class, &["-w", "1", "hello"]);
        let mut sock = TcpStream::connect(&moss.addr).unwrap();
        sock.set_read_timeout(Some(PATIENCE)).unwrap();
        sock.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        sock.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{class}: {answer}"
        );
        assert!(
            answer.contains("Connection: close\r\n"),
            "{class}: {answer}"
        );
        assert!(
            answer.contains("plain HTTP request sent to HTTPS port"),
            "{class}: {answer}"
        );
        moss.wait_log("plain HTTP request sent to the HTTPS port from 127.0.0.1:");
        assert_eq!(
            https_get(&moss.addr, &client, "/").unwrap(),
            (200, "Hello, World!".to_owned()),
            "{class}"
        );
        assert!(moss.stop().success(), "{class}");
    }
}

#[test]
fn a_stalled_handshake_is_closed_at_its_deadline_and_others_are_served() {
    let pki = Pki::new("stall");
    let client = pki.client(false);
    // Half a ClientHello, as a client that stalls would send.
    let mut hello = Vec::new();
    ClientConnection::new(
        Arc::clone(&client),
        ServerName::try_from("localhost").unwrap(),
    )
    .unwrap()
    .write_tls(&mut hello)
    .unwrap();
    let half = &hello[..hello.len() / 2];
    for class in CLASSES {
        // The handshake's deadline (the header timeout, 1 s) comes well
        // before the heartbeat's (2 s): a sync worker blocked in the
        // handshake until then would be killed by the master instead.
        let moss = pki.start(
            class,
            &[
                "-w",
                "1",
                "--threads",
                "2",
                "--timeout",
                "2",
                "--header-timeout",
                "1",
                "hello",
            ],
        );
        let mut stalled = TcpStream::connect(&moss.addr).unwrap();
        stalled.write_all(half).unwrap();
        if class != "sync" {
            // Served while the stalled handshake is pending (a sync
            // worker with one process serves one connection at a time).
            assert_eq!(
                https_get(&moss.addr, &client, "/").unwrap(),
                (200, "Hello, World!".to_owned()),
                "{class}"
            );
        }
        assert!(closed_by_server(&mut stalled), "{class}");
        moss.wait_log("TLS handshake with 127.0.0.1:");
        assert_eq!(
            https_get(&moss.addr, &client, "/").unwrap(),
            (200, "Hello, World!".to_owned()),
            "{class}: served after the stalled client"
        );
        assert!(moss.stop().success(), "{class}");
    }
}

#[test]
fn cert_reqs_2_needs_a_client_certificate_the_ca_signed() {
    let pki = Pki::new("mtls");
    let ca = pki.arg("ca.pem");
    for (class, reqs) in [("green", "2"), ("sync", "required")] {
        let moss = pki.start(class, &["--ca-certs", &ca, "--cert-reqs", reqs, "hello"]);
        // TLS 1.3: the client's side of the handshake ends before the
        // server checks; the refusal comes as an alert instead of a response.
        let refused = connect(&moss.addr, &pki.client(false))
            .and_then(|mut tls| exchange(&mut tls, "GET", "/", "", b""));
        assert!(refused.is_err(), "{class}: served without a certificate");
        moss.wait_log("TLS handshake with 127.0.0.1:");
        assert_eq!(
            https_get(&moss.addr, &pki.client(true), "/").unwrap(),
            (200, "Hello, World!".to_owned()),
            "{class}"
        );
        assert!(moss.stop().success(), "{class}");
    }
}

/// Runs `moss ARGS` to its exit (killed after [`PATIENCE`]): its status
/// and stderr.
fn run_to_exit(args: &[&str]) -> (ExitStatus, String) {
    let bind = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_moss"))
        .args(["-b", &bind, "--no-control-socket"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > PATIENCE {
            let _ = child.kill();
            panic!("moss {args:?} did not exit");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

#[test]
fn bad_tls_files_and_flags_are_reported_by_the_master_with_exit_code_2() {
    let pki = Pki::new("bad");
    std::fs::write(pki.path("garbage.pem"), "this is no key\n").unwrap();
    let (cert, key) = (pki.arg("cert.pem"), pki.arg("key.pem"));
    let (missing, garbage) = (pki.arg("missing.pem"), pki.arg("garbage.pem"));
    let other_key = pki.arg("client-key.pem");
    let cases: [(&[&str], &str); 7] = [
        (&["--certfile", &missing, "--keyfile", &key], &missing),
        (&["--certfile", &cert, "--keyfile", &garbage], &garbage),
        (&["--certfile", &cert, "--keyfile", &missing], &missing),
        (&["--certfile", &cert, "--keyfile", &other_key], &other_key),
        (&["--keyfile", &key], "--keyfile needs --certfile"),
        (&["--certfile", &cert], "--certfile needs --keyfile"),
        (
            &[
                "--certfile",
                &cert,
                "--keyfile",
                &key,
                "--ciphers",
                "TLS13_AES_128_GCM_SHA256:FOO-BAR",
            ],
            "FOO-BAR",
        ),
    ];
    for (args, named) in cases {
        let mut full = args.to_vec();
        full.push("hello");
        let (status, stderr) = run_to_exit(&full);
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(named),
            "{args:?} does not name {named}: {stderr}"
        );
        assert!(!stderr.contains("Booting worker"), "{args:?}: {stderr}");
    }
    let (status, stderr) = run_to_exit(&["--certfile", &cert, "--keyfile", &other_key, "hello"]);
    assert!(stderr.contains("does not match"), "{status}: {stderr}");
}

#[test]
fn hup_serves_new_certificate_files_and_keeps_the_old_when_they_are_bad() {
    let pki = Pki::new("hup");
    let client = pki.client(false);
    let moss = pki.start("green", &["-w", "1", "hello"]);
    let first = pki.der("cert.pem");
    assert_eq!(peer_certificate(&moss.addr, &client), first);

    let second = pki.issue_server("cert.pem", "key.pem");
    assert_ne!(first, second);
    let before = moss.wait_workers(1, &[]);
    moss.signal("HUP");
    let after = moss.wait_workers(1, &before);
    assert_eq!(peer_certificate(&moss.addr, &client), second);

    std::fs::write(pki.path("key.pem"), "broken\n").unwrap();
    moss.signal("HUP");
    let line = moss.wait_log("Reload failed");
    assert!(line.contains(&pki.arg("key.pem")), "{line}");
    assert_eq!(moss.wait_workers(1, &[]), after, "the workers were kept");
    assert_eq!(peer_certificate(&moss.addr, &client), second);
    assert_eq!(
        https_get(&moss.addr, &client, "/").unwrap(),
        (200, "Hello, World!".to_owned())
    );
    assert!(moss.stop().success());
}

#[test]
fn the_app_sees_https_even_when_an_untrusted_header_says_http() {
    let pki = Pki::new("scheme");
    let log = pki.path("access.log");
    let moss = pki.start(
        "gthread",
        &[
            "--forwarded-allow-ips",
            "10.9.8.7",
            "--access-logfile",
            log.to_str().unwrap(),
            "--access-logformat",
            "scheme=%({wsgi.url_scheme}e)s",
            "hello",
        ],
    );
    let mut tls = connect(&moss.addr, &pki.client(false)).unwrap();
    let (status, _, _) =
        exchange(&mut tls, "GET", "/", "X-Forwarded-Proto: http\r\n", b"").unwrap();
    assert_eq!(status, 200);
    drop(tls);
    assert!(moss.stop().success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().any(|l| l == "scheme=https"), "{text}");
    assert!(!text.lines().any(|l| l == "scheme=http"), "{text}");
}

#[test]
fn tls_settings_come_from_the_config_file_and_print_config_shows_them() {
    let pki = Pki::new("file");
    let file = pki.path("moss.toml");
    std::fs::write(
        &file,
        format!(
            "certfile = {:?}\nkeyfile = {:?}\ncert_reqs = \"none\"\nciphers = \"ECDHE-ECDSA-AES128-GCM-SHA256\"\n",
            pki.arg("cert.pem"),
            pki.arg("key.pem")
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_moss"))
        .args(["-c", file.to_str().unwrap(), "--print-config", "hello"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(
        printed.contains(&format!("certfile = {:?}", pki.arg("cert.pem"))),
        "{printed}"
    );
    assert!(printed.contains("cert_reqs = 0"), "{printed}");
    assert!(
        printed.contains("ciphers = \"ECDHE-ECDSA-AES128-GCM-SHA256\""),
        "{printed}"
    );

    // Only that TLS 1.2 suite is offered.
    let moss = Moss::start(&["-c", file.to_str().unwrap(), "-k", "sync", "hello"]);
    let tls = connect(&moss.addr, &pki.client(false)).unwrap();
    assert_eq!(
        tls.conn.negotiated_cipher_suite().map(|s| s.suite()),
        Some(rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
    );
    assert_eq!(
        tls.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    drop(tls);
    assert!(moss.stop().success());
}

/// The metrics listener stays plain HTTP on a TLS server.
#[test]
fn metrics_stay_plain_http() {
    let pki = Pki::new("metrics");
    let moss = pki.start("sync", &["hello"]);
    assert!(moss.metrics().contains("moss_worker_requests_total"));
    assert!(moss.stop().success());
}

/// Pipelined requests filling exactly the engine's read (16 KiB, one
/// TLS record) and more in a small next record: after the first batch
/// the rest is already decrypted inside rustls, where a poller (the
/// gthread worker's) or a socket wait (the green worker's) cannot see it;
/// the worker must serve it rather than wait for the socket.
#[test]
fn pipelined_requests_that_rustls_already_decrypted_are_served() {
    let pki = Pki::new("pipelined");
    for class in ["gthread", "green"] {
        let moss = pki.start(class, &["--keep-alive", "30", "hello"]);
        let mut tls = connect(&moss.addr, &pki.client(false)).unwrap();
        // One whole record (16 requests) and a small one that a single
        // socket read takes with it.
        const COUNT: usize = 17;
        let mut batch = Vec::new();
        for n in 0..COUNT {
            let start = format!("GET /{n} HTTP/1.1\r\nHost: localhost\r\nX-Pad: ");
            let pad = 1024 - start.len() - 4;
            batch.extend_from_slice(start.as_bytes());
            batch.extend(std::iter::repeat_n(b'a', pad));
            batch.extend_from_slice(b"\r\n\r\n");
        }
        assert_eq!(batch.len(), COUNT * 1024);
        tls.write_all(&batch).unwrap();
        tls.flush().unwrap();
        let mut responses = 0;
        let mut received = Vec::new();
        let mut buf = [0; 4096];
        while responses < COUNT {
            let n = tls.read(&mut buf).unwrap();
            assert!(n > 0, "{class}: closed after {responses} responses");
            received.extend_from_slice(&buf[..n]);
            responses = received
                .windows(13)
                .filter(|w| w == b"Hello, World!")
                .count();
        }
        drop(tls);
        assert!(moss.stop().success(), "{class}");
    }
}

#[test]
fn a_client_resumes_its_session_on_any_worker() {
    let pki = Pki::new("resume");
    for class in CLASSES {
        // One client configuration: its session store keeps the tickets.
        let client = pki.client(false);
        let moss = pki.start(class, &["-w", "2", "hello"]);
        moss.wait_log("Listening at: https://127.0.0.1:");
        moss.wait_log_count("Booting worker", 2);
        let mut kinds = Vec::new();
        for _ in 0..12 {
            let mut tls = connect(&moss.addr, &client).unwrap();
            kinds.push(tls.conn.handshake_kind());
            // The tickets come before the answer: read it, and they are kept.
            let (status, _, _) = exchange(&mut tls, "GET", "/", "", b"").unwrap();
            assert_eq!(status, 200, "{class}");
        }
        assert_eq!(kinds[0], Some(rustls::HandshakeKind::Full), "{class}");
        let resumed = kinds[1..]
            .iter()
            .filter(|kind| **kind == Some(rustls::HandshakeKind::Resumed))
            .count();
        assert_eq!(
            resumed, 11,
            "{class}: every reconnection resumes, whichever of the 2 workers takes it: {kinds:?}"
        );
        assert!(moss.stop().success(), "{class}");
    }
}

#[test]
fn a_silent_client_after_its_handshake_holds_no_gthread_thread() {
    let pki = Pki::new("silent");
    let client = pki.client(false);
    // One thread, and a header timeout longer than the test's patience:
    // if the silent client held the thread, the second would wait for it.
    let moss = pki.start(
        "gthread",
        &["--threads", "1", "--header-timeout", "600", "hello"],
    );
    moss.wait_log("Listening at: https://127.0.0.1:");
    let silent = connect(&moss.addr, &client).unwrap();
    let (status, body) = https_get(&moss.addr, &client, "/").unwrap();
    assert_eq!((status, body.as_str()), (200, "Hello, World!"));
    drop(silent);
    assert!(moss.stop().success());
}

#[test]
fn term_during_a_stalled_handshake_stops_every_class_cleanly() {
    let pki = Pki::new("term-stall");
    let client = pki.client(false);
    let mut hello = Vec::new();
    ClientConnection::new(
        Arc::clone(&client),
        ServerName::try_from("localhost").unwrap(),
    )
    .unwrap()
    .write_tls(&mut hello)
    .unwrap();
    let half = &hello[..hello.len() / 2];
    for class in CLASSES {
        // A handshake deadline far beyond the graceful timeout: the stop,
        // not the deadline, ends the stalled handshake.
        let moss = pki.start(
            class,
            &[
                "-w",
                "1",
                "--timeout",
                "600",
                "--header-timeout",
                "600",
                "--graceful-timeout",
                "1",
                "hello",
            ],
        );
        moss.wait_log("Booting worker");
        let mut stalled = TcpStream::connect(&moss.addr).unwrap();
        stalled.write_all(half).unwrap();
        // Reached the worker (served from here on, or queued in sync).
        thread::sleep(Duration::from_millis(200));
        let log = {
            let mut moss = moss;
            moss.signal("TERM");
            let status = moss.wait_exit();
            assert!(status.success(), "{class}: {status:?}");
            moss.log_text()
        };
        assert!(!log.contains("panicked"), "{class}: {log}");
        assert!(closed_by_server(&mut stalled), "{class}");
    }
}
