//! The core of every green socket: one std socket, its blocking mode, its cached timeouts and its readiness registrations.
//!
//! [`Source::io`] is the one path every socket operation takes:
//!
//! ```text
//!   user chose non-blocking ───────────────► op()            (WouldBlock returned)
//!   outside a hub, socket still blocking ──► op()            (the plain std call)
//!   outside a hub, the layer set O_NONBLOCK ► op(); poll(2)   (blocking emulated)
//!   inside a hub ──► op(); on WouldBlock: Registration::do_io (park, retry)
//! ```
//!
//! A socket stays in blocking mode until its first use inside a hub; then
//! the layer sets `O_NONBLOCK` and remembers it did ([`Mode`]). The mode is
//! a property of the open file description, so duplicates made by
//! `try_clone` share one [`Mode`].
//!
//! Inside a hub the descriptor is registered with that hub's epoll on its
//! first call that would block there. A socket used by green threads of
//! several hubs has one registration per hub ([`Source::registration`]).
//!
//! [`Source::try_read`] and [`Source::readable`] split a read in two, so
//! that nothing is lent to the socket while it waits: wait for
//! readability without a buffer, then read what has arrived without
//! waiting.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use moss_runtime::io::{Interest, Registration};
use moss_runtime::park::Wake;
use socket2::SockRef;

use crate::sys;

/// The user asked for non-blocking mode (`set_nonblocking(true)`).
const USER_NONBLOCKING: u8 = 1;
/// The layer set `O_NONBLOCK` for use inside a hub.
const LAYER_NONBLOCKING: u8 = 2;
/// `accept` already logged descriptor exhaustion once.
const WARNED_EXHAUSTION: u8 = 4;

/// No timeout, in the timeout cells.
const NO_TIMEOUT: u64 = u64::MAX;

/// What the descriptors of one open socket share: its blocking mode and
/// its timeouts (`SO_RCVTIMEO`/`SO_SNDTIMEO`, cached here so the parking
/// path needs no `getsockopt`).
///
/// # Invariant
/// `LAYER_NONBLOCKING` is set exactly while the layer (not the user) has
/// put the file description in non-blocking mode.
#[derive(Debug)]
pub(crate) struct Mode {
    flags: AtomicU8,
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
}

fn encode(timeout: Option<Duration>) -> u64 {
    timeout.map_or(NO_TIMEOUT, |t| {
        u64::try_from(t.as_nanos()).unwrap_or(NO_TIMEOUT - 1)
    })
}

fn decode(nanos: u64) -> Option<Duration> {
    (nanos != NO_TIMEOUT).then(|| Duration::from_nanos(nanos))
}

impl Mode {
    fn new(flags: u8, timeouts: Timeouts) -> Arc<Mode> {
        Arc::new(Mode {
            flags: AtomicU8::new(flags),
            read_timeout: AtomicU64::new(encode(timeouts.read)),
            write_timeout: AtomicU64::new(encode(timeouts.write)),
        })
    }

    fn flags(&self) -> u8 {
        self.flags.load(Ordering::Acquire)
    }

    fn set(&self, flag: u8, on: bool) {
        if on {
            self.flags.fetch_or(flag, Ordering::AcqRel);
        } else {
            self.flags.fetch_and(!flag, Ordering::AcqRel);
        }
    }
}

/// The read and write timeouts of a socket.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Timeouts {
    pub(crate) read: Option<Duration>,
    pub(crate) write: Option<Duration>,
}

impl Timeouts {
    /// Reads `SO_RCVTIMEO` and `SO_SNDTIMEO`.
    pub(crate) fn of(socket: &impl AsFd) -> io::Result<Timeouts> {
        let socket = SockRef::from(socket);
        Ok(Timeouts {
            read: socket.read_timeout()?,
            write: socket.write_timeout()?,
        })
    }
}

/// Whether the running code is a green thread of a hub.
pub(crate) fn in_hub() -> bool {
    moss_runtime::try_current().is_some()
}

/// Pauses before retrying an operation whose recovery no readiness event
/// announces (`accept` out of descriptors, a Unix `connect` to a full
/// backlog): parks the green thread for `pause`, or sleeps the OS thread
/// outside a hub. A kill or an elapsed `moss::timeout` unwinds, as at any
/// blocking point.
///
/// Returns `false` when the green thread cannot wait: it is already
/// unwinding (a destructor) with an interrupt pending, so every park would
/// return at once and a retry loop would spin. The caller then returns its
/// error instead of retrying.
pub(crate) fn back_off(what: &'static str, pause: Duration) -> bool {
    if !in_hub() {
        std::thread::sleep(pause);
        return true;
    }
    let deadline = Instant::now().checked_add(pause);
    match moss_runtime::park::park_native(what, deadline, |_| {}) {
        Wake::Ready | Wake::TimedOut => true,
        Wake::Interrupted => false,
    }
}

/// The registration of a descriptor with one hub, and when a read there
/// last found nothing to read.
#[derive(Debug)]
struct HubEntry {
    registration: Arc<Registration>,
    /// The hub's poll count ([`moss_runtime::Stats::polls`]) plus one when
    /// a read on this hub last found the socket drained: [`Source::try_read`]
    /// returned `WouldBlock`, or [`Source::read_stream`] read less than
    /// asked for; 0 if none did.
    ///
    /// Readiness is edge-triggered: an edge that arrives while no green
    /// thread waits for it is consumed by the hub's poll and lost to the
    /// next waiter. The hub learns of edges only when it polls, so while its
    /// poll count is still the one recorded here, no edge since that
    /// `WouldBlock` has been missed, and [`Source::readable`] may park
    /// without asking the socket first.
    read_blocked_at: u64,
}

/// A std socket made green. See the module docs.
#[derive(Debug)]
pub(crate) struct Source<T: AsFd> {
    // Field order is drop order: the registrations are dropped (and the
    // descriptor deregistered from each epoll) before `socket` closes it.
    registrations: Mutex<Vec<HubEntry>>,
    mode: Arc<Mode>,
    socket: T,
}

impl<T: AsFd + AsRawFd> Source<T> {
    /// Wraps a socket in blocking mode whose timeouts are `timeouts`.
    pub(crate) fn blocking(socket: T, timeouts: Timeouts) -> Source<T> {
        Source::with_mode(socket, Mode::new(0, timeouts))
    }

    /// Wraps a socket the layer has put in non-blocking mode.
    pub(crate) fn layer_nonblocking(socket: T, timeouts: Timeouts) -> Source<T> {
        Source::with_mode(socket, Mode::new(LAYER_NONBLOCKING, timeouts))
    }

    /// Wraps a socket of unknown state (`From<std::net::…>`): asks the
    /// kernel for its mode and timeouts.
    pub(crate) fn adopt(socket: T) -> Source<T> {
        let fd = SockRef::from(&socket);
        let user = fd.nonblocking().unwrap_or(false);
        let timeouts = Timeouts::of(&socket).unwrap_or_default();
        let flags = if user { USER_NONBLOCKING } else { 0 };
        Source::with_mode(socket, Mode::new(flags, timeouts))
    }

    fn with_mode(socket: T, mode: Arc<Mode>) -> Source<T> {
        Source {
            registrations: Mutex::new(Vec::new()),
            mode,
            socket,
        }
    }

    /// A second handle on a duplicate descriptor (`try_clone`); it shares
    /// the mode (a property of the file description) but registers its own
    /// descriptor.
    pub(crate) fn duplicate(&self, socket: T) -> Source<T> {
        Source::with_mode(socket, Arc::clone(&self.mode))
    }

    /// The std socket.
    pub(crate) fn get_ref(&self) -> &T {
        &self.socket
    }

    /// The cached timeouts.
    pub(crate) fn timeouts(&self) -> Timeouts {
        Timeouts {
            read: decode(self.mode.read_timeout.load(Ordering::Relaxed)),
            write: decode(self.mode.write_timeout.load(Ordering::Relaxed)),
        }
    }

    /// Sets `SO_RCVTIMEO` (`Readable`) or `SO_SNDTIMEO` (`Writable`) and
    /// caches it for the parking path; `Some(Duration::ZERO)` is refused
    /// with `InvalidInput`, as std does.
    pub(crate) fn set_timeout(
        &self,
        interest: Interest,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        if timeout == Some(Duration::ZERO) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        let socket = SockRef::from(&self.socket);
        let cell = match interest {
            Interest::Readable => {
                socket.set_read_timeout(timeout)?;
                &self.mode.read_timeout
            }
            Interest::Writable => {
                socket.set_write_timeout(timeout)?;
                &self.mode.write_timeout
            }
        };
        cell.store(encode(timeout), Ordering::Relaxed);
        Ok(())
    }

    /// `set_nonblocking`: the user's choice, respected inside a hub too.
    pub(crate) fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        SockRef::from(&self.socket).set_nonblocking(nonblocking)?;
        self.mode.set(USER_NONBLOCKING, nonblocking);
        self.mode.set(LAYER_NONBLOCKING, false);
        Ok(())
    }

    /// Whether the user chose non-blocking mode.
    pub(crate) fn is_user_nonblocking(&self) -> bool {
        self.mode.flags() & USER_NONBLOCKING != 0
    }

    /// Marks "descriptor exhaustion was logged"; `true` the first time.
    pub(crate) fn first_exhaustion_warning(&self) -> bool {
        self.mode
            .flags
            .fetch_or(WARNED_EXHAUSTION, Ordering::AcqRel)
            & WARNED_EXHAUSTION
            == 0
    }

    /// Runs `op` as a blocking call with the socket's own timeout for
    /// `interest` (see the module docs).
    pub(crate) fn io<R>(
        &self,
        interest: Interest,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        let timeout = match interest {
            Interest::Readable => self.mode.read_timeout.load(Ordering::Relaxed),
            Interest::Writable => self.mode.write_timeout.load(Ordering::Relaxed),
        };
        self.io_with(interest, decode(timeout), op)
    }

    /// [`Source::io`] with an explicit timeout. On expiry: `TimedOut`
    /// inside a hub, `WouldBlock` (EAGAIN, as the kernel reports a socket
    /// timeout) outside.
    pub(crate) fn io_with<R>(
        &self,
        interest: Interest,
        timeout: Option<Duration>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        let flags = self.mode.flags();
        if flags & USER_NONBLOCKING != 0 {
            return op(&self.socket);
        }
        if !in_hub() {
            if flags & LAYER_NONBLOCKING == 0 {
                return op(&self.socket);
            }
            return self.emulate_blocking(interest, timeout, op);
        }
        if flags & LAYER_NONBLOCKING == 0 {
            SockRef::from(&self.socket).set_nonblocking(true)?;
            self.mode.set(LAYER_NONBLOCKING, true);
        }
        loop {
            match op(&self.socket) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                result => return result,
            }
        }
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        let registration = self.registration()?;
        registration.wait(interest, deadline)?;
        registration.do_io(interest, deadline, || op(&self.socket))
    }

    /// A read of a TCP stream into buffers of `len` bytes in all:
    /// [`Source::io`], but it skips the read that could only say
    /// `WouldBlock`.
    ///
    /// A TCP read that returns less than asked for has emptied the receive
    /// queue — unless end of stream, an error or urgent data stopped it,
    /// which [`Registration::reported_exception`] rules out. Data that
    /// arrives afterwards raises a new edge, which waits in epoll until the
    /// hub polls. So while the hub has not polled since such a short read
    /// ([`HubEntry::read_blocked_at`], as after a `WouldBlock`), the next
    /// read parks at once instead of asking the socket; on a spurious
    /// wake-up it asks and parks again.
    ///
    /// Only stream sockets whose reads stop short only for those reasons
    /// may use it: not Unix streams, whose reads also stop at a message
    /// carrying credentials or descriptors.
    pub(crate) fn read_stream(
        &self,
        len: usize,
        mut op: impl FnMut(&T) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let flags = self.mode.flags();
        // An empty read takes the ordinary path (like a blocking socket's,
        // it waits for data, then returns 0).
        if len == 0 || flags & LAYER_NONBLOCKING == 0 || flags & USER_NONBLOCKING != 0 || !in_hub()
        {
            return self.io(Interest::Readable, op);
        }
        let polls = moss_runtime::io::polls();
        let drained = self.registered_entry(|entry| {
            (entry.read_blocked_at == polls + 1).then(|| Arc::clone(&entry.registration))
        });
        let read = match drained.flatten() {
            Some(registration) => {
                let timeout = decode(self.mode.read_timeout.load(Ordering::Relaxed));
                let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
                registration.wait(Interest::Readable, deadline)?;
                registration.do_io(Interest::Readable, deadline, || op(&self.socket))?
            }
            None => self.io(Interest::Readable, &mut op)?,
        };
        if 0 < read && read < len {
            let polls = moss_runtime::io::polls();
            let _ = self.with_entry(|entry| {
                if !entry.registration.reported_exception() {
                    entry.read_blocked_at = polls + 1;
                }
            });
        }
        Ok(read)
    }

    /// Runs `f` on this descriptor's entry for the current hub if it is
    /// registered there.
    fn registered_entry<R>(&self, f: impl FnOnce(&mut HubEntry) -> R) -> Option<R> {
        let mut registrations = self
            .registrations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        registrations
            .iter_mut()
            .find(|entry| entry.registration.is_current_hub())
            .map(f)
    }

    /// Parks until the socket may be ready for `interest` (inside a hub),
    /// for operations whose readiness is not retried by `op` (connect).
    pub(crate) fn wait(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
        self.registration()?.wait(interest, deadline)
    }

    /// This descriptor's registration with the current hub, created on
    /// first use there.
    fn registration(&self) -> io::Result<Arc<Registration>> {
        self.with_entry(|entry| Arc::clone(&entry.registration))
    }

    /// Runs `f` on this descriptor's entry for the current hub, registering
    /// it there first if needed.
    ///
    /// A socket shared by green threads of several hubs has one
    /// registration per hub: epoll refuses a second `ADD` of a descriptor
    /// it still holds (`EEXIST`), and a green thread parked on one hub keeps
    /// that hub's registration alive while another hub uses the socket.
    /// When a hub registers, the registrations of other hubs that nobody
    /// holds any more (no green thread waits on them) are dropped, which
    /// deregisters them there, so the list never outgrows the hubs that use
    /// the socket now.
    fn with_entry<R>(&self, f: impl FnOnce(&mut HubEntry) -> R) -> io::Result<R> {
        let mut registrations = self
            .registrations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = registrations
            .iter_mut()
            .find(|entry| entry.registration.is_current_hub())
        {
            return Ok(f(entry));
        }
        // None of them is the current hub's. Drop those no green thread
        // holds: only this list refers to them, and the lock keeps anyone
        // from taking one meanwhile.
        registrations.retain(|entry| Arc::strong_count(&entry.registration) > 1);
        // Most sockets are used by one hub: room for one, not the usual four.
        registrations.reserve_exact(1);
        registrations.push(HubEntry {
            registration: Arc::new(Registration::new(self.socket.as_fd())?),
            read_blocked_at: 0,
        });
        let entry = registrations.last_mut().expect("just pushed");
        Ok(f(entry))
    }

    /// One read of what has already arrived, never waiting (`recv` with
    /// `MSG_DONTWAIT`, whatever the blocking mode): `WouldBlock` when
    /// nothing has. Inside a hub a `WouldBlock` is remembered for
    /// [`Source::readable`] (see [`HubEntry::read_blocked_at`]).
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match sys::recv(self.socket.as_fd(), buf, libc::MSG_DONTWAIT) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    if in_hub() {
                        let polls = moss_runtime::io::polls();
                        // Without a registration `readable` asks the
                        // socket first, which is always correct.
                        let _ = self.with_entry(|entry| entry.read_blocked_at = polls + 1);
                    }
                    return Err(err);
                }
                result => return result,
            }
        }
    }

    /// Waits until the socket is readable (data, end of stream or an
    /// error waiting) or may have become so, bounded by the read timeout:
    /// parks inside a hub, `poll(2)` outside, `WouldBlock` at once in the
    /// user's non-blocking mode when nothing is waiting.
    ///
    /// Inside a hub it asks the socket first (`recv` with `MSG_PEEK`)
    /// unless [`HubEntry::read_blocked_at`] shows that nothing can have
    /// arrived unnoticed since the last `WouldBlock`; after a park it
    /// returns without asking again, so a wake-up may be spurious.
    pub(crate) fn readable(&self) -> io::Result<()> {
        let peek = |socket: &T| {
            sys::recv(
                socket.as_fd(),
                &mut [0; 1],
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
            .map(drop)
        };
        let timeout = decode(self.mode.read_timeout.load(Ordering::Relaxed));
        if self.is_user_nonblocking() {
            return peek(&self.socket);
        }
        if !in_hub() {
            return self.emulate_blocking(Interest::Readable, timeout, peek);
        }
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        let polls = moss_runtime::io::polls();
        let (registration, unnoticed) = self.with_entry(|entry| {
            let unnoticed = entry.read_blocked_at != polls + 1;
            (Arc::clone(&entry.registration), unnoticed)
        })?;
        if unnoticed {
            loop {
                match peek(&self.socket) {
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    result => return result,
                }
            }
        }
        registration.wait(Interest::Readable, deadline)
    }

    /// A blocking call on a descriptor the layer made non-blocking, outside
    /// a hub: retry after `poll(2)` says it may be ready.
    fn emulate_blocking<R>(
        &self,
        interest: Interest,
        timeout: Option<Duration>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        loop {
            match op(&self.socket) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                result => return result,
            }
            let remaining = deadline.map(|at| at.saturating_duration_since(Instant::now()));
            if remaining == Some(Duration::ZERO) {
                return Err(io::Error::from_raw_os_error(libc::EAGAIN));
            }
            sys::poll(self.socket.as_raw_fd(), interest, remaining)?;
        }
    }

    /// Gives the std socket back deregistered and in blocking mode (unless
    /// the user chose non-blocking). `ioctl(FIONBIO)` cannot fail on an open
    /// socket, so a failure to restore the mode is only logged.
    pub(crate) fn into_inner(self) -> T {
        let Source {
            registrations,
            mode,
            socket,
        } = self;
        // Deregisters from every hub before the descriptor changes hands.
        drop(registrations);
        if mode.flags() & LAYER_NONBLOCKING != 0 {
            match SockRef::from(&socket).set_nonblocking(false) {
                Ok(()) => mode.set(LAYER_NONBLOCKING, false),
                Err(err) => log::debug!("moss: cannot restore blocking mode: {err}"),
            }
        }
        socket
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::Shutdown;
    use std::time::Duration;

    use moss_runtime as moss;
    use socket2::SockRef;

    use crate::{TcpListener, TcpStream};

    /// A connected pair inside a hub: (client, server).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    /// Parks the reader first (nothing to read yet), then lets `send` run,
    /// so that the hub's next poll reports everything it sent as one
    /// edge; returns what the reader's reads saw, with a 64-byte buffer,
    /// until end of stream. A read that parks forever fails the test (after
    /// a generous bound, not a timing assertion).
    fn reads_after_one_edge(send: impl FnOnce(&TcpStream) + 'static) -> Vec<usize> {
        moss::run(move || {
            let (client, mut server) = pair();
            let reader = moss::spawn(move || {
                let mut buf = [0; 64];
                let mut reads = Vec::new();
                let read_all = || {
                    while let Ok(n @ 1..) = server.read(&mut buf) {
                        reads.push(n);
                    }
                };
                let ended = moss::timeout(Duration::from_secs(30), read_all);
                assert!(ended.is_ok(), "a read parked forever after {reads:?}");
                reads
            });
            moss::spawn(move || send(&client)).join().unwrap();
            reader.join().unwrap()
        })
    }

    #[test]
    fn a_short_read_followed_by_end_of_stream_does_not_park_forever() {
        let reads = reads_after_one_edge(|client| {
            (&*client).write_all(&[1; 10]).unwrap();
            client.shutdown(Shutdown::Write).unwrap();
        });
        assert_eq!(reads, [10]);
    }

    #[test]
    fn a_read_stopped_short_by_urgent_data_does_not_park_forever() {
        let reads = reads_after_one_edge(|client| {
            (&*client).write_all(&[1; 10]).unwrap();
            SockRef::from(client).send_out_of_band(&[2]).unwrap();
            (&*client).write_all(&[3; 5]).unwrap();
            client.shutdown(Shutdown::Write).unwrap();
        });
        // The read stops at the urgent mark; the urgent byte itself is out
        // of band (not SO_OOBINLINE).
        assert_eq!(reads.iter().sum::<usize>(), 15, "{reads:?}");
        assert_eq!(reads[0], 10, "{reads:?}");
    }

    #[test]
    fn data_after_a_short_read_wakes_the_reader() {
        moss::run(|| {
            let (mut client, mut server) = pair();
            let echo = moss::spawn(move || {
                let mut buf = [0; 64];
                while let Ok(n @ 1..) = server.read(&mut buf) {
                    server.write_all(&buf[..n]).unwrap();
                }
            });
            let mut reply = [0; 8];
            for round in 0..100u8 {
                client.write_all(&[round; 8]).unwrap();
                client.read_exact(&mut reply).unwrap();
                assert_eq!(reply, [round; 8]);
                if round % 10 == 0 {
                    moss::yield_now();
                }
            }
            drop(client);
            echo.join().unwrap();
        });
    }
}
