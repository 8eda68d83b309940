//! moss-net-shims: green sockets that mirror `std::net`, exposed as `moss::net`.
//!
//! [`TcpListener`], [`TcpStream`], [`UdpSocket`], [`UnixListener`] and
//! [`UnixStream`] have the methods of their std counterparts. Inside a
//! hub, a call that would block parks the green thread on the socket's
//! readiness (epoll, edge-triggered, registered once per socket and hub on its
//! first blocking call and deregistered before the descriptor closes), so
//! one OS thread serves thousands of connections written in plain
//! blocking style. Outside a hub every call is the plain blocking std
//! call. Names resolve on the offload pool ([`lookup_host`],
//! [`ToSocketAddrs`]), so a slow resolver never stalls the hub.
//!
//! ```
//! # use moss_runtime as moss;
//! use std::io::{BufRead, BufReader, Write};
//! use moss_net_shims::{TcpListener, TcpStream};
//!
//! moss::run(|| {
//!     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     moss::spawn(move || {
//!         for stream in listener.incoming() {
//!             let stream = stream.unwrap();
//!             moss::spawn(move || {
//!                 // An echo server, one green thread per connection.
//!                 let mut lines = BufReader::new(&stream);
//!                 let mut line = String::new();
//!                 while lines.read_line(&mut line).unwrap() > 0 {
//!                     (&stream).write_all(line.as_bytes()).unwrap();
//!                     line.clear();
//!                 }
//!             });
//!         }
//!     });
//!     let clients: Vec<_> = (0..100)
//!         .map(|i| moss::spawn(move || {
//!             let stream = TcpStream::connect(addr).unwrap();
//!             (&stream).write_all(format!("hello {i}\n").as_bytes()).unwrap();
//!             let mut line = String::new();
//!             BufReader::new(&stream).read_line(&mut line).unwrap();
//!             line == format!("hello {i}\n")
//!         }))
//!         .collect();
//!     assert!(clients.into_iter().all(|c| c.join().unwrap()));
//! });
//! ```
//!
//! See `docs/net.md` for timeouts, cross-hub use and caveats.
//!
//! The crate also carries the [`patch`] layer: libc's blocking socket and
//! sleep calls, hooked so that unmodified blocking code (`std::net`,
//! `std::thread::sleep`, C libraries) parks green threads too.

#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_code)]

mod addr;
pub mod patch;
mod source;
#[allow(unsafe_code)]
mod sys;
mod tcp;
mod udp;
mod unix;

pub use addr::{lookup_host, ToSocketAddrs};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixIncoming, UnixListener, UnixStream};

/// `Read` and `Write` for a stream type by value, through `&T`.
macro_rules! by_value_io {
    ($ty:ty) => {
        impl std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                (&*self).read(buf)
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                (&*self).read_vectored(bufs)
            }
        }

        impl std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                (&*self).write(buf)
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                (&*self).write_vectored(bufs)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}
pub(crate) use by_value_io;

/// `AsFd`, `AsRawFd` and `IntoRawFd` (`IntoRawFd` gives the descriptor
/// back in blocking mode, like `into_std`).
macro_rules! fd_traits {
    ($($ty:ty),+) => {$(
        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.source.get_ref().as_fd()
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(self.source.get_ref())
            }
        }

        impl std::os::fd::IntoRawFd for $ty {
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                std::os::fd::IntoRawFd::into_raw_fd(self.into_std())
            }
        }
    )+};
}
pub(crate) use fd_traits;
