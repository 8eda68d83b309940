//! Header field syntax: names, values and the whitespace around them, line
//! ends, obsolete folding, and the bytes a field may not hold.

use super::vector::*;

pub const VECTORS: &[Vector] = &[
    // Values: surrounding whitespace trimmed, inner whitespace kept.
    parses(
        "no space after the colon",
        b"GET / HTTP/1.1\r\nHost:x\r\n\r\n",
        &[get("/").headers(HOST_X)],
    ),
    parses(
        "spaces and tabs around the value",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: \t v \t\r\n\r\n",
        &[get("/").headers(&[("host", "x"), ("x-a", "v")])],
    ),
    parses(
        "inner whitespace kept",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a  b\tc\r\n\r\n",
        &[get("/").headers(&[("host", "x"), ("x-a", "a  b\tc")])],
    ),
    parses(
        "empty values",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A:\r\nX-B: \t \r\n\r\n",
        &[get("/").headers(&[("host", "x"), ("x-a", ""), ("x-b", "")])],
    ),
    parses(
        "colons, quotes and commas in a value",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a:b, \"c,d\"; e=f\r\n\r\n",
        &[get("/").headers(&[("host", "x"), ("x-a", "a:b, \"c,d\"; e=f")])],
    ),
    parses(
        "obs-text in a value",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: caf\xc3\xa9\r\n\r\n",
        &[get("/").headers(&[("host", "x"), ("x-a", "caf\u{e9}")])],
    ),
    // Names: tokens, case-insensitive; repeats kept in order.
    parses(
        "names lower-cased",
        b"GET / HTTP/1.1\r\nHOST: x\r\nX-MiXeD-CaSe: v\r\n\r\n",
        &[get("/").headers(&[("host", "x"), ("x-mixed-case", "v")])],
    ),
    parses(
        "names with token symbols",
        b"GET / HTTP/1.1\r\nHost: x\r\nX!#$%&'*+-.^`|~1: v\r\n\r\n",
        &[get("/").headers(&[("host", "x"), ("x!#$%&'*+-.^`|~1", "v")])],
    ),
    parses(
        "repeated fields kept in order",
        b"GET / HTTP/1.1\r\nHost: x\r\nAccept: a\r\nX-B: 1\r\naccept: b\r\n\r\n",
        &[get("/").headers(&[
            ("host", "x"),
            ("accept", "a"),
            ("accept", "b"),
            ("x-b", "1"),
        ])],
    ),
    parses(
        "names with an underscore dropped",
        b"GET / HTTP/1.1\r\nHost: x\r\nX_A: 1\r\nX-B: 2\r\n\r\n",
        &[get("/").headers(&[("host", "x"), ("x-b", "2")])],
    ),
    refused(
        "space before the colon",
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        400,
    ),
    refused(
        "tab before the colon",
        b"GET / HTTP/1.1\r\nHost\t: x\r\n\r\n",
        400,
    ),
    refused(
        "field without a colon",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A\r\n\r\n",
        400,
    ),
    refused(
        "empty name",
        b"GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n",
        400,
    ),
    refused(
        "space inside a name",
        b"GET / HTTP/1.1\r\nHost: x\r\nX A: v\r\n\r\n",
        400,
    ),
    refused(
        "separator in a name",
        b"GET / HTTP/1.1\r\nHost: x\r\nX(A): v\r\n\r\n",
        400,
    ),
    refused(
        "slash in a name",
        b"GET / HTTP/1.1\r\nHost: x\r\nX/A: v\r\n\r\n",
        400,
    ),
    refused(
        "non-ASCII name",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-\xc3\xa9: v\r\n\r\n",
        400,
    ),
    refused(
        "NUL in a name",
        b"GET / HTTP/1.1\r\nHost: x\r\nX\0A: v\r\n\r\n",
        400,
    ),
    // Bytes a value may not hold.
    refused(
        "NUL in a value",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n",
        400,
    ),
    refused(
        "bare CR in a value",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
        400,
    ),
    refused(
        "CR CR LF ending a field",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\r\n\r\n",
        400,
    ),
    refused(
        "DEL in a value",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n",
        400,
    ),
    refused(
        "control character in a value",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
        400,
    ),
    refused(
        "escape character in a value",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: \x1b[31m\r\n\r\n",
        400,
    ),
    refused(
        "vertical tab in a value",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x0bb\r\n\r\n",
        400,
    ),
    // Line ends: CRLF only.
    refused(
        "bare LF ending a field",
        b"GET / HTTP/1.1\r\nHost: x\nX-A: v\r\n\r\n",
        400,
    ),
    refused(
        "bare LF ending the head",
        b"GET / HTTP/1.1\r\nHost: x\r\n\n",
        400,
    ),
    refused(
        "bare LF hiding a Content-Length",
        b"POST / HTTP/1.1\r\nHost: x\r\nX-A: a\nContent-Length: 5\r\n\r\nhello",
        400,
    ),
    refused("head ended by LF LF", b"GET / HTTP/1.1\n\n", 400),
    // Obsolete line folding.
    refused(
        "obs-fold with a space",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
        400,
    ),
    refused(
        "obs-fold with a tab",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n",
        400,
    ),
    refused(
        "obs-fold of an empty value",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A:\r\n b\r\n\r\n",
        400,
    ),
    refused(
        "whitespace before the first field",
        b"GET / HTTP/1.1\r\n Host: x\r\n\r\n",
        400,
    ),
    // Fields that must not repeat, and heads that never end.
    refused(
        "repeated Content-Type",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n\r\n",
        400,
    ),
    refused("head cut short", b"GET / HTTP/1.1\r\nHost: x\r\n", 400),
    refused(
        "head cut inside a field",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: v",
        400,
    ),
    refused(
        "head cut after the final CR",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r",
        400,
    ),
];
