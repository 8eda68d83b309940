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
//! an unwind ([`raise`]); the patch hooks use [`park`] directly and turn the
//! interrupt into an errno, leaving it pending for the next Rust-native
//! blocking point, so no unwind ever crosses a foreign (C) frame. One
//! mechanism, so kill and timeout behave the same everywhere.
//!
//! Each park has a new generation number; an [`Unparker`] only wakes the
//! park it was made for, so stale wake-ups (a timer that lost the race, an
//! I/O event for a waiter that already left) are harmless no-ops.

use std::collections::VecDeque;
use std::panic;
use std::rc::Rc;
use std::time::Instant;

use crate::green::{Green, State};
pub use crate::remote::RemoteUnparker;
use crate::sched;

/// Why a park ended without an interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Something it waited for happened (an unparker fired).
    Ready,
    /// The park's own deadline passed first.
    TimedOut,
    /// An interrupt is pending ([`park_native`] only returns this while the
    /// green thread is already unwinding, when it cannot unwind again).
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
            if unparker.unpark() {
                return true;
            }
        }
        false
    }

    /// Wakes every waiter; returns how many woke.
    pub fn wake_all(&mut self) -> usize {
        let mut woken = 0;
        for unparker in self.waiters.drain(..) {
            woken += usize::from(unparker.unpark());
        }
        woken
    }

    /// Whether any waiter is still waiting.
    pub fn has_waiters(&self) -> bool {
        self.waiters.iter().any(Unparker::is_waiting)
    }
}

/// Ends the current park of `green` (which must be parked) with `why`.
pub(crate) fn wake(green: &Rc<Green>, why: Wake) {
    debug_assert_eq!(green.state.get(), State::Parked);
    green.woke.set(why);
    green.state.set(State::Ready);
    if let Some(sched) = sched::current() {
        sched.make_ready(Rc::clone(green));
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
    let sched = sched::current().expect("moss: park called outside a hub");
    let green = sched::current_green().expect("moss: park called outside a green thread");
    if let Some(interrupt) = green.pending.get() {
        return Err(interrupt);
    }
    // The earliest of the park's own deadline and the innermost enclosing
    // timeout scope's; on a tie the scope wins (its deadline is reached).
    let scope = green.scopes.earliest();
    let (effective, scope_id) = match (deadline, scope) {
        (Some(own), Some((at, id))) if at <= own => (Some(at), Some(id)),
        (Some(own), _) => (Some(own), None),
        (None, Some((at, id))) => (Some(at), Some(id)),
        (None, None) => (None, None),
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
    register(Unparker {
        green: Rc::clone(&green),
        generation,
    });
    if let Some(at) = effective {
        sched.timers.insert(at, Rc::clone(&green), generation);
        green.timer_armed.set(true);
    }
    drop(sched);
    crate::context::suspend();
    let sched = sched::current().expect("a resumed green thread runs inside its hub");
    if green.timer_armed.replace(false) {
        sched.timers.cancelled();
    }
    match green.woke.get() {
        Wake::Interrupted => Err(green
            .pending
            .get()
            .expect("an interrupted park has a pending interrupt")),
        wake => Ok(wake),
    }
}

/// [`park`] for Rust-native blocking points: a pending interrupt unwinds
/// the green thread ([`raise`]) instead of returning, except while it is
/// already unwinding, when [`Wake::Interrupted`] is returned so that
/// destructors fail fast instead of blocking.
pub fn park_native(
    what: &'static str,
    deadline: Option<Instant>,
    register: impl FnOnce(Unparker),
) -> Wake {
    match park(what, deadline, register) {
        Ok(wake) => wake,
        Err(_) if std::thread::panicking() => Wake::Interrupted,
        Err(interrupt) => raise(interrupt),
    }
}

/// Delivers a pending interrupt as an unwind of the running green thread.
/// A kill is caught by the spawn wrapper (`JoinError::is_killed`), an
/// elapsed scope by its `moss::timeout`. The unwind does not run the panic
/// hook, so nothing is printed.
pub fn raise(interrupt: Interrupt) -> ! {
    if let Some(green) = sched::current_green() {
        green.pending.set(None);
    }
    match interrupt {
        Interrupt::Killed => panic::resume_unwind(Box::new(KillSignal)),
        Interrupt::Elapsed(id) => panic::resume_unwind(Box::new(ElapsedSignal(id))),
    }
}
