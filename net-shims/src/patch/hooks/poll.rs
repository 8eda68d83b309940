//! Readiness-wait hooks: `poll`, `ppoll`, `select`, `pselect`, `epoll_wait`, `epoll_pwait`, `epoll_pwait2` and the `_FORTIFY_SOURCE` checked forms.
//!
//! In a green thread each first asks the real call with a zero timeout;
//! if nothing is ready, the green thread parks on all the descriptors at
//! once (a private epoll instance, see `wait.rs`) until one may be ready
//! or the timeout passes, and asks again. A signal mask given to `ppoll`,
//! `pselect`, `epoll_pwait` or `epoll_pwait2` applies only to those zero-timeout calls: a parked green thread is not
//! in a system call a signal could interrupt.

use std::time::Duration;

use libc::{c_int, epoll_event, fd_set, nfds_t, pollfd, sigset_t, size_t, timespec, timeval};

use crate::patch::sys::real;
use crate::patch::wait;

/// The entries of a `poll` array.
///
/// # Safety
/// `fds` points to `nfds` valid entries (or `nfds` is 0), exclusively for
/// the returned lifetime.
unsafe fn entries<'a>(fds: *mut pollfd, nfds: nfds_t) -> &'a mut [pollfd] {
    if nfds == 0 {
        return &mut [];
    }
    // SAFETY: by this function's contract.
    unsafe { std::slice::from_raw_parts_mut(fds, nfds as usize) }
}

/// Whether `fds` and `nfds` can be a slice: otherwise the real call is
/// made, to fail as it does (`EFAULT` for a null array, `EINVAL` for a
/// count above the descriptor limit).
fn sliceable(fds: *mut pollfd, nfds: nfds_t) -> bool {
    nfds == 0
        || (!fds.is_null()
            && fds.is_aligned()
            && usize::try_from(nfds)
                .is_ok_and(|nfds| nfds <= isize::MAX as usize / std::mem::size_of::<pollfd>()))
}

fn duration(timespec: &timespec) -> Option<Duration> {
    let secs = u64::try_from(timespec.tv_sec).ok()?;
    let nanos = u32::try_from(timespec.tv_nsec)
        .ok()
        .filter(|&nanos| nanos < 1_000_000_000)?;
    Some(Duration::new(secs, nanos))
}

fn timespec_of(duration: Duration) -> timespec {
    timespec {
        tv_sec: libc::time_t::try_from(duration.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: duration.subsec_nanos().into(),
    }
}

/// See `poll(2)`.
///
/// # Safety
/// As libc's `poll`.
#[no_mangle]
pub unsafe extern "C" fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    if !wait::may_park() || !sliceable(fds, nfds) {
        // SAFETY: the caller's arguments, unchanged (poll's contract).
        return unsafe { real::poll(fds, nfds, timeout) };
    }
    // SAFETY: poll's contract: `fds` holds `nfds` entries, which the
    // caller lends for the call.
    let fds = unsafe { entries(fds, nfds) };
    let timeout = u64::try_from(timeout).ok().map(Duration::from_millis);
    wait::poll(
        fds,
        timeout,
        |fds| crate::patch::sys::poll(fds, Some(Duration::ZERO)),
        crate::patch::sys::poll,
    )
}

/// See `ppoll(2)`.
///
/// # Safety
/// As libc's `ppoll`.
#[no_mangle]
pub unsafe extern "C" fn ppoll(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: *const timespec,
    sigmask: *const sigset_t,
) -> c_int {
    // SAFETY: ppoll's contract: `timeout` is null or valid.
    let limit = unsafe { timeout.as_ref() }.map(duration);
    if !wait::may_park() || limit == Some(None) || !sliceable(fds, nfds) {
        // SAFETY: the caller's arguments, unchanged (ppoll's contract).
        return unsafe { real::ppoll(fds, nfds, timeout, sigmask) };
    }
    // SAFETY: as in `poll`.
    let fds = unsafe { entries(fds, nfds) };
    let real_ppoll = |fds: &mut [pollfd], limit: Option<Duration>| {
        let limit = limit.map(timespec_of);
        let limit = limit
            .as_ref()
            .map_or(std::ptr::null(), |limit| limit as *const _);
        // SAFETY: `fds` is the caller's array, `limit` null or a valid
        // timespec, `sigmask` the caller's (ppoll's contract).
        unsafe { real::ppoll(fds.as_mut_ptr(), fds.len() as nfds_t, limit, sigmask) }
    };
    wait::poll(
        fds,
        limit.flatten(),
        |fds| real_ppoll(fds, Some(Duration::ZERO)),
        |fds, remaining| real_ppoll(fds, remaining),
    )
}

/// See `select(2)`. The timeout is not updated with the time left.
///
/// # Safety
/// As libc's `select`.
#[no_mangle]
pub unsafe extern "C" fn select(
    nfds: c_int,
    readfds: *mut fd_set,
    writefds: *mut fd_set,
    errorfds: *mut fd_set,
    timeout: *mut timeval,
) -> c_int {
    // SAFETY: select's contract: `timeout` is null or valid.
    let limit = unsafe { timeout.as_ref() }.map(|timeout| {
        let secs = u64::try_from(timeout.tv_sec).ok()?;
        let micros = u64::try_from(timeout.tv_usec).ok()?;
        Some(Duration::from_secs(secs) + Duration::from_micros(micros))
    });
    if !wait::may_park() || limit == Some(None) || !select_in_range(nfds) {
        // SAFETY: the caller's arguments, unchanged (select's contract).
        return unsafe { real::select(nfds, readfds, writefds, errorfds, timeout) };
    }
    let sets = [readfds, writefds, errorfds];
    let real_select = |limit: Option<Duration>| {
        let mut limit = limit.map(|limit| timeval {
            tv_sec: libc::time_t::try_from(limit.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_usec: limit.subsec_micros().into(),
        });
        let limit = limit
            .as_mut()
            .map_or(std::ptr::null_mut(), |limit| limit as *mut _);
        // SAFETY: the caller's sets (restored to what was asked by
        // `green_select`); `limit` null or a valid timeval.
        unsafe { real::select(nfds, readfds, writefds, errorfds, limit) }
    };
    // SAFETY: select's contract, passed on.
    unsafe { green_select(nfds, sets, limit.flatten(), real_select) }
}

/// See `pselect(2)`: as `select`, with the signal mask applied to the
/// zero-timeout calls only (see the module docs).
///
/// # Safety
/// As libc's `pselect`.
#[no_mangle]
pub unsafe extern "C" fn pselect(
    nfds: c_int,
    readfds: *mut fd_set,
    writefds: *mut fd_set,
    errorfds: *mut fd_set,
    timeout: *const timespec,
    sigmask: *const sigset_t,
) -> c_int {
    // SAFETY: pselect's contract: `timeout` is null or valid.
    let limit = unsafe { timeout.as_ref() }.map(duration);
    if !wait::may_park() || limit == Some(None) || !select_in_range(nfds) {
        // SAFETY: the caller's arguments, unchanged (pselect's contract).
        return unsafe { real::pselect(nfds, readfds, writefds, errorfds, timeout, sigmask) };
    }
    let sets = [readfds, writefds, errorfds];
    let real_pselect = |limit: Option<Duration>| {
        let limit = limit.map(timespec_of);
        let limit = limit
            .as_ref()
            .map_or(std::ptr::null(), |limit| limit as *const _);
        // SAFETY: the caller's sets (restored to what was asked by
        // `green_select`) and mask; `limit` null or a valid timespec.
        unsafe { real::pselect(nfds, readfds, writefds, errorfds, limit, sigmask) }
    };
    // SAFETY: pselect's contract, passed on.
    unsafe { green_select(nfds, sets, limit.flatten(), real_pselect) }
}

/// Whether `select` with `nfds` can be handled (the sets hold no more).
fn select_in_range(nfds: c_int) -> bool {
    usize::try_from(nfds).is_ok_and(|nfds| nfds <= libc::FD_SETSIZE)
}

/// The cooperative `select`/`pselect` in a green thread: `real` is the
/// real call with the given timeout, on the caller's `sets`, which this
/// function restores to what was asked before each call.
///
/// # Safety
/// `nfds` is at most `FD_SETSIZE`; each of `sets` is null or valid for
/// reading and writing the bytes of `nfds` descriptors for the call.
unsafe fn green_select(
    nfds: c_int,
    sets: [*mut fd_set; 3],
    limit: Option<Duration>,
    real: impl Fn(Option<Duration>) -> c_int,
) -> c_int {
    // Only the first `bytes` of each set are the caller's: the kernel reads
    // and writes no more (`nfds` rounded up to whole longs), and callers
    // that size their sets for `nfds` (OpenSSH's `howmany(nfds, NFDBITS)`)
    // allocate no more.
    let bytes = set_bytes(nfds);
    // SAFETY: this function's contract: each set is null or valid for
    // `bytes` bytes; copies of the asked sets, since every call overwrites
    // them with the answer.
    let asked = sets.map(|set| unsafe { copy_set(set, bytes) });
    let mut entries = Vec::new();
    for fd in 0..nfds {
        let mut events = 0;
        for (set, event) in asked
            .iter()
            .zip([libc::POLLIN, libc::POLLOUT, libc::POLLPRI])
        {
            let asked = set.as_ref().is_some_and(|set| {
                // SAFETY: `fd` is below FD_SETSIZE and `set` a valid set.
                unsafe { libc::FD_ISSET(fd, set) }
            });
            if asked {
                events |= event;
            }
        }
        if events != 0 {
            entries.push(pollfd {
                fd,
                events,
                revents: 0,
            });
        }
    }
    let call = |limit: Option<Duration>| {
        for (set, asked) in sets.into_iter().zip(asked) {
            if let Some(asked) = asked {
                // SAFETY: `set` is the caller's set, valid for `bytes`
                // bytes (non-null since a copy was taken).
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        (&raw const asked).cast::<u8>(),
                        set.cast::<u8>(),
                        bytes,
                    )
                };
            }
        }
        real(limit)
    };
    wait::poll(
        &mut entries,
        limit,
        |_| call(Some(Duration::ZERO)),
        |_, remaining| call(remaining),
    )
}

/// The bytes of an `fd_set` that `select` with `nfds` reads and writes:
/// `nfds` bits rounded up to whole longs, as the kernel does.
fn set_bytes(nfds: c_int) -> usize {
    let bits = 8 * std::mem::size_of::<libc::c_ulong>();
    usize::try_from(nfds).map_or(0, |nfds| nfds.div_ceil(bits) * (bits / 8))
}

/// A copy of the first `bytes` bytes of `set` (the rest zero), `None` for
/// a null set.
///
/// # Safety
/// `set` is null or valid for reading `bytes` bytes, and `bytes` is at
/// most the size of an `fd_set`.
unsafe fn copy_set(set: *const fd_set, bytes: usize) -> Option<fd_set> {
    if set.is_null() {
        return None;
    }
    // SAFETY: all-zero is an empty fd_set.
    let mut copy: fd_set = unsafe { std::mem::zeroed() };
    // SAFETY: by this function's contract; `copy` has room for `bytes`.
    unsafe { std::ptr::copy_nonoverlapping(set.cast::<u8>(), (&raw mut copy).cast::<u8>(), bytes) };
    Some(copy)
}

/// `_FORTIFY_SOURCE`'s `poll`.
///
/// # Safety
/// As libc's `__poll_chk`.
#[no_mangle]
pub unsafe extern "C" fn __poll_chk(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: c_int,
    fdslen: size_t,
) -> c_int {
    if (fdslen / std::mem::size_of::<pollfd>()) < nfds as usize {
        // SAFETY: the original reports the overflow and aborts.
        return unsafe { real::__poll_chk(fds, nfds, timeout, fdslen) };
    }
    // SAFETY: the array holds `nfds` entries, so this is a plain poll.
    unsafe { poll(fds, nfds, timeout) }
}

/// `_FORTIFY_SOURCE`'s `ppoll`.
///
/// # Safety
/// As libc's `__ppoll_chk`.
#[no_mangle]
pub unsafe extern "C" fn __ppoll_chk(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: *const timespec,
    sigmask: *const sigset_t,
    fdslen: size_t,
) -> c_int {
    if (fdslen / std::mem::size_of::<pollfd>()) < nfds as usize {
        // SAFETY: the original reports the overflow and aborts.
        return unsafe { real::__ppoll_chk(fds, nfds, timeout, sigmask, fdslen) };
    }
    // SAFETY: the array holds `nfds` entries, so this is a plain ppoll.
    unsafe { ppoll(fds, nfds, timeout, sigmask) }
}

/// See `epoll_wait(2)`: in a green thread, parks until the epoll instance
/// has events (it is pollable itself) or the timeout passes.
///
/// # Safety
/// As libc's `epoll_wait`.
#[no_mangle]
pub unsafe extern "C" fn epoll_wait(
    epfd: c_int,
    events: *mut epoll_event,
    maxevents: c_int,
    timeout: c_int,
) -> c_int {
    if !wait::may_park() {
        // SAFETY: the caller's arguments, unchanged (epoll_wait's contract).
        return unsafe { real::epoll_wait(epfd, events, maxevents, timeout) };
    }
    let limit = u64::try_from(timeout).ok().map(Duration::from_millis);
    let real_wait = |limit: Option<Duration>| {
        let millis = crate::patch::sys::millis(limit);
        // SAFETY: the caller's arguments (epoll_wait's contract), with a
        // timeout of ours.
        unsafe { real::epoll_wait(epfd, events, maxevents, millis) }
    };
    park_on_instance(epfd, limit, real_wait)
}

/// See `epoll_pwait(2)`; the signal mask applies to the zero-timeout
/// calls only (see the module docs).
///
/// # Safety
/// As libc's `epoll_pwait`.
#[no_mangle]
pub unsafe extern "C" fn epoll_pwait(
    epfd: c_int,
    events: *mut epoll_event,
    maxevents: c_int,
    timeout: c_int,
    sigmask: *const sigset_t,
) -> c_int {
    if !wait::may_park() {
        // SAFETY: the caller's arguments, unchanged (epoll_pwait's contract).
        return unsafe { real::epoll_pwait(epfd, events, maxevents, timeout, sigmask) };
    }
    let limit = u64::try_from(timeout).ok().map(Duration::from_millis);
    let real_wait = |limit: Option<Duration>| {
        let millis = crate::patch::sys::millis(limit);
        // SAFETY: the caller's arguments (epoll_pwait's contract), with a
        // timeout of ours.
        unsafe { real::epoll_pwait(epfd, events, maxevents, millis, sigmask) }
    };
    park_on_instance(epfd, limit, real_wait)
}

/// See `epoll_pwait2(2)`: as `epoll_pwait`, with a `timespec` timeout.
///
/// # Safety
/// As libc's `epoll_pwait2`.
#[no_mangle]
pub unsafe extern "C" fn epoll_pwait2(
    epfd: c_int,
    events: *mut epoll_event,
    maxevents: c_int,
    timeout: *const timespec,
    sigmask: *const sigset_t,
) -> c_int {
    // SAFETY: epoll_pwait2's contract: `timeout` is null or valid.
    let limit = unsafe { timeout.as_ref() }.map(duration);
    if !wait::may_park() || limit == Some(None) {
        // SAFETY: the caller's arguments, unchanged (epoll_pwait2's contract).
        return unsafe { real::epoll_pwait2(epfd, events, maxevents, timeout, sigmask) };
    }
    let real_wait = |limit: Option<Duration>| {
        let limit = limit.map(timespec_of);
        let limit = limit
            .as_ref()
            .map_or(std::ptr::null(), |limit| limit as *const _);
        // SAFETY: the caller's arguments (epoll_pwait2's contract), with a
        // timeout of ours (null or a valid timespec).
        unsafe { real::epoll_pwait2(epfd, events, maxevents, limit, sigmask) }
    };
    park_on_instance(epfd, limit.flatten(), real_wait)
}

/// The epoll calls' wait in a green thread: `real_wait(limit)` is the real
/// call with a timeout of ours; parks on the epoll instance `epfd` itself
/// (readable when it has events) until it is ready or `limit` passes.
fn park_on_instance(
    epfd: c_int,
    limit: Option<Duration>,
    real_wait: impl Fn(Option<Duration>) -> c_int,
) -> c_int {
    let mut instance = [pollfd {
        fd: epfd,
        events: libc::POLLIN,
        revents: 0,
    }];
    wait::poll(
        &mut instance,
        limit,
        |_| real_wait(Some(Duration::ZERO)),
        |_, remaining| real_wait(remaining),
    )
}
