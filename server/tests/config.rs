//! The `moss` command line and config file: defaults, every flag,
//! precedence, messages and exit codes, `--print-config` round trips.

use std::path::PathBuf;
use std::time::Duration;

use moss_server::config::{BindAddress, Config, ConfigError, HttpSettings, LogLevel, WorkerClass};
use moss_server::{HttpConfig, UnderscoreHeaders, DEFAULT_LIMIT_REQUEST_BODY};

fn parse(args: &[&str]) -> Result<Config, ConfigError> {
    Config::parse_from(std::iter::once("moss").chain(args.iter().copied()))
}

/// Writes `contents` to a file named `name` under cargo's scratch folder.
fn config_file(name: &str, contents: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("config-{name}.toml"));
    std::fs::write(&path, contents).unwrap();
    path
}

fn parse_with_file(name: &str, contents: &str, args: &[&str]) -> Result<Config, ConfigError> {
    let path = config_file(name, contents);
    let mut all = vec!["-c", path.to_str().unwrap()];
    all.extend_from_slice(args);
    parse(&all)
}

/// The message and exit code of a refused command line.
fn refusal(result: Result<Config, ConfigError>) -> (String, i32) {
    let err = result.expect_err("accepted");
    (err.to_string(), err.exit_code())
}

#[test]
fn defaults_are_gunicorns_but_green() {
    let config = parse(&["hello"]).unwrap();
    assert_eq!(config.app, "hello");
    assert_eq!(config.bind, ["127.0.0.1:8000"]);
    assert_eq!(config.workers, 1);
    assert_eq!(config.worker_class, WorkerClass::Green);
    assert_eq!(config.threads, 1);
    assert_eq!(config.worker_connections, 1000);
    assert_eq!((config.max_requests, config.max_requests_jitter), (0, 0));
    assert_eq!(config.timeout, Duration::from_secs(30));
    assert_eq!(config.graceful_timeout, Duration::from_secs(30));
    assert_eq!(config.keepalive, Duration::from_secs(2));
    assert_eq!(config.backlog, 2048);
    assert!(!config.reuse_port && !config.preload_app);
    assert_eq!(config.umask, 0);
    assert_eq!((config.user, config.group), (None, None));
    assert_eq!(config.pidfile, None);
    assert_eq!(config.accesslog, None);
    assert_eq!(
        config.access_log_format,
        r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s""#
    );
    assert_eq!(config.errorlog, "-");
    assert_eq!(config.loglevel, LogLevel::Info);
    assert_eq!((config.metrics_bind, config.upstream), (None, None));
    assert!(!config.check_config && !config.print_config);
    assert_eq!(config.config_file, None);
    assert_eq!(config.http, HttpSettings::default());
    assert_eq!(config.http.limit_request_body, DEFAULT_LIMIT_REQUEST_BODY);
}

#[test]
fn default_http_config_is_the_engines_default() {
    let config = parse(&["hello"]).unwrap();
    assert_eq!(
        format!("{:?}", config.http_config()),
        format!("{:?}", HttpConfig::default())
    );
}

#[test]
fn every_flag_parses() {
    let config = parse(&[
        "--bind=0.0.0.0:80",
        "-b",
        "[::]:8080",
        "--bind",
        "unix:/tmp/moss.sock",
        "-b",
        "fd://3",
        "--backlog=64",
        "--reuse-port",
        "--metrics-bind=127.0.0.1:9100",
        "--workers=3",
        "--worker-class=gthread",
        "--threads=8",
        "--worker-connections=50",
        "--max-requests=1000",
        "--max-requests-jitter=50",
        "--timeout=0",
        "--graceful-timeout=2.5",
        "--keep-alive=0",
        "--access-logfile=-",
        "--access-logformat=%(h)s",
        "--error-logfile=/tmp/err.log",
        "--log-level=DEBUG",
        "--limit-request-line=8190",
        "--limit-request-fields=10",
        "--limit-request-field_size=100",
        "--limit-request-head=4096",
        "--limit-request-body=0",
        "--header-timeout=5",
        "--body-timeout=0",
        "--body-min-rate=0",
        "--send-timeout=0.5",
        "--header-map=dangerous",
        "--preload",
        "--user=nobody",
        "--group=65534",
        "--umask=0o027",
        "--pid=/tmp/moss.pid",
        "--upstream=http://127.0.0.1:9000",
        "--check-config",
        "--print-config",
        "proxy",
    ])
    .unwrap();
    assert_eq!(config.app, "proxy");
    assert_eq!(
        config.bind,
        ["0.0.0.0:80", "[::]:8080", "unix:/tmp/moss.sock", "fd://3"]
    );
    assert_eq!(
        config.bind_addresses().unwrap(),
        [
            BindAddress::Tcp {
                host: "0.0.0.0".into(),
                port: 80
            },
            BindAddress::Tcp {
                host: "::".into(),
                port: 8080
            },
            BindAddress::Unix("/tmp/moss.sock".into()),
            BindAddress::Fd(3),
        ]
    );
    assert_eq!(config.backlog, 64);
    assert!(config.reuse_port);
    assert_eq!(config.metrics_bind.as_deref(), Some("127.0.0.1:9100"));
    assert_eq!(config.workers, 3);
    assert_eq!(config.worker_class, WorkerClass::Gthread);
    assert_eq!(config.threads, 8);
    assert_eq!(config.worker_connections, 50);
    assert_eq!(
        (config.max_requests, config.max_requests_jitter),
        (1000, 50)
    );
    assert_eq!(config.timeout, Duration::ZERO);
    assert_eq!(config.graceful_timeout, Duration::from_millis(2500));
    assert_eq!(config.keepalive, Duration::ZERO);
    assert_eq!(config.accesslog.as_deref(), Some("-"));
    assert_eq!(config.access_log_format, "%(h)s");
    assert_eq!(config.errorlog, "/tmp/err.log");
    assert_eq!(config.loglevel, LogLevel::Debug);
    assert_eq!(config.loglevel.level_filter(), log::LevelFilter::Debug);
    let http = &config.http;
    assert_eq!(http.limit_request_line, 8190);
    assert_eq!(http.limit_request_fields, 10);
    assert_eq!(http.limit_request_field_size, 100);
    assert_eq!(http.limit_request_head, 4096);
    assert_eq!(http.limit_request_body, 0);
    assert_eq!(http.header_timeout, Duration::from_secs(5));
    assert_eq!(http.body_timeout, Duration::ZERO);
    assert_eq!(http.body_min_rate, 0);
    assert_eq!(http.send_timeout, Duration::from_millis(500));
    assert_eq!(http.header_map, UnderscoreHeaders::Keep);
    assert!(config.preload_app);
    assert_eq!(config.user.as_deref(), Some("nobody"));
    assert_eq!(config.group.as_deref(), Some("65534"));
    assert_eq!(config.umask, 0o027);
    assert_eq!(config.pidfile, Some(PathBuf::from("/tmp/moss.pid")));
    assert_eq!(config.upstream.as_deref(), Some("http://127.0.0.1:9000"));
    assert!(config.check_config && config.print_config);

    let engine = config.http_config();
    assert_eq!(engine.limit_request_body, None);
    assert_eq!(engine.header_timeout, Some(Duration::from_secs(5)));
    assert_eq!((engine.body_timeout, engine.body_min_rate), (None, None));
    assert_eq!(engine.send_timeout, Some(Duration::from_millis(500)));
    assert_eq!(engine.keep_alive, Duration::ZERO);
    assert_eq!(engine.underscore_headers, UnderscoreHeaders::Keep);
}

#[test]
fn short_flags_and_aliases_parse() {
    let config = parse(&[
        "-w",
        "2",
        "-k",
        "sync",
        "-t",
        "10",
        "-u",
        "1000",
        "-g",
        "1000",
        "-m",
        "022",
        "-p",
        "moss.pid",
        "--log-file",
        "err.log",
        "--limit-request-field-size",
        "300",
        "echo",
    ])
    .unwrap();
    assert_eq!(config.workers, 2);
    assert_eq!(config.worker_class, WorkerClass::Sync);
    assert_eq!(config.timeout, Duration::from_secs(10));
    assert_eq!(config.user.as_deref(), Some("1000"));
    assert_eq!(config.group.as_deref(), Some("1000"));
    assert_eq!(config.umask, 0o22);
    assert_eq!(config.pidfile, Some(PathBuf::from("moss.pid")));
    assert_eq!(config.errorlog, "err.log");
    assert_eq!(config.http.limit_request_field_size, 300);
}

#[test]
fn gevent_is_an_alias_of_green() {
    let config = parse(&["-k", "gevent", "hello"]).unwrap();
    assert_eq!(config.worker_class, WorkerClass::Green);
    assert_eq!(config.worker_class.to_string(), "green");
    let config = parse_with_file(
        "gevent",
        "worker_class = \"gevent\"",
        &["-k", "sync", "hello"],
    );
    assert_eq!(config.unwrap().worker_class, WorkerClass::Sync);
    let config = parse_with_file("gevent-file", "worker_class = \"gevent\"", &["hello"]);
    assert_eq!(config.unwrap().worker_class, WorkerClass::Green);
    assert_eq!("GEVENT".parse::<WorkerClass>(), Ok(WorkerClass::Green));
}

#[test]
fn flags_override_the_file_and_the_file_overrides_defaults() {
    let file = r#"
        # comments are fine
        workers = 4
        threads = 3
        bind = "unix:/tmp/file.sock"
        keepalive = 5
        limit_request_line = 8190
        umask = 0o077
        preload_app = true
    "#;
    let config = parse_with_file(
        "precedence",
        file,
        &["-w", "2", "--limit-request-line", "100", "hello"],
    )
    .unwrap();
    assert_eq!(config.workers, 2, "flag over file");
    assert_eq!(config.http.limit_request_line, 100, "flag over file");
    assert_eq!(config.threads, 3, "file over default");
    assert_eq!(config.bind, ["unix:/tmp/file.sock"], "file over default");
    assert_eq!(config.keepalive, Duration::from_secs(5));
    assert_eq!(config.umask, 0o077);
    assert!(config.preload_app);
    assert_eq!(config.worker_connections, 1000, "default");
    assert!(config.config_file.is_some());

    let config = parse_with_file(
        "precedence-bind",
        "bind = [\"a:1\", \"b:2\"]",
        &["-b", "c:3", "hello"],
    )
    .unwrap();
    assert_eq!(config.bind, ["c:3"], "flags replace the file's list");
}

#[test]
fn unknown_file_key_names_key_and_path() {
    let path = config_file("unknown", "workers = 2\nwrokers = 3\n");
    let err = parse(&["-c", path.to_str().unwrap(), "hello"]).unwrap_err();
    assert!(matches!(&err, ConfigError::UnknownKey { key, .. } if key == "wrokers"));
    assert_eq!(
        err.to_string(),
        format!("{}: unknown key `wrokers`", path.display())
    );
    assert_eq!(err.exit_code(), 2);
    for key in ["app", "config_file", "print_config", "http"] {
        let (message, _) = refusal(parse_with_file(
            "unknown-key",
            &format!("{key} = 1"),
            &["hello"],
        ));
        assert!(
            message.ends_with(&format!("unknown key `{key}`")),
            "{message}"
        );
    }
}

#[test]
fn bad_flag_values_name_the_flag_and_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["-w", "0"], "--workers 0: must be at least 1"),
        (&["--threads", "0"], "--threads 0: must be at least 1"),
        (
            &["--worker-connections", "0"],
            "--worker-connections 0: must be at least 1",
        ),
        (
            &["--backlog", "0"],
            "--backlog 0: must be from 1 to 2147483647",
        ),
        (
            &["-b", "nope"],
            "--bind nope: expected host:port, [ipv6]:port, unix:PATH or fd://N",
        ),
        (
            &["-b", "::1:80"],
            "--bind ::1:80: an IPv6 address needs brackets, e.g. [::1]:8000",
        ),
        (
            &["-b", "unix:"],
            "--bind unix:: a unix: address needs a path, e.g. unix:/run/moss.sock",
        ),
        (
            &["-b", "fd://x"],
            "--bind fd://x: fd:// needs a descriptor number, e.g. fd://3",
        ),
        (
            &["--metrics-bind", "x"],
            "--metrics-bind x: expected host:port, [ipv6]:port, unix:PATH or fd://N",
        ),
        (
            &["--upstream", "ftp://x"],
            "--upstream ftp://x: expected an http:// URL, e.g. http://127.0.0.1:9000",
        ),
        (
            &["--limit-request-line", "70000"],
            "--limit-request-line 70000: must be from 0 to 65536 (0 = 64 KiB, the cap)",
        ),
        (
            &["--limit-request-fields", "40000"],
            "--limit-request-fields 40000: must be from 0 to 32768 (0 = 32768)",
        ),
    ];
    for (args, message) in cases {
        let mut all = args.to_vec();
        all.push("hello");
        assert_eq!(refusal(parse(&all)), (message.to_string(), 2), "{args:?}");
    }
}

#[test]
fn unparsable_flag_values_are_usage_errors() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["-m", "0o1000", "hello"],
            "invalid value '0o1000' for '--umask <INT>': must be from 0 to 0o777",
        ),
        (&["--timeout=-1", "hello"], "must be at least 0 seconds"),
        (&["-t", "soon", "hello"], "expected seconds, e.g. 30 or 0.5"),
        (
            &["-k", "eventlet", "hello"],
            "[possible values: sync, gthread, green]",
        ),
        (
            &["--log-level", "loud", "hello"],
            "[possible values: debug, info, warning, error, critical]",
        ),
        (
            &["--header-map", "keep", "hello"],
            "expected drop, refuse or dangerous",
        ),
        (&["-w", "many", "hello"], "'--workers <INT>'"),
        (
            &["--wrkers", "2", "hello"],
            "unexpected argument '--wrkers'",
        ),
        (
            &["nonesuch"],
            "[possible values: hello, sleep, echo, proxy, status]",
        ),
    ];
    for (args, needle) in cases {
        let err = parse(args).unwrap_err();
        assert!(matches!(err, ConfigError::Usage(_)), "{args:?}: {err:?}");
        assert!(err.to_string().contains(needle), "{args:?}: {err}");
        assert!(!err.to_string().starts_with("error:"), "{err}");
        assert_eq!(err.exit_code(), 2);
    }
}

/// A program that embeds the server with its own application takes no APP.
#[test]
fn app_may_be_left_out() {
    assert_eq!(parse(&[]).unwrap().app, "");
}

#[test]
fn bad_file_values_name_path_key_and_range() {
    let cases = [
        ("workers = 0", "workers = 0: must be at least 1"),
        ("workers = -1", "workers = -1: must not be negative"),
        (
            "workers = \"four\"",
            "workers = \"four\": expected an integer",
        ),
        (
            "timeout = -2.5",
            "timeout = -2.5: must be at least 0 seconds",
        ),
        (
            "keepalive = \"2\"",
            "keepalive = \"2\": expected seconds, e.g. 30 or 0.5",
        ),
        ("umask = 512", "umask = 512: must be from 0 to 0o777"),
        (
            "umask = \"0o1000\"",
            "umask = \"0o1000\": must be from 0 to 0o777",
        ),
        ("bind = []", "bind = []: needs at least one address"),
        ("bind = [\"ok:1\", \"bad\"]", "bad: expected host:port"),
        (
            "worker_class = \"eventlet\"",
            "expected sync, gthread, green or gevent",
        ),
        (
            "loglevel = \"loud\"",
            "expected debug, info, warning, error or critical",
        ),
        ("reuse_port = 1", "reuse_port = 1: expected true or false"),
        ("backlog = 99999999999", "backlog = 99999999999: too large"),
        (
            "header_map = \"keep\"",
            "expected drop, refuse or dangerous",
        ),
    ];
    for (line, needle) in cases {
        let path = config_file("bad-value", line);
        let err = parse(&["-c", path.to_str().unwrap(), "hello"]).unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidKey { .. }),
            "{line}: {err:?}"
        );
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("{}: ", path.display())),
            "{message}"
        );
        assert!(message.contains(needle), "{line}: {message}");
        assert_eq!(err.exit_code(), 2);
    }
}

#[test]
fn a_bad_file_value_is_refused_even_when_a_flag_overrides_it() {
    let (message, code) = refusal(parse_with_file(
        "overridden",
        "workers = 0",
        &["-w", "2", "hello"],
    ));
    assert!(
        message.ends_with("workers = 0: must be at least 1"),
        "{message}"
    );
    assert_eq!(code, 2);
}

#[test]
fn unreadable_or_malformed_files_exit_2() {
    let err = parse(&["-c", "/nonexistent/moss.toml", "hello"]).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("/nonexistent/moss.toml: "),
        "{err}"
    );
    assert_eq!(err.exit_code(), 2);

    let err = parse_with_file("syntax", "workers = = 2", &["hello"]).unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    assert!(err.to_string().contains("line 1"), "{err}");
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn proxy_needs_an_upstream() {
    let (message, code) = refusal(parse(&["proxy"]));
    assert!(message.contains("--upstream"), "{message}");
    assert_eq!(code, 2);
    let config = parse_with_file("upstream", "upstream = \"http://10.0.0.1:81\"", &["proxy"]);
    assert_eq!(
        config.unwrap().upstream.as_deref(),
        Some("http://10.0.0.1:81")
    );
}

#[test]
fn print_config_output_round_trips_through_the_file_parser() {
    for args in [
        &["hello"][..],
        &[
            "-b",
            "[::1]:1",
            "-b",
            "unix:/tmp/a b.sock",
            "-w",
            "5",
            "-k",
            "gthread",
            "--threads",
            "4",
            "--max-requests",
            "7",
            "-t",
            "0.25",
            "--keep-alive",
            "0",
            "--reuse-port",
            "-m",
            "027",
            "-u",
            "www",
            "-g",
            "www",
            "-p",
            "/run/moss.pid",
            "--preload",
            "--access-logfile",
            "-",
            "--access-logformat",
            "%(h)s \"%(r)s\" 'q'",
            "--log-level",
            "critical",
            "--metrics-bind",
            "127.0.0.1:9100",
            "--upstream",
            "http://u:1/p",
            "--limit-request-body",
            "0",
            "--header-timeout",
            "1.5",
            "--header-map",
            "refuse",
            "--body-min-rate",
            "0",
            "--print-config",
            "proxy",
        ],
    ] {
        let config = parse(args).unwrap();
        let text = config.render();
        let path = config_file("round-trip", &text);
        let reread = parse(&["-c", path.to_str().unwrap(), &config.app]).unwrap();
        let expected = Config {
            config_file: Some(path),
            print_config: false,
            ..config
        };
        assert_eq!(reread, expected, "{text}");
    }
}

#[test]
fn render_names_the_app_and_writes_plain_values() {
    let text = parse(&["-m", "022", "-t", "0.5", "echo"]).unwrap().render();
    assert!(
        text.starts_with("# moss configuration; run it with: moss -c FILE echo\n"),
        "{text}"
    );
    for line in [
        "workers = 1",
        "worker_class = \"green\"",
        "timeout = 0.5",
        "keepalive = 2",
        "umask = \"0o022\"",
        "header_map = \"drop\"",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from\n{text}"
        );
    }
    assert!(
        !text.contains("check_config") && !text.contains("config_file"),
        "{text}"
    );
}

#[test]
fn help_groups_the_flags_like_gunicorn() {
    for flag in ["-h", "--help"] {
        let err = parse(&[flag]).unwrap_err();
        assert_eq!(err.exit_code(), 0);
        let ConfigError::Help(text) = err else {
            panic!("{err:?}")
        };
        assert!(text.contains("Usage: moss [OPTIONS] [APP]"), "{text}");
        let mut last = 0;
        for group in [
            "Server socket:",
            "Worker processes:",
            "Logging:",
            "HTTP limits:",
            "Server mechanics:",
            "Config:",
        ] {
            let at = text
                .find(group)
                .unwrap_or_else(|| panic!("{group} missing from\n{text}"));
            assert!(at > last, "{group} out of order");
            last = at;
        }
        for flag in [
            "--bind <ADDRESS>",
            "--workers <INT>",
            "--log-level <LEVEL>",
            "--limit-request-field_size <INT>",
            "--preload",
            "--check-config",
        ] {
            assert!(text.contains(flag), "{flag} missing");
        }
    }
}

#[test]
fn version_prints_and_exits_0() {
    let err = parse(&["-v"]).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Version(v) if v.starts_with("moss ")),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 0);
}

#[test]
fn tls_flags_and_keys_are_checked_where_they_come_from() {
    use moss_server::tls::CertReqs;
    let config = parse(&["hello"]).unwrap();
    assert!(!config.tls.enabled());
    assert_eq!(config.tls.cert_reqs, CertReqs::None);
    assert_eq!(config.tls.ciphers, "TLS");

    // Files are not read while parsing: the master reads them.
    let config = parse(&[
        "--certfile",
        "c.pem",
        "--keyfile",
        "k.pem",
        "--ca-certs",
        "ca.pem",
        "--cert-reqs",
        "optional",
        "--ciphers",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "hello",
    ])
    .unwrap();
    assert!(config.tls.enabled());
    assert_eq!(config.tls.cert_reqs, CertReqs::Optional);
    let rendered = config.render();
    assert!(rendered.contains("cert_reqs = 1\n"), "{rendered}");
    assert!(rendered.contains("ca_certs = \"ca.pem\"\n"), "{rendered}");

    let file = "certfile = \"c.pem\"\nkeyfile = \"k.pem\"\nca_certs = \"ca.pem\"\ncert_reqs = \"required\"\n";
    let config = parse_with_file("tls", file, &["hello"]).unwrap();
    assert_eq!(config.tls.cert_reqs, CertReqs::Required);
    let config =
        parse_with_file("tls-number", &file.replace("\"required\"", "2"), &["hello"]).unwrap();
    assert_eq!(config.tls.cert_reqs, CertReqs::Required);

    let (message, code) = refusal(parse(&["--keyfile", "k.pem", "hello"]));
    assert_eq!(code, 2);
    assert!(
        message.starts_with("--keyfile needs --certfile"),
        "{message}"
    );
    let (message, code) = refusal(parse(&["--certfile", "c.pem", "hello"]));
    assert_eq!(code, 2);
    assert!(
        message.starts_with("--certfile needs --keyfile"),
        "{message}"
    );
    let (message, code) = refusal(parse(&[
        "--certfile",
        "c.pem",
        "--keyfile",
        "k.pem",
        "--cert-reqs",
        "2",
        "hello",
    ]));
    assert_eq!(code, 2);
    assert!(message.contains("needs --ca-certs"), "{message}");
    let (message, code) = refusal(parse(&["--ciphers", "TLS:NOPE-CIPHER", "hello"]));
    assert_eq!(code, 2);
    assert!(
        message.starts_with("--ciphers TLS:NOPE-CIPHER: unknown or unsupported cipher NOPE-CIPHER"),
        "{message}"
    );
    let (message, code) = refusal(parse_with_file(
        "tls-bad",
        "ciphers = \"RC4-MD5\"\n",
        &["hello"],
    ));
    assert_eq!(code, 2);
    assert!(
        message.contains("ciphers") && message.contains("RC4-MD5"),
        "{message}"
    );
    assert_eq!(refusal(parse(&["--cert-reqs", "3", "hello"])).1, 2);
}
