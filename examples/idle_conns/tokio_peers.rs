//! Two minimal tokio servers, peers measured in the same run: a task per
//! connection on a current-thread runtime (one OS thread, like one moss
//! hub). They parse nothing but the end of a request head (GET only), so
//! they show what the runtime and the socket cost, not an HTTP engine.
//!
//! * `tokio`: each connection owns an 8 KiB read buffer, kept while idle
//!   (hyper's first read buffer, filled without zeroing).
//! * `tokio-readable`: no buffer while idle: waits for readability, reads
//!   into one buffer shared by the thread, keeps only an unfinished head.

use std::cell::RefCell;
use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The answer to every request.
const HELLO: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

/// Read buffer each connection of the `tokio` peer keeps.
const TOKIO_READ_BUFFER: usize = 8 * 1024;

/// Read buffer the `tokio-readable` peer shares between its connections.
const SHARED_READ_BUFFER: usize = 16 * 1024;

/// How many complete request heads are at the front of `bytes`, and how
/// many bytes they take. Bodies are not supported: a GET-only floor, not
/// an HTTP engine.
fn heads(bytes: &[u8]) -> (usize, usize) {
    let (mut count, mut used) = (0, 0);
    while let Some(end) = crate::client::find(&bytes[used..], b"\r\n\r\n") {
        count += 1;
        used += end + 4;
    }
    (count, used)
}

async fn respond(stream: &mut tokio::net::TcpStream, count: usize) -> io::Result<()> {
    for _ in 0..count {
        stream.write_all(HELLO).await?;
    }
    Ok(())
}

/// A task per connection on a current-thread runtime (one OS thread, as
/// one moss hub).
pub fn serve(address: &str, readable: bool) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(address).await?;
        eprintln!("tokio listening on http://{}", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            match readable {
                false => drop(tokio::spawn(serve_buffered(stream))),
                true => drop(tokio::spawn(serve_readable(stream))),
            }
        }
    })
}

/// Each connection owns a read buffer, kept while idle.
async fn serve_buffered(mut stream: tokio::net::TcpStream) {
    let mut buf = Vec::with_capacity(TOKIO_READ_BUFFER);
    loop {
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let (count, used) = heads(&buf);
        buf.drain(..used);
        if respond(&mut stream, count).await.is_err() || buf.len() >= TOKIO_READ_BUFFER {
            return;
        }
    }
}

thread_local! {
    /// The read buffer every connection of the runtime's thread reads into.
    static SHARED: RefCell<Box<[u8]>> = RefCell::new(vec![0; SHARED_READ_BUFFER].into_boxed_slice());
}

/// Holds no buffer while idle: waits for readability, reads into the
/// thread's shared buffer, keeps only the bytes of an unfinished head.
async fn serve_readable(mut stream: tokio::net::TcpStream) {
    let mut pending: Vec<u8> = Vec::new();
    loop {
        if stream.readable().await.is_err() {
            return;
        }
        let read: io::Result<Option<usize>> = SHARED.with(|shared| {
            let mut shared = shared.borrow_mut();
            let n = stream.try_read(&mut shared)?;
            if n == 0 {
                return Ok(None);
            }
            let (count, used) = if pending.is_empty() {
                let (count, used) = heads(&shared[..n]);
                pending.extend_from_slice(&shared[used..n]);
                (count, 0)
            } else {
                pending.extend_from_slice(&shared[..n]);
                heads(&pending)
            };
            pending.drain(..used);
            Ok(Some(count))
        });
        let count = match read {
            Ok(Some(count)) => count,
            Ok(None) => return,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        };
        if pending.is_empty() {
            pending = Vec::new();
        }
        if respond(&mut stream, count).await.is_err() || pending.len() >= SHARED_READ_BUFFER {
            return;
        }
    }
}
