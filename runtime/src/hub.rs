//! The hub: one scheduler per OS thread and its event loop (run ready green threads, fire timers, poll I/O).
//!
//! ```text
//!   ┌────────────────────────────────────────────────────────────┐
//!   │ loop                                                       │
//!   │   run every green thread that is ready (one batch)         │
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

use crate::context::Context;
use crate::green::{self, Green, State};
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

    /// Runs `f` as the root green thread of a new hub on this OS thread
    /// and returns its value; see [`run`].
    pub fn run<F, T>(self, f: F) -> T
    where
        F: FnOnce() -> T,
    {
        let sched = match Hub::new(self.config) {
            Ok(sched) => Rc::new(sched),
            Err(err) => panic!("moss: cannot start a hub: {err}"),
        };
        if !sched::install(Rc::clone(&sched)) {
            panic!(
                "moss::run called inside a running hub: nested hubs on one OS thread are not supported \
                 (spawn a green thread instead, or start a hub on another OS thread)"
            );
        }
        let _uninstall = Uninstall(Rc::clone(&sched));
        overflow::install();

        let result: RefCell<Option<std::thread::Result<T>>> = RefCell::new(None);
        let root = {
            let stack = sched
                .root_stack()
                .unwrap_or_else(|err| panic!("moss: no stack for the root: {err}"));
            let id = sched.counters.next_id();
            let green =
                Rc::new_cyclic(|me| Green::new(id, Some("root".into()), &stack, me.clone()));
            let body = || {
                let value = panic::catch_unwind(AssertUnwindSafe(f));
                let cleared = panic::catch_unwind(crate::local::clear_running);
                let value = value.and_then(|value| cleared.map(|()| value));
                *result.borrow_mut() = Some(value);
            };
            // SAFETY: `body` borrows `f` and `result`, which live until this
            // function returns; the context is driven to completion below
            // (or dropped by `abandon_all` via `Uninstall`) before that.
            let context = unsafe { Context::new_scoped(stack, body) };
            *green.context.borrow_mut() = Some(context);
            sched.adopt(&green);
            green
        };
        event_loop(&sched, || root.state.get() == State::Done);
        shut_down(&sched);
        let result = result
            .borrow_mut()
            .take()
            .expect("the root green thread has finished");
        match result {
            Ok(value) => value,
            Err(payload) => panic::resume_unwind(payload),
        }
    }
}

/// Removes the hub from the thread, dropping whatever green threads are
/// left (force-unwinding them) even when `run` itself unwinds.
struct Uninstall(Rc<Hub>);

impl Drop for Uninstall {
    fn drop(&mut self) {
        self.0.abandon_all();
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

/// Drives the hub until `done()`.
fn event_loop(sched: &Hub, done: impl Fn() -> bool) {
    let mut since_poll = 0;
    loop {
        since_poll += sched.run_ready();
        if done() {
            return;
        }
        if sched.has_ready() && since_poll < EVENT_INTERVAL {
            continue;
        }
        since_poll = 0;
        let now = Instant::now();
        sched.timers.fire(now);
        let timeout = if sched.has_ready() {
            if sched.reactor.waiting() == 0 {
                // Nobody waits for readiness, so an event could wake
                // nobody: skip the system call (operations try before they
                // park, so no edge is lost).
                if sched.remote.pending() {
                    sched.remote.drain();
                }
                continue;
            }
            Some(Duration::ZERO)
        } else if sched.remote.pending() {
            Some(Duration::ZERO)
        } else {
            match sched.timers.next_deadline() {
                Some(at) => Some(at.saturating_duration_since(now)),
                None if sched.reactor.waiting() == 0 && sched.remote.external() == 0 => {
                    deadlock(sched);
                    return;
                }
                None => None,
            }
        };
        sched.counters.polls.set(sched.counters.polls.get() + 1);
        if let Err(err) = sched.reactor.poll(timeout) {
            panic!("moss: polling for I/O failed: {err}");
        }
        sched.remote.drain();
    }
}

/// Nothing is ready, no timer is armed, nobody waits for I/O, for offload
/// work or for another OS thread: no green thread can ever wake. Panics
/// with a report of who waits on what.
fn deadlock(sched: &Hub) {
    let mut report = String::from(
        "moss: deadlock: all green threads are asleep and nothing can wake them \
         (no runnable green thread, no timer, no I/O wait, no offload work, \
         no channel wait whose other side is alive):",
    );
    let greens = sched.live_greens();
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
    panic!("{report}");
}

/// Kills every green thread still alive once the root has finished and
/// runs them until they have unwound.
fn shut_down(sched: &Hub) {
    sched.budget.shut_down();
    loop {
        let alive = sched.live_greens();
        if alive.is_empty() {
            return;
        }
        for green in &alive {
            if green.pending.get().is_none() {
                green::kill(green);
            }
        }
        drop(alive);
        let finished = panic::catch_unwind(AssertUnwindSafe(|| {
            event_loop(sched, || sched.alive() == 0)
        }));
        if finished.is_err() {
            // A green thread blocks forever in a destructor; its context is
            // dropped (force-unwound) by `Uninstall`.
            return;
        }
    }
}
