//! The patch layer's waits: readiness registrations of hooked descriptors, the park of a green thread inside a hooked call, and blocking emulation outside green threads.
//!
//! A hooked call goes one of three ways:
//!
//! ```text
//!   green thread, layer handles fd ─► op(); EAGAIN → park on the fd's
//!                                     registration → generation check → op() …
//!   not green (or inside the layer) ─► op(); EAGAIN on a descriptor the layer
//!                                     made non-blocking → poll(2), op() …
//!   otherwise ─────────────────────► op()
//! ```
//!
//! Registrations live in one process-wide map, descriptor → one
//! [`Registration`] per hub that parked on it, so that `close` on any
//! thread can revoke them (deregister from epoll before the real close,
//! and wake the parked green threads, which then see the new generation
//! and fail with `EBADF`). The map is only touched on slow paths: when a
//! green thread is about to park, and when a descriptor the table marks
//! `REGISTERED` is closed.
//!
//! A wait on several descriptors (`poll`, `select`, a foreign
//! `epoll_wait`) builds a private epoll instance holding them,
//! level-triggered, registers that instance with the hub and parks on its
//! readiness: one park however many descriptors, and nothing left
//! registered afterwards (the descriptors may belong to anyone, including
//! a green socket of `moss::net` registered on the same hub).
//!
//! When the green thread cannot park (the hub's epoll refuses the
//! descriptor), the call blocks the OS thread in `poll(2)` instead: slower,
//! never wrong.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use libc::c_int;
use moss_runtime::io::{Interest, Registration};
use moss_runtime::park::{self, Interrupt, Wake};

use super::sys::{self, Epoll};
use super::table;

thread_local! {
    /// Bit [`IN_LAYER`]: set while this thread runs the layer's own code
    /// (never across a park). Above it: how many signal handlers
    /// (installed through the `sigaction`/`signal` hooks, see
    /// `hooks/signal.rs`) the thread is running, in units of
    /// [`IN_SIGNAL_HANDLER`]. While either is non-zero, hooked calls pass
    /// straight through. One word, so that the hooks' fast path reads one
    /// thread-local. Const-initialised, no destructor: safe to touch in a
    /// signal handler. A signal handler that interrupts the thread between
    /// a read and a write of the word has restored it by the time it
    /// returns, so plain reads and writes suffice.
    static IN_HOOK: Cell<u32> = const { Cell::new(0) };
}

const IN_LAYER: u32 = 1;
const IN_SIGNAL_HANDLER: u32 = 2;

/// Marks the thread as inside the layer while it lives.
pub(crate) struct HookGuard(());

impl HookGuard {
    /// `None` if the thread is inside the layer or a signal handler
    /// already.
    pub(crate) fn enter() -> Option<HookGuard> {
        IN_HOOK.with(|state| {
            if state.get() != 0 {
                return None;
            }
            state.set(IN_LAYER);
            Some(HookGuard(()))
        })
    }
}

impl Drop for HookGuard {
    fn drop(&mut self) {
        IN_HOOK.with(|state| state.set(state.get() & !IN_LAYER));
    }
}

/// Whether this thread is inside the layer's own code or a signal
/// handler: hooked calls pass through, and nothing takes the layer's
/// lock (a signal handler may have interrupted its holder).
#[inline]
pub(crate) fn in_hook() -> bool {
    IN_HOOK.with(Cell::get) != 0
}

/// Counts a signal handler that starts running on this thread
/// (async-signal-safe: one thread-local, const-initialised).
#[inline]
pub(crate) fn enter_signal_handler() {
    IN_HOOK.with(|state| state.set(state.get().wrapping_add(IN_SIGNAL_HANDLER)));
}

/// Counts a signal handler that returns (see [`enter_signal_handler`]).
#[inline]
pub(crate) fn leave_signal_handler() {
    IN_HOOK.with(|state| state.set(state.get().wrapping_sub(IN_SIGNAL_HANDLER)));
}

/// Whether a hooked call may park here: in a green thread, outside the
/// layer's own code and outside signal handlers.
#[inline]
pub(crate) fn may_park() -> bool {
    moss_runtime::in_green_thread() && !in_hook()
}

/// A registration that `close` of a descriptor must revoke: the
/// descriptor's own registration with one hub, or the private epoll
/// instance of a green thread waiting in `poll` on it (among others).
struct Held {
    generation: u32,
    /// Whether it is the private instance of a multi-descriptor wait (see
    /// [`park_any`]) rather than the descriptor's own registration.
    watch: bool,
    /// The process that registered it ([`sys::process`]). A child made by
    /// `fork` inherits the map but shares the parent's epoll instances: it
    /// must neither deregister nor wake anything of the parent's, so it
    /// leaks what it inherited instead (see [`Held::release`]).
    process: u32,
    registration: Arc<Registration>,
    /// The private instance a `watch` registration is of, kept open until
    /// the registration is gone: whoever holds a clone may still revoke it
    /// (`epoll_ctl(DEL)` by number), which must not reach a descriptor
    /// that took the number of an instance already closed. Declared after
    /// `registration`, so dropped after it.
    _instance: Option<Arc<Epoll>>,
}

impl Held {
    /// Lets go of the registration: `revoke` it (deregister, wake its
    /// waiters) in the process that made it, leak it in a forked child.
    fn release(&self, process: u32) {
        if self.process == process {
            self.registration.revoke();
        } else {
            std::mem::forget(Arc::clone(&self.registration));
        }
    }
}

static REGISTRATIONS: Mutex<BTreeMap<c_int, Vec<Held>>> = Mutex::new(BTreeMap::new());

fn registrations() -> MutexGuard<'static, BTreeMap<c_int, Vec<Held>>> {
    REGISTRATIONS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How a park in a hooked call ended.
pub(crate) enum Outcome {
    /// Retry the call (the descriptor may be ready, or was closed).
    Ready,
    /// The call's own deadline passed.
    TimedOut,
    /// A kill or an elapsed `moss::timeout`, left pending.
    Interrupted(Interrupt),
    /// The green thread cannot park on this (registration refused): block
    /// the OS thread instead.
    Unavailable,
}

fn outcome(result: io::Result<Result<Wake, Interrupt>>) -> Outcome {
    match result {
        Ok(Ok(Wake::TimedOut)) => Outcome::TimedOut,
        Ok(Ok(Wake::Ready | Wake::Interrupted)) => Outcome::Ready,
        Ok(Err(interrupt)) => Outcome::Interrupted(interrupt),
        Err(_) => Outcome::Unavailable,
    }
}

/// Parks the running green thread until generation `generation` of `fd`
/// may be ready for `interest`, `deadline` passes, or the descriptor is
/// closed.
pub(crate) fn park_fd(
    fd: c_int,
    generation: u32,
    interest: Interest,
    deadline: Option<Instant>,
) -> Outcome {
    let registration = {
        let Some(_guard) = HookGuard::enter() else {
            return Outcome::Unavailable;
        };
        let mut map = registrations();
        // Marked under the lock, and only while the generation holds: a
        // `close` either sees the mark (and revokes what is added here,
        // after this lock is released) or came first (and the caller
        // sees the new generation).
        if !table::mark_registered(fd, generation) {
            return Outcome::Ready;
        }
        let process = sys::process();
        let held = map.entry(fd).or_default();
        held.retain(|entry| {
            if entry.process != process {
                // Inherited through fork: the parent's (see `Held`).
                entry.release(process);
                return false;
            }
            if entry.generation != generation {
                // Closed where no hook saw it: the number may name another
                // file now, so no epoll_ctl on it.
                entry.registration.abandon();
                return false;
            }
            // Other hubs' registrations nobody waits on go (deregistered
            // there); a hub that needs one again registers again.
            entry.registration.is_current_hub() || Arc::strong_count(&entry.registration) > 1
        });
        match held
            .iter()
            .find(|held| !held.watch && held.registration.is_current_hub())
        {
            Some(held) => Arc::clone(&held.registration),
            None => match sys::register(fd) {
                Ok(registration) => {
                    let registration = Arc::new(registration);
                    held.push(Held {
                        generation,
                        watch: false,
                        process,
                        registration: Arc::clone(&registration),
                        _instance: None,
                    });
                    registration
                }
                Err(_) => return Outcome::Unavailable,
            },
        }
    };
    outcome(registration.wait_foreign(interest, deadline))
}

/// Revokes every registration of `fd` (deregistered from epoll now, parked
/// green threads woken): before `fd` is closed, or when its owner takes
/// over its readiness (non-blocking mode).
pub(crate) fn revoke(fd: c_int) {
    let Some(_guard) = HookGuard::enter() else {
        return;
    };
    let held = {
        let mut map = registrations();
        let held = map.remove(&fd);
        // Nothing of `fd` is left in the map: later closes need not lock.
        table::clear_registered(fd);
        held
    };
    let process = sys::process();
    for held in held.into_iter().flatten() {
        held.release(process);
    }
}

/// Parks until any entry of `fds` may be ready or `deadline` passes (see
/// the module docs). The private instance is registered, for the length
/// of the wait, under each descriptor of `fds` in the map, so that a
/// `close` of any of them wakes the wait (the next check then reports
/// `POLLNVAL` for it).
pub(crate) fn park_any(fds: &[libc::pollfd], deadline: Option<Instant>) -> Outcome {
    let (epoll, registration) = {
        let Some(_guard) = HookGuard::enter() else {
            return Outcome::Unavailable;
        };
        let Ok(epoll) = Epoll::new() else {
            return Outcome::Unavailable;
        };
        for entry in fds.iter().filter(|entry| entry.fd >= 0) {
            epoll.add(entry.fd, epoll_events(entry.events));
        }
        let Ok(registration) = epoll.register() else {
            return Outcome::Unavailable;
        };
        let registration = Arc::new(registration);
        let epoll = Arc::new(epoll);
        watch(fds, &registration, &epoll);
        (epoll, registration)
    };
    let outcome = outcome(registration.wait_foreign(Interest::Readable, deadline));
    if let Some(_guard) = HookGuard::enter() {
        unwatch(fds, &registration);
    }
    // Deregistered before the instance closes: the instance closes with
    // the last of its holders, each of which drops the registration first
    // (a `close` on another thread may still be revoking it).
    drop(registration);
    drop(epoll);
    outcome
}

/// Files `registration` (a private instance) under each descriptor of
/// `fds`, for `close` to revoke.
fn watch(fds: &[libc::pollfd], registration: &Arc<Registration>, instance: &Arc<Epoll>) {
    let process = sys::process();
    let mut map = registrations();
    for fd in fds.iter().map(|entry| entry.fd) {
        let Some(entry) = table::load(fd) else {
            continue;
        };
        if table::mark_registered(fd, entry.generation()) {
            map.entry(fd).or_default().push(Held {
                generation: entry.generation(),
                watch: true,
                process,
                registration: Arc::clone(registration),
                _instance: Some(Arc::clone(instance)),
            });
        }
    }
}

/// Takes `registration` back out of the map once its wait is over.
fn unwatch(fds: &[libc::pollfd], registration: &Arc<Registration>) {
    let mut map = registrations();
    for fd in fds.iter().map(|entry| entry.fd) {
        if let Some(held) = map.get_mut(&fd) {
            held.retain(|held| !Arc::ptr_eq(&held.registration, registration));
            if held.is_empty() {
                map.remove(&fd);
                // The last registration of `fd` went away: clear the mark
                // that `watch` set, under the same lock that any new mark
                // is set under (see `table::clear_registered`), so that
                // closes of descriptors merely polled once take no lock.
                table::clear_registered(fd);
            }
        }
    }
}

/// `poll(2)` event bits as `epoll(7)` bits (errors and hang-ups are
/// always reported).
fn epoll_events(events: libc::c_short) -> u32 {
    let mut epoll = 0;
    for (poll, bit) in [
        (libc::POLLIN, libc::EPOLLIN),
        (libc::POLLPRI, libc::EPOLLPRI),
        (libc::POLLOUT, libc::EPOLLOUT),
        (libc::POLLRDHUP, libc::EPOLLRDHUP),
    ] {
        if events & poll != 0 {
            epoll |= bit as u32;
        }
    }
    epoll
}

fn poll_events(interest: Interest) -> libc::c_short {
    match interest {
        Interest::Readable => libc::POLLIN,
        Interest::Writable => libc::POLLOUT,
    }
}

/// Fails the hooked call with `errno`.
#[inline]
pub(crate) fn fail(errno: c_int) -> isize {
    sys::set_errno(errno);
    -1
}

/// Fails the hooked call with the errno of `interrupt` (`ECANCELED` for a
/// kill, `ETIMEDOUT` for an elapsed `moss::timeout`; never `EINTR`, which
/// std and C callers retry). The interrupt stays pending; the other green
/// threads run first, so that a C loop retrying the call cannot hold the
/// hub.
pub(crate) fn interrupted(interrupt: Interrupt) -> isize {
    park::yield_foreign();
    fail(
        io::Error::from(interrupt)
            .raw_os_error()
            .unwrap_or(libc::ECANCELED),
    )
}

fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|timeout| Instant::now().checked_add(timeout))
}

fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|at| at.saturating_duration_since(Instant::now()))
}

/// Blocks the OS thread in `poll(2)` until `fd` may be ready for
/// `interest`; `false` when `deadline` passed.
fn block_on(fd: c_int, interest: Interest, deadline: Option<Instant>) -> bool {
    let remaining = remaining(deadline);
    if remaining == Some(Duration::ZERO) {
        return false;
    }
    let mut entry = [libc::pollfd {
        fd,
        events: poll_events(interest),
        revents: 0,
    }];
    sys::poll(&mut entry, remaining);
    true
}

/// A blocking call `op` on `fd` that waits for `interest` (see the module
/// docs). `nonblocking_call` (`MSG_DONTWAIT`) passes through everywhere.
/// Returns `op`'s result, with errno set on `-1`.
#[inline]
pub(crate) fn io(
    fd: c_int,
    interest: Interest,
    nonblocking_call: bool,
    mut op: impl FnMut() -> isize,
) -> isize {
    if !may_park() {
        let result = op();
        // The table first: on a descriptor the layer never touched (the
        // common case for an `EAGAIN` here) errno is not even read.
        if result == -1
            && !nonblocking_call
            && table::load(fd).is_some_and(table::Entry::is_emulated)
            && sys::would_block()
        {
            return emulate(fd, interest, op);
        }
        return result;
    }
    if nonblocking_call {
        return op();
    }
    match table::cooperative(fd) {
        Some(entry) => green(fd, entry.generation(), interest, op),
        None => op(),
    }
}

/// Outside green threads, on a descriptor the layer made non-blocking
/// behind its owner's back: the blocking call the owner expects, with the
/// socket's own timeout.
#[cold]
fn emulate(fd: c_int, interest: Interest, mut op: impl FnMut() -> isize) -> isize {
    if !table::load(fd).is_some_and(table::Entry::is_emulated) || !table::still_socket(fd) {
        return fail(libc::EAGAIN);
    }
    let deadline = deadline_after(sys::socket_timeout(fd, interest));
    loop {
        if !block_on(fd, interest, deadline) {
            return fail(libc::EAGAIN);
        }
        let result = op();
        if result != -1 || !sys::would_block() {
            return result;
        }
    }
}

/// The cooperative form of a blocking call in a green thread.
#[cold]
fn green(fd: c_int, generation: u32, interest: Interest, mut op: impl FnMut() -> isize) -> isize {
    // The socket's timeout is read when the call first has to wait.
    let mut deadline = None;
    loop {
        let result = op();
        if result != -1 || !sys::would_block() {
            return result;
        }
        match table::load(fd) {
            Some(entry) if entry.generation() != generation => return fail(libc::EBADF),
            // The owner switched to non-blocking mode meanwhile.
            Some(entry) if entry.user_nonblocking() => return fail(libc::EAGAIN),
            _ => {}
        }
        let deadline =
            *deadline.get_or_insert_with(|| deadline_after(sys::socket_timeout(fd, interest)));
        match park_fd(fd, generation, interest, deadline) {
            Outcome::Ready => {}
            Outcome::TimedOut => return fail(libc::EAGAIN),
            Outcome::Interrupted(interrupt) => return interrupted(interrupt),
            Outcome::Unavailable => {
                if !block_on(fd, interest, deadline) {
                    return fail(libc::EAGAIN);
                }
            }
        }
        if table::load(fd).is_none_or(|entry| entry.generation() != generation) {
            // Closed while this call waited: never retry on a number that
            // may name another file now.
            return fail(libc::EBADF);
        }
    }
}

/// `connect(2)`: `op` starts the connection; a blocking connect then
/// waits for the handshake (`EINPROGRESS` when the socket's send timeout
/// passes, as the kernel reports it).
pub(crate) fn connect(fd: c_int, mut op: impl FnMut() -> c_int) -> c_int {
    let green = may_park();
    let entry = if green { table::cooperative(fd) } else { None };
    let ours =
        || entry.is_some() || (!green && table::load(fd).is_some_and(table::Entry::is_emulated));
    let mut deadline = None;
    let mut pause = Duration::from_millis(1);
    let result = loop {
        let result = op();
        if result == 0 || sys::errno() != libc::EAGAIN || !ours() {
            break result;
        }
        // A Unix socket whose listener's backlog is full: no readiness
        // event announces room, so pause and retry, as a blocking connect
        // waits (up to the send timeout, then EAGAIN as the kernel says).
        let deadline = *deadline
            .get_or_insert_with(|| deadline_after(sys::socket_timeout(fd, Interest::Writable)));
        let pause_until = remaining(deadline).map_or(pause, |left| left.min(pause));
        if pause_until.is_zero() {
            return fail(libc::EAGAIN) as c_int;
        }
        if green {
            if let Err(interrupt) = sleep(Some(pause_until)) {
                return interrupted(interrupt) as c_int;
            }
        } else {
            std::thread::sleep(pause_until);
        }
        pause = (pause * 2).min(Duration::from_millis(100));
    };
    if result == 0 || sys::errno() != libc::EINPROGRESS || !ours() {
        return result;
    }
    let generation = entry.map_or(0, table::Entry::generation);
    let deadline = deadline_after(sys::socket_timeout(fd, Interest::Writable));
    loop {
        if green {
            match park_fd(fd, generation, Interest::Writable, deadline) {
                Outcome::Ready => {
                    if table::load(fd).is_none_or(|entry| entry.generation() != generation) {
                        return fail(libc::EBADF) as c_int;
                    }
                }
                Outcome::TimedOut => return fail(libc::EINPROGRESS) as c_int,
                Outcome::Interrupted(interrupt) => return interrupted(interrupt) as c_int,
                Outcome::Unavailable => {
                    if !block_on(fd, Interest::Writable, deadline) {
                        return fail(libc::EINPROGRESS) as c_int;
                    }
                }
            }
        } else if !block_on(fd, Interest::Writable, deadline) {
            return fail(libc::EINPROGRESS) as c_int;
        }
        // A wake-up may come before the handshake ends.
        let mut entry = [libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        }];
        if sys::poll(&mut entry, Some(Duration::ZERO)) == 0 {
            continue;
        }
        return match sys::socket_error(fd) {
            0 => 0,
            errno => fail(errno) as c_int,
        };
    }
}

/// A wait on several descriptors in a green thread (`poll`, `ppoll`,
/// `select`) on `fds`: `check` is the real call with a zero timeout,
/// `block` the real call with the given timeout (used when the green
/// thread cannot park). Returns what the real call would: the ready count, 0 when
/// `timeout` (`None`: none) passes, `-1` with errno.
pub(crate) fn poll(
    fds: &mut [libc::pollfd],
    timeout: Option<Duration>,
    mut check: impl FnMut(&mut [libc::pollfd]) -> c_int,
    block: impl FnOnce(&mut [libc::pollfd], Option<Duration>) -> c_int,
) -> c_int {
    let deadline = deadline_after(timeout);
    loop {
        let ready = check(fds);
        if ready != 0 || timeout == Some(Duration::ZERO) {
            return ready;
        }
        match park_any(fds, deadline) {
            Outcome::Ready => {}
            // One last look: what became ready at the deadline counts.
            Outcome::TimedOut => return check(fds),
            Outcome::Interrupted(interrupt) => return interrupted(interrupt) as c_int,
            Outcome::Unavailable => return block(fds, remaining(deadline)),
        }
    }
}

/// Sleeps the running green thread for `duration` (`None`: forever).
/// A kill or an elapsed `moss::timeout` ends the sleep early with the
/// interrupt, which stays pending.
pub(crate) fn sleep(duration: Option<Duration>) -> Result<(), Interrupt> {
    let deadline = deadline_after(duration);
    loop {
        match park::park("sleep", deadline, |_| {}) {
            Ok(Wake::TimedOut) => return Ok(()),
            Ok(Wake::Ready | Wake::Interrupted) => {}
            Err(interrupt) => return Err(interrupt),
        }
    }
}
