//! The smallest complete program on moss's HTTP engine: `GET` and `HEAD`
//! answer `Hello, World!`, a request with a body gets its body back.
//!
//! ```text
//! cargo run --release --example http_echo -- 127.0.0.1:8000
//! curl -d 'echo me' http://127.0.0.1:8000/
//! ```
//!
//! Each connection is served by one moss green thread, all on one hub, on
//! `moss::net` sockets. `--threads` serves the same engine with one OS
//! thread per connection on std sockets instead, for comparison.

use std::io::Read;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use http::header::{HeaderValue, CONTENT_TYPE};
use moss::server::{
    serve_connection, ConnInfo, HttpConfig, Request, Response, ResponseBody, Transport,
};

fn app(mut request: Request) -> Response {
    let mut body = Vec::new();
    if let Err(error) = request.body_mut().read_to_end(&mut body) {
        // The engine answers a malformed body with its own error status.
        return Response::new(error.to_string().into());
    }
    if body.is_empty() {
        let mut response = Response::new(ResponseBody::from("Hello, World!"));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        return response;
    }
    let content_type = request.headers().get(CONTENT_TYPE).cloned();
    let mut response = Response::new(ResponseBody::from(body));
    let content_type = content_type.unwrap_or(HeaderValue::from_static("application/octet-stream"));
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    response
}

/// Serves one connection with the engine, whatever the socket type.
fn serve<S: Transport + Send + 'static>(
    stream: S,
    (peer_addr, local_addr): (Option<SocketAddr>, Option<SocketAddr>),
    config: &HttpConfig,
) {
    let conn = ConnInfo {
        peer_addr,
        local_addr,
        ..ConnInfo::default()
    };
    if let Err(error) = serve_connection(stream, &app, config, conn) {
        eprintln!("connection ended with an error: {error}");
    }
}

fn main() -> std::io::Result<()> {
    let mut threads = false;
    let mut address = "127.0.0.1:8000".to_owned();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--threads" => threads = true,
            _ => address = arg,
        }
    }
    match threads {
        false => serve_green(&address),
        true => serve_threads(&address),
    }
}

/// One green thread per connection, all on one hub (one OS thread).
fn serve_green(address: &str) -> std::io::Result<()> {
    moss::run(|| {
        let listener = moss::net::TcpListener::bind(address)?;
        eprintln!("http_echo listening on http://{}", listener.local_addr()?);
        let config = Rc::new(HttpConfig::default());
        for stream in listener.incoming() {
            let stream = match stream {
                Ok(stream) => stream,
                Err(error) => {
                    eprintln!("accept failed: {error}");
                    continue;
                }
            };
            let config = Rc::clone(&config);
            moss::spawn(move || {
                let _ = stream.set_nodelay(true);
                let addrs = (stream.peer_addr().ok(), stream.local_addr().ok());
                serve(stream, addrs, &config);
            });
        }
        Ok(())
    })
}

/// One OS thread per connection on std sockets (`--threads`), to compare.
fn serve_threads(address: &str) -> std::io::Result<()> {
    let listener = std::net::TcpListener::bind(address)?;
    eprintln!(
        "http_echo (thread per connection) listening on http://{}",
        listener.local_addr()?
    );
    let config = Arc::new(HttpConfig::default());
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                eprintln!("accept failed: {error}");
                continue;
            }
        };
        let config = Arc::clone(&config);
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            let addrs = (stream.peer_addr().ok(), stream.local_addr().ok());
            serve(stream, addrs, &config);
        });
    }
    Ok(())
}
