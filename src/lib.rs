//! moss: green threads for blocking-style Rust, and a gunicorn-style
//! pre-fork HTTP server built on them.
//!
//! Code written the way `std::net` code is written — `stream.read(&mut
//! buf)`, `thread::sleep`, a blocking HTTP client — runs in *green
//! threads*: stackful coroutines, thousands of them on one OS thread,
//! scheduled by a *hub*. Whenever a green thread would block, it parks
//! and the hub runs another; when none can run, the hub waits in epoll.
//!
//! This crate only re-exports: the runtime from `moss-runtime` (the
//! items at the root: [`run`], [`spawn`], [`sleep`], [`timeout`],
//! [`spawn_blocking`], [`sync`], …), green sockets from `moss-net-shims`
//! as [`net`], the libc patch layer as [`patch`], and the HTTP/1.1
//! engine and pre-fork server from `moss-server` as [`server`].
//!
//! # A tour
//!
//! [`run`] starts a hub on the calling OS thread and runs its closure as
//! the first green thread; [`spawn`] starts more, [`JoinHandle::join`]
//! waits for one, and [`sleep`] parks only the green thread that calls
//! it:
//!
//! ```
//! use std::time::Duration;
//!
//! let sum = moss::run(|| {
//!     let slow = moss::spawn(|| { moss::sleep(Duration::from_millis(20)); 2 });
//!     let fast = moss::spawn(|| { moss::sleep(Duration::from_millis(10)); 1 });
//!     // Both sleep at once, on this one OS thread.
//!     fast.join().unwrap() + slow.join().unwrap()
//! });
//! assert_eq!(sum, 3);
//! ```
//!
//! Plain `std::thread::sleep` parks too, inside a green thread: the
//! [`patch`] layer (the default feature `patch`) hooks libc's sleep,
//! socket and `poll` calls, so code that was never written for moss
//! becomes cooperative:
//!
//! ```
//! use std::time::Duration;
//!
//! let spawned = moss::run(|| {
//!     let sleepers: Vec<_> = (0..100)
//!         .map(|_| moss::spawn(|| std::thread::sleep(Duration::from_millis(10))))
//!         .collect();
//!     for sleeper in sleepers {
//!         sleeper.join().unwrap();
//!     }
//!     moss::stats().spawned
//! });
//! assert_eq!(spawned, 101); // the root and the hundred sleepers
//! ```
//!
//! [`net`] has the socket types of `std::net` with the same methods; a
//! read with no data parks the green thread until epoll reports the
//! socket readable. An echo round trip on loopback:
//!
//! ```
//! use std::io::{Read, Write};
//! use moss::net::{TcpListener, TcpStream};
//!
//! let reply = moss::run(|| -> std::io::Result<[u8; 4]> {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     let server = moss::spawn(move || -> std::io::Result<()> {
//!         let (mut stream, _peer) = listener.accept()?;
//!         let mut buf = [0; 64];
//!         let n = stream.read(&mut buf)?; // parks until the client writes
//!         stream.write_all(&buf[..n])
//!     });
//!     let mut client = TcpStream::connect(addr)?;
//!     client.write_all(b"ping")?;
//!     let mut reply = [0; 4];
//!     client.read_exact(&mut reply)?; // parks until the echo arrives
//!     server.join().unwrap()?;
//!     Ok(reply)
//! });
//! assert_eq!(&reply.unwrap(), b"ping");
//! ```
//!
//! [`server::serve_connection`] serves HTTP/1.1 on one connection with an
//! application (any `Fn(Request) -> Response + Send + Sync`); one green
//! thread per connection is the `green` worker's model:
//!
//! ```
//! use std::io::{Read, Write};
//! use moss::net::{TcpListener, TcpStream};
//! use moss::server::{serve_connection, ConnInfo, HttpConfig, Request, Response};
//!
//! let answer = moss::run(|| -> std::io::Result<String> {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     let server = moss::spawn(move || -> std::io::Result<()> {
//!         let (stream, peer) = listener.accept()?;
//!         let app = |_req: Request| Response::new("Hello, World!".into());
//!         let conn = ConnInfo { peer_addr: Some(peer), ..ConnInfo::default() };
//!         serve_connection(stream, &app, &HttpConfig::default(), conn)
//!     });
//!     let mut client = TcpStream::connect(addr)?;
//!     client.write_all(b"GET / HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n")?;
//!     let mut answer = String::new();
//!     client.read_to_string(&mut answer)?;
//!     server.join().unwrap()?;
//!     Ok(answer)
//! });
//! let answer = answer.unwrap();
//! assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(answer.ends_with("\r\n\r\nHello, World!"));
//! ```
//!
//! A program of your own serves its application behind moss's master,
//! workers, flags and signals (`my-app -w 4 -k green -b 0.0.0.0:8000
//! hello`; `APP` is still required by the flag parser and unused once
//! [`Server::app`](server::Server::app) gives the application):
//!
//! ```no_run
//! use moss::server::{Request, Response, Server};
//!
//! fn main() -> std::process::ExitCode {
//!     let server = match Server::from_args() {
//!         Ok(server) => server,
//!         Err(error) => return moss::server::report(&error),
//!     };
//!     // Built in each worker after the fork.
//!     let app = || |_req: Request| Response::new("Hello from my app".into());
//!     match server.app(app).run() {
//!         Ok(()) => std::process::ExitCode::SUCCESS,
//!         Err(error) => {
//!             eprintln!("{error}");
//!             std::process::ExitCode::FAILURE
//!         }
//!     }
//! }
//! ```
//!
//! # Guides
//!
//! In the repository's `docs/` directory:
//!
//! * `how-it-works.md`: processes, the hub, parks and epoll, with a trace
//!   of two requests sharing one OS thread;
//! * `runtime.md`, `sync.md`, `caveats.md`: the runtime, its
//!   synchronisation primitives, and the rules of the green world;
//! * `net.md`, `patching.md`: green sockets, and the patch layer;
//! * `http.md`, `server.md`: the HTTP engine, the `moss` server's flags
//!   and signals;
//! * `worker-classes.md`, `deploy.md`: choosing `sync`, `gthread` or
//!   `green`, and systemd, nginx and Kubernetes set-ups;
//! * `architecture.md`: which file holds what;
//! * `benchmarks.md`, `idle-memory.md`: the measurements.

#![forbid(unsafe_code)]

pub use moss_runtime::*;

/// Green sockets mirroring `std::net` (TCP, UDP, Unix) and DNS off the hub.
pub use moss_net_shims as net;

/// The monkey patch: libc's blocking socket and sleep calls made
/// cooperative inside green threads (see [`moss_net_shims::patch`]).
pub use moss_net_shims::patch;

/// The HTTP/1.1 engine and application API (see [`moss_server`]).
pub use moss_server as server;
