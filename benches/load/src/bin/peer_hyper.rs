//! The hyper peer: hyper 1 on a tokio multi-thread runtime with `--threads`
//! worker threads (2 in the benchmark, as 2 workers of the others), a task
//! per connection, serving what moss's demo apps serve:
//!
//! * `/` (any other path too): `Hello, World!` as `text/plain`;
//! * `/sleep?ms=N`: waits N ms (`tokio::time::sleep`);
//! * with `--upstream HOST:PORT`, every request is forwarded there (path and
//!   query kept), over a new connection each, with hyper's client.
//!
//! `peer-hyper --bind 127.0.0.1:PORT [--threads N] [--upstream HOST:PORT]`

#[path = "../hyper_service.rs"]
mod hyper_service;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::HOST;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use hyper_service::{hello_or_sleep, text};

async fn forward(upstream: SocketAddr, target: &str) -> Result<Response<Full<Bytes>>, String> {
    let stream = tokio::net::TcpStream::connect(upstream)
        .await
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = Request::get(target)
        .header(HOST, upstream.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let answer = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = answer.status();
    let body = answer
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(text(status, body))
}

async fn answer(
    request: Request<Incoming>,
    upstream: Option<SocketAddr>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let uri = request.uri();
    if let Some(upstream) = upstream {
        let target = uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        return Ok(match forward(upstream, &target).await {
            Ok(response) => response,
            Err(why) => {
                eprintln!("peer-hyper: upstream {upstream}{target} failed: {why}");
                text(StatusCode::BAD_GATEWAY, format!("upstream failed: {why}\n"))
            }
        });
    }
    Ok(hello_or_sleep(uri).await)
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
            _ => panic!("usage: peer-hyper --bind ADDR [--threads N] [--upstream HOST:PORT]"),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&bind).await.expect("bind");
        eprintln!("peer-hyper listening on http://{}", bind);
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
                let service = service_fn(move |request| answer(request, upstream));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}
