//! moss-runtime: green threads for blocking-style Rust.
//!
//! A *hub* is a scheduler on one OS thread. It runs *green threads*:
//! stackful coroutines, each with its own guard-paged stack, that look and
//! behave like OS threads (`spawn`, `join`, `sleep`) but cost a page of
//! memory and a few nanoseconds to switch. Whenever a green thread would
//! block (a socket with no data, a sleep, a lock), it parks and the hub
//! runs another; when nothing is runnable the hub waits in epoll (mio)
//! until a socket is ready or a timer is due.
//!
//! ```
//! # use moss_runtime as moss;
//! use std::time::Duration;
//!
//! let total = moss::run(|| {
//!     let handles: Vec<_> = (0..1000)
//!         .map(|i| moss::spawn(move || { moss::sleep(Duration::from_millis(10)); i }))
//!         .collect();
//!     handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
//! });
//! assert_eq!(total, 499_500);
//! ```
//!
//! The thousand sleeps above overlap: the whole run takes about 10 ms on
//! one OS thread.

#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]
// `unsafe` lives in four modules, each saying why in its first doc line:
// the coroutine contexts, the stack pool (with the overflow reporter), the
// green threads' inline result slot and the platform calls.
#![deny(unsafe_code)]

#[allow(unsafe_code)]
mod context;
mod green;
mod hub;
pub mod io;
mod local;
mod monitor;
mod offload;
pub mod park;
mod remote;
mod sched;
#[allow(unsafe_code)]
mod slot;
#[allow(unsafe_code)]
mod stack;
mod stats;
pub mod sync;
#[allow(unsafe_code)]
mod sys;
mod time;

pub use context::in_green_thread;
pub use green::{
    current, spawn, try_current, Builder, GreenId, GreenThread, JoinError, JoinHandle,
};
pub use hub::{run, HubBuilder, DEFAULT_ROOT_STACK_SIZE, DEFAULT_STACK_SIZE};
pub use local::GreenLocal;
pub use offload::{
    spawn_blocking, spawn_blocking_foreign, DEFAULT_OFFLOAD_THREADS, OFFLOAD_KEEP_ALIVE,
};
pub use sched::Hub;
pub use stats::{stats, Stats};
pub use sync::{Group, Pool};
pub use time::{sleep, sleep_until, timeout, timeout_at, yield_now, Elapsed};
