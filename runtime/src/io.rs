//! I/O readiness: the hub's reactor on mio (epoll/kqueue) and [`Registration`], the readiness wait of one file descriptor.
//!
//! A file descriptor is registered once, edge-triggered, for both
//! directions (and, on Linux, urgent data: see
//! [`Registration::reported_exception`]). A green thread that gets `WouldBlock` parks on the
//! descriptor's wait list for that direction; the reactor wakes the list
//! when an edge arrives. [`Registration::do_io`] is the one choke point
//! every green socket operation goes through: try, park on `WouldBlock`
//! with the deadline, retry.
//!
//! Because the hub is single-threaded, no readiness edge can slip between
//! an operation's `WouldBlock` and the park that follows it: events are
//! only processed while the green thread is parked.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_queue::SegQueue;
use mio::unix::SourceFd;
use mio::{Events, Poll, Token};
use slab::Slab;

use crate::park::{self, Interrupt, WaitList, Wake};
use crate::sched::{self, HubId};

/// The token reserved for cross-thread wake-ups of the hub.
pub(crate) const WAKE_TOKEN: Token = Token(usize::MAX);

/// Times this OS thread's hub has polled for I/O readiness
/// ([`Stats::polls`](crate::Stats::polls)), read alone: one load, cheap
/// enough for every I/O call (`moss::stats()` gathers every counter). Two
/// readings that are equal tell that the hub did not poll in between, so
/// no readiness event was taken from epoll meanwhile. 0 outside a hub.
#[inline]
pub fn polls() -> u64 {
    sched::with_current(|hub| hub.counters.polls.get()).unwrap_or(0)
}

/// Which readiness a green thread waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Readable (or closed for reading, or an error).
    Readable,
    /// Writable (or closed for writing, or an error).
    Writable,
}

/// The hub's reactor.
pub(crate) struct Reactor {
    poll: RefCell<Poll>,
    events: RefCell<Events>,
    entries: RefCell<Slab<Entry>>,
    shared: Arc<Shared>,
    /// Green threads parked on readiness right now.
    waiting: Cell<usize>,
}

/// The part of the reactor other threads may touch.
struct Shared {
    registry: mio::Registry,
    /// Entries whose registration was dropped on another thread.
    orphans: SegQueue<usize>,
    /// The hub this reactor belongs to.
    hub: HubId,
    /// Woken by other threads through [`WAKE_TOKEN`].
    waker: mio::Waker,
}

/// Wakes a hub's poll from any OS thread (through [`WAKE_TOKEN`]).
pub(crate) struct HubWaker(Arc<Shared>);

impl HubWaker {
    /// Makes the hub's current or next poll return.
    pub(crate) fn wake(&self) -> io::Result<()> {
        self.0.waker.wake()
    }
}

#[derive(Default)]
struct Entry {
    readers: WaitList,
    writers: WaitList,
    generation: u32,
    /// Set, never cleared, by the first event that reports the read side
    /// closed, an error, or urgent (out-of-band) data: states in which a
    /// short read no longer proves the socket drained (see
    /// [`Registration::reported_exception`]).
    exception: bool,
}

fn token(index: usize, generation: u32) -> Token {
    Token(index | (generation as usize) << 32)
}

fn split(token: Token) -> (usize, u32) {
    (token.0 & 0xffff_ffff, (token.0 >> 32) as u32)
}

impl Reactor {
    pub(crate) fn new(hub: HubId) -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
        Ok(Reactor {
            poll: RefCell::new(poll),
            events: RefCell::new(Events::with_capacity(1024)),
            entries: RefCell::new(Slab::new()),
            shared: Arc::new(Shared {
                registry,
                orphans: SegQueue::new(),
                hub,
                waker,
            }),
            waiting: Cell::new(0),
        })
    }

    /// Green threads parked on readiness.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.get()
    }

    /// A handle that wakes this hub's poll from any thread.
    pub(crate) fn waker(&self) -> HubWaker {
        HubWaker(Arc::clone(&self.shared))
    }

    /// Waits for readiness events (at most `timeout`; `None` waits
    /// indefinitely) and wakes the green threads that wait for them.
    /// Returns whether the cross-thread waker fired.
    pub(crate) fn poll(&self, timeout: Option<Duration>) -> io::Result<bool> {
        let mut woken = 0;
        while let Some(index) = self.shared.orphans.pop() {
            woken += self.remove(index);
        }
        // Waiters of a registration revoked on another thread woke just
        // now: they are ready to run, so this poll must not wait.
        let timeout = if woken > 0 {
            Some(Duration::ZERO)
        } else {
            timeout
        };
        let mut events = self.events.borrow_mut();
        if let Err(err) = self.poll.borrow_mut().poll(&mut events, timeout) {
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
        let mut remote = false;
        let mut entries = self.entries.borrow_mut();
        for event in events.iter() {
            if event.token() == WAKE_TOKEN {
                remote = true;
                continue;
            }
            let (index, generation) = split(event.token());
            let Some(entry) = entries
                .get_mut(index)
                .filter(|entry| entry.generation == generation)
            else {
                continue;
            };
            if event.is_read_closed() || event.is_error() || is_urgent(event) {
                entry.exception = true;
            }
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                entry.readers.wake_all();
            }
            if event.is_writable() || event.is_write_closed() || event.is_error() {
                entry.writers.wake_all();
            }
        }
        Ok(remote)
    }

    /// Forgets an entry, waking whoever still waits on it; returns how
    /// many woke.
    fn remove(&self, index: usize) -> usize {
        let entry = self.entries.borrow_mut().try_remove(index);
        entry.map_or(0, |mut entry| {
            entry.readers.wake_all() + entry.writers.wake_all()
        })
    }
}

/// Whether the event reports urgent (TCP out-of-band) data: `EPOLLPRI`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn is_urgent(event: &mio::event::Event) -> bool {
    event.is_priority()
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn is_urgent(_: &mio::event::Event) -> bool {
    false
}

/// What every descriptor is registered for: both directions, and where
/// the OS reports it, urgent data, so that [`Entry::exception`] sees it.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn interests() -> mio::Interest {
    mio::Interest::READABLE | mio::Interest::WRITABLE | mio::Interest::PRIORITY
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn interests() -> mio::Interest {
    mio::Interest::READABLE | mio::Interest::WRITABLE
}

/// The readiness registration of one file descriptor with the current
/// hub; the building block of green sockets.
///
/// The descriptor must be in non-blocking mode and must outlive the
/// registration (drop the registration first: it deregisters from epoll,
/// which must happen before the descriptor is closed).
///
/// `Send` and `Sync`: it may be dropped on any thread. Waiting works only
/// on the hub it was registered with.
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// use std::io::{Read, Write};
/// use std::os::fd::AsFd;
/// use std::os::unix::net::UnixStream;
/// use moss::io::{Interest, Registration};
///
/// moss::run(|| {
///     let (mut a, mut b) = UnixStream::pair().unwrap();
///     b.set_nonblocking(true).unwrap();
///     let registration = Registration::new(b.as_fd()).unwrap();
///     let writer = moss::spawn(move || a.write_all(b"ping").unwrap());
///     let mut buf = [0; 4];
///     let n = registration.do_io(Interest::Readable, None, || b.read(&mut buf)).unwrap();
///     assert_eq!(&buf[..n], b"ping");
///     writer.join().unwrap();
/// });
/// ```
pub struct Registration {
    fd: RawFd,
    index: usize,
    shared: Arc<Shared>,
    /// Set once by [`Registration::revoke`]: the hub's entry is gone (or
    /// queued for removal), so `index` may name someone else's entry.
    revoked: AtomicBool,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("fd", &self.fd)
            .field("hub", &self.shared.hub)
            .finish()
    }
}

impl Registration {
    /// Registers `fd` (non-blocking) with the current hub.
    ///
    /// The registration remembers the descriptor's number: drop it before
    /// the descriptor is closed (see the type docs), or it deregisters
    /// whatever file later takes that number.
    ///
    /// # Errors
    /// Outside a hub (`ErrorKind::Other`), or what `epoll_ctl` reports.
    pub fn new(fd: BorrowedFd<'_>) -> io::Result<Registration> {
        let fd = fd.as_raw_fd();
        let sched =
            sched::current().ok_or_else(|| io::Error::other("moss: no hub on this thread"))?;
        let reactor = &sched.reactor;
        let mut entries = reactor.entries.borrow_mut();
        let slot = entries.vacant_entry();
        let index = slot.key();
        let generation = GENERATION.with(|g| {
            let next = g.get().wrapping_add(1);
            g.set(next);
            next
        });
        reactor.shared.registry.register(
            &mut SourceFd(&fd),
            token(index, generation),
            interests(),
        )?;
        slot.insert(Entry {
            generation,
            ..Entry::default()
        });
        Ok(Registration {
            fd,
            index,
            shared: Arc::clone(&reactor.shared),
            revoked: AtomicBool::new(false),
        })
    }

    /// The registered descriptor.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Whether the registration belongs to the hub running on this OS
    /// thread (`false` outside any hub). A socket moved to another hub's
    /// thread must be registered again there.
    pub fn is_current_hub(&self) -> bool {
        sched::current().is_some_and(|sched| sched.reactor.shared.hub == self.shared.hub)
    }

    /// Whether this hub has reported, since the registration, the read side
    /// closed, an error, or urgent data for the descriptor (`true` too when
    /// it cannot tell: on another hub, or after [`Registration::revoke`]).
    ///
    /// A TCP read that returns less than asked for has emptied the receive
    /// queue, and whatever arrives later raises a new edge; so a green
    /// socket may skip the next read, which could only say `WouldBlock`,
    /// and park at once. Not after end of stream, an error or urgent data:
    /// each also stops a read short with something left to report, and its
    /// one edge may already have been consumed; no new edge would come.
    /// Where the OS does not report urgent data (kqueue), always `true`.
    pub fn reported_exception(&self) -> bool {
        if !cfg!(any(target_os = "linux", target_os = "android")) {
            return true;
        }
        let Some(sched) = sched::current() else {
            return true;
        };
        if sched.reactor.shared.hub != self.shared.hub || self.revoked.load(Ordering::Acquire) {
            return true;
        }
        let entries = sched.reactor.entries.borrow();
        entries.get(self.index).is_none_or(|entry| entry.exception)
    }

    /// Parks until the descriptor may be ready for `interest`. Spurious
    /// wake-ups are possible: retry the operation.
    ///
    /// # Errors
    /// `ErrorKind::TimedOut` when `deadline` passes first. A kill or an
    /// elapsed `moss::timeout` unwinds the green thread; while it is
    /// already unwinding (I/O in a destructor) they fail the wait instead,
    /// with `ECANCELED` for a kill and `ETIMEDOUT` for a timeout (never
    /// `ErrorKind::Interrupted`, which std's I/O helpers retry forever).
    pub fn wait(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
        match self.park(interest, deadline, true)? {
            Ok(Wake::Ready) => Ok(()),
            Ok(Wake::TimedOut) => Err(io::Error::from(io::ErrorKind::TimedOut)),
            Ok(Wake::Interrupted) | Err(_) => Err(sched::current_green()
                .and_then(|green| green.pending.get())
                .unwrap_or(Interrupt::Killed)
                .into()),
        }
    }

    /// [`Registration::wait`] for foreign (C) frames: an interrupt is
    /// returned, not unwound, and stays pending for the next Rust-native
    /// blocking point.
    ///
    /// # Errors
    /// When called on another hub than the registration's.
    pub fn wait_foreign(
        &self,
        interest: Interest,
        deadline: Option<Instant>,
    ) -> io::Result<Result<Wake, Interrupt>> {
        self.park(interest, deadline, false)
    }

    /// Deregisters the descriptor now, from any OS thread, and wakes
    /// every green thread waiting on it ([`Wake::Ready`]: they retry and
    /// must find out for themselves that the descriptor is gone); later
    /// waits return at once. For a descriptor about to be closed while
    /// green threads may wait on it: call it before the close (see
    /// `Drop`). Dropping a revoked registration does nothing more.
    pub fn revoke(&self) {
        if self.revoked.swap(true, Ordering::AcqRel) {
            return;
        }
        let _ = self.shared.registry.deregister(&mut SourceFd(&self.fd));
        self.forget_entry(true);
    }

    /// [`Registration::revoke`] for a descriptor that is already closed
    /// (its number may name another file now): the hub forgets the entry
    /// and wakes its waiters without `epoll_ctl`, which would act on
    /// whatever file holds the number now.
    pub fn abandon(&self) {
        if !self.revoked.swap(true, Ordering::AcqRel) {
            self.forget_entry(true);
        }
    }

    /// Removes the hub's entry (waking its waiters): at once on the hub's
    /// own thread, else through the orphan queue, waking the hub when
    /// `wake` so that the waiters do not wait for its next event.
    fn forget_entry(&self, wake: bool) {
        match sched::current().filter(|sched| sched.reactor.shared.hub == self.shared.hub) {
            Some(sched) => {
                sched.reactor.remove(self.index);
            }
            None => {
                self.shared.orphans.push(self.index);
                if wake {
                    let _ = self.shared.waker.wake();
                }
            }
        }
    }

    fn park(
        &self,
        interest: Interest,
        deadline: Option<Instant>,
        native: bool,
    ) -> io::Result<Result<Wake, Interrupt>> {
        let sched =
            sched::current().ok_or_else(|| io::Error::other("moss: no hub on this thread"))?;
        let reactor = &sched.reactor;
        if reactor.shared.hub != self.shared.hub {
            return Err(io::Error::other(
                "moss: this descriptor is registered with another hub",
            ));
        }
        if self.revoked.load(Ordering::Acquire) {
            // The entry is gone; `index` may be someone else's now.
            return Ok(Ok(Wake::Ready));
        }
        let what = match interest {
            Interest::Readable => "readable",
            Interest::Writable => "writable",
        };
        let register = |unparker| {
            let mut entries = reactor.entries.borrow_mut();
            if let Some(entry) = entries.get_mut(self.index) {
                match interest {
                    Interest::Readable => entry.readers.push(unparker),
                    Interest::Writable => entry.writers.push(unparker),
                }
            }
        };
        // Counted while parked, however the park ends (a kill unwinds
        // through here).
        let _waiting = Waiting::enter(reactor);
        Ok(if native {
            Ok(park::park_native(what, deadline, register))
        } else {
            park::park(what, deadline, register)
        })
    }

    /// Runs `op` until it stops returning `WouldBlock`, parking for
    /// `interest` in between: the choke point of every green socket call.
    /// `EINTR` is retried.
    ///
    /// # Errors
    /// `op`'s error, or `ErrorKind::TimedOut` when `deadline` passes.
    pub fn do_io<R>(
        &self,
        interest: Interest,
        deadline: Option<Instant>,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            match op() {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.wait(interest, deadline)?
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                result => return result,
            }
        }
    }
}

/// One green thread counted in [`Reactor::waiting`] while it lives.
struct Waiting<'a>(&'a Reactor);

impl<'a> Waiting<'a> {
    fn enter(reactor: &'a Reactor) -> Waiting<'a> {
        reactor.waiting.set(reactor.waiting.get() + 1);
        Waiting(reactor)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.set(self.0.waiting.get() - 1);
    }
}

thread_local! {
    static GENERATION: Cell<u32> = const { Cell::new(0) };
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Deregister before the caller closes the descriptor: epoll keeps
        // reporting a closed fd that has live duplicates, and cannot remove
        // it afterwards.
        if *self.revoked.get_mut() {
            return;
        }
        let _ = self.shared.registry.deregister(&mut SourceFd(&self.fd));
        self.forget_entry(false);
    }
}
