//! moss: green threads for blocking-style Rust.
/// Green sockets mirroring `std::net` (TCP, UDP, Unix) and DNS off the hub.
pub use moss_net_shims as net;
pub use moss_runtime::*;
