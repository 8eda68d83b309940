//! The HTTP/1.1 engine: parses requests, runs the application, writes
//! responses, over any byte stream.
//!
//! ```text
//!           io                parse                           conn
//!   stream ──► rbuf ──► HeadScanner, parse_head ──► Request ──► App
//!               │                                      │        │
//!               │      decode                          │        │
//!               └──► Decoder (length / chunked) ──► Body        │
//!                                                               │
//!   stream ◄── wbuf ◄── write_response, PendingStream ◄── Response
//!           io          encode
//! ```
//!
//! `framing` holds the one rule both sides use to delimit a body;
//! `conn` runs the loop (keep-alive, pipelining, draining, refusals).
//! Entry point: [`serve_connection`].

mod body;
mod config;
mod conn;
mod date;
mod decode;
mod encode;
mod error;
mod framing;
mod info;
mod io;
mod parse;
mod target;
mod transport;
mod upgrade;

pub use body::{Body, ResponseBody};
pub use config::{HttpConfig, UnderscoreHeaders, DEFAULT_LIMIT_REQUEST_BODY};
pub use conn::{serve_connection, Connection, Served};
pub use error::HttpError;
pub use info::{ConnInfo, RequestExt, RequestInfo};
pub use target::{RequestTarget, TargetForm};
pub use transport::{NoTimeouts, Transport};
pub use upgrade::{on_upgrade, Upgraded};
