//! The access log: one line per request, in gunicorn's `access_log_format`.
//!
//! The format is parsed once, by [`AccessLog::new`], into a list of parts;
//! each request only fills them in. The codes are gunicorn's:
//!
//! | code | what |
//! |---|---|
//! | `h` | remote address (`-` when unknown) |
//! | `l` | `-` |
//! | `u` | user name from `Authorization: Basic`, else `-` |
//! | `t` | time of the log line, `[30/Nov/2026:13:42:07 +0000]` |
//! | `r` | request line, `GET /a?b=1 HTTP/1.1` (the raw target) |
//! | `m`, `U`, `q`, `H` | method, path (decoded), query string, protocol |
//! | `s` | status |
//! | `B`, `b` | response length when known (a bytes body, a sized stream, a `Content-Length` the app set), else `0` for `B` and `-` for `b` |
//! | `f`, `a` | `Referer`, `User-Agent` |
//! | `T`, `D`, `M`, `L` | time in `App::call`: whole seconds, microseconds, milliseconds, decimal seconds (`1.234567`) |
//! | `p` | `<pid>` |
//! | `{name}i`, `{name}o` | a request or response header field (`-` when absent) |
//! | `{name}e` | a request's CGI variable (`REMOTE_ADDR`, `REMOTE_PORT`, `REQUEST_METHOD`, `RAW_URI`, `PATH_INFO`, `QUERY_STRING`, `SERVER_PROTOCOL`, `SERVER_NAME`, `SERVER_PORT`, `SCRIPT_NAME`, `wsgi.url_scheme`, `CONTENT_TYPE`, `CONTENT_LENGTH`, `HTTP_*`), else the process environment's variable as it was when the format was parsed |
//!
//! Written `%(code)s`; `%%` is a `%`; a code gunicorn does not know gives
//! `-`, as in gunicorn. Names in braces are case-insensitive.

use std::fmt::Write as _;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};

use super::{Sink, Standard, Utc};
use crate::{App, Request, RequestExt, RequestInfo, Response};

/// gunicorn's default `access_log_format`.
pub const DEFAULT_FORMAT: &str = r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s""#;

/// An access log: a target and a parsed format. Cloning shares both.
///
/// # Examples
///
/// ```
/// use moss_server::log::{AccessLog, DEFAULT_FORMAT};
/// use moss_server::{App, Request, Response};
///
/// let hello = |_req: Request| Response::new("Hello, World!".into());
/// let app = AccessLog::new("-", DEFAULT_FORMAT).unwrap().wrap(hello);
/// let response = app.call(http::Request::get("/").body(Default::default()).unwrap());
/// // stdout: - - - [30/Nov/2026:13:42:07 +0000] "GET / HTTP/1.1" 200 13 "-" "-"
/// assert_eq!(response.status(), 200);
/// ```
#[derive(Debug, Clone)]
pub struct AccessLog {
    format: Arc<Format>,
    sink: Arc<Sink>,
    /// The wall clock for `%(t)s`; tests fix it.
    clock: fn() -> SystemTime,
}

impl AccessLog {
    /// An access log writing `format` lines to `target`: `-` for stdout,
    /// else a file path (created if missing, appended to).
    pub fn new(target: &str, format: &str) -> io::Result<AccessLog> {
        Ok(AccessLog {
            format: Arc::new(Format::parse(format)),
            sink: Sink::open(target, Standard::Out)?,
            clock: SystemTime::now,
        })
    }

    /// `app`, logging each request it answers.
    pub fn wrap<A: App>(self, app: A) -> Logged<A> {
        Logged { app, log: self }
    }

    /// Reopens the file by its path (after a rotation). [`super::reopen`]
    /// reopens every log of the process at once.
    pub fn reopen(&self) -> io::Result<()> {
        self.sink.reopen()
    }

    /// Writes the line of one request.
    fn write(&self, request: &RequestFacts, response: &ResponseFacts, elapsed: Duration) {
        let mut line = String::with_capacity(256);
        self.format
            .render(&mut line, request, response, (self.clock)(), elapsed);
        line.push('\n');
        // A log that cannot be written must not fail the request.
        let _ = self.sink.write_line(line.as_bytes());
    }
}

/// An application whose requests are logged by an [`AccessLog`], made by
/// [`AccessLog::wrap`].
///
/// The line is written when `App::call` returns, before the response is
/// sent; the times (`T`, `D`, `M`, `L`) are those of `App::call`.
#[derive(Debug)]
pub struct Logged<A> {
    app: A,
    log: AccessLog,
}

impl<A: App> App for Logged<A> {
    fn call(&self, request: Request) -> Response {
        let facts = RequestFacts::of(&request, &self.log.format);
        let start = Instant::now();
        let response = self.app.call(request);
        let elapsed = start.elapsed();
        let answer = ResponseFacts::of(&response, &self.log.format);
        self.log.write(&facts, &answer, elapsed);
        response
    }
}

/// A parsed format.
#[derive(Debug, Default)]
struct Format {
    parts: Vec<Part>,
    /// The request fields the parts read, by `Part::RequestHeader` index.
    request_headers: Vec<HeaderName>,
    /// The response fields the parts read, by `Part::ResponseHeader` index.
    response_headers: Vec<HeaderName>,
}

/// One piece of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    RemoteAddr,
    RemotePort,
    /// The Basic-auth user of the request field at this index.
    User(usize),
    Time,
    RequestLine,
    Method,
    RawTarget,
    Path,
    Query,
    Protocol,
    ServerName,
    ServerPort,
    Scheme,
    Status,
    /// `b`: `-` when unknown.
    LengthOrDash,
    /// `B`: 0 when unknown.
    Length,
    RequestHeader(usize),
    ResponseHeader(usize),
    Seconds,
    Micros,
    Millis,
    DecimalSeconds,
    Pid,
}

impl Format {
    /// Parses `%(code)s` atoms out of `format`.
    fn parse(format: &str) -> Format {
        let mut parsed = Format::default();
        let mut rest = format;
        while let Some(at) = rest.find('%') {
            parsed.text(&rest[..at]);
            rest = &rest[at..];
            if let Some(after) = rest.strip_prefix("%%") {
                parsed.text("%");
                rest = after;
                continue;
            }
            // `%(name)c`, c being any conversion letter.
            let atom = rest.strip_prefix("%(").and_then(|inner| {
                let (name, after) = inner.split_once(')')?;
                let conversion = after.chars().next().filter(char::is_ascii_alphabetic)?;
                Some((name, &after[conversion.len_utf8()..]))
            });
            match atom {
                Some((name, after)) => {
                    let part = parsed.atom(name);
                    parsed.push(part);
                    rest = after;
                }
                None => {
                    parsed.text("%");
                    rest = &rest[1..];
                }
            }
        }
        parsed.text(rest);
        parsed
    }

    fn text(&mut self, text: &str) {
        if !text.is_empty() {
            self.push(Part::Text(text.to_owned()));
        }
    }

    /// Appends `part`, merging adjacent text.
    fn push(&mut self, part: Part) {
        if let (Some(Part::Text(last)), Part::Text(text)) = (self.parts.last_mut(), &part) {
            last.push_str(text);
            return;
        }
        self.parts.push(part);
    }

    /// The part of one atom's name.
    fn atom(&mut self, name: &str) -> Part {
        match name {
            "h" => Part::RemoteAddr,
            "l" => Part::Text("-".into()),
            "u" => Part::User(self.request_header(header::AUTHORIZATION)),
            "t" => Part::Time,
            "r" => Part::RequestLine,
            "m" => Part::Method,
            "U" => Part::Path,
            "q" => Part::Query,
            "H" => Part::Protocol,
            "s" => Part::Status,
            "b" => Part::LengthOrDash,
            "B" => Part::Length,
            "f" => Part::RequestHeader(self.request_header(header::REFERER)),
            "a" => Part::RequestHeader(self.request_header(header::USER_AGENT)),
            "T" => Part::Seconds,
            "D" => Part::Micros,
            "M" => Part::Millis,
            "L" => Part::DecimalSeconds,
            "p" => Part::Pid,
            _ => self.braced(name).unwrap_or_else(|| Part::Text("-".into())),
        }
    }

    /// `{name}i`, `{name}o`, `{name}e`.
    fn braced(&mut self, atom: &str) -> Option<Part> {
        let (name, kind) = atom.strip_prefix('{')?.rsplit_once('}')?;
        match kind {
            "i" => Some(Part::RequestHeader(self.request_header(header_name(name)?))),
            "o" => {
                let name = header_name(name)?;
                let index = match self.response_headers.iter().position(|h| *h == name) {
                    Some(index) => index,
                    None => {
                        self.response_headers.push(name);
                        self.response_headers.len() - 1
                    }
                };
                Some(Part::ResponseHeader(index))
            }
            "e" => Some(self.variable(name)),
            _ => None,
        }
    }

    /// A CGI variable, else a process environment variable (read now).
    fn variable(&mut self, name: &str) -> Part {
        let upper = name.to_ascii_uppercase();
        let part = match upper.as_str() {
            "REMOTE_ADDR" => Some(Part::RemoteAddr),
            "REMOTE_PORT" => Some(Part::RemotePort),
            "REQUEST_METHOD" => Some(Part::Method),
            "RAW_URI" => Some(Part::RawTarget),
            "PATH_INFO" => Some(Part::Path),
            "QUERY_STRING" => Some(Part::Query),
            "SERVER_PROTOCOL" => Some(Part::Protocol),
            "SERVER_NAME" => Some(Part::ServerName),
            "SERVER_PORT" => Some(Part::ServerPort),
            "SCRIPT_NAME" => Some(Part::Text(String::new())),
            "WSGI.URL_SCHEME" => Some(Part::Scheme),
            "CONTENT_TYPE" => Some(Part::RequestHeader(
                self.request_header(header::CONTENT_TYPE),
            )),
            "CONTENT_LENGTH" => Some(Part::RequestHeader(
                self.request_header(header::CONTENT_LENGTH),
            )),
            _ => upper
                .strip_prefix("HTTP_")
                .and_then(|field| header_name(&field.replace('_', "-")))
                .map(|field| Part::RequestHeader(self.request_header(field))),
        };
        part.unwrap_or_else(|| {
            let value = std::env::vars_os()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.to_string_lossy().into_owned());
            Part::Text(value.unwrap_or_else(|| "-".into()))
        })
    }

    /// The index of request field `name`, added if new.
    fn request_header(&mut self, name: HeaderName) -> usize {
        match self.request_headers.iter().position(|h| *h == name) {
            Some(index) => index,
            None => {
                self.request_headers.push(name);
                self.request_headers.len() - 1
            }
        }
    }

    /// Writes one line (without its newline) to `out`.
    fn render(
        &self,
        out: &mut String,
        request: &RequestFacts,
        response: &ResponseFacts,
        now: SystemTime,
        elapsed: Duration,
    ) {
        let info = &request.info;
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::RemoteAddr => display(out, info.remote_addr()),
                Part::RemotePort => display(out, info.peer_addr().map(|a| a.port())),
                Part::User(index) => {
                    let user = request.headers[*index].as_ref().and_then(basic_user);
                    out.push_str(user.as_deref().unwrap_or("-"));
                }
                Part::Time => {
                    let t = Utc::of(now);
                    let _ = write!(
                        out,
                        "[{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000]",
                        t.day,
                        t.month_name(),
                        t.year,
                        t.hour,
                        t.minute,
                        t.second
                    );
                }
                Part::RequestLine => {
                    let target = info.target().as_str();
                    let _ = write!(out, "{} {target} {:?}", request.method, request.version);
                }
                Part::Method => out.push_str(request.method.as_str()),
                Part::RawTarget => out.push_str(info.target().as_str()),
                Part::Path => out.push_str(&info.path()),
                Part::Query => out.push_str(info.query()),
                Part::Protocol => {
                    let _ = write!(out, "{:?}", request.version);
                }
                Part::ServerName => out.push_str(&info.server_name()),
                Part::ServerPort => display(out, Some(info.server_port())),
                Part::Scheme => out.push_str(info.scheme().as_str()),
                Part::Status => out.push_str(response.status.as_str()),
                Part::LengthOrDash => display(out, response.length),
                Part::Length => display(out, Some(response.length.unwrap_or(0))),
                Part::RequestHeader(index) => field(out, request.headers[*index].as_ref()),
                Part::ResponseHeader(index) => field(out, response.headers[*index].as_ref()),
                Part::Seconds => display(out, Some(elapsed.as_secs())),
                Part::Micros => display(out, Some(elapsed.as_micros())),
                Part::Millis => display(out, Some(elapsed.as_millis())),
                Part::DecimalSeconds => {
                    let (secs, micros) = (elapsed.as_secs(), elapsed.subsec_micros());
                    let _ = write!(out, "{secs}.{micros:06}");
                }
                Part::Pid => {
                    let _ = write!(out, "<{}>", std::process::id());
                }
            }
        }
    }
}

/// Writes `value`, or `-` when absent. (Writing to a `String` cannot fail.)
fn display(out: &mut String, value: Option<impl std::fmt::Display>) {
    match value {
        Some(value) => {
            let _ = write!(out, "{value}");
        }
        None => out.push('-'),
    }
}

/// A header name as written in a format, if it is one.
fn header_name(name: &str) -> Option<HeaderName> {
    HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).ok()
}

/// Writes a field's value, or `-` when absent.
fn field(out: &mut String, value: Option<&HeaderValue>) {
    match value {
        Some(value) => out.push_str(&String::from_utf8_lossy(value.as_bytes())),
        None => out.push('-'),
    }
}

/// What a line needs of a request, taken before the app consumes it.
struct RequestFacts {
    info: RequestInfo,
    method: Method,
    version: Version,
    /// The values of `Format::request_headers`, in order.
    headers: Vec<Option<HeaderValue>>,
}

impl RequestFacts {
    fn of(request: &Request, format: &Format) -> RequestFacts {
        RequestFacts {
            info: request.info().into_owned(),
            method: request.method().clone(),
            version: request.version(),
            headers: (format.request_headers.iter())
                .map(|name| request.headers().get(name).cloned())
                .collect(),
        }
    }
}

/// What a line needs of a response.
struct ResponseFacts {
    status: StatusCode,
    length: Option<u64>,
    /// The values of `Format::response_headers`, in order.
    headers: Vec<Option<HeaderValue>>,
}

impl ResponseFacts {
    fn of(response: &Response, format: &Format) -> ResponseFacts {
        let declared = || {
            let value = response.headers().get(header::CONTENT_LENGTH)?;
            value.to_str().ok()?.parse().ok()
        };
        ResponseFacts {
            status: response.status(),
            length: response.body().len_hint().or_else(declared),
            headers: (format.response_headers.iter())
                .map(|name| response.headers().get(name).cloned())
                .collect(),
        }
    }
}

/// The user of an `Authorization: Basic` credential, as gunicorn finds it.
fn basic_user(value: &HeaderValue) -> Option<String> {
    let value = value.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64_decode(credentials.trim())?;
    let (user, _password) = decoded.split_once(':')?;
    Some(user.to_owned())
}

/// Decodes standard base64, padded or not; `None` if it is not that or
/// not UTF-8.
fn base64_decode(text: &str) -> Option<String> {
    fn sextet(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    let text = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        let mut bits = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            bits |= sextet(c)? << (18 - 6 * i);
        }
        let bytes = bits.to_be_bytes();
        match chunk.len() {
            4 => out.extend_from_slice(&bytes[1..4]),
            3 => out.extend_from_slice(&bytes[1..3]),
            2 => out.push(bytes[1]),
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::http::RequestTarget;
    use crate::log::tests::{fixed_time, temp_path};
    use crate::{ConnInfo, ResponseBody};

    /// A request as the engine would give it, from 10.0.0.1:5000.
    fn request(builder: http::request::Builder) -> Request {
        let mut request = builder.body(Default::default()).unwrap();
        let info = RequestInfo {
            conn: Arc::new(ConnInfo {
                peer_addr: "10.0.0.1:5000".parse().ok(),
                local_addr: "10.0.0.2:8000".parse().ok(),
                ..ConnInfo::default()
            }),
            target: RequestTarget::of_uri(request.uri()),
            host: request.headers().get(header::HOST).cloned(),
        };
        request.extensions_mut().insert(info);
        request
    }

    fn hello(_request: Request) -> Response {
        let mut response = Response::new("Hello, World!".into());
        response
            .headers_mut()
            .insert("x-app", HeaderValue::from_static("demo"));
        response
    }

    #[test]
    fn the_default_format_renders_gunicorns_line() {
        let path = temp_path("access.log");
        let mut log = AccessLog::new(path.to_str().unwrap(), DEFAULT_FORMAT).unwrap();
        log.clock = fixed_time;
        let app = log.wrap(hello);
        let response = app.call(request(
            http::Request::get("/a%20b?x=1")
                .header("host", "example.com")
                .header("authorization", "Basic YWxpY2U6c2VjcmV0")
                .header("referer", "http://example.com/")
                .header("user-agent", "curl/8.5.0"),
        ));
        assert_eq!(response.status(), 200);
        app.call(request(http::Request::head("/").header("host", "x")));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"10.0.0.1 - alice [30/Nov/2026:13:42:07 +0000] "GET /a%20b?x=1 HTTP/1.1" 200 13 "http://example.com/" "curl/8.5.0""#,
                "\n",
                r#"10.0.0.1 - - [30/Nov/2026:13:42:07 +0000] "HEAD / HTTP/1.1" 200 13 "-" "-""#,
                "\n"
            )
        );
        let _ = std::fs::remove_file(path);
    }

    fn render(format: &str, request: &Request, response: &Response) -> String {
        let format = Format::parse(format);
        let facts = RequestFacts::of(request, &format);
        let answer = ResponseFacts::of(response, &format);
        let mut out = String::new();
        let elapsed = Duration::from_micros(2_345_678);
        format.render(&mut out, &facts, &answer, fixed_time(), elapsed);
        out
    }

    #[test]
    fn every_code_renders() {
        let request = request(
            http::Request::post("/p%C3%A5th?q=1")
                .header("host", "example.com:8080")
                .header("x-request-id", "abc")
                .header("content-type", "text/plain"),
        );
        let response = hello(http::Request::new(Default::default()));
        let format = "%(h)s|%(l)s|%(u)s|%(t)s|%(r)s|%(m)s|%(U)s|%(q)s|%(H)s|%(s)s|%(B)s|%(b)s|\
                      %(f)s|%(a)s|%(T)s|%(D)s|%(M)s|%(L)s|%(p)s|%({X-Request-Id}i)s|%({x-app}o)s|\
                      %({nope}o)s|%({remote_port}e)s|%({RAW_URI}e)s|%({server_name}e)s|\
                      %({SERVER_PORT}e)s|%({wsgi.url_scheme}e)s|%({http_x_request_id}e)s|\
                      %({content_type}e)s|%({script_name}e)s";
        let pid = std::process::id();
        assert_eq!(
            render(format, &request, &response),
            format!(
                "10.0.0.1|-|-|[30/Nov/2026:13:42:07 +0000]|POST /p%C3%A5th?q=1 HTTP/1.1|POST|\
                 /påth|q=1|HTTP/1.1|200|13|13|-|-|2|2345678|2345|2.345678|<{pid}>|abc|demo|-|\
                 5000|/p%C3%A5th?q=1|example.com|8080|http|abc|text/plain|"
            )
        );
    }

    #[test]
    fn unknown_lengths_give_a_dash_for_b_and_zero_for_big_b() {
        let request = request(http::Request::get("/"));
        let streamed = Response::new(ResponseBody::stream(std::io::empty()));
        assert_eq!(render("%(b)s %(B)s", &request, &streamed), "- 0");
        let sized = Response::new(ResponseBody::sized(std::io::empty(), 7));
        assert_eq!(render("%(b)s %(B)s", &request, &sized), "7 7");
        let declared = http::Response::builder()
            .header("content-length", "9")
            .body(ResponseBody::stream(std::io::empty()))
            .unwrap();
        assert_eq!(render("%(b)s", &request, &declared), "9");
    }

    #[test]
    fn the_format_is_parsed_once_into_merged_parts() {
        let format = Format::parse("a %% b %(x)s %(h)d %(unclosed %z %");
        assert_eq!(
            format.parts,
            vec![
                Part::Text("a % b - ".into()),
                Part::RemoteAddr,
                Part::Text(" %(unclosed %z %".into()),
            ]
        );
        let format = Format::parse("%(f)s %({referer}i)s %({Referer}i)s");
        assert_eq!(format.request_headers, vec![header::REFERER]);
    }

    #[test]
    fn environment_variables_are_read_when_the_format_is_parsed() {
        let format = Format::parse("%({PATH}e)s %({MOSS_NO_SUCH_VARIABLE_X}e)s");
        let path = std::env::var("PATH").unwrap_or_else(|_| "-".into());
        assert_eq!(
            format.parts,
            vec![Part::Text(format!("{path} -"))],
            "process variables become text"
        );
    }

    #[test]
    fn basic_auth_users_are_decoded() {
        let user = |value: &'static str| basic_user(&HeaderValue::from_static(value));
        assert_eq!(user("Basic YWxpY2U6c2VjcmV0").as_deref(), Some("alice"));
        assert_eq!(user("basic Ym9iOg==").as_deref(), Some("bob"));
        assert_eq!(user("basic Ym9iOg").as_deref(), Some("bob"));
        assert_eq!(user("Basic bm9jb2xvbg=="), None, "no colon");
        assert_eq!(user("Bearer YWxpY2U6c2VjcmV0"), None);
        assert_eq!(user("Basic !!!!"), None);
    }

    #[test]
    fn an_access_log_reopens_its_file_after_a_rotation() {
        let path = temp_path("rotated-access.log");
        let log = AccessLog::new(path.to_str().unwrap(), "%(m)s %(U)s").unwrap();
        let app = log.clone().wrap(hello);
        app.call(request(http::Request::get("/before")));
        let rotated = path.with_extension("1");
        std::fs::rename(&path, &rotated).unwrap();
        log.reopen().unwrap();
        app.call(request(http::Request::get("/after")));
        assert_eq!(std::fs::read_to_string(&rotated).unwrap(), "GET /before\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "GET /after\n");
        let _ = std::fs::remove_file(path);
        let _ = std::fs::remove_file(rotated);
    }
}
