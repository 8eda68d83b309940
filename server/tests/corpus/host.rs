//! `Host`: at most one. Its presence in HTTP/1.1 is not enforced (gunicorn's
//! corpus has many valid requests without it).

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
    parses(
        "HTTP/1.1 without Host",
        b"GET / HTTP/1.1\r\n\r\n",
        &[get("/")],
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
