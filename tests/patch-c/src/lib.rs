//! Rust bindings to `c/netc.c`, a small blocking network client in plain C
//! (socket + connect, send, poll, recv, nanosleep), for the tests that show
//! moss's patch layer making a C library cooperative inside green threads.
//!
//! Each binding turns the C convention (a result, or `-errno`) into an
//! `io::Result` whose error carries the raw errno.

#![deny(unsafe_code)]

pub use bindings::*;

#[allow(unsafe_code)]
mod bindings {
    //! The bindings need `unsafe`: every call into C is one.

    use std::io;
    use std::os::fd::RawFd;

    mod ffi {
        //! The C functions.

        use std::ffi::{c_char, c_int, c_ushort};

        extern "C" {
            pub fn netc_connect(port: c_ushort) -> c_int;
            pub fn netc_send_all(fd: c_int, data: *const c_char, len: c_int) -> c_int;
            pub fn netc_wait_readable(fd: c_int, timeout_ms: c_int) -> c_int;
            pub fn netc_recv(fd: c_int, buf: *mut c_char, cap: c_int) -> c_int;
            pub fn netc_sleep_ms(ms: c_int) -> c_int;
            pub fn netc_close(fd: c_int) -> c_int;
            pub fn netc_exchange(
                port: c_ushort,
                request: *const c_char,
                request_len: c_int,
                reply: *mut c_char,
                cap: c_int,
                timeout_ms: c_int,
            ) -> c_int;
        }
    }

    fn check(result: i32) -> io::Result<i32> {
        if result < 0 {
            Err(io::Error::from_raw_os_error(-result))
        } else {
            Ok(result)
        }
    }

    fn c_len(len: usize) -> i32 {
        i32::try_from(len).expect("netc: buffer longer than i32::MAX")
    }

    /// Connects a blocking TCP socket to `127.0.0.1:port` (C `socket` + `connect`).
    pub fn connect(port: u16) -> io::Result<RawFd> {
        // SAFETY: netc_connect takes a port by value and touches no memory of ours.
        check(unsafe { ffi::netc_connect(port) })
    }

    /// Sends all of `data` on `fd` (C `send` in a loop).
    pub fn send_all(fd: RawFd, data: &[u8]) -> io::Result<()> {
        // SAFETY: the pointer and length describe `data`, which outlives the call;
        // the C side only reads it.
        check(unsafe { ffi::netc_send_all(fd, data.as_ptr().cast(), c_len(data.len())) }).map(drop)
    }

    /// Waits in C `poll` until `fd` is readable (`true`) or `timeout_ms` passes (`false`).
    pub fn wait_readable(fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
        // SAFETY: netc_wait_readable takes plain integers.
        check(unsafe { ffi::netc_wait_readable(fd, timeout_ms) }).map(|ready| ready > 0)
    }

    /// One C `recv` into `buf`: the count, 0 at end of stream.
    pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: the pointer and length describe `buf`, exclusively borrowed for
        // the call; the C side writes at most `cap` bytes.
        let got = check(unsafe { ffi::netc_recv(fd, buf.as_mut_ptr().cast(), c_len(buf.len())) })?;
        Ok(got as usize)
    }

    /// Sleeps `ms` milliseconds in C `nanosleep`.
    pub fn sleep_ms(ms: i32) -> io::Result<()> {
        // SAFETY: netc_sleep_ms takes an integer.
        check(unsafe { ffi::netc_sleep_ms(ms) }).map(drop)
    }

    /// Closes `fd` (C `close`).
    pub fn close(fd: RawFd) -> io::Result<()> {
        // SAFETY: netc_close takes an integer; the caller owns `fd`.
        check(unsafe { ffi::netc_close(fd) }).map(drop)
    }

    /// One exchange in C: connect to `127.0.0.1:port`, send `request`, `poll`
    /// for the reply (up to `timeout_ms`; `ETIMEDOUT` after), `recv` it into
    /// `reply`, close. The reply's length.
    pub fn exchange(
        port: u16,
        request: &[u8],
        reply: &mut [u8],
        timeout_ms: i32,
    ) -> io::Result<usize> {
        // SAFETY: both pointer/length pairs describe live slices for the whole
        // call; `request` is only read and `reply` written at most `cap` bytes.
        let got = check(unsafe {
            ffi::netc_exchange(
                port,
                request.as_ptr().cast(),
                c_len(request.len()),
                reply.as_mut_ptr().cast(),
                c_len(reply.len()),
                timeout_ms,
            )
        })?;
        Ok(got as usize)
    }
}
