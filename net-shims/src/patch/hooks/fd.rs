//! Descriptor-state hooks: `socket`, `socketpair`, `fcntl`, `ioctl(FIONBIO)`, `close`, `close_range`, `closefrom`, `dup`, `dup2`, `dup3`, `shutdown`.
//!
//! They keep the table (`table.rs`) true: new descriptors start a new
//! generation, the owner's choice of blocking mode is recorded while the
//! layer's own `O_NONBLOCK` stays set and hidden, and a descriptor about
//! to close has its registrations revoked before the real `close`.

use std::sync::atomic::Ordering;

use libc::{c_int, c_uint, c_ulong};

use super::PROBED;
use crate::patch::sys::real;
use crate::patch::{table, wait};

// `fcntl`, `fcntl64` and `ioctl` are variadic in C, but are defined here
// with a fixed third argument (`usize`). That is sound only where a
// variadic call passes its first variadic integer/pointer argument exactly
// where a fixed third argument would go: x86-64 SysV (in `rdx`) and
// AAPCS64 on Linux (in `x2`). Elsewhere (i386 passes it on the stack
// after other ABI details, Apple's arm64 passes every variadic argument
// on the stack) the hooks would read garbage, so refuse to build.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!(
    "moss-net-shims' `patch` hooks define the variadic `fcntl`/`ioctl` with three \
     fixed arguments, which is only ABI-compatible on x86-64 and aarch64 Linux; \
     build without the `patch` feature on this target"
);

/// See `socket(2)`.
///
/// # Safety
/// As libc's `socket`.
#[no_mangle]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    // SAFETY: the caller's arguments, unchanged (socket's contract).
    let fd = unsafe { real::socket(domain, ty, protocol) };
    if fd >= 0 {
        table::new_socket(fd, ty & libc::SOCK_NONBLOCK != 0);
    }
    fd
}

/// See `socketpair(2)`.
///
/// # Safety
/// As libc's `socketpair`.
#[no_mangle]
pub unsafe extern "C" fn socketpair(
    domain: c_int,
    ty: c_int,
    protocol: c_int,
    sv: *mut c_int,
) -> c_int {
    // SAFETY: the caller's arguments, unchanged (socketpair's contract).
    let result = unsafe { real::socketpair(domain, ty, protocol, sv) };
    if result == 0 {
        // SAFETY: on success `sv` holds the two new descriptors.
        let (a, b) = unsafe { (*sv, *sv.add(1)) };
        table::new_socket(a, ty & libc::SOCK_NONBLOCK != 0);
        table::new_socket(b, ty & libc::SOCK_NONBLOCK != 0);
    }
    result
}

/// `fcntl` and `fcntl64`: `F_GETFL` hides the layer's `O_NONBLOCK`,
/// `F_SETFL` records the owner's choice (keeping the layer's flag), the
/// `F_DUPFD` forms carry the table state to the duplicate.
///
/// # Safety
/// As libc's `fcntl`; `original` is the original of the hooked name.
unsafe fn fcntl_hook(
    fd: c_int,
    cmd: c_int,
    arg: usize,
    original: unsafe fn(c_int, c_int, usize) -> c_int,
) -> c_int {
    match cmd {
        libc::F_GETFL => {
            // SAFETY: the caller's arguments, unchanged (fcntl's contract).
            let flags = unsafe { original(fd, cmd, arg) };
            let emulated = table::load(fd).is_some_and(table::Entry::is_emulated);
            if flags >= 0 && emulated && table::still_socket(fd) {
                flags & !libc::O_NONBLOCK
            } else {
                flags
            }
        }
        libc::F_SETFL => {
            let nonblocking = arg as c_int & libc::O_NONBLOCK != 0;
            let entry = table::load(fd);
            let keep = !nonblocking
                && entry.is_some_and(table::Entry::layer_nonblocking)
                && table::still_socket(fd);
            let arg = if keep {
                arg | libc::O_NONBLOCK as usize
            } else {
                arg
            };
            // SAFETY: the caller's arguments (fcntl's contract), with the
            // layer's O_NONBLOCK kept.
            let result = unsafe { original(fd, cmd, arg) };
            if result == 0 {
                owner_chose(fd, nonblocking, entry);
            }
            result
        }
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
            // SAFETY: the caller's arguments, unchanged (fcntl's contract).
            let new = unsafe { original(fd, cmd, arg) };
            if new >= 0 {
                table::duplicated(fd, new);
            }
            new
        }
        // SAFETY: the caller's arguments, unchanged (fcntl's contract; the
        // variadic third argument travels in a register either way).
        _ => unsafe { original(fd, cmd, arg) },
    }
}

/// Records the owner's choice of mode; one that takes over readiness
/// itself (non-blocking) gets the descriptor's epoll registrations out of
/// its way (a green socket of `moss::net` registers it on its own).
fn owner_chose(fd: c_int, nonblocking: bool, before: Option<table::Entry>) {
    table::user_chose(fd, nonblocking);
    if nonblocking && before.is_some_and(table::Entry::is_registered) && !wait::in_hook() {
        wait::revoke(fd);
    }
}

/// See `fcntl(2)`.
///
/// # Safety
/// As libc's `fcntl`.
#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    // SAFETY: fcntl's contract, passed on.
    unsafe { fcntl_hook(fd, cmd, arg, real::fcntl) }
}

/// See `fcntl(2)` (the large-file name).
///
/// # Safety
/// As libc's `fcntl64`.
#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    // SAFETY: fcntl64's contract, passed on.
    unsafe { fcntl_hook(fd, cmd, arg, real::fcntl64) }
}

/// See `ioctl(2)`: `FIONBIO` records the owner's choice (keeping the
/// layer's `O_NONBLOCK`); every other request passes through.
///
/// # Safety
/// As libc's `ioctl`.
#[no_mangle]
pub unsafe extern "C" fn ioctl(fd: c_int, request: c_ulong, arg: usize) -> c_int {
    if request != libc::FIONBIO as c_ulong || arg == 0 {
        // SAFETY: the caller's arguments, unchanged (ioctl's contract).
        return unsafe { real::ioctl(fd, request, arg) };
    }
    // SAFETY: FIONBIO's argument points to an int (ioctl's contract), and
    // it is not null.
    let nonblocking = unsafe { *(arg as *const c_int) } != 0;
    let entry = table::load(fd);
    if !nonblocking && entry.is_some_and(table::Entry::layer_nonblocking) && table::still_socket(fd)
    {
        // The layer's O_NONBLOCK stays: only the owner's choice changes
        // (the descriptor is an open socket: `still_socket` asked).
        owner_chose(fd, false, entry);
        return 0;
    }
    // SAFETY: the caller's arguments, unchanged (ioctl's contract).
    let result = unsafe { real::ioctl(fd, request, arg) };
    if result == 0 {
        owner_chose(fd, nonblocking, entry);
    }
    result
}

/// Forgets `fd` before it is closed (or replaced by `dup2`/`dup3`): a new
/// generation, and its registrations revoked: deregistered from epoll
/// while the descriptor is still open, parked green threads woken to
/// find the new generation (`EBADF`).
fn forget(fd: c_int) {
    let old = table::closed(fd);
    if old.is_some_and(table::Entry::is_registered) && !wait::in_hook() {
        wait::revoke(fd);
    }
}

/// See `close(2)`.
///
/// # Safety
/// As libc's `close`.
#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    if fd < 0 {
        PROBED.store(true, Ordering::Relaxed);
    } else {
        forget(fd);
    }
    // SAFETY: the caller's argument, unchanged (close's contract).
    unsafe { real::close(fd) }
}

/// Forgets every descriptor from `first` to `last` (inclusive) that the
/// table knows (see [`forget`]), before they are closed together. Only
/// the table's own entries are visited (numbers from [`table::CAPACITY`]
/// up are not tracked), one atomic load each for the untouched ones:
/// no allocation, no lock unless a descriptor was registered.
fn forget_range(first: c_uint, last: c_uint) {
    let end = last.min(table::CAPACITY as c_uint - 1);
    for fd in first..=end {
        let fd = fd as c_int;
        if table::load(fd).is_some_and(table::Entry::is_tracked) {
            forget(fd);
        }
    }
}

/// See `close_range(2)`: the descriptors it closes are forgotten first,
/// as `close` does. With `CLOSE_RANGE_CLOEXEC` nothing is closed; with
/// `CLOSE_RANGE_UNSHARE` the caller closes them in a private copy of the
/// descriptor table (other threads keep them open, and their parked calls
/// must go on): both pass straight through.
///
/// # Safety
/// As libc's `close_range`.
#[no_mangle]
pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    let unshared = (libc::CLOSE_RANGE_CLOEXEC | libc::CLOSE_RANGE_UNSHARE) as c_int;
    if flags & unshared == 0 {
        forget_range(first, last);
    }
    // SAFETY: the caller's arguments, unchanged (close_range's contract).
    unsafe { real::close_range(first, last, flags) }
}

/// See `closefrom(3)`: the descriptors it closes are forgotten first, as
/// `close` does.
///
/// # Safety
/// As libc's `closefrom`.
#[no_mangle]
pub unsafe extern "C" fn closefrom(lowfd: c_int) {
    forget_range(lowfd.max(0) as c_uint, c_uint::MAX);
    // SAFETY: the caller's argument, unchanged (closefrom's contract).
    unsafe { real::closefrom(lowfd) }
}

/// See `dup(2)`.
///
/// # Safety
/// As libc's `dup`.
#[no_mangle]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    // SAFETY: the caller's argument, unchanged (dup's contract).
    let new = unsafe { real::dup(fd) };
    if new >= 0 {
        table::duplicated(fd, new);
    }
    new
}

/// `dup2` and `dup3`: `new` is closed implicitly when `old` is open; `op`
/// makes the real call.
fn replace(old: c_int, new: c_int, op: impl FnOnce() -> c_int) -> c_int {
    // SAFETY: F_GETFD takes no argument; it tells whether `old` is open,
    // so that a failing call does not disturb `new`.
    if old != new && unsafe { real::fcntl(old, libc::F_GETFD, 0) } >= 0 {
        forget(new);
    }
    let result = op();
    if result >= 0 && old != new {
        table::duplicated(old, result);
    }
    result
}

/// See `dup2(2)`.
///
/// # Safety
/// As libc's `dup2`.
#[no_mangle]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    replace(old, new, || {
        // SAFETY: the caller's arguments, unchanged (dup2's contract).
        unsafe { real::dup2(old, new) }
    })
}

/// See `dup3(2)`.
///
/// # Safety
/// As libc's `dup3`.
#[no_mangle]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    replace(old, new, || {
        // SAFETY: the caller's arguments, unchanged (dup3's contract).
        unsafe { real::dup3(old, new, flags) }
    })
}

/// See `shutdown(2)`: passes through (a shutdown wakes parked readers and
/// writers by itself, through the readiness it raises).
///
/// # Safety
/// As libc's `shutdown`.
#[no_mangle]
pub unsafe extern "C" fn shutdown(fd: c_int, how: c_int) -> c_int {
    // SAFETY: the caller's arguments, unchanged (shutdown's contract).
    unsafe { real::shutdown(fd, how) }
}
