//! Signal-disposition hooks: `sigaction`, `signal`, `bsd_signal`, `sysv_signal`, `__sysv_signal`: every handler runs marked as a signal handler, so that the hooks it calls pass straight through.
//!
//! A handler the program installs (a function, not `SIG_DFL` or
//! `SIG_IGN`) is kept in [`HANDLERS`] and the kernel gets [`trampoline`]
//! instead, always with `SA_SIGINFO`; the rest of the action (mask,
//! `SA_RESTART`, `SA_ONSTACK`, `SA_RESETHAND`, `SA_NODEFER`) is the
//! program's. The trampoline counts the handler in the thread's state
//! (`wait::enter_signal_handler`), calls the program's handler with one
//! or three arguments as it asked, and restores `errno`. Reading an
//! action back reports the program's handler and flags, never the
//! trampoline.
//!
//! Not covered: a handler left by `siglongjmp` (or `longjmp`) never
//! returns through the trampoline, so its thread stays marked and its
//! hooked calls pass through from then on (they block instead of
//! parking; nothing is unsound). Handlers installed with a raw
//! `rt_sigaction` system call, or by glibc for itself, are not wrapped.

use std::sync::atomic::{AtomicUsize, Ordering};

use libc::{c_int, c_void, sighandler_t, siginfo_t};

use crate::patch::sys::{self, real};
use crate::patch::wait;

/// Signal numbers are below this (Linux's `_NSIG`).
const SIGNALS: usize = 65;

/// The program's handler of each signal, as `address << 1 | siginfo`
/// (`siginfo`: it takes three arguments, `SA_SIGINFO`); 0 for none. One
/// word, so that the trampoline never sees a handler with another's
/// calling convention.
static HANDLERS: [AtomicUsize; SIGNALS] = [const { AtomicUsize::new(0) }; SIGNALS];

type Handler = extern "C" fn(c_int);
type SigInfoHandler = extern "C" fn(c_int, *mut siginfo_t, *mut c_void);

/// The handler the kernel runs for every wrapped signal.
extern "C" fn trampoline(sig: c_int, info: *mut siginfo_t, context: *mut c_void) {
    let errno = sys::errno();
    wait::enter_signal_handler();
    let word = usize::try_from(sig)
        .ok()
        .and_then(|sig| HANDLERS.get(sig))
        .map_or(0, |slot| slot.load(Ordering::Acquire));
    let address = word >> 1;
    if address != libc::SIG_DFL && address != libc::SIG_IGN {
        if word & 1 != 0 {
            // SAFETY: a non-zero word holds the address of the handler the
            // program installed with SA_SIGINFO, a function of this type
            // (sigaction's contract); the arguments are the kernel's.
            let handler = unsafe { std::mem::transmute::<usize, SigInfoHandler>(address) };
            handler(sig, info, context);
        } else {
            // SAFETY: as above, a handler installed without SA_SIGINFO,
            // which takes the signal number only.
            let handler = unsafe { std::mem::transmute::<usize, Handler>(address) };
            handler(sig);
        }
    }
    wait::leave_signal_handler();
    sys::set_errno(errno);
}

/// The trampoline's address, as the kernel's action holds it.
fn trampoline_address() -> usize {
    trampoline as SigInfoHandler as usize
}

fn slot(sig: c_int) -> Option<&'static AtomicUsize> {
    usize::try_from(sig)
        .ok()
        .filter(|&sig| sig > 0)
        .and_then(|sig| HANDLERS.get(sig))
}

/// The word kept for `action`, if the layer wraps its handler.
fn wrapped_word(action: &libc::sigaction) -> Option<usize> {
    let handler = action.sa_sigaction;
    let wrap = handler != libc::SIG_DFL
        && handler != libc::SIG_IGN
        && handler != libc::SIG_ERR
        && handler != trampoline_address()
        && handler <= usize::MAX >> 1;
    wrap.then(|| handler << 1 | usize::from(action.sa_flags & libc::SA_SIGINFO != 0))
}

/// Shows the program's handler in an action the kernel reported, if it
/// is the trampoline (`word`: what [`HANDLERS`] held for it).
fn unwrap_action(action: &mut libc::sigaction, word: usize) {
    if action.sa_sigaction != trampoline_address() || word == 0 {
        return;
    }
    action.sa_sigaction = word >> 1;
    if word & 1 == 0 {
        action.sa_flags &= !libc::SA_SIGINFO;
    }
}

/// See `sigaction(2)`.
///
/// # Safety
/// As libc's `sigaction`.
#[no_mangle]
pub unsafe extern "C" fn sigaction(
    sig: c_int,
    act: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> c_int {
    let Some(slot) = slot(sig) else {
        // SAFETY: the caller's arguments, unchanged (sigaction's contract).
        return unsafe { real::sigaction(sig, act, old) };
    };
    // SAFETY: sigaction's contract: `act` is null or valid.
    let asked = unsafe { act.as_ref() };
    let wrapped = asked.and_then(|action| Some((action, wrapped_word(action)?)));
    let mut replacement;
    let (act, before) = match wrapped {
        Some((action, word)) => {
            // Kept before the kernel can run the trampoline for it.
            let before = slot.swap(word, Ordering::AcqRel);
            replacement = *action;
            replacement.sa_sigaction = trampoline_address();
            replacement.sa_flags |= libc::SA_SIGINFO;
            (&raw const replacement, before)
        }
        None => (act, slot.load(Ordering::Acquire)),
    };
    // SAFETY: the caller's arguments (sigaction's contract), `act` maybe
    // replaced by a valid copy that runs the trampoline.
    let result = unsafe { real::sigaction(sig, act, old) };
    if result != 0 {
        if wrapped.is_some() {
            slot.store(before, Ordering::Release);
        }
        return result;
    }
    // SAFETY: sigaction's contract: `old` is null or valid for writes, and
    // the call filled it.
    if let Some(old) = unsafe { old.as_mut() } {
        unwrap_action(old, before);
    }
    result
}

/// `signal` and its variants: installs `handler` with `flags`, the mask
/// holding the signal itself if `mask_self`; the previous handler or
/// `SIG_ERR`.
fn install(sig: c_int, handler: sighandler_t, flags: c_int, mask_self: bool) -> sighandler_t {
    if slot(sig).is_none() || handler == libc::SIG_ERR {
        sys::set_errno(libc::EINVAL);
        return libc::SIG_ERR;
    }
    // SAFETY: sigaction is plain data; all-zero is an empty action.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler;
    action.sa_flags = flags;
    // SAFETY: a valid signal set to empty, then to add a valid signal to.
    unsafe {
        libc::sigemptyset(&mut action.sa_mask);
        if mask_self {
            libc::sigaddset(&mut action.sa_mask, sig);
        }
    }
    // SAFETY: as above.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a valid action and a valid place for the old one.
    if unsafe { sigaction(sig, &action, &mut old) } != 0 {
        return libc::SIG_ERR;
    }
    old.sa_sigaction
}

/// See `signal(2)`: glibc's BSD semantics (`SA_RESTART`, the signal
/// blocked while its handler runs). A `siginterrupt` made earlier is not
/// consulted (glibc keeps that state privately): `SA_RESTART` is always
/// set.
///
/// # Safety
/// As libc's `signal`.
#[no_mangle]
pub unsafe extern "C" fn signal(sig: c_int, handler: sighandler_t) -> sighandler_t {
    install(sig, handler, libc::SA_RESTART, true)
}

/// See `bsd_signal(3)`: as `signal`.
///
/// # Safety
/// As libc's `bsd_signal`.
#[no_mangle]
pub unsafe extern "C" fn bsd_signal(sig: c_int, handler: sighandler_t) -> sighandler_t {
    install(sig, handler, libc::SA_RESTART, true)
}

/// See `sysv_signal(3)`: System V semantics (the disposition resets to
/// `SIG_DFL` on delivery; the signal is not blocked in its handler).
///
/// # Safety
/// As libc's `sysv_signal`.
#[no_mangle]
pub unsafe extern "C" fn sysv_signal(sig: c_int, handler: sighandler_t) -> sighandler_t {
    install(sig, handler, libc::SA_RESETHAND | libc::SA_NODEFER, false)
}

/// What `signal` is under strict X/Open feature macros: as `sysv_signal`.
///
/// # Safety
/// As libc's `__sysv_signal`.
#[no_mangle]
pub unsafe extern "C" fn __sysv_signal(sig: c_int, handler: sighandler_t) -> sighandler_t {
    install(sig, handler, libc::SA_RESETHAND | libc::SA_NODEFER, false)
}
