//! Parse+respond cost per request over an in-memory stream, against the
//! same work done with raw `httparse` (the baseline): parse each request
//! with `httparse::Request::parse_with_uninit_headers` and append a canned
//! response, byte for byte the one moss sends, to an output buffer.
//!
//! Run: `cargo bench -p moss-server --bench http -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::io::{self, Read, Write};
use std::mem::MaybeUninit;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use moss_server::{
    serve_connection, ConnInfo, HttpConfig, Request, Response, ResponseBody, Transport,
};

const BROWSER: &[u8] = b"GET /static/app.js?v=42 HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Referer: https://www.example.com/index.html\r\n\
Connection: keep-alive\r\n\
Cookie: session=3f1c2a9be0d24c8f; theme=dark\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: script\r\n\
Sec-Fetch-Mode: no-cors\r\n\
Sec-Fetch-Site: same-origin\r\n\
\r\n";

const MINIMAL: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

const DEPTH: usize = 16;

/// Pipelined input served from memory; output counted and discarded.
struct MemoryStream<'a> {
    input: &'a [u8],
    written: usize,
}

impl Read for MemoryStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Ok(n)
    }
}

impl Write for MemoryStream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for MemoryStream<'static> {}

fn hello(_request: Request) -> Response {
    Response::new(ResponseBody::from("Hello, World!"))
}

/// What moss answers `hello` with (the date aside, same length).
const CANNED: &[u8] = b"HTTP/1.1 200 OK\r\n\
Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
Server: moss\r\n\
Content-Length: 13\r\n\
\r\n\
Hello, World!";

/// The baseline: parse every request, append the canned response.
fn raw_httparse(input: &[u8], out: &mut Vec<u8>) -> usize {
    let mut rest = input;
    let mut parsed = 0;
    out.clear();
    while !rest.is_empty() {
        let mut headers = [const { MaybeUninit::uninit() }; 16];
        let mut request = httparse::Request::new(&mut []);
        match request.parse_with_uninit_headers(rest, &mut headers) {
            Ok(httparse::Status::Complete(len)) => {
                parsed += request.headers.len();
                rest = &rest[len..];
                out.extend_from_slice(CANNED);
            }
            _ => unreachable!("benchmark input is valid"),
        }
    }
    parsed
}

fn bench(c: &mut Criterion) {
    let config = HttpConfig::default();
    for (name, request) in [("browser", BROWSER), ("minimal", MINIMAL)] {
        let input: &'static [u8] = request.repeat(DEPTH).leak();
        let mut group = c.benchmark_group(format!("{name}_x{DEPTH}"));
        group.throughput(Throughput::Elements(DEPTH as u64));
        group.bench_function("moss_parse_respond", |b| {
            b.iter(|| {
                let stream = MemoryStream {
                    input: black_box(input),
                    written: 0,
                };
                serve_connection(stream, &hello, &config, ConnInfo::default()).unwrap();
            })
        });
        let mut out = Vec::with_capacity(64 * 1024);
        group.bench_function("httparse_raw", |b| {
            b.iter(|| raw_httparse(black_box(input), &mut out))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
