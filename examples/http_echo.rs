//! The smallest complete program on moss's HTTP engine: `GET` and `HEAD`
//! answer `Hello, World!`, a request with a body gets its body back.
//!
//! ```text
//! cargo run --release --example http_echo -- [--threads] [--keep-alive SECONDS] [ADDR]
//! cargo run --release --example http_echo -- 127.0.0.1:8000
//! curl -d 'echo me' http://127.0.0.1:8000/
//! ```
//!
//! Each connection is served by one moss green thread, all on one hub, on
//! `moss::net` sockets. `--threads` serves the same engine with one OS
//! thread per connection on std sockets instead, for comparison.
//!
//! `--keep-alive SECONDS` sets how long an idle keep-alive connection waits
//! for its next request ([`HttpConfig::keep_alive`], 2 s unless given;
//! fractions allowed, `0` turns keep-alive off). The engine's other limits
//! have flags of the same names as the `HttpConfig` fields:
//! `--header-timeout`, `--body-timeout`, `--send-timeout` (seconds, `0`
//! for none), `--body-min-rate` (bytes per second, `0` for none),
//! `--limit-request-line`, `--limit-request-fields`,
//! `--limit-request-field-size`, `--limit-request-head`,
//! `--limit-request-body` (`0` means no body limit) and `--header-map`
//! (`drop`, `refuse`, `dangerous`), as in `docs/http.md`. Bodies are echoed from memory, so they are never longer
//! than the body limit (64 MiB unless given). `idle_conns` starts this
//! server with `--keep-alive 600` to hold thousands of idle connections
//! while it measures them. `ADDR` defaults to `127.0.0.1:8000`; with port 0
//! the first line on stderr names the port the kernel chose.

use std::io::Read;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderValue, CONTENT_TYPE};
use moss::server::{
    serve_connection, ConnInfo, HttpConfig, Request, Response, ResponseBody, Transport,
    UnderscoreHeaders,
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

/// What the command line asks for.
struct Options {
    threads: bool,
    address: String,
    config: HttpConfig,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        threads: false,
        address: "127.0.0.1:8000".to_owned(),
        config: HttpConfig::default(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => options.threads = true,
            "--keep-alive" => {
                let value = args
                    .next()
                    .ok_or("--keep-alive needs a number of seconds")?;
                options.config.keep_alive = value
                    .parse::<f64>()
                    .ok()
                    .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
                    .ok_or_else(|| format!("--keep-alive {value}: not a number of seconds"))?;
            }
            "--header-timeout" | "--body-timeout" | "--send-timeout" => {
                let value = args
                    .next()
                    .ok_or(format!("{arg} needs a number of seconds"))?;
                let timeout = value
                    .parse::<f64>()
                    .ok()
                    .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
                    .ok_or_else(|| format!("{arg} {value}: not a number of seconds"))?;
                let timeout = (!timeout.is_zero()).then_some(timeout);
                match arg.as_str() {
                    "--header-timeout" => options.config.header_timeout = timeout,
                    "--body-timeout" => options.config.body_timeout = timeout,
                    _ => options.config.send_timeout = timeout,
                }
            }
            "--body-min-rate"
            | "--limit-request-line"
            | "--limit-request-fields"
            | "--limit-request-field-size"
            | "--limit-request-head"
            | "--limit-request-body" => {
                let value = args.next().ok_or(format!("{arg} needs a number"))?;
                let number: u64 = value
                    .parse()
                    .map_err(|_| format!("{arg} {value}: not a number"))?;
                let size = usize::try_from(number).map_err(|_| format!("{arg}: too large"))?;
                let config = &mut options.config;
                match arg.as_str() {
                    "--body-min-rate" => config.body_min_rate = (number > 0).then_some(number),
                    "--limit-request-line" => config.limit_request_line = size,
                    "--limit-request-fields" => config.limit_request_fields = size,
                    "--limit-request-field-size" => config.limit_request_field_size = size,
                    "--limit-request-head" => config.limit_request_head = size,
                    _ => config.limit_request_body = (number > 0).then_some(number),
                }
            }
            "--header-map" => {
                let value = args
                    .next()
                    .ok_or("--header-map needs drop, refuse or dangerous")?;
                options.config.underscore_headers = match value.as_str() {
                    "drop" => UnderscoreHeaders::Drop,
                    "refuse" => UnderscoreHeaders::Refuse,
                    "dangerous" => UnderscoreHeaders::Keep,
                    _ => return Err(format!("--header-map {value}: drop, refuse or dangerous")),
                };
            }
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ => options.address = arg,
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("http_echo: {message}");
            eprintln!(
                "usage: http_echo [--threads] [--keep-alive S] [--header-timeout S] \
                 [--body-timeout S] [--body-min-rate B] [--send-timeout S] \
                 [--limit-request-line N] [--limit-request-fields N] \
                 [--limit-request-field-size N] [--limit-request-head B] \
                 [--limit-request-body B] [--header-map drop|refuse|dangerous] [ADDR]"
            );
            return ExitCode::from(2);
        }
    };
    let served = match options.threads {
        false => serve_green(&options.address, options.config),
        true => serve_threads(&options.address, options.config),
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("http_echo: {error}");
            ExitCode::FAILURE
        }
    }
}

/// One green thread per connection, all on one hub (one OS thread).
/// Public, as `serve_threads`, for `idle_conns`, which runs these very
/// functions in a process whose allocations it counts.
pub fn serve_green(address: &str, config: HttpConfig) -> std::io::Result<()> {
    moss::run(|| {
        let listener = moss::net::TcpListener::bind(address)?;
        eprintln!("http_echo listening on http://{}", listener.local_addr()?);
        let config = Rc::new(config);
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
pub fn serve_threads(address: &str, config: HttpConfig) -> std::io::Result<()> {
    let listener = std::net::TcpListener::bind(address)?;
    eprintln!(
        "http_echo (thread per connection) listening on http://{}",
        listener.local_addr()?
    );
    let config = Arc::new(config);
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
