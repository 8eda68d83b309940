//! moss-server: moss's HTTP/1.1 engine and the application API.
//!
//! An application is anything implementing [`App`] — closures included —
//! from a [`Request`] with a streaming [`Body`] to a [`Response`].
//! [`serve_connection`] serves one connection with it over any
//! [`Transport`] (a `Read + Write` stream).
//!
//! # Examples
//!
//! ```
//! use std::io::{Cursor, Read, Write};
//! use moss_server::{serve_connection, ConnInfo, HttpConfig, NoTimeouts, Request, Response};
//!
//! struct Duplex(Cursor<Vec<u8>>, std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
//! impl Read for Duplex {
//!     fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> { self.0.read(buf) }
//! }
//! impl Write for Duplex {
//!     fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> { self.1.lock().unwrap().write(buf) }
//!     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! }
//!
//! let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
//! let input = Cursor::new(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec());
//! let app = |_req: Request| Response::new("Hello, World!".into());
//! serve_connection(NoTimeouts(Duplex(input, output.clone())), &app, &HttpConfig::default(), ConnInfo::default())
//!     .unwrap();
//! let output = output.lock().unwrap();
//! assert!(output.starts_with(b"HTTP/1.1 200 OK\r\n"));
//! assert!(output.ends_with(b"\r\n\r\nHello, World!"));
//! ```
#![deny(unsafe_code)]

mod app;
pub mod apps;
pub mod config;
mod ctl;
mod http;
pub mod log;
mod master;
pub mod scoreboard;
mod server;
mod sockets;
mod sys;
pub mod tls;
pub mod trust;
mod worker;

pub use crate::app::{App, Request, Response};
pub use crate::http::{
    on_upgrade, serve_connection, Body, ConnInfo, Connection, HttpConfig, HttpError, NoTimeouts,
    RequestExt, RequestInfo, RequestTarget, ResponseBody, Served, TargetForm, Transport,
    UnderscoreHeaders, Upgraded, DEFAULT_LIMIT_REQUEST_BODY,
};
pub use crate::server::{main, report, Server};
