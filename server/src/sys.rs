//! The server's platform calls, the only unsafe code of `moss-server`: fork, wait, signals to processes, shared memory, identities.
//!
//! Every libc call goes through [`cvt`], which turns `-1` into
//! `io::Error::last_os_error()`. Descriptors become `OwnedFd` or std types
//! the moment they exist.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::AtomicU64;

/// A process id.
pub(crate) type Pid = libc::pid_t;

/// Turns a libc `-1` into the OS error.
fn cvt<T: PartialEq + From<i8>>(result: T) -> io::Result<T> {
    match result == T::from(-1) {
        true => Err(io::Error::last_os_error()),
        false => Ok(result),
    }
}

/// Which side of a [`fork`] the caller is on.
pub(crate) enum Forked {
    /// The parent, with the child's pid.
    Parent(Pid),
    /// The child.
    Child,
}

/// Forks the process, which must have one thread (the master never starts
/// one): after `fork` the child has only the calling thread, and a lock
/// another thread held at that moment would stay locked forever in it.
/// Refused with an error when the process has other threads.
pub(crate) fn fork() -> io::Result<Forked> {
    // A thread that has just been joined may still be counted a moment.
    let mut threads = thread_count()?;
    for _ in 0..50 {
        if threads == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
        threads = thread_count()?;
    }
    if threads != 1 {
        return Err(io::Error::other(format!(
            "cannot fork workers from a process with {threads} threads \
             (a preloaded application must not start threads)"
        )));
    }
    // SAFETY: the process has one thread (checked above; only this thread
    // could start another, and it is here), so no other thread's state
    // (locks, allocator arenas) can be inherited half-changed.
    match cvt(unsafe { libc::fork() })? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// The number of threads of this process (`/proc/self/stat`, field 20).
fn thread_count() -> io::Result<usize> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after_name = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    after_name
        .split_whitespace()
        .nth(17)
        .and_then(|field| field.parse().ok())
        .ok_or_else(|| io::Error::other("cannot read the thread count from /proc/self/stat"))
}

/// Reaps one child that has exited, without waiting: its pid and status.
pub(crate) fn reap_child() -> io::Result<Option<(Pid, ExitStatus)>> {
    let mut status = 0;
    // SAFETY: `status` is a valid place for waitpid to write; -1 asks for
    // any child, WNOHANG not to wait.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    match pid {
        0 => Ok(None),
        -1 => match io::Error::last_os_error() {
            e if e.raw_os_error() == Some(libc::ECHILD) => Ok(None),
            e => Err(e),
        },
        pid => Ok(Some((pid, ExitStatus::from_raw(status)))),
    }
}

/// Sends `signal` to process `pid`.
pub(crate) fn kill(pid: Pid, signal: i32) -> io::Result<()> {
    // SAFETY: kill takes plain integers; a stale pid fails with ESRCH.
    cvt(unsafe { libc::kill(pid, signal) }).map(drop)
}

/// The process's id.
pub(crate) fn getpid() -> Pid {
    std::process::id() as Pid
}

/// The parent process's id (to notice that the master has gone).
pub(crate) fn getppid() -> Pid {
    // SAFETY: getppid cannot fail and takes no arguments.
    unsafe { libc::getppid() }
}

/// Asks the kernel to send `signal` to this process when its parent dies.
pub(crate) fn die_with_parent(signal: i32) -> io::Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes the signal number as its argument.
    cvt(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) }).map(drop)
}

/// Ends the process at once with `code`, running no exit handlers: what a
/// forked child does, so that nothing inherited from the parent runs twice.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and takes a plain integer.
    unsafe { libc::_exit(code) }
}

/// `count` zeroed atomics in memory shared with every process forked
/// after this call (`MAP_SHARED | MAP_ANONYMOUS`), mapped for the rest of
/// the process's life.
pub(crate) fn shared_atomics(count: usize) -> io::Result<&'static [AtomicU64]> {
    let len = count
        .max(1)
        .checked_mul(std::mem::size_of::<AtomicU64>())
        .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
    // SAFETY: an anonymous mapping at an address the kernel chooses
    // touches no existing memory.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the mapping is `len` bytes, page-aligned (so aligned for
    // AtomicU64), zero-filled (a valid AtomicU64 is any bit pattern), and
    // never unmapped, so the slice may live for 'static. Other processes
    // write to it only through atomics, as this one does.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<AtomicU64>(), count) })
}

/// Sets or clears `FD_CLOEXEC` on `fd` (cleared: the descriptor survives
/// an `exec`, to hand listeners to a new binary).
pub(crate) fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor number; a bad one fails with EBADF.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    let flags = match on {
        true => flags | libc::FD_CLOEXEC,
        false => flags & !libc::FD_CLOEXEC,
    };
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, flags) }).map(drop)
}

/// Sets the process's umask, returning the previous one.
pub(crate) fn umask(mask: u32) -> u32 {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}

/// A user as `--user` names it: id, primary group and name (from the
/// password database; a number not in it has neither).
pub(crate) struct User {
    pub(crate) uid: libc::uid_t,
    pub(crate) primary_gid: Option<libc::gid_t>,
    name: Option<CString>,
}

/// Looks up a user by name or number.
pub(crate) fn user(user: &str) -> io::Result<User> {
    let numeric: Option<libc::uid_t> = user.parse().ok();
    let name = match numeric {
        Some(_) => None,
        None => Some(CString::new(user).map_err(|_| invalid("user name with a NUL byte"))?),
    };
    let mut entry: libc::passwd = zeroed_passwd();
    let mut found = std::ptr::null_mut();
    let code = with_growing_buffer(|buffer| match (&name, numeric) {
        // SAFETY: every pointer is valid for the call; getpw*_r writes the
        // entry's strings into `buffer`, of the length given.
        (Some(name), _) => unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                &mut entry,
                buffer.as_mut_ptr(),
                buffer.len(),
                &mut found,
            )
        },
        // SAFETY: as above.
        (None, Some(uid)) => unsafe {
            libc::getpwuid_r(
                uid,
                &mut entry,
                buffer.as_mut_ptr(),
                buffer.len(),
                &mut found,
            )
        },
        (None, None) => unreachable!("a user is a name or a number"),
    });
    match (code, found.is_null(), numeric) {
        (0, false, _) => Ok(User {
            uid: entry.pw_uid,
            primary_gid: Some(entry.pw_gid),
            // SAFETY: on success pw_name points to a NUL-terminated string
            // in the buffer, which is gone after the call: copied now.
            name: Some(unsafe { std::ffi::CStr::from_ptr(entry.pw_name) }.to_owned()),
        }),
        (0, true, Some(uid)) => Ok(User {
            uid,
            primary_gid: None,
            name: None,
        }),
        (0, true, None) => Err(invalid(&format!("no user named {user:?}"))),
        (code, _, _) => Err(io::Error::from_raw_os_error(code)),
    }
}

/// The group id for a group name or number.
pub(crate) fn group_id(group: &str) -> io::Result<libc::gid_t> {
    if let Ok(id) = group.parse() {
        return Ok(id);
    }
    let name = CString::new(group).map_err(|_| invalid("group name with a NUL byte"))?;
    // SAFETY: all-zero is a valid `group` (null pointers, zero ids).
    let mut entry: libc::group = unsafe { std::mem::zeroed() };
    let mut found = std::ptr::null_mut();
    let code = with_growing_buffer(|buffer| {
        // SAFETY: as for getpwnam_r in `user`.
        unsafe {
            libc::getgrnam_r(
                name.as_ptr(),
                &mut entry,
                buffer.as_mut_ptr(),
                buffer.len(),
                &mut found,
            )
        }
    });
    match (code, found.is_null()) {
        (0, false) => Ok(entry.gr_gid),
        (0, true) => Err(invalid(&format!("no group named {group:?}"))),
        (code, _) => Err(io::Error::from_raw_os_error(code)),
    }
}

/// Runs a `get*_r` lookup `call` with a scratch buffer, again with one
/// twice as large while it answers `ERANGE` (a group with many members
/// needs more than any fixed size), up to 16 MiB; its last answer.
fn with_growing_buffer(mut call: impl FnMut(&mut [libc::c_char]) -> libc::c_int) -> libc::c_int {
    const LIMIT: usize = 16 << 20;
    let mut size = 16 * 1024;
    loop {
        let mut buffer = vec![0 as libc::c_char; size];
        let code = call(&mut buffer);
        if code != libc::ERANGE || size >= LIMIT {
            return code;
        }
        size *= 2;
    }
}

fn zeroed_passwd() -> libc::passwd {
    // SAFETY: all-zero is a valid `passwd` (null pointers, zero ids).
    unsafe { std::mem::zeroed() }
}

/// Switches the process to `user` and `group` (group first: without root
/// a process can no longer change its group). With a user and no group,
/// the user's primary group; the supplementary groups become the user's
/// (`initgroups`), or just the group, never root's.
pub(crate) fn drop_privileges(user: Option<&User>, group: Option<libc::gid_t>) -> io::Result<()> {
    let gid = group.or(user.and_then(|user| user.primary_gid));
    if let Some(gid) = gid {
        match user.and_then(|user| user.name.as_ref()) {
            // SAFETY: a valid C string and a plain gid.
            Some(name) => cvt(unsafe { libc::initgroups(name.as_ptr(), gid) })?,
            // SAFETY: one valid gid.
            None => cvt(unsafe { libc::setgroups(1, &gid) })?,
        };
        // SAFETY: setgid takes a plain value.
        cvt(unsafe { libc::setgid(gid) })?;
    }
    if let Some(user) = user {
        // SAFETY: setuid takes a plain value.
        cvt(unsafe { libc::setuid(user.uid) })?;
    }
    Ok(())
}

/// Changes the owner of a file (a Unix socket the workers must accept on
/// after dropping privileges).
pub(crate) fn chown(
    path: &std::path::Path,
    uid: Option<libc::uid_t>,
    gid: Option<libc::gid_t>,
) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let path =
        CString::new(path.as_os_str().as_bytes()).map_err(|_| invalid("path with a NUL byte"))?;
    let uid = uid.unwrap_or(libc::uid_t::MAX);
    let gid = gid.unwrap_or(libc::gid_t::MAX);
    // SAFETY: a valid C string; -1 (MAX) leaves an id unchanged.
    cvt(unsafe { libc::chown(path.as_ptr(), uid, gid) }).map(drop)
}

/// Takes ownership of descriptor `fd`, handed down to this process,
/// after checking that it is an open stream socket (an inherited number
/// may be anything: the check keeps a wrong one from being owned, and
/// closed, by mistake).
pub(crate) fn own_stream_socket(fd: RawFd) -> io::Result<OwnedFd> {
    let mut kind: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the option value is a valid c_int of the size given; a bad
    // descriptor fails with EBADF, a non-socket with ENOTSOCK.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut kind as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    if kind != libc::SOCK_STREAM {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a stream socket",
        ));
    }
    // SAFETY: `fd` is an open socket (getsockopt succeeded) that was handed
    // to this process to own; nothing else in the process owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.to_owned())
}

/// Waits up to `timeout` for one of `fds` to become readable; the index of
/// one that is, if any ([`poll_ready`] for reads only).
pub(crate) fn wait_readable(
    fds: &[RawFd],
    timeout: std::time::Duration,
) -> io::Result<Option<usize>> {
    let reads: Vec<(RawFd, bool)> = fds.iter().map(|&fd| (fd, false)).collect();
    Ok(poll_ready(&reads, timeout)?.iter().position(|&ready| ready))
}

/// The process's effective user id.
pub(crate) fn geteuid() -> libc::uid_t {
    // SAFETY: geteuid cannot fail and takes no arguments.
    unsafe { libc::geteuid() }
}

/// The user id of the process at the other end of Unix socket `fd`
/// (`SO_PEERCRED`, as it was when that process connected).
pub(crate) fn peer_uid(fd: RawFd) -> io::Result<libc::uid_t> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: libc::uid_t::MAX,
        gid: libc::gid_t::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: the option value is a valid `ucred` of the size given; a bad
    // descriptor fails with EBADF, a socket of another family with an error.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    })?;
    if len as usize != std::mem::size_of::<libc::ucred>() {
        return Err(io::Error::other("SO_PEERCRED: short answer"));
    }
    Ok(cred.uid)
}

/// Waits up to `timeout` until one of `fds` is ready: readable, or
/// writable for those paired with `true`; which are (an error or hang-up
/// counts as ready, for the read or write to report it).
pub(crate) fn poll_ready(
    fds: &[(RawFd, bool)],
    timeout: std::time::Duration,
) -> io::Result<Vec<bool>> {
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .map(|&(fd, write)| libc::pollfd {
            fd,
            events: if write { libc::POLLOUT } else { libc::POLLIN },
            revents: 0,
        })
        .collect();
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `polled` is a valid array of `polled.len()` pollfds.
    let ready = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, millis) };
    if ready == -1 {
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    Ok(polled.iter().map(|p| ready > 0 && p.revents != 0).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_buffers_grow_on_erange() {
        let mut sizes = Vec::new();
        let code = with_growing_buffer(|buffer| {
            sizes.push(buffer.len());
            if buffer.len() < 100_000 {
                libc::ERANGE
            } else {
                0
            }
        });
        assert_eq!(code, 0);
        assert_eq!(sizes, [16384, 32768, 65536, 131072]);
        let mut calls = 0;
        assert_eq!(
            with_growing_buffer(|_| {
                calls += 1;
                libc::ERANGE
            }),
            libc::ERANGE
        );
        assert_eq!(calls, 11);
    }

    #[test]
    fn root_and_its_group_are_found() {
        assert_eq!(user("root").unwrap().uid, 0);
        assert_eq!(user("root").unwrap().primary_gid, Some(0));
        assert_eq!(user("0").unwrap().uid, 0);
        assert_eq!(group_id("root").unwrap(), 0);
        assert!(user("no-such-user-moss").is_err());
    }
}
