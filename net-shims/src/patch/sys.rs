//! The patch layer's platform calls (unsafe): the original libc functions behind the hooks, errno, and the raw calls the layer's safe code needs.
//!
//! Every hooked function has an original here ([`real`]), found with
//! `dlsym(RTLD_NEXT, name)` on first use (or at load time, see
//! [`resolve_all`]) and cached in an atomic: the layer's own calls go
//! through these, never through `libc::…` names, which the hooks override
//! for the whole executable.

use std::ffi::CStr;
use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use libc::{c_int, c_void};
use moss_runtime::io::{Interest, Registration};

/// The address of the next definition of a libc symbol after this
/// executable's, resolved once.
pub(crate) struct Original {
    name: &'static CStr,
    /// 0 until resolved, [`ABSENT`] when there is no original.
    address: AtomicUsize,
}

impl Original {
    pub(crate) const fn new(name: &'static CStr) -> Original {
        Original {
            name,
            address: AtomicUsize::new(0),
        }
    }

    /// The original's address, or 0 when there is none (a static
    /// executable, a libc without the symbol).
    #[inline]
    pub(crate) fn address(&self) -> usize {
        match self.address.load(Ordering::Relaxed) {
            0 => self.resolve(),
            ABSENT => 0,
            address => address,
        }
    }

    /// Asks `dlsym` once, also when it finds nothing: a missing original
    /// must not send every later call (maybe in a signal handler, where
    /// `dlsym`'s lock and allocation are not allowed) back to the loader.
    #[cold]
    fn resolve(&self) -> usize {
        // SAFETY: `name` is a NUL-terminated string; RTLD_NEXT asks for the
        // next definition after this object's, which is libc's. dlsym has
        // no other precondition.
        let address = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr()) } as usize;
        self.address.store(
            if address == 0 { ABSENT } else { address },
            Ordering::Relaxed,
        );
        address
    }
}

/// The cached address of an original that does not exist (no function
/// lives at address 1).
const ABSENT: usize = 1;

/// Declares the originals: for each, a static [`Original`] and an
/// `unsafe fn` of the same name and C signature that calls it. When the
/// original cannot be found the function sets `ENOSYS` and returns the
/// given failure value.
macro_rules! originals {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $fail:expr;)+) => {
        /// The original libc functions behind the hooks.
        ///
        /// # Safety
        /// Each function has the contract of the libc function it is named
        /// after.
        pub(crate) mod real {
            #![allow(non_upper_case_globals, clippy::too_many_arguments, clippy::unused_unit)]
            use super::*;
            use libc::*;

            /// Where each original is.
            mod symbol {
                use super::*;
                $(
                    pub(crate) static $name: Original = Original::new(
                        match CStr::from_bytes_with_nul(concat!(stringify!($name), "\0").as_bytes()) {
                            Ok(name) => name,
                            Err(_) => panic!("a symbol name has no interior NUL"),
                        },
                    );
                )+
            }

            $(
                #[inline]
                pub(crate) unsafe fn $name($($arg: $ty),*) -> $ret {
                    let address = symbol::$name.address();
                    if address == 0 {
                        set_errno(ENOSYS);
                        return $fail;
                    }
                    let original: unsafe extern "C" fn($($ty),*) -> $ret =
                        // SAFETY: the address is the original of the libc
                        // function this one is named after (dlsym), whose
                        // C signature is the one declared here.
                        unsafe { std::mem::transmute::<usize, _>(address) };
                    // SAFETY: the caller upholds the libc function's
                    // contract (this function's).
                    unsafe { original($($arg),*) }
                }
            )+

            /// Resolves every original now.
            pub(crate) fn resolve_all() {
                $( symbol::$name.address(); )+
            }

            /// Whether every original was found (the [`OPTIONAL`] ones
            /// aside: a libc without them only lacks those calls).
            pub(crate) fn resolved() -> bool {
                true $( && (symbol::$name.address() != 0
                    || OPTIONAL.contains(&stringify!($name))) )+
            }
        }
    };
}

/// Originals that a libc older than the one the layer was written against
/// may lack (`close_range` and `closefrom`: glibc 2.34; `epoll_pwait2`:
/// glibc 2.35). Their hooks fail with `ENOSYS` there, as the missing call
/// would; the rest of the layer is in force.
const OPTIONAL: &[&str] = &["close_range", "closefrom", "epoll_pwait2"];

originals! {
    recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t = -1;
    send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t = -1;
    read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t = -1;
    write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t = -1;
    readv(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t = -1;
    writev(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t = -1;
    recvfrom(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int, addr: *mut sockaddr, addrlen: *mut socklen_t) -> ssize_t = -1;
    sendto(fd: c_int, buf: *const c_void, len: size_t, flags: c_int, addr: *const sockaddr, addrlen: socklen_t) -> ssize_t = -1;
    recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t = -1;
    sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t = -1;
    recvmmsg(fd: c_int, msgs: *mut mmsghdr, vlen: c_uint, flags: c_int, timeout: *mut timespec) -> c_int = -1;
    sendmmsg(fd: c_int, msgs: *mut mmsghdr, vlen: c_uint, flags: c_int) -> c_int = -1;
    accept(fd: c_int, addr: *mut sockaddr, addrlen: *mut socklen_t) -> c_int = -1;
    accept4(fd: c_int, addr: *mut sockaddr, addrlen: *mut socklen_t, flags: c_int) -> c_int = -1;
    connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int = -1;
    sendfile(out_fd: c_int, in_fd: c_int, offset: *mut off_t, count: size_t) -> ssize_t = -1;
    sendfile64(out_fd: c_int, in_fd: c_int, offset: *mut off64_t, count: size_t) -> ssize_t = -1;
    splice(fd_in: c_int, off_in: *mut loff_t, fd_out: c_int, off_out: *mut loff_t, len: size_t, flags: c_uint) -> ssize_t = -1;
    epoll_wait(epfd: c_int, events: *mut epoll_event, maxevents: c_int, timeout: c_int) -> c_int = -1;
    epoll_pwait(epfd: c_int, events: *mut epoll_event, maxevents: c_int, timeout: c_int, sigmask: *const sigset_t) -> c_int = -1;
    poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int = -1;
    ppoll(fds: *mut pollfd, nfds: nfds_t, timeout: *const timespec, sigmask: *const sigset_t) -> c_int = -1;
    epoll_pwait2(epfd: c_int, events: *mut epoll_event, maxevents: c_int, timeout: *const timespec, sigmask: *const sigset_t) -> c_int = -1;
    pselect(nfds: c_int, readfds: *mut fd_set, writefds: *mut fd_set, errorfds: *mut fd_set, timeout: *const timespec, sigmask: *const sigset_t) -> c_int = -1;
    select(nfds: c_int, readfds: *mut fd_set, writefds: *mut fd_set, errorfds: *mut fd_set, timeout: *mut timeval) -> c_int = -1;
    clock_nanosleep(clock: clockid_t, flags: c_int, request: *const timespec, remain: *mut timespec) -> c_int = ENOSYS;
    nanosleep(request: *const timespec, remain: *mut timespec) -> c_int = -1;
    usleep(usec: useconds_t) -> c_int = -1;
    sleep(seconds: c_uint) -> c_uint = seconds;
    socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int = -1;
    socketpair(domain: c_int, ty: c_int, protocol: c_int, sv: *mut c_int) -> c_int = -1;
    fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int = -1;
    fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int = -1;
    ioctl(fd: c_int, request: c_ulong, arg: usize) -> c_int = -1;
    close(fd: c_int) -> c_int = -1;
    close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int = -1;
    closefrom(lowfd: c_int) -> () = ();
    dup(fd: c_int) -> c_int = -1;
    dup2(old: c_int, new: c_int) -> c_int = -1;
    dup3(old: c_int, new: c_int, flags: c_int) -> c_int = -1;
    shutdown(fd: c_int, how: c_int) -> c_int = -1;
    __recv_chk(fd: c_int, buf: *mut c_void, len: size_t, buflen: size_t, flags: c_int) -> ssize_t = -1;
    __read_chk(fd: c_int, buf: *mut c_void, nbytes: size_t, buflen: size_t) -> ssize_t = -1;
    __recvfrom_chk(fd: c_int, buf: *mut c_void, len: size_t, buflen: size_t, flags: c_int, addr: *mut sockaddr, addrlen: *mut socklen_t) -> ssize_t = -1;
    __poll_chk(fds: *mut pollfd, nfds: nfds_t, timeout: c_int, fdslen: size_t) -> c_int = -1;
    __ppoll_chk(fds: *mut pollfd, nfds: nfds_t, timeout: *const timespec, sigmask: *const sigset_t, fdslen: size_t) -> c_int = -1;
    sigaction(sig: c_int, act: *const sigaction, old: *mut sigaction) -> c_int = -1;
    getaddrinfo(node: *const c_char, service: *const c_char, hints: *const addrinfo, res: *mut *mut addrinfo) -> c_int = EAI_SYSTEM;
    gethostbyname(name: *const c_char) -> *mut hostent = std::ptr::null_mut();
    gethostbyname2(name: *const c_char, af: c_int) -> *mut hostent = std::ptr::null_mut();
    gethostbyname_r(name: *const c_char, ret: *mut hostent, buf: *mut c_char, buflen: size_t, result: *mut *mut hostent, h_errnop: *mut c_int) -> c_int = ENOSYS;
    gethostbyname2_r(name: *const c_char, af: c_int, ret: *mut hostent, buf: *mut c_char, buflen: size_t, result: *mut *mut hostent, h_errnop: *mut c_int) -> c_int = ENOSYS;
    getnameinfo(sa: *const sockaddr, salen: socklen_t, host: *mut c_char, hostlen: socklen_t, serv: *mut c_char, servlen: socklen_t, flags: c_int) -> c_int = EAI_SYSTEM;
}

/// Resolves every original when the executable is loaded, before `main`
/// and before any signal handler can run a hook: `dlsym` takes the
/// loader's lock, which a hook running in a signal handler must not.
#[used]
#[link_section = ".init_array"]
static RESOLVE_AT_LOAD: extern "C" fn() = resolve_at_load;

extern "C" fn resolve_at_load() {
    real::resolve_all();
    // SAFETY: registers a handler that only touches an atomic, which is
    // async-signal-safe as a fork child handler must be.
    unsafe { libc::pthread_atfork(None, None, Some(forked)) };
}

/// How many `fork`s separate this process from the one that loaded the
/// executable: a number that differs between a parent and its child.
static FORKS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn forked() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// This process's identity for data inherited across `fork` (see
/// `wait.rs`): cheaper than `getpid`, which is a system call.
pub(crate) fn process() -> u32 {
    FORKS.load(Ordering::Relaxed) as u32
}

/// The calling thread's `errno`.
#[inline]
pub(crate) fn errno() -> c_int {
    // SAFETY: __errno_location returns a valid pointer to the calling
    // thread's errno for the thread's whole life.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's `errno`.
#[inline]
pub(crate) fn set_errno(value: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = value }
}

/// Whether the last call failed because it would block.
#[inline]
pub(crate) fn would_block() -> bool {
    let errno = errno();
    errno == libc::EAGAIN || errno == libc::EWOULDBLOCK
}

/// Whether `fd` is a socket (`None` if `fstat` fails: not open).
pub(crate) fn is_socket(fd: c_int) -> Option<bool> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `stat` is a writable buffer of the right type; fstat fills it
    // on success and touches nothing else.
    if unsafe { libc::fstat(fd, stat.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fstat succeeded, so it initialised the buffer.
    let mode = unsafe { stat.assume_init() }.st_mode;
    Some(mode & libc::S_IFMT == libc::S_IFSOCK)
}

/// The file status flags of `fd` (`F_GETFL`, the original).
pub(crate) fn status_flags(fd: c_int) -> Option<c_int> {
    // SAFETY: F_GETFL takes no argument and only reads the descriptor.
    let flags = unsafe { real::fcntl(fd, libc::F_GETFL, 0) };
    (flags >= 0).then_some(flags)
}

/// Sets the file status flags of `fd` (`F_SETFL`, the original).
pub(crate) fn set_status_flags(fd: c_int, flags: c_int) -> bool {
    // SAFETY: F_SETFL takes an integer argument and changes only the
    // descriptor's status flags.
    unsafe { real::fcntl(fd, libc::F_SETFL, flags as usize) == 0 }
}

/// The socket's timeout for `interest` (`SO_RCVTIMEO` or `SO_SNDTIMEO`);
/// `None` when it has none or is not a socket.
pub(crate) fn socket_timeout(fd: c_int, interest: Interest) -> Option<Duration> {
    let option = match interest {
        Interest::Readable => libc::SO_RCVTIMEO,
        Interest::Writable => libc::SO_SNDTIMEO,
    };
    let mut value = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: `value` and `len` are valid for writes and `len` is the
    // buffer's size, as getsockopt requires.
    let result = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&raw mut value).cast(),
            &mut len,
        )
    };
    if result != 0 || (value.tv_sec == 0 && value.tv_usec == 0) {
        return None;
    }
    let secs = u64::try_from(value.tv_sec).ok()?;
    let micros = u32::try_from(value.tv_usec).ok()?;
    Some(Duration::from_secs(secs) + Duration::from_micros(micros.into()))
}

/// The pending error of a socket (`SO_ERROR`), 0 for none.
pub(crate) fn socket_error(fd: c_int) -> c_int {
    let mut value: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: as in `socket_timeout`.
    let result = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&raw mut value).cast(),
            &mut len,
        )
    };
    if result != 0 {
        return errno();
    }
    value
}

/// A timeout in whole milliseconds for `poll`-style calls (-1: none),
/// rounded up so that a sub-millisecond remainder does not spin.
pub(crate) fn millis(timeout: Option<Duration>) -> c_int {
    timeout.map_or(-1, |t| {
        i32::try_from(t.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX)
    })
}

/// Polls `fds` with the original `poll`: the count of ready entries, or
/// `-1` with errno set.
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> c_int {
    let millis = millis(timeout);
    // SAFETY: `fds` is a valid, exclusively borrowed array of the length
    // passed; poll only writes the `revents` fields.
    unsafe { real::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) }
}

/// Reads `clock` (`None` if the clock does not exist).
pub(crate) fn clock_now(clock: libc::clockid_t) -> Option<libc::timespec> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is valid for writes.
    (unsafe { libc::clock_gettime(clock, &mut now) } == 0).then_some(now)
}

/// A private epoll instance, closed (with the original `close`) on drop.
pub(crate) struct Epoll(c_int);

impl Epoll {
    pub(crate) fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes only flags and returns a new
        // descriptor this value owns.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Epoll(fd))
    }

    /// Adds `fd`, level-triggered, for `events` (`EPOLL…` bits). Errors are
    /// the caller's to ignore: a descriptor epoll refuses (a regular file)
    /// is always ready, which the caller's own check reports.
    pub(crate) fn add(&self, fd: c_int, events: u32) -> bool {
        let mut event = libc::epoll_event { events, u64: 0 };
        // SAFETY: `self.0` is an epoll descriptor this value owns; `event`
        // is a valid event that epoll_ctl copies.
        unsafe { libc::epoll_ctl(self.0, libc::EPOLL_CTL_ADD, fd, &mut event) == 0 }
    }

    /// Registers the instance with the current hub: it becomes readable
    /// when any of its descriptors is ready.
    pub(crate) fn register(&self) -> io::Result<Registration> {
        register(self.0)
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: closes the descriptor this value owns, once; the
        // registration on it has been dropped (deregistered) by now.
        unsafe { real::close(self.0) };
    }
}

/// Registers `fd` with the current hub.
///
/// The caller is inside a hooked call on `fd`, so the descriptor is open
/// for the duration of this call (a concurrent `close` by another thread
/// is the program's own race, and the close hook revokes what this
/// registers: see `wait.rs`).
pub(crate) fn register(fd: c_int) -> io::Result<Registration> {
    // SAFETY: the descriptor is open for the duration of the call (see
    // above), and `Registration::new` keeps only its number.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    Registration::new(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_original_is_looked_up_once() {
        let original = Original::new(c"moss_no_such_symbol_anywhere");
        assert_eq!(original.address(), 0);
        assert_eq!(original.address.load(Ordering::Relaxed), ABSENT);
        assert_eq!(original.address(), 0);
        let found = Original::new(c"recv");
        assert!(found.address() > ABSENT);
    }
}
