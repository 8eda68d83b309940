//! Runtime counters: cheap, always on, read with `moss::stats()`.

use std::cell::Cell;

use crate::sched;

/// A snapshot of the current hub's counters.
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// moss::run(|| {
///     moss::spawn(|| ()).join().unwrap();
///     let stats = moss::stats();
///     assert_eq!(stats.spawned, 2); // the root and one more
///     assert_eq!(stats.alive, 1);   // the root
/// });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Green threads spawned on this hub, the root included.
    pub spawned: u64,
    /// Green threads alive now (spawned, not finished).
    pub alive: u64,
    /// Turns given to green threads: switches into one, by the hub or by
    /// the green thread handing off to it, and yields after which the
    /// green thread goes on because nothing else is ready.
    pub switches: u64,
    /// Times the hub polled the OS for I/O readiness.
    pub polls: u64,
    /// Timers armed now (parks with a deadline).
    pub timers: u64,
    /// Stacks in use now.
    pub stacks: u64,
    /// Times the blocking monitor saw one green thread hold the hub longer
    /// than `HubBuilder::max_blocking_time` (0 when the monitor is off).
    pub blocked: u64,
    /// Times the hub gave memory back to the kernel after a burst of green
    /// threads ended (free stacks' pages, the allocator's free heap).
    pub trims: u64,
    /// Parked stacks whose dead part (below the park's frame) the hub gave
    /// back after they stayed a second or more in one park.
    pub stacks_swept: u64,
}

/// The hub's raw counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) spawned: Cell<u64>,
    pub(crate) switches: Cell<u64>,
    pub(crate) polls: Cell<u64>,
    pub(crate) trims: Cell<u64>,
    pub(crate) stacks_swept: Cell<u64>,
}

impl Counters {
    /// Green thread ids are unique per process, not per hub.
    pub(crate) fn next_id(&self) -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }
}

/// The counters of the hub running on this OS thread; all zero outside a hub.
pub fn stats() -> Stats {
    let Some(sched) = sched::current() else {
        return Stats::default();
    };
    // A green thread that exited by handing off holds its stack until
    // something else needs it; count it given back.
    sched.reap();
    Stats {
        spawned: sched.counters.spawned.get(),
        alive: sched.alive() as u64,
        switches: sched.switches(),
        polls: sched.counters.polls.get(),
        timers: sched.timers.armed() as u64,
        stacks: sched.budget.in_use() as u64,
        blocked: sched
            .monitor
            .as_ref()
            .map_or(0, |monitor| monitor.blocked()),
        trims: sched.counters.trims.get(),
        stacks_swept: sched.counters.stacks_swept.get(),
    }
}
