//! The hub: one scheduler per OS thread and its event loop (run ready green threads, fire timers, poll I/O).
//!
//! ```text
//!   ┌────────────────────────────────────────────────────────────┐
//!   │ loop                                                       │
//!   │   run ready green threads in order (a FIFO), those they    │
//!   │   make ready too, until none is ready or one finishes      │
//!   │   every 61 switches, or when nothing is ready:             │
//!   │     fire due timers                                        │
//!   │     poll epoll: no wait if work is ready (and only if some │
//!   │     green thread waits for I/O), else until the next       │
//!   │     deadline; wake the I/O waiters                         │
//!   │   until the root green thread has finished                 │
//!   └────────────────────────────────────────────────────────────┘
//! ```
//!
//! When the root returns, every green thread still alive is killed and
//! the loop runs until they have unwound; then `run` returns the root's
//! value (or resumes its panic).

use std::cell::RefCell;
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::context::{Context, HubUnwinding, RootFrame};
use crate::green::{self, Green, JoinError, State};
use crate::sched::{self, Config, Hub};
use crate::stack::overflow;

/// Default usable stack of a green thread: 256 KiB.
///
/// Only touched pages cost memory (a parked green thread that used little
/// stack is one resident page), so the size is address space, reserved with
/// `MAP_NORESERVE`: 1,000,000 green threads reserve 256 GiB of the 128 TiB
/// user address space. 256 KiB holds the deep call chains of ordinary
/// blocking code (HTTP clients, TLS, serde, formatting in debug builds);
/// smaller stacks (`Builder::stack_size`) suit leaf tasks.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// The root green thread's stack: as large as a main thread's.
pub const DEFAULT_ROOT_STACK_SIZE: usize = 8 * 1024 * 1024;

/// Switches between two checks of timers and I/O while work stays ready.
const EVENT_INTERVAL: usize = 61;

impl Hub {
    /// A builder for a hub with custom settings.
    pub fn builder() -> HubBuilder {
        HubBuilder::default()
    }
}

/// Settings of a hub, then [`HubBuilder::run`].
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// let spawned = moss::Hub::builder()
///     .stack_size(64 * 1024)
///     .max_stacks(1_000)
///     .run(|| {
///         moss::spawn(|| ()).join().unwrap();
///         moss::stats().spawned
///     });
/// assert_eq!(spawned, 2);
/// ```
#[derive(Debug, Clone)]
#[must_use = "a HubBuilder does nothing until run is called"]
pub struct HubBuilder {
    config: Config,
}

impl Default for HubBuilder {
    fn default() -> HubBuilder {
        HubBuilder {
            config: Config {
                stack_size: DEFAULT_STACK_SIZE,
                root_stack_size: DEFAULT_ROOT_STACK_SIZE,
                max_stacks: None,
                offload_threads: crate::offload::DEFAULT_OFFLOAD_THREADS,
                max_blocking_time: None,
                trace: std::env::var_os("MOSS_TRACE").is_some_and(|v| v != "0" && !v.is_empty()),
            },
        }
    }
}

impl HubBuilder {
    /// Default usable stack bytes of spawned green threads
    /// ([`DEFAULT_STACK_SIZE`] unless set).
    pub fn stack_size(mut self, size: usize) -> HubBuilder {
        self.config.stack_size = size;
        self
    }

    /// Stack of the root green thread ([`DEFAULT_ROOT_STACK_SIZE`] unless set).
    pub fn root_stack_size(mut self, size: usize) -> HubBuilder {
        self.config.root_stack_size = size;
        self
    }

    /// At most `max` green threads (stacks) alive at once, the root
    /// included; beyond it `Builder::spawn` fails with
    /// `ErrorKind::OutOfMemory`. Unlimited unless set.
    pub fn max_stacks(mut self, max: usize) -> HubBuilder {
        self.config.max_stacks = Some(max);
        self
    }

    /// At most `threads` OS threads in this hub's offload pool (see
    /// [`spawn_blocking`](crate::spawn_blocking));
    /// [`DEFAULT_OFFLOAD_THREADS`](crate::DEFAULT_OFFLOAD_THREADS) unless
    /// set. Zero counts as one.
    pub fn offload_threads(mut self, threads: usize) -> HubBuilder {
        self.config.offload_threads = threads;
        self
    }

    /// Starts the blocking monitor: a watchdog OS thread that logs a
    /// warning (`log::warn!`, naming the green thread and for how long)
    /// whenever one green thread holds the hub longer than `threshold`
    /// without reaching a blocking point, and counts these events in
    /// [`Stats::blocked`](crate::Stats::blocked). Off unless set; when off
    /// it costs one branch per switch.
    ///
    /// # Examples
    /// ```
    /// # use moss_runtime as moss;
    /// use std::time::Duration;
    /// let blocked = moss::Hub::builder()
    ///     .max_blocking_time(Duration::from_millis(100))
    ///     .run(|| {
    ///         moss::sleep(Duration::from_millis(1)); // yields: not reported
    ///         moss::stats().blocked
    ///     });
    /// assert_eq!(blocked, 0);
    /// ```
    pub fn max_blocking_time(mut self, threshold: Duration) -> HubBuilder {
        self.config.max_blocking_time = Some(threshold);
        self
    }

    /// Logs every switch (which green thread the hub resumes, and how it
    /// leaves: yielded, parked on what, finished) and every epoll wait, at
    /// `info` level with the target `moss::trace`: how a hub interleaves
    /// its green threads, made visible. Off unless set, or unless
    /// `MOSS_TRACE=1` is in the environment; when off it costs one branch
    /// per switch. Heavy: for understanding and debugging, not production.
    pub fn trace(mut self, on: bool) -> HubBuilder {
        self.config.trace = on;
        self
    }

    /// Runs `f` as the root green thread of a new hub on this OS thread
    /// and returns its value; see [`run`].
    pub fn run<F, T>(self, f: F) -> T
    where
        F: FnOnce() -> T,
    {
        let hub = match Hub::new(self.config) {
            Ok(hub) => Rc::new(hub),
            Err(err) => panic!("moss: cannot start a hub: {err}"),
        };
        if !sched::install(Rc::clone(&hub)) {
            panic!(
                "moss::run called inside a running hub: nested hubs on one OS thread are not supported \
                 (spawn a green thread instead, or start a hub on another OS thread)"
            );
        }
        // Declared before the frame and the guard, so that it outlives
        // every resumption of the root (whose body borrows it).
        let result: RefCell<Option<Result<T, JoinError>>> = RefCell::new(None);
        // Aborts if `run` would return or unwind with the root unfinished.
        let frame = RootFrame::new();
        let mut teardown = Teardown {
            hub: Rc::clone(&hub),
            done: false,
        };
        // `run` itself may be called by a destructor during an unwind.
        let _caller = HubUnwinding::enter(std::thread::panicking());
        overflow::install();
        green::watch_panics();

        let root = {
            let stack = hub
                .root_stack()
                .unwrap_or_else(|err| panic!("moss: no stack for the root: {err}"));
            let id = hub.counters.next_id();
            let body = || {
                *result.borrow_mut() = Some(green::run_body(f));
            };
            let info = stack.info();
            let context = Context::root(&frame, stack, body);
            let root =
                Rc::new_cyclic(|me| Green::new(id, Some("root".into()), info, context, me.clone()));
            hub.adopt(&root);
            root
        };
        let stopped = event_loop(&hub, || root.state.get() == State::Done);
        drop(root);
        teardown.done = true;
        tear_down(&hub, false);
        match stopped {
            Ok(()) => {}
            Err(Stop::Deadlock(report)) => panic!("{report}"),
            Err(Stop::Poll(err)) => panic!("moss: polling for I/O failed: {err}"),
        }
        let result = result.borrow_mut().take();
        match result {
            Some(Ok(value)) => value,
            Some(Err(err)) => match err.try_into_panic() {
                Ok(payload) => panic::resume_unwind(payload),
                Err(err) => panic!("moss: the root green thread ended without a value: {err}"),
            },
            None => panic!("moss: the root green thread did not finish"),
        }
    }
}

/// Tears the hub down if `run` unwinds before it could (a panic in the
/// hub's own code), and removes it from the thread in every case.
struct Teardown {
    hub: Rc<Hub>,
    /// `run` tore the hub down itself.
    done: bool,
}

impl Drop for Teardown {
    fn drop(&mut self) {
        if !self.done {
            // This stack is mid-unwind while the green threads unwind.
            let _unwinding = HubUnwinding::enter(std::thread::panicking());
            tear_down(&self.hub, true);
        }
        sched::uninstall();
    }
}

/// Creates a hub on this OS thread, runs `f` as its root green thread,
/// drives I/O and timers until `f` returns, and returns `f`'s value.
///
/// When the root returns, green threads still alive are killed (they
/// unwind, running their destructors) before `run` returns. A panic in the
/// root propagates out of `run` (after that clean-up); a panic in any other
/// green thread is caught and returned by its `JoinHandle::join`.
///
/// Each OS thread may run its own hub; green threads never move between
/// them.
///
/// # Panics
/// When called inside a running hub on the same OS thread (nested `run`),
/// or when the hub cannot be created (no epoll, no memory for the root
/// stack).
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// use std::time::Duration;
/// let order = moss::run(|| {
///     let slow = moss::spawn(|| { moss::sleep(Duration::from_millis(20)); "slow" });
///     let fast = moss::spawn(|| { moss::sleep(Duration::from_millis(10)); "fast" });
///     let mut order = vec![];
///     order.push(fast.join().unwrap());
///     order.push(slow.join().unwrap());
///     order
/// });
/// assert_eq!(order, ["fast", "slow"]);
/// ```
pub fn run<F, T>(f: F) -> T
where
    F: FnOnce() -> T,
{
    Hub::builder().run(f)
}

/// Why the event loop stopped before `done()`.
enum Stop {
    /// No green thread can ever wake; the report says who waits on what.
    Deadlock(String),
    /// epoll failed.
    Poll(std::io::Error),
}

/// Drives the hub until `done()`.
fn event_loop(hub: &Hub, done: impl Fn() -> bool) -> Result<(), Stop> {
    let mut since_poll = 0;
    loop {
        since_poll += hub.run_ready(EVENT_INTERVAL - since_poll);
        if done() {
            return Ok(());
        }
        if hub.has_ready() && since_poll < EVENT_INTERVAL {
            continue;
        }
        since_poll = 0;
        hub.redecide();
        let now = Instant::now();
        hub.timers.fire(now);
        if !hub.has_ready() {
            hub.trim_after_burst(now);
        }
        hub.sweep_parked_stacks(now);
        let timeout = if hub.has_ready() {
            if hub.reactor.waiting() == 0 {
                // Nobody waits for readiness, so an event could wake
                // nobody: skip the system call (operations try before they
                // park, so no edge is lost).
                if hub.remote.pending() {
                    hub.remote.drain();
                }
                continue;
            }
            Some(Duration::ZERO)
        } else if hub.remote.pending() {
            Some(Duration::ZERO)
        } else {
            let wait = match hub.timers.next_deadline() {
                Some(at) => Some(at.saturating_duration_since(now)),
                None if hub.reactor.waiting() == 0 && hub.remote.external() == 0 => {
                    return Err(Stop::Deadlock(deadlock_report(hub)));
                }
                None => None,
            };
            // Wake for the next stack sweep while green threads wait.
            match hub.sweep_due_in(now) {
                Some(sweep) => Some(wait.map_or(sweep, |wait| wait.min(sweep))),
                None => wait,
            }
        };
        hub.counters.polls.set(hub.counters.polls.get() + 1);
        if hub.config.trace {
            log::info!(target: "moss::trace", "hub: epoll wait (timeout {timeout:?}, {} ready, {} waiting for I/O)", hub.ready_len(), hub.reactor.waiting());
        }
        hub.reactor.poll(timeout).map_err(Stop::Poll)?;
        if hub.config.trace {
            log::info!(target: "moss::trace", "hub: epoll returned ({} ready)", hub.ready_len());
        }
        hub.remote.drain();
    }
}

/// Nothing is ready, no timer is armed, nobody waits for I/O, for offload
/// work or for another OS thread: no green thread can ever wake. A report
/// of who waits on what.
fn deadlock_report(hub: &Hub) -> String {
    let mut report = String::from(
        "moss: deadlock: all green threads are asleep and nothing can wake them \
         (no runnable green thread, no timer, no I/O wait, no offload work, \
         no channel wait whose other side is alive):",
    );
    describe_waits(hub, &mut report);
    report
}

/// One line per live green thread: what it waits on (and whose join).
fn describe_waits(hub: &Hub, report: &mut String) {
    let greens = hub.live_greens();
    let describe = |green: &Green| {
        let name = green.info.name.as_deref().unwrap_or("<unnamed>");
        format!("green thread '{name}' (id {})", green.info.id)
    };
    for green in &greens {
        let _ = write!(
            report,
            "\n  {} waits on: {}",
            describe(green),
            green.waiting_on.get()
        );
        // Name the target of a join: the green thread whose joiner it is.
        let joined = greens.iter().find(|target| {
            target
                .join_waiter
                .borrow()
                .as_ref()
                .is_some_and(|joiner| joiner.is_waiting() && joiner.green_id() == green.info.id)
        });
        if let Some(target) = joined {
            let _ = write!(report, " of {}", describe(target));
        }
    }
}

/// Ends every green thread still alive: kills them and runs the hub until
/// they have unwound (their destructors run inside their green threads,
/// and may block). Green threads that still cannot finish (a destructor
/// that waits forever on this hub: a join or a lock in a cycle) are
/// leaked with a log line: they are never resumed and their stacks stay
/// mapped and unused, but the hub, and `run`, can end; if the root is
/// among them, the process aborts instead (see `context::RootFrame`). A
/// destructor that waits on a channel or an offload job is waited for,
/// since another OS thread may still end that wait.
/// Green threads spawned meanwhile start killed.
fn tear_down(hub: &Hub, hub_unwinding: bool) {
    hub.budget.shut_down();
    hub.ending.set(true);
    for _ in 0..TEARDOWN_ROUNDS {
        end_green_threads(hub, hub_unwinding);
        // Records the hub still holds (stale timer entries, undecided
        // parks) go now, and the green-thread locals left in records that
        // went are dropped, while the hub is installed: their destructors
        // may spawn (green threads that start killed, ended by the next
        // round).
        hub.let_go_of_records();
        hub.bury();
        if hub.alive() == 0 && !hub.has_orphans() {
            return;
        }
    }
}

/// Rounds of [`tear_down`]: destructors of left-over locals that spawn
/// green threads whose locals are left over again are followed this far.
const TEARDOWN_ROUNDS: usize = 4;

/// Kills the green threads alive and runs the hub until they have ended,
/// or leaks those that cannot (see [`tear_down`]).
fn end_green_threads(hub: &Hub, hub_unwinding: bool) {
    for green in hub.live_greens() {
        green::kill(&green);
    }
    if let Err(stop) = event_loop(hub, || hub.alive() == 0) {
        let mut report = String::from(
            "moss: green threads that could not finish when their hub ended are leaked \
             (their destructors wait forever):",
        );
        describe_waits(hub, &mut report);
        if let Stop::Poll(err) = stop {
            let _ = write!(report, "\n  (polling for I/O failed: {err})");
        }
        hub.leak_all();
        if crate::context::unwinding_elsewhere() > usize::from(hub_unwinding) {
            report.push_str(
                "\n  (some were suspended in the middle of an unwind: std::thread::panicking() \
                 stays true on this OS thread)",
            );
        }
        // A logger that panics must not unwind out of a teardown that may
        // itself run during an unwind.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| log::error!("{report}")));
    }
}
