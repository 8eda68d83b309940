//! moss: green threads for blocking-style Rust.
pub use moss_runtime::*;
/// Green sockets mirroring `std::net` (TCP, UDP, Unix) and DNS off the hub.
pub use moss_net_shims as net;
