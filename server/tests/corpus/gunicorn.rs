//! gunicorn's request-parser corpus, an external conformance suite (MIT,
//! not part of this repository): every valid file parses as its
//! `expectations.tsv` says, every invalid file is refused with 4xx/5xx and a
//! close, under each of the corpus test's feeds.
//!
//! It is looked for in `$MOSS_HTTP_CORPUS` (absolute, or relative to the
//! repository root), else in `shared/http-corpus/gunicorn` beside the
//! repository. When it is absent the tests pass and say so on stderr;
//! with `MOSS_REQUIRE_HTTP_CORPUS=1` (as CI sets) they fail instead.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};

use moss_server::trust::proxy::{self, Parsed, ProxyError};
use moss_server::trust::{AllowList, ProxyProtocol};
use moss_server::{HttpConfig, UnderscoreHeaders};

use super::util::parse_responses;
use super::{run, Observed, FEEDS};

/// Why the valid rows of HTTP/1.1 requests without `Host` are skipped.
const NO_HOST: &str = "RFC 9112 §3.2: moss requires Host in HTTP/1.1";

/// Rows that hold only under a gunicorn setting moss does not have, or
/// that gunicorn accepts where RFC 9112 or RFC 9110 has moss refuse.
const SKIPPED: &[(&str, &str)] = &[
    ("valid/004.http", NO_HOST),
    ("valid/005.http", NO_HOST),
    ("valid/006.http", NO_HOST),
    ("valid/007.http", NO_HOST),
    ("valid/010.http", NO_HOST),
    ("valid/011.http", NO_HOST),
    ("valid/012.http", NO_HOST),
    ("valid/013.http", NO_HOST),
    ("valid/014.http", NO_HOST),
    ("valid/018.http", NO_HOST),
    ("valid/021.http", NO_HOST),
    ("valid/022.http", NO_HOST),
    ("valid/023.http", NO_HOST),
    ("valid/025.http", NO_HOST),
    ("valid/025_line.http", NO_HOST),
    ("valid/029.http", NO_HOST),
    ("valid/030.http", NO_HOST),
    ("valid/031.http", NO_HOST),
    ("valid/100.http", NO_HOST),
    (
        "valid/009.http",
        "RFC 9112 §6.3 rule 4: moss answers 400 to a Transfer-Encoding whose final \
         coding is not chunked (here identity, with a Content-Length; and no Host)",
    ),
    (
        "valid/rfc9112_target_absolute_https_01.http",
        "RFC 9110 §7.4: moss answers 421 to an https target on a connection that \
         is not secured, and the corpus runs on plain ones",
    ),
    (
        "valid/028.http",
        "strip_header_spaces: moss always refuses whitespace before ':'",
    ),
    (
        "valid/031compat.http",
        "casefold_http_method: moss never rewrites methods",
    ),
    (
        "valid/031compat2.http",
        "permit_unconventional_http_method: moss refuses lower-case methods",
    ),
    (
        "valid/compat_obs_fold.http",
        "permit_obsolete_folding: moss always refuses obs-fold",
    ),
    (
        "valid/compat_obs_fold_huge.http",
        "permit_obsolete_folding: moss always refuses obs-fold",
    ),
    ("valid/pp_02.http", NO_HOST),
    (
        "valid/pp_03.http",
        "proxy_protocol: moss's --proxy-protocol requires the header from an allowed \
         peer (gunicorn's only detects one); a peer outside --proxy-allow-ips is \
         served without one (tests/trust.rs)",
    ),
];

/// Columns not compared for a row, and why.
const PATH_NOT_COMPARED: &[(&str, &str)] = &[
    ("valid/rfc9112_target_authority_connect_01.http", "urlsplit reads 'example.com:443' as scheme 'example.com', path '443'; moss gives CONNECT targets an empty path"),
    ("valid/rfc9112_target_authority_ipv6_01.http", "urlsplit's path for an authority-form target; moss gives CONNECT targets an empty path"),
];

/// The corpus directory, or `None` (said once on stderr) when it is absent
/// and not required.
///
/// # Panics
///
/// When it is absent and `MOSS_HTTP_CORPUS` names it or
/// `MOSS_REQUIRE_HTTP_CORPUS=1` requires it.
fn corpus_dir() -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repository = manifest.parent().unwrap_or(manifest);
    let named = std::env::var_os("MOSS_HTTP_CORPUS").filter(|dir| !dir.is_empty());
    let dir = match &named {
        Some(dir) => repository.join(dir),
        None => repository
            .parent()
            .unwrap_or(repository)
            .join("shared/http-corpus/gunicorn"),
    };
    if dir.join("expectations.tsv").is_file() {
        return Some(dir);
    }
    let missing = format!("gunicorn HTTP corpus not found at {}", dir.display());
    if named.is_some() {
        panic!("{missing}: MOSS_HTTP_CORPUS names a directory without expectations.tsv");
    }
    if std::env::var_os("MOSS_REQUIRE_HTTP_CORPUS").is_some_and(|v| v == "1") {
        panic!("{missing}: MOSS_REQUIRE_HTTP_CORPUS=1 requires it (set MOSS_HTTP_CORPUS)");
    }
    static SAID: Once = Once::new();
    SAID.call_once(|| {
        // Straight to the process's stderr, past the test harness's output
        // capture, so that a plain `cargo test` shows it.
        let _ = writeln!(
            std::io::stderr(),
            "{missing}: external conformance suite skipped (set MOSS_HTTP_CORPUS)"
        );
    });
    None
}

/// Loads a corpus file exactly as gunicorn's `treq.py` does.
fn load(path: &std::path::Path) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap();
    let mut text: Vec<u8> = raw.into_iter().filter(|&b| b != b'\n').collect();
    for (from, to) in [
        (&b"\\r\\n"[..], &b"\r\n"[..]),
        (b"\\0", b"\0"),
        (b"\\n", b"\n"),
        (b"\\t", b"\t"),
    ] {
        text = replace(&text, from, to);
    }
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(b"\\x") && i + 3 < text.len() {
            let hex = std::str::from_utf8(&text[i + 2..i + 4]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 4;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    assert!(!out.contains(&b'\\'), "{}: stray backslash", path.display());
    out
}

fn replace(text: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

#[derive(Debug, Clone)]
struct Row {
    file: String,
    kind: String,
    expect: String,
    cfg: String,
    n_requests: usize,
    method: String,
    uri: String,
    path: String,
    query: String,
    fragment: String,
    version: String,
    header_count: usize,
    /// `|`-joined, as in the file (a name may itself hold `|`).
    header_names: String,
    body_len: usize,
    trailers: Vec<String>,
}

fn unescape(field: &str) -> String {
    field
        .replace("\\t", "\t")
        .replace("\\r", "\r")
        .replace("\\n", "\n")
        .replace("\\\\", "\\")
}

fn rows(dir: &Path) -> Vec<Row> {
    let text = std::fs::read(dir.join("expectations.tsv")).unwrap();
    let text = String::from_utf8(text).unwrap();
    let split_names = |s: &str| -> Vec<String> {
        if s.is_empty() {
            Vec::new()
        } else {
            s.split('|').map(str::to_owned).collect()
        }
    };
    text.lines()
        .skip(1)
        .map(|line| {
            let c: Vec<&str> = line.split('\t').collect();
            Row {
                file: c[0].to_owned(),
                kind: c[1].to_owned(),
                expect: c[2].to_owned(),
                cfg: c[3].to_owned(),
                n_requests: c[4].parse().unwrap_or(0),
                method: c[5].to_owned(),
                uri: unescape(c[6]),
                path: unescape(c[7]),
                query: unescape(c[8]),
                fragment: unescape(c[9]),
                version: c[10].to_owned(),
                header_count: c[11].parse().unwrap_or(0),
                header_names: c[12].to_owned(),
                body_len: c[13].parse().unwrap_or(0),
                trailers: split_names(c.get(14).copied().unwrap_or("")),
            }
        })
        .collect()
}

/// The moss settings equivalent to a row's gunicorn `cfg` column.
fn config_for(cfg: &str) -> HttpConfig {
    let mut config = HttpConfig::default();
    if cfg == "-" {
        return config;
    }
    for setting in cfg.split(';') {
        let (key, value) = setting.split_once('=').unwrap();
        match key {
            "limit_request_line" => config.limit_request_line = value.parse().unwrap(),
            "limit_request_fields" => config.limit_request_fields = value.parse().unwrap(),
            "limit_request_field_size" => config.limit_request_field_size = value.parse().unwrap(),
            "header_map" if value == "'dangerous'" => {
                config.underscore_headers = UnderscoreHeaders::Keep
            }
            "header_map" if value == "'refuse'" => {
                config.underscore_headers = UnderscoreHeaders::Refuse
            }
            // moss refuses obs-fold whatever this says; the row still expects a refusal.
            "permit_obsolete_folding" => {}
            "forwarded_allow_ips" if value == "'*'" => {
                Arc::make_mut(&mut config.trust).forwarded_allow_ips = AllowList::any()
            }
            // gunicorn's boolean: a header of either version.
            "proxy_protocol" if value == "True" => {
                Arc::make_mut(&mut config.trust).proxy_protocol = ProxyProtocol::Auto
            }
            other => panic!("setting {other} has no moss equivalent and its row is not in SKIPPED"),
        }
    }
    config
}

/// The expectations hold targets as gunicorn's WSGI strings: bytes read as Latin-1.
fn latin1(text: &str) -> String {
    text.bytes().map(char::from).collect()
}

/// The status moss answers a gunicorn exception class with.
fn expected_status(name: &str, exception: &str) -> u16 {
    match (name, exception) {
        // Obsolete folding is refused (400) before the folded line's size counts.
        ("invalid/013.http", _) => 400,
        ("invalid/version_02.http", _) => 505,
        (_, "LimitRequestLine") => 414,
        (_, "LimitRequestHeaders") => 431,
        _ => 400,
    }
}

/// Under `proxy_protocol`, the length of the PROXY header `input` starts
/// with, parsed as it arrives in `chunks` (cycled, as the feeds are); 0
/// when the setting is off.
fn proxy_header_len(
    input: &[u8],
    chunks: &[usize],
    config: &HttpConfig,
) -> Result<usize, ProxyError> {
    if config.trust.proxy_protocol == ProxyProtocol::Off {
        return Ok(0);
    }
    let mut sizes = chunks.iter().copied().cycle();
    let mut end = 0usize;
    loop {
        end = input
            .len()
            .min(end.saturating_add(sizes.next().unwrap_or(usize::MAX)));
        match proxy::parse(&input[..end])? {
            Parsed::Complete { len, .. } => return Ok(len),
            Parsed::Incomplete if end < input.len() => {}
            Parsed::Incomplete => return Err(ProxyError("cut short")),
            Parsed::NotProxy => return Err(ProxyError("no header")),
        }
    }
}

fn skip_reason(name: &str) -> Option<&'static str> {
    SKIPPED
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, why)| *why)
}

/// What the expectations list of a request: header and trailer names
/// upper-cased, targets as Latin-1.
struct Listed {
    uri: String,
    path: String,
    header_names: Vec<String>,
    trailers: Vec<String>,
}

fn listed(seen: &Observed) -> Listed {
    let upper = |fields: &[(String, String)]| -> Vec<String> {
        fields
            .iter()
            .map(|(name, _)| name.to_ascii_uppercase())
            .collect()
    };
    let (path, _, _) = seen.parts.as_ref().expect("the corpus run records parts");
    Listed {
        uri: latin1(&seen.target),
        path: latin1(path),
        header_names: upper(&seen.headers),
        trailers: upper(&seen.trailers),
    }
}

#[test]
fn valid_requests_parse_as_expected() {
    let Some(dir) = corpus_dir() else { return };
    let mut by_file: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for row in rows(&dir).into_iter().filter(|r| r.kind == "valid") {
        by_file.entry(row.file.clone()).or_default().push(row);
    }
    let mut checked = 0;
    for (file, rows) in &by_file {
        let name = format!("valid/{file}");
        if skip_reason(&name).is_some() {
            continue;
        }
        let input = load(&dir.join("valid").join(file));
        let config = config_for(&rows[0].cfg);
        for (feed, chunks) in FEEDS {
            let ctx = format!("{name} fed {feed}");
            let start =
                proxy_header_len(&input, chunks, &config).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let (seen, out) = run(&input[start..], chunks, &config);
            assert_eq!(
                seen.len(),
                rows[0].n_requests,
                "{ctx}: request count; output {:?}",
                String::from_utf8_lossy(&out)
            );
            for (row, seen) in rows.iter().zip(&seen) {
                let (_, query, fragment) = seen.parts.clone().unwrap_or_default();
                let listed = listed(seen);
                assert_eq!(seen.method, row.method, "{ctx}: method");
                assert_eq!(listed.uri, row.uri, "{ctx}: uri");
                if !PATH_NOT_COMPARED.iter().any(|(f, _)| *f == name) {
                    assert_eq!(listed.path, row.path, "{ctx}: path");
                }
                assert_eq!(query, row.query, "{ctx}: query");
                assert_eq!(fragment, row.fragment, "{ctx}: fragment");
                assert_eq!(seen.version, row.version, "{ctx}: version");
                assert_eq!(
                    listed.header_names.len(),
                    row.header_count,
                    "{ctx}: header count"
                );
                assert_eq!(
                    listed.header_names.join("|"),
                    row.header_names,
                    "{ctx}: header names"
                );
                assert_eq!(seen.body.len(), row.body_len, "{ctx}: body length");
                assert_eq!(listed.trailers, row.trailers, "{ctx}: trailers");
                if file == "099.http" {
                    assert_eq!(
                        seen.body_error,
                        Some(std::io::ErrorKind::UnexpectedEof),
                        "{ctx}: truncated body"
                    );
                } else {
                    assert_eq!(seen.body_error, None, "{ctx}: body read");
                }
            }
            checked += 1;
        }
    }
    // 63 files, 28 of them skipped (20 for sending HTTP/1.1 without Host).
    assert!(checked >= 4 * 35, "only {checked} valid runs");
}

#[test]
fn invalid_requests_are_refused_and_closed() {
    let Some(dir) = corpus_dir() else { return };
    let mut checked = 0;
    for row in rows(&dir).into_iter().filter(|r| r.kind == "invalid") {
        let name = format!("invalid/{}", row.file);
        if skip_reason(&name).is_some() {
            continue;
        }
        let input = load(&dir.join("invalid").join(&row.file));
        let config = config_for(&row.cfg);
        for (feed, chunks) in FEEDS {
            let ctx = format!("{name} fed {feed}");
            let start = match proxy_header_len(&input, chunks, &config) {
                Ok(start) => start,
                // A bad PROXY header closes the connection before HTTP:
                // nothing is answered (gunicorn's InvalidProxyLine).
                Err(_) if row.expect == "InvalidProxyLine" => {
                    checked += 1;
                    continue;
                }
                Err(e) => panic!("{ctx}: {e}"),
            };
            assert_ne!(
                row.expect, "InvalidProxyLine",
                "{ctx}: the PROXY header parsed"
            );
            let (_, out) = run(&input[start..], chunks, &config);
            let responses = parse_responses(&out, &[]);
            let last = responses
                .last()
                .unwrap_or_else(|| panic!("{ctx}: no response"));
            assert!(
                (400..600).contains(&last.status),
                "{ctx}: status {}",
                last.status
            );
            assert_eq!(responses.len(), 1, "{ctx}: responses before the refusal");
            assert_eq!(
                last.status,
                expected_status(&name, &row.expect),
                "{ctx}: status"
            );
            assert!(last.closes(), "{ctx}: connection not closed");
            checked += 1;
        }
    }
    assert!(checked >= 4 * 74, "only {checked} invalid runs");
}

#[test]
fn skip_list_names_real_files() {
    let Some(dir) = corpus_dir() else { return };
    for (file, _) in SKIPPED.iter().chain(PATH_NOT_COMPARED) {
        assert!(dir.join(file).is_file(), "{file} listed but missing");
    }
}
