//! Fuzzes the whole request path: arbitrary bytes, delivered in reads of
//! fuzzer-chosen sizes, served by the engine with an app that reads every
//! body. The engine must not panic, and whatever it writes must be a
//! sequence of well-formed responses.
#![no_main]

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use libfuzzer_sys::fuzz_target;
use moss_server::{serve_connection, ConnInfo, HttpConfig, Request, Response, Transport};

struct Stream {
    input: Vec<u8>,
    pos: usize,
    chunk: usize,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Stream {}

fn app(mut request: Request) -> Response {
    let mut body = Vec::new();
    let _ = request.body_mut().read_to_end(&mut body);
    let _ = request.body().trailers();
    Response::new(body.into())
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first % 32) + 1;
    let output = Arc::new(Mutex::new(Vec::new()));
    let stream = Stream {
        input: input.to_vec(),
        pos: 0,
        chunk: if first >= 128 { usize::MAX } else { chunk },
        output: output.clone(),
    };
    let config = HttpConfig {
        limit_request_body: Some(1 << 16),
        limit_request_field_size: if first & 64 != 0 { 64 } else { 8190 },
        ..HttpConfig::default()
    };
    serve_connection(stream, &app, &config, ConnInfo::default()).expect("in-memory I/O");
    let output = output.lock().unwrap();
    let mut rest = &output[..];
    while !rest.is_empty() {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("every response has a complete head");
        assert!(
            rest.starts_with(b"HTTP/1.1 "),
            "response starts with a status line"
        );
        let head = std::str::from_utf8(&rest[..end]).expect("heads are ASCII");
        let length = head
            .lines()
            .find_map(|line| line.strip_prefix("Content-Length: "))
            .map(|n| n.parse::<usize>().expect("numeric Content-Length"));
        rest = &rest[end + 4..];
        if head.starts_with("HTTP/1.1 100 ") {
            continue;
        }
        match length {
            Some(len) => rest = &rest[len..],
            None => break,
        }
    }
});
