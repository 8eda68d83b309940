//! Trusting a front end: gunicorn's `forwarded_allow_ips` and
//! `secure_scheme_headers`, and the PROXY protocol (`proxy_protocol`,
//! `proxy_allow_ips`).
//!
//! - A request from a peer in [`Trust::forwarded_allow_ips`] (or from a
//!   connection without a peer address: a Unix socket, as gunicorn trusts
//!   those) has its scheme set by the [`Trust::secure_scheme_headers`] it
//!   carries; headers that disagree get 400 (gunicorn's
//!   `InvalidSchemeHeaders`). From any other peer they are left to the
//!   application and not trusted. As in gunicorn, `X-Forwarded-For` never
//!   changes the remote address: the application reads it itself.
//! - A connection from a peer in [`Trust::proxy_allow_ips`] starts with a
//!   PROXY protocol header when [`Trust::proxy_protocol`] is on
//!   ([`proxy::read_header`]); its source address becomes the
//!   connection's [`ConnInfo::peer_addr`] (gunicorn's `REMOTE_ADDR`) and the
//!   sender's address [`ConnInfo::proxy_addr`].

pub mod proxy;

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use http::{HeaderMap, HeaderName};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::{ConnInfo, HttpError};

pub use self::proxy::{ProxyError, ProxyHeader, ProxyProtocol};

/// gunicorn's default `forwarded_allow_ips` and `proxy_allow_ips`.
pub const DEFAULT_ALLOW_IPS: &str = "127.0.0.1,::1";

/// gunicorn's default `secure_scheme_headers`.
pub const DEFAULT_SECURE_SCHEME_HEADERS: &[(&str, &str)] = &[
    ("X-FORWARDED-PROTOCOL", "ssl"),
    ("X-FORWARDED-PROTO", "https"),
    ("X-FORWARDED-SSL", "on"),
];

/// A list of IP addresses and networks: `127.0.0.1,::1`, `10.0.0.0/8`,
/// `*` for any address. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, a
/// client of a dual-stack listener) matches as its IPv4 address.
///
/// # Examples
///
/// ```
/// use moss_server::trust::AllowList;
/// let list: AllowList = "127.0.0.1, 10.0.0.0/8, fd00::/8".parse().unwrap();
/// assert!(list.contains("10.1.2.3".parse().unwrap()));
/// assert!(list.contains("::ffff:127.0.0.1".parse().unwrap()));
/// assert!(!list.contains("192.168.0.1".parse().unwrap()));
/// assert!("*".parse::<AllowList>().unwrap().contains("192.168.0.1".parse().unwrap()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    any: bool,
    nets: Vec<(IpAddr, u8)>,
}

impl AllowList {
    /// Every address (`*`).
    pub fn any() -> AllowList {
        AllowList {
            any: true,
            nets: Vec::new(),
        }
    }

    /// No address (an empty list).
    pub fn none() -> AllowList {
        AllowList {
            any: false,
            nets: Vec::new(),
        }
    }

    /// Whether `ip` is in the list.
    pub fn contains(&self, ip: IpAddr) -> bool {
        if self.any {
            return true;
        }
        let ip = canonical(ip);
        self.nets.iter().any(|&(net, prefix)| match (net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        })
    }
}

impl Default for AllowList {
    /// [`DEFAULT_ALLOW_IPS`].
    fn default() -> AllowList {
        DEFAULT_ALLOW_IPS.parse().expect("the default list parses")
    }
}

/// An IPv4-mapped IPv6 address as its IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

impl FromStr for AllowList {
    type Err = String;

    /// Parses a comma-separated list of addresses, `ADDRESS/PREFIX`
    /// networks and `*`; whitespace around items and empty items are
    /// ignored (an empty string allows nobody).
    fn from_str(text: &str) -> Result<AllowList, String> {
        let mut list = AllowList::none();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item == "*" {
                list.any = true;
                continue;
            }
            let (addr, prefix) = match item.split_once('/') {
                Some((addr, prefix)) => (addr, Some(prefix)),
                None => (item, None),
            };
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("{item:?} is not an IP address or network"))?;
            let addr = canonical(addr);
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => max,
                Some(p) => match p.parse::<u8>() {
                    Ok(n) if n <= max && p.bytes().all(|b| b.is_ascii_digit()) => n,
                    _ => return Err(format!("{item:?}: the prefix length must be 0 to {max}")),
                },
            };
            list.nets.push((addr, prefix));
        }
        Ok(list)
    }
}

impl fmt::Display for AllowList {
    /// The list as it parses back: `*`, or `ADDRESS[/PREFIX]` items joined
    /// by commas.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items = Vec::new();
        if self.any {
            items.push("*".to_owned());
        }
        for &(addr, prefix) in &self.nets {
            let full = prefix == if addr.is_ipv4() { 32 } else { 128 };
            items.push(match full {
                true => addr.to_string(),
                false => format!("{addr}/{prefix}"),
            });
        }
        f.write_str(&items.join(","))
    }
}

/// Whom the server trusts, and for what: the engine's
/// [`HttpConfig::trust`](crate::HttpConfig::trust).
///
/// # Examples
///
/// ```
/// use moss_server::trust::Trust;
/// let trust = Trust::default();
/// assert!(trust.trusts_forwarded(&moss_server::ConnInfo {
///     peer_addr: "127.0.0.1:5000".parse().ok(),
///     ..Default::default()
/// }));
/// assert_eq!(trust.secure_scheme_headers.len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    /// Peers whose secure-scheme headers are trusted (gunicorn's
    /// `forwarded_allow_ips`); default [`DEFAULT_ALLOW_IPS`]. A connection
    /// without a peer address (a Unix socket) is always trusted, as in
    /// gunicorn.
    pub forwarded_allow_ips: AllowList,
    /// Fields that say the client's connection to the front end was
    /// secure, each with the value that means `https` (any other value
    /// means `http`); gunicorn's `secure_scheme_headers`, default
    /// [`DEFAULT_SECURE_SCHEME_HEADERS`]. Empty: the scheme is the
    /// connection's.
    pub secure_scheme_headers: Vec<(HeaderName, String)>,
    /// Whether connections start with a PROXY protocol header, and which
    /// versions; default [`ProxyProtocol::Off`].
    pub proxy_protocol: ProxyProtocol,
    /// Peers that must send a PROXY header when
    /// [`proxy_protocol`](Self::proxy_protocol) is on (gunicorn's
    /// `proxy_allow_ips`); a header from any other peer closes the
    /// connection. Default [`DEFAULT_ALLOW_IPS`].
    pub proxy_allow_ips: AllowList,
}

impl Default for Trust {
    fn default() -> Trust {
        let mut secure_scheme_headers: Vec<_> = DEFAULT_SECURE_SCHEME_HEADERS
            .iter()
            .map(|&(name, value)| (HeaderName::from_static_upper(name), value.to_owned()))
            .collect();
        // In name order, as a config file's table reads back.
        secure_scheme_headers.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        Trust {
            forwarded_allow_ips: AllowList::default(),
            secure_scheme_headers,
            proxy_protocol: ProxyProtocol::Off,
            proxy_allow_ips: AllowList::default(),
        }
    }
}

/// `HeaderName::from_bytes` for the constant upper-case names above.
trait FromStaticUpper {
    fn from_static_upper(name: &str) -> HeaderName;
}

impl FromStaticUpper for HeaderName {
    fn from_static_upper(name: &str) -> HeaderName {
        HeaderName::from_bytes(name.as_bytes()).expect("a valid field name")
    }
}

impl Trust {
    /// Whether the secure-scheme headers of requests on `conn` are
    /// trusted: its peer (the PROXY header's sender, when there was one)
    /// is in [`forwarded_allow_ips`](Self::forwarded_allow_ips), or it has
    /// no peer address.
    pub fn trusts_forwarded(&self, conn: &ConnInfo) -> bool {
        match conn.proxy_addr.or(conn.peer_addr) {
            Some(peer) => self.forwarded_allow_ips.contains(peer.ip()),
            None => true,
        }
    }

    /// What the secure-scheme headers of a request on `conn` say: `None`
    /// when there are none or the peer is not trusted, else whether the
    /// request is `https`.
    ///
    /// # Errors
    ///
    /// 400 ([`HttpError::BadRequest`]) when a trusted peer's headers
    /// disagree (gunicorn's `InvalidSchemeHeaders`).
    pub fn secure_scheme(
        &self,
        conn: &ConnInfo,
        headers: &HeaderMap,
    ) -> Result<Option<bool>, HttpError> {
        if self.secure_scheme_headers.is_empty() || !self.trusts_forwarded(conn) {
            return Ok(None);
        }
        let mut secure = None;
        for (name, https) in &self.secure_scheme_headers {
            for value in headers.get_all(name) {
                let this = value.as_bytes() == https.as_bytes();
                match secure {
                    None => secure = Some(this),
                    Some(before) if before != this => {
                        return Err(HttpError::BadRequest("secure scheme headers disagree"))
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(secure)
    }

    /// Whether a connection from `peer` must start with a PROXY header.
    pub fn expects_proxy_header(&self, peer: Option<IpAddr>) -> bool {
        self.proxy_protocol != ProxyProtocol::Off
            && peer.is_some_and(|ip| self.proxy_allow_ips.contains(ip))
    }
}

/// The config file's `secure_scheme_headers`: a table of field names and
/// the value of each that means `https`.
pub(crate) fn secure_scheme_headers_value(
    value: &toml::Value,
) -> Result<Vec<(HeaderName, String)>, String> {
    let table = value.as_table().ok_or(
        "expected a table of field names and values, e.g. {\"X-FORWARDED-PROTO\" = \"https\"}",
    )?;
    let mut headers = table
        .iter()
        .map(|(name, value)| {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("{name:?} is not a field name"))?;
            let value = value
                .as_str()
                .ok_or_else(|| format!("the value of {name} must be a string"))?;
            Ok((name, value.to_owned()))
        })
        .collect::<Result<Vec<_>, String>>()?;
    headers.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    Ok(headers)
}

impl Serialize for Trust {
    /// As config-file keys: `forwarded_allow_ips`, `proxy_protocol`,
    /// `proxy_allow_ips` as strings, then the `secure_scheme_headers`
    /// table (names upper-cased, as gunicorn writes them).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Headers<'a>(&'a [(HeaderName, String)]);
        impl Serialize for Headers<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(self.0.len()))?;
                for (name, value) in self.0 {
                    map.serialize_entry(&name.as_str().to_ascii_uppercase(), value)?;
                }
                map.end()
            }
        }
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("forwarded_allow_ips", &self.forwarded_allow_ips.to_string())?;
        map.serialize_entry("proxy_protocol", self.proxy_protocol.name())?;
        map.serialize_entry("proxy_allow_ips", &self.proxy_allow_ips.to_string())?;
        map.serialize_entry(
            "secure_scheme_headers",
            &Headers(&self.secure_scheme_headers),
        )?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};

    use super::{AllowList, Trust};
    use crate::{ConnInfo, HttpError};

    fn conn(peer: &str) -> ConnInfo {
        ConnInfo {
            peer_addr: peer.parse().ok(),
            ..ConnInfo::default()
        }
    }

    fn headers(fields: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for &(name, value) in fields {
            map.append(name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn allow_lists_parse_and_match() {
        let list: AllowList = " 127.0.0.1 ,::1,10.0.0.0/8,,2001:db8::/32".parse().unwrap();
        for ip in [
            "127.0.0.1",
            "::1",
            "10.255.0.1",
            "2001:db8::7",
            "::ffff:10.0.0.1",
        ] {
            assert!(list.contains(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["127.0.0.2", "11.0.0.1", "2001:db9::1", "::2"] {
            assert!(!list.contains(ip.parse().unwrap()), "{ip}");
        }
        assert_eq!(list.to_string(), "127.0.0.1,::1,10.0.0.0/8,2001:db8::/32");
        assert_eq!(list.to_string().parse::<AllowList>().unwrap(), list);
        assert!("0.0.0.0/0"
            .parse::<AllowList>()
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(!""
            .parse::<AllowList>()
            .unwrap()
            .contains("127.0.0.1".parse().unwrap()));
        for bad in ["localhost", "10.0.0.0/33", "::/129", "10.0.0.1/x", "1.2.3"] {
            assert!(bad.parse::<AllowList>().is_err(), "{bad}");
        }
    }

    #[test]
    fn trusted_peers_set_the_scheme() {
        let trust = Trust::default();
        let https = headers(&[("x-forwarded-proto", "https")]);
        assert_eq!(
            trust.secure_scheme(&conn("127.0.0.1:1"), &https),
            Ok(Some(true))
        );
        assert_eq!(
            trust.secure_scheme(&conn("[::1]:1"), &https),
            Ok(Some(true))
        );
        // No peer address (a Unix socket): trusted, as in gunicorn.
        assert_eq!(
            trust.secure_scheme(&ConnInfo::default(), &https),
            Ok(Some(true))
        );
        // Untrusted: ignored.
        assert_eq!(trust.secure_scheme(&conn("10.0.0.1:1"), &https), Ok(None));
        let http = headers(&[("x-forwarded-proto", "http")]);
        assert_eq!(
            trust.secure_scheme(&conn("127.0.0.1:1"), &http),
            Ok(Some(false))
        );
        // Values compare exactly, as gunicorn compares them.
        let upper = headers(&[("x-forwarded-proto", "HTTPS")]);
        assert_eq!(
            trust.secure_scheme(&conn("127.0.0.1:1"), &upper),
            Ok(Some(false))
        );
        let none = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(trust.secure_scheme(&conn("127.0.0.1:1"), &none), Ok(None));
        let agree = headers(&[("x-forwarded-proto", "https"), ("x-forwarded-ssl", "on")]);
        assert_eq!(
            trust.secure_scheme(&conn("127.0.0.1:1"), &agree),
            Ok(Some(true))
        );
    }

    #[test]
    fn disagreeing_headers_from_a_trusted_peer_are_refused() {
        let trust = Trust::default();
        let conflict = headers(&[("x-forwarded-proto", "https"), ("x-forwarded-ssl", "off")]);
        assert!(matches!(
            trust.secure_scheme(&conn("127.0.0.1:1"), &conflict),
            Err(HttpError::BadRequest(_))
        ));
        let repeated = headers(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-proto", "http"),
        ]);
        assert!(trust
            .secure_scheme(&conn("127.0.0.1:1"), &repeated)
            .is_err());
        // From an untrusted peer they are not looked at.
        assert_eq!(
            trust.secure_scheme(&conn("10.0.0.1:1"), &conflict),
            Ok(None)
        );
    }

    #[test]
    fn the_proxy_sender_is_the_peer_that_is_trusted() {
        let trust = Trust::default();
        let https = headers(&[("x-forwarded-proto", "https")]);
        let proxied = ConnInfo {
            peer_addr: "203.0.113.7:4000".parse().ok(),
            proxy_addr: "127.0.0.1:9000".parse().ok(),
            ..ConnInfo::default()
        };
        assert_eq!(trust.secure_scheme(&proxied, &https), Ok(Some(true)));
    }
}
