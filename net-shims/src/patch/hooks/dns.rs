//! Name-resolution hooks: `getaddrinfo` and `getnameinfo` run on the hub's offload pool when called in a green thread.
//!
//! glibc's resolver waits in internal calls no hook sees (its own
//! `socket`, `sendmmsg` and a five-second `poll`), so the whole call moves
//! to an offload thread (`moss_runtime::spawn_blocking_foreign`), where
//! the hooks pass through. A kill or an elapsed `moss::timeout` while it
//! runs fails the call with `EAI_SYSTEM` and errno `ECANCELED` or
//! `ETIMEDOUT`; the lookup finishes on its thread and its result is freed
//! there.

use std::ffi::{CStr, CString};
use std::ptr;

use libc::{addrinfo, c_char, c_int, sockaddr, sockaddr_storage, socklen_t};

use crate::patch::sys::{self, real};
use crate::patch::wait;

/// A result list of `getaddrinfo`, freed on drop unless given away.
///
/// # Invariant
/// The pointer is null or the head of a list returned by the original
/// `getaddrinfo`, owned by this value alone.
struct AddrInfoList(*mut addrinfo);

// SAFETY: by the invariant nothing else refers to the list, and
// `freeaddrinfo` may run on any thread.
unsafe impl Send for AddrInfoList {}

impl AddrInfoList {
    fn into_raw(mut self) -> *mut addrinfo {
        std::mem::replace(&mut self.0, ptr::null_mut())
    }
}

impl Drop for AddrInfoList {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: by the invariant, a list from getaddrinfo owned here.
            unsafe { libc::freeaddrinfo(self.0) };
        }
    }
}

/// The fields of a `hints` argument that `getaddrinfo` reads.
#[derive(Clone, Copy)]
struct Hints {
    flags: c_int,
    family: c_int,
    socktype: c_int,
    protocol: c_int,
}

/// Copies a C string argument (null stays null).
///
/// # Safety
/// `s` is null or a valid NUL-terminated string.
unsafe fn owned(s: *const c_char) -> Option<CString> {
    // SAFETY: by this function's contract.
    (!s.is_null()).then(|| unsafe { CStr::from_ptr(s) }.to_owned())
}

fn as_ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(ptr::null(), |s| s.as_ptr())
}

/// Fails a resolver call whose wait was interrupted or whose job panicked.
fn failed(result: Result<std::thread::Result<()>, moss_runtime::park::Interrupt>) -> c_int {
    match result {
        Err(interrupt) => {
            wait::interrupted(interrupt);
        }
        Ok(_) => sys::set_errno(libc::EIO),
    }
    libc::EAI_SYSTEM
}

/// See `getaddrinfo(3)`.
///
/// # Safety
/// As libc's `getaddrinfo`.
#[no_mangle]
pub unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    if !wait::may_park() {
        // SAFETY: the caller's arguments, unchanged.
        return unsafe { real::getaddrinfo(node, service, hints, res) };
    }
    // SAFETY: getaddrinfo's contract: `node` and `service` are null or
    // valid strings, `hints` null or valid.
    let (node, service, hints) = unsafe {
        (
            owned(node),
            owned(service),
            hints.as_ref().map(|hints| Hints {
                flags: hints.ai_flags,
                family: hints.ai_family,
                socktype: hints.ai_socktype,
                protocol: hints.ai_protocol,
            }),
        )
    };
    let lookup = moss_runtime::spawn_blocking_foreign(move || {
        let hints = hints.map(|hints| {
            // SAFETY: addrinfo is plain data; all-zero is its empty value.
            let mut value: addrinfo = unsafe { std::mem::zeroed() };
            value.ai_flags = hints.flags;
            value.ai_family = hints.family;
            value.ai_socktype = hints.socktype;
            value.ai_protocol = hints.protocol;
            value
        });
        let mut list = ptr::null_mut();
        // SAFETY: owned strings and hints that live through the call, and
        // a valid out-pointer.
        let code = unsafe {
            real::getaddrinfo(
                as_ptr(&node),
                as_ptr(&service),
                hints
                    .as_ref()
                    .map_or(ptr::null(), |hints| hints as *const _),
                &mut list,
            )
        };
        (code, sys::errno(), AddrInfoList(list))
    });
    match lookup {
        Ok(Ok((code, errno, list))) => {
            if code == 0 {
                // SAFETY: getaddrinfo's contract: `res` is valid for writes.
                unsafe { *res = list.into_raw() };
            } else if code == libc::EAI_SYSTEM {
                sys::set_errno(errno);
            }
            code
        }
        Ok(Err(_)) => failed(Ok(Ok(()))),
        Err(interrupt) => failed(Err(interrupt)),
    }
}

/// See `getnameinfo(3)`.
///
/// # Safety
/// As libc's `getnameinfo`.
#[no_mangle]
pub unsafe extern "C" fn getnameinfo(
    sa: *const sockaddr,
    salen: socklen_t,
    host: *mut c_char,
    hostlen: socklen_t,
    serv: *mut c_char,
    servlen: socklen_t,
    flags: c_int,
) -> c_int {
    let fits = (salen as usize) <= std::mem::size_of::<sockaddr_storage>();
    if !wait::may_park() || sa.is_null() || !fits {
        // SAFETY: the caller's arguments, unchanged.
        return unsafe { real::getnameinfo(sa, salen, host, hostlen, serv, servlen, flags) };
    }
    // SAFETY: getnameinfo's contract: `sa` points to `salen` readable
    // bytes, which fit a sockaddr_storage (checked above).
    let address = unsafe {
        let mut address: sockaddr_storage = std::mem::zeroed();
        ptr::copy_nonoverlapping(
            sa.cast::<u8>(),
            (&raw mut address).cast::<u8>(),
            salen as usize,
        );
        address
    };
    let want_host = !host.is_null() && hostlen > 0;
    let want_serv = !serv.is_null() && servlen > 0;
    let lookup = moss_runtime::spawn_blocking_foreign(move || {
        let mut host = vec![0 as c_char; if want_host { hostlen as usize } else { 0 }];
        let mut serv = vec![0 as c_char; if want_serv { servlen as usize } else { 0 }];
        let buffer = |buffer: &mut Vec<c_char>| {
            if buffer.is_empty() {
                ptr::null_mut()
            } else {
                buffer.as_mut_ptr()
            }
        };
        // SAFETY: a valid address of `salen` bytes and owned buffers of the
        // lengths passed (null with length 0 when not wanted).
        let code = unsafe {
            real::getnameinfo(
                (&raw const address).cast(),
                salen,
                buffer(&mut host),
                host.len() as socklen_t,
                buffer(&mut serv),
                serv.len() as socklen_t,
                flags,
            )
        };
        (code, sys::errno(), host, serv)
    });
    match lookup {
        Ok(Ok((code, errno, found_host, found_serv))) => {
            if code == 0 {
                // SAFETY: getnameinfo's contract: `host` and `serv` have room
                // for `hostlen` and `servlen` bytes, the lengths of the
                // buffers copied.
                unsafe {
                    if want_host {
                        ptr::copy_nonoverlapping(found_host.as_ptr(), host, found_host.len());
                    }
                    if want_serv {
                        ptr::copy_nonoverlapping(found_serv.as_ptr(), serv, found_serv.len());
                    }
                }
            } else if code == libc::EAI_SYSTEM {
                sys::set_errno(errno);
            }
            code
        }
        Ok(Err(_)) => failed(Ok(Ok(()))),
        Err(interrupt) => failed(Err(interrupt)),
    }
}

/// `NETDB_INTERNAL` of `<netdb.h>`: see errno.
const NETDB_INTERNAL: c_int = -1;

/// The alignment glibc's `gethostbyname_r` may give the parts it places
/// in the caller's buffer (pointer arrays, addresses): a private buffer
/// has the caller's buffer's address modulo this, so that the parts land
/// at the same offsets in both.
const BUFFER_ALIGN: usize = 16;

/// The largest private buffer a lookup gets (glibc's own `gethostbyname`
/// grows its buffer on `ERANGE`; a host with more data than this is not
/// plausible).
const MAX_BUFFER: usize = 1 << 24;

extern "C" {
    /// glibc's `h_errno` of the calling thread.
    fn __h_errno_location() -> *mut c_int;
}

/// What a `gethostbyname*_r` call left in a private buffer, on an
/// offload thread.
///
/// # Invariant
/// `host`'s pointers point into `buffer[start..start + len]` (or to
/// storage that lives as long as the process, or are null); nothing else
/// refers to the buffer.
struct HostLookup {
    code: c_int,
    h_errno: c_int,
    errno: c_int,
    found: bool,
    host: libc::hostent,
    buffer: Vec<u8>,
    start: usize,
    len: usize,
}

// SAFETY: by the invariant the pointers in `host` refer to `buffer`,
// which moves with the value (its heap block does not move), or to
// immutable process-lifetime storage.
unsafe impl Send for HostLookup {}

impl HostLookup {
    /// The address of the private buffer's first byte.
    fn base(&self) -> usize {
        self.buffer.as_ptr() as usize + self.start
    }
}

/// Runs the real `gethostbyname_r` (`family` `None`) or
/// `gethostbyname2_r` for `name` into a private buffer of `len` bytes
/// whose address is `align_like` modulo [`BUFFER_ALIGN`].
fn lookup_r(name: &CStr, family: Option<c_int>, len: usize, align_like: usize) -> HostLookup {
    let mut buffer = vec![0u8; len + BUFFER_ALIGN];
    let start = align_like.wrapping_sub(buffer.as_ptr() as usize) % BUFFER_ALIGN;
    // SAFETY: hostent is plain data; all-zero is its empty value.
    let mut host: libc::hostent = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::hostent = ptr::null_mut();
    let mut h_errno = 0;
    let buf = buffer[start..].as_mut_ptr().cast::<c_char>();
    // SAFETY: a valid name, a hostent to fill, a buffer of `len` bytes
    // (`start + len` is within `buffer`) and valid out-pointers.
    let code = unsafe {
        match family {
            None => real::gethostbyname_r(
                name.as_ptr(),
                &mut host,
                buf,
                len,
                &mut result,
                &mut h_errno,
            ),
            Some(af) => real::gethostbyname2_r(
                name.as_ptr(),
                af,
                &mut host,
                buf,
                len,
                &mut result,
                &mut h_errno,
            ),
        }
    };
    HostLookup {
        code,
        h_errno,
        errno: sys::errno(),
        found: !result.is_null(),
        host,
        buffer,
        start,
        len,
    }
}

/// `gethostbyname_r`/`gethostbyname2_r` in a green thread: the lookup runs
/// on the offload pool into a private buffer of the caller's size, which
/// is then copied into the caller's (a kill or timeout returns at once,
/// and the lookup still running must not write into memory the caller
/// has taken back).
///
/// # Safety
/// As libc's `gethostbyname_r`; `name` is not null.
unsafe fn green_gethostbyname_r(
    name: *const c_char,
    family: Option<c_int>,
    ret: *mut libc::hostent,
    buf: *mut c_char,
    buflen: libc::size_t,
    result: *mut *mut libc::hostent,
    h_errnop: *mut c_int,
) -> c_int {
    // SAFETY: gethostbyname_r's contract: `name` is a valid string.
    let name = unsafe { CStr::from_ptr(name) }.to_owned();
    let align_like = buf as usize;
    // A lookup needs far less; a larger buffer is not copied whole.
    let buflen = buflen.min(MAX_BUFFER);
    let lookup =
        moss_runtime::spawn_blocking_foreign(move || lookup_r(&name, family, buflen, align_like));
    let lookup = match lookup {
        Ok(Ok(lookup)) => lookup,
        failure => {
            let failure = failure.map(|result| result.map(|_| ()));
            // SAFETY: gethostbyname_r's contract: the out-pointers are
            // valid for writes.
            unsafe {
                *result = ptr::null_mut();
                *h_errnop = NETDB_INTERNAL;
            }
            failed(failure);
            return sys::errno();
        }
    };
    let (from, len, to) = (lookup.base(), lookup.len, buf as usize);
    let rebase = |address: usize| {
        if address >= from && address < from + len {
            address - from + to
        } else {
            address
        }
    };
    // SAFETY: gethostbyname_r's contract: `buf` has room for `buflen`
    // (= `len`) bytes, the length of the private buffer copied; then each
    // pointer array the lookup placed in the private buffer is rewritten
    // at the same offset in the caller's, entries pointing into the
    // buffer moved by the same distance (unaligned accesses: the offsets
    // are the private buffer's).
    unsafe {
        ptr::copy_nonoverlapping(from as *const u8, buf.cast::<u8>(), len);
        for array in [
            lookup.host.h_aliases as usize,
            lookup.host.h_addr_list as usize,
        ] {
            if array < from || array >= from + len {
                continue;
            }
            let mut offset = array - from;
            while offset + std::mem::size_of::<usize>() <= len {
                let entry = ptr::read_unaligned((from + offset) as *const usize);
                ptr::write_unaligned((to + offset) as *mut usize, rebase(entry));
                if entry == 0 {
                    break;
                }
                offset += std::mem::size_of::<usize>();
            }
        }
        if lookup.found {
            ret.write(libc::hostent {
                h_name: rebase(lookup.host.h_name as usize) as *mut c_char,
                h_aliases: rebase(lookup.host.h_aliases as usize) as *mut *mut c_char,
                h_addrtype: lookup.host.h_addrtype,
                h_length: lookup.host.h_length,
                h_addr_list: rebase(lookup.host.h_addr_list as usize) as *mut *mut c_char,
            });
            *result = ret;
        } else {
            *result = ptr::null_mut();
        }
        *h_errnop = lookup.h_errno;
    }
    sys::set_errno(lookup.errno);
    lookup.code
}

thread_local! {
    /// The last result of `gethostbyname`/`gethostbyname2` made in a green
    /// thread of this OS thread: the "static storage" those functions
    /// return a pointer to, overwritten by the next call on this thread
    /// (glibc's is overwritten by the next call on any thread).
    static HOST: std::cell::RefCell<Option<(Box<libc::hostent>, HostLookup)>> =
        const { std::cell::RefCell::new(None) };
}

/// `gethostbyname`/`gethostbyname2` in a green thread: the reentrant form
/// runs on the offload pool (growing its buffer as glibc does), and the
/// result is kept in this OS thread's storage ([`HOST`]); `h_errno` is
/// set as glibc sets it.
///
/// # Safety
/// `name` is a valid string.
unsafe fn green_gethostbyname(name: *const c_char, family: Option<c_int>) -> *mut libc::hostent {
    // SAFETY: by this function's contract.
    let name = unsafe { CStr::from_ptr(name) }.to_owned();
    let lookup = moss_runtime::spawn_blocking_foreign(move || {
        let mut len = 1024;
        loop {
            let lookup = lookup_r(&name, family, len, 0);
            if lookup.code != libc::ERANGE || len >= MAX_BUFFER {
                return lookup;
            }
            len *= 2;
        }
    });
    let set_h_errno = |value| {
        // SAFETY: __h_errno_location returns the calling thread's h_errno,
        // valid for the thread's life.
        unsafe { *__h_errno_location() = value };
    };
    let lookup = match lookup {
        Ok(Ok(lookup)) => lookup,
        failure => {
            failed(failure.map(|result| result.map(|_| ())));
            set_h_errno(NETDB_INTERNAL);
            return ptr::null_mut();
        }
    };
    set_h_errno(lookup.h_errno);
    sys::set_errno(lookup.errno);
    if !lookup.found {
        return ptr::null_mut();
    }
    let host = Box::new(lookup.host);
    HOST.with(|slot| {
        let mut slot = slot.borrow_mut();
        let (host, _) = slot.insert((host, lookup));
        &raw mut **host
    })
}

/// See `gethostbyname(3)`.
///
/// # Safety
/// As libc's `gethostbyname`.
#[no_mangle]
pub unsafe extern "C" fn gethostbyname(name: *const c_char) -> *mut libc::hostent {
    if !wait::may_park() || name.is_null() {
        // SAFETY: the caller's argument, unchanged.
        return unsafe { real::gethostbyname(name) };
    }
    // SAFETY: a valid string (gethostbyname's contract), not null.
    unsafe { green_gethostbyname(name, None) }
}

/// See `gethostbyname2(3)`.
///
/// # Safety
/// As libc's `gethostbyname2`.
#[no_mangle]
pub unsafe extern "C" fn gethostbyname2(name: *const c_char, af: c_int) -> *mut libc::hostent {
    if !wait::may_park() || name.is_null() {
        // SAFETY: the caller's arguments, unchanged.
        return unsafe { real::gethostbyname2(name, af) };
    }
    // SAFETY: a valid string (gethostbyname2's contract), not null.
    unsafe { green_gethostbyname(name, Some(af)) }
}

/// See `gethostbyname_r(3)`.
///
/// # Safety
/// As libc's `gethostbyname_r`.
#[no_mangle]
pub unsafe extern "C" fn gethostbyname_r(
    name: *const c_char,
    ret: *mut libc::hostent,
    buf: *mut c_char,
    buflen: libc::size_t,
    result: *mut *mut libc::hostent,
    h_errnop: *mut c_int,
) -> c_int {
    if !wait::may_park() || name.is_null() || buf.is_null() {
        // SAFETY: the caller's arguments, unchanged.
        return unsafe { real::gethostbyname_r(name, ret, buf, buflen, result, h_errnop) };
    }
    // SAFETY: gethostbyname_r's contract, passed on; `name` is not null.
    unsafe { green_gethostbyname_r(name, None, ret, buf, buflen, result, h_errnop) }
}

/// See `gethostbyname2_r(3)`.
///
/// # Safety
/// As libc's `gethostbyname2_r`.
#[no_mangle]
pub unsafe extern "C" fn gethostbyname2_r(
    name: *const c_char,
    af: c_int,
    ret: *mut libc::hostent,
    buf: *mut c_char,
    buflen: libc::size_t,
    result: *mut *mut libc::hostent,
    h_errnop: *mut c_int,
) -> c_int {
    if !wait::may_park() || name.is_null() || buf.is_null() {
        // SAFETY: the caller's arguments, unchanged.
        return unsafe { real::gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop) };
    }
    // SAFETY: gethostbyname2_r's contract, passed on; `name` is not null.
    unsafe { green_gethostbyname_r(name, Some(af), ret, buf, buflen, result, h_errnop) }
}
