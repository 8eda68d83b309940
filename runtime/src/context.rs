//! Execution contexts of green threads: the only module that touches corosensei.
//!
//! A [`Context`] is a coroutine on a pooled, guard-paged stack. The hub
//! resumes it; code inside suspends back to the hub with [`suspend`].
//!
//! To suspend from any depth without threading corosensei's `Yielder`
//! through every call, the running coroutine publishes a pointer to its
//! yielder in a thread-local slot ([`YIELDER`]). The slot is set by the
//! coroutine itself when it starts and again each time it is resumed, and
//! cleared by the hub after every switch back, so it is non-null exactly
//! while a green thread runs on this OS thread, and then it points to that
//! green thread's own yielder.
//!
//! The hub publishes the green thread it resumes in a second slot
//! ([`RUNNING`]), set and cleared by [`Context::resume`] around the
//! switch (cleared by a drop guard, so even an unwind out of the
//! coroutine cannot leave it dangling): the switch path and
//! `moss::current` read it without touching the hub, and the
//! stack-overflow handler reads it to name the green thread.
//!
//! Nothing of a green thread unwinds past its own frame: the coroutine's
//! entry catches every panic (the green-thread wrappers catch the
//! function's own and turn them into values; the entry catches what a
//! destructor of theirs may still raise).
//!
//! # Unwinding is per green thread
//!
//! std keeps one count of unwinds in progress per OS thread, and
//! `std::thread::panicking()` reads it. A green thread may suspend in the
//! middle of an unwind (a destructor that blocks), and then every green
//! thread of the hub would read `true`. The third slot,
//! [`UNWINDING_ELSEWHERE`], counts the stacks of this OS thread other than
//! the running one that may be mid-unwind: every green thread that
//! suspended while std's flag was up, and the hub's own stack while it
//! tears down after a panic. It never counts too few, so while it is zero
//! std's flag speaks for the running green thread alone (see
//! `Green::unwinding_now`).
//!
//! # Dropping a context
//!
//! A context that never finished is leaked, never force-unwound:
//! corosensei's forced unwind runs destructors outside any green-thread
//! context and aborts the process if one of them suspends. The hub only
//! drops unfinished contexts of green threads that could not be made to
//! finish (see `hub.rs`, teardown).

use std::cell::Cell;
use std::mem::ManuallyDrop;

use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::green::Green;
use crate::stack::PooledStack;

type Inner = Coroutine<(), (), (), PooledStack>;

/// The largest body moved onto a new coroutine's stack as it is;
/// corosensei refuses more than 1 KiB there, so a larger one (a closure
/// that captures a big value) travels boxed.
const INLINE_BODY: usize = 512;

thread_local! {
    /// The running green thread's yielder, or null on the hub's own stack.
    static YIELDER: Cell<*const Yielder<(), ()>> = const { Cell::new(std::ptr::null()) };

    /// The green thread being resumed on this OS thread, or null. Non-null
    /// only inside [`Context::resume`], which borrows the green thread for
    /// the whole switch, so the pointee is alive whenever it is non-null.
    /// Const-initialised and without destructor: readable from a signal
    /// handler.
    static RUNNING: Cell<*const Green> = const { Cell::new(std::ptr::null()) };

    /// Stacks of this OS thread, other than the running one, that are in
    /// the middle of an unwind (see the module docs).
    static UNWINDING_ELSEWHERE: Cell<usize> = const { Cell::new(0) };

    /// How many times a stack counted in [`UNWINDING_ELSEWHERE`] has
    /// resumed: green threads that could not tell whether they are
    /// unwinding decide again after it moved (see `Hub::redecide`).
    static UNWINDER_RESUMES: Cell<u64> = const { Cell::new(0) };
}

/// A suspended or running green thread's machine context.
pub(crate) struct Context {
    /// Dropped only once finished (see the module docs on dropping).
    coroutine: ManuallyDrop<Inner>,
}

impl Context {
    /// A context that will run `body` on `stack` when first resumed.
    ///
    /// `body` must not unwind: the green-thread wrapper catches every panic.
    pub(crate) fn new<F: FnOnce() + 'static>(stack: PooledStack, body: F) -> Context {
        let coroutine = if std::mem::size_of::<F>() <= INLINE_BODY {
            Coroutine::with_stack(stack, wrap(body))
        } else {
            let body: Box<dyn FnOnce()> = Box::new(body);
            Coroutine::with_stack(stack, wrap(body))
        };
        Context {
            coroutine: ManuallyDrop::new(coroutine),
        }
    }

    /// The root green thread's context: its body borrows from
    /// `HubBuilder::run`'s frame (the function and the result slot), and
    /// through them from its callers' (a `std::thread::scope` around the
    /// hub, say, whose threads the root may share data with).
    ///
    /// `frame` keeps that borrow honest: it must be declared in `run`
    /// after everything `body` borrows and before anything that resumes
    /// the context, and dropping it before the context has finished
    /// aborts the process. So the context is never resumed after the data
    /// it borrows went away, and `run` never returns or unwinds while the
    /// root's frames, which may still be borrowed, are abandoned.
    pub(crate) fn root<'a>(
        frame: &'a RootFrame,
        stack: PooledStack,
        body: impl FnOnce() + 'a,
    ) -> Context {
        frame.armed.set(true);
        let body = move || {
            let _finished = Finished(&frame.armed);
            body();
        };
        // SAFETY: by `RootFrame`'s placement and its abort on drop (above),
        // the borrowed data outlives every resumption, and every borrow of
        // the root's stack ends before `run` goes on.
        unsafe { Context::new_scoped(stack, body) }
    }

    /// Like [`Context::new`] for a body that borrows from the caller.
    ///
    /// # Safety
    /// Everything `body` borrows must outlive every resumption of the
    /// context: the caller must not resume it after borrowed data went
    /// away. (Dropping an unfinished context leaks it without running
    /// anything, so a context that is dropped instead of finished touches
    /// no borrowed data.)
    unsafe fn new_scoped<'a, F: FnOnce() + 'a>(stack: PooledStack, body: F) -> Context {
        // SAFETY: the borrowed data outlives every resumption by this
        // function's contract, and `Drop` never resumes an unfinished
        // coroutine (it leaks it), so nothing runs after the borrow ends.
        let coroutine = unsafe {
            if std::mem::size_of::<F>() <= INLINE_BODY {
                Inner::with_stack_unchecked(stack, wrap(body))
            } else {
                let body: Box<dyn FnOnce() + 'a> = Box::new(body);
                Inner::with_stack_unchecked(stack, wrap(body))
            }
        };
        Context {
            coroutine: ManuallyDrop::new(coroutine),
        }
    }

    /// Runs `green`, whose context this is, until it suspends (`false`)
    /// or finishes (`true`). Must be called from the hub, never from a
    /// green thread.
    pub(crate) fn resume(&mut self, green: &Green) -> bool {
        /// Clears the published slots when the switch ends, however it ends.
        struct Unpublish;
        impl Drop for Unpublish {
            fn drop(&mut self) {
                RUNNING.with(|running| running.set(std::ptr::null()));
                YIELDER.with(|slot| slot.set(std::ptr::null()));
            }
        }
        RUNNING.with(|running| running.set(green));
        let _unpublish = Unpublish;
        matches!(self.coroutine.resume(()), CoroutineResult::Return(()))
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if self.coroutine.done() {
            // SAFETY: dropped once, here; a finished coroutine has nothing
            // left to unwind and gives its stack back to the pool.
            unsafe { ManuallyDrop::drop(&mut self.coroutine) };
        }
        // Unfinished: leaked with its stack (see the module docs).
    }
}

/// Watches the root green thread's context for `run` (see
/// [`Context::root`]): dropping it after the context was made and before
/// the root's body has ended aborts the process.
pub(crate) struct RootFrame {
    /// Set by [`Context::root`], cleared when the root's body ends.
    armed: Cell<bool>,
}

impl RootFrame {
    /// A frame with no root context yet.
    pub(crate) fn new() -> RootFrame {
        RootFrame {
            armed: Cell::new(false),
        }
    }
}

impl Drop for RootFrame {
    fn drop(&mut self) {
        if self.armed.get() {
            crate::sys::write_stderr(
                b"moss: the root green thread could not finish (a destructor of it waits \
                  forever, see the log); it may borrow from the caller of moss::run, which \
                  cannot return while it is abandoned: aborting\n",
            );
            crate::sys::abort();
        }
    }
}

/// Disarms the root's frame when dropped: the body returned or unwound.
struct Finished<'a>(&'a Cell<bool>);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// Publishes the yielder when the coroutine starts, then runs `body`,
/// catching whatever it lets escape so that no unwind leaves the
/// coroutine.
fn wrap<'a>(body: impl FnOnce() + 'a) -> impl FnOnce(&Yielder<(), ()>, ()) + 'a {
    move |yielder, ()| {
        YIELDER.with(|slot| slot.set(yielder));
        if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
            crate::green::discard(payload);
        }
    }
}

/// Whether the caller runs inside a green thread: one read of a
/// const-initialised thread-local without destructor, so it is cheap and
/// safe to call anywhere (before `main`, in a signal handler, while the
/// thread's locals are being destroyed).
#[inline]
pub fn in_green_thread() -> bool {
    !YIELDER.with(Cell::get).is_null()
}

/// Switches from the running green thread back to the hub; returns when
/// the hub resumes it. A green thread that leaves mid-unwind is counted
/// in [`unwinding_elsewhere`] until it is back.
///
/// # Panics
/// When called outside a green thread (on the hub's own stack).
#[inline]
pub(crate) fn suspend() {
    let yielder = YIELDER.with(Cell::get);
    // SAFETY: a non-null YIELDER points to the yielder of the coroutine that
    // is running right now (module invariant), which lives on that
    // coroutine's stack for as long as the coroutine runs; we are that
    // coroutine, so it is alive.
    let yielder = unsafe { yielder.as_ref() }.expect("moss: suspend called outside a green thread");
    if std::thread::panicking() {
        suspend_while_some_stack_unwinds(yielder);
    } else {
        yielder.suspend(());
    }
    // Other green threads ran meanwhile and the hub cleared the slot.
    YIELDER.with(|slot| slot.set(yielder));
}

/// [`suspend`] while std says some stack of this OS thread is unwinding.
/// The green thread is counted in [`unwinding_elsewhere`] whether or not
/// the unwind is its own (which cannot always be told): an uncounted green
/// thread mid-unwind would make std's flag look exact to the others, and
/// counting one too many only makes the others rely on their records a
/// little longer. Its record is refreshed on the way.
#[cold]
fn suspend_while_some_stack_unwinds(yielder: &Yielder<(), ()>) {
    with_running(Green::is_unwinding);
    UNWINDING_ELSEWHERE.with(|count| count.set(count.get() + 1));
    yielder.suspend(());
    UNWINDING_ELSEWHERE.with(|count| count.set(count.get() - 1));
    // Woken only to decide again, it has not moved its unwind on: that
    // resume must not wake the other undecided ones in turn.
    let moved_on = with_running(|green| {
        !(green.undecided.get() && green.woke.get() == crate::park::Wake::Interrupted)
    });
    if moved_on.unwrap_or(true) {
        UNWINDER_RESUMES.with(|resumes| resumes.set(resumes.get() + 1));
    }
}

/// How many times a green thread counted in [`unwinding_elsewhere`] has
/// resumed on this OS thread (it may end its unwind before it suspends
/// again).
#[inline]
pub(crate) fn unwinder_resumes() -> u64 {
    UNWINDER_RESUMES.with(Cell::get)
}

/// The current stack pointer: every live frame of the caller lies at or
/// above it. `0` where the architecture is not supported (then nothing is
/// ever taken as dead, see `stack::discard_dead_part`).
#[inline(always)]
pub(crate) fn stack_pointer() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let sp: usize;
        // SAFETY: copies the stack pointer register into a general register;
        // reads no memory, touches neither the stack nor the flags.
        unsafe {
            std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags));
        }
        sp
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}

/// Stacks of this OS thread other than the running one that are
/// mid-unwind (see the module docs).
#[inline]
pub(crate) fn unwinding_elsewhere() -> usize {
    UNWINDING_ELSEWHERE.with(Cell::get)
}

/// Counts the hub's own stack as mid-unwind for as long as it lives (the
/// hub tearing down while a panic unwinds through `run`, or `run` called
/// from a destructor during an unwind).
pub(crate) struct HubUnwinding(bool);

impl HubUnwinding {
    /// Marks the hub's stack if `unwinding`.
    pub(crate) fn enter(unwinding: bool) -> HubUnwinding {
        if unwinding {
            UNWINDING_ELSEWHERE.with(|count| count.set(count.get() + 1));
        }
        HubUnwinding(unwinding)
    }
}

impl Drop for HubUnwinding {
    fn drop(&mut self) {
        if self.0 {
            UNWINDING_ELSEWHERE.with(|count| count.set(count.get() - 1));
            UNWINDER_RESUMES.with(|resumes| resumes.set(resumes.get() + 1));
        }
    }
}

/// Runs `f` with the green thread running on this OS thread (`None` on
/// the hub's own stack or on a thread without a hub).
#[inline]
pub(crate) fn with_running<R>(f: impl FnOnce(&Green) -> R) -> Option<R> {
    let running = RUNNING.with(Cell::get);
    // SAFETY: a non-null RUNNING points to the green thread that
    // `Context::resume` is running right now and borrows for the whole
    // switch (module invariant); we run inside that switch, so it is alive,
    // and the reference does not outlive this call.
    unsafe { running.as_ref() }.map(f)
}

/// The raw running pointer, for the stack-overflow handler.
pub(crate) fn running_ptr() -> *const Green {
    RUNNING.with(Cell::get)
}
