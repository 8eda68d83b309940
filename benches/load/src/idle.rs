//! Idle keep-alive connections, held by this process: each has made one
//! request (`GET /`, answered) and then waits.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Opens up to `count` connections to `addr`, one request each, within
/// `limit`; returns those that got their answer.
pub fn open(addr: SocketAddr, count: usize, limit: Duration) -> Vec<TcpStream> {
    let deadline = Instant::now() + limit;
    let mut held = Vec::with_capacity(count);
    let mut failures = 0;
    while held.len() < count && Instant::now() < deadline && failures < 100 {
        match one(addr) {
            Ok(stream) => held.push(stream),
            Err(_) => failures += 1,
        }
    }
    held
}

fn one(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_nodelay(true)?;
    stream.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")?;
    let mut answer = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    while !answer.ends_with(b"Hello, World!") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        answer.extend_from_slice(&buf[..n]);
    }
    Ok(stream)
}

/// How many of `held` the server has not closed.
pub fn still_open(held: &[TcpStream]) -> usize {
    held.iter()
        .filter(|stream| {
            let _ = stream.set_nonblocking(true);
            let mut byte = [0u8; 1];
            let open = match stream.peek(&mut byte) {
                Ok(0) => false,
                Ok(_) => true,
                Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
            };
            let _ = stream.set_nonblocking(false);
            open
        })
        .count()
}
