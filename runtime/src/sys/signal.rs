//! Signal plumbing for the stack-overflow reporter: alternate signal stacks, the SIGSEGV/SIGBUS handler and chaining to the actions installed before it.
//!
//! The fault handler stays installed for the life of the process. A fault
//! that is not a green thread's overflow goes to the action that was
//! installed before (see [`PreviousActions::forward`]):
//!
//! ```text
//!   fault ──▶ moss's handler ──▶ guard page of the running green thread? ── yes ──▶ report, abort
//!                                   │ no
//!                                   ▼
//!                  previous action: a handler ──▶ called directly, same arguments
//!                                   SIG_DFL   ──▶ SIG_DFL reinstalled; the fault repeats and kills
//!                                   SIG_IGN   ──▶ same as SIG_DFL for a fault; a sent signal is dropped
//! ```
//!
//! This is what sigchain-style libraries do (Android's sigchain,
//! wasmtime's trap handler): a previous handler that recovers from its
//! fault (a JIT, a user's guard-page scheme) keeps working and moss keeps
//! reporting overflows.

use std::cell::RefCell;
use std::io;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};

use super::Mapping;

thread_local! {
    /// An alternate signal stack this module installed for this thread, if
    /// the thread had none; freed when the thread exits.
    static ALT_STACK: RefCell<Option<AltStack>> = const { RefCell::new(None) };
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
        // SAFETY: `disable` is a valid stack_t that outlives the call and the
        // old-stack pointer is null; this disables the current thread's
        // alternate stack before its memory (`self.mapping`) is unmapped.
        let _ = syscall!(sigaltstack(&disable, std::ptr::null_mut()));
        let _ = &self.mapping;
    }
}

/// Makes sure the current thread has an alternate signal stack, so the fault
/// handler can run when a green thread's stack is exhausted. std installs
/// one on the threads it starts; other threads get one from here.
pub(crate) fn ensure_alt_stack() {
    let mut current = MaybeUninit::<libc::stack_t>::zeroed();
    // SAFETY: querying only: the new-stack pointer is null and `current` is
    // valid for writes of one stack_t.
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
    // SAFETY: `stack` describes exactly the read-write mapping just
    // reserved; the mapping stays alive in ALT_STACK until this thread
    // exits, where AltStack's drop disables the alternate stack first.
    if syscall!(sigaltstack(&stack, std::ptr::null_mut())).is_ok() {
        ALT_STACK.with(|slot| *slot.borrow_mut() = Some(AltStack { mapping }));
    }
}

/// Signature of a `SA_SIGINFO` handler.
pub(crate) type FaultHandler = extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);

/// Signature of a handler installed without `SA_SIGINFO`.
type PlainHandler = extern "C" fn(libc::c_int);

/// The signals the fault handler is installed for, in the order
/// [`PreviousActions`] keeps their previous actions.
const FAULT_SIGNALS: [libc::c_int; 2] = [libc::SIGSEGV, libc::SIGBUS];

/// Installs `handler` for SIGSEGV and SIGBUS on the alternate stack and
/// returns the actions it replaced, for the handler to pass other faults to.
///
/// On error nothing stays installed: an action already replaced is put
/// back.
pub(crate) fn install_fault_handler(handler: FaultHandler) -> io::Result<PreviousActions> {
    let mut action = zeroed_sigaction();
    action.sa_sigaction = handler as libc::sighandler_t;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    // SAFETY: `action.sa_mask` is a valid sigset_t we own.
    syscall!(sigemptyset(&mut action.sa_mask))?;
    let mut previous = PreviousActions::default();
    for (index, signal) in FAULT_SIGNALS.into_iter().enumerate() {
        // SAFETY: `action` is a valid sigaction whose handler is an extern
        // "C" fn with the SA_SIGINFO signature; `previous.0[index].action`
        // is valid for writes of one sigaction.
        let installed = syscall!(sigaction(signal, &action, &mut previous.0[index].action));
        if let Err(err) = installed {
            for (signal, old) in FAULT_SIGNALS.into_iter().zip(&previous.0).take(index) {
                // SAFETY: `old.action` was filled by a successful sigaction
                // call for this signal; the old-action pointer is null.
                let _ = syscall!(sigaction(signal, &old.action, std::ptr::null_mut()));
            }
            return Err(err);
        }
    }
    Ok(previous)
}

/// A SIGSEGV or SIGBUS being handled: the arguments the kernel passed to a
/// `SA_SIGINFO` handler.
///
/// # Invariant
/// `info` and `context` are the pointers the kernel passed to the handler
/// that is running on this thread for `signal`, and the value is dropped
/// before that handler returns.
pub(crate) struct Fault {
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
}

impl Fault {
    /// Wraps a fault handler's arguments.
    ///
    /// # Safety
    /// Call only from a `SA_SIGINFO` handler for SIGSEGV or SIGBUS, with the
    /// arguments the kernel passed to it, and drop the value before that
    /// handler returns.
    pub(crate) unsafe fn new(
        signal: libc::c_int,
        info: *mut libc::siginfo_t,
        context: *mut libc::c_void,
    ) -> Fault {
        Fault {
            signal,
            info,
            context,
        }
    }

    /// Whether the kernel raised the signal for a faulting access. Linux
    /// gives those a positive `si_code`; a signal sent with `kill`, `raise`
    /// or `sigqueue` has `si_code <= 0` and no fault address.
    fn is_synchronous(&self) -> bool {
        // SAFETY: by the type's invariant `info` points to the live siginfo
        // the kernel filled for this signal; si_code is always set.
        unsafe { (*self.info).si_code > 0 }
    }

    /// The faulting address, for a fault the kernel raised; `None` for a
    /// signal sent by a process.
    pub(crate) fn address(&self) -> Option<usize> {
        if !self.is_synchronous() {
            return None;
        }
        // SAFETY: by the type's invariant `info` points to the live siginfo
        // the kernel filled; for a kernel-raised SIGSEGV or SIGBUS it sets
        // si_addr.
        Some(unsafe { (*self.info).si_addr() } as usize)
    }
}

/// The SIGSEGV and SIGBUS actions that were installed before the fault
/// handler, in the order of [`FAULT_SIGNALS`].
#[derive(Default)]
pub(crate) struct PreviousActions([PreviousAction; 2]);

impl PreviousActions {
    /// Passes a fault that is not moss's own to the action that was
    /// installed before for its signal, as the kernel would have:
    ///
    /// - a handler function is called with the same arguments (`SA_SIGINFO`:
    ///   `sa_sigaction(signal, info, context)`; otherwise
    ///   `sa_handler(signal)`), with its `sa_mask` blocked as well (the kernel
    ///   restores the interrupted mask when moss's handler returns). If it
    ///   returns, so does moss's handler, and the faulting access is retried.
    ///   `SA_RESETHAND` is honoured: the second fault gets `SIG_DFL`.
    /// - `SIG_DFL` is reinstalled (moss's handler is gone from then on) and
    ///   the handler returns: the fault repeats and the default action kills
    ///   the process. A sent signal, which would not repeat, is raised again.
    /// - `SIG_IGN`: a fault is treated as `SIG_DFL`, since ignoring it would
    ///   re-run the faulting access forever (Linux does the same for an
    ///   ignored fault); a sent signal is dropped.
    ///
    /// The trade-off of calling the previous handler from ours, shared with
    /// sigchain-style libraries: it runs on moss's alternate signal stack
    /// even if it was installed without `SA_ONSTACK` (a handler that needs
    /// a large stack, or looks at which stack it runs on, sees the
    /// difference), and its `sa_mask` is blocked on top of what the kernel
    /// blocked for moss's handler. A handler installed after moss's is not
    /// intercepted (Android's sigchain wraps `sigaction` for that; moss does
    /// not): it sees faults first, and moss's handler only if it chains.
    pub(crate) fn forward(&self, fault: &Fault) {
        let index = usize::from(fault.signal != FAULT_SIGNALS[0]);
        self.0[index].forward(fault);
    }
}

/// One saved action and, for a `SA_RESETHAND` one, whether it has fired.
struct PreviousAction {
    action: libc::sigaction,
    fired: AtomicBool,
}

impl Default for PreviousAction {
    /// `SIG_DFL` with an empty mask.
    fn default() -> Self {
        PreviousAction {
            action: zeroed_sigaction(),
            fired: AtomicBool::new(false),
        }
    }
}

impl PreviousAction {
    /// See [`PreviousActions::forward`]. Async-signal-safe: no allocation,
    /// no lock.
    fn forward(&self, fault: &Fault) {
        let flags = self.action.sa_flags;
        let mut handler = self.action.sa_sigaction;
        if flags & libc::SA_RESETHAND != 0 && self.fired.swap(true, Ordering::Relaxed) {
            handler = libc::SIG_DFL;
        }
        match handler {
            libc::SIG_DFL => {
                set_default(fault.signal);
                if !fault.is_synchronous() {
                    // The signal is blocked while its handler runs: it stays
                    // pending and kills once the handler returns.
                    // SAFETY: raise has no memory-safety preconditions and
                    // is async-signal-safe.
                    let _ = syscall!(raise(fault.signal));
                }
            }
            libc::SIG_IGN => {
                if fault.is_synchronous() {
                    set_default(fault.signal);
                }
            }
            handler => {
                self.block_mask(fault.signal);
                // No value with a destructor is live in this frame or in the
                // callers up to the signal frame (`PreviousActions::forward`,
                // the overflow handler), so a handler that leaves with
                // siglongjmp, as recovering handlers often do, skips no drop.
                if flags & libc::SA_SIGINFO != 0 {
                    // SAFETY: `handler` is neither SIG_DFL nor SIG_IGN, so it
                    // is the address of the function someone installed with
                    // SA_SIGINFO, which the kernel would call with this
                    // signature; sigaction handed it back unchanged.
                    let handler = unsafe { std::mem::transmute::<usize, FaultHandler>(handler) };
                    handler(fault.signal, fault.info, fault.context);
                } else {
                    // SAFETY: as above, for a handler installed without
                    // SA_SIGINFO, which takes the signal number only.
                    let handler = unsafe { std::mem::transmute::<usize, PlainHandler>(handler) };
                    handler(fault.signal);
                }
            }
        }
    }

    /// Blocks what the kernel would have blocked for this action: its
    /// `sa_mask`, and the signal itself unless `SA_NODEFER` (the kernel
    /// already blocked it for moss's handler, so `SA_NODEFER` unblocks it).
    fn block_mask(&self, signal: libc::c_int) {
        let mask = &self.action.sa_mask;
        // SAFETY: `mask` is a valid sigset_t filled by sigaction, only read;
        // the old-mask pointer is null. pthread_sigmask is async-signal-safe.
        // It can only fail for an invalid `how`, so its result is ignored.
        let _ = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, mask, std::ptr::null_mut()) };
        if self.action.sa_flags & libc::SA_NODEFER == 0 {
            return;
        }
        // SAFETY: `mask` is a valid sigset_t, only read.
        if !matches!(syscall!(sigismember(mask, signal)), Ok(0)) {
            return;
        }
        let mut only = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: `only` is valid for writes of one sigset_t.
        if syscall!(sigemptyset(only.as_mut_ptr())).is_err() {
            return;
        }
        // SAFETY: sigemptyset initialized `only`; `signal` is SIGSEGV or
        // SIGBUS, a valid signal number.
        if syscall!(sigaddset(only.as_mut_ptr(), signal)).is_err() {
            return;
        }
        // SAFETY: `only` was initialized above and is only read; the
        // old-mask pointer is null.
        let _ = unsafe {
            libc::pthread_sigmask(libc::SIG_UNBLOCK, only.as_ptr(), std::ptr::null_mut())
        };
    }
}

/// Reinstalls the default action for `signal` (async-signal-safe).
fn set_default(signal: libc::c_int) {
    let action = zeroed_sigaction();
    // SAFETY: `action` is a valid sigaction (SIG_DFL, empty mask, no
    // flags) that outlives the call; the old-action pointer is null.
    let _ = syscall!(sigaction(signal, &action, std::ptr::null_mut()));
}

fn zeroed_sigaction() -> libc::sigaction {
    // SAFETY: sigaction is a plain C struct for which all-zeroes is valid:
    // SIG_DFL, no flags, an empty mask.
    unsafe { std::mem::zeroed() }
}
