//! Embedding the server: your own binary, your own application, moss's
//! flags and master (workers, signals, reloads) around it.
//!
//! ```sh
//! cargo run --release --example embed -- -w 2 -k green -b 127.0.0.1:8000 hello
//! curl http://127.0.0.1:8000/anything
//! ```
//!
//! The application is built in each worker after the fork (pass
//! `--preload` to build it once in the master instead). `APP` is still
//! required by the flag parser; with [`Server::app`] it is not used.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use moss::server::{Request, Response, Server};

/// An application with state of its own: a request counter per worker.
struct Counter {
    served: AtomicU64,
}

impl moss::server::App for Counter {
    fn call(&self, request: Request) -> Response {
        let n = self.served.fetch_add(1, Ordering::Relaxed) + 1;
        // Blocking style: under the green worker this sleep parks only
        // this request's green thread (the patch layer), not the worker.
        std::thread::sleep(std::time::Duration::from_millis(5));
        let text = format!(
            "request {n} of worker {} for {}\n",
            std::process::id(),
            request.uri().path()
        );
        Response::new(text.into())
    }
}

fn main() -> ExitCode {
    let server = match Server::from_args() {
        Ok(server) => server,
        Err(error) => return moss::server::report(&error),
    };
    let served = server
        .app(|| Counter {
            served: AtomicU64::new(0),
        })
        .run();
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("embed: {error}");
            ExitCode::FAILURE
        }
    }
}
