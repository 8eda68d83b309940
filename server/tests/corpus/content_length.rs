//! `Content-Length`: one field of 1 to 19 digits, nothing else; the body is
//! exactly that many bytes and what follows is the next request.

use super::vector::*;

pub const VECTORS: &[Vector] = &[
    parses(
        "length body",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        &[post("/")
            .headers(&[("host", "x"), ("content-length", "5")])
            .body(b"hello")],
    ),
    parses(
        "zero length",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        &[post("/").headers(&[("host", "x"), ("content-length", "0")])],
    ),
    parses(
        "leading zeros in the length",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0005\r\n\r\nhello",
        &[post("/")
            .headers(&[("host", "x"), ("content-length", "0005")])
            .body(b"hello")],
    ),
    parses(
        "nineteen digits",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0000000000000000003\r\n\r\nabc",
        &[post("/")
            .headers(&[("host", "x"), ("content-length", "0000000000000000003")])
            .body(b"abc")],
    ),
    parses(
        "whitespace around the length",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \t 3 \t\r\n\r\nabc",
        &[post("/")
            .headers(&[("host", "x"), ("content-length", "3")])
            .body(b"abc")],
    ),
    parses(
        "length on a GET",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        &[get("/")
            .headers(&[("host", "x"), ("content-length", "3")])
            .body(b"abc")],
    ),
    parses(
        "length in HTTP/1.0",
        b"POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
        &[post("/")
            .http10()
            .headers(&[("content-length", "3")])
            .body(b"abc")],
    )
    .closed(),
    parses(
        "body holding CRLFs and a request",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 21\r\n\r\nGET /x HTTP/1.1\r\n\r\n\r\n",
        &[post("/")
            .headers(&[("host", "x"), ("content-length", "21")])
            .body(b"GET /x HTTP/1.1\r\n\r\n\r\n")],
    ),
    parses(
        "bytes past the length are the next request",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /next HTTP/1.1\r\nHost: x\r\n\r\n",
        &[
            post("/")
                .headers(&[("host", "x"), ("content-length", "3")])
                .body(b"abc"),
            get("/next").headers(HOST_X),
        ],
    ),
    parses(
        "short length leaves the rest as a bad request",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n",
        &[post("/")
            .headers(&[("host", "x"), ("content-length", "3")])
            .body(b"hel")],
    )
    .then_refused(400),
    truncated_body(
        "body shorter than the length",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello",
        &[post("/")
            .headers(&[("host", "x"), ("content-length", "10")])
            .body(b"hello")],
    ),
    refused(
        "repeated equal length",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        400,
    ),
    refused(
        "repeated differing length",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        400,
    ),
    refused(
        "repeated length in another case",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc",
        400,
    ),
    refused(
        "length list",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc",
        400,
    ),
    refused(
        "length list without a space",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3,3\r\n\r\nabc",
        400,
    ),
    refused(
        "length list with an empty element",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3,\r\n\r\nabc",
        400,
    ),
    refused(
        "plus sign in the length",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc",
        400,
    ),
    refused(
        "minus sign in the length",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -3\r\n\r\nabc",
        400,
    ),
    refused(
        "hex length",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\nabc",
        400,
    ),
    refused(
        "decimal point in the length",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3.0\r\n\r\nabc",
        400,
    ),
    refused(
        "exponent in the length",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3e0\r\n\r\nabc",
        400,
    ),
    refused(
        "space inside the length",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\nabc",
        400,
    ),
    refused(
        "empty length",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\nabc",
        400,
    ),
    refused(
        "length in words",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: three\r\n\r\nabc",
        400,
    ),
    refused(
        "twenty digits",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 00000000000000000003\r\n\r\nabc",
        400,
    ),
    refused(
        "length past u64",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        400,
    ),
    refused(
        "NUL after the length",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\0\r\n\r\nabc",
        400,
    ),
    refused(
        "length with a parameter",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3;a=b\r\n\r\nabc",
        400,
    ),
];
