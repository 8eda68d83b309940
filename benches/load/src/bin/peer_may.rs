//! The may_minihttp peer: may's coroutines on `--threads` worker threads
//! (2 in the benchmark), a coroutine per connection, serving what moss's demo
//! apps serve:
//!
//! * `/` (any other path too): `Hello, World!`;
//! * `/sleep?ms=N`: waits N ms (`may::coroutine::sleep`);
//! * with `--upstream HOST:PORT`, every request is forwarded there (path and
//!   query kept) over a new `may::net::TcpStream` each, HTTP/1.1 with
//!   `Connection: close`, the answer read to its end.
//!
//! `peer-may --bind 127.0.0.1:PORT [--threads N] [--upstream HOST:PORT]`

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use may_minihttp::{HttpServer, HttpService, Request, Response};

#[derive(Clone)]
struct Peer {
    upstream: Option<SocketAddr>,
}

/// The `ms` parameter of a query, at most a minute.
fn millis(query: &str) -> Option<u64> {
    let ms = query.split('&').find_map(|pair| pair.strip_prefix("ms="))?;
    ms.parse().ok().filter(|&ms| ms <= 60_000)
}

/// The upstream's status code and body, or why not.
fn forward(upstream: SocketAddr, target: &str) -> io::Result<(usize, Vec<u8>)> {
    let mut stream = may::net::TcpStream::connect(upstream)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let _ = stream.set_nodelay(true);
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {upstream}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::with_capacity(512);
    stream.read_to_end(&mut answer)?;
    let head_end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::other("no end of head"))?;
    let status = std::str::from_utf8(&answer[..head_end])
        .ok()
        .and_then(|head| head.split(' ').nth(1)?.parse().ok())
        .ok_or_else(|| io::Error::other("bad status line"))?;
    Ok((status, answer[head_end + 4..].to_vec()))
}

impl HttpService for Peer {
    fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
        let target = req.path().to_owned();
        rsp.header("Content-Type: text/plain");
        if let Some(upstream) = self.upstream {
            match forward(upstream, &target) {
                Ok((200, body)) => rsp.body_vec(body),
                Ok((_, body)) => {
                    rsp.status_code(502, "Bad Gateway");
                    rsp.body_vec(body);
                }
                Err(error) => {
                    eprintln!("peer-may: upstream {upstream}{target} failed: {error}");
                    rsp.status_code(502, "Bad Gateway");
                    rsp.body_vec(format!("upstream failed: {error}\n").into_bytes());
                }
            }
            return Ok(());
        }
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        if path == "/sleep" {
            match millis(query) {
                Some(ms) => {
                    may::coroutine::sleep(Duration::from_millis(ms));
                    rsp.body_vec(format!("slept {ms} ms\n").into_bytes());
                }
                None => {
                    rsp.status_code(400, "Bad Request");
                    rsp.body("try /sleep?ms=N\n");
                }
            }
            return Ok(());
        }
        rsp.body("Hello, World!");
        Ok(())
    }
}

fn main() {
    let mut bind = String::from("127.0.0.1:8000");
    let mut threads = 2;
    let mut upstream = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        match arg.as_str() {
            "--bind" => bind = value,
            "--threads" => threads = value.parse().expect("--threads N"),
            "--upstream" => upstream = Some(value.parse::<SocketAddr>().expect("HOST:PORT")),
            _ => panic!("usage: peer-may --bind ADDR [--threads N] [--upstream HOST:PORT]"),
        }
    }
    // 64 KiB stacks (may's default is 32 KiB), for the forwarding path.
    may::config().set_workers(threads).set_stack_size(0x2000);
    let server = HttpServer(Peer { upstream })
        .start(bind.as_str())
        .expect("bind");
    eprintln!("peer-may listening on http://{bind}");
    let _ = server.join();
}
