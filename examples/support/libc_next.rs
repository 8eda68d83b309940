//! libc's own `recv` and `read`, found with `dlsym(RTLD_NEXT, …)` so that
//! the patch layer's hooks are skipped: the "plain libc call" the hooked
//! call is measured against (`benches/patch.rs`, `examples/patch_calls.rs`).

#![allow(dead_code)] // each binary uses its own subset

use std::ffi::{c_int, c_void, CStr};
use std::sync::OnceLock;

type RecvFn = unsafe extern "C" fn(c_int, *mut c_void, usize, c_int) -> isize;
type ReadFn = unsafe extern "C" fn(c_int, *mut c_void, usize) -> isize;

fn next_symbol(name: &CStr) -> *mut c_void {
    // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name only looks the
    // symbol up in the objects loaded after this executable.
    let symbol = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    assert!(
        !symbol.is_null(),
        "dlsym(RTLD_NEXT, {name:?}) found nothing"
    );
    symbol
}

/// libc's `recv`, bypassing any hook in this executable.
pub fn libc_recv(fd: c_int, buf: &mut [u8], flags: c_int) -> isize {
    static RECV: OnceLock<RecvFn> = OnceLock::new();
    let recv = RECV.get_or_init(|| {
        // SAFETY: the symbol `recv` in libc has exactly this signature.
        unsafe { std::mem::transmute::<*mut c_void, RecvFn>(next_symbol(c"recv")) }
    });
    // SAFETY: `buf` is valid for writes of its length during the call.
    unsafe { recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) }
}

/// libc's `read`, bypassing any hook in this executable.
pub fn libc_read(fd: c_int, buf: &mut [u8]) -> isize {
    static READ: OnceLock<ReadFn> = OnceLock::new();
    let read = READ.get_or_init(|| {
        // SAFETY: the symbol `read` in libc has exactly this signature.
        unsafe { std::mem::transmute::<*mut c_void, ReadFn>(next_symbol(c"read")) }
    });
    // SAFETY: `buf` is valid for writes of its length during the call.
    unsafe { read(fd, buf.as_mut_ptr().cast(), buf.len()) }
}

/// The hooked `recv` (the symbol the executable links, as std and C
/// libraries call it).
pub fn hooked_recv(fd: c_int, buf: &mut [u8], flags: c_int) -> isize {
    // SAFETY: `buf` is valid for writes of its length during the call.
    unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) }
}

/// The hooked `read`.
pub fn hooked_read(fd: c_int, buf: &mut [u8]) -> isize {
    // SAFETY: `buf` is valid for writes of its length during the call.
    unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }
}

/// A non-blocking pipe with nothing in it: (read end, write end).
pub fn empty_nonblocking_pipe() -> (c_int, c_int) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`.
    let result = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    assert_eq!(result, 0, "pipe2: {}", std::io::Error::last_os_error());
    (fds[0], fds[1])
}
