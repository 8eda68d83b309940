//! `Transfer-Encoding`: the body is chunked only when `chunked` is the final
//! coding, never alongside `Content-Length`, never in HTTP/1.0; any other
//! `Transfer-Encoding` gets 400 (RFC 9112 sections 6.1 and 6.3), a coding
//! the engine does not know before a final `chunked` 501. The obfuscations
//! request smugglers use to make two servers disagree on framing (CL.TE,
//! TE.CL, TE.TE) are refused before the application runs.

use super::vector::*;

pub const VECTORS: &[Vector] = &[
    // Framing the engine accepts.
    parses(
        "chunked",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        &[post("/")
            .headers(&[("host", "x"), ("transfer-encoding", "chunked")])
            .body(b"hello")],
    ),
    parses(
        "chunked in capitals",
        b"POST / HTTP/1.1\r\nHost: x\r\ntransfer-encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        &[post("/")
            .headers(&[("host", "x"), ("transfer-encoding", "CHUNKED")])
            .body(b"hello")],
    ),
    parses(
        "whitespace around chunked",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\t chunked \t\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        &[post("/")
            .headers(&[("host", "x"), ("transfer-encoding", "chunked")])
            .body(b"hello")],
    ),
    parses(
        "gzip before chunked passes through undecoded",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\n\x1f\x8b\x08\r\n0\r\n\r\n",
        &[post("/")
            .headers(&[("host", "x"), ("transfer-encoding", "gzip, chunked")])
            .body(b"\x1f\x8b\x08")],
    ),
    parses(
        "codings over two fields",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
        &[post("/")
            .headers(&[
                ("host", "x"),
                ("transfer-encoding", "deflate"),
                ("transfer-encoding", "chunked"),
            ])
            .body(b"z")],
    ),
    parses(
        "identity before chunked is ignored",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
        &[post("/")
            .headers(&[("host", "x"), ("transfer-encoding", "identity, chunked")])
            .body(b"z")],
    ),
    parses(
        "underscore spelling is dropped, not obeyed",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer_Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
        &[post("/")
            .headers(&[("host", "x"), ("content-length", "3")])
            .body(b"abc")],
    ),
    // CL.TE and TE.CL: both framings in one head.
    refused(
        "Content-Length then Transfer-Encoding",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
        400,
    ),
    refused(
        "Transfer-Encoding then Content-Length",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n\
          5c\r\nGPOST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Content-Length: 15\r\n\r\nx=1\r\n0\r\n\r\n",
        400,
    ),
    refused(
        "chunked with a zero length",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n",
        400,
    ),
    refused(
        "gzip, chunked with a length",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    refused(
        "identity with a length",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc\
          GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "unknown coding before chunked with a length",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: br, chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        400,
    ),
    // TE.TE: a Transfer-Encoding one server might read and another ignore.
    refused(
        "chunked twice in one field",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    refused(
        "chunked twice in two fields",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    refused(
        "chunked before identity",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        400,
    ),
    refused(
        "chunked before gzip",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        400,
    ),
    refused(
        "chunked before an unknown coding",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n",
        400,
    ),
    refused(
        "gzip without chunked",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
        400,
    ),
    refused(
        "empty coding before chunked",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: , chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    refused(
        "empty Transfer-Encoding",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\nContent-Length: 3\r\n\r\nabc",
        400,
    ),
    refused(
        "space before the Transfer-Encoding colon",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    refused(
        "folded onto the next line",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    refused(
        "after a bare LF",
        b"POST / HTTP/1.1\r\nHost: x\r\nX-A: a\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    refused(
        "vertical tab before chunked",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    refused(
        "NUL after chunked",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\0\r\n\r\n0\r\n\r\n",
        400,
    ),
    // HTTP/1.0: any Transfer-Encoding is faulty framing.
    refused(
        "chunked in HTTP/1.0",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    refused(
        "identity in HTTP/1.0",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: identity\r\nConnection: keep-alive\r\n\
          Content-Length: 3\r\n\r\nabcGET / HTTP/1.0\r\n\r\n",
        400,
    ),
    // A final coding other than chunked: the length cannot be known.
    refused(
        "identity alone",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "unknown coding alone",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: br\r\n\r\nabc",
        400,
    ),
    refused(
        "misspelt chunked",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunk\r\n\r\n0\r\n\r\n",
        400,
    ),
    refused(
        "chunked with a prefix",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    refused(
        "quoted chunked",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n",
        400,
    ),
    refused(
        "chunked with a parameter",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n",
        400,
    ),
    refused(
        "non-ASCII letter in chunked",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunke\xc4\x91\r\n\r\n0\r\n\r\n",
        400,
    ),
    // Codings the engine does not know, before a final chunked: 501.
    refused(
        "unknown coding before chunked",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: br, chunked\r\n\r\n0\r\n\r\n",
        501,
    ),
    refused(
        "misspelt chunked before chunked",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunk, chunked\r\n\r\n0\r\n\r\n",
        501,
    ),
    refused(
        "unknown coding in an earlier field",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: x-custom\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        501,
    ),
    refused(
        "chunked with a parameter before chunked",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked;q=1, chunked\r\n\r\n0\r\n\r\n",
        501,
    ),
];
