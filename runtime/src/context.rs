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
//! switch: the switch path and `moss::current` read it without touching
//! the scheduler, and the stack-overflow handler reads it to name the
//! green thread.

use std::cell::Cell;

use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::green::Green;
use crate::stack::PooledStack;

type Inner = Coroutine<(), (), (), PooledStack>;

thread_local! {
    /// The running green thread's yielder, or null on the hub's own stack.
    static YIELDER: Cell<*const Yielder<(), ()>> = const { Cell::new(std::ptr::null()) };

    /// The green thread being resumed on this OS thread, or null. Non-null
    /// only inside [`Context::resume`], which borrows the green thread for
    /// the whole switch, so the pointee is alive whenever it is non-null.
    /// Const-initialised and without destructor: readable from a signal
    /// handler.
    static RUNNING: Cell<*const Green> = const { Cell::new(std::ptr::null()) };
}

/// A suspended or running green thread's machine context.
pub(crate) struct Context {
    coroutine: Inner,
}

impl Context {
    /// A context that will run `body` on `stack` when first resumed.
    ///
    /// `body` must not unwind: the green-thread wrapper catches every panic.
    pub(crate) fn new(stack: PooledStack, body: impl FnOnce() + 'static) -> Context {
        Context {
            coroutine: Coroutine::with_stack(stack, wrap(body)),
        }
    }

    /// Like [`Context::new`] for a body that borrows from the caller.
    ///
    /// # Safety
    /// Everything `body` borrows must outlive the context: the caller must
    /// drive it to completion (or drop it, which unwinds it) before any
    /// borrowed data goes away, and must not leak it.
    pub(crate) unsafe fn new_scoped<'a>(stack: PooledStack, body: impl FnOnce() + 'a) -> Context {
        // SAFETY: the borrowed data outlives the coroutine by this
        // function's contract.
        let coroutine = unsafe { Inner::with_stack_unchecked(stack, wrap(body)) };
        Context { coroutine }
    }

    /// Runs `green`, whose context this is, until it suspends (`false`)
    /// or finishes (`true`). Must be called from the hub, never from a
    /// green thread.
    pub(crate) fn resume(&mut self, green: &Green) -> bool {
        RUNNING.with(|running| running.set(green));
        let finished = matches!(self.coroutine.resume(()), CoroutineResult::Return(()));
        RUNNING.with(|running| running.set(std::ptr::null()));
        YIELDER.with(|slot| slot.set(std::ptr::null()));
        finished
    }

    /// Gives back the stack of a finished context.
    pub(crate) fn into_stack(self) -> PooledStack {
        self.coroutine.into_stack()
    }
}

/// Publishes the yielder when the coroutine starts, then runs `body`.
fn wrap<'a>(body: impl FnOnce() + 'a) -> impl FnOnce(&Yielder<(), ()>, ()) + 'a {
    move |yielder, ()| {
        YIELDER.with(|slot| slot.set(yielder));
        body();
    }
}

/// Whether the caller runs inside a green thread.
pub(crate) fn in_green_thread() -> bool {
    !YIELDER.with(Cell::get).is_null()
}

/// Switches from the running green thread back to the hub; returns when
/// the hub resumes it.
///
/// # Panics
/// When called outside a green thread (on the hub's own stack).
pub(crate) fn suspend() {
    let yielder = YIELDER.with(Cell::get);
    // SAFETY: a non-null YIELDER points to the yielder of the coroutine that
    // is running right now (module invariant), which lives on that
    // coroutine's stack for as long as the coroutine runs; we are that
    // coroutine, so it is alive.
    let yielder = unsafe { yielder.as_ref() }.expect("moss: suspend called outside a green thread");
    yielder.suspend(());
    // Other green threads ran meanwhile and the hub cleared the slot.
    YIELDER.with(|slot| slot.set(yielder));
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
