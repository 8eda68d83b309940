//! The stack-overflow reporter: a SIGSEGV/SIGBUS handler that names the green thread whose guard page was hit.
//!
//! The hub publishes, per OS thread, a pointer to the running green
//! thread (`context::running_ptr`), whose [`OverflowInfo`] says where its
//! guard page is. On a fault, the handler (running on the
//! alternate signal stack) compares the fault address with that guard
//! page. A match prints which green thread overflowed and its stack size
//! with raw `write(2)` calls and aborts. Anything else goes to the action
//! that was installed before (std's own overflow handler, a user's or a
//! JIT's handler, or the default action) while moss's handler stays
//! installed, so overflows are still reported after a fault that another
//! handler recovered from (see `sys::PreviousActions::forward`).

use std::sync::OnceLock;

use crate::sys;

/// What the fault handler needs to know about the running green thread.
/// Plain data, readable from a signal handler.
#[derive(Debug)]
pub(crate) struct OverflowInfo {
    pub(crate) guard_lo: usize,
    pub(crate) guard_hi: usize,
    pub(crate) stack_size: usize,
    pub(crate) id: u64,
    pub(crate) name: Option<Box<str>>,
}

/// The actions that were installed before ours.
static PREVIOUS: OnceLock<sys::PreviousActions> = OnceLock::new();

/// Installs the handler once per process and an alternate signal stack on
/// this thread if it has none.
pub(crate) fn install() {
    sys::ensure_alt_stack();
    PREVIOUS.get_or_init(|| match sys::install_fault_handler(on_fault) {
        Ok(previous) => previous,
        Err(err) => {
            log::warn!("moss: cannot install the stack overflow handler: {err}");
            sys::PreviousActions::default()
        }
    });
}

/// The SIGSEGV/SIGBUS handler. Async-signal-safe: no allocation, no lock.
extern "C" fn on_fault(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: `install` installs this function as the SA_SIGINFO handler of
    // SIGSEGV and SIGBUS, so these are the kernel's arguments; `fault` is
    // dropped before this function returns.
    let fault = unsafe { sys::Fault::new(signal, info, context) };
    if let Some(address) = fault.address() {
        let running = crate::context::running_ptr();
        // SAFETY: a non-null running pointer points to the green thread
        // whose stack is in use on this OS thread, which the hub keeps
        // alive while it may be named there (see RUNNING in context.rs).
        if let Some(green) = unsafe { running.as_ref() } {
            let info = &green.info;
            if (info.guard_lo..info.guard_hi).contains(&address) {
                report(info);
                sys::abort();
            }
        }
    }
    // Unset only while `install` is still installing: returning makes the
    // fault repeat until the previous actions are known.
    if let Some(previous) = PREVIOUS.get() {
        previous.forward(&fault);
    }
}

/// Writes the overflow message without allocating.
fn report(green: &OverflowInfo) {
    let mut id = [0u8; 20];
    let mut size = [0u8; 20];
    sys::write_stderr(b"\nmoss: green thread '");
    sys::write_stderr(green.name.as_deref().unwrap_or("<unnamed>").as_bytes());
    sys::write_stderr(b"' (id ");
    sys::write_stderr(format_decimal(green.id, &mut id));
    sys::write_stderr(b") has overflowed its stack of ");
    sys::write_stderr(format_decimal(green.stack_size as u64, &mut size));
    sys::write_stderr(
        b" bytes\nmoss: give it a larger stack with moss::Builder::stack_size \
          or Hub::builder().stack_size; aborting\n",
    );
}

/// Formats `n` in decimal into `buf` (signal-safe).
fn format_decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::format_decimal;

    #[test]
    fn decimal_formatting() {
        let mut buf = [0; 20];
        assert_eq!(format_decimal(0, &mut buf), b"0");
        assert_eq!(format_decimal(262_144, &mut buf), b"262144");
        assert_eq!(format_decimal(u64::MAX, &mut buf), b"18446744073709551615");
    }
}
