//! The `hyper` peer: a minimal hyper 1 server on a tokio current-thread
//! runtime (one OS thread, as one moss hub), a task per connection. It
//! answers like `http_echo`: `Hello, World!` when the request has no body,
//! the body back when it has one (read whole first, as `http_echo` does).
//!
//! hyper's HTTP/1 defaults apply, with a timer so that its default header
//! timeout (30 s, `http1::Builder::header_read_timeout`) is in force:
//! without a timer hyper has none. hyper has no body timeout.

use std::convert::Infallible;
use std::io;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let content_type = request.headers().get(CONTENT_TYPE).cloned();
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            let mut response = Response::new(Full::new(Bytes::from(error.to_string())));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return Ok(response);
        }
    };
    let (body, content_type) = match body.is_empty() {
        true => (
            Bytes::from_static(b"Hello, World!"),
            HeaderValue::from_static("text/plain"),
        ),
        false => (
            body,
            content_type.unwrap_or(HeaderValue::from_static("application/octet-stream")),
        ),
    };
    let mut response = Response::new(Full::new(body));
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    Ok(response)
}

/// Serves on `address` until the process is killed.
pub fn serve(address: &str) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(address).await?;
        eprintln!("hyper listening on http://{}", listener.local_addr()?);
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(error) => {
                    eprintln!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .serve_connection(TokioIo::new(stream), service_fn(answer))
                    .await;
            });
        }
    })
}
