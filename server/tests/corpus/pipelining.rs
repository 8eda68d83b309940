//! Several requests on one connection, sent before any answer: each is
//! served in order until one closes the connection or is refused.

use super::vector::*;

pub const VECTORS: &[Vector] = &[
    parses(
        "two GETs",
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
        &[get("/a").headers(HOST_X), get("/b").headers(HOST_X)],
    ),
    parses(
        "length body between GETs",
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
          POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
          GET /c HTTP/1.1\r\nHost: x\r\n\r\n",
        &[
            get("/a").headers(HOST_X),
            post("/b")
                .headers(&[("host", "x"), ("content-length", "5")])
                .body(b"hello"),
            get("/c").headers(HOST_X),
        ],
    ),
    parses(
        "chunked body then a GET",
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n\
          GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
        &[
            post("/a")
                .headers(&[("host", "x"), ("transfer-encoding", "chunked")])
                .body(b"hello")
                .trailers(&[("x-t", "1")]),
            get("/b").headers(HOST_X),
        ],
    ),
    parses(
        "HEAD then GET",
        b"HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
        &[request("HEAD", "/a").headers(HOST_X), get("/b").headers(HOST_X)],
    ),
    parses(
        "empty lines between requests",
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
        &[get("/a").headers(HOST_X), get("/b").headers(HOST_X)],
    ),
    parses(
        "Connection: close ends the connection",
        b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
        &[get("/a").headers(&[("host", "x"), ("connection", "close")])],
    )
    .closed(),
    parses(
        "close in a Connection list",
        b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
        &[get("/a").headers(&[("host", "x"), ("connection", "keep-alive, Close")])],
    )
    .closed(),
    parses(
        "HTTP/1.0 keep-alive then HTTP/1.0",
        b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\nGET /c HTTP/1.0\r\n\r\n",
        &[
            get("/a").http10().headers(&[("connection", "keep-alive")]),
            get("/b").http10(),
        ],
    )
    .closed(),
    parses(
        "HTTP/1.0 closes before the next request",
        b"GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
        &[get("/a").http10()],
    )
    .closed(),
    parses(
        "bad request after a good one",
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost : x\r\n\r\nGET /c HTTP/1.1\r\n\r\n",
        &[get("/a").headers(HOST_X)],
    )
    .then_refused(400),
    parses(
        "smuggled request after a chunked body is refused",
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\
          GET /b HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
        &[post("/a").headers(&[("host", "x"), ("transfer-encoding", "chunked")])],
    )
    .then_refused(400),
    malformed_body(
        "malformed body stops the pipeline",
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n\
          GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
        &[post("/a")
            .headers(&[("host", "x"), ("transfer-encoding", "chunked")])
            .body(b"a")],
    ),
];
