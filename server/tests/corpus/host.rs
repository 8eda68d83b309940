//! `Host`: exactly one in HTTP/1.1, at most one in HTTP/1.0, with a valid
//! value (RFC 9112 section 3.2).

use super::vector::*;

pub const VECTORS: &[Vector] = &[
    parses(
        "host with a port",
        b"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
        &[get("/").headers(&[("host", "example.com:8080")])],
    ),
    parses(
        "IPv6 literal host",
        b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
        &[get("/").headers(&[("host", "[::1]:8080")])],
    ),
    parses(
        "empty Host",
        b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
        &[get("/").headers(&[("host", "")])],
    ),
    refused("HTTP/1.1 without Host", b"GET / HTTP/1.1\r\n\r\n", 400),
    refused(
        "HTTP/1.1 with a body and without Host",
        b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
        400,
    ),
    refused(
        "absolute form without Host",
        b"GET http://a.example/ HTTP/1.1\r\n\r\n",
        400,
    ),
    parses(
        "HTTP/1.0 without Host",
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        &[get("/").http10().headers(&[("connection", "keep-alive")])],
    ),
    parses(
        "absolute form with a different Host",
        b"GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n",
        &[get("http://a.example/").headers(&[("host", "b.example")])],
    ),
    refused(
        "space inside Host",
        b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        400,
    ),
    refused("path in Host", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    refused(
        "userinfo in Host",
        b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n",
        400,
    ),
    refused(
        "repeated Host",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        400,
    ),
    refused(
        "repeated equal Host",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        400,
    ),
    refused(
        "repeated Host in another case",
        b"GET / HTTP/1.1\r\nHost: a\r\nhOST: b\r\n\r\n",
        400,
    ),
    refused(
        "repeated Host apart",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: v\r\nHost: a\r\n\r\n",
        400,
    ),
    refused(
        "repeated Host in HTTP/1.0",
        b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
        400,
    ),
];
