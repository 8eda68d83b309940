//! Platform calls of the runtime (mmap, madvise, signals): the one place that talks to libc.
//!
//! A backend provides: the page size, anonymous reservations ([`Mapping`]),
//! guard-page installation ([`install_guard`]), an alternate signal stack for
//! the current thread ([`ensure_alt_stack`]), a fault handler installer
//! ([`install_fault_handler`]) and an async-signal-safe write to stderr
//! ([`write_stderr`]). Every call goes through [`syscall!`], which turns `-1`
//! into [`io::Error::last_os_error`]. Linux x86-64 is the tested platform.

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
        // SAFETY: by the type's invariant the range is a mapping we own; no
        // stack inside it is in use any more (the stack pool keeps the
        // mapping alive while any stack carved from it exists).
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
        && syscall!(madvise(addr as *mut libc::c_void, len, MADV_GUARD_INSTALL)).is_ok()
    {
        return Ok(GuardKind::Madvise);
    }
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
    let _ = syscall!(madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED));
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
        // SAFETY: the pointer and length come from a live slice.
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

thread_local! {
    /// An alternate signal stack this module installed for this thread, if
    /// the thread had none; freed when the thread exits.
    static ALT_STACK: std::cell::RefCell<Option<AltStack>> = const { std::cell::RefCell::new(None) };
}

/// An alternate signal stack installed with `sigaltstack`, removed on drop.
struct AltStack {
    mapping: Mapping,
}

impl Drop for AltStack {
    fn drop(&mut self) {
        let disable = libc::stack_t {
            ss_sp: std::ptr::null_mut(),
            ss_flags: libc::SS_DISABLE,
            ss_size: 0,
        };
        // SAFETY: disabling the alternate stack of the current thread before
        // its memory is unmapped; `disable` is a valid stack_t.
        let _ = syscall!(sigaltstack(&disable, std::ptr::null_mut()));
        let _ = &self.mapping;
    }
}

/// Makes sure the current thread has an alternate signal stack, so the fault
/// handler can run when a green thread's stack is exhausted. std installs
/// one on the threads it starts; other threads get one from here.
pub(crate) fn ensure_alt_stack() {
    let mut current = std::mem::MaybeUninit::<libc::stack_t>::zeroed();
    // SAFETY: querying only; `current` is valid for writes.
    if syscall!(sigaltstack(std::ptr::null(), current.as_mut_ptr())).is_err() {
        return;
    }
    // SAFETY: sigaltstack succeeded and filled `current`.
    let current = unsafe { current.assume_init() };
    if current.ss_flags & libc::SS_DISABLE == 0 {
        return;
    }
    let size = (libc::SIGSTKSZ).max(64 * 1024);
    let Ok(mapping) = Mapping::reserve(size) else {
        return;
    };
    let stack = libc::stack_t {
        ss_sp: mapping.start() as *mut libc::c_void,
        ss_flags: 0,
        ss_size: mapping.len(),
    };
    // SAFETY: the mapping stays alive in ALT_STACK until this thread exits,
    // where AltStack's drop disables the alternate stack first.
    if syscall!(sigaltstack(&stack, std::ptr::null_mut())).is_ok() {
        ALT_STACK.with(|slot| *slot.borrow_mut() = Some(AltStack { mapping }));
    }
}

/// Signature of a `SA_SIGINFO` handler.
pub(crate) type FaultHandler = extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);

/// Installs `handler` for SIGSEGV and SIGBUS on the alternate stack and
/// returns the actions it replaced, so the handler can restore them.
pub(crate) fn install_fault_handler(handler: FaultHandler) -> io::Result<[libc::sigaction; 2]> {
    let mut previous = [zeroed_sigaction(), zeroed_sigaction()];
    for (signal, old) in [libc::SIGSEGV, libc::SIGBUS]
        .into_iter()
        .zip(previous.iter_mut())
    {
        let mut action = zeroed_sigaction();
        action.sa_sigaction = handler as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: `action.sa_mask` is a valid sigset_t owned by us.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        // SAFETY: both pointers are valid; the handler is an extern "C" fn
        // with the SA_SIGINFO signature.
        syscall!(sigaction(signal, &action, old))?;
    }
    Ok(previous)
}

/// Re-installs a saved signal action (used from inside the fault handler to
/// hand a fault that is not ours back to whoever handled it before).
pub(crate) fn restore_action(signal: libc::c_int, action: &libc::sigaction) {
    // SAFETY: `action` was filled by a successful sigaction call;
    // sigaction is async-signal-safe.
    let _ = syscall!(sigaction(signal, action, std::ptr::null_mut()));
}

/// The fault address of a SIGSEGV/SIGBUS.
///
/// # Safety
/// `info` must be the siginfo pointer the kernel passed to a SA_SIGINFO handler.
pub(crate) unsafe fn fault_address(info: *const libc::siginfo_t) -> usize {
    // SAFETY: per the function's contract `info` is valid; for SIGSEGV and
    // SIGBUS the kernel fills si_addr.
    unsafe { (*info).si_addr() as usize }
}

fn zeroed_sigaction() -> libc::sigaction {
    // SAFETY: sigaction is a plain C struct for which all-zeroes is valid.
    unsafe { std::mem::zeroed() }
}
