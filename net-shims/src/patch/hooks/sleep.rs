//! Sleep hooks: `clock_nanosleep`, `nanosleep`, `usleep`, `sleep`.
//!
//! In a green thread a sleep parks on the hub's timers. A kill or an
//! elapsed `moss::timeout` ends it early *with success* (0, the remaining
//! time not written): `EINTR`, what the kernel reports for an interrupted
//! sleep, would make std and most C code sleep again, and the interrupt
//! stays pending for the next Rust-native blocking point anyway.

use std::time::Duration;

use libc::{c_int, c_uint, clockid_t, timespec, useconds_t};

use crate::patch::sys::{self, real};
use crate::patch::wait;

fn duration(timespec: &timespec) -> Option<Duration> {
    let secs = u64::try_from(timespec.tv_sec).ok()?;
    let nanos = u32::try_from(timespec.tv_nsec)
        .ok()
        .filter(|&nanos| nanos < 1_000_000_000)?;
    Some(Duration::new(secs, nanos))
}

/// Sleeps the green thread; a zero sleep lets the others run once.
fn green_sleep(duration: Duration) {
    if duration.is_zero() {
        moss_runtime::park::yield_foreign();
    } else {
        if wait::sleep(Some(duration)).is_err() {
            // The interrupt stays pending; the others run first, so that a
            // loop of sleeps cannot hold the hub.
            moss_runtime::park::yield_foreign();
        }
    }
}

/// See `clock_nanosleep(2)`: relative and absolute sleeps on the
/// realtime, monotonic, boot-time and TAI clocks park; other clocks
/// (CPU-time clocks) pass through.
///
/// # Safety
/// As libc's `clock_nanosleep`.
#[no_mangle]
pub unsafe extern "C" fn clock_nanosleep(
    clock: clockid_t,
    flags: c_int,
    request: *const timespec,
    remain: *mut timespec,
) -> c_int {
    let parkable = matches!(
        clock,
        libc::CLOCK_MONOTONIC | libc::CLOCK_REALTIME | libc::CLOCK_BOOTTIME | libc::CLOCK_TAI
    );
    // SAFETY: clock_nanosleep's contract: `request` is valid (or the real
    // call reports EFAULT, below).
    let asked = unsafe { request.as_ref() }.and_then(duration);
    let (true, true, Some(asked)) = (wait::may_park(), parkable, asked) else {
        // SAFETY: the caller's arguments, unchanged.
        return unsafe { real::clock_nanosleep(clock, flags, request, remain) };
    };
    let sleep = if flags & libc::TIMER_ABSTIME != 0 {
        let Some(now) = sys::clock_now(clock).as_ref().and_then(duration) else {
            // SAFETY: the caller's arguments, unchanged.
            return unsafe { real::clock_nanosleep(clock, flags, request, remain) };
        };
        asked.saturating_sub(now)
    } else {
        asked
    };
    green_sleep(sleep);
    0
}

/// See `nanosleep(2)`.
///
/// # Safety
/// As libc's `nanosleep`.
#[no_mangle]
pub unsafe extern "C" fn nanosleep(request: *const timespec, remain: *mut timespec) -> c_int {
    // SAFETY: nanosleep's contract: `request` is valid (or the real call
    // reports EFAULT).
    let asked = unsafe { request.as_ref() }.and_then(duration);
    match asked {
        Some(asked) if wait::may_park() => {
            green_sleep(asked);
            0
        }
        // SAFETY: the caller's arguments, unchanged.
        _ => unsafe { real::nanosleep(request, remain) },
    }
}

/// See `usleep(3)`.
///
/// # Safety
/// As libc's `usleep`.
#[no_mangle]
pub unsafe extern "C" fn usleep(usec: useconds_t) -> c_int {
    if !wait::may_park() {
        // SAFETY: the caller's argument, unchanged.
        return unsafe { real::usleep(usec) };
    }
    green_sleep(Duration::from_micros(usec.into()));
    0
}

/// See `sleep(3)`.
///
/// # Safety
/// As libc's `sleep`.
#[no_mangle]
pub unsafe extern "C" fn sleep(seconds: c_uint) -> c_uint {
    if !wait::may_park() {
        // SAFETY: the caller's argument, unchanged.
        return unsafe { real::sleep(seconds) };
    }
    green_sleep(Duration::from_secs(seconds.into()));
    0
}
