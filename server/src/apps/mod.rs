//! The demo applications that `moss [OPTIONS] APP` runs by name, with no code written.
//!
//! | name | what it does |
//! |---|---|
//! | `hello` | [`Hello`]: `Hello, World!` for every request |
//! | `sleep` | [`Sleep`]: `/sleep?ms=N` sleeps, `/spin?ms=N` burns the CPU |
//! | `echo` | [`Echo`]: the request body back, streamed |
//! | `proxy` | [`Proxy`]: every request forwarded to `--upstream URL` |
//! | `status` | [`Status`]: the master's scoreboard, as HTML and JSON |

use std::time::SystemTime;

use http::header::{HeaderValue, CONTENT_TYPE};
use http::StatusCode;

use crate::scoreboard::Scoreboard;
use crate::{App, Response, ResponseBody};

mod echo;
mod hello;
mod proxy;
mod sleep;
mod status;

pub use self::echo::Echo;
pub use self::hello::Hello;
pub use self::proxy::Proxy;
pub use self::sleep::{Sleep, MAX_MS};
pub use self::status::Status;

/// What the server tells a demo app about where it runs.
#[derive(Debug, Clone)]
pub struct AppContext {
    /// The master's scoreboard (`None` when the app runs embedded, outside
    /// a master).
    pub scoreboard: Option<Scoreboard>,
    /// The worker class, as configured (`sync`, `green`, …).
    pub worker_class: String,
    /// `--upstream URL`, for `proxy`.
    pub upstream: Option<String>,
    /// The master's pid.
    pub master_pid: u32,
    /// When the master started.
    pub started: SystemTime,
}

impl Default for AppContext {
    /// This process alone: no scoreboard, no upstream, started now.
    fn default() -> AppContext {
        AppContext {
            scoreboard: None,
            worker_class: "sync".into(),
            upstream: None,
            master_pid: std::process::id(),
            started: SystemTime::now(),
        }
    }
}

/// The demo apps, by name, with a one-line description (for `--help`).
pub const DEMO_APPS: &[(&str, &str)] = &[
    ("hello", "answers every request with `Hello, World!`"),
    (
        "sleep",
        "/sleep?ms=N sleeps N ms (std::thread::sleep); /spin?ms=N burns the CPU for N ms",
    ),
    (
        "echo",
        "streams the request body back, with its Content-Type",
    ),
    ("proxy", "forwards every request to --upstream URL"),
    (
        "status",
        "the workers' counters: / as HTML, /status.json as JSON",
    ),
];

/// A name that is not one of [`DEMO_APPS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown app `{name}`; the demo apps are: {}", names())]
pub struct UnknownApp {
    /// The name asked for.
    pub name: String,
}

fn names() -> String {
    let names: Vec<&str> = DEMO_APPS.iter().map(|(name, _)| *name).collect();
    names.join(", ")
}

/// The demo app called `name`.
///
/// # Examples
///
/// ```
/// use moss_server::apps::{demo_app, AppContext};
/// use moss_server::App;
///
/// let app = demo_app("hello", AppContext::default()).unwrap();
/// let response = app.call(http::Request::get("/").body(Default::default()).unwrap());
/// assert_eq!(response.status(), 200);
/// assert!(demo_app("nope", AppContext::default()).is_err());
/// ```
pub fn demo_app(name: &str, ctx: AppContext) -> Result<Box<dyn App>, UnknownApp> {
    Ok(match name {
        "hello" => Box::new(Hello),
        "sleep" => Box::new(Sleep),
        "echo" => Box::new(Echo),
        "proxy" => Box::new(Proxy::new(ctx.upstream.as_deref())),
        "status" => Box::new(Status::new(ctx)),
        _ => {
            return Err(UnknownApp {
                name: name.to_owned(),
            })
        }
    })
}

/// A `text/plain` response.
fn text(status: StatusCode, body: impl Into<ResponseBody>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::{Cursor, Read, Write};
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::{serve_connection, ConnInfo, HttpConfig, NoTimeouts};

    /// A connection whose input is fixed and whose output is kept.
    struct Duplex(Cursor<Vec<u8>>, Arc<Mutex<Vec<u8>>>);

    impl Read for Duplex {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.0.read(buf)
        }
    }

    impl Write for Duplex {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.1.lock().unwrap().write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What the engine sends back for `input` served by `app`.
    pub(crate) fn exchange(app: &dyn App, input: &str) -> String {
        let output = Arc::new(Mutex::new(Vec::new()));
        let duplex = Duplex(Cursor::new(input.as_bytes().to_vec()), output.clone());
        let info = ConnInfo {
            peer_addr: "10.0.0.1:5000".parse().ok(),
            ..ConnInfo::default()
        };
        serve_connection(NoTimeouts(duplex), app, &HttpConfig::default(), info).unwrap();
        let output = output.lock().unwrap();
        String::from_utf8_lossy(&output).into_owned()
    }

    /// The body of a response `exchange` returned.
    pub(crate) fn body(response: &str) -> &str {
        response.split_once("\r\n\r\n").map_or("", |(_, body)| body)
    }

    pub(crate) fn get(uri: &str) -> crate::Request {
        http::Request::get(uri).body(Default::default()).unwrap()
    }

    #[test]
    fn every_demo_app_is_found_by_name() {
        for (name, _) in DEMO_APPS {
            assert!(demo_app(name, AppContext::default()).is_ok(), "{name}");
        }
        let error = demo_app("helo", AppContext::default()).err().unwrap();
        assert_eq!(
            error.to_string(),
            "unknown app `helo`; the demo apps are: hello, sleep, echo, proxy, status"
        );
    }

    #[test]
    fn a_boxed_app_serves_through_the_engine() {
        let app = demo_app("hello", AppContext::default()).unwrap();
        let response = exchange(
            &app,
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert_eq!(body(&response), "Hello, World!");
        let shared = std::sync::Arc::new(Hello);
        let response = exchange(&shared, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(body(&response), "Hello, World!");
    }
}
