//! The smallest complete program on moss's HTTP engine: `GET` and `HEAD`
//! answer `Hello, World!`, a request with a body gets its body back.
//!
//! ```text
//! cargo run --release --example http_echo -- 127.0.0.1:8000
//! curl -d 'echo me' http://127.0.0.1:8000/
//! ```
//!
//! It uses one OS thread per connection until `moss::net` lands; then each
//! connection becomes a green thread with the same `serve_connection` call.

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;

use http::header::{HeaderValue, CONTENT_TYPE};
use moss::server::{serve_connection, ConnInfo, HttpConfig, Request, Response, ResponseBody};

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

fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8000".to_owned());
    let listener = TcpListener::bind(&address)?;
    eprintln!("http_echo listening on http://{}", listener.local_addr()?);
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
            let conn = ConnInfo {
                peer_addr: stream.peer_addr().ok(),
                local_addr: stream.local_addr().ok(),
                ..ConnInfo::default()
            };
            if let Err(error) = serve_connection(stream, &app, &config, conn) {
                eprintln!("connection ended with an error: {error}");
            }
        });
    }
    Ok(())
}
