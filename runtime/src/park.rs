//! The park protocol: every blocking point in moss parks here and learns why it woke.
//!
//! A green thread that must wait calls [`park`] with what it waits for
//! (for reports), an optional deadline, and a `register` closure that
//! stores an [`Unparker`] wherever the wake-up will come from (an I/O wait
//! list, a channel, a join). The green thread suspends to the hub and
//! [`park`] returns when one of three things happens:
//!
//! * an [`Unparker`] fired: [`Wake::Ready`];
//! * the park's own deadline passed: [`Wake::TimedOut`];
//! * it was killed, or the deadline of an enclosing `moss::timeout` scope
//!   passed: `Err(`[`Interrupt`]`)`, the interrupt staying pending.
//!
//! Rust-native callers use [`park_native`], which delivers an interrupt as
//! an unwind ([`raise`]). Code that must not unwind (foreign (C) frames on
//! the stack) uses [`park`] directly and turns the interrupt into an
//! error, leaving it pending for the next Rust-native blocking point. One
//! mechanism, so kill and timeout behave the same everywhere.
//!
//! A green thread that is already unwinding cannot unwind again (a second
//! unwind out of a destructor aborts the process): [`park_native`] then
//! returns [`Wake::Interrupted`] and its caller gives up the wait (I/O
//! fails, a sleep ends), while waits on other green threads and on
//! primitives park *shielded*: interrupts neither end nor prevent the
//! park, which lasts until its unparker or its own deadline.
//!
//! Each park has a new generation number; an [`Unparker`] only wakes the
//! park it was made for, so stale wake-ups (a timer that lost the race, an
//! I/O event for a waiter that already left) are harmless no-ops.

use std::collections::VecDeque;
use std::panic;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::green::{Green, State, Unwinding};
pub use crate::remote::RemoteUnparker;
use crate::sched;

/// Why a park ended without an interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Something it waited for happened (an unparker fired).
    Ready,
    /// The park's own deadline passed first.
    TimedOut,
    /// An interrupt is pending and could not be delivered as an unwind
    /// ([`park_native`] only returns this while the green thread is
    /// already unwinding, when it cannot unwind again).
    Interrupted,
}

/// An interrupt of a green thread, delivered at its next blocking point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// `JoinHandle::kill`, or the hub shutting down.
    Killed,
    /// The deadline of the `moss::timeout` scope with this id passed.
    Elapsed(u64),
}

/// The unwind payload of a kill; the spawn wrapper turns it into
/// `JoinError::is_killed`.
#[derive(Debug)]
pub(crate) struct KillSignal;

/// The unwind payload of an elapsed `moss::timeout` scope; the scope with
/// this id catches it.
#[derive(Debug)]
pub(crate) struct ElapsedSignal(pub(crate) u64);

/// A one-shot permission to wake one park of one green thread.
///
/// Hub-local (not `Send`); a wake-up from another OS thread goes through
/// the hub's remote queue instead ([`Unparker::remote`]).
#[derive(Clone)]
pub struct Unparker {
    green: Rc<Green>,
    generation: u64,
}

impl Unparker {
    /// Whether the park it was made for is still waiting.
    pub fn is_waiting(&self) -> bool {
        self.green.state.get() == State::Parked && self.green.generation.get() == self.generation
    }

    /// The id of the green thread this unparker wakes.
    pub(crate) fn green_id(&self) -> u64 {
        self.green.info.id
    }

    /// Wakes the park with [`Wake::Ready`]; `false` if it had already ended.
    pub fn unpark(&self) -> bool {
        if !self.is_waiting() {
            return false;
        }
        wake(&self.green, Wake::Ready);
        true
    }

    /// [`Unparker::unpark`] for an unparker its holder lets go of: its
    /// handle on the green thread goes to the run queue as it is.
    #[inline]
    pub(crate) fn unpark_once(self) -> bool {
        if !self.is_waiting() {
            return false;
        }
        wake_owned(self.green, Wake::Ready);
        true
    }

    /// A `Send` handle that wakes this park from any OS thread (see
    /// [`RemoteUnparker`]).
    ///
    /// # Panics
    /// On an OS thread without a hub (an unparker only exists inside one).
    pub fn remote(&self) -> RemoteUnparker {
        sched::current()
            .expect("moss: Unparker::remote called outside its hub")
            .remote
            .register(self.clone())
    }
}

impl std::fmt::Debug for Unparker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unparker")
            .field("green", &self.green.info.id)
            .field("generation", &self.generation)
            .field("waiting", &self.is_waiting())
            .finish()
    }
}

/// A FIFO of parked green threads, for wait lists of sockets and sync
/// primitives. Entries whose park already ended are skipped and pruned.
#[derive(Debug, Default)]
pub struct WaitList {
    waiters: VecDeque<Unparker>,
}

impl WaitList {
    /// An empty list.
    pub const fn new() -> WaitList {
        WaitList {
            waiters: VecDeque::new(),
        }
    }

    /// Adds a waiter at the back. Stale entries are pruned when the list
    /// would grow, so waiters that time out again and again cannot make it
    /// grow without bound.
    pub fn push(&mut self, unparker: Unparker) {
        if self.waiters.len() == self.waiters.capacity() && !self.waiters.is_empty() {
            self.waiters.retain(Unparker::is_waiting);
        }
        self.waiters.push_back(unparker);
    }

    /// Wakes the first waiter still waiting; `false` if there was none.
    pub fn wake_one(&mut self) -> bool {
        while let Some(unparker) = self.waiters.pop_front() {
            if unparker.unpark_once() {
                return true;
            }
        }
        false
    }

    /// Wakes every waiter; returns how many woke.
    pub fn wake_all(&mut self) -> usize {
        let mut woken = 0;
        for unparker in self.waiters.drain(..) {
            woken += usize::from(unparker.unpark_once());
        }
        woken
    }

    /// Whether the list holds no entry at all, not even one whose park
    /// has ended (one load: the fast check before [`WaitList::wake_one`]).
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// Whether any waiter is still waiting.
    pub fn has_waiters(&self) -> bool {
        self.waiters.iter().any(Unparker::is_waiting)
    }
}

/// Ends the current park of `green` (which must be parked) with `why`.
pub(crate) fn wake(green: &Rc<Green>, why: Wake) {
    wake_owned(Rc::clone(green), why);
}

/// [`wake`] with a handle of the caller's, which goes to the run queue.
#[inline]
fn wake_owned(green: Rc<Green>, why: Wake) {
    debug_assert_eq!(green.state.get(), State::Parked);
    green.woke.set(why);
    green.state.set(State::Ready);
    // The running green thread (a park whose registration wakes it at
    // once) is queued by the hub when it suspends `Ready`: queued here
    // too, it would run twice, the second time out of a later park.
    // (Dropping the handle then runs nothing: the hub holds the record.)
    if sched::with_running(|running| std::ptr::eq(running, &*green)) != Some(true) {
        sched::with_current(|sched| sched.make_ready(green));
    }
}

/// Parks the running green thread until an unparker, `deadline`, or an
/// interrupt ends the park (see the module docs).
///
/// `what` names the wait in deadlock reports. `register` receives the
/// unparker for this park before the green thread suspends. An interrupt
/// already pending returns at once, without calling `register`.
///
/// # Panics
/// Outside a green thread.
pub fn park(
    what: &'static str,
    deadline: Option<Instant>,
    register: impl FnOnce(Unparker),
) -> Result<Wake, Interrupt> {
    park_inner(what, deadline, register, Shield::None)
}

/// How a park treats interrupts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shield {
    /// A pending interrupt, a kill or an enclosing `moss::timeout` scope
    /// ends it.
    None,
    /// Interrupts neither end nor bound it; only an unparker or its own
    /// deadline does.
    Full,
    /// [`Shield::Full`], for a green thread that may or may not be
    /// unwinding: the park also ends (with [`Wake::Interrupted`]) when an
    /// unwind elsewhere on the OS thread ends, so that its caller decides
    /// again (see `Hub::redecide`).
    Undecided,
}

/// The park itself (see [`Shield`]).
fn park_inner(
    what: &'static str,
    deadline: Option<Instant>,
    register: impl FnOnce(Unparker),
    shield: Shield,
) -> Result<Wake, Interrupt> {
    let shielded = shield != Shield::None;
    let green = sched::current_green().expect("moss: park called outside a green thread");
    let (effective, scope_id) = if shielded {
        (deadline, None)
    } else {
        if let Some(interrupt) = green.pending.get() {
            return Err(interrupt);
        }
        // The earliest of the park's own deadline and the innermost
        // enclosing timeout scope's; on a tie the scope wins (its deadline
        // is reached).
        match (deadline, green.scopes.earliest()) {
            (Some(own), Some((at, id))) if at <= own => (Some(at), Some(id)),
            (Some(own), _) => (Some(own), None),
            (None, Some((at, id))) => (Some(at), Some(id)),
            (None, None) => (None, None),
        }
    };
    if let Some(at) = effective {
        if at <= Instant::now() {
            return match scope_id {
                Some(id) => {
                    green.interrupt(Interrupt::Elapsed(id));
                    Err(green.pending.get().expect("an interrupt was just recorded"))
                }
                None => Ok(Wake::TimedOut),
            };
        }
    }
    let generation = green.generation.get() + 1;
    green.generation.set(generation);
    green.state.set(State::Parked);
    green.waiting_on.set(what);
    green.park_scope.set(scope_id);
    green.shielded.set(shielded);
    green.undecided.set(shield == Shield::Undecided);
    let unparker = Unparker {
        green: Rc::clone(&green),
        generation,
    };
    if shield == Shield::Undecided {
        let resumes = crate::context::unwinder_resumes();
        sched::with_current(|hub| hub.undecided.borrow_mut().push((resumes, unparker.clone())));
    }
    register(unparker);
    if let Some(at) = effective {
        sched::with_current(|hub| hub.timers.insert(at, Rc::clone(&green), generation))
            .expect("a green thread runs inside its hub");
        green.timer_armed.set(true);
    }
    green.park_sp.set(crate::context::stack_pointer());
    // Refreshes the record while std's flag is exact (see `Green::unwinding_now`).
    green.is_unwinding();
    crate::context::suspend();
    green.shielded.set(false);
    green.undecided.set(false);
    if green.timer_armed.replace(false) {
        sched::with_current(|hub| hub.timers.cancelled());
    }
    match green.woke.get() {
        // Kills and elapsed scopes do not reach a shielded park; for it,
        // `Interrupted` means "decide again" (`Hub::redecide`).
        Wake::Interrupted if shielded => Ok(Wake::Interrupted),
        Wake::Interrupted => Err(green
            .pending
            .get()
            .expect("an interrupted park has a pending interrupt")),
        wake => Ok(wake),
    }
}

/// [`park`] for Rust-native blocking points: a pending interrupt unwinds
/// the green thread ([`raise`]) instead of returning, except while this
/// green thread is already unwinding (a destructor that blocks), when it
/// cannot unwind again: then, after letting the others run,
/// [`Wake::Interrupted`] is returned, the interrupt stays pending, and the
/// caller gives up its wait (an I/O call fails, a sleep ends).
pub fn park_native(
    what: &'static str,
    deadline: Option<Instant>,
    register: impl FnOnce(Unparker),
) -> Wake {
    match park(what, deadline, register) {
        Ok(wake) => wake,
        Err(interrupt) => raise_or_report(interrupt),
    }
}

/// [`park_native`] for waits on other green threads and on primitives
/// (join, locks, offload results): while this green thread is (or may be)
/// already unwinding, the park is shielded, so it waits until the thing
/// it waits for happens (or `deadline`), whatever interrupt arrives
/// meanwhile.
///
/// Returns [`Wake::Interrupted`] when the caller should check its
/// condition and park again, which decides anew: the green thread could
/// not tell whether it may unwind, and now perhaps it can.
pub(crate) fn park_native_shielded(
    what: &'static str,
    deadline: Option<Instant>,
    register: impl FnOnce(Unparker),
) -> Wake {
    let shield = shield_for(sched::with_running(Green::unwinding_now));
    match park_inner(what, deadline, register, shield) {
        Ok(wake) => wake,
        Err(interrupt) => raise_or_report(interrupt),
    }
}

/// [`park`] for waits that must not unwind a green thread that is (or may
/// be) unwinding: shielded then, like [`park_native_shielded`], and
/// otherwise a plain [`park`].
pub(crate) fn park_unless_unwinding(
    what: &'static str,
    deadline: Option<Instant>,
    register: impl FnOnce(Unparker),
) -> Result<Wake, Interrupt> {
    let shield = shield_for(sched::with_running(Green::unwinding_now));
    park_inner(what, deadline, register, shield)
}

fn shield_for(unwinding: Option<Unwinding>) -> Shield {
    match unwinding {
        Some(Unwinding::No) | None => Shield::None,
        Some(Unwinding::Yes) => Shield::Full,
        Some(Unwinding::Unsure) => Shield::Undecided,
    }
}

/// How long a green thread that has an interrupt pending, and cannot
/// tell whether it may unwind, pauses in [`raise_or_report`].
const UNSURE_PAUSE: Duration = Duration::from_millis(2);

/// Unwinds with `interrupt`, or returns [`Wake::Interrupted`] when the
/// running green thread is (or may be) already unwinding.
///
/// Before it reports, it lets the other green threads run: once when the
/// green thread is unwinding, so that a caller that loops on it (a
/// `loop { sleep(..) }` in a destructor of a killed green thread) cannot
/// hold the hub; for [`UNSURE_PAUSE`] when it cannot tell, so that such a
/// loop does not spin while it waits for the answer.
pub(crate) fn raise_or_report(interrupt: Interrupt) -> Wake {
    match sched::with_running(Green::unwinding_now).unwrap_or(Unwinding::Yes) {
        Unwinding::No => raise(interrupt),
        Unwinding::Yes => {
            sched::with_running(|green| green.state.set(State::Ready));
            crate::context::suspend();
        }
        Unwinding::Unsure => {
            let until = Instant::now() + UNSURE_PAUSE;
            let _ = park_inner("an unwinding decision", Some(until), |_| {}, Shield::Full);
        }
    }
    Wake::Interrupted
}

/// Lets every other runnable green thread run once, without delivering
/// a pending interrupt (for code with foreign (C) frames on the stack,
/// which must not unwind). A foreign blocking call that returns at once
/// because an interrupt is pending calls it first, so that a C loop
/// retrying such a call cannot hold the hub. Does nothing outside a
/// green thread.
pub fn yield_foreign() {
    if !crate::context::in_green_thread() {
        return;
    }
    // The hub queues a green thread that suspends in the Ready state.
    sched::with_running(|green| green.state.set(State::Ready));
    crate::context::suspend();
}

/// Ends `unparker`'s park, if it is still waiting, with
/// [`Wake::Interrupted`] (for a shielded park: "decide again").
pub(crate) fn redecide(unparker: &Unparker) {
    if unparker.is_waiting() {
        wake(&unparker.green, Wake::Interrupted);
    }
}

/// Delivers a pending interrupt as an unwind of the running green thread.
/// A kill is caught by the spawn wrapper (`JoinError::is_killed`), an
/// elapsed scope by its `moss::timeout`. The unwind does not run the panic
/// hook, so nothing is printed.
///
/// The interrupt stays pending until the unwind reaches its target: while
/// a killed green thread unwinds, its destructors' I/O fails at once
/// (`ECANCELED`) and their sleeps end at once, so a kill always ends the
/// green thread; a kill caught and swallowed by a `catch_unwind` of the
/// application is raised again at the next blocking point. (An elapsed
/// scope behaves the same way until its `moss::timeout` returns.)
///
/// Must not be called while the running green thread is unwinding (from
/// a destructor during an unwind): a second unwind out of a destructor
/// aborts the process. [`park_native`] checks this for its callers.
pub fn raise(interrupt: Interrupt) -> ! {
    sched::with_running(|green| green.raised.set(green.raised.get() + 1));
    match interrupt {
        Interrupt::Killed => panic::resume_unwind(Box::new(KillSignal)),
        Interrupt::Elapsed(id) => panic::resume_unwind(Box::new(ElapsedSignal(id))),
    }
}

impl From<Interrupt> for std::io::Error {
    /// The error an I/O call reports when it cannot deliver an interrupt
    /// as an unwind: `ECANCELED` for a kill, `ETIMEDOUT` (kind
    /// `TimedOut`) for an elapsed `moss::timeout`, the errno values a
    /// C caller understands. Never `Interrupted`, which std's I/O helpers
    /// retry at once.
    fn from(interrupt: Interrupt) -> std::io::Error {
        match interrupt {
            Interrupt::Killed => std::io::Error::from_raw_os_error(libc::ECANCELED),
            Interrupt::Elapsed(_) => std::io::Error::from_raw_os_error(libc::ETIMEDOUT),
        }
    }
}
