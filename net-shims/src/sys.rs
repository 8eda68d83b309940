//! The crate's only unsafe code: `poll(2)` for blocking emulation outside a hub, `recv(2)` with flags, and `FromRawFd`.
//!
//! Everything else goes through std and socket2.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, RawFd};
use std::time::Duration;

use moss_runtime::io::Interest;

use crate::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};

/// Waits in `poll(2)` until `fd` may be ready for `interest` or `timeout`
/// passes (`None`: no limit). Readiness is not reported: the caller
/// retries its operation either way. `EINTR` returns early.
pub(crate) fn poll(fd: RawFd, interest: Interest, timeout: Option<Duration>) -> io::Result<()> {
    let events = match interest {
        Interest::Readable => libc::POLLIN,
        Interest::Writable => libc::POLLOUT,
    };
    let mut pollfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // Round up so that a sub-millisecond remainder does not spin.
    let millis = timeout.map_or(-1, |t| {
        i32::try_from(t.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX)
    });
    // SAFETY: `pollfd` is a valid, exclusively borrowed array of one
    // element (the count passed) for the duration of the call. `fd` is
    // only polled, not owned: poll neither closes nor keeps it, and a
    // descriptor that is not open comes back as POLLNVAL.
    let result = unsafe { libc::poll(&mut pollfd, 1, millis) };
    if result < 0 {
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    Ok(())
}

/// `recv(2)` on the socket `fd` into `buf` with `flags` (`MSG_DONTWAIT`,
/// `MSG_PEEK`): the number of bytes received, 0 at end of stream.
pub(crate) fn recv(fd: BorrowedFd<'_>, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: `buf` is a valid, exclusively borrowed region of `buf.len()`
    // writable bytes for the duration of the call, and recv writes at most
    // that many. `fd` is borrowed, so it stays open during the call.
    let received = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags) };
    // A negative count is the -1 of a failure: errno says why.
    usize::try_from(received).map_err(|_| io::Error::last_os_error())
}

impl FromRawFd for TcpStream {
    /// Takes ownership of a connected TCP socket; see [`FromRawFd`].
    unsafe fn from_raw_fd(fd: RawFd) -> TcpStream {
        // SAFETY: the caller upholds `from_raw_fd`'s contract (an open,
        // owned TCP socket), which std's `from_raw_fd` requires.
        TcpStream::from(unsafe { std::net::TcpStream::from_raw_fd(fd) })
    }
}

impl FromRawFd for TcpListener {
    /// Takes ownership of a listening TCP socket; see [`FromRawFd`].
    unsafe fn from_raw_fd(fd: RawFd) -> TcpListener {
        // SAFETY: the caller upholds `from_raw_fd`'s contract (an open,
        // owned TCP socket), which std's `from_raw_fd` requires.
        TcpListener::from(unsafe { std::net::TcpListener::from_raw_fd(fd) })
    }
}

impl FromRawFd for UdpSocket {
    /// Takes ownership of a UDP socket; see [`FromRawFd`].
    unsafe fn from_raw_fd(fd: RawFd) -> UdpSocket {
        // SAFETY: the caller upholds `from_raw_fd`'s contract (an open,
        // owned UDP socket), which std's `from_raw_fd` requires.
        UdpSocket::from(unsafe { std::net::UdpSocket::from_raw_fd(fd) })
    }
}

impl FromRawFd for UnixStream {
    /// Takes ownership of a connected Unix stream socket; see [`FromRawFd`].
    unsafe fn from_raw_fd(fd: RawFd) -> UnixStream {
        // SAFETY: the caller upholds `from_raw_fd`'s contract (an open,
        // owned Unix stream socket), which std's `from_raw_fd` requires.
        UnixStream::from(unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) })
    }
}

impl FromRawFd for UnixListener {
    /// Takes ownership of a listening Unix socket; see [`FromRawFd`].
    unsafe fn from_raw_fd(fd: RawFd) -> UnixListener {
        // SAFETY: the caller upholds `from_raw_fd`'s contract (an open,
        // owned Unix socket), which std's `from_raw_fd` requires.
        UnixListener::from(unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) })
    }
}
