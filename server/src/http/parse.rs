//! Request heads: finding their end under the limits, then parsing and checking them.
//!
//! `httparse` parses; the engine checks the method, target, version and
//! the fields that decide framing and connection handling.

use std::mem::MaybeUninit;
use std::sync::LazyLock;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri, Version};
use memchr::memmem;

use super::config::{HttpConfig, UnderscoreHeaders};
use super::error::HttpError;
use super::framing::{self, Framing, TransferCodings};
use super::target::{self, RequestTarget};

/// Finds the end of a head (request line + fields, or a trailer section)
/// as bytes arrive, enforcing line, field-size and field-count limits and
/// refusing bare LF on the way. Scanning resumes where it stopped, so a head
/// that trickles in byte by byte costs linear time.
///
/// A request head that is whole in the first bytes scanned (the usual case)
/// is only delimited, by its first empty line: [`parse_head`] then checks
/// its lines on what `httparse` found, rather than in a second pass.
#[derive(Debug, Default)]
pub(crate) struct HeadScanner {
    scan: usize,
    line_start: usize,
    /// Lines seen so far, the request line included.
    lines: usize,
    /// The head was delimited without checking its lines.
    unchecked: bool,
}

/// The end of a head whose lines all end in CRLF: an empty line.
static HEAD_END: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"\r\n\r\n"));

impl HeadScanner {
    /// A scanner for a request head.
    pub(crate) fn new() -> HeadScanner {
        HeadScanner::default()
    }

    /// A scanner for a chunked body's trailer section (no request line).
    pub(crate) fn trailers() -> HeadScanner {
        HeadScanner {
            lines: 1,
            ..HeadScanner::default()
        }
    }

    /// Whether nothing has been scanned yet.
    pub(crate) fn is_fresh(&self) -> bool {
        self.scan == 0 && self.lines == 0
    }

    /// Header fields seen so far; `None` for a head delimited without
    /// checking its lines.
    pub(crate) fn fields(&self) -> Option<usize> {
        (!self.unchecked).then(|| self.lines.saturating_sub(1))
    }

    /// Scans newly arrived bytes of `buf`; `Some(len)` once the head, empty
    /// line included, is the first `len` bytes.
    pub(crate) fn scan(
        &mut self,
        buf: &[u8],
        config: &HttpConfig,
    ) -> Result<Option<usize>, HttpError> {
        if self.is_fresh() {
            // Without a bare LF before it, the first CRLF CRLF ends the
            // first empty line, which is where the line by line scan would
            // stop. `parse_head` checks the lines, and refers a head that
            // fails any check back to `check_lines`.
            if let Some(end) = HEAD_END.find(buf) {
                if end + 4 > config.head_limit() {
                    return Err(HttpError::HeaderFieldsTooLarge);
                }
                self.unchecked = true;
                return Ok(Some(end + 4));
            }
        }
        self.scan_lines(buf, config)
    }

    /// Scans newly arrived bytes of `buf` line by line.
    fn scan_lines(&mut self, buf: &[u8], config: &HttpConfig) -> Result<Option<usize>, HttpError> {
        loop {
            let Some(found) = memchr::memchr(b'\n', &buf[self.scan..]) else {
                self.scan = buf.len();
                let partial = buf.len() - self.line_start;
                if self.lines == 0 && partial > config.line_limit() + 1 {
                    return Err(HttpError::UriTooLong);
                }
                if self.lines > 0 && partial > config.field_size_limit() {
                    return Err(HttpError::HeaderFieldsTooLarge);
                }
                // Until its end, the buffer holds only this head.
                if buf.len() > config.head_limit() {
                    return Err(HttpError::HeaderFieldsTooLarge);
                }
                return Ok(None);
            };
            let newline = self.scan + found;
            if newline == self.line_start || buf[newline - 1] != b'\r' {
                return Err(HttpError::BadRequest("line not ended by CRLF"));
            }
            let line_len = newline - 1 - self.line_start;
            if self.lines == 0 {
                if line_len > config.line_limit() {
                    return Err(HttpError::UriTooLong);
                }
                if line_len == 0 {
                    return Err(HttpError::BadRequest("empty request line"));
                }
            } else if line_len == 0 {
                if newline + 1 > config.head_limit() {
                    return Err(HttpError::HeaderFieldsTooLarge);
                }
                return Ok(Some(newline + 1));
            } else if line_len + 2 > config.field_size_limit() || self.lines > config.fields_limit()
            {
                return Err(HttpError::HeaderFieldsTooLarge);
            }
            self.lines += 1;
            self.line_start = newline + 1;
            self.scan = newline + 1;
        }
    }
}

/// A parsed and checked request head.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) target: RequestTarget,
    /// The `Host` field's value (always present in HTTP/1.1), kept for
    /// [`RequestInfo`](super::RequestInfo).
    pub(crate) host: Option<HeaderValue>,
    pub(crate) framing: Framing,
    pub(crate) keep_alive: bool,
    pub(crate) expect_continue: bool,
    /// An HTTP/1.1 request that asks to switch protocols: an `Upgrade`
    /// field, named in `Connection` (RFC 9110 section 7.8).
    pub(crate) upgrade: bool,
    /// What a trusted front end's secure-scheme headers said: `https` or
    /// not; `None` for the connection's scheme.
    pub(crate) secure: Option<bool>,
}

/// Header slots kept on the stack; heads with more fields use the heap.
const STACK_FIELDS: usize = 16;

/// Field names of the connection's last request, by position: clients send
/// the same fields, spelled the same way, in the same order on every
/// request of a connection, so a name usually matches byte for byte the
/// one received at its position, and is then cloned rather than parsed
/// (and, for a non-standard name, allocated) again.
///
/// The names as received are kept back to back in one buffer: comparing
/// with them is a `memcmp`, cheaper than comparing with the lower-case
/// `HeaderName` while ignoring case, at a few instructions per byte.
#[derive(Debug, Default)]
pub(crate) struct NameCache {
    names: Vec<CachedName>,
    /// The names as received (see [`CachedName::raw`]), and space left by
    /// names replaced with longer ones.
    raw: Vec<u8>,
}

/// A field name seen at a position.
#[derive(Debug)]
struct CachedName {
    name: HeaderName,
    /// Where in [`NameCache::raw`] the name as received is: start, length.
    raw: (u32, u32),
    /// The name contains `_` (see [`UnderscoreHeaders`]).
    underscore: bool,
}

/// Positions the [`NameCache`] remembers.
const CACHED_NAMES: usize = 32;

/// Bytes of received names the [`NameCache`] keeps; past them it starts
/// again.
const CACHED_BYTES: usize = 4096;

impl NameCache {
    /// The `HeaderName` of `raw`, the name of field number `index`; `None`
    /// when `policy` drops the field.
    fn name(
        &mut self,
        index: usize,
        raw: &[u8],
        policy: UnderscoreHeaders,
    ) -> Result<Option<HeaderName>, HttpError> {
        if let Some(cached) = self.names.get(index) {
            let (start, len) = (cached.raw.0 as usize, cached.raw.1 as usize);
            if self.raw[start..start + len] == *raw {
                if cached.underscore && !keeps_underscore(policy)? {
                    return Ok(None);
                }
                return Ok(Some(cached.name.clone()));
            }
        }
        // The policy applies before the name is parsed or remembered.
        let underscore = raw.contains(&b'_');
        if underscore && !keeps_underscore(policy)? {
            return Ok(None);
        }
        let name = HeaderName::from_bytes(raw)
            .map_err(|_| HttpError::BadRequest("invalid header name"))?;
        self.remember(index, raw, &name, underscore);
        Ok(Some(name))
    }

    /// Remembers `name`, received as `raw`, at position `index`.
    fn remember(&mut self, index: usize, raw: &[u8], name: &HeaderName, underscore: bool) {
        if index > self.names.len() || index >= CACHED_NAMES {
            return;
        }
        // A name takes the place of the one it replaces if that one was at
        // least as long, else goes at the end.
        let start = match self.names.get(index) {
            Some(old) if old.raw.1 as usize >= raw.len() => old.raw.0 as usize,
            _ if self.raw.len() + raw.len() > CACHED_BYTES => {
                self.names.clear();
                self.raw.clear();
                return;
            }
            _ => {
                self.raw.resize(self.raw.len() + raw.len(), 0);
                self.raw.len() - raw.len()
            }
        };
        self.raw[start..start + raw.len()].copy_from_slice(raw);
        // Within `CACHED_BYTES`: the casts are lossless.
        let cached = CachedName {
            name: name.clone(),
            raw: (start as u32, raw.len() as u32),
            underscore,
        };
        match self.names.get_mut(index) {
            Some(slot) => *slot = cached,
            None => self.names.push(cached),
        }
    }
}

/// Whether `policy` keeps a field whose name contains `_` (else drops it),
/// or refuses the request.
fn keeps_underscore(policy: UnderscoreHeaders) -> Result<bool, HttpError> {
    match policy {
        UnderscoreHeaders::Drop => Ok(false),
        UnderscoreHeaders::Refuse => Err(HttpError::BadRequest("header name with underscore")),
        UnderscoreHeaders::Keep => Ok(true),
    }
}

/// Parses a complete head of `fields` header fields, as counted by the
/// [`HeadScanner`] that delimited it; `None` if it delimited the head
/// without checking its lines, which are then checked here.
pub(crate) fn parse_head(
    head: Bytes,
    fields: Option<usize>,
    config: &HttpConfig,
    names: &mut NameCache,
) -> Result<Head, HttpError> {
    // Uninitialized slots: httparse writes only those it fills.
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_FIELDS];
    let mut heap;
    let slots: &mut [MaybeUninit<httparse::Header<'_>>] = match fields {
        None => &mut stack,
        Some(fields) if fields <= STACK_FIELDS => &mut stack[..fields.max(1)],
        Some(fields) => {
            heap = vec![MaybeUninit::uninit(); fields];
            &mut heap
        }
    };
    let mut req = httparse::Request::new(&mut []);
    let parsed = req.parse_with_uninit_headers(&head, slots);
    if fields.is_none() && !lines_pass(&head, &parsed, &req, config) {
        // What the line by line scan decides: its refusal, or the fields
        // to parse with.
        let fields = check_lines(&head, config)?;
        return parse_head(head, Some(fields), config, names);
    }
    match parsed {
        Ok(httparse::Status::Complete(len)) if len == head.len() => {}
        Ok(_) => return Err(HttpError::BadRequest("malformed request head")),
        Err(httparse::Error::Version) => return Err(version_error(&head)),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeaderFieldsTooLarge),
        Err(_) => return Err(HttpError::BadRequest("malformed request head")),
    }
    let method = check_method(req.method.unwrap_or_default())?;
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let raw_target = head.slice_ref(req.path.unwrap_or_default().as_bytes());
    let target = target::split(raw_target, &method)?;
    let uri = target::to_uri(&target)?;

    let mut headers = HeaderMap::with_capacity(req.headers.len());
    let mut framing = FramingFields::default();
    for (index, field) in req.headers.iter().enumerate() {
        let raw = field.name.as_bytes();
        let Some(name) = names.name(index, raw, config.underscore_headers)? else {
            continue;
        };
        let value = HeaderValue::from_maybe_shared(head.slice_ref(field.value))
            .map_err(|_| HttpError::BadRequest("invalid header value"))?;
        framing.note(&name, &value)?;
        headers.append(name, value);
    }
    let host = framing.host.take();
    let upgrade = framing.upgrade && framing.upgrade_option && version == Version::HTTP_11;
    let (framing, keep_alive, expect_continue) = framing.resolve(version)?;
    if host.is_none() && version == Version::HTTP_11 {
        // RFC 9112 section 3.2, also for an absolute-form target.
        return Err(HttpError::BadRequest("HTTP/1.1 request without Host"));
    }
    if let (Framing::Length(len), Some(limit)) = (framing, config.limit_request_body) {
        if len > limit {
            return Err(HttpError::PayloadTooLarge);
        }
    }
    Ok(Head {
        method,
        uri,
        version,
        headers,
        target,
        host,
        framing,
        keep_alive,
        expect_continue,
        upgrade,
        secure: None,
    })
}

/// Whether `head`, parsed by `httparse` into `req`, passes what the line by
/// line [`HeadScanner`] checks: every line ends in CRLF, none is longer
/// than its limit, there are no more fields than allowed. `false` also when
/// `httparse` did not parse it whole (a refusal, or too few slots).
fn lines_pass(
    head: &[u8],
    parsed: &httparse::Result<usize>,
    req: &httparse::Request<'_, '_>,
    config: &HttpConfig,
) -> bool {
    if !matches!(parsed, Ok(httparse::Status::Complete(len)) if *len == head.len()) {
        return false;
    }
    if req.headers.len() > config.fields_limit() {
        return false;
    }
    let offset = |part: &[u8]| part.as_ptr() as usize - head.as_ptr() as usize;
    // The request line: method SP target SP `HTTP/x.y`, then its end; at
    // the start (httparse skips empty lines, some of them bare LFs).
    let (Some(method), Some(path)) = (req.method, req.path) else {
        return false;
    };
    if offset(method.as_bytes()) != 0 {
        return false;
    }
    let mut line_end = offset(path.as_bytes()) + path.len() + 1 + b"HTTP/1.1".len();
    if line_end > config.line_limit() || head.get(line_end..line_end + 2) != Some(b"\r\n") {
        return false;
    }
    for field in req.headers.iter() {
        let start = offset(field.name.as_bytes());
        // httparse trims the value's trailing SP and HTAB.
        let mut end = offset(field.value) + field.value.len();
        while matches!(head.get(end), Some(b' ' | b'\t')) {
            end += 1;
        }
        if start != line_end + 2
            || end - start + 2 > config.field_size_limit()
            || head.get(end..end + 2) != Some(b"\r\n")
        {
            return false;
        }
        line_end = end;
    }
    // The empty line ends the head.
    line_end + 4 == head.len()
}

/// Scans `head` line by line, as [`HeadScanner`] does with bytes as they
/// arrive: its refusal, or the number of fields of a head it finds whole.
fn check_lines(head: &[u8], config: &HttpConfig) -> Result<usize, HttpError> {
    let mut scanner = HeadScanner::new();
    match scanner.scan_lines(head, config)? {
        Some(len) if len == head.len() => Ok(scanner.lines.saturating_sub(1)),
        _ => Err(HttpError::BadRequest("malformed request head")),
    }
}

/// 505 for a well-formed request line with an unsupported `HTTP/x.y`, 400
/// for anything else: a line that is not exactly `method SP target SP
/// version` is malformed whatever its last word.
fn version_error(head: &[u8]) -> HttpError {
    let line_end = memchr::memchr(b'\r', head).unwrap_or(head.len());
    let mut words = head[..line_end].split(|&b| b == b' ');
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some(method), Some(target), Some(version), None)
            if !method.is_empty() && !target.is_empty() && is_http_version(version) =>
        {
            HttpError::VersionNotSupported
        }
        _ => HttpError::BadRequest("malformed HTTP version"),
    }
}

/// `HTTP/DIGIT.DIGIT`.
fn is_http_version(word: &[u8]) -> bool {
    matches!(word, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
        if major.is_ascii_digit() && minor.is_ascii_digit())
}

/// Methods as gunicorn accepts them: a token of 3 to 20 characters without
/// lower-case letters.
fn check_method(method: &str) -> Result<Method, HttpError> {
    let bytes = method.as_bytes();
    if !(3..=20).contains(&bytes.len()) || bytes.iter().any(u8::is_ascii_lowercase) {
        return Err(HttpError::BadRequest("invalid method"));
    }
    Method::from_bytes(bytes).map_err(|_| HttpError::BadRequest("invalid method"))
}

/// The fields that decide framing and connection handling, as seen so far.
#[derive(Default)]
struct FramingFields {
    content_length: Option<u64>,
    codings: TransferCodings,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
    host: Option<HeaderValue>,
    content_type: bool,
    /// An `Upgrade` field was present.
    upgrade: bool,
    /// `Connection` names `upgrade`.
    upgrade_option: bool,
}

impl FramingFields {
    fn note(&mut self, name: &HeaderName, value: &HeaderValue) -> Result<(), HttpError> {
        if name == header::CONTENT_LENGTH {
            if self.content_length.is_some() {
                return Err(HttpError::BadRequest("repeated Content-Length"));
            }
            let length = framing::content_length(value.as_bytes())
                .ok_or(HttpError::BadRequest("invalid Content-Length"))?;
            self.content_length = Some(length);
        } else if name == header::TRANSFER_ENCODING {
            self.codings.note(value.as_bytes())?;
        } else if name == header::CONNECTION {
            for option in value.as_bytes().split(|&b| b == b',') {
                let option = option.trim_ascii();
                if option.eq_ignore_ascii_case(b"close") {
                    self.close = true;
                } else if option.eq_ignore_ascii_case(b"keep-alive") {
                    self.keep_alive = true;
                } else if option.eq_ignore_ascii_case(b"upgrade") {
                    self.upgrade_option = true;
                }
            }
        } else if name == header::EXPECT {
            // `Expect = #expectation`: empty list elements are skipped (RFC
            // 9110 section 5.6.1.2); `100-continue` is the only expectation.
            for expectation in value.as_bytes().split(|&b| b == b',') {
                let expectation = expectation.trim_ascii();
                if expectation.eq_ignore_ascii_case(b"100-continue") {
                    self.expect_continue = true;
                } else if !expectation.is_empty() {
                    return Err(HttpError::ExpectationFailed);
                }
            }
        } else if name == header::HOST {
            if self.host.replace(value.clone()).is_some() {
                return Err(HttpError::BadRequest("repeated Host"));
            }
            if !target::is_host(value.as_bytes()) {
                return Err(HttpError::BadRequest("invalid Host"));
            }
        } else if name == header::CONTENT_TYPE && std::mem::replace(&mut self.content_type, true) {
            return Err(HttpError::BadRequest("repeated Content-Type"));
        } else if name == header::UPGRADE {
            self.upgrade = true;
        }
        Ok(())
    }

    /// Framing, keep-alive and `Expect: 100-continue` of the whole head.
    fn resolve(self, version: Version) -> Result<(Framing, bool, bool), HttpError> {
        let framing = framing::request_framing(&self.codings, self.content_length, version)?;
        let keep_alive = match version {
            Version::HTTP_10 => self.keep_alive && !self.close,
            _ => !self.close,
        };
        let expect_continue =
            self.expect_continue && version == Version::HTTP_11 && framing != Framing::Empty;
        Ok((framing, keep_alive, expect_continue))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Head, HttpError> {
        let config = HttpConfig::default();
        let mut scanner = HeadScanner::new();
        let len = scanner
            .scan(text.as_bytes(), &config)?
            .expect("complete head");
        parse_head(
            Bytes::copy_from_slice(&text.as_bytes()[..len]),
            scanner.fields(),
            &config,
            &mut NameCache::default(),
        )
    }

    #[test]
    fn parses_a_simple_head() {
        let h = head("GET /a?b HTTP/1.1\r\nHost: x\r\nX-Y:  z \r\n\r\n").unwrap();
        assert_eq!(h.method, Method::GET);
        assert_eq!(h.headers["x-y"], "z");
        assert!(h.keep_alive);
        assert_eq!(h.framing, Framing::Empty);
    }

    #[test]
    fn name_cache_follows_the_raw_names() {
        let config = HttpConfig::default();
        let mut names = NameCache::default();
        for text in [
            "GET / HTTP/1.1\r\nHost: x\r\nX-Custom: 1\r\n\r\n",
            "GET / HTTP/1.1\r\nhost: x\r\nX-CUSTOM: 1\r\n\r\n",
            "GET / HTTP/1.1\r\nX-Custom: 1\r\nHost: x\r\nX-Other: 2\r\n\r\n",
            "GET / HTTP/1.1\r\nX-Customs: 1\r\nHOST: x\r\n\r\n",
        ] {
            let mut scanner = HeadScanner::new();
            let len = scanner.scan(text.as_bytes(), &config).unwrap().unwrap();
            let head = Bytes::copy_from_slice(&text.as_bytes()[..len]);
            let h = parse_head(head, scanner.fields(), &config, &mut names).unwrap();
            let got: Vec<&str> = h.headers.keys().map(|k| k.as_str()).collect();
            let want: Vec<String> = text
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(n, _)| n.to_ascii_lowercase())
                .collect();
            let mut got_sorted = got.clone();
            got_sorted.sort_unstable();
            let mut want_sorted = want.clone();
            want_sorted.sort_unstable();
            assert_eq!(got_sorted, want_sorted, "{text:?}");
        }
    }

    /// The line by line scan's verdict on `text`: its refusal, or the
    /// parsed head it delimits.
    fn scanned(text: &[u8], config: &HttpConfig) -> Result<Option<Head>, HttpError> {
        let mut scanner = HeadScanner::new();
        let mut len = None;
        // Byte by byte, so that the scan never finds the head whole.
        for end in 1..=text.len() {
            len = scanner.scan(&text[..end], config)?;
            if len.is_some() {
                break;
            }
        }
        let Some(len) = len else { return Ok(None) };
        let head = Bytes::copy_from_slice(&text[..len]);
        parse_head(head, scanner.fields(), config, &mut NameCache::default()).map(Some)
    }

    #[test]
    fn heads_found_whole_are_judged_as_scanned_ones() {
        let config = HttpConfig {
            limit_request_line: 20,
            limit_request_fields: 2,
            limit_request_field_size: 16,
            ..HttpConfig::default()
        };
        for text in [
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"GET / HTTP/1.0\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x \t\r\nA:\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nA: b\r\nC: d\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nA: 0123456789\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nA: 012345678\r\n\r\n",
            b"GET /0123456 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /01234567 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\n\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nA: b\n\r\n",
            b"\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\n Host: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\r\n\r\n",
            b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody\r\n\r\n",
        ] {
            let mut scanner = HeadScanner::new();
            let whole = scanner.scan(text, &config).and_then(|len| {
                let Some(len) = len else { return Ok(None) };
                let head = Bytes::copy_from_slice(&text[..len]);
                parse_head(head, scanner.fields(), &config, &mut NameCache::default()).map(Some)
            });
            let scanned = scanned(text, &config);
            let show = String::from_utf8_lossy(text);
            match (whole, scanned) {
                (Ok(Some(a)), Ok(Some(b))) => assert_eq!(
                    (a.method, a.uri, a.headers),
                    (b.method, b.uri, b.headers),
                    "{show:?}"
                ),
                (Err(a), Err(b)) => assert_eq!(a, b, "{show:?}"),
                (a, b) => panic!("{show:?}: found whole {a:?}, scanned {b:?}"),
            }
        }
    }

    #[test]
    fn name_cache_starts_again_past_its_byte_budget() {
        let config = HttpConfig::default();
        let mut names = NameCache::default();
        for round in 0..3 {
            let fields: String = (0..20)
                .map(|i| format!("X-{round}-{i}-{}: v\r\n", "n".repeat(300)))
                .collect();
            let text = format!("GET / HTTP/1.1\r\nHost: x\r\n{fields}\r\n");
            let head = Bytes::copy_from_slice(text.as_bytes());
            let h = parse_head(head, None, &config, &mut names).unwrap();
            assert_eq!(h.headers.len(), 21);
            for i in 0..20 {
                let name = format!("x-{round}-{i}-{}", "n".repeat(300));
                assert_eq!(h.headers[name.as_str()], "v");
            }
            assert!(names.raw.len() <= CACHED_BYTES);
        }
    }

    #[test]
    fn classifies_versions() {
        assert_eq!(
            head("GET / HTTP/2.0\r\n\r\n").unwrap_err(),
            HttpError::VersionNotSupported
        );
        assert!(matches!(
            head("GET / HTTP/0.99\r\n\r\n").unwrap_err(),
            HttpError::BadRequest(_)
        ));
        assert!(matches!(
            head("GET / HTTP/111\r\n\r\n").unwrap_err(),
            HttpError::BadRequest(_)
        ));
    }

    #[test]
    fn malformed_request_lines_ending_in_a_good_version_get_400_not_505() {
        for line in [
            "GET /a b HTTP/1.1",
            "GET /  HTTP/1.1",
            "GET /a b HTTP/2.0",
            "GET  / HTTP/2.0",
        ] {
            let error = head(&format!("{line}\r\nHost: x\r\n\r\n")).unwrap_err();
            assert!(
                matches!(error, HttpError::BadRequest(_)),
                "{line:?}: {error:?}"
            );
        }
    }

    #[test]
    fn host_values_must_be_an_authority_without_userinfo() {
        for good in ["", "a", "example.com:8080", "[::1]:8080", "127.0.0.1", "a:"] {
            let text = format!("GET / HTTP/1.1\r\nHost: {good}\r\n\r\n");
            assert!(head(&text).is_ok(), "{good:?}");
        }
        for bad in ["a b", "a/b", "u@a", "a:b", "[::1", "a?b"] {
            let text = format!("GET / HTTP/1.0\r\nHost: {bad}\r\n\r\n");
            assert!(
                matches!(head(&text), Err(HttpError::BadRequest(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn content_length_must_be_digits() {
        for bad in [
            "-1",
            "+1",
            "1 2",
            "0x10",
            "5, 5",
            "",
            "99999999999999999999",
        ] {
            let text = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {bad}\r\n\r\n");
            assert!(head(&text).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn http11_needs_a_host_field_http10_does_not() {
        for text in [
            "GET / HTTP/1.1\r\n\r\n",
            "GET http://a/ HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nX-Host: x\r\n\r\n",
        ] {
            assert_eq!(
                head(text).unwrap_err(),
                HttpError::BadRequest("HTTP/1.1 request without Host"),
                "{text:?}"
            );
        }
        assert!(head("GET / HTTP/1.0\r\n\r\n").is_ok());
    }

    #[test]
    fn expect_is_a_list_whose_empty_elements_are_skipped() {
        for (value, continues) in [
            ("100-continue", true),
            ("100-continue,", true),
            (", 100-CONTINUE ,,", true),
            ("100-continue, 100-continue", true),
            ("", false),
            (" , ", false),
        ] {
            let text = format!(
                "POST / HTTP/1.1\r\nHost: x\r\nExpect: {value}\r\nContent-Length: 1\r\n\r\n"
            );
            assert_eq!(head(&text).unwrap().expect_continue, continues, "{value:?}");
        }
        for value in ["100-continue, x", "x,", "100-continue;a=b"] {
            let text = format!("POST / HTTP/1.1\r\nHost: x\r\nExpect: {value}\r\n\r\n");
            assert_eq!(
                head(&text).unwrap_err(),
                HttpError::ExpectationFailed,
                "{value:?}"
            );
        }
    }
}
