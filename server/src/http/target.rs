//! The request-target (forms, raw text, path and query) and the `Host` value's grammar.

use std::borrow::Cow;
use std::net::Ipv6Addr;

use bytes::Bytes;
use http::{Method, Uri};

use super::error::HttpError;

/// Which of the four forms of RFC 9112 section 3.2 a request-target has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetForm {
    /// `/path?query`, the usual form.
    Origin,
    /// `http://host/path?query`, as sent to proxies.
    Absolute,
    /// `host:port`, only with `CONNECT`.
    Authority,
    /// `*`, only with `OPTIONS`.
    Asterisk,
}

/// The request-target exactly as received, split the way gunicorn (and
/// Python's `urlsplit`) splits it for WSGI.
///
/// The raw text may hold bytes that [`http::Uri`] refuses (UTF-8, `"`); the
/// request's `Uri` then carries them percent-encoded while this keeps them.
///
/// The engine attaches one to every request (see
/// [`RequestInfo::target`](crate::RequestInfo::target)); a request built by
/// hand gets one made from its `Uri`, whose fragment `http` drops.
///
/// # Examples
///
/// ```
/// use moss_server::{RequestExt, TargetForm};
/// let request = http::Request::get("/a%20b?x=1").body(()).unwrap();
/// let info = request.info();
/// let target = info.target();
/// assert_eq!(target.form(), TargetForm::Origin);
/// assert_eq!(target.path(), "/a%20b");
/// assert_eq!(target.query(), "x=1");
/// assert_eq!(target.fragment(), "");
/// assert_eq!(target.decoded_path(), "/a b");
/// ```
#[derive(Debug, Clone)]
pub struct RequestTarget {
    raw: Bytes,
    form: TargetForm,
    /// The scheme, in absolute form; else empty.
    scheme: Span,
    /// `host [ ":" port ]` without userinfo, in absolute form; else empty.
    authority: Span,
    path: Span,
    query: Span,
    fragment: Span,
}

/// A part of the raw target, by byte offsets: `u32` is enough, since a
/// request head is at most `MAX_HEAD` (1 MiB) and a `Uri` at most 64 KiB.
#[derive(Debug, Clone, Copy)]
struct Span(u32, u32);

impl Span {
    fn new(start: usize, end: usize) -> Span {
        debug_assert!(end <= u32::MAX as usize);
        Span(start as u32, end as u32)
    }
}

impl RequestTarget {
    /// The target of a request built by hand rather than parsed: its
    /// `Uri`'s path and query (`/` without one), split in the form their
    /// shape suggests; `/` if they split in none.
    pub(crate) fn of_uri(uri: &Uri) -> RequestTarget {
        let text = uri.path_and_query().map_or("/", |p| p.as_str());
        let method = if text.starts_with('/') || text.contains("://") {
            Method::GET
        } else if text == "*" {
            Method::OPTIONS
        } else {
            Method::CONNECT
        };
        split(Bytes::copy_from_slice(text.as_bytes()), &method)
            .unwrap_or_else(|_| split(Bytes::from_static(b"/"), &Method::GET).expect("'/' splits"))
    }

    /// The target as received (valid UTF-8, checked by the parser).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.raw).unwrap_or("")
    }

    /// The form of the target.
    pub fn form(&self) -> TargetForm {
        self.form
    }

    fn part(&self, Span(start, end): Span) -> &str {
        self.as_str()
            .get(start as usize..end as usize)
            .unwrap_or("")
    }

    /// The scheme of an absolute-form target (`http`, `https`, as received).
    pub(crate) fn scheme(&self) -> Option<&str> {
        (self.form == TargetForm::Absolute).then(|| self.part(self.scheme))
    }

    /// The `host [ ":" port ]` of an absolute-form target, without userinfo.
    pub(crate) fn authority(&self) -> Option<&str> {
        (self.form == TargetForm::Absolute).then(|| self.part(self.authority))
    }

    /// The path, still percent-encoded (empty for `CONNECT host:port`).
    pub fn path(&self) -> &str {
        self.part(self.path)
    }

    /// The query string without `?` (empty when absent).
    pub fn query(&self) -> &str {
        self.part(self.query)
    }

    /// The fragment without `#` (clients should not send one; empty when absent).
    pub fn fragment(&self) -> &str {
        self.part(self.fragment)
    }

    /// The path percent-decoded, like WSGI's `PATH_INFO`; bytes that are not
    /// UTF-8 after decoding are replaced with U+FFFD.
    pub fn decoded_path(&self) -> Cow<'_, str> {
        let path = self.path();
        if !path.contains('%') {
            return Cow::Borrowed(path);
        }
        match percent_decode(path.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(path),
            Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
        }
    }
}

/// Decodes `%HH` escapes; a `%` not followed by two hex digits stays as is.
pub(crate) fn percent_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.contains(&b'%') {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' && i + 2 < input.len() {
            if let (Some(h), Some(l)) = (hex(input[i + 1]), hex(input[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    Cow::Owned(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Classifies and splits `raw`, refusing forms the method does not allow.
pub(crate) fn split(raw: Bytes, method: &Method) -> Result<RequestTarget, HttpError> {
    let bytes = &raw[..];
    let len = bytes.len();
    let empty = Span::new(len, len);
    let (mut scheme, mut authority) = (empty, empty);
    let (form, path_start) = if bytes == b"*" {
        if method != Method::OPTIONS {
            return Err(HttpError::BadRequest(
                "asterisk-form target without OPTIONS",
            ));
        }
        (TargetForm::Asterisk, 0)
    } else if method == Method::CONNECT {
        if !is_connect_authority(bytes) {
            // RFC 9110 section 9.3.6: host and a valid, non-empty port.
            return Err(HttpError::BadRequest(
                "CONNECT needs an authority-form target (host:port)",
            ));
        }
        let target = RequestTarget {
            raw,
            form: TargetForm::Authority,
            scheme: empty,
            authority: empty,
            path: empty,
            query: empty,
            fragment: empty,
        };
        return Ok(target);
    } else if bytes.first() == Some(&b'/') {
        (TargetForm::Origin, 0)
    } else if let Some(start) = scheme_end(bytes) {
        let path_start = bytes[start..]
            .iter()
            .position(|&b| matches!(b, b'/' | b'?' | b'#'))
            .map_or(len, |p| start + p);
        // authority = [ userinfo "@" ] host [ ":" port ], with no "@" in
        // userinfo or host: a second one is refused, not read as either.
        let host_start = match memchr::memchr(b'@', &bytes[start..path_start]) {
            Some(at) if is_userinfo(&bytes[start..start + at]) => start + at + 1,
            Some(_) => {
                return Err(HttpError::BadRequest(
                    "invalid userinfo in the request-target",
                ))
            }
            None => start,
        };
        let host = &bytes[host_start..path_start];
        // RFC 9110 sections 4.2.1, 4.2.2: an http(s) URI with an empty host
        // is invalid; other schemes get the same rule.
        if matches!(host.first(), None | Some(b':')) {
            return Err(HttpError::BadRequest("absolute-form target without a host"));
        }
        if !is_host(host) {
            return Err(HttpError::BadRequest("invalid host in the request-target"));
        }
        scheme = Span::new(0, start - 3);
        authority = Span::new(host_start, path_start);
        (TargetForm::Absolute, path_start)
    } else {
        return Err(HttpError::BadRequest("request-target in no known form"));
    };
    // One search for the first `?` or `#`; a `#` ends the query as well.
    let (path_end, hash) = match memchr::memchr2(b'?', b'#', &bytes[path_start..]) {
        None => (len, len),
        Some(at) if bytes[path_start + at] == b'#' => (path_start + at, path_start + at),
        Some(at) => {
            let after = path_start + at + 1;
            let hash = memchr::memchr(b'#', &bytes[after..]).map_or(len, |p| after + p);
            (path_start + at, hash)
        }
    };
    let path = Span::new(path_start, path_end);
    let query = match path_end < hash {
        true => Span::new(path_end + 1, hash),
        false => empty,
    };
    let fragment = match hash < len {
        true => Span::new(hash + 1, len),
        false => empty,
    };
    Ok(RequestTarget {
        raw,
        form,
        scheme,
        authority,
        path,
        query,
        fragment,
    })
}

/// RFC 9110 section 7.4: "a request for an "https" resource MUST be
/// rejected unless it has been received over a connection that has been
/// secured", with 421. `secured`: the connection's scheme is `https`
/// ([`ConnInfo::scheme`](crate::ConnInfo::scheme)), which is also how a
/// server layer vouches for a trusted gateway that terminated TLS.
pub(crate) fn check_secured(target: &RequestTarget, secured: bool) -> Result<(), HttpError> {
    match target.scheme() {
        Some(scheme) if scheme.eq_ignore_ascii_case("https") && !secured => {
            Err(HttpError::MisdirectedRequest)
        }
        _ => Ok(()),
    }
}

/// For `scheme://…`, the index just after `//`.
fn scheme_end(bytes: &[u8]) -> Option<usize> {
    let colon = bytes.iter().position(|&b| b == b':')?;
    let scheme = &bytes[..colon];
    let valid = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    (valid && bytes[colon..].starts_with(b"://")).then_some(colon + 3)
}

/// Whether `value` is a valid `Host` field value, `uri-host [ ":" port ]`
/// (RFC 9110 section 7.2, RFC 3986 section 3.2): a reg-name (which
/// includes IPv4 addresses and may be empty) or a bracketed IPv6 or
/// IPvFuture literal, then an optional port of digits. No userinfo, path,
/// whitespace or other delimiters.
pub(crate) fn is_host(value: &[u8]) -> bool {
    let port = match value.first() {
        Some(b'[') => match memchr::memchr(b']', value) {
            Some(end) if is_ip_literal(&value[1..end]) => &value[end + 1..],
            _ => return false,
        },
        _ => &value[reg_name_len(value)..],
    };
    match port {
        [] => true,
        [b':', digits @ ..] => digits.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// Whether `bytes` is CONNECT's `authority-form = uri-host ":" port`
/// with a host and a port from 1 to 65535.
fn is_connect_authority(bytes: &[u8]) -> bool {
    let (host, port) = match bytes.first() {
        Some(b'[') => match memchr::memchr(b']', bytes) {
            Some(end) if is_ip_literal(&bytes[1..end]) => (&bytes[..=end], &bytes[end + 1..]),
            _ => return false,
        },
        _ => bytes.split_at(reg_name_len(bytes)),
    };
    let [b':', digits @ ..] = port else {
        return false;
    };
    !host.is_empty()
        && (1..=5).contains(&digits.len())
        && digits.iter().all(u8::is_ascii_digit)
        && std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse::<u16>().ok())
            .is_some_and(|port| port > 0)
}

/// Whether `bytes` is a `userinfo = *( unreserved / pct-encoded /
/// sub-delims / ":" )` (RFC 3986 section 3.2.1).
fn is_userinfo(bytes: &[u8]) -> bool {
    bytes
        .split(|&b| b == b':')
        .all(|part| reg_name_len(part) == part.len())
}

/// Length of the `reg-name = *( unreserved / pct-encoded / sub-delims )`
/// that starts `bytes`.
fn reg_name_len(bytes: &[u8]) -> usize {
    let mut i = 0;
    loop {
        i += bytes[i..]
            .iter()
            .position(|&b| !REG_NAME[usize::from(b)])
            .unwrap_or(bytes.len() - i);
        match bytes.get(i..i + 3) {
            Some([b'%', high, low]) if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => {
                i += 3
            }
            _ => return i,
        }
    }
}

/// The bytes a reg-name holds as themselves: RFC 3986 `unreserved` and
/// `sub-delims` (a table: Host is checked on every request).
const REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = is_unreserved(b as u8) || is_sub_delim(b as u8);
        b += 1;
    }
    table
};

/// The inside of `IP-literal = "[" ( IPv6address / IPvFuture ) "]"`, with
/// `IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )`.
fn is_ip_literal(inside: &[u8]) -> bool {
    if let [b'v' | b'V', rest @ ..] = inside {
        let digits = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        return match &rest[digits..] {
            [b'.', tail @ ..] if digits > 0 && !tail.is_empty() => tail
                .iter()
                .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':'),
            _ => false,
        };
    }
    std::str::from_utf8(inside).is_ok_and(|text| text.parse::<Ipv6Addr>().is_ok())
}

/// RFC 3986 `unreserved`.
const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 `sub-delims`.
const fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// Builds the `Uri` of the request, percent-encoding what `Uri` refuses.
pub(crate) fn to_uri(target: &RequestTarget) -> Result<Uri, HttpError> {
    if let Ok(uri) = Uri::from_maybe_shared(target.raw.clone()) {
        return Ok(uri);
    }
    let end = memchr::memchr(b'#', &target.raw).unwrap_or(target.raw.len());
    let mut encoded = Vec::with_capacity(target.raw.len() + 16);
    for &b in &target.raw[..end] {
        if b.is_ascii_graphic()
            && !matches!(
                b,
                b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
            )
        {
            encoded.push(b);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            encoded.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
    Uri::from_maybe_shared(Bytes::from(encoded))
        .map_err(|_| HttpError::BadRequest("invalid request-target"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(raw: &str, method: Method) -> Result<RequestTarget, HttpError> {
        split(Bytes::copy_from_slice(raw.as_bytes()), &method)
    }

    #[test]
    fn splits_forms() {
        let a = t("http://user:pass@example.com:8080/foo?q=1", Method::GET).unwrap();
        assert_eq!(
            (a.form(), a.path(), a.query()),
            (TargetForm::Absolute, "/foo", "q=1")
        );
        assert_eq!(
            (a.scheme(), a.authority()),
            (Some("http"), Some("example.com:8080"))
        );
        let o = t("///keeping_slashes", Method::GET).unwrap();
        assert_eq!((o.scheme(), o.authority()), (None, None));
        assert_eq!(o.path(), "///keeping_slashes");
        assert!(t("*", Method::GET).is_err());
        assert!(t("example.com:443", Method::GET).is_err());
        assert!(t("foo/bar", Method::GET).is_err());
        assert_eq!(t("*", Method::OPTIONS).unwrap().path(), "*");
        assert_eq!(
            t("[::1]:443", Method::CONNECT).unwrap().form(),
            TargetForm::Authority
        );
    }

    #[test]
    fn absolute_form_targets_need_a_valid_host() {
        for good in [
            "http://a/",
            "HTTPS://a:443",
            "http://[::1]:8080/x",
            "http://u:p@a:80/",
            "http://u%40x:p;q=1@a/",
            "http://a:/",
        ] {
            assert!(t(good, Method::GET).is_ok(), "{good:?}");
        }
        for bad in [
            "http:///a",
            "http://:80/a",
            "https://:443/",
            "http://u@/a",
            "http://u@:80/",
            "http://a@b@c/",
            "http://u p@c/",
            "http://a:b/",
            "http://[::1/",
            "http://a\"b/",
        ] {
            assert!(
                matches!(t(bad, Method::GET), Err(HttpError::BadRequest(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn https_targets_need_a_secured_connection() {
        let https = t("https://a/", Method::GET).unwrap();
        assert_eq!(
            check_secured(&https, false),
            Err(HttpError::MisdirectedRequest)
        );
        assert_eq!(check_secured(&https, true), Ok(()));
        for other in ["http://a/", "/a"] {
            assert_eq!(
                check_secured(&t(other, Method::GET).unwrap(), false),
                Ok(())
            );
        }
    }

    #[test]
    fn hand_built_requests_get_their_uri_split() {
        let of = |uri: &str| RequestTarget::of_uri(&uri.parse().unwrap());
        let o = of("http://example.com/a%20b?x=1");
        assert_eq!(
            (o.form(), o.as_str(), o.path(), o.query()),
            (TargetForm::Origin, "/a%20b?x=1", "/a%20b", "x=1")
        );
        assert_eq!(of("*").form(), TargetForm::Asterisk);
        assert_eq!(of("example.com:443").as_str(), "/");
    }

    #[test]
    fn hosts_follow_the_authority_grammar() {
        for good in [
            "",
            "example.com",
            "example.com:8080",
            "a:",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:443",
            "[v1.fe:80]",
            "caf%C3%A9.example",
            "a-b_c~d!$&'()*+,;=",
        ] {
            assert!(is_host(good.as_bytes()), "{good:?}");
        }
        for bad in [
            "a b",
            "a/b",
            "u@a",
            "u:p@a",
            "a:b",
            "a:80:80",
            "[::1",
            "[::1]x",
            "[x]",
            "[v1]",
            "a?b",
            "a#b",
            "%zz",
            "%4",
            "\"a\"",
            "a\tb",
            "caf\u{e9}",
        ] {
            assert!(!is_host(bad.as_bytes()), "{bad:?}");
        }
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(&*percent_decode(b"/a%20b%zz%4"), b"/a b%zz%4");
        assert_eq!(&*percent_decode(b"%41"), b"A");
    }
}
