//! `Expect`: `100-continue` is answered when the application reads the body
//! of an HTTP/1.1 request that has one; any other expectation gets 417.
//! The field is a list: empty elements are skipped, and a list of none
//! expects nothing.

use super::vector::*;

pub const VECTORS: &[Vector] = &[
    parses(
        "100-continue with a length",
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
        &[post("/")
            .headers(&[("host", "x"), ("expect", "100-continue"), ("content-length", "5")])
            .body(b"hello")],
    )
    .continues(1),
    parses(
        "100-continue with a chunked body",
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        &[post("/")
            .headers(&[
                ("host", "x"),
                ("expect", "100-continue"),
                ("transfer-encoding", "chunked"),
            ])
            .body(b"hello")],
    )
    .continues(1),
    parses(
        "100-continue in another case",
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx",
        &[post("/")
            .headers(&[("host", "x"), ("expect", "100-Continue"), ("content-length", "1")])
            .body(b"x")],
    )
    .continues(1),
    parses(
        "100-continue without a body",
        b"GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
        &[get("/").headers(&[("host", "x"), ("expect", "100-continue")])],
    ),
    parses(
        "100-continue with a zero length",
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
        &[post("/").headers(&[("host", "x"), ("expect", "100-continue"), ("content-length", "0")])],
    ),
    parses(
        "100-continue in HTTP/1.0 is not answered",
        b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
        &[post("/")
            .http10()
            .headers(&[("expect", "100-continue"), ("content-length", "1")])
            .body(b"x")],
    )
    .closed(),
    parses(
        "100-continue on each pipelined request",
        b"POST /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\na\
          POST /b HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nb",
        &[
            post("/a")
                .headers(&[("host", "x"), ("expect", "100-continue"), ("content-length", "1")])
                .body(b"a"),
            post("/b")
                .headers(&[("host", "x"), ("expect", "100-continue"), ("content-length", "1")])
                .body(b"b"),
        ],
    )
    .continues(2),
    refused(
        "unknown expectation",
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx",
        417,
    ),
    refused(
        "100-continue with a parameter",
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue; a=b\r\nContent-Length: 1\r\n\r\nx",
        417,
    ),
    refused(
        "100-continue in a list",
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue, x\r\nContent-Length: 1\r\n\r\nx",
        417,
    ),
    parses(
        "100-continue among empty list elements",
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: , 100-continue,\r\nContent-Length: 1\r\n\r\nx",
        &[post("/")
            .headers(&[("host", "x"), ("expect", ", 100-continue,"), ("content-length", "1")])
            .body(b"x")],
    )
    .continues(1),
    parses(
        "empty expectation",
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect:\r\nContent-Length: 1\r\n\r\nx",
        &[post("/")
            .headers(&[("host", "x"), ("expect", ""), ("content-length", "1")])
            .body(b"x")],
    ),
    parses(
        "list of empty expectations",
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: ,,\r\nContent-Length: 1\r\n\r\nx",
        &[post("/")
            .headers(&[("host", "x"), ("expect", ",,"), ("content-length", "1")])
            .body(b"x")],
    ),
    refused(
        "unknown expectation after an empty element",
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: , x\r\nContent-Length: 1\r\n\r\nx",
        417,
    ),
];
