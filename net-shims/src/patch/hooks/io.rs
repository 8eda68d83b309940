//! Socket I/O hooks: `recv`, `send`, `read`, `write` and their vectored, addressed and message forms, `accept`, `connect`, `sendfile`, `splice`, and the `_FORTIFY_SOURCE` checked reads.

use libc::{c_int, c_void, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};
use moss_runtime::io::Interest;

use crate::patch::sys::real;
use crate::patch::{table, wait};

/// A transfer of `len` bytes that a blocking call makes whole: a send (or
/// a `MSG_WAITALL` receive) on a socket the layer made non-blocking goes
/// on after a partial transfer, as the blocking call the owner asked for
/// would (unless it fails, times out or reaches the end of the stream
/// midway, when the count so far is returned, as the kernel does).
#[inline]
fn transfer_all(
    fd: c_int,
    interest: Interest,
    len: size_t,
    nonblocking_call: bool,
    mut op: impl FnMut(usize) -> isize,
) -> isize {
    let mut done = 0;
    loop {
        let result = wait::io(fd, interest, nonblocking_call, || op(done));
        if result < 0 {
            return if done > 0 { done as isize } else { result };
        }
        done += result as usize;
        if done >= len
            || result == 0
            || nonblocking_call
            || !table::load(fd).is_some_and(table::Entry::is_emulated)
        {
            return done as isize;
        }
    }
}

/// See `recv(2)`. `MSG_WAITALL` waits for the whole length.
///
/// # Safety
/// As libc's `recv`.
#[no_mangle]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t {
    let nonblocking_call = flags & libc::MSG_DONTWAIT != 0;
    if flags & libc::MSG_WAITALL != 0 {
        return transfer_all(fd, Interest::Readable, len, nonblocking_call, |done| {
            // SAFETY: a suffix of the caller's buffer (`done` <= `len`).
            unsafe { real::recv(fd, buf.cast::<u8>().add(done).cast(), len - done, flags) }
        });
    }
    wait::io(fd, Interest::Readable, nonblocking_call, || {
        // SAFETY: the caller's arguments, unchanged (recv's contract).
        unsafe { real::recv(fd, buf, len, flags) }
    })
}

/// See `send(2)`.
///
/// # Safety
/// As libc's `send`.
#[no_mangle]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t {
    let nonblocking_call = flags & libc::MSG_DONTWAIT != 0;
    transfer_all(fd, Interest::Writable, len, nonblocking_call, |sent| {
        // SAFETY: a suffix of the caller's buffer (`sent` <= `len`).
        unsafe { real::send(fd, buf.cast::<u8>().add(sent).cast(), len - sent, flags) }
    })
}

/// See `read(2)`.
///
/// # Safety
/// As libc's `read`.
#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t {
    wait::io(fd, Interest::Readable, false, || {
        // SAFETY: the caller's arguments, unchanged (read's contract).
        unsafe { real::read(fd, buf, count) }
    })
}

/// See `write(2)`.
///
/// # Safety
/// As libc's `write`.
#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t {
    transfer_all(fd, Interest::Writable, count, false, |sent| {
        // SAFETY: a suffix of the caller's buffer (`sent` <= `count`).
        unsafe { real::write(fd, buf.cast::<u8>().add(sent).cast(), count - sent) }
    })
}

/// See `readv(2)`.
///
/// # Safety
/// As libc's `readv`.
#[no_mangle]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    wait::io(fd, Interest::Readable, false, || {
        // SAFETY: the caller's arguments, unchanged (readv's contract).
        unsafe { real::readv(fd, iov, iovcnt) }
    })
}

/// See `writev(2)`. A partial write is returned as it is.
///
/// # Safety
/// As libc's `writev`.
#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    wait::io(fd, Interest::Writable, false, || {
        // SAFETY: the caller's arguments, unchanged (writev's contract).
        unsafe { real::writev(fd, iov, iovcnt) }
    })
}

/// See `recvfrom(2)`.
///
/// # Safety
/// As libc's `recvfrom`.
#[no_mangle]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    wait::io(
        fd,
        Interest::Readable,
        flags & libc::MSG_DONTWAIT != 0,
        || {
            // SAFETY: the caller's arguments, unchanged (recvfrom's contract).
            unsafe { real::recvfrom(fd, buf, len, flags, addr, addrlen) }
        },
    )
}

/// See `sendto(2)`.
///
/// # Safety
/// As libc's `sendto`.
#[no_mangle]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> ssize_t {
    wait::io(
        fd,
        Interest::Writable,
        flags & libc::MSG_DONTWAIT != 0,
        || {
            // SAFETY: the caller's arguments, unchanged (sendto's contract).
            unsafe { real::sendto(fd, buf, len, flags, addr, addrlen) }
        },
    )
}

/// See `recvmsg(2)`.
///
/// # Safety
/// As libc's `recvmsg`.
#[no_mangle]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    wait::io(
        fd,
        Interest::Readable,
        flags & libc::MSG_DONTWAIT != 0,
        || {
            // SAFETY: the caller's arguments, unchanged (recvmsg's contract).
            unsafe { real::recvmsg(fd, msg, flags) }
        },
    )
}

/// See `sendmsg(2)`. A partial write is returned as it is.
///
/// # Safety
/// As libc's `sendmsg`.
#[no_mangle]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    wait::io(
        fd,
        Interest::Writable,
        flags & libc::MSG_DONTWAIT != 0,
        || {
            // SAFETY: the caller's arguments, unchanged (sendmsg's contract).
            unsafe { real::sendmsg(fd, msg, flags) }
        },
    )
}

/// See `recvmmsg(2)`: waits for the first message (its own timeout
/// argument is passed on).
///
/// # Safety
/// As libc's `recvmmsg`.
#[no_mangle]
pub unsafe extern "C" fn recvmmsg(
    fd: c_int,
    msgs: *mut libc::mmsghdr,
    vlen: libc::c_uint,
    flags: c_int,
    timeout: *mut libc::timespec,
) -> c_int {
    wait::io(
        fd,
        Interest::Readable,
        flags & libc::MSG_DONTWAIT != 0,
        || {
            // SAFETY: the caller's arguments, unchanged (recvmmsg's contract).
            unsafe { real::recvmmsg(fd, msgs, vlen, flags, timeout) as isize }
        },
    ) as c_int
}

/// See `sendmmsg(2)`.
///
/// # Safety
/// As libc's `sendmmsg`.
#[no_mangle]
pub unsafe extern "C" fn sendmmsg(
    fd: c_int,
    msgs: *mut libc::mmsghdr,
    vlen: libc::c_uint,
    flags: c_int,
) -> c_int {
    wait::io(
        fd,
        Interest::Writable,
        flags & libc::MSG_DONTWAIT != 0,
        || {
            // SAFETY: the caller's arguments, unchanged (sendmmsg's contract).
            unsafe { real::sendmmsg(fd, msgs, vlen, flags) as isize }
        },
    ) as c_int
}

/// See `accept(2)`. The new socket is blocking, whatever the listener's
/// mode (Linux sockets do not inherit `O_NONBLOCK`).
///
/// # Safety
/// As libc's `accept`.
#[no_mangle]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, addrlen: *mut socklen_t) -> c_int {
    let new = wait::io(fd, Interest::Readable, false, || {
        // SAFETY: the caller's arguments, unchanged (accept's contract).
        unsafe { real::accept(fd, addr, addrlen) as isize }
    }) as c_int;
    if new >= 0 {
        table::new_socket(new, false);
    }
    new
}

/// See `accept4(2)`. The new socket is non-blocking only if `flags` asks
/// for it (`SOCK_NONBLOCK`: the owner's choice).
///
/// # Safety
/// As libc's `accept4`.
#[no_mangle]
pub unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
    flags: c_int,
) -> c_int {
    let new = wait::io(fd, Interest::Readable, false, || {
        // SAFETY: the caller's arguments, unchanged (accept4's contract).
        unsafe { real::accept4(fd, addr, addrlen, flags) as isize }
    }) as c_int;
    if new >= 0 {
        table::new_socket(new, flags & libc::SOCK_NONBLOCK != 0);
    }
    new
}

/// See `connect(2)`.
///
/// # Safety
/// As libc's `connect`.
#[no_mangle]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    wait::connect(fd, || {
        // SAFETY: the caller's arguments, unchanged (connect's contract).
        unsafe { real::connect(fd, addr, len) }
    })
}

/// `_FORTIFY_SOURCE`'s `recv`.
///
/// # Safety
/// As libc's `__recv_chk`.
#[no_mangle]
pub unsafe extern "C" fn __recv_chk(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    buflen: size_t,
    flags: c_int,
) -> ssize_t {
    if len > buflen {
        // SAFETY: the original reports the overflow and aborts.
        return unsafe { real::__recv_chk(fd, buf, len, buflen, flags) };
    }
    // SAFETY: the length fits the buffer, so this is a plain recv.
    unsafe { recv(fd, buf, len, flags) }
}

/// `_FORTIFY_SOURCE`'s `read`.
///
/// # Safety
/// As libc's `__read_chk`.
#[no_mangle]
pub unsafe extern "C" fn __read_chk(
    fd: c_int,
    buf: *mut c_void,
    nbytes: size_t,
    buflen: size_t,
) -> ssize_t {
    if nbytes > buflen {
        // SAFETY: the original reports the overflow and aborts.
        return unsafe { real::__read_chk(fd, buf, nbytes, buflen) };
    }
    // SAFETY: the length fits the buffer, so this is a plain read.
    unsafe { read(fd, buf, nbytes) }
}

/// `_FORTIFY_SOURCE`'s `recvfrom`.
///
/// # Safety
/// As libc's `__recvfrom_chk`.
#[no_mangle]
pub unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    buflen: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    if len > buflen {
        // SAFETY: the original reports the overflow and aborts.
        return unsafe { real::__recvfrom_chk(fd, buf, len, buflen, flags, addr, addrlen) };
    }
    // SAFETY: the length fits the buffer, so this is a plain recvfrom.
    unsafe { recvfrom(fd, buf, len, flags, addr, addrlen) }
}

/// See `sendfile(2)`: waits for room on `out_fd`.
///
/// # Safety
/// As libc's `sendfile`.
#[no_mangle]
pub unsafe extern "C" fn sendfile(
    out_fd: c_int,
    in_fd: c_int,
    offset: *mut libc::off_t,
    count: size_t,
) -> ssize_t {
    // Each call advances the offset (or the file position) by what it sent.
    transfer_all(out_fd, Interest::Writable, count, false, |sent| {
        // SAFETY: the caller's arguments (sendfile's contract), with the
        // count left.
        unsafe { real::sendfile(out_fd, in_fd, offset, count - sent) }
    })
}

/// See `sendfile(2)` (the large-file name, which std calls).
///
/// # Safety
/// As libc's `sendfile64`.
#[no_mangle]
pub unsafe extern "C" fn sendfile64(
    out_fd: c_int,
    in_fd: c_int,
    offset: *mut libc::off64_t,
    count: size_t,
) -> ssize_t {
    transfer_all(out_fd, Interest::Writable, count, false, |sent| {
        // SAFETY: the caller's arguments (sendfile64's contract), with the
        // count left.
        unsafe { real::sendfile64(out_fd, in_fd, offset, count - sent) }
    })
}

/// Which end of a `splice` may be a socket to wait for (one end is a
/// pipe): the output if it is a socket, else the input.
fn splice_end(fd_in: c_int, fd_out: c_int) -> (c_int, Interest) {
    let is_socket = |fd| match table::load(fd) {
        Some(entry) if entry.is_known() => entry.is_socket(),
        _ => crate::patch::sys::is_socket(fd) == Some(true),
    };
    if is_socket(fd_out) {
        (fd_out, Interest::Writable)
    } else {
        (fd_in, Interest::Readable)
    }
}

/// See `splice(2)`: waits on whichever end is a socket.
///
/// # Safety
/// As libc's `splice`.
#[no_mangle]
pub unsafe extern "C" fn splice(
    fd_in: c_int,
    off_in: *mut libc::loff_t,
    fd_out: c_int,
    off_out: *mut libc::loff_t,
    len: size_t,
    flags: libc::c_uint,
) -> ssize_t {
    let op = || {
        // SAFETY: the caller's arguments, unchanged (splice's contract).
        unsafe { real::splice(fd_in, off_in, fd_out, off_out, len, flags) }
    };
    let nonblocking_call = flags & libc::SPLICE_F_NONBLOCK != 0;
    if !wait::may_park() {
        let result = op();
        if result != -1 || nonblocking_call || !crate::patch::sys::would_block() {
            return result;
        }
    }
    let (fd, interest) = splice_end(fd_in, fd_out);
    wait::io(fd, interest, nonblocking_call, op)
}
