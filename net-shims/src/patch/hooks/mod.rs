//! The hooks (unsafe): libc entry points defined by this crate, which symbol interposition makes the whole executable call.
//!
//! Each hook is `#[no_mangle] pub unsafe extern "C" fn` with the C
//! signature of the libc function it replaces, and that function's
//! contract: the `# Safety` of every hook is "as the libc function of the
//! same name". A hook checks whether it runs in a green thread (one
//! thread-local read) and otherwise calls the original (`sys::real`);
//! the cooperative paths live in the safe modules (`wait`, `table`).
//! No hook panics, allocates or locks on its fast path, or unwinds.

use std::sync::atomic::{AtomicBool, Ordering};

mod dns;
mod fd;
mod io;
mod poll;
mod signal;
mod sleep;

/// Set by the `close` hook when it sees a negative descriptor, the probe
/// of [`linked`].
static PROBED: AtomicBool = AtomicBool::new(false);

/// Whether the hooks are in force: a call to `close(-1)` through the
/// libc name reaches the `close` hook, and the original was found.
pub(crate) fn linked() -> bool {
    let errno = super::sys::errno();
    // SAFETY: close(-1) closes nothing; it fails with EBADF.
    unsafe { libc::close(-1) };
    super::sys::set_errno(errno);
    PROBED.load(Ordering::Relaxed) && super::sys::real::resolved()
}
