//! Request corpora, each request fed to the engine whole, byte by byte, in
//! uneven chunks and with its first byte alone.
//!
//! - moss's own vectors, one table per class (request line, fields, Host,
//!   Expect, Content-Length, Transfer-Encoding, chunked coding,
//!   pipelining): always run. Each lists the requests the application must
//!   see and how the connection must end.
//! - gunicorn's parser corpus (`gunicorn.rs`): an external conformance
//!   suite, run when present.

#[path = "../util/mod.rs"]
mod util;

mod chunked;
mod content_length;
mod expect;
mod fields;
mod gunicorn;
mod host;
mod pipelining;
mod request_line;
mod transfer_encoding;
mod vector;

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read};
use std::panic::catch_unwind;
use std::sync::Mutex;

use bytes::Bytes;
use http::StatusCode;
use moss_server::{HttpConfig, Request, RequestExt, Response};
use util::{parse_responses, serve};
use vector::{Ending, Seen, Vector};

/// The ways a request is split into reads: `(name, read sizes, cycled)`.
const FEEDS: &[(&str, &[usize])] = &[
    ("whole", &[]),
    ("byte by byte", &[1]),
    ("uneven chunks", &[3, 1, 7, 2, 13, 5, 64, 11]),
    ("first byte alone", &[1, usize::MAX]),
];

/// What the application saw of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observed {
    method: String,
    target: String,
    /// Path (percent-encoded), query and fragment of the target.
    parts: Option<(String, String, String)>,
    version: String,
    /// Lower-case names and values (invalid UTF-8 replaced), in `HeaderMap` order.
    headers: Vec<(String, String)>,
    body: Bytes,
    body_error: Option<ErrorKind>,
    trailers: Vec<(String, String)>,
}

/// The name/value pairs of a `HeaderMap`.
fn fields(map: &http::HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect()
}

/// Serves `input`, read in `chunks`, to an application that reads each
/// body to its end and answers `200 ok`; returns what the application saw
/// and everything the engine wrote.
fn run(input: &[u8], chunks: &[usize], config: &HttpConfig) -> (Vec<Observed>, Vec<u8>) {
    let seen = Mutex::new(Vec::new());
    let app = |mut req: Request| {
        let mut body = Vec::new();
        let body_error = req
            .body_mut()
            .read_to_end(&mut body)
            .err()
            .map(|e| e.kind());
        let info = req.info().into_owned();
        let target = info.target();
        seen.lock().unwrap().push(Observed {
            method: req.method().to_string(),
            target: target.as_str().to_owned(),
            parts: Some((
                target.path().to_owned(),
                target.query().to_owned(),
                target.fragment().to_owned(),
            )),
            version: match req.version() {
                http::Version::HTTP_10 => "1.0".to_owned(),
                _ => "1.1".to_owned(),
            },
            headers: fields(req.headers()),
            body: body.into(),
            body_error,
            trailers: req
                .body()
                .trailers()
                .as_ref()
                .map(fields)
                .unwrap_or_default(),
        });
        Response::new("ok".into())
    };
    let out = serve(input, chunks, &app, config);
    (seen.into_inner().unwrap(), out)
}

fn expected(seen: &Seen) -> Observed {
    let owned = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    };
    Observed {
        method: seen.method.to_owned(),
        target: seen.target.to_owned(),
        parts: seen
            .parts
            .map(|(p, q, f)| (p.to_owned(), q.to_owned(), f.to_owned())),
        version: seen.version.to_owned(),
        headers: owned(seen.headers),
        body: Bytes::from_static(seen.body),
        body_error: None,
        trailers: owned(seen.trailers),
    }
}

/// Vectors the engine does not meet yet, and why. Each must still fail, so
/// a fix shows up here as a stale entry to delete. None at present.
const ENGINE_GAPS: &[(&str, &str)] = &[];

/// Checks every vector, each under every feed; fails listing the vectors
/// that did not hold (each one's message is printed above the list), and
/// those listed in [`ENGINE_GAPS`] that now hold.
fn check_all(vectors: &[Vector]) {
    let mut failed = Vec::new();
    let mut stale = Vec::new();
    for vector in vectors {
        let held = catch_unwind(|| check(vector)).is_ok();
        let gap = ENGINE_GAPS.iter().any(|(name, _)| *name == vector.name);
        match (held, gap) {
            (false, false) => failed.push(vector.name),
            (true, true) => stale.push(vector.name),
            _ => {}
        }
    }
    assert!(
        failed.is_empty() && stale.is_empty(),
        "of {} vectors, these failed: {failed:?}; \
         these hold although ENGINE_GAPS lists them: {stale:?}",
        vectors.len()
    );
}

/// Checks `vector` under every feed.
fn check(vector: &Vector) {
    for (feed, chunks) in FEEDS {
        check_fed(vector, &format!("{:?} fed {feed}", vector.name), chunks);
    }
}

fn check_fed(vector: &Vector, ctx: &str, chunks: &[usize]) {
    // The vectors test the parser: no body limit (tests/limits.rs has it).
    let config = HttpConfig {
        limit_request_body: None,
        ..HttpConfig::default()
    };
    let (mut observed, out) = run(vector.input, chunks, &config);
    let output = String::from_utf8_lossy(&out);

    let mut want: Vec<Observed> = vector.requests.iter().map(expected).collect();
    if let Ending::BodyRefused(_, kind) = vector.ending {
        want.last_mut()
            .expect("a request whose body is refused")
            .body_error = Some(kind);
    }
    for (seen, listed) in observed.iter_mut().zip(vector.requests) {
        if listed.parts.is_none() {
            seen.parts = None;
        }
    }
    assert_eq!(observed, want, "{ctx}: requests the application saw");

    let heads: Vec<bool> = vector.requests.iter().map(|r| r.method == "HEAD").collect();
    let (continues, finals): (Vec<_>, Vec<_>) = parse_responses(&out, &heads)
        .into_iter()
        .partition(|r| r.status == 100);
    assert_eq!(
        continues.len(),
        vector.continues,
        "{ctx}: 100 Continue responses in {output:?}"
    );
    let (served, refusal) = match vector.ending {
        Ending::Open | Ending::Closed => (vector.requests.len(), None),
        Ending::Refused(status) => (vector.requests.len(), Some(status)),
        Ending::BodyRefused(status, _) => (vector.requests.len() - 1, Some(status)),
    };
    assert_eq!(
        finals.len(),
        served + usize::from(refusal.is_some()),
        "{ctx}: responses in {output:?}"
    );
    for (i, response) in finals[..served].iter().enumerate() {
        // The application answers CONNECT with 200 but takes no tunnel: the
        // engine answers 501 instead, and closes.
        let connect = vector.requests[i].method == "CONNECT";
        let status = if connect { 501 } else { 200 };
        assert_eq!(response.status, status, "{ctx}: status of response {i}");
        if !heads[i] && !connect {
            assert_eq!(response.body, b"ok", "{ctx}: body of response {i}");
        }
        let closes = vector.ending == Ending::Closed && i + 1 == served;
        assert_eq!(response.closes(), closes, "{ctx}: response {i} closing");
    }
    if let Some(status) = refusal {
        let last = finals.last().expect("a refusal");
        assert_eq!(last.status, status, "{ctx}: refusal status");
        assert!(last.closes(), "{ctx}: refusal does not close");
        let reason = StatusCode::from_u16(status)
            .unwrap()
            .canonical_reason()
            .unwrap();
        assert_eq!(
            last.body,
            format!("{status} {reason}\n").as_bytes(),
            "{ctx}: refusal text"
        );
    }
}

#[test]
fn request_lines_parse_or_are_refused_as_listed() {
    check_all(request_line::VECTORS);
}

#[test]
fn header_fields_parse_or_are_refused_as_listed() {
    check_all(fields::VECTORS);
}

#[test]
fn host_fields_are_taken_once_or_refused() {
    check_all(host::VECTORS);
}

#[test]
fn expect_gets_100_continue_or_417() {
    check_all(expect::VECTORS);
}

#[test]
fn content_length_frames_exactly_or_is_refused() {
    check_all(content_length::VECTORS);
}

#[test]
fn transfer_encoding_frames_only_as_final_chunked() {
    check_all(transfer_encoding::VECTORS);
}

#[test]
fn chunked_bodies_decode_or_are_refused_as_listed() {
    check_all(chunked::VECTORS);
}

#[test]
fn pipelined_requests_are_served_in_order_until_a_close_or_refusal() {
    check_all(pipelining::VECTORS);
}

#[test]
fn vector_names_are_unique_and_gaps_name_vectors() {
    let tables = [
        request_line::VECTORS,
        fields::VECTORS,
        host::VECTORS,
        expect::VECTORS,
        content_length::VECTORS,
        transfer_encoding::VECTORS,
        chunked::VECTORS,
        pipelining::VECTORS,
    ];
    let mut names = BTreeSet::new();
    for vector in tables.iter().copied().flatten() {
        assert!(names.insert(vector.name), "{:?} twice", vector.name);
    }
    for (name, _) in ENGINE_GAPS {
        assert!(
            names.contains(name),
            "ENGINE_GAPS lists {name:?}, no vector"
        );
    }
}
