//! Execution contexts of green threads: the stack switch (x86-64 assembly) and the thread-local slots that say who runs.
//!
//! A [`Context`] is a suspended computation on a pooled, guard-paged
//! stack: the stack pointer it stopped at, with the six callee-saved
//! registers and the address to go on at pushed below it. [`switch`]
//! saves the running one's and loads another's: the hub's own stack
//! (the OS thread's) or a green thread's. Switching is symmetric: a
//! green thread that parks or yields hands the processor straight to the
//! next ready one (`Hub::leave` decides), and goes back to the hub only
//! when none is ready, the hub's budget of switches between two polls is
//! spent, or it finished. One hand-off is one call and one return on each
//! side, and every green thread switches from the same instruction (in
//! [`suspend`]), so the processor's return predictions stay right; an
//! asymmetric switch through the hub mispredicts two returns per hand-off.
//!
//! The hub publishes the green thread it runs in [`RUNNING`], set by
//! whoever switches into it (the hub, or the green thread handing off)
//! and cleared on the way back to the hub: `moss::current`, the park
//! protocol and the stack-overflow handler read it.
//!
//! Nothing of a green thread unwinds past its own frame: its first frame
//! ([`start`]) catches every panic (the green-thread wrappers catch the
//! function's own and turn them into values; `start` catches what a
//! destructor of theirs may still raise), and is `extern "C"`, so an
//! unwind that still escaped would abort rather than cross stacks. The
//! trampoline below it marks the end of the stack for unwinders and
//! debuggers: a backtrace taken in a green thread ends there.
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
//! A context that never finished is leaked with its stack, never
//! force-unwound: unwinding it from outside would run its destructors
//! outside any green thread, where one that blocks has nowhere to go. The
//! hub only drops unfinished contexts of green threads that could not be
//! made to finish (see `hub.rs`, teardown).
//!
//! # Other architectures
//!
//! The switch and the trampoline are x86-64 (System V) assembly; a port
//! adds both for its architecture (and [`stack_pointer`]), nothing else.
//! The floating-point control words (MXCSR, x87) are not switched: Rust
//! code never changes them.

use std::cell::Cell;
use std::mem::{align_of, size_of};

use crate::green::Green;
use crate::sched::Hub;
use crate::stack::PooledStack;

#[cfg(not(target_arch = "x86_64"))]
compile_error!(
    "moss-runtime switches stacks with x86-64 assembly (runtime/src/context.rs); \
     another architecture needs its own `switch` and `trampoline` there"
);

/// The largest body moved onto a new green thread's stack as it is; a
/// larger one (a closure that captures a big value) travels boxed, so a
/// new green thread touches one page of its stack, not several.
const INLINE_BODY: usize = 512;

/// Bytes of a new context's first frame: the six registers [`switch`]
/// pops, the address it returns to ([`trampoline`]), and 16 bytes that
/// keep the trampoline's stack pointer 16-byte aligned as the ABI wants
/// at a call.
const FIRST_FRAME: usize = 9 * 8;

thread_local! {
    /// The green thread whose stack is in use on this OS thread, or null
    /// on the hub's own stack. The hub sets it before it switches to a
    /// green thread and clears it once back; a green thread switched to by
    /// another sets it itself, first thing on its own stack; during a
    /// hand-off it still names the one leaving, whose stack the switch
    /// uses (so a stack overflow there is blamed on the right one). The
    /// pointee is alive whenever the slot is non-null: the hub holds every
    /// green thread that may be named (its table of live ones, its
    /// running slot, or, for one that exited by handing off, its exited
    /// slot until the next one runs). Const-initialised and without
    /// destructor: readable from a signal handler.
    static RUNNING: Cell<*const Green> = const { Cell::new(std::ptr::null()) };

    /// This OS thread's hub, or null: non-null only while `sched`'s slot
    /// holds the hub's `Rc` (set and cleared with it, [`publish_hub`]), so
    /// the pointee is alive whenever it is non-null. Kept here, beside
    /// [`RUNNING`], so the switch path reaches the hub with one plain
    /// read instead of a `RefCell` borrow of a thread-local that has a
    /// destructor.
    static HUB: Cell<*const Hub> = const { Cell::new(std::ptr::null()) };

    /// The hub's own stack pointer, saved while a green thread runs.
    static HUB_SP: Cell<usize> = const { Cell::new(0) };

    /// Stacks of this OS thread, other than the running one, that are in
    /// the middle of an unwind (see the module docs).
    static UNWINDING_ELSEWHERE: Cell<usize> = const { Cell::new(0) };

    /// How many times a stack counted in [`UNWINDING_ELSEWHERE`] has
    /// resumed: green threads that could not tell whether they are
    /// unwinding decide again after it moved (see `Hub::redecide`).
    static UNWINDER_RESUMES: Cell<u64> = const { Cell::new(0) };
}

/// Marks a stack pointer as a new context's, never run: [`switch`]
/// enters it by a jump to [`trampoline`] instead of a return. (Stack
/// pointers are 8-byte aligned: the low bit is free.)
const FRESH: usize = 1;

/// Saves the callee-saved registers and the stack pointer of the caller
/// in `*save`, then loads the stack pointer `load` (saved there by an
/// earlier `switch`) and returns on that stack; or, for a first frame
/// made by [`Context::prepare`] (marked [`FRESH`]), loads its registers
/// and jumps to [`trampoline`].
///
/// A new context is entered by a jump, not a return: a return would
/// consume the return-stack buffer's entry for the caller's own call,
/// and the processor would predict every return of the next context
/// resumed one frame off. Left in place, that entry predicts the new
/// context's last switch ([`switch_last`]) back to whoever started it
/// (a joiner, the hub).
///
/// # Safety
/// `load` is the stack pointer of a suspended context of this OS thread
/// (not the caller's own) whose stack is alive, and nothing else resumes
/// it meanwhile; `save` is writable.
#[unsafe(naked)]
unsafe extern "C" fn switch(save: *mut usize, load: usize) {
    std::arch::naked_asm!(
        ".cfi_startproc",
        "push rbp",
        ".cfi_adjust_cfa_offset 8",
        ".cfi_rel_offset rbp, 0",
        "push rbx",
        ".cfi_adjust_cfa_offset 8",
        ".cfi_rel_offset rbx, 0",
        "push r12",
        ".cfi_adjust_cfa_offset 8",
        ".cfi_rel_offset r12, 0",
        "push r13",
        ".cfi_adjust_cfa_offset 8",
        ".cfi_rel_offset r13, 0",
        "push r14",
        ".cfi_adjust_cfa_offset 8",
        ".cfi_rel_offset r14, 0",
        "push r15",
        ".cfi_adjust_cfa_offset 8",
        ".cfi_rel_offset r15, 0",
        "mov [rdi], rsp",
        "test sil, {fresh}",
        "jnz 2f",
        // The other stack has the same layout below its stack pointer, so
        // the unwind information above stays true across the switch.
        "mov rsp, rsi",
        ".cfi_remember_state",
        "pop r15",
        ".cfi_adjust_cfa_offset -8",
        "pop r14",
        ".cfi_adjust_cfa_offset -8",
        "pop r13",
        ".cfi_adjust_cfa_offset -8",
        "pop r12",
        ".cfi_adjust_cfa_offset -8",
        "pop rbx",
        ".cfi_adjust_cfa_offset -8",
        "pop rbp",
        ".cfi_adjust_cfa_offset -8",
        "ret",
        "2:",
        ".cfi_restore_state",
        // A first frame: the same six registers, then the trampoline's
        // slot, skipped; from here on the new stack has no caller.
        // (Absolute offsets: after `.cfi_restore_state` the assembler's
        // running count is the other path's.)
        "lea rsp, [rsi - {fresh}]",
        ".cfi_undefined rip",
        "pop r15",
        ".cfi_def_cfa_offset 48",
        "pop r14",
        ".cfi_def_cfa_offset 40",
        "pop r13",
        ".cfi_def_cfa_offset 32",
        "pop r12",
        ".cfi_def_cfa_offset 24",
        "pop rbx",
        ".cfi_def_cfa_offset 16",
        "pop rbp",
        ".cfi_def_cfa_offset 8",
        "add rsp, 8",
        ".cfi_def_cfa rsp, 0",
        "jmp {trampoline}",
        ".cfi_endproc",
        fresh = const FRESH,
        trampoline = sym trampoline,
    )
}

/// The last switch of a finished context: loads the context whose stack
/// pointer is in `rdi` as [`switch`] does, saving nothing (the finished
/// one never runs again). Jumped to by [`trampoline`], on the finished
/// context's stack, which nothing uses from here on.
///
/// # Safety
/// As [`switch`]'s `load`; jumped to, never called.
#[unsafe(naked)]
unsafe extern "C" fn switch_last() {
    std::arch::naked_asm!(
        ".cfi_startproc",
        ".cfi_undefined rip",
        "test dil, {fresh}",
        "jnz 2f",
        "mov rsp, rdi",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret",
        "2:",
        "lea rsp, [rdi - {fresh}]",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "add rsp, 8",
        "jmp {trampoline}",
        ".cfi_endproc",
        fresh = const FRESH,
        trampoline = sym trampoline,
    )
}

/// The first code a new context runs ([`switch`] jumps here once it
/// loaded the first frame): calls `r12(rbx)`, the body's entry and its
/// address (see [`Context::prepare`]), which returns the stack pointer
/// of the context to go on with, and makes the last switch to it
/// ([`switch_last`]). Its unwind information says the caller's address is
/// undefined: the end of the stack, where backtraces stop.
///
/// The last switch is made here, from the frame the context started in,
/// rather than from inside [`start`]: a green thread's calls and returns
/// are then balanced from its first instruction to its last switch, so
/// the return-stack buffer (the processor's prediction of returns) holds
/// the frames of the context it goes back to. A switch from deep inside
/// `start` left its never-returning calls there, and every return of the
/// next context was predicted one or two frames off.
#[unsafe(naked)]
unsafe extern "C" fn trampoline() {
    std::arch::naked_asm!(
        ".cfi_startproc",
        ".cfi_undefined rip",
        "mov rdi, rbx",
        "call r12",
        "mov rdi, rax",
        "jmp {last}",
        ".cfi_endproc",
        last = sym switch_last,
    )
}

/// A green thread's machine context and its stack.
pub(crate) struct Context {
    /// Where it goes on: its stack pointer, saved by [`switch`] (or its
    /// first frame, before it ever ran). Meaningless while it runs.
    sp: Cell<usize>,
    /// The stack; taken back by [`Context::release`] once finished.
    stack: Cell<Option<PooledStack>>,
    /// Its body has returned and it switched away for the last time.
    finished: Cell<bool>,
}

impl Context {
    /// A context that will run `body` on `stack` when first resumed.
    ///
    /// `body` must not unwind: the green-thread wrapper catches every panic.
    pub(crate) fn new<F: FnOnce() + 'static>(stack: PooledStack, body: F) -> Context {
        // SAFETY: `body` borrows nothing (`'static`).
        unsafe { Context::new_scoped(stack, body) }
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
        // SAFETY: passed on from the caller.
        unsafe {
            if size_of::<F>() <= INLINE_BODY && align_of::<F>() <= 16 {
                Context::prepare(stack, body)
            } else {
                let body: Box<dyn FnOnce() + 'a> = Box::new(body);
                Context::prepare(stack, body)
            }
        }
    }

    /// Moves `body` to the top of `stack` and makes below it the first
    /// frame [`switch`] loads (its stack pointer marked [`FRESH`]):
    /// registers that make [`trampoline`] call [`start`] with the body's
    /// address.
    ///
    /// # Safety
    /// As [`Context::new_scoped`]; `F` is at most [`INLINE_BODY`] bytes and
    /// 16-byte aligned at most.
    unsafe fn prepare<F: FnOnce()>(stack: PooledStack, body: F) -> Context {
        debug_assert!(size_of::<F>() <= INLINE_BODY && align_of::<F>() <= 16);
        let top = stack.top();
        debug_assert_eq!(top % 16, 0);
        let body_at = (top - size_of::<F>()) & !15;
        let sp = body_at - FIRST_FRAME;
        let entry: unsafe extern "C" fn(*mut F) -> usize = start::<F>;
        // r15, r14, r13, r12, rbx, rbp (in the order `switch` pops them),
        // the trampoline (skipped by `switch`, which jumps there: the
        // address a debugger sees), and zeros up to the body.
        let frame: [usize; FIRST_FRAME / 8] = [
            0,
            0,
            0,
            entry as usize,
            body_at,
            0,
            trampoline as *const () as usize,
            0,
            0,
        ];
        // SAFETY: `sp..top` lies in the usable part of the stack (the pool
        // gives at least `MIN_STACK_SIZE` bytes below `top`, more than the
        // largest inline body and the frame), which no one else uses while
        // this context owns the stack; `body_at` and `sp` are 16- and
        // 8-byte aligned, enough for `F` (at most 16) and `usize`. `start`
        // reads the body exactly once, or the context is leaked unread.
        unsafe {
            (body_at as *mut F).write(body);
            (sp as *mut [usize; FIRST_FRAME / 8]).write(frame);
        }
        Context {
            sp: Cell::new(sp | FRESH),
            stack: Cell::new(Some(stack)),
            finished: Cell::new(false),
        }
    }

    /// Where this context goes on when switched to.
    #[inline(always)]
    pub(crate) fn sp(&self) -> usize {
        debug_assert!(!self.finished.get(), "moss: a finished context resumed");
        self.sp.get()
    }

    /// Gives a finished context's stack back to its pool.
    pub(crate) fn release(&self) {
        if self.finished.get() {
            drop(self.stack.take());
        }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if let Some(stack) = self.stack.take() {
            if self.finished.get() {
                drop(stack);
            } else {
                // Unfinished: leaked with its stack (see the module docs).
                std::mem::forget(stack);
            }
        }
    }
}

/// A new context's first Rust frame: runs the body [`Context::prepare`]
/// put at `body`, catching whatever it lets escape, and returns the stack
/// pointer [`trampoline`] makes the last switch to.
///
/// # Safety
/// Called once, by [`trampoline`], with the address of that body.
unsafe extern "C" fn start<F: FnOnce()>(body: *mut F) -> usize {
    // The hub, or the green thread that handed off, made this one the
    // running one before switching; published now that its stack is in use.
    if let Some(me) = with_hub(Hub::running_ptr) {
        RUNNING.with(|running| running.set(me));
    }
    // SAFETY: `prepare` wrote an `F` there, and this is its one read.
    let body = unsafe { body.read() };
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        crate::green::discard(payload);
    }
    exit()
}

/// Marks the running green thread finished and picks where it switches
/// for the last time: the next ready green thread or the hub (`Hub::exit`
/// decides; its stack is given back once it is off it). [`trampoline`]
/// makes that switch ([`switch_last`]).
///
/// The switch is sound to make: the stack pointer returned is a
/// suspended context's of this OS thread (the hub's, suspended in
/// `resume` while green threads run, or a ready green thread's, published
/// as running), not this one's; this stack's frames are dead from the
/// switch on, and nothing switches back to it (it is finished). Its
/// record stays alive through the switch (the hub holds it until it
/// gives the stack back), so RUNNING, which still names it, stays valid.
#[inline(always)]
fn exit() -> usize {
    let me = RUNNING.with(Cell::get);
    // SAFETY: non-null while a green thread runs, and alive (module
    // invariant); this green thread runs.
    let me = unsafe { me.as_ref() }.expect("a finished body ran in a green thread");
    me.context.finished.set(true);
    // Its last stack pointer is dead from here on: a bug that resumed it
    // would fault at once instead of running dead frames.
    me.context.sp.set(0);
    with_hub(|hub| hub.exit(me)).expect("moss: a green thread runs inside its hub")
}

/// Runs the green thread whose context's stack pointer is `sp`, which the
/// caller published with [`set_running`], until some green thread
/// switches back to the hub. Called by the hub on its own stack only.
#[inline(always)]
pub(crate) fn resume(sp: usize) {
    // SAFETY: the hub's stack is the caller's, saved to HUB_SP, where every
    // green thread switching back finds it; `sp` is a suspended context's
    // (the caller's contract), whose stack the green thread owns.
    HUB_SP.with(|hub| unsafe { switch(hub.as_ptr(), sp) });
    RUNNING.with(|running| running.set(std::ptr::null()));
}

/// Publishes `green` as the running green thread (null: the hub), just
/// before switching to it. `green` must be in the hub's table.
#[inline(always)]
pub(crate) fn set_running(green: *const Green) {
    RUNNING.with(|running| running.set(green));
}

/// Publishes this OS thread's hub (null: none). `sched::install` and
/// `sched::uninstall` call it as they fill and empty the slot that owns
/// the hub, and only they.
pub(crate) fn publish_hub(hub: *const Hub) {
    HUB.with(|slot| slot.set(hub));
}

/// Runs `f` with this OS thread's hub (`None` without one).
#[inline(always)]
pub(crate) fn with_hub<R>(f: impl FnOnce(&Hub) -> R) -> Option<R> {
    let hub = HUB.with(Cell::get);
    // SAFETY: a non-null HUB points to the hub that `sched`'s slot owns
    // (see HUB), alive until `uninstall` clears HUB before it lets go of
    // it; the reference does not outlive this call, and `f` does not
    // install or remove a hub (`with_current`'s contract).
    unsafe { hub.as_ref() }.map(f)
}

/// The hub's stack pointer, for a green thread going back to it.
#[inline(always)]
pub(crate) fn hub_sp() -> usize {
    HUB_SP.with(Cell::get)
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

/// Whether the caller runs inside a green thread: one read of a
/// const-initialised thread-local without destructor, so it is cheap and
/// safe to call anywhere (before `main`, in a signal handler, while the
/// thread's locals are being destroyed).
#[inline]
pub fn in_green_thread() -> bool {
    !RUNNING.with(Cell::get).is_null()
}

/// Switches from the running green thread to the next ready one, or back
/// to the hub (`Hub::leave` decides, after queueing the green thread if
/// it suspends `Ready`); returns when it is switched to again, at once if
/// it is the next to run. A green thread that leaves mid-unwind is
/// counted in [`unwinding_elsewhere`] until it is back.
///
/// # Panics
/// When called outside a green thread (on the hub's own stack).
#[inline]
pub(crate) fn suspend() {
    let me = RUNNING.with(Cell::get);
    // SAFETY: a non-null RUNNING points to the running green thread, alive
    // while it is in the hub's table (module invariant); we are that green
    // thread, unfinished, so it stays alive for as long as we run.
    let me = unsafe { me.as_ref() }.expect("moss: suspend called outside a green thread");
    if std::thread::panicking() {
        suspend_while_some_stack_unwinds(me);
    } else {
        switch_away(me);
    }
}

/// The one place a green thread switches from (but for its last switch,
/// made by [`trampoline`]): every suspended green thread goes on at the same
/// instruction, which keeps the processor's return predictions right.
#[inline(never)]
fn switch_away(me: &Green) {
    let next = crate::sched::with_current(|hub| hub.leave(me))
        .expect("moss: a green thread runs inside its hub");
    if let Some(sp) = next {
        // SAFETY: `leave` returned the stack pointer of a suspended context
        // of this OS thread that is not this one (the hub's, or a ready
        // green thread's); this one's stack pointer is saved in its own
        // record, which outlives the switch (it is in the hub's table).
        unsafe { switch(me.context.sp.as_ptr(), sp) };
        // Published only now, on its own stack: until the switch the
        // leaving green thread's stack was in use (see RUNNING).
        RUNNING.with(|running| running.set(me));
    }
}

/// [`suspend`] while std says some stack of this OS thread is unwinding.
/// The green thread is counted in [`unwinding_elsewhere`] whether or not
/// the unwind is its own (which cannot always be told): an uncounted green
/// thread mid-unwind would make std's flag look exact to the others, and
/// counting one too many only makes the others rely on their records a
/// little longer. Its record is refreshed on the way.
#[cold]
fn suspend_while_some_stack_unwinds(me: &Green) {
    me.is_unwinding();
    UNWINDING_ELSEWHERE.with(|count| count.set(count.get() + 1));
    switch_away(me);
    UNWINDING_ELSEWHERE.with(|count| count.set(count.get() - 1));
    // Woken only to decide again, it has not moved its unwind on: that
    // resume must not wake the other undecided ones in turn.
    let moved_on = !(me.undecided.get() && me.woke.get() == crate::park::Wake::Interrupted);
    if moved_on {
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
    // SAFETY: a non-null RUNNING points to the running green thread, which
    // the hub's table keeps alive while it runs (module invariant); the
    // reference does not outlive this call.
    unsafe { running.as_ref() }.map(f)
}

/// The raw running pointer, for the stack-overflow handler.
pub(crate) fn running_ptr() -> *const Green {
    RUNNING.with(Cell::get)
}
