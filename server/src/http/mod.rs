//! The HTTP/1.1 engine: parses requests, runs the application, writes
//! responses, over any byte stream.
//!
//! ```text
//!   stream ──► ConnIo.rbuf ──► HeadScanner ──► parse_head ──► Request ──► App
//!                 │                                             │
//!                 └─────────── Body (chunked / length) ◄────────┘
//!   stream ◄── ConnIo.wbuf ◄── write_response ◄──────────── Response
//! ```
//!
//! Entry point: [`serve_connection`].

mod body;
mod config;
mod conn;
mod date;
mod error;
mod info;
mod io;
mod parse;
mod response;
mod target;
mod transport;

pub use body::Body;
pub use config::{HttpConfig, UnderscoreHeaders};
pub use conn::serve_connection;
pub use error::HttpError;
pub use info::{ConnInfo, RequestExt, RequestInfo};
pub use response::ResponseBody;
pub use target::{RequestTarget, TargetForm};
pub use transport::{NoTimeouts, Transport};
