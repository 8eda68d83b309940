//! An echo server: one green thread per connection, plain blocking code.
//!
//! ```sh
//! cargo run --release --example echo [ADDR]      # default 127.0.0.1:7000
//! cargo run --release --example load [ADDR] [CONNECTIONS] [ROUNDS]
//! ```

use std::io::{Read, Write};

use moss::net::{TcpListener, TcpStream};

fn serve(mut stream: TcpStream) {
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".into());
    moss::run(|| {
        let listener = TcpListener::bind(addr.as_str())?;
        eprintln!("echo: listening on {}", listener.local_addr()?);
        for stream in listener.incoming() {
            match stream {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    moss::spawn(move || serve(stream));
                }
                // A connection that failed before it was accepted
                // (ECONNABORTED) does not stop the server.
                Err(err) => eprintln!("echo: accept: {err}"),
            }
        }
        Ok(())
    })
}
