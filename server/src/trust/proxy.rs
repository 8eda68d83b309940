//! The PROXY protocol (HAProxy's, versions 1 and 2): a header a front end
//! sends before the client's bytes, naming the client's address.
//!
//! [`parse`] is a pure parser over the bytes received so far;
//! [`read_header`] reads exactly one header's bytes from a stream (peeking
//! first, so the HTTP bytes after it stay in the socket).

use std::collections::HashSet;
use std::fmt;
use std::io::{self, ErrorKind, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Mutex;

/// The 12-byte signature that starts a version 2 header.
pub const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// The longest version 1 header, CRLF included.
pub const V1_MAX: usize = 107;

/// Whether, and in which versions, connections start with a PROXY header
/// (`--proxy-protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyProtocol {
    /// No PROXY header is read (the default).
    #[default]
    Off,
    /// A version 1 (text) header is required.
    V1,
    /// A version 2 (binary) header is required.
    V2,
    /// A header of either version is required.
    Auto,
}

impl ProxyProtocol {
    /// The name: `off`, `v1`, `v2` or `auto`.
    pub fn name(self) -> &'static str {
        match self {
            ProxyProtocol::Off => "off",
            ProxyProtocol::V1 => "v1",
            ProxyProtocol::V2 => "v2",
            ProxyProtocol::Auto => "auto",
        }
    }

    /// Whether a header of `version` (1 or 2) is accepted.
    fn accepts(self, version: u8) -> bool {
        matches!(
            (self, version),
            (ProxyProtocol::Auto, _) | (ProxyProtocol::V1, 1) | (ProxyProtocol::V2, 2)
        )
    }
}

impl FromStr for ProxyProtocol {
    type Err = String;

    /// Parses `off`, `v1`, `v2` or `auto`, in any case.
    fn from_str(name: &str) -> Result<ProxyProtocol, String> {
        match name.to_ascii_lowercase().as_str() {
            "off" => Ok(ProxyProtocol::Off),
            "v1" => Ok(ProxyProtocol::V1),
            "v2" => Ok(ProxyProtocol::V2),
            "auto" => Ok(ProxyProtocol::Auto),
            _ => Err("expected off, v1, v2 or auto".into()),
        }
    }
}

impl fmt::Display for ProxyProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a complete PROXY header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyHeader {
    /// The client's connection: its source (the client) and destination
    /// (the front end's listener).
    Proxied {
        /// The header's version, 1 or 2.
        version: u8,
        /// The client's address.
        source: SocketAddr,
        /// The address the client connected to.
        destination: SocketAddr,
    },
    /// No client address: v1 `UNKNOWN`, or a v2 `LOCAL` command (the front
    /// end's own health check) or an address family other than TCP over
    /// IPv4 or IPv6. The connection's own addresses stand.
    Local {
        /// The header's version, 1 or 2.
        version: u8,
    },
}

/// What [`parse`] found in the bytes received so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A whole header, `len` bytes long; what follows is the client's.
    Complete {
        /// What the header says.
        header: ProxyHeader,
        /// Its length in bytes.
        len: usize,
    },
    /// The start of a header, or too few bytes to tell: more are needed.
    Incomplete,
    /// These bytes do not start a PROXY header.
    NotProxy,
}

/// A PROXY header that is malformed, missing or not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PROXY protocol: {0}")]
pub struct ProxyError(pub &'static str);

impl From<ProxyError> for io::Error {
    fn from(error: ProxyError) -> io::Error {
        io::Error::new(ErrorKind::InvalidData, error)
    }
}

/// Parses the PROXY header at the start of `buf` (version 1 or 2).
///
/// # Errors
///
/// A malformed header: a v1 line longer than 107 bytes or not ended by
/// CRLF, an unknown protocol, addresses or ports that do not parse; a v2
/// header of another version, an unknown command, a UDP family, or
/// addresses longer than its length.
///
/// # Examples
///
/// ```
/// use moss_server::trust::proxy::{parse, Parsed, ProxyHeader};
/// let input = b"PROXY TCP4 192.0.2.1 192.0.2.2 56324 443\r\nGET / HTTP/1.1\r\n";
/// let Ok(Parsed::Complete { header: ProxyHeader::Proxied { source, .. }, len }) = parse(input) else {
///     panic!()
/// };
/// assert_eq!((source.to_string().as_str(), len), ("192.0.2.1:56324", 42));
/// assert_eq!(parse(b"PROXY TCP4 192.0"), Ok(Parsed::Incomplete));
/// assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Ok(Parsed::NotProxy));
/// ```
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    if buf.len() < V2_SIGNATURE.len() && V2_SIGNATURE.starts_with(buf) {
        return Ok(Parsed::Incomplete);
    }
    if buf.starts_with(V2_SIGNATURE) {
        return parse_v2(buf);
    }
    const V1_START: &[u8] = b"PROXY ";
    if buf.len() < V1_START.len() && V1_START.starts_with(buf) {
        return Ok(Parsed::Incomplete);
    }
    if buf.starts_with(V1_START) {
        return parse_v1(buf);
    }
    Ok(Parsed::NotProxy)
}

fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let window = &buf[..buf.len().min(V1_MAX)];
    let Some(lf) = memchr::memchr(b'\n', window) else {
        return match buf.len() >= V1_MAX {
            true => Err(ProxyError("v1 header longer than 107 bytes")),
            false => Ok(Parsed::Incomplete),
        };
    };
    if lf == 0 || window[lf - 1] != b'\r' {
        return Err(ProxyError("v1 header not ended by CRLF"));
    }
    let line =
        std::str::from_utf8(&window[..lf - 1]).map_err(|_| ProxyError("v1 header is not text"))?;
    if line.contains('\r') {
        return Err(ProxyError("bare CR in a v1 header"));
    }
    let parts: Vec<&str> = line.split(' ').collect();
    let header = match parts[..] {
        ["PROXY", "UNKNOWN", ..] => ProxyHeader::Local { version: 1 },
        ["PROXY", family @ ("TCP4" | "TCP6"), src, dst, sport, dport] => {
            let ip = |text: &str| -> Result<IpAddr, ProxyError> {
                let bad = ProxyError("v1 address does not parse");
                match family {
                    "TCP4" => text.parse::<Ipv4Addr>().map(IpAddr::V4).map_err(|_| bad),
                    _ => text.parse::<Ipv6Addr>().map(IpAddr::V6).map_err(|_| bad),
                }
            };
            ProxyHeader::Proxied {
                version: 1,
                source: SocketAddr::new(ip(src)?, port(sport)?),
                destination: SocketAddr::new(ip(dst)?, port(dport)?),
            }
        }
        ["PROXY", "TCP4" | "TCP6", ..] => {
            return Err(ProxyError("v1 header without exactly four fields"))
        }
        _ => return Err(ProxyError("v1 protocol other than TCP4, TCP6 or UNKNOWN")),
    };
    Ok(Parsed::Complete {
        header,
        len: lf + 1,
    })
}

/// A v1 port: 0 to 65535, decimal digits without a leading zero.
fn port(text: &str) -> Result<u16, ProxyError> {
    let bad = ProxyError("v1 port is not 0 to 65535");
    let digits = !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit());
    if !digits || (text.len() > 1 && text.starts_with('0')) {
        return Err(bad);
    }
    text.parse().map_err(|_| bad)
}

fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    if buf.len() < 16 {
        return Ok(Parsed::Incomplete);
    }
    let (ver_cmd, fam_proto) = (buf[12], buf[13]);
    if ver_cmd >> 4 != 2 {
        return Err(ProxyError("v2 header of another version"));
    }
    let len = 16 + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if buf.len() < len {
        return Ok(Parsed::Incomplete);
    }
    let body = &buf[16..len];
    let local = Parsed::Complete {
        header: ProxyHeader::Local { version: 2 },
        len,
    };
    match ver_cmd & 0x0F {
        0x0 => return Ok(local),
        0x1 => {}
        _ => return Err(ProxyError("v2 command other than LOCAL or PROXY")),
    }
    let (family, protocol) = (fam_proto >> 4, fam_proto & 0x0F);
    match protocol {
        0x0 => return Ok(local),
        0x1 => {}
        0x2 => return Err(ProxyError("v2 header for a datagram connection")),
        _ => return Err(ProxyError("v2 unknown transport protocol")),
    }
    let short = ProxyError("v2 addresses longer than the header");
    let (source, destination) = match family {
        0x1 => {
            let a = body.get(..12).ok_or(short)?;
            let ip = |at: usize| IpAddr::from(<[u8; 4]>::try_from(&a[at..at + 4]).unwrap());
            let port = |at: usize| u16::from_be_bytes([a[at], a[at + 1]]);
            (
                SocketAddr::new(ip(0), port(8)),
                SocketAddr::new(ip(4), port(10)),
            )
        }
        0x2 => {
            let a = body.get(..36).ok_or(short)?;
            let ip = |at: usize| IpAddr::from(<[u8; 16]>::try_from(&a[at..at + 16]).unwrap());
            let port = |at: usize| u16::from_be_bytes([a[at], a[at + 1]]);
            (
                SocketAddr::new(ip(0), port(32)),
                SocketAddr::new(ip(16), port(34)),
            )
        }
        0x0 | 0x3 => return Ok(local),
        _ => return Err(ProxyError("v2 unknown address family")),
    };
    Ok(Parsed::Complete {
        header: ProxyHeader::Proxied {
            version: 2,
            source,
            destination,
        },
        len,
    })
}

/// A stream whose waiting bytes can be looked at without taking them
/// (`MSG_PEEK`), so that a PROXY header is read without the bytes after it.
pub trait Peek: Read {
    /// Copies bytes that have arrived into `buf` without consuming them,
    /// waiting (or parking) until at least one has; `Ok(0)` at the end of
    /// the stream.
    ///
    /// # Errors
    ///
    /// As [`Read::read`]; `WouldBlock` or `TimedOut` past a read timeout.
    fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

impl Peek for std::net::TcpStream {
    fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        std::net::TcpStream::peek(self, buf)
    }
}

impl Peek for moss_net_shims::TcpStream {
    fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        moss_net_shims::TcpStream::peek(self, buf)
    }
}

/// Reads the PROXY header a connection must start with, under `mode`:
/// exactly its bytes, the client's stay in the stream. The caller bounds
/// the wait with the stream's read timeout.
///
/// Peeks at what has arrived; bytes known to be part of the header are
/// then taken (so the next peek waits for more instead of spinning), and
/// the last read stops at the header's end.
///
/// # Errors
///
/// `InvalidData` (a [`ProxyError`]) for a malformed header, a version
/// `mode` does not accept, or bytes that are no header; `UnexpectedEof`
/// when the stream ends first; the stream's errors (`WouldBlock` or
/// `TimedOut` at the read timeout).
pub fn read_header<S: Peek>(stream: &mut S, mode: ProxyProtocol) -> io::Result<ProxyHeader> {
    let mut got: Vec<u8> = Vec::new();
    let mut peeked = [0u8; 512];
    loop {
        let n = stream.peek(&mut peeked)?;
        if n == 0 {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                "PROXY protocol: connection closed before the header's end",
            ));
        }
        let before = got.len();
        got.extend_from_slice(&peeked[..n]);
        match parse(&got)? {
            Parsed::Complete { header, len } => {
                let version = match header {
                    ProxyHeader::Proxied { version, .. } | ProxyHeader::Local { version } => {
                        version
                    }
                };
                if !mode.accepts(version) {
                    return Err(ProxyError("header of a version not accepted").into());
                }
                stream.read_exact(&mut peeked[..len - before])?;
                return Ok(header);
            }
            Parsed::NotProxy => return Err(ProxyError("no header").into()),
            Parsed::Incomplete => {
                // Everything peeked belongs to the header: take it.
                stream.read_exact(&mut peeked[..n])?;
                if got.len() > 16 + usize::from(u16::MAX) {
                    return Err(ProxyError("header too long").into());
                }
            }
        }
    }
}

/// Peers whose refused PROXY header has been logged: at most this many,
/// then the set starts again.
const LOGGED_PEERS: usize = 256;

/// Logs a connection closed for its PROXY header, once per peer address
/// (a small bounded set, per process), at `debug` after that.
pub(crate) fn log_refused(peer: Option<SocketAddr>, error: &io::Error) {
    static LOGGED: Mutex<Option<HashSet<Option<IpAddr>>>> = Mutex::new(None);
    let ip = peer.map(|p| p.ip());
    let first = {
        let mut logged = LOGGED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let set = logged.get_or_insert_with(HashSet::new);
        if set.len() >= LOGGED_PEERS {
            set.clear();
        }
        set.insert(ip)
    };
    let peer = peer.map_or_else(|| "unknown".to_owned(), |p| p.to_string());
    match first {
        true => log::warn!("closing connection from {peer}: {error} (logged once per address)"),
        false => log::debug!("closing connection from {peer}: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, Cursor, Read};

    use super::{parse, read_header, Parsed, Peek, ProxyError, ProxyHeader, ProxyProtocol};

    fn proxied(header: &[u8]) -> (String, String, usize) {
        match parse(header) {
            Ok(Parsed::Complete {
                header:
                    ProxyHeader::Proxied {
                        source,
                        destination,
                        ..
                    },
                len,
            }) => (source.to_string(), destination.to_string(), len),
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(header)),
        }
    }

    fn v2(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
        let mut out = super::V2_SIGNATURE.to_vec();
        out.extend([ver_cmd, fam]);
        out.extend((body.len() as u16).to_be_bytes());
        out.extend(body);
        out
    }

    #[test]
    fn valid_v1_headers() {
        assert_eq!(
            proxied(b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET"),
            ("192.168.0.1:56324".into(), "192.168.0.11:443".into(), 47)
        );
        assert_eq!(
            proxied(b"PROXY TCP6 2001:db8::1 ::1 0 65535\r\n"),
            ("[2001:db8::1]:0".into(), "[::1]:65535".into(), 36)
        );
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n"),
            Ok(Parsed::Complete {
                header: ProxyHeader::Local { version: 1 },
                len: 15
            })
        );
        assert_eq!(
            parse(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nGET"),
            Ok(Parsed::Complete {
                header: ProxyHeader::Local { version: 1 },
                len: 35
            })
        );
        // The longest: two full IPv6 addresses and five-digit ports.
        let longest = format!(
            "PROXY TCP6 {0} {0} 65535 65535\r\n",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        );
        assert_eq!(longest.len(), 104);
        assert_eq!(proxied(longest.as_bytes()).2, 104);
    }

    #[test]
    fn invalid_v1_headers() {
        for bad in [
            &b"PROXY TCP4 192.168.0.1 192.16...\r\n"[..],
            b"PROXY TCP4 192.168.0.1 192.168.0.11 65iii 100000\r\n",
            b"PROXY TCP4 not-an-ip 192.168.0.11 56324 443\r\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 65536\r\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n",
            b"PROXY TCP4 ::1 ::1 1 2\r\n",
            b"PROXY TCP6 1.2.3.4 1.2.3.4 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n",
            b"PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n",
            b"PROXY TCP4  1.2.3.4 1.2.3.4 1 2\r\n",
            b"PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n",
            b"PROXY TCP4 1.2.3.4 1.2\r3.4 1 2\r\n",
            b"PROXY \r\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        // Oversized: no CRLF within 107 bytes.
        let long = format!("PROXY TCP4 {}", "1".repeat(200));
        assert_eq!(
            parse(long.as_bytes()),
            Err(ProxyError("v1 header longer than 107 bytes"))
        );
        let line = format!("PROXY UNKNOWN {}\r\n", "x".repeat(100));
        assert!(parse(line.as_bytes()).is_err());
    }

    #[test]
    fn truncated_headers_are_incomplete() {
        let whole = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
        for end in 1..whole.len() {
            assert_eq!(parse(&whole[..end]), Ok(Parsed::Incomplete), "{end}");
        }
        let v2 = v2(0x21, 0x11, &[1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]);
        for end in 1..v2.len() {
            assert_eq!(parse(&v2[..end]), Ok(Parsed::Incomplete), "{end}");
        }
        assert_eq!(parse(b""), Ok(Parsed::Incomplete));
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Ok(Parsed::NotProxy));
        assert_eq!(parse(b"PROXy"), Ok(Parsed::NotProxy));
        assert_eq!(parse(b"\r\n\r\nGET"), Ok(Parsed::NotProxy));
    }

    #[test]
    fn valid_v2_headers() {
        let mut v4 = v2(
            0x21,
            0x11,
            &[192, 168, 1, 10, 192, 168, 1, 1, 0x30, 0x39, 1, 0xBB],
        );
        v4.extend(b"GET");
        assert_eq!(
            proxied(&v4),
            ("192.168.1.10:12345".into(), "192.168.1.1:443".into(), 28)
        );
        let mut body = vec![0u8; 36];
        body[15] = 1;
        body[31] = 2;
        body[32..].copy_from_slice(&[0xD4, 0x31, 0, 80]);
        assert_eq!(
            proxied(&v2(0x21, 0x21, &body)),
            ("[::1]:54321".into(), "[::2]:80".into(), 52)
        );
        // TLVs after the addresses are skipped.
        let mut tlvs = vec![1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2];
        tlvs.extend([0x04, 0x00, 0x03, b'a', b'b', b'c']);
        assert_eq!(proxied(&v2(0x21, 0x11, &tlvs)).2, 34);
        // LOCAL, whatever the family; UNSPEC and UNIX carry no IP address.
        for (cmd, fam, body) in [
            (0x20, 0x00, &[][..]),
            (0x20, 0x11, &[1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2][..]),
            (0x21, 0x00, &[][..]),
            (0x21, 0x31, &[0; 216][..]),
        ] {
            let header = v2(cmd, fam, body);
            assert_eq!(
                parse(&header),
                Ok(Parsed::Complete {
                    header: ProxyHeader::Local { version: 2 },
                    len: header.len()
                })
            );
        }
    }

    #[test]
    fn invalid_v2_headers() {
        let addrs = [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2];
        for (ver_cmd, fam, body) in [
            (0x11, 0x11, &addrs[..]),  // version 1
            (0x31, 0x11, &addrs[..]),  // version 3
            (0x22, 0x11, &addrs[..]),  // command 2
            (0x21, 0x12, &addrs[..]),  // UDP
            (0x21, 0x11, &addrs[..8]), // addresses cut short
            (0x21, 0x21, &addrs[..]),  // IPv6 in 12 bytes
            (0x21, 0x41, &addrs[..]),  // family 4
        ] {
            assert!(
                parse(&v2(ver_cmd, fam, body)).is_err(),
                "{ver_cmd:x} {fam:x}"
            );
        }
    }

    /// A stream that hands out `chunks` one per read or peek.
    struct Chunks {
        data: Cursor<Vec<u8>>,
        sizes: Vec<usize>,
    }

    impl Chunks {
        fn next(&self) -> usize {
            self.sizes.first().copied().unwrap_or(usize::MAX)
        }
    }

    impl Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.next());
            let n = self.data.read(&mut buf[..n])?;
            if let Some(first) = self.sizes.first_mut() {
                *first -= n.min(*first);
                if *first == 0 {
                    self.sizes.remove(0);
                }
            }
            Ok(n)
        }
    }

    impl Peek for Chunks {
        fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let at = self.data.position();
            let n = buf.len().min(self.next());
            let n = self.data.read(&mut buf[..n])?;
            self.data.set_position(at);
            Ok(n)
        }
    }

    fn read(
        input: &[u8],
        sizes: Vec<usize>,
        mode: ProxyProtocol,
    ) -> io::Result<(ProxyHeader, Vec<u8>)> {
        let mut stream = Chunks {
            data: Cursor::new(input.to_vec()),
            sizes,
        };
        let header = read_header(&mut stream, mode)?;
        let mut rest = Vec::new();
        stream.data.read_to_end(&mut rest)?;
        Ok((header, rest))
    }

    #[test]
    fn reading_takes_exactly_the_header() {
        let input = b"PROXY TCP4 10.1.1.1 10.0.0.1 1000 80\r\nGET / HTTP/1.1\r\n\r\n";
        for sizes in [vec![], vec![1; 200], vec![3, 5, 7, 11, 13], vec![37, 1]] {
            let (header, rest) = read(input, sizes, ProxyProtocol::V1).unwrap();
            assert!(matches!(header, ProxyHeader::Proxied { version: 1, .. }));
            assert_eq!(rest, b"GET / HTTP/1.1\r\n\r\n");
        }
        let mut v2 = v2(0x21, 0x11, &[1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]);
        v2.extend(b"GET");
        for sizes in [vec![], vec![1; 40], vec![13, 2, 1, 20]] {
            let (_, rest) = read(&v2, sizes, ProxyProtocol::Auto).unwrap();
            assert_eq!(rest, b"GET");
        }
    }

    #[test]
    fn reading_refuses_what_the_mode_does_not_accept() {
        let v1 = b"PROXY UNKNOWN\r\nGET";
        let v2 = v2(0x20, 0x00, &[]);
        assert!(read(v1, vec![], ProxyProtocol::V2).is_err());
        assert!(read(&v2, vec![], ProxyProtocol::V1).is_err());
        assert!(read(v1, vec![], ProxyProtocol::Auto).is_ok());
        assert!(read(&v2, vec![], ProxyProtocol::Auto).is_ok());
        let missing = read(b"GET / HTTP/1.1\r\n", vec![], ProxyProtocol::Auto).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::InvalidData);
        let cut = read(b"PROXY TCP4 1.2", vec![], ProxyProtocol::V1).unwrap_err();
        assert_eq!(cut.kind(), io::ErrorKind::UnexpectedEof);
    }
}
