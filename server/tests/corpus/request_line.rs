//! Request lines: methods, the four target forms and how they split,
//! versions, and the separators between them.

use super::vector::*;

pub const VECTORS: &[Vector] = &[
    // Methods: a token of 3 to 20 characters without lower case.
    parses(
        "GET",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[get("/").headers(HOST_X)],
    ),
    parses(
        "methods beyond RFC 9110",
        b"PROPFIND /dav HTTP/1.1\r\nHost: x\r\n\r\nM-SEARCH / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[
            request("PROPFIND", "/dav").headers(HOST_X),
            request("M-SEARCH", "/").headers(HOST_X),
        ],
    ),
    parses(
        "twenty-character method",
        b"ABCDEFGHIJKLMNOPQRST / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[request("ABCDEFGHIJKLMNOPQRST", "/").headers(HOST_X)],
    ),
    parses(
        "method with digits and token symbols",
        b"X1!#$%&'*+.^_`|~ / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[request("X1!#$%&'*+.^_`|~", "/").headers(HOST_X)],
    ),
    refused(
        "lower-case method",
        b"get / HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "mixed-case method",
        b"Get / HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "two-character method",
        b"GE / HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "twenty-one-character method",
        b"ABCDEFGHIJKLMNOPQRSTU / HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "method with a non-token character",
        b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "method with a slash",
        b"GET/ / HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "method with a non-ASCII byte",
        b"G\xc3\x89T / HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused("empty method", b" / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    // Origin form, and how the target splits into path, query and fragment.
    parses(
        "origin form with query",
        b"GET /a/b?c=d&e HTTP/1.1\r\nHost: x\r\n\r\n",
        &[get("/a/b?c=d&e").parts("/a/b", "c=d&e", "").headers(HOST_X)],
    ),
    parses(
        "query holding a question mark",
        b"GET /a?b?c HTTP/1.1\r\nHost: x\r\n\r\n",
        &[get("/a?b?c").parts("/a", "b?c", "").headers(HOST_X)],
    ),
    parses(
        "empty query",
        b"GET /a? HTTP/1.1\r\nHost: x\r\n\r\n",
        &[get("/a?").parts("/a", "", "").headers(HOST_X)],
    ),
    parses(
        "fragment",
        b"GET /a?b#c HTTP/1.1\r\nHost: x\r\n\r\n",
        &[get("/a?b#c").parts("/a", "b", "c").headers(HOST_X)],
    ),
    parses(
        "fragment holding a question mark",
        b"GET /a#b?c HTTP/1.1\r\nHost: x\r\n\r\n",
        &[get("/a#b?c").parts("/a", "", "b?c").headers(HOST_X)],
    ),
    parses(
        "percent-encoded path kept encoded",
        b"GET /a%20b/%2F?q=%26 HTTP/1.1\r\nHost: x\r\n\r\n",
        &[get("/a%20b/%2F?q=%26")
            .parts("/a%20b/%2F", "q=%26", "")
            .headers(HOST_X)],
    ),
    parses(
        "leading double slash is a path",
        b"GET //a//b HTTP/1.1\r\nHost: x\r\n\r\n",
        &[get("//a//b").parts("//a//b", "", "").headers(HOST_X)],
    ),
    parses(
        "UTF-8 in the target",
        b"GET /caf\xc3\xa9?q=\xe2\x82\xac HTTP/1.1\r\nHost: x\r\n\r\n",
        &[get("/caf\u{e9}?q=\u{20ac}")
            .parts("/caf\u{e9}", "q=\u{20ac}", "")
            .headers(HOST_X)],
    ),
    parses(
        "sub-delims and quotes in the target",
        b"GET /a;b,c=d!$&'()*+@:\"{}| HTTP/1.1\r\nHost: x\r\n\r\n",
        &[get("/a;b,c=d!$&'()*+@:\"{}|")
            .parts("/a;b,c=d!$&'()*+@:\"{}|", "", "")
            .headers(HOST_X)],
    ),
    refused(
        "target in no form",
        b"GET a/b HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "target that is only a query",
        b"GET ?a HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "NUL in the target",
        b"GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "DEL in the target",
        b"GET /a\x7fb HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "non-UTF-8 target",
        b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "markup in the target is not echoed",
        b"GET /<script> HTTP/9.9<script>\r\n\r\n",
        400,
    ),
    // Absolute form.
    parses(
        "absolute form",
        b"GET http://example.com/a?b HTTP/1.1\r\nHost: example.com\r\n\r\n",
        &[get("http://example.com/a?b")
            .parts("/a", "b", "")
            .headers(&[("host", "example.com")])],
    ),
    parses(
        "absolute form with userinfo and port",
        b"GET http://u:p@example.com:8080/a HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
        &[get("http://u:p@example.com:8080/a")
            .parts("/a", "", "")
            .headers(&[("host", "example.com:8080")])],
    ),
    parses(
        "absolute form without a path",
        b"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
        &[get("http://example.com")
            .parts("", "", "")
            .headers(&[("host", "example.com")])],
    ),
    parses(
        "absolute form with a query and no path",
        b"GET http://example.com?a HTTP/1.1\r\nHost: example.com\r\n\r\n",
        &[get("http://example.com?a")
            .parts("", "a", "")
            .headers(&[("host", "example.com")])],
    ),
    refused(
        "absolute form without a host",
        b"GET http:///a HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "absolute form with an empty host before a port",
        b"GET http://:80/a HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "absolute form with userinfo and no host",
        b"GET http://u@/a HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "absolute form with a second @",
        b"GET http://u@evil.example@example.com/a HTTP/1.1\r\nHost: example.com\r\n\r\n",
        400,
    ),
    refused(
        "absolute form with a port that is not digits",
        b"GET http://example.com:x/a HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "https target on a connection that is not secured",
        b"GET https://example.com/a HTTP/1.1\r\nHost: example.com\r\n\r\n",
        421,
    ),
    refused(
        "scheme with a bad character",
        b"GET ht_tp://example.com/ HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    // Authority form, only with CONNECT.
    parses(
        "authority form",
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        &[request("CONNECT", "example.com:443")
            .parts("", "", "")
            .headers(&[("host", "example.com:443")])],
    )
    .closed(),
    parses(
        "authority form with an IPv6 literal",
        b"CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n",
        &[request("CONNECT", "[::1]:443")
            .parts("", "", "")
            .headers(&[("host", "[::1]:443")])],
    )
    .closed(),
    refused(
        "authority form without CONNECT",
        b"GET example.com:80 HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "CONNECT with an origin-form target",
        b"CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    // Asterisk form, only with OPTIONS.
    parses(
        "asterisk form",
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        &[request("OPTIONS", "*").parts("*", "", "").headers(HOST_X)],
    ),
    refused(
        "asterisk form without OPTIONS",
        b"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    // Versions: HTTP/1.0 and HTTP/1.1; other well-formed ones get 505.
    parses(
        "HTTP/1.0 closes after its response",
        b"GET / HTTP/1.0\r\n\r\n",
        &[get("/").http10()],
    )
    .closed(),
    refused("HTTP/1.2", b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505),
    refused("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    refused("HTTP/0.9", b"GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505),
    refused(
        "version with a letter",
        b"GET / HTTP/1.x\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "lower-case protocol name",
        b"GET / http/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "version without a dot",
        b"GET / HTTP/11\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "three-digit version",
        b"GET / HTTP/1.10\r\nHost: x\r\n\r\n",
        400,
    ),
    refused("missing version", b"GET /\r\nHost: x\r\n\r\n", 400),
    refused("missing target", b"GET HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    refused("method alone", b"GET\r\nHost: x\r\n\r\n", 400),
    // Separators: one space, nothing else.
    refused(
        "two spaces before the target",
        b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "two spaces before the version",
        b"GET /  HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "tab separators",
        b"GET\t/\tHTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "space before the method",
        b" GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "space after the version",
        b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "space inside the target",
        b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    refused(
        "bare CR ending the request line",
        b"GET / HTTP/1.1\rHost: x\r\n\r\n",
        400,
    ),
    refused(
        "bare LF ending the request line",
        b"GET / HTTP/1.1\nHost: x\r\n\r\n",
        400,
    ),
    parses(
        "empty lines before the request line are skipped",
        b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[get("/").headers(HOST_X)],
    ),
    refused(
        "bare LF before the request line",
        b"\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
];
