//! Time: the hub's timer heap, `sleep`, `yield_now` and `timeout` scopes.

use std::cell::{Cell, RefCell};
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::time::{Duration, Instant};

use crate::green::{Green, State};
use crate::park::{self, ElapsedSignal, Interrupt, Wake};
use crate::{context, sched};

/// The timers of one hub: a binary heap of deadlines with lazy
/// cancellation. Insert is O(log n); cancel is O(1) (the entry is left in
/// place and skipped when it surfaces, since its park generation no longer
/// matches); the heap is compacted when dead entries outnumber live ones,
/// so green threads that park with deadlines and wake early cannot make it
/// grow without bound.
#[derive(Default)]
pub(crate) struct Timers {
    heap: RefCell<BinaryHeap<Reverse<Entry>>>,
    /// Entries whose park is still waiting on them.
    live: Cell<usize>,
    sequence: Cell<u64>,
}

struct Entry {
    at: Instant,
    /// Insertion order: equal deadlines fire first-in first-out.
    sequence: u64,
    green: Rc<Green>,
    generation: u64,
}

impl Entry {
    fn is_live(&self) -> bool {
        self.green.state.get() == State::Parked
            && self.green.generation.get() == self.generation
            && self.green.timer_armed.get()
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> Ordering {
        (self.at, self.sequence).cmp(&(other.at, other.sequence))
    }
}

impl Timers {
    /// Arms a timer that ends park `generation` of `green` at `at`.
    pub(crate) fn insert(&self, at: Instant, green: Rc<Green>, generation: u64) {
        let sequence = self.sequence.get();
        self.sequence.set(sequence + 1);
        let mut heap = self.heap.borrow_mut();
        // Compacted before the new entry goes in: the park arms it only
        // after this returns, so `is_live` would take it for a dead one.
        if heap.len() >= 64 && heap.len() >= 4 * (self.live.get() + 1) {
            heap.retain(|Reverse(entry)| entry.is_live());
        }
        heap.push(Reverse(Entry {
            at,
            sequence,
            green,
            generation,
        }));
        self.live.set(self.live.get() + 1);
    }

    /// Drops every entry (teardown, once no green thread is alive: every
    /// entry is stale).
    pub(crate) fn clear(&self) {
        let heap = std::mem::take(&mut *self.heap.borrow_mut());
        drop(heap);
    }

    /// A park with a timer ended before the deadline.
    pub(crate) fn cancelled(&self) {
        self.live.set(self.live.get() - 1);
    }

    /// Timers armed and not yet fired or cancelled.
    pub(crate) fn armed(&self) -> usize {
        self.live.get()
    }

    /// The earliest live deadline, discarding dead entries on top.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let mut heap = self.heap.borrow_mut();
        while let Some(Reverse(entry)) = heap.peek() {
            if entry.is_live() {
                return Some(entry.at);
            }
            heap.pop();
        }
        None
    }

    /// Fires every timer due at `now`, in deadline order; returns how many.
    pub(crate) fn fire(&self, now: Instant) -> usize {
        let mut fired = 0;
        loop {
            let entry = {
                let mut heap = self.heap.borrow_mut();
                match heap.peek() {
                    Some(Reverse(entry)) if entry.at <= now => {
                        heap.pop().map(|Reverse(entry)| entry)
                    }
                    _ => None,
                }
            };
            let Some(entry) = entry else { return fired };
            if !entry.is_live() {
                continue;
            }
            let green = entry.green;
            green.timer_armed.set(false);
            self.live.set(self.live.get() - 1);
            fired += 1;
            match green.park_scope.get() {
                Some(scope) => {
                    green.interrupt(Interrupt::Elapsed(scope));
                    park::wake(&green, Wake::Interrupted);
                }
                None => park::wake(&green, Wake::TimedOut),
            }
        }
    }
}

/// The `moss::timeout` scopes open in one green thread, innermost last.
/// Each entry carries the earliest deadline of itself and every enclosing
/// scope, so the binding deadline is always the last entry's.
#[derive(Debug, Default)]
pub(crate) struct Scopes {
    stack: RefCell<Vec<Scope>>,
    /// The last entry's binding deadline, cached for the switch path (a
    /// `Cell` read instead of a `RefCell` borrow on every yield and park).
    binding: Cell<Option<(Instant, u64)>>,
}

#[derive(Debug, Clone, Copy)]
struct Scope {
    id: u64,
    /// The earliest deadline of this scope and the enclosing ones…
    earliest: Instant,
    /// …and the scope it belongs to.
    earliest_id: u64,
}

impl Scopes {
    /// The binding deadline and the id of the scope it belongs to.
    #[inline]
    pub(crate) fn earliest(&self) -> Option<(Instant, u64)> {
        self.binding.get()
    }

    fn push(&self, id: u64, deadline: Instant) {
        let mut stack = self.stack.borrow_mut();
        let scope = match stack.last() {
            Some(outer) if outer.earliest <= deadline => Scope { id, ..*outer },
            _ => Scope {
                id,
                earliest: deadline,
                earliest_id: id,
            },
        };
        stack.push(scope);
        self.binding.set(Some((scope.earliest, scope.earliest_id)));
    }

    fn pop(&self, id: u64) {
        let mut stack = self.stack.borrow_mut();
        debug_assert_eq!(stack.last().map(|scope| scope.id), Some(id));
        stack.retain(|scope| scope.id != id);
        self.binding.set(
            stack
                .last()
                .map(|scope| (scope.earliest, scope.earliest_id)),
        );
    }
}

/// Puts the current green thread to sleep for at least `duration`; other
/// green threads run meanwhile. Outside a hub, it is [`std::thread::sleep`].
///
/// A kill or an elapsed [`timeout`] interrupts the sleep (the green thread
/// unwinds). `sleep(Duration::ZERO)` is [`yield_now`].
pub fn sleep(duration: Duration) {
    if !context::in_green_thread() {
        return std::thread::sleep(duration);
    }
    if duration.is_zero() {
        return yield_now();
    }
    match Instant::now().checked_add(duration) {
        Some(deadline) => sleep_until(deadline),
        None => park_until(None),
    }
}

/// Sleeps until `deadline` (see [`sleep`]).
pub fn sleep_until(deadline: Instant) {
    if !context::in_green_thread() {
        return std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
    }
    park_until(Some(deadline));
}

fn park_until(deadline: Option<Instant>) {
    loop {
        match park::park_native("sleep", deadline, |_| {}) {
            Wake::Ready => continue,
            Wake::TimedOut | Wake::Interrupted => return,
        }
    }
}

/// Lets every other runnable green thread run before the current one goes
/// on. Outside a hub, it is [`std::thread::yield_now`].
///
/// A scheduling point: a pending kill or elapsed [`timeout`] is delivered
/// here.
pub fn yield_now() {
    let interrupt = sched::with_running(|green| {
        if let Some((at, id)) = green.scopes.earliest() {
            if at <= Instant::now() {
                green.interrupt(Interrupt::Elapsed(id));
            }
        }
        match green.pending.get() {
            Some(interrupt) if !green.is_unwinding() => Some(interrupt),
            _ => {
                // The hub queues a green thread that suspends in the Ready
                // state.
                green.state.set(State::Ready);
                None
            }
        }
    });
    match interrupt {
        None => return std::thread::yield_now(),
        Some(Some(interrupt)) => park::raise(interrupt),
        Some(None) => {}
    }
    context::suspend();
    let interrupt =
        sched::with_running(|green| green.pending.get().filter(|_| !green.is_unwinding()));
    if let Some(Some(interrupt)) = interrupt {
        park::raise(interrupt);
    }
}

/// The error of [`timeout`]: the deadline passed before the function
/// finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(elapsed: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, elapsed)
    }
}

/// Runs `f` in the current green thread with a deadline `duration` from
/// now. If the deadline passes first, `f` is interrupted at its next
/// blocking point (it unwinds, running destructors) and `Err(Elapsed)` is
/// returned.
///
/// Scopes nest: the earliest deadline wins, and each level reports its
/// own (an inner `timeout` whose outer deadline passed unwinds through to
/// the outer one). A function that finishes without blocking after its
/// deadline passed returns `Ok`. Outside a hub nothing can be interrupted,
/// and `f` runs to completion.
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// use std::time::Duration;
/// moss::run(|| {
///     let slow = moss::timeout(Duration::from_millis(10), || moss::sleep(Duration::from_secs(60)));
///     assert!(slow.is_err());
///     let fast = moss::timeout(Duration::from_secs(60), || 42);
///     assert_eq!(fast, Ok(42));
/// });
/// ```
pub fn timeout<T>(duration: Duration, f: impl FnOnce() -> T) -> Result<T, Elapsed> {
    match Instant::now().checked_add(duration) {
        Some(deadline) => timeout_at(deadline, f),
        None => Ok(f()),
    }
}

/// [`timeout`] with an absolute deadline.
pub fn timeout_at<T>(deadline: Instant, f: impl FnOnce() -> T) -> Result<T, Elapsed> {
    static NEXT_SCOPE: AtomicU64 = AtomicU64::new(1);
    let Some(green) = sched::current_green() else {
        return Ok(f());
    };
    let id = NEXT_SCOPE.fetch_add(1, AtomicOrdering::Relaxed);
    green.scopes.push(id, deadline);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    green.scopes.pop(id);

    if green.pending.get() == Some(Interrupt::Elapsed(id)) {
        // Delivered as an errno inside a foreign call and never re-raised:
        // the scope is over, so is the interrupt.
        green.pending.set(None);
    }
    match result {
        Ok(value) => Ok(value),
        Err(payload)
            if payload
                .downcast_ref::<ElapsedSignal>()
                .is_some_and(|signal| signal.0 == id) =>
        {
            // The unwind `raise` started for this scope ends here.
            green.raised.set(green.raised.get().saturating_sub(1));
            green.unwinding_now();
            Err(Elapsed(()))
        }
        Err(payload) => panic::resume_unwind(payload),
    }
}
