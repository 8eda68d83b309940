//! The socket types the server serves on: std's and `moss::net`'s TCP and Unix streams.
//!
//! Each is a [`Transport`]. The engine runs over any `Read + Write`; only
//! this layer names socket types. The implementations live in this crate
//! because the trait does.

use std::io;
use std::net::Shutdown;
use std::time::Duration;

use crate::Transport;

impl Transport for std::net::TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        std::net::TcpStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        std::net::TcpStream::set_write_timeout(self, timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl Transport for std::os::unix::net::UnixStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_write_timeout(self, timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

/// A green socket: its read timeout bounds each parked read (the read fails
/// with `TimedOut`), so the engine's header and keep-alive timeouts hold
/// inside a hub as with std sockets outside. A connection waits for its
/// next request in `readable`, holding no buffer.
impl Transport for moss_net_shims::TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        moss_net_shims::TcpStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        moss_net_shims::TcpStream::set_write_timeout(self, timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    fn wait_readable(&mut self) -> io::Result<bool> {
        self.readable().map(|()| true)
    }

    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        moss_net_shims::TcpStream::try_read(self, buf)
    }
}

/// A green Unix socket; see the `TcpStream` implementation.
impl Transport for moss_net_shims::UnixStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        moss_net_shims::UnixStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        moss_net_shims::UnixStream::set_write_timeout(self, timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    fn wait_readable(&mut self) -> io::Result<bool> {
        self.readable().map(|()| true)
    }

    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        moss_net_shims::UnixStream::try_read(self, buf)
    }
}
