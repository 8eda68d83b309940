//! The patch layer's per-descriptor table: what it knows about each fd (socket? whose non-blocking mode?), lock-free.
//!
//! One `AtomicU32` per descriptor number below [`CAPACITY`]; higher
//! numbers are not tracked and every call on them passes through. A word
//! holds flags in its low byte and a generation in the rest:
//!
//! ```text
//!   31                      8 7      0
//!  ┌─────────────────────────┬────────┐
//!  │ generation (wrapping)   │ flags  │   flags: KNOWN SOCKET USER LAYER REGISTERED
//!  └─────────────────────────┴────────┘
//! ```
//!
//! * `KNOWN`: the other flags are set; without it the descriptor is
//!   classified on its first cooperative use (`fstat`, `F_GETFL`).
//! * `SOCKET`: a socket; only sockets are made cooperative.
//! * `USER`: the owner asked for non-blocking mode (`SOCK_NONBLOCK`,
//!   `F_SETFL`, `FIONBIO`, or it was already set when the layer first
//!   looked): calls pass straight through and see `EAGAIN`.
//! * `LAYER`: the layer set `O_NONBLOCK` on the open file description and
//!   hides it from the owner (blocking is emulated outside green threads).
//! * `REGISTERED`: some hub may hold a readiness registration of the
//!   descriptor (see `wait.rs`), which `close` must revoke.
//!
//! Every new descriptor the hooks see (`socket`, `accept`, `dup`) and every
//! `close` starts a new generation: a green thread that parked on a
//! descriptor checks the generation when it wakes and never retries on a
//! number that now names another file.

use std::sync::atomic::{AtomicU32, Ordering};

use libc::c_int;

use super::sys;

/// Descriptors numbered below this are tracked.
pub(crate) const CAPACITY: usize = 65536;

const KNOWN: u32 = 1;
const SOCKET: u32 = 2;
const USER: u32 = 4;
const LAYER: u32 = 8;
const REGISTERED: u32 = 16;
const FLAGS: u32 = 0xff;
const GENERATION_STEP: u32 = 0x100;

static TABLE: [AtomicU32; CAPACITY] = [const { AtomicU32::new(0) }; CAPACITY];

/// One descriptor's word, as loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry(u32);

impl Entry {
    pub(crate) fn generation(self) -> u32 {
        self.0 & !FLAGS
    }

    pub(crate) fn is_known(self) -> bool {
        self.0 & KNOWN != 0
    }

    pub(crate) fn is_socket(self) -> bool {
        self.0 & SOCKET != 0
    }

    /// The owner chose non-blocking mode.
    pub(crate) fn user_nonblocking(self) -> bool {
        self.0 & USER != 0
    }

    /// The layer set `O_NONBLOCK` and hides it.
    pub(crate) fn layer_nonblocking(self) -> bool {
        self.0 & LAYER != 0
    }

    /// Whether the layer knows anything of the descriptor (any flag set):
    /// an entry a close must reset.
    pub(crate) fn is_tracked(self) -> bool {
        self.0 & FLAGS != 0
    }

    pub(crate) fn is_registered(self) -> bool {
        self.0 & REGISTERED != 0
    }

    /// A descriptor whose blocking calls the layer emulates: a socket the
    /// layer made non-blocking, whose owner wants it blocking.
    pub(crate) fn is_emulated(self) -> bool {
        self.0 & (LAYER | USER) == LAYER
    }
}

fn slot(fd: c_int) -> Option<&'static AtomicU32> {
    usize::try_from(fd).ok().and_then(|index| TABLE.get(index))
}

/// The word of `fd`; `None` for numbers the table does not track.
#[inline]
pub(crate) fn load(fd: c_int) -> Option<Entry> {
    slot(fd).map(|slot| Entry(slot.load(Ordering::Acquire)))
}

/// Starts a new generation of `fd` with `flags`; returns the old word.
fn renew(fd: c_int, flags: u32) -> Option<Entry> {
    let slot = slot(fd)?;
    let old = slot
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
            Some((word & !FLAGS).wrapping_add(GENERATION_STEP) | flags)
        })
        .unwrap_or_else(|word| word);
    Some(Entry(old))
}

/// A new socket: blocking unless the owner asked otherwise.
pub(crate) fn new_socket(fd: c_int, user_nonblocking: bool) {
    let user = if user_nonblocking { USER } else { 0 };
    renew(fd, KNOWN | SOCKET | user);
}

/// `fd` was closed (or is about to be replaced by `dup2`): unknown from
/// now on. Returns the old word.
pub(crate) fn closed(fd: c_int) -> Option<Entry> {
    renew(fd, 0)
}

/// `to` is a new duplicate of `from`: it shares the open file
/// description, so what is known of its mode.
pub(crate) fn duplicated(from: c_int, to: c_int) {
    let flags = load(from).map_or(0, |entry| entry.0 & FLAGS & !REGISTERED);
    renew(to, flags);
}

/// Updates the flags of `fd` with `f` while its generation is
/// `generation` (any generation if `None`); `false` if it changed.
fn update(fd: c_int, generation: Option<u32>, f: impl Fn(u32) -> u32) -> bool {
    let Some(slot) = slot(fd) else { return false };
    slot.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
        if generation.is_some_and(|generation| word & !FLAGS != generation) {
            return None;
        }
        Some((word & !FLAGS) | (f(word & FLAGS) & FLAGS))
    })
    .is_ok()
}

/// Records that some hub may hold a registration of generation
/// `generation` of `fd`; `false` if the descriptor was closed since.
pub(crate) fn mark_registered(fd: c_int, generation: u32) -> bool {
    update(fd, Some(generation), |flags| flags | REGISTERED)
}

/// Records that no hub holds a registration of `fd` any more. Called only
/// under the registration map's lock, when the map has no entry left for
/// `fd`: every [`mark_registered`] happens under that lock too, so the
/// flag is never cleared while a registration it announces exists. The
/// generation does not matter (a flag without registrations behind it
/// only costs `close` a look at an empty map).
pub(crate) fn clear_registered(fd: c_int) {
    update(fd, None, |flags| flags & !REGISTERED);
}

/// Records the owner's choice of blocking mode (`F_SETFL`, `FIONBIO`). The
/// layer's own `O_NONBLOCK` stays wherever it was set.
pub(crate) fn user_chose(fd: c_int, nonblocking: bool) {
    // On a descriptor not classified yet the flag is kept for `classify`,
    // which asks the rest on first use.
    update(fd, None, |flags| {
        if nonblocking {
            flags | USER
        } else {
            flags & !USER
        }
    });
}

/// The state of `fd` for a blocking call in a green thread: `Some` (with
/// the generation) when the layer handles the call, after making sure
/// the layer's `O_NONBLOCK` is set; `None` when the call is to pass
/// through (not a socket, the owner's non-blocking mode, a standard
/// stream, an untracked number).
#[inline]
pub(crate) fn cooperative(fd: c_int) -> Option<Entry> {
    let entry = load(fd)?;
    if entry.0 & (KNOWN | SOCKET | USER | LAYER) == KNOWN | SOCKET | LAYER {
        return Some(entry);
    }
    if entry.is_known() && (!entry.is_socket() || entry.user_nonblocking()) {
        return None;
    }
    cooperative_slow(fd, entry)
}

#[cold]
fn cooperative_slow(fd: c_int, entry: Entry) -> Option<Entry> {
    // The standard streams may be shared with other processes (a
    // terminal, a log socket): their mode is never changed.
    if fd <= 2 {
        return None;
    }
    let entry = if entry.is_known() {
        entry
    } else {
        classify(fd, entry)?
    };
    if !entry.is_socket() || entry.user_nonblocking() {
        return None;
    }
    if entry.layer_nonblocking() {
        return Some(entry);
    }
    let flags = sys::status_flags(fd)?;
    if flags & libc::O_NONBLOCK != 0 {
        // Set behind the hooks' back: the owner's choice.
        update(fd, Some(entry.generation()), |flags| flags | USER);
        return None;
    }
    if !sys::set_status_flags(fd, flags | libc::O_NONBLOCK) {
        return None;
    }
    update(fd, Some(entry.generation()), |flags| flags | LAYER).then_some(())?;
    load(fd)
}

/// Whether `fd` is still the socket its word describes. A descriptor
/// closed where no hook saw it (`fclose` of a `fdopen`ed socket,
/// `close_range(CLOSE_RANGE_UNSHARE)`) leaves its word behind for whatever file next takes the
/// number through a call the hooks do not see either (`pipe`, `eventfd`,
/// `open`); before the layer acts on a word in a way that could block or
/// mislead (emulated blocking, a hidden flag), it checks, and forgets a
/// stale word.
#[cold]
pub(crate) fn still_socket(fd: c_int) -> bool {
    if sys::is_socket(fd) == Some(true) {
        return true;
    }
    closed(fd);
    false
}

/// First look at a descriptor the hooks did not see created: a socket?
/// In non-blocking mode already (then the owner's choice)?
fn classify(fd: c_int, entry: Entry) -> Option<Entry> {
    let socket = sys::is_socket(fd)?;
    let mut flags = KNOWN;
    if socket {
        flags |= SOCKET;
        if entry.user_nonblocking() || sys::status_flags(fd)? & libc::O_NONBLOCK != 0 {
            flags |= USER;
        }
    }
    update(fd, Some(entry.generation()), |_| flags).then_some(())?;
    load(fd)
}
