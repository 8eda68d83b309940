//! `Body`, the request body handle applications read, and the chunk-size
//! line grammar.

use std::fmt;
use std::io::{self, Read};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Buf, Bytes};
use http::HeaderMap;

use super::error::HttpError;

/// The connection side of a streaming body: implemented by the connection
/// state, which decodes the body of the request numbered `id` only.
pub(crate) trait BodySource: Send {
    /// Reads decoded body bytes of request `id`; `Ok(0)` at its end.
    fn read_body(&mut self, id: u64, buf: &mut [u8]) -> io::Result<usize>;
    /// The trailer fields of request `id`, once its body has been read whole.
    fn trailers(&self, id: u64) -> Option<HeaderMap>;
}

/// A request body, streamed from the connection as the application reads it.
///
/// Reading starts the body: the engine answers `Expect: 100-continue` at the
/// first read, not before. A body that ends early fails with
/// `UnexpectedEof`; malformed chunking fails with `InvalidData`, and the
/// engine then answers the request with an error status itself. A `Body`
/// kept past its request's response reads as an error.
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// let mut body = moss_server::Body::from("hello");
/// let mut text = String::new();
/// body.read_to_string(&mut text).unwrap();
/// assert_eq!(text, "hello");
/// ```
pub struct Body {
    inner: Inner,
}

enum Inner {
    Bytes(Bytes),
    Connection {
        source: Arc<Mutex<dyn BodySource>>,
        id: u64,
    },
}

impl Body {
    /// A body with no bytes.
    pub fn empty() -> Body {
        Body {
            inner: Inner::Bytes(Bytes::new()),
        }
    }

    pub(crate) fn streaming(source: Arc<Mutex<dyn BodySource>>, id: u64) -> Body {
        Body {
            inner: Inner::Connection { source, id },
        }
    }

    /// Trailer fields of a chunked body, available once the body has been
    /// read to its end; `None` before that or when there were none.
    pub fn trailers(&self) -> Option<HeaderMap> {
        match &self.inner {
            Inner::Bytes(_) => None,
            Inner::Connection { source, id } => source
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .trailers(*id),
        }
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Bytes(bytes) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                bytes.advance(n);
                Ok(n)
            }
            Inner::Connection { source, id } => source
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .read_body(*id, buf),
        }
    }
}

impl Default for Body {
    fn default() -> Body {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Bytes(bytes) => f
                .debug_struct("Body")
                .field("buffered", &bytes.len())
                .finish(),
            Inner::Connection { id, .. } => f.debug_struct("Body").field("request", id).finish(),
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Body {
        Body {
            inner: Inner::Bytes(bytes),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Body {
        Body::from(Bytes::from(bytes))
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Body {
        Body::from(Bytes::from_static(text.as_bytes()))
    }
}

impl From<String> for Body {
    fn from(text: String) -> Body {
        Body::from(Bytes::from(text))
    }
}

/// Longest chunk-size line (size and extensions) the engine buffers.
pub(crate) const MAX_CHUNK_LINE: usize = 4096;

/// Parses a chunk-size line without its CRLF:
/// `1*HEXDIG *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )`.
pub(crate) fn parse_chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    const BAD_SIZE: HttpError = HttpError::BadRequest("invalid chunk size");
    const BAD_EXT: HttpError = HttpError::BadRequest("invalid chunk extension");
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(BAD_SIZE);
    }
    let significant = line[..digits].iter().skip_while(|&&b| b == b'0').count();
    if significant > 15 {
        return Err(BAD_SIZE);
    }
    let size = line[..digits].iter().fold(0u64, |n, &b| {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => b - b'A' + 10,
        };
        n << 4 | u64::from(digit)
    });
    let rest = &line[digits..];
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < rest.len() && matches!(rest[*i], b' ' | b'\t') {
            *i += 1;
        }
    };
    let mut extensions = 0;
    loop {
        skip_ws(&mut i);
        if i == rest.len() {
            return if extensions > 0 || rest.is_empty() {
                Ok(size)
            } else {
                Err(BAD_SIZE)
            };
        }
        if rest[i] != b';' {
            return Err(if extensions == 0 && i == 0 {
                BAD_SIZE
            } else {
                BAD_EXT
            });
        }
        i += 1;
        skip_ws(&mut i);
        let name = rest[i..].iter().take_while(|&&b| is_tchar(b)).count();
        if name == 0 {
            return Err(BAD_EXT);
        }
        i += name;
        skip_ws(&mut i);
        if i < rest.len() && rest[i] == b'=' {
            i += 1;
            skip_ws(&mut i);
            if i < rest.len() && rest[i] == b'"' {
                i += 1;
                loop {
                    match rest.get(i) {
                        Some(b'"') => break,
                        Some(b'\\')
                            if rest
                                .get(i + 1)
                                .is_some_and(|&b| is_qdtext(b) || b == b'"' || b == b'\\') =>
                        {
                            i += 2
                        }
                        Some(&b) if is_qdtext(b) => i += 1,
                        _ => return Err(BAD_EXT),
                    }
                }
                i += 1;
            } else {
                let value = rest[i..].iter().take_while(|&&b| is_tchar(b)).count();
                if value == 0 {
                    return Err(BAD_EXT);
                }
                i += value;
            }
        }
        extensions += 1;
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_qdtext(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5B | 0x5D..=0x7E | 0x80..=0xFF)
}

#[cfg(test)]
mod tests {
    use super::parse_chunk_size;

    #[test]
    fn chunk_sizes() {
        for (line, size) in [
            (&b"5"[..], 5),
            (b"000", 0),
            (b"A", 10),
            (b"0005", 5),
            (b"5; some; parameters=stuff", 5),
            (b"5;foo=\"bar baz\"", 5),
            (b"5 ;a", 5),
            (b"ffffffffffffff", 0x00ff_ffff_ffff_ffff),
        ] {
            assert_eq!(
                parse_chunk_size(line),
                Ok(size),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
        for line in [
            &b""[..],
            b" 0",
            b"0 ",
            b"6_0",
            b"-5",
            b"+5",
            b" ;foo=bar",
            b"5;ext=val\rue",
            b"5;",
            b"5;a=",
            b"5;a=\"open",
            b"10000000000000000",
            b"0x5",
        ] {
            assert!(
                parse_chunk_size(line).is_err(),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
