//! The control thread of the servers `idle_conns` runs in this binary: a
//! second listener, on its own OS thread so that the server's connections
//! run the very code they run in `http_echo`, that answers
//!
//! * `GET /stats` with the counting allocator's report
//!   ([`crate::alloc::render`]),
//! * `GET /trim` by calling glibc's `malloc_trim(0)` (every arena).
//!
//! It prints `control on http://ADDR` on stderr once bound.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};

use crate::alloc;

/// Binds the control listener and serves it on a new thread.
pub fn start() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    eprintln!("control on http://{}", listener.local_addr()?);
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = answer(stream);
            }
        })?;
    Ok(())
}

/// Reads one request head and answers it; the connection then closes.
fn answer(mut stream: TcpStream) -> io::Result<()> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while crate::client::find(&head, b"\r\n\r\n").is_none() {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let body = if head.starts_with(b"GET /stats ") {
        alloc::render()
    } else if head.starts_with(b"GET /trim ") {
        format!("released {}\n", alloc::malloc_trim())
    } else {
        String::new()
    };
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes())
}
