//! The measuring side: plain blocking std sockets on loopback, one request
//! each, then idle.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// What each connection sends once: a minimal browser-less request.
pub const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: idle_conns\r\n\r\n";

/// How long one connect or response may take.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens `count` connections to `addr`, each sending [`REQUEST`] and
/// reading the whole response, one after the other; fails past `deadline`.
pub fn open_idle(addr: SocketAddr, count: usize, deadline: Instant) -> io::Result<Vec<TcpStream>> {
    let mut conns = Vec::with_capacity(count);
    for i in 0..count {
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("only {i} of {count} connections opened in time"),
            ));
        }
        let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .map_err(|e| io::Error::new(e.kind(), format!("connection {i}: connect: {e}")))?;
        exchange(&mut stream, REQUEST)
            .map_err(|e| io::Error::new(e.kind(), format!("connection {i}: {e}")))?;
        conns.push(stream);
    }
    Ok(conns)
}

/// Opens `count` connections that send nothing.
pub fn open_silent(addr: SocketAddr, count: usize) -> io::Result<Vec<TcpStream>> {
    (0..count)
        .map(|_| TcpStream::connect_timeout(&addr, IO_TIMEOUT))
        .collect()
}

/// One request on a fresh connection; returns the response body.
pub fn get(addr: SocketAddr, path: &str) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    exchange(&mut stream, request.as_bytes())
}

/// Sends `request`, reads one response (head plus a `Content-Length`
/// body) and returns its body.
fn exchange(stream: &mut TcpStream, request: &[u8]) -> io::Result<Vec<u8>> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.write_all(request)?;
    let mut received = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(head_end) = find(&received, b"\r\n\r\n").map(|at| at + 4) {
            let head = String::from_utf8_lossy(&received[..head_end]).to_ascii_lowercase();
            if !head.starts_with("http/1.1 200") {
                return Err(io::Error::other(format!(
                    "unexpected response: {}",
                    head.lines().next().unwrap_or_default()
                )));
            }
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .ok_or_else(|| io::Error::other("response without Content-Length"))?;
            if received.len() >= head_end + length {
                return Ok(received[head_end..head_end + length].to_vec());
            }
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        received.extend_from_slice(&chunk[..n]);
    }
}

/// Where `needle` first occurs in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
