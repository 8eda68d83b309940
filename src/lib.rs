//! moss: green threads for blocking-style Rust, and the pieces of a
//! gunicorn-style server built on them.
//!
//! This facade only re-exports: the runtime (`moss::run`, `moss::spawn`,
//! `moss::sleep`, `moss::timeout`, `moss::sync`, …) from `moss-runtime`,
//! green sockets from `moss-net-shims` as [`net`], and the HTTP/1.1 engine
//! from `moss-server` as [`server`].

#![forbid(unsafe_code)]

pub use moss_runtime::*;

/// Green sockets mirroring `std::net` (TCP, UDP, Unix) and DNS off the hub.
pub use moss_net_shims as net;

/// The HTTP/1.1 engine and application API (see [`moss_server`]).
pub use moss_server as server;
