//! The monkey patch: libc's blocking socket and sleep calls made cooperative inside green threads, for code that knows nothing of moss.
//!
//! This crate defines the libc entry points that blocking code reaches
//! (`recv`, `send`, `read`, `write`, `accept`, `connect`, `poll`,
//! `select`, `pselect`, `epoll_wait`, `clock_nanosleep`, `getaddrinfo`,
//! `gethostbyname`, … the descriptor-state calls `socket`, `fcntl`,
//! `ioctl(FIONBIO)`, `close`, `close_range`, `closefrom`, `dup2`, … and
//! `sigaction`/`signal`, to recognise signal handlers). Symbol
//! interposition makes the whole executable call them instead of libc's:
//! `std::net`, `std::thread::sleep`, third-party blocking clients and C
//! libraries alike. Each finds the original with `dlsym(RTLD_NEXT, …)`.
//!
//! Inside a green thread, a blocking call on a socket whose owner did not
//! ask for non-blocking mode parks the green thread instead of the OS
//! thread; a sleep parks on the hub's timers; name resolution runs on the
//! offload pool. Everywhere else (other threads, the hub itself, before
//! `main`, signal handlers, sockets the owner made non-blocking, calls
//! with `MSG_DONTWAIT`) the call is the real one, for the cost of one
//! thread-local read.
//!
//! ```
//! # use moss_runtime as moss;
//! use std::io::{Read, Write};
//! use std::os::unix::net::UnixStream;
//!
//! moss::run(|| {
//!     // Plain std sockets, blocking calls: the reader parks, the hub runs
//!     // the writer meanwhile.
//!     let (mut a, mut b) = UnixStream::pair().unwrap();
//!     let reader = moss::spawn(move || {
//!         let mut buf = [0; 5];
//!         b.read_exact(&mut buf).unwrap();
//!         buf
//!     });
//!     a.write_all(b"hello").unwrap();
//!     assert_eq!(&reader.join().unwrap(), b"hello");
//! });
//! ```
//!
//! # How a socket becomes cooperative
//! On its first blocking call in a green thread the layer sets
//! `O_NONBLOCK` on it and remembers that it did (a lock-free table per
//! descriptor number). `fcntl(F_GETFL)` never shows that flag; the owner's
//! own `F_SETFL`/`FIONBIO` are recorded and keep it. Outside green
//! threads, blocking calls on such a socket are emulated (`poll`, then
//! retry), so other threads never see a surprise `EAGAIN`. Socket timeouts
//! (`SO_RCVTIMEO`, `SO_SNDTIMEO`) bound the park and end it as the kernel
//! would (`EAGAIN`, `EINPROGRESS` for `connect`).
//!
//! # Kill and timeout
//! A hooked call cannot unwind (C frames may be on the stack): a kill
//! fails it with `ECANCELED`, an elapsed `moss::timeout` with
//! `ETIMEDOUT` (never `EINTR`, which std and C code retry), a sleep ends
//! early with success. The interrupt stays pending and is delivered at the
//! next Rust-native blocking point.
//!
//! # `close`
//! `close`, `close_range`, `closefrom`, `dup2` and `dup3` deregister the
//! descriptor from every hub's epoll before the real call and wake the
//! green threads parked on it, which fail with `EBADF`: a number reused
//! by a new socket is never read by a waiter of the old one.
//!
//! # Signal handlers
//! Handlers installed through `sigaction` or `signal` are wrapped by a
//! trampoline that marks the thread while they run (`sigaction` reports
//! the program's handler, not the trampoline): hooked calls made inside
//! them are the real ones, never a park. A handler installed with a raw
//! system call is not seen, and one left with `siglongjmp` leaves its
//! thread marked (its hooked calls block instead of parking).
//!
//! # Building without it
//! The hooks are compiled with the default feature `patch` (of
//! `moss-net-shims`, forwarded by `moss`); without it this module only
//! has [`is_active`], which returns `false`.

#[cfg(feature = "patch")]
#[allow(unsafe_code)]
mod hooks;
#[cfg(feature = "patch")]
#[allow(unsafe_code)]
mod sys;
#[cfg(feature = "patch")]
mod table;
#[cfg(feature = "patch")]
mod wait;

/// Whether the hooks are linked into this executable and in force: the
/// feature `patch` is on, a libc call made by name reaches its hook, and
/// the original functions were found (a fully static executable has no
/// `dlsym(RTLD_NEXT)`).
///
/// # Examples
/// ```
/// assert!(moss_net_shims::patch::is_active());
/// ```
pub fn is_active() -> bool {
    #[cfg(feature = "patch")]
    {
        hooks::linked()
    }
    #[cfg(not(feature = "patch"))]
    {
        false
    }
}
