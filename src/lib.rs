//! moss: green threads for blocking-style Rust.
pub use moss_runtime::*;

/// The HTTP/1.1 engine and application API (see [`moss_server`]).
pub use moss_server as server;
