//! Platform calls of the runtime (mmap, madvise, signals): the one place that talks to libc.
//!
//! A backend provides: the page size, anonymous reservations ([`Mapping`]),
//! guard-page installation ([`install_guard`]), an alternate signal stack for
//! the current thread ([`ensure_alt_stack`]), a fault handler installer
//! ([`install_fault_handler`]) that hands the faults it does not claim to
//! the actions installed before it ([`PreviousActions::forward`], see
//! [`signal`]) and an async-signal-safe write to stderr ([`write_stderr`]).
//! Every call that reports failure as `-1` goes through `syscall!`, which
//! turns that into [`io::Error::last_os_error`]; each call site, like each
//! `unsafe` block, says why it is sound in its own `// SAFETY:` comment.
//! Linux x86-64 is the tested platform.

use std::io;
use std::ptr::NonNull;
use std::sync::OnceLock;

/// Calls a libc function and turns a `-1` return into the last OS error.
macro_rules! syscall {
    ($fn: ident ( $($arg: expr),* $(,)? ) ) => {{
        // SAFETY: the caller of the macro upholds the libc function's contract;
        // each call site states it.
        let res = unsafe { libc::$fn($($arg, )*) };
        if res == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

mod signal;

pub(crate) use signal::{ensure_alt_stack, install_fault_handler, Fault, PreviousActions};

/// `madvise(MADV_GUARD_INSTALL)`: Linux ≥ 6.13 turns a range into guard
/// regions without splitting the mapping. Not yet in the `libc` crate.
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// The system page size, read once.
pub(crate) fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf has no memory-safety preconditions.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if size <= 0 {
            4096
        } else {
            size as usize
        }
    })
}

/// An owned anonymous, private, read-write mapping, unmapped on drop.
///
/// # Invariant
/// `ptr..ptr + len` is a live mapping created by [`Mapping::reserve`] and
/// owned by this value alone.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    /// Reserves `len` bytes (a multiple of the page size) of lazily committed
    /// memory for stacks: `MAP_NORESERVE` so untouched pages cost nothing,
    /// `MAP_STACK` and `MADV_NOHUGEPAGE` so one touched page stays one page.
    pub(crate) fn reserve(len: usize) -> io::Result<Mapping> {
        // SAFETY: an anonymous mapping at an address of the kernel's choice
        // cannot alias any existing Rust object.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        // Transparent huge pages would back several stacks' first pages with
        // one 2 MiB page; refuse them. Failure only costs memory, so ignore it.
        // SAFETY: `ptr..ptr + len` is the mapping just created and owned
        // here; MADV_NOHUGEPAGE changes how it is backed, not its contents.
        let _ = syscall!(madvise(ptr.as_ptr().cast(), len, libc::MADV_NOHUGEPAGE));
        Ok(Mapping { ptr, len })
    }

    /// The first byte of the mapping.
    pub(crate) fn start(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// The mapping's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: by the type's invariant the range is a live mapping owned
        // by this value alone, unmapped once; no stack inside it is in use
        // any more (the stack pool keeps the mapping alive while any stack
        // carved from it exists).
        let _ = syscall!(munmap(self.ptr.as_ptr().cast(), self.len));
    }
}

/// How guard pages are installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuardKind {
    /// `madvise(MADV_GUARD_INSTALL)`: no extra memory mapping per guard.
    Madvise,
    /// `mprotect(PROT_NONE)`: each guard splits the mapping (2 VMAs a stack).
    Mprotect,
}

/// Makes `[addr, addr + len)` a guard region: any access faults.
///
/// Tries `MADV_GUARD_INSTALL` first and falls back to `mprotect`; returns
/// which one worked.
///
/// # Safety
/// The range must be page aligned, inside a mapping owned by the caller, and
/// hold no live Rust object.
pub(crate) unsafe fn install_guard(
    addr: usize,
    len: usize,
    prefer: GuardKind,
) -> io::Result<GuardKind> {
    if prefer == GuardKind::Madvise
        // SAFETY: by the function's contract the range is page aligned,
        // inside a mapping the caller owns and holds no live Rust object, so
        // making it fault on access invalidates nothing.
        && syscall!(madvise(addr as *mut libc::c_void, len, MADV_GUARD_INSTALL)).is_ok()
    {
        return Ok(GuardKind::Madvise);
    }
    // SAFETY: as for the madvise above: an owned, page-aligned range
    // holding no live Rust object.
    syscall!(mprotect(addr as *mut libc::c_void, len, libc::PROT_NONE))?;
    Ok(GuardKind::Mprotect)
}

/// Releases the physical pages of `[addr, addr + len)`; the range stays
/// mapped and reads back as zeroes. Guard regions installed with
/// `MADV_GUARD_INSTALL` survive it.
///
/// # Safety
/// The range must be page aligned, inside a mapping owned by the caller, and
/// hold no live Rust object.
pub(crate) unsafe fn discard(addr: usize, len: usize) {
    // SAFETY: by the function's contract the range is page aligned, inside
    // a mapping the caller owns and holds no live Rust object, so zeroing
    // its pages invalidates nothing.
    let _ = syscall!(madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED));
}

/// `PIDFD_SELF`: the calling process, for `process_madvise` (Linux ≥ 6.14
/// takes any advice for it). Not yet in the `libc` crate.
const PIDFD_SELF: libc::c_int = -10000;

/// Ranges `process_madvise` takes in one call (`UIO_MAXIOV`).
const ADVISE_BATCH: usize = 1024;

/// Applies `advice` to every `(addr, len)` range: one system call per
/// [`ADVISE_BATCH`] ranges where the kernel takes them together
/// (`process_madvise` on `PIDFD_SELF`), else one `madvise` each; the
/// first error, after trying every range.
///
/// # Safety
/// As for the advice's single-range form: every range page aligned, inside
/// a mapping owned by the caller, holding no live Rust object.
unsafe fn advise_many(ranges: &[(usize, usize)], advice: libc::c_int) -> io::Result<()> {
    let mut error = None;
    for chunk in ranges.chunks(ADVISE_BATCH) {
        let iov: Vec<libc::iovec> = chunk
            .iter()
            .map(|&(addr, len)| libc::iovec {
                iov_base: addr as *mut libc::c_void,
                iov_len: len,
            })
            .collect();
        let total: usize = chunk.iter().map(|&(_, len)| len).sum();
        // SAFETY: `iov` is a valid array of `iov.len()` iovecs naming the
        // caller's ranges, which by the function's contract may take the
        // advice; PIDFD_SELF names this process.
        let done = unsafe {
            libc::syscall(
                libc::SYS_process_madvise,
                PIDFD_SELF,
                iov.as_ptr(),
                iov.len(),
                advice,
                0,
            )
        };
        if done >= 0 && done as usize == total {
            continue;
        }
        // Not taken together (an older kernel), or in part: each range on
        // its own (advising a range twice is harmless for these advices).
        for &(addr, len) in chunk {
            // SAFETY: by the function's contract.
            if let Err(e) = syscall!(madvise(addr as *mut libc::c_void, len, advice)) {
                error.get_or_insert(e);
            }
        }
    }
    error.map_or(Ok(()), Err)
}

/// Makes each `(addr, len)` range a guard region with
/// `MADV_GUARD_INSTALL`, in as few system calls as the kernel allows.
///
/// # Safety
/// As for [`install_guard`], for every range.
pub(crate) unsafe fn install_guards(ranges: &[(usize, usize)]) -> io::Result<()> {
    // SAFETY: forwarded from the caller.
    unsafe { advise_many(ranges, MADV_GUARD_INSTALL) }
}

/// [`discard`] for many ranges, in as few system calls (and TLB flushes)
/// as the kernel allows.
///
/// # Safety
/// As for [`discard`], for every range.
pub(crate) unsafe fn discard_many(ranges: &[(usize, usize)]) {
    // SAFETY: forwarded from the caller.
    let _ = unsafe { advise_many(ranges, libc::MADV_DONTNEED) };
}

/// Gives the allocator's free memory back to the kernel where it can
/// (glibc keeps freed heap in its arenas: after a burst of connections,
/// most of it). A no-op on other C libraries.
pub(crate) fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim takes no pointers and is thread-safe; it only
    // returns free memory of the allocator's arenas to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// `vm.max_map_count`, or the kernel default when it cannot be read.
pub(crate) fn max_map_count() -> usize {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65530)
}

/// The number of memory mappings this process has now.
pub(crate) fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// Writes `bytes` to stderr with a raw `write(2)` loop. Async-signal-safe:
/// no allocation, no lock, no Rust I/O machinery.
pub(crate) fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length come from a live slice, only read.
        // fd 2 is not owned here: write neither closes nor keeps it, and a
        // closed descriptor only makes the call fail.
        let n = unsafe { libc::syscall(libc::SYS_write, 2, bytes.as_ptr(), bytes.len()) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// Aborts the process without running any Rust code (signal-safe).
pub(crate) fn abort() -> ! {
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}
