//! Shared helpers: an in-memory stream that hands out input in chosen
//! chunk sizes, and a parser for the responses the engine wrote.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use moss_server::{serve_connection, App, ConnInfo, HttpConfig, Transport};

/// Input given out in reads of the sizes in `chunks` (cycled); output kept.
pub struct TestStream {
    input: Vec<u8>,
    pos: usize,
    chunks: Vec<usize>,
    next_chunk: usize,
    pub output: Arc<Mutex<Vec<u8>>>,
    /// Write calls made so far.
    pub writes: Arc<Mutex<usize>>,
    /// At the end of input, fail reads with `WouldBlock` (a read timeout)
    /// instead of returning end of stream.
    pub stall_at_end: bool,
    /// Timeouts the engine asked for.
    pub timeouts: Arc<Mutex<Vec<Option<std::time::Duration>>>>,
}

impl TestStream {
    pub fn new(input: &[u8], chunks: &[usize]) -> TestStream {
        TestStream {
            input: input.to_vec(),
            pos: 0,
            chunks: if chunks.is_empty() {
                vec![usize::MAX]
            } else {
                chunks.to_vec()
            },
            next_chunk: 0,
            output: Arc::default(),
            writes: Arc::default(),
            stall_at_end: false,
            timeouts: Arc::default(),
        }
    }
}

impl Read for TestStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.input.len() && self.stall_at_end {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let chunk = self.chunks[self.next_chunk % self.chunks.len()].max(1);
        self.next_chunk += 1;
        let n = chunk.min(buf.len()).min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for TestStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        *self.writes.lock().unwrap() += 1;
        self.output.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for TestStream {
    fn set_read_timeout(&mut self, timeout: Option<std::time::Duration>) -> io::Result<()> {
        self.timeouts.lock().unwrap().push(timeout);
        Ok(())
    }
}

/// Serves `input` (read in `chunks`) and returns everything written.
pub fn serve<A: App>(input: &[u8], chunks: &[usize], app: &A, config: &HttpConfig) -> Vec<u8> {
    let stream = TestStream::new(input, chunks);
    let output = stream.output.clone();
    serve_connection(stream, app, config, ConnInfo::default())
        .expect("in-memory I/O does not fail");
    let out = output.lock().unwrap().clone();
    out
}

/// A response as parsed back from the engine's output.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Parsed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Parses consecutive responses; `head_requests[i]` tells whether the
/// i-th answers a HEAD (no body). Panics on malformed output.
pub fn parse_responses(mut out: &[u8], head_requests: &[bool]) -> Vec<Parsed> {
    let mut parsed = Vec::new();
    while !out.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let len = match response.parse(out).expect("well-formed response head") {
            httparse::Status::Complete(len) => len,
            httparse::Status::Partial => panic!(
                "truncated response head: {:?}",
                String::from_utf8_lossy(out)
            ),
        };
        let status = response.code.unwrap();
        let headers: Vec<(String, String)> = response
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        out = &out[len..];
        let mut p = Parsed {
            status,
            headers,
            body: Vec::new(),
        };
        if status == 100 {
            parsed.push(p);
            continue;
        }
        let is_head = head_requests
            .get(parsed.iter().filter(|r| r.status != 100).count())
            .copied()
            .unwrap_or(false);
        if is_head || status == 204 || status == 304 {
        } else if let Some(len) = p.header("content-length") {
            let len: usize = len.parse().unwrap();
            p.body = out[..len].to_vec();
            out = &out[len..];
        } else if p.header("transfer-encoding").is_some() {
            loop {
                let line_end = out.windows(2).position(|w| w == b"\r\n").unwrap();
                let size =
                    usize::from_str_radix(std::str::from_utf8(&out[..line_end]).unwrap(), 16)
                        .unwrap();
                out = &out[line_end + 2..];
                if size == 0 {
                    assert!(out.starts_with(b"\r\n"));
                    out = &out[2..];
                    break;
                }
                p.body.extend_from_slice(&out[..size]);
                assert_eq!(&out[size..size + 2], b"\r\n");
                out = &out[size + 2..];
            }
        } else {
            p.body = out.to_vec();
            out = &[];
        }
        parsed.push(p);
    }
    parsed
}
