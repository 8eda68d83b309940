//! Green threads: the per-thread record and its state machine, spawn, `Builder`, `JoinHandle`, kill.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::num::NonZeroU64;
use std::panic::{self, AssertUnwindSafe};
use std::rc::{Rc, Weak};

use crate::context::{self, Context};
use crate::local::Locals;
use crate::park::{self, Interrupt, KillSignal, Unparker, Wake};
use crate::sched;
use crate::slot::AnySlot;
use crate::stack::overflow::OverflowInfo;
use crate::stack::StackInfo;
use crate::time::Scopes;

/// Where a green thread is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// In the hub's run queue: set by spawn and by an unpark, cleared when
    /// the hub switches to it.
    Ready,
    /// Executing on the hub's OS thread; exactly one green thread at a time.
    Running,
    /// Suspended in [`park::park`] until an unparker, its deadline or a kill
    /// wakes it; each park has a new generation so stale wake-ups are
    /// ignored.
    Parked,
    /// Its function returned, panicked or was killed; terminal.
    Done,
}

/// The hub's record of one green thread.
pub(crate) struct Green {
    /// The `Rc` this record lives in, for handing out handles.
    me: Weak<Green>,
    /// Name, id and stack bounds, readable by the overflow handler.
    pub(crate) info: OverflowInfo,
    pub(crate) state: Cell<State>,
    /// Incremented by every park; an [`Unparker`] is valid for one value.
    pub(crate) generation: Cell<u64>,
    /// Why the last park ended; written by whoever woke it.
    pub(crate) woke: Cell<Wake>,
    /// An interrupt (kill, elapsed `timeout` scope) not yet delivered.
    pub(crate) pending: Cell<Option<Interrupt>>,
    /// Interrupts raised in it ([`park::raise`]) whose unwind has not
    /// reached a `moss::timeout` that caught it. Part of the hub's record
    /// of whether it is unwinding, for when std's per-OS-thread flag
    /// cannot tell (see [`Green::unwinding_now`]).
    pub(crate) raised: Cell<u32>,
    /// A panic started in it (seen by the panic hook, or a payload taken
    /// for re-raising from a `JoinError`) that may still be unwinding: the
    /// other part of the record. Cleared whenever std can tell.
    pub(crate) panicked: Cell<bool>,
    /// Whether the current park ignores interrupts (a green thread that
    /// is unwinding and waits for another green thread or a primitive):
    /// a kill is recorded but does not end it.
    pub(crate) shielded: Cell<bool>,
    /// Whether the current park is shielded because the green thread could
    /// not tell whether it is unwinding (it decides again when an unwind
    /// elsewhere may have ended, see `Hub::redecide`).
    pub(crate) undecided: Cell<bool>,
    /// What it is parked on, for reports.
    pub(crate) waiting_on: Cell<&'static str>,
    /// `moss::timeout` scopes open in this green thread.
    pub(crate) scopes: Scopes,
    /// The scope whose deadline bounds the current park, if any.
    pub(crate) park_scope: Cell<Option<u64>>,
    /// The stack pointer in the frame of the current park, recorded just
    /// before the green thread suspends: below it only the switch's own
    /// frames live while it is parked (see `Hub::sweep_parked_stacks`).
    pub(crate) park_sp: Cell<usize>,
    /// The park generation the last stack sweep saw, and the one whose
    /// dead pages it gave back.
    pub(crate) sweep_seen: Cell<u64>,
    pub(crate) sweep_done: Cell<u64>,
    /// Whether the current park has a live timer.
    pub(crate) timer_armed: Cell<bool>,
    /// Whoever waits in `join`.
    pub(crate) join_waiter: RefCell<Option<Unparker>>,
    /// The machine context and its stack (given back once finished).
    pub(crate) context: Context,
    /// Index in the hub's table of live green threads.
    pub(crate) slot: Cell<usize>,
    /// The next green thread in the hub's run queue, while this one is
    /// queued (the queue's link, see `sched::RunQueue`).
    pub(crate) run_next: Cell<Option<Rc<Green>>>,
    /// Its `GreenLocal` values.
    pub(crate) locals: Locals,
    /// What its function ended with (a `Result<T, JoinError>`), from its
    /// end until [`JoinHandle::join`] takes it: kept in the record, so a
    /// green thread costs one allocation.
    result: AnySlot,
    /// Its [`JoinHandle`] is gone: the result is dropped where it ends.
    detached: Cell<bool>,
}

impl Green {
    /// A record for a green thread running `context` on a stack described
    /// by `stack` (its guard page's range and usable size, see
    /// [`PooledStack::info`]); `me` is the `Weak` of the `Rc` it goes in
    /// (`Rc::new_cyclic`).
    #[inline(always)]
    pub(crate) fn new(
        id: u64,
        name: Option<String>,
        stack: StackInfo,
        context: Context,
        me: Weak<Green>,
    ) -> Green {
        let StackInfo {
            guard_lo,
            guard_hi,
            size: stack_size,
        } = stack;
        Green {
            me,
            info: OverflowInfo {
                guard_lo,
                guard_hi,
                stack_size,
                id,
                name: name.map(String::into_boxed_str),
            },
            state: Cell::new(State::Ready),
            generation: Cell::new(0),
            woke: Cell::new(Wake::Ready),
            pending: Cell::new(None),
            raised: Cell::new(0),
            panicked: Cell::new(false),
            shielded: Cell::new(false),
            undecided: Cell::new(false),
            waiting_on: Cell::new(""),
            scopes: Scopes::default(),
            park_scope: Cell::new(None),
            timer_armed: Cell::new(false),
            park_sp: Cell::new(0),
            sweep_seen: Cell::new(0),
            sweep_done: Cell::new(0),
            join_waiter: RefCell::new(None),
            context,
            slot: Cell::new(usize::MAX),
            run_next: Cell::new(None),
            locals: Locals::default(),
            result: AnySlot::default(),
            detached: Cell::new(false),
        }
    }

    /// A counted handle to this record.
    #[inline]
    pub(crate) fn handle(&self) -> Rc<Green> {
        self.me
            .upgrade()
            .expect("a running green thread is owned by its hub")
    }

    /// Records an interrupt, a kill taking precedence over an elapsed scope.
    pub(crate) fn interrupt(&self, interrupt: Interrupt) {
        if self.pending.get() != Some(Interrupt::Killed) {
            self.pending.set(Some(interrupt));
        }
    }

    /// Whether this green thread, which must be the running one, is
    /// unwinding now (so an interrupt cannot be delivered as an unwind):
    /// [`Unwinding::Unsure`] counts as unwinding.
    #[inline]
    pub(crate) fn is_unwinding(&self) -> bool {
        self.unwinding_now() != Unwinding::No
    }

    /// Whether this green thread, which must be the running one, is
    /// unwinding now, as far as can be told.
    ///
    /// std's `thread::panicking()` counts every unwind in progress on the
    /// OS thread, including those of green threads suspended mid-unwind
    /// (a destructor that blocks). While no other stack of this OS thread
    /// may be mid-unwind (`context::unwinding_elsewhere`), it answers for
    /// this green thread exactly, and the hub's record
    /// ([`Green::raised`], [`Green::panicked`]) is refreshed from it; otherwise the record
    /// decides: "not unwinding" is taken as it is, "unwinding" as
    /// [`Unwinding::Unsure`] (it may be stale: an unwind the application
    /// caught).
    #[inline]
    pub(crate) fn unwinding_now(&self) -> Unwinding {
        if !std::thread::panicking() {
            // No unwind at all on this OS thread: every one that started
            // here has ended, whoever caught it.
            self.panicked.set(false);
            self.raised.set(0);
            return Unwinding::No;
        }
        self.unwinding_while_some_stack_is()
    }

    #[cold]
    fn unwinding_while_some_stack_is(&self) -> Unwinding {
        if context::unwinding_elsewhere() == 0 {
            // Exact, and perhaps an unwind nothing recorded (a
            // `resume_unwind`): remember it for when std cannot tell.
            self.panicked.set(true);
            Unwinding::Yes
        } else if self.panicked.get() || self.raised.get() > 0 {
            Unwinding::Unsure
        } else {
            Unwinding::No
        }
    }
}

impl Drop for Green {
    /// A record may go anywhere its last handle goes (a stale unparker in
    /// a wait list or the timer heap, a green thread retiring): locals
    /// left in it are given to the hub, which drops them on its own stack,
    /// so no user code runs in the middle of the runtime's bookkeeping or
    /// on a retired green thread's stack. Without a hub (a handle kept
    /// past `moss::run`) they are dropped here, outside any green thread,
    /// a panic of theirs logged.
    fn drop(&mut self) {
        // A result is taken by its handle's `join` or `drop`, and the
        // handle keeps the record alive; should one still be here, it
        // leaks rather than run its destructor wherever a record drops.
        self.result.leak();
        let Some(values) = self.locals.take_all() else {
            return;
        };
        let mut values = Some(values);
        sched::with_current(|hub| hub.adopt_orphans(values.take().unwrap_or_default()));
        if let Some(values) = values {
            // No hub: dropped here, outside any green thread.
            sched::drop_orphan(values);
        }
    }
}

/// The answer of [`Green::unwinding_now`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unwinding {
    /// Not unwinding: an interrupt may be raised.
    No,
    /// Unwinding: an interrupt must not be raised.
    Yes,
    /// Perhaps: another green thread is suspended mid-unwind and this one
    /// started an unwind since it was last known not to be (which may have
    /// been caught since). An interrupt must not be raised; ask again in a
    /// moment.
    Unsure,
}

/// A unique identifier of a green thread, never reused within a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GreenId(NonZeroU64);

impl GreenId {
    /// The id as a number (1 for the first green thread of the process).
    pub fn as_u64(&self) -> NonZeroU64 {
        self.0
    }
}

impl fmt::Display for GreenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A handle to a green thread, like [`std::thread::Thread`].
///
/// Obtained from [`current`] or [`JoinHandle::thread`]. Not `Send`: a
/// green thread belongs to the hub of one OS thread.
#[derive(Clone)]
pub struct GreenThread {
    pub(crate) green: Rc<Green>,
}

impl GreenThread {
    /// The green thread's unique id.
    pub fn id(&self) -> GreenId {
        GreenId(NonZeroU64::new(self.green.info.id).expect("green thread ids start at 1"))
    }

    /// The name given with [`Builder::name`], if any.
    pub fn name(&self) -> Option<&str> {
        self.green.info.name.as_deref()
    }
}

impl fmt::Debug for GreenThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GreenThread")
            .field("id", &self.id())
            .field("name", &self.name())
            .finish()
    }
}

/// The running green thread.
///
/// # Panics
/// Outside a green thread (no hub on this OS thread). [`try_current`] is
/// the non-panicking form.
pub fn current() -> GreenThread {
    try_current().expect("moss::current called outside a green thread (use it inside moss::run)")
}

/// The running green thread, or `None` outside any hub.
pub fn try_current() -> Option<GreenThread> {
    sched::current_green().map(|green| GreenThread { green })
}

/// Why [`JoinHandle::join`] returned no value.
pub struct JoinError {
    kind: JoinErrorKind,
}

enum JoinErrorKind {
    Panic(Box<dyn Any + Send + 'static>),
    Killed,
}

impl JoinError {
    fn killed() -> JoinError {
        JoinError {
            kind: JoinErrorKind::Killed,
        }
    }

    pub(crate) fn from_panic(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            kind: JoinErrorKind::Panic(payload),
        }
    }

    /// The green thread panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.kind, JoinErrorKind::Panic(_))
    }

    /// The green thread was killed ([`JoinHandle::kill`], or the root
    /// returned while it was alive) before it could return.
    pub fn is_killed(&self) -> bool {
        matches!(self.kind, JoinErrorKind::Killed)
    }

    /// The panic payload, to re-raise it with [`std::panic::resume_unwind`].
    ///
    /// # Panics
    /// If the error is not a panic; see [`JoinError::try_into_panic`].
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .unwrap_or_else(|err| panic!("JoinError::into_panic on {err}"))
    }

    /// The panic payload, or the error itself if it is not a panic.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.kind {
            JoinErrorKind::Panic(payload) => {
                // Usually re-raised at once with `resume_unwind`, which the
                // panic hook does not see: count the caller as unwinding.
                sched::with_running(|green| green.panicked.set(true));
                Ok(payload)
            }
            JoinErrorKind::Killed => Err(self),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            JoinErrorKind::Panic(payload) => match panic_message(payload.as_ref()) {
                Some(message) => write!(f, "green thread panicked: {message}"),
                None => f.write_str("green thread panicked"),
            },
            JoinErrorKind::Killed => f.write_str("green thread was killed"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JoinError({self})")
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for io::Error {
    fn from(err: JoinError) -> io::Error {
        io::Error::other(err.to_string())
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// An owned permission to join a green thread (wait for it to finish and
/// take its value). Dropping it detaches the green thread, which runs on.
///
/// Not `Send`: it belongs to the hub that spawned the green thread.
pub struct JoinHandle<T> {
    thread: GreenThread,
    /// Takes the `Result<T, JoinError>` the green thread's record holds
    /// once it finished: `AnySlot::take` for the `T` that `spawn` stored,
    /// made there, where `T: 'static` is known, so `join` needs no such
    /// bound.
    take: fn(&AnySlot) -> Option<Result<T, JoinError>>,
    /// Invariant in `T`, as `std::thread::JoinHandle` is (a handle
    /// coerced to another `T` would never find its result).
    _invariant: PhantomData<Cell<T>>,
    _not_send: PhantomData<*const ()>,
}

impl<T> JoinHandle<T> {
    /// Waits for the green thread to finish and returns its value, or why
    /// there is none (it panicked, or was killed).
    ///
    /// Parks the calling green thread. If the caller is killed (or its
    /// `moss::timeout` elapses) while waiting, the caller unwinds and the
    /// target runs on, detached. A caller that is already unwinding (a
    /// destructor that joins) cannot unwind again: it waits until the
    /// target finishes, whatever interrupt it receives meanwhile.
    ///
    /// # Panics
    /// If a green thread joins itself, or on a thread with no hub while the
    /// target has not finished.
    pub fn join(self) -> Result<T, JoinError> {
        let green = &self.thread.green;
        if let Some(result) = (self.take)(&green.result) {
            return result;
        }
        let joins_itself = sched::with_running(|me| std::ptr::eq(me, &**green))
            .expect("moss: JoinHandle::join called outside a green thread");
        assert!(!joins_itself, "moss: a green thread cannot join itself");
        loop {
            // A join cut short (a kill, an elapsed `moss::timeout`) takes
            // its unparker back out of the target's slot, rather than
            // leave it there, holding this green thread's record, until
            // the target ends.
            let _registered = LeaveJoin(green);
            park::park_native_shielded("join", None, |unparker| {
                *green.join_waiter.borrow_mut() = Some(unparker);
            });
            if let Some(result) = (self.take)(&green.result) {
                return result;
            }
            // A green thread retires after it stored its result: waiting
            // on would be waiting forever.
            assert!(
                green.state.get() != State::Done,
                "moss: a finished green thread left no result to join (a bug in moss)"
            );
        }
    }

    /// Kills the green thread: it unwinds (running its destructors) at its
    /// next blocking point, at once if it is parked now, and [`join`]
    /// reports [`JoinError::is_killed`]. A green thread that has not started
    /// never runs. No effect on a finished green thread.
    ///
    /// A green thread that is already unwinding when killed (a destructor
    /// that waits) is not unwound again: its I/O fails with `ECANCELED`,
    /// its sleeps end, and its waits for other green threads last until
    /// they end (see `docs/runtime.md`).
    ///
    /// [`join`]: JoinHandle::join
    pub fn kill(&self) {
        kill(&self.thread.green);
    }

    /// Whether the green thread has finished (returned, panicked or was
    /// killed). Does not block.
    pub fn is_finished(&self) -> bool {
        self.thread.green.state.get() == State::Done
    }

    /// The green thread's handle.
    pub fn thread(&self) -> &GreenThread {
        &self.thread
    }
}

/// Clears a target's join slot when a join's park ends (see
/// [`JoinHandle::join`]): after a wake-up it is empty already (the target
/// took the unparker to wake it) or refilled by the next park.
struct LeaveJoin<'a>(&'a Green);

impl Drop for LeaveJoin<'_> {
    fn drop(&mut self) {
        // Dropped after the borrow ends: the unparker holds a handle on
        // the joiner, which is running, so this drop frees nothing.
        let stale = self.0.join_waiter.borrow_mut().take();
        drop(stale);
    }
}

impl<T> Drop for JoinHandle<T> {
    /// Detaches the green thread: its result, if it has one already, is
    /// dropped here; else it is dropped where the green thread ends.
    fn drop(&mut self) {
        let green = &self.thread.green;
        green.detached.set(true);
        green.result.clear();
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("thread", &self.thread)
            .finish_non_exhaustive()
    }
}

/// Kills `green` (see [`JoinHandle::kill`]).
pub(crate) fn kill(green: &Rc<Green>) {
    match green.state.get() {
        State::Done => {}
        State::Parked if !green.shielded.get() => {
            green.interrupt(Interrupt::Killed);
            park::wake(green, Wake::Interrupted);
        }
        // A shielded park (an unwinding green thread waiting for another)
        // runs to its end; the kill is delivered after it, if ever.
        State::Parked | State::Ready | State::Running => green.interrupt(Interrupt::Killed),
    }
}

/// A green thread factory with configuration, like [`std::thread::Builder`].
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// let value = moss::run(|| {
///     let handle = moss::Builder::new()
///         .name("worker".into())
///         .stack_size(64 * 1024)
///         .spawn(|| moss::current().name().map(str::to_owned))
///         .expect("a stack is available");
///     handle.join().unwrap()
/// });
/// assert_eq!(value.as_deref(), Some("worker"));
/// ```
#[derive(Debug, Default)]
#[must_use = "a Builder does nothing until spawn is called"]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with the hub's defaults.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the green thread (shown by [`GreenThread::name`], in overflow
    /// and deadlock reports).
    pub fn name(mut self, name: String) -> Builder {
        self.name = Some(name);
        self
    }

    /// Usable stack bytes (rounded up to whole pages). Only touched pages
    /// cost memory; the default is the hub's (see `HubBuilder::stack_size`).
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// Spawns `f` as a new green thread on the current hub.
    ///
    /// # Errors
    /// `ErrorKind::OutOfMemory` when no stack can be had (the hub's
    /// `max_stacks`, the address space, or `vm.max_map_count` with
    /// `mprotect` guards); `ErrorKind::Other` outside a hub.
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let body = move || {
            // `run_body` does not unwind (it catches the function's panics
            // and those of the destructors it runs), so a result is always
            // stored (or dropped) and the joiner woken. It is dropped here
            // when the handle is gone; the context's entry catches a panic
            // of that.
            let result = run_body(f);
            let unwanted = sched::with_running(|me| {
                if me.detached.get() {
                    Some(result)
                } else {
                    // Written once: `put` drops nothing here.
                    debug_assert!(!me.result.is_full());
                    me.result.put(result);
                    None
                }
            });
            drop(unwanted);
        };
        let green = sched::with_current(|hub| {
            hub.spawn(self.name, self.stack_size, |stack| {
                Context::new(stack, body)
            })
        })
        .ok_or_else(|| {
            io::Error::other("moss::Builder::spawn called outside a hub (call it inside moss::run)")
        })??;
        Ok(JoinHandle {
            thread: GreenThread { green },
            take: AnySlot::take::<Result<T, JoinError>>,
            _invariant: PhantomData,
            _not_send: PhantomData,
        })
    }
}

/// Runs a green thread's function, turning panics and kills into values;
/// never unwinds (what `f` captured, its value and the green thread's
/// locals are dropped under `catch_unwind` too). A green thread killed
/// before it started never calls `f`.
pub(crate) fn run_body<T>(f: impl FnOnce() -> T) -> Result<T, JoinError> {
    let killed = sched::with_running(|me| me.pending.get() == Some(Interrupt::Killed))
        .expect("a green thread body runs inside a hub");
    if killed {
        // What `f` captured is dropped here, inside the green thread, and
        // so are locals its destructors may have set; a destructor that
        // panics does not change why it ended.
        let dropped = panic::catch_unwind(AssertUnwindSafe(move || {
            drop(f);
            sched::with_running(|me| me.locals.clear());
        }));
        if let Err(payload) = dropped {
            discard(payload);
        }
        return Err(JoinError::killed());
    }
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    // The function has ended, so a kill has done its work (it stays
    // pending only while the unwind it caused runs, see `park::raise`).
    // Locals go while the green thread still runs, so their destructors
    // may block; one that panics is reported like a panic of the body.
    let cleared = panic::catch_unwind(|| {
        sched::with_running(|me| {
            if me.pending.get() == Some(Interrupt::Killed) {
                me.pending.set(None);
            }
            me.locals.clear();
        });
    });
    let result = match (result, cleared) {
        (Ok(value), Ok(())) => return Ok(value),
        (Err(payload), cleared) => {
            if let Err(second) = cleared {
                discard(second);
            }
            payload
        }
        (Ok(value), Err(payload)) => {
            if let Err(second) = panic::catch_unwind(AssertUnwindSafe(move || drop(value))) {
                discard(second);
            }
            payload
        }
    };
    if result.is::<KillSignal>() {
        discard(result);
        Err(JoinError::killed())
    } else {
        Err(JoinError::from_panic(result))
    }
}

/// Chains a panic hook, once per process, that records in the running
/// green thread (if any) that it starts unwinding. `Green::is_unwinding`
/// needs the record only while another green thread of the hub is
/// suspended mid-unwind; a hook that the application installs later
/// replaces this one, and then that case errs as described in
/// `docs/caveats.md`.
pub(crate) fn watch_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    fn install() {
        ONCE.call_once(|| {
            let previous = panic::take_hook();
            panic::set_hook(Box::new(move |info| {
                sched::with_running(|green| green.panicked.set(true));
                previous(info);
            }));
        });
    }
    if ONCE.is_completed() {
        return;
    }
    if !std::thread::panicking() {
        return install();
    }
    // `set_hook` refuses a panicking thread (a hub started by a
    // destructor during an unwind): install it from another one.
    if std::thread::Builder::new()
        .name("moss-panic-hook".into())
        .spawn(install)
        .and_then(|thread| thread.join().map_err(|_| std::io::Error::other("panicked")))
        .is_err()
    {
        log::warn!("moss: cannot install the panic hook; see docs/caveats.md on unwinding");
    }
}

/// Drops a panic payload whose own destructor may panic, without letting
/// that second panic unwind any further: a payload that panics when
/// dropped is leaked, with a log line.
pub(crate) fn discard(payload: Box<dyn Any + Send>) {
    if let Err(again) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
        // A logger that panics must not unwind out of here either.
        let _ = panic::catch_unwind(|| {
            log::error!("moss: a panic payload panicked when dropped; leaking it");
        });
    }
}

/// Spawns a new green thread on the current hub, like [`std::thread::spawn`].
///
/// `f` needs no `Send` bound: green threads never leave their hub's OS
/// thread. The green thread starts when the spawner next blocks or yields.
///
/// # Panics
/// Outside a hub, or when no stack can be had; [`Builder::spawn`] returns
/// those as errors instead.
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// let sum = moss::run(|| {
///     let handles: Vec<_> = (1..=10).map(|i| moss::spawn(move || i * i)).collect();
///     handles.into_iter().map(|h| h.join().unwrap()).sum::<i32>()
/// });
/// assert_eq!(sum, 385);
/// ```
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    Builder::new()
        .spawn(f)
        .unwrap_or_else(|err| panic!("moss::spawn failed: {err}"))
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;
    use std::time::Duration;

    #[test]
    fn a_join_cut_short_leaves_no_unparker_in_its_target() {
        crate::run(|| {
            // Cut short by a kill.
            let target = crate::spawn(|| crate::sleep(Duration::from_millis(50)));
            let green = Rc::clone(&target.thread().green);
            let joiner = crate::spawn(move || {
                let _ = target.join();
            });
            crate::yield_now();
            assert!(green.join_waiter.borrow().is_some(), "the joiner waits");
            joiner.kill();
            assert!(joiner.join().unwrap_err().is_killed());
            assert!(green.join_waiter.borrow().is_none());
            // Cut short by an elapsed `moss::timeout`.
            let target = crate::spawn(|| crate::sleep(Duration::from_millis(50)));
            let green = Rc::clone(&target.thread().green);
            let joined = crate::timeout(Duration::from_millis(1), move || target.join());
            assert!(joined.is_err());
            assert!(green.join_waiter.borrow().is_none());
        });
    }
}
