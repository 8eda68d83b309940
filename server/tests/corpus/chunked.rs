//! Chunked bodies: sizes, extensions, chunk data and its CRLF, the last
//! chunk and trailers. A malformed body is found while the application
//! reads it: the read fails and the engine answers 400 instead.

use super::vector::*;

/// A chunked `POST /` from `$chunks`, the bytes after its head.
macro_rules! chunked {
    ($chunks:literal) => {
        concat!(
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            $chunks
        )
        .as_bytes()
    };
}

/// The request of [`chunked!`] as the application sees it, with `body`.
const fn upload(body: &'static [u8]) -> Seen {
    post("/")
        .headers(&[("host", "x"), ("transfer-encoding", "chunked")])
        .body(body)
}

pub const VECTORS: &[Vector] = &[
    // Sizes.
    parses(
        "one chunk",
        chunked!("5\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"hello")],
    ),
    parses(
        "several chunks",
        chunked!("5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n"),
        &[upload(b"hello world")],
    ),
    parses(
        "hex sizes in either case",
        chunked!("a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n"),
        &[upload(b"0123456789abcdefghij")],
    ),
    parses(
        "leading zeros in a size",
        chunked!("0005\r\nhello\r\n000\r\n\r\n"),
        &[upload(b"hello")],
    ),
    parses(
        "leading zeros past fifteen size digits",
        chunked!("00000000000000000001\r\nx\r\n0\r\n\r\n"),
        &[upload(b"x")],
    ),
    parses("no data", chunked!("0\r\n\r\n"), &[upload(b"")]),
    parses(
        "data holding CRLFs and a last chunk",
        chunked!("5\r\n0\r\n\r\n\r\n0\r\n\r\n"),
        &[upload(b"0\r\n\r\n")],
    ),
    truncated_body(
        "fifteen significant digits",
        chunked!("100000000000000\r\nhello"),
        &[upload(b"hello")],
    ),
    malformed_body(
        "sixteen significant digits",
        chunked!("1000000000000000\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"")],
    ),
    malformed_body(
        "size past u64",
        chunked!("10000000000000005\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"")],
    ),
    malformed_body(
        "plus sign in a size",
        chunked!("+5\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"")],
    ),
    malformed_body(
        "minus sign in a size",
        chunked!("-5\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"")],
    ),
    malformed_body(
        "0x prefix on a size",
        chunked!("0x5\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"")],
    ),
    malformed_body(
        "0X prefix on a size",
        chunked!("0X5\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"")],
    ),
    malformed_body(
        "underscore in the size",
        chunked!("5_0\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"")],
    ),
    malformed_body(
        "empty size",
        chunked!("\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"")],
    ),
    malformed_body(
        "space before the size",
        chunked!(" 5\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"")],
    ),
    malformed_body(
        "space after the size",
        chunked!("5 \r\nhello\r\n0\r\n\r\n"),
        &[upload(b"")],
    ),
    malformed_body(
        "tab after the size",
        chunked!("5\t\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"")],
    ),
    malformed_body(
        "NUL after the size",
        chunked!("5\0\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"")],
    ),
    malformed_body(
        "bare LF after the size",
        chunked!("5\nhello\r\n0\r\n\r\n"),
        &[upload(b"")],
    ),
    malformed_body(
        "bare LF after the last chunk size",
        chunked!("5\r\nhello\r\n0\n\r\n"),
        &[upload(b"hello")],
    ),
    // Extensions: `;name[=token|quoted-string]`, ignored.
    parses(
        "extension name alone",
        chunked!("5;a\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"hello")],
    ),
    parses(
        "extension with a token value",
        chunked!("5;a=b\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"hello")],
    ),
    parses(
        "extension with a quoted value",
        chunked!("5;a=\"b c;d=e\"\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"hello")],
    ),
    parses(
        "escaped quote in an extension value",
        chunked!("5;a=\"b\\\"c\"\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"hello")],
    ),
    parses(
        "several extensions",
        chunked!("5;a;b=c;d=\"e\"\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"hello")],
    ),
    parses(
        "whitespace around extension parts",
        chunked!("5 ; a = b\t;\tc\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"hello")],
    ),
    parses(
        "extension on the last chunk",
        chunked!("5\r\nhello\r\n0;end=1\r\n\r\n"),
        &[upload(b"hello")],
    ),
    malformed_body(
        "extension without a name",
        chunked!("5;=b\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"")],
    ),
    malformed_body(
        "extension without a value",
        chunked!("5;a=\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"")],
    ),
    malformed_body(
        "semicolon alone",
        chunked!("5;\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"")],
    ),
    malformed_body(
        "separator in an extension name",
        chunked!("5;a/b\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"")],
    ),
    malformed_body(
        "unterminated quoted extension",
        chunked!("5;a=\"b\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"")],
    ),
    malformed_body(
        "bare CR in an extension",
        chunked!("5;a=b\rc\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"")],
    ),
    malformed_body(
        "bare CR in a quoted extension",
        chunked!("5;a=\"b\rc\"\r\nhello\r\n0\r\n\r\n"),
        &[upload(b"")],
    ),
    // Chunk data and the CRLF after it.
    malformed_body(
        "data longer than its size",
        chunked!("5\r\nhelloX\r\n0\r\n\r\n"),
        &[upload(b"hello")],
    ),
    malformed_body(
        "bare LF after data",
        chunked!("5\r\nhello\n0\r\n\r\n"),
        &[upload(b"hello")],
    ),
    malformed_body(
        "bare CR after data",
        chunked!("5\r\nhello\r0\r\n\r\n"),
        &[upload(b"hello")],
    ),
    truncated_body("data cut short", chunked!("5\r\nhel"), &[upload(b"hel")]),
    truncated_body("size cut short", chunked!("5"), &[upload(b"")]),
    truncated_body(
        "last chunk missing",
        chunked!("5\r\nhello\r\n"),
        &[upload(b"hello")],
    ),
    truncated_body(
        "final CRLF missing",
        chunked!("5\r\nhello\r\n0\r\n"),
        &[upload(b"hello")],
    ),
    // Trailers: offered to the application apart from the header fields.
    parses(
        "trailers",
        chunked!("5\r\nhello\r\n0\r\nX-Sum: 1\r\nX-Other: b\r\n\r\n"),
        &[upload(b"hello").trailers(&[("x-sum", "1"), ("x-other", "b")])],
    ),
    parses(
        "trailer with an underscore dropped",
        chunked!("5\r\nhello\r\n0\r\nX_A: 1\r\nX-B: 2\r\n\r\n"),
        &[upload(b"hello").trailers(&[("x-b", "2")])],
    ),
    parses(
        "Content-Type trailer",
        chunked!("0\r\nContent-Type: text/plain\r\n\r\n"),
        &[upload(b"").trailers(&[("content-type", "text/plain")])],
    ),
    malformed_body(
        "Content-Length trailer",
        chunked!("5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n"),
        &[upload(b"hello")],
    ),
    malformed_body(
        "Transfer-Encoding trailer",
        chunked!("5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        &[upload(b"hello")],
    ),
    malformed_body(
        "Host trailer",
        chunked!("5\r\nhello\r\n0\r\nHost: y\r\n\r\n"),
        &[upload(b"hello")],
    ),
    malformed_body(
        "bare LF ending the trailers",
        chunked!("5\r\nhello\r\n0\r\n\n"),
        &[upload(b"hello")],
    ),
    malformed_body(
        "bare LF ending a trailer",
        chunked!("5\r\nhello\r\n0\r\nX-A: 1\n\r\n"),
        &[upload(b"hello")],
    ),
    malformed_body(
        "obs-fold in a trailer",
        chunked!("5\r\nhello\r\n0\r\nX-A: 1\r\n 2\r\n\r\n"),
        &[upload(b"hello")],
    ),
    malformed_body(
        "space before a trailer colon",
        chunked!("5\r\nhello\r\n0\r\nX-A : 1\r\n\r\n"),
        &[upload(b"hello")],
    ),
    malformed_body(
        "NUL in a trailer",
        chunked!("5\r\nhello\r\n0\r\nX-A: a\0b\r\n\r\n"),
        &[upload(b"hello")],
    ),
    truncated_body(
        "trailers cut short",
        chunked!("5\r\nhello\r\n0\r\nX-A: 1\r\n"),
        &[upload(b"hello")],
    ),
];
