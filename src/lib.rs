//! moss: green threads for blocking-style Rust.
pub use moss_runtime::*;
