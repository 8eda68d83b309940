//! The scheduler state of one hub (run queue, tables, stacks, counters) and its thread-local home.
//!
//! Everything here is hub-local and single-threaded (`Rc`, `Cell`,
//! `RefCell`); the only borrow held across a switch is the resumed green
//! thread's own context, which nothing else touches while it runs. The
//! running green thread itself is published by `context.rs`. The event
//! loop that drives all this lives in `hub.rs`.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use slab::Slab;

use crate::context::{self, Context};
use crate::green::{Green, State};
use crate::io::Reactor;
use crate::monitor::Monitor;
use crate::offload;
use crate::remote::RemoteTable;
use crate::stack::{PooledStack, StackBudget, StackPool};
use crate::stats::Counters;
use crate::time::Timers;

thread_local! {
    /// The hub running on this OS thread, if any.
    static CURRENT: RefCell<Option<Rc<Hub>>> = const { RefCell::new(None) };
}

/// The hub on this OS thread (`None` also while the thread's locals are
/// being destroyed, when a registration dropped late asks).
pub(crate) fn current() -> Option<Rc<Hub>> {
    CURRENT
        .try_with(|current| current.borrow().clone())
        .ok()
        .flatten()
}

/// Runs `f` with this OS thread's hub, without cloning its `Rc` or
/// borrowing the slot it is kept in (the switch path's form of
/// [`current`]: one read of a plain thread-local); `None` where there is
/// no hub. `f` must not install or remove a hub.
#[inline(always)]
pub(crate) fn with_current<R>(f: impl FnOnce(&Hub) -> R) -> Option<R> {
    context::with_hub(f)
}

/// The green thread running on this OS thread.
#[inline]
pub(crate) fn current_green() -> Option<Rc<Green>> {
    context::with_running(Green::handle)
}

/// Runs `f` with the green thread running on this OS thread, without
/// cloning any `Rc` (the switch path's form of [`current_green`]).
#[inline]
pub(crate) fn with_running<R>(f: impl FnOnce(&Green) -> R) -> Option<R> {
    context::with_running(f)
}

/// Installs `sched` as this thread's hub; `false` if one is installed.
pub(crate) fn install(sched: Rc<Hub>) -> bool {
    CURRENT.with(|current| {
        let mut current = current.borrow_mut();
        if current.is_some() {
            return false;
        }
        context::publish_hub(Rc::as_ptr(&sched));
        *current = Some(sched);
        true
    })
}

/// Removes this thread's hub.
pub(crate) fn uninstall() -> Option<Rc<Hub>> {
    CURRENT.with(|current| {
        context::publish_hub(std::ptr::null());
        current.borrow_mut().take()
    })
}

/// Green-thread locals left in a dropped record (see [`Hub::orphans`]).
pub(crate) type Orphan = Vec<(usize, Rc<dyn std::any::Any>)>;

/// A destructor of an orphaned local panicked.
#[cold]
fn log_orphan_panic() {
    // A logger that panics must not unwind out of the hub either.
    let _ = std::panic::catch_unwind(|| {
        log::error!(
            "moss: a green-thread local left over when its green thread ended panicked when dropped"
        );
    });
}

/// A process-unique number of a hub: unlike an address, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HubId(u64);

impl HubId {
    fn next() -> HubId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        HubId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// How long a green thread stays in one park before its stack's dead part
/// is given back, and the least time between two sweeps.
const SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Green threads alive at once that make a burst worth trimming after.
const TRIM_BURST: usize = 256;

/// Least time between two trims.
const TRIM_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Logs a switch into `green` (the hub's trace).
#[cold]
fn trace_resume(green: &Green) {
    log::info!(
        target: "moss::trace",
        "hub: resume green thread {}{}",
        green.info.id,
        green
            .info
            .name
            .as_deref()
            .map(|name| format!(" ({name})"))
            .unwrap_or_default()
    );
}

/// Logs how `green` left the processor (the hub's trace).
#[cold]
fn trace_suspend(green: &Green, finished: bool) {
    let how = match (finished, green.state.get()) {
        (true, _) => "finished",
        (false, State::Ready) => "yielded",
        (false, State::Parked) => {
            let what = green.waiting_on.get();
            return log::info!(target: "moss::trace", "hub: green thread {} parked on {what}", green.info.id);
        }
        (false, _) => "suspended",
    };
    log::info!(target: "moss::trace", "hub: green thread {} {how}", green.info.id);
}

/// The green threads ready to run, in order: a FIFO linked through
/// [`Green::run_next`], so queueing and taking one is a few moves of
/// `Rc`s (no allocation, no borrow flag, no index arithmetic). The queue
/// owns one `Rc` of each queued green thread through its predecessor's
/// link (the head's through `head`); `tail` is a second handle on the
/// last one, to append to it.
#[derive(Default)]
struct RunQueue {
    head: Cell<Option<Rc<Green>>>,
    tail: Cell<Option<Rc<Green>>>,
    len: Cell<usize>,
}

impl RunQueue {
    /// Appends `green`, which is not queued.
    #[inline(always)]
    fn push(&self, green: Rc<Green>) {
        #[cfg(debug_assertions)]
        {
            let next = green.run_next.take();
            assert!(next.is_none(), "moss: a green thread queued twice");
        }
        match self.tail.replace(Some(Rc::clone(&green))) {
            Some(last) => fill(&last.run_next, green),
            None => fill(&self.head, green),
        }
        self.len.set(self.len.get() + 1);
    }

    /// Takes the first green thread.
    #[inline(always)]
    fn pop(&self) -> Option<Rc<Green>> {
        let first = self.head.take()?;
        match first.run_next.take() {
            Some(next) => fill(&self.head, next),
            None => self.tail.set(None),
        }
        self.len.set(self.len.get() - 1);
        Some(first)
    }

    #[inline(always)]
    fn len(&self) -> usize {
        self.len.get()
    }

    /// Empties the queue one link at a time (dropping the head would
    /// drop the chain recursively, one stack frame per queued green
    /// thread).
    fn clear(&self) {
        while self.pop().is_some() {}
    }
}

/// Stores `green` in an empty link: `Cell::set` without the drop of the
/// old value, which is known to be `None` (checked in debug builds).
#[inline(always)]
fn fill(link: &Cell<Option<Rc<Green>>>, green: Rc<Green>) {
    let old = link.replace(Some(green));
    debug_assert!(old.is_none(), "moss: a run-queue link was not empty");
    std::mem::forget(old);
}

impl Drop for RunQueue {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Settings fixed when a hub starts.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) stack_size: usize,
    pub(crate) root_stack_size: usize,
    pub(crate) max_stacks: Option<usize>,
    /// Bound on the offload pool's OS threads.
    pub(crate) offload_threads: usize,
    /// Threshold of the blocking monitor; `None`: no monitor.
    pub(crate) max_blocking_time: Option<std::time::Duration>,
    /// Log every switch and every epoll wait (`HubBuilder::trace`, or
    /// `MOSS_TRACE=1` in the environment).
    pub(crate) trace: bool,
}

/// The hub: a green-thread scheduler on one OS thread (its run queue,
/// green threads, timers, reactor, stacks and counters).
///
/// Users never hold one: [`run`](crate::run) starts a hub with the
/// defaults and [`Hub::builder`] configures one; inside, code reaches its
/// hub implicitly.
pub struct Hub {
    /// Green threads ready to run, in order.
    ready: RunQueue,
    /// The running green thread's handle (set by whoever switches to it);
    /// on the hub's stack, `Some` only when the green thread that switched
    /// back finished.
    running: Cell<Option<Rc<Green>>>,
    /// Switches left before the hub must check timers and I/O again
    /// (see [`Hub::run_ready`]); green threads hand off to each other while
    /// some are left.
    switches_left: Cell<usize>,
    /// The budget [`Hub::run_ready`] started with: the switches of the run
    /// in progress are `run_budget - switches_left`, added to
    /// `counters.switches` when it ends (one addition per run rather than
    /// one per switch; [`Hub::switches`] reads the sum at any time).
    run_budget: Cell<usize>,
    /// The last green thread that exited by handing off (see
    /// [`Hub::exit`]), whose stack is given back by [`Hub::reap`].
    exited: Cell<Option<Rc<Green>>>,
    /// Green-thread locals left in records that were dropped (values
    /// their destructors created again after every round of a green
    /// thread's end, see `Locals::clear`): dropped by the hub on its own
    /// stack ([`Hub::bury`]). A record may be dropped anywhere (by a stale
    /// unparker in a wait list or the timer heap, by a green thread that
    /// retires and hands off), and user code must never run on the stack
    /// of a green thread that has retired, nor in the middle of the
    /// runtime's own bookkeeping.
    orphans: RefCell<Vec<Orphan>>,
    /// The root green thread's id: it exits to the hub, which watches it.
    root_id: Cell<u64>,
    /// The blocking monitor or the trace is on: the hub's switch calls out
    /// to them (one branch per switch when both are off).
    instrumented: bool,
    /// The trace is on: every switch goes through the hub, which logs it
    /// (green threads do not hand off to each other).
    traced: bool,
    /// Every green thread that has not finished, by slot.
    greens: RefCell<Slab<Rc<Green>>>,
    pub(crate) timers: Timers,
    pub(crate) reactor: Reactor,
    /// Unparkers reachable from other OS threads.
    pub(crate) remote: RemoteTable,
    /// The offload pool, started by the first `spawn_blocking`.
    pub(crate) offload: RefCell<Option<offload::OffloadPool>>,
    /// The blocking monitor, when enabled.
    pub(crate) monitor: Option<Monitor>,
    pools: RefCell<Vec<StackPool>>,
    pub(crate) budget: Rc<StackBudget>,
    pub(crate) config: Config,
    pub(crate) counters: Counters,
    /// Set when the hub tears down: green threads spawned from then on
    /// start killed (they never run their function).
    pub(crate) ending: Cell<bool>,
    /// When parked stacks were last swept.
    last_sweep: Cell<Option<std::time::Instant>>,
    /// The most green threads alive since the last trim.
    peak_alive: Cell<usize>,
    /// When memory was last given back after a burst.
    last_trim: Cell<Option<std::time::Instant>>,
    /// Shielded parks of green threads that could not tell whether they
    /// are unwinding, with `context::unwinder_resumes()` when they parked;
    /// they decide again when an unwind elsewhere may have ended since
    /// ([`Hub::redecide`]).
    pub(crate) undecided: RefCell<Vec<(u64, crate::park::Unparker)>>,
    /// `context::unwinder_resumes()` at the last [`Hub::redecide`].
    redecided_at: Cell<u64>,
}

impl Drop for Hub {
    /// Left-over locals still here (a destructor that kept leaving more
    /// through every round of the teardown) are dropped outside any hub,
    /// each under `catch_unwind`.
    fn drop(&mut self) {
        for orphan in std::mem::take(self.orphans.get_mut()) {
            drop_orphan(orphan);
        }
    }
}

/// Drops left-over locals under `catch_unwind`, logging a panic.
pub(crate) fn drop_orphan(orphan: Orphan) {
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(orphan)));
    if let Err(payload) = dropped {
        log_orphan_panic();
        crate::green::discard(payload);
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("alive", &self.alive())
            .field("ready", &self.ready.len())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Hub {
    pub(crate) fn new(config: Config) -> io::Result<Hub> {
        let budget = StackBudget::new(config.max_stacks);
        let default_pool = StackPool::new(config.stack_size, Rc::clone(&budget));
        let id = HubId::next();
        let reactor = Reactor::new(id)?;
        Ok(Hub {
            ready: RunQueue::default(),
            running: Cell::new(None),
            switches_left: Cell::new(0),
            run_budget: Cell::new(0),
            exited: Cell::new(None),
            orphans: RefCell::new(Vec::new()),
            root_id: Cell::new(0),
            instrumented: config.trace || config.max_blocking_time.is_some(),
            traced: config.trace,
            greens: RefCell::new(Slab::new()),
            timers: Timers::default(),
            remote: RemoteTable::new(id, reactor.waker()),
            offload: RefCell::new(None),
            monitor: config.max_blocking_time.map(Monitor::start).transpose()?,
            reactor,
            pools: RefCell::new(vec![default_pool]),
            budget,
            config,
            counters: Counters::default(),
            ending: Cell::new(false),
            undecided: RefCell::new(Vec::new()),
            peak_alive: Cell::new(0),
            last_sweep: Cell::new(None),
            last_trim: Cell::new(None),
            redecided_at: Cell::new(0),
        })
    }

    /// Queues a green thread to run.
    #[inline(always)]
    pub(crate) fn make_ready(&self, green: Rc<Green>) {
        self.ready.push(green);
    }

    /// Green threads ready to run now.
    pub(crate) fn ready_len(&self) -> usize {
        self.ready.len()
    }

    /// Whether any green thread is ready to run.
    #[inline]
    pub(crate) fn has_ready(&self) -> bool {
        self.ready.len() != 0
    }

    /// Green threads alive (spawned and not finished).
    pub(crate) fn alive(&self) -> usize {
        self.greens.borrow().len()
    }

    /// Every live green thread (a snapshot).
    pub(crate) fn live_greens(&self) -> Vec<Rc<Green>> {
        self.greens
            .borrow()
            .iter()
            .map(|(_, green)| Rc::clone(green))
            .collect()
    }

    /// Takes a stack of at least `size` usable bytes (`None`: the hub's
    /// default size, whose pool is the first).
    fn take_stack(&self, size: Option<usize>) -> io::Result<PooledStack> {
        let Some(size) = size else {
            return self.pools.borrow()[0].take();
        };
        let mut pools = self.pools.borrow_mut();
        let page = crate::sys::page_size();
        let wanted = size.max(crate::stack::MIN_STACK_SIZE).div_ceil(page) * page;
        if let Some(pool) = pools.iter().find(|pool| pool.stack_size() == wanted) {
            return pool.take();
        }
        let pool = StackPool::new(wanted, Rc::clone(&self.budget));
        let stack = pool.take();
        pools.push(pool);
        stack
    }

    /// Creates a green thread whose context `make` builds on a fresh
    /// stack, and queues it.
    pub(crate) fn spawn(
        &self,
        name: Option<String>,
        stack_size: Option<usize>,
        make: impl FnOnce(PooledStack) -> Context,
    ) -> io::Result<Rc<Green>> {
        let stack = match self.take_stack(stack_size) {
            // A green thread that exited may still hold a stack.
            Err(_) if self.reap() => self.take_stack(stack_size)?,
            taken => taken?,
        };
        let info = stack.info();
        let context = make(stack);
        let id = self.counters.next_id();
        let green = Rc::new_cyclic(|me| Green::new(id, name, info, context, me.clone()));
        if self.ending.get() {
            green.interrupt(crate::park::Interrupt::Killed);
        }
        let mut greens = self.greens.borrow_mut();
        green.slot.set(greens.insert(Rc::clone(&green)));
        if greens.len() > self.peak_alive.get() {
            self.peak_alive.set(greens.len());
        }
        drop(greens);
        self.counters.spawned.set(self.counters.spawned.get() + 1);
        self.watch(&green);
        self.make_ready(Rc::clone(&green));
        Ok(green)
    }

    /// Takes a stack for the root green thread.
    pub(crate) fn root_stack(&self) -> io::Result<PooledStack> {
        self.take_stack(Some(self.config.root_stack_size))
    }

    /// Registers an already-built green thread (the root) and queues it.
    pub(crate) fn adopt(&self, green: &Rc<Green>) {
        self.root_id.set(green.info.id);
        green
            .slot
            .set(self.greens.borrow_mut().insert(Rc::clone(green)));
        self.counters.spawned.set(self.counters.spawned.get() + 1);
        self.watch(green);
        self.make_ready(Rc::clone(green));
    }

    /// Tells the monitor a named green thread's name.
    #[inline]
    fn watch(&self, green: &Green) {
        if let (Some(monitor), Some(name)) = (&self.monitor, green.info.name.as_deref()) {
            monitor.named(green.info.id, name);
        }
    }

    /// Runs ready green threads, those they make ready included, until
    /// none is ready, `budget` switches are done, or one finishes (the
    /// caller checks whether that ended the hub's work); returns how many
    /// ran. The caller bounds `budget`, so timers and I/O are checked
    /// between runs however busy the queue stays. The green threads hand
    /// the processor to each other within the budget ([`Hub::leave`]).
    pub(crate) fn run_ready(&self, budget: usize) -> usize {
        self.switches_left.set(budget);
        self.run_budget.set(budget);
        while let Some(green) = self.next_turn() {
            if self.switch_to(green) {
                break;
            }
        }
        let done = budget - self.switches_left.get();
        self.run_budget.set(0);
        self.switches_left.set(0);
        self.counters
            .switches
            .set(self.counters.switches.get() + done as u64);
        done
    }

    /// Turns given to green threads so far (see `Stats::switches`).
    pub(crate) fn switches(&self) -> u64 {
        let running = self.run_budget.get() - self.switches_left.get();
        self.counters.switches.get() + running as u64
    }

    /// Switches from the hub to `green` and runs green threads until one
    /// switches back; `true` when that one finished.
    #[inline(always)]
    fn switch_to(&self, green: Rc<Green>) -> bool {
        let watched = self.instrumented.then(|| {
            self.before_switch(&green);
            Rc::clone(&green)
        });
        context::set_running(&*green);
        let sp = green.context.sp();
        fill(&self.running, green);
        context::resume(sp);
        self.bury();
        let finished = self.running.take();
        if let Some(green) = watched {
            self.after_switch(&green, finished.is_some());
        }
        match finished {
            Some(green) => {
                self.finish(&green);
                true
            }
            None => false,
        }
    }

    /// Where the running green thread `me`, about to suspend, switches to:
    /// the next ready green thread, or the hub (when none is ready, the
    /// budget of switches is spent, or the trace logs every switch);
    /// `None` when `me` itself is next (it yielded and nothing else is
    /// ready). Queues `me` first if it suspends `Ready`, and publishes the
    /// one it switches to.
    #[inline(always)]
    pub(crate) fn leave(&self, me: &Green) -> Option<usize> {
        if me.state.get() == State::Ready
            && !self.has_ready()
            && self.switches_left.get() > 0
            && !self.traced
        {
            // A yield with nothing else ready: it goes on, one more turn,
            // without going through the queue (stamped for the blocking
            // monitor like any turn: it did not hold the hub).
            self.switches_left.set(self.switches_left.get() - 1);
            me.state.set(State::Running);
            if let Some(monitor) = &self.monitor {
                monitor.enter(me.info.id);
            }
            return None;
        }
        let mine = self.running.take();
        debug_assert!(mine.as_deref().is_some_and(|mine| std::ptr::eq(mine, me)));
        if me.state.get() == State::Ready {
            if let Some(mine) = mine {
                self.ready.push(mine);
            }
        } else {
            // Parked: its record stays alive in the table of live ones.
            drop(mine);
        }
        self.next(me)
    }

    /// Where the running green thread `me`, whose function has returned,
    /// switches to for the last time. The root, and every green thread
    /// while the trace logs every switch, go back to the hub, which
    /// retires them ([`Hub::finish`]). Any other is retired here, on its
    /// own stack (its joiner is woken), and hands off like
    /// [`Hub::leave`]; its stack, still in use until the switch, is given
    /// back later by [`Hub::reap`]. Nothing here runs user code: dropping
    /// a record (the previous exited one's, or a joiner's stale unparker)
    /// leaves its left-over locals to the hub ([`Hub::orphans`]).
    pub(crate) fn exit(&self, me: &Green) -> usize {
        if self.traced || me.info.id == self.root_id.get() {
            return context::hub_sp();
        }
        let mine = self
            .running
            .take()
            .expect("the running green thread's handle is the hub's");
        self.retire(&mine);
        // The previous one to exit is off its stack for good by now. (No
        // user code runs here: a record's left-over locals go to the hub.)
        if let Some(previous) = self.exited.replace(Some(mine)) {
            previous.context.release();
        }
        self.next(me)
            .unwrap_or_else(|| unreachable!("a finished green thread is never ready"))
    }

    /// Gives back the stack of the last green thread that exited by
    /// handing off ([`Hub::exit`]): when the next one exits, when the hub
    /// runs, and before anyone counts or lacks stacks (`moss::stats`, a
    /// spawn that finds none). Never called on that green thread's own
    /// stack: it never runs user code again once it exited. Deferred
    /// rather than done by the green thread it hands off to: a spawn and
    /// join then alternate between two warm stacks, which measured faster
    /// than reusing the one just left (spawn and join 133 against 145 ns).
    /// Returns whether there was one.
    pub(crate) fn reap(&self) -> bool {
        let exited = self.exited.take();
        if let Some(exited) = &exited {
            exited.context.release();
        }
        // Its record goes here: a record's drop runs no user code (its
        // left-over locals go to the hub's orphans).
        exited.is_some()
    }

    /// Takes the locals left in a record being dropped, for the hub to
    /// drop on its own stack ([`Hub::bury`]).
    pub(crate) fn adopt_orphans(&self, values: Orphan) {
        self.orphans.borrow_mut().push(values);
    }

    /// [`Hub::reap`], then drops the orphaned locals, each under
    /// `catch_unwind` (a destructor that panics is logged, as a panic
    /// payload that panics is). On the hub's stack only.
    pub(crate) fn bury(&self) {
        self.reap();
        if self.orphans.borrow().is_empty() {
            return;
        }
        loop {
            // Popped before it drops: the drop may run user code that
            // spawns green threads or drops more records.
            let orphan = self.orphans.borrow_mut().pop();
            let Some(orphan) = orphan else {
                break;
            };
            drop_orphan(orphan);
        }
    }

    /// Whether left-over locals wait for [`Hub::bury`].
    pub(crate) fn has_orphans(&self) -> bool {
        !self.orphans.borrow().is_empty()
    }

    /// Lets go of the records the hub holds for waits that can no longer
    /// end (teardown, once no green thread is alive): stale timer entries
    /// and undecided parks.
    pub(crate) fn let_go_of_records(&self) {
        self.timers.clear();
        let undecided = std::mem::take(&mut *self.undecided.borrow_mut());
        drop(undecided);
    }

    /// The next ready green thread's stack pointer, made the running one
    /// (and stamped for the blocking monitor, as the hub's own switch
    /// does; it publishes itself in `context::RUNNING` once on its stack);
    /// the hub's when none is ready, the budget is spent or the trace logs
    /// every switch; `None` when it is `me`.
    #[inline(always)]
    fn next(&self, me: &Green) -> Option<usize> {
        if self.traced {
            return Some(context::hub_sp());
        }
        let Some(next) = self.next_turn() else {
            return Some(context::hub_sp());
        };
        if let Some(monitor) = &self.monitor {
            monitor.enter(next.info.id);
        }
        let sp = (!std::ptr::eq(&*next, me)).then(|| next.context.sp());
        fill(&self.running, next);
        sp
    }

    /// The next ready green thread, marked running and counted against
    /// the budget of switches ([`Hub::run_ready`]); `None` when none is
    /// ready or the budget is spent. For the hub's switch and the
    /// hand-off alike.
    #[inline(always)]
    fn next_turn(&self) -> Option<Rc<Green>> {
        while self.switches_left.get() > 0 {
            let next = self.ready.pop()?;
            if next.state.get() == State::Done {
                continue;
            }
            self.switches_left.set(self.switches_left.get() - 1);
            next.state.set(State::Running);
            return Some(next);
        }
        None
    }

    /// The green thread the hub counts as running (switched to last).
    pub(crate) fn running_ptr(&self) -> *const Green {
        let running = self.running.take();
        let ptr = running
            .as_deref()
            .map_or(std::ptr::null(), std::ptr::from_ref);
        self.running.set(running);
        ptr
    }

    /// The monitor's stamp and the trace, before a switch.
    #[cold]
    fn before_switch(&self, green: &Green) {
        if let Some(monitor) = &self.monitor {
            monitor.enter(green.info.id);
        }
        if self.config.trace {
            trace_resume(green);
        }
    }

    /// The monitor's stamp and the trace, after a switch.
    #[cold]
    fn after_switch(&self, green: &Green, finished: bool) {
        if let Some(monitor) = &self.monitor {
            monitor.leave();
        }
        if self.config.trace {
            trace_suspend(green, finished);
        }
    }

    /// Retires a green thread whose function has returned, on the hub's
    /// stack, and gives its stack back. Kept out of line: it runs once per
    /// green thread, the switch path it would be inlined into runs on
    /// every yield.
    #[inline(never)]
    fn finish(&self, green: &Rc<Green>) {
        self.retire(green);
        green.context.release();
    }

    /// Marks a green thread whose function has returned done, removes it
    /// from the live ones and wakes its joiner; its stack is given back
    /// by the caller.
    #[inline(never)]
    fn retire(&self, green: &Rc<Green>) {
        green.state.set(State::Done);
        self.greens.borrow_mut().try_remove(green.slot.get());
        if let (Some(monitor), Some(_)) = (&self.monitor, &green.info.name) {
            monitor.forget(green.info.id);
        }
        if let Some(joiner) = green.join_waiter.borrow_mut().take() {
            joiner.unpark_once();
        }
    }

    /// How long until the next stack sweep, when one may find something to
    /// give back (green threads other than the root are alive).
    pub(crate) fn sweep_due_in(&self, now: std::time::Instant) -> Option<std::time::Duration> {
        if self.alive() <= 1 {
            return None;
        }
        let last = self.last_sweep.get()?;
        Some((last + SWEEP_INTERVAL).saturating_duration_since(now))
    }

    /// Gives back the dead part of the stacks of green threads that have
    /// stayed in one park since the previous sweep (at least
    /// [`SWEEP_INTERVAL`]: idle keep-alive connections, long sleeps): a
    /// stack keeps every page it ever touched, so one deep call before a
    /// long wait would otherwise stay resident for the whole wait. At most
    /// once per [`SWEEP_INTERVAL`], when the hub is about to poll; one
    /// `madvise` per such green thread and park.
    pub(crate) fn sweep_parked_stacks(&self, now: std::time::Instant) {
        match self.last_sweep.get() {
            None => {
                self.last_sweep.set(Some(now));
                return;
            }
            Some(last) if now.saturating_duration_since(last) < SWEEP_INTERVAL => return,
            Some(_) => self.last_sweep.set(Some(now)),
        }
        for (_, green) in self.greens.borrow().iter() {
            if green.state.get() != State::Parked {
                continue;
            }
            let generation = green.generation.get();
            if green.sweep_seen.replace(generation) == generation
                && green.sweep_done.get() != generation
            {
                green.sweep_done.set(generation);
                crate::stack::discard_dead_part(green);
                self.counters
                    .stacks_swept
                    .set(self.counters.stacks_swept.get() + 1);
            }
        }
    }

    /// After a burst (at least [`TRIM_BURST`] green threads alive, and now
    /// at most a quarter of that peak), gives memory back to the kernel:
    /// the pages of the free stacks but their top page, and the heap the
    /// finished green threads freed. At most once per [`TRIM_INTERVAL`];
    /// called when the hub is about to poll, never on the switch path.
    pub(crate) fn trim_after_burst(&self, now: std::time::Instant) {
        let alive = self.alive();
        let peak = self.peak_alive.get();
        if peak < TRIM_BURST || alive > peak / 4 {
            return;
        }
        if self
            .last_trim
            .get()
            .is_some_and(|last| now.saturating_duration_since(last) < TRIM_INTERVAL)
        {
            return;
        }
        self.last_trim.set(Some(now));
        self.peak_alive.set(alive);
        for pool in self.pools.borrow().iter() {
            pool.trim();
        }
        crate::sys::trim_heap();
        self.counters.trims.set(self.counters.trims.get() + 1);
    }

    /// Ends the undecided parks (see [`Hub::undecided`]) when a green
    /// thread that was suspended mid-unwind has resumed: its unwind may be
    /// over, and theirs is perhaps decidable now.
    /// A park decides again only after a resume that came after it began,
    /// so a green thread is never woken by its own resume.
    #[inline]
    pub(crate) fn redecide(&self) {
        if context::unwinder_resumes() != self.redecided_at.get() {
            self.redecide_undecided();
        }
    }

    #[cold]
    fn redecide_undecided(&self) {
        let resumes = context::unwinder_resumes();
        self.redecided_at.set(resumes);
        let mut woken = Vec::new();
        self.undecided.borrow_mut().retain(|(parked_at, unparker)| {
            if !unparker.is_waiting() {
                return false;
            }
            if *parked_at < resumes {
                woken.push(unparker.clone());
                return false;
            }
            true
        });
        woken.iter().for_each(crate::park::redecide);
    }

    /// Gives up on every green thread still alive: each is marked done
    /// and its context, unfinished, is leaked with its record (it is never
    /// resumed, see `context.rs`). For teardown only, once they could not
    /// be made to finish.
    pub(crate) fn leak_all(&self) {
        let greens: Vec<_> = self.greens.borrow_mut().drain().collect();
        self.ready.clear();
        for green in greens {
            // Its context, unfinished, is leaked when the record goes.
            green.state.set(State::Done);
        }
    }
}
