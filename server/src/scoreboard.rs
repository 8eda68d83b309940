//! The scoreboard: one slot of shared counters per worker, mapped by the master before it forks.
//!
//! ```text
//!   master ──mmap(MAP_SHARED)──► [ slot 0 | slot 1 | … | slot N-1 ]
//!     │ reads beats, counters      ▲          ▲
//!     └── fork ──► worker 0 ───────┘          │ writes its own slot only
//!         fork ──► worker 1 ──────────────────┘
//! ```
//!
//! A slot is a row of `AtomicU64`s: the worker's pid (0 when free), its
//! last heartbeat, and its counters. Workers write only their own slot, the
//! master reads them all (and frees a slot when its worker is gone). Times
//! are milliseconds since the scoreboard's epoch, an `Instant` taken before
//! the first fork: every process reads the same monotonic clock against
//! the same copy of it.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::sys;

/// The master's scoreboard, for the demo `status` app of its workers.
static CURRENT: std::sync::OnceLock<Scoreboard> = std::sync::OnceLock::new();

/// Slots in a scoreboard: the most workers a master runs at once
/// (`--workers` plus those started by TTIN or during a reload).
pub const SLOTS: usize = 1024;

/// Cells of one slot, by position.
mod cell {
    pub(super) const PID: usize = 0;
    pub(super) const BEAT: usize = 1;
    pub(super) const STARTED: usize = 2;
    pub(super) const REQUESTS: usize = 3;
    pub(super) const ACTIVE: usize = 4;
    pub(super) const GREEN_ALIVE: usize = 5;
    pub(super) const SWITCHES: usize = 6;
    pub(super) const BLOCKED: usize = 7;
    pub(super) const AGE: usize = 8;
    pub(super) const STOPPING: usize = 9;
    pub(super) const IN_FLIGHT: usize = 10;
    pub(super) const PEAK_IN_FLIGHT: usize = 11;
    /// Cells per slot (a 128-byte row: two cache lines, one writer).
    pub(super) const COUNT: usize = 16;
}

/// The shared slots of every worker.
#[derive(Clone, Copy)]
pub struct Scoreboard {
    cells: &'static [AtomicU64],
    epoch: Instant,
}

impl std::fmt::Debug for Scoreboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scoreboard")
            .field("slots", &self.slots())
            .finish()
    }
}

impl Scoreboard {
    /// Maps a scoreboard of [`SLOTS`] slots, shared with every process
    /// forked afterwards.
    pub fn new() -> io::Result<Scoreboard> {
        Ok(Scoreboard {
            cells: sys::shared_atomics(SLOTS * cell::COUNT)?,
            epoch: Instant::now(),
        })
    }

    /// The scoreboard of this process's master (the master's own, or the
    /// one a worker inherited), once the master has made it.
    pub fn current() -> Option<Scoreboard> {
        CURRENT.get().copied()
    }

    /// Makes this the scoreboard [`Scoreboard::current`] returns (the
    /// first one made in the process stays).
    pub(crate) fn make_current(&self) {
        let _ = CURRENT.set(*self);
    }

    /// How many slots it has.
    pub fn slots(&self) -> usize {
        self.cells.len() / cell::COUNT
    }

    /// Slot `index`.
    ///
    /// # Panics
    /// If `index` is out of range.
    pub fn slot(&self, index: usize) -> Slot {
        Slot {
            cells: &self.cells[index * cell::COUNT..(index + 1) * cell::COUNT],
            epoch: self.epoch,
        }
    }

    /// The index of a free slot, if any.
    pub fn free_slot(&self) -> Option<usize> {
        (0..self.slots()).find(|&i| self.slot(i).pid() == 0)
    }

    /// What every live worker reports, by slot.
    pub fn workers(&self) -> Vec<WorkerStats> {
        (0..self.slots())
            .map(|i| self.slot(i))
            .filter(|slot| slot.pid() != 0)
            .map(|slot| slot.stats())
            .collect()
    }

    fn now(epoch: Instant) -> u64 {
        epoch.elapsed().as_millis() as u64
    }
}

/// One worker's slot.
#[derive(Clone, Copy)]
pub struct Slot {
    cells: &'static [AtomicU64],
    epoch: Instant,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.stats().fmt(f)
    }
}

/// A worker's counters, as read from its slot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WorkerStats {
    /// The worker's pid.
    pub pid: u32,
    /// Its age: the how-many-th worker the master started (gunicorn's `age`).
    pub age: u64,
    /// Requests served so far.
    pub requests: u64,
    /// Connections open now.
    pub active_connections: u64,
    /// Requests being handled now (the application is running for them).
    pub requests_in_flight: u64,
    /// The most requests it has handled at once.
    pub peak_requests_in_flight: u64,
    /// Green threads alive on its hub (green workers; 0 otherwise).
    pub green_threads: u64,
    /// Green-thread switches of its hub.
    pub switches: u64,
    /// Times its blocking monitor saw the hub held by one green thread.
    pub blocked_hub_events: u64,
    /// Milliseconds since its last heartbeat.
    pub since_heartbeat_ms: u64,
    /// Milliseconds since it started.
    pub uptime_ms: u64,
    /// It is stopping (draining its connections).
    pub stopping: bool,
}

impl Slot {
    fn get(&self, cell: usize) -> u64 {
        self.cells[cell].load(Relaxed)
    }

    fn set(&self, cell: usize, value: u64) {
        self.cells[cell].store(value, Relaxed)
    }

    /// The pid of the worker that holds the slot (0: free).
    pub fn pid(&self) -> u32 {
        self.get(cell::PID) as u32
    }

    /// Gives the slot to a new worker: counters zeroed, beat now.
    pub(crate) fn claim(&self, pid: u32, age: u64) {
        for cell in self.cells {
            cell.store(0, Relaxed);
        }
        let now = Scoreboard::now(self.epoch);
        self.set(cell::STARTED, now);
        self.set(cell::BEAT, now);
        self.set(cell::AGE, age);
        self.set(cell::PID, u64::from(pid));
    }

    /// Sets the pid of the worker the slot was claimed for (once forked).
    pub(crate) fn set_pid(&self, pid: u32) {
        self.set(cell::PID, u64::from(pid));
    }

    /// Frees the slot (its worker has exited).
    pub(crate) fn release(&self) {
        self.set(cell::PID, 0);
    }

    /// Records a heartbeat: the worker is alive and its loop turns.
    pub fn beat(&self) {
        self.set(cell::BEAT, Scoreboard::now(self.epoch));
    }

    /// Time since the last heartbeat.
    pub fn since_beat(&self) -> Duration {
        let now = Scoreboard::now(self.epoch);
        Duration::from_millis(now.saturating_sub(self.get(cell::BEAT)))
    }

    /// Counts one request served; returns the total.
    pub fn count_request(&self) -> u64 {
        self.cells[cell::REQUESTS].fetch_add(1, Relaxed) + 1
    }

    /// Counts a request whose handling starts (`true`) or ends (`false`),
    /// keeping the peak.
    pub fn count_in_flight(&self, started: bool) {
        match started {
            true => {
                let now = self.cells[cell::IN_FLIGHT].fetch_add(1, Relaxed) + 1;
                self.cells[cell::PEAK_IN_FLIGHT].fetch_max(now, Relaxed);
            }
            false => {
                self.cells[cell::IN_FLIGHT].fetch_sub(1, Relaxed);
            }
        }
    }

    /// Counts a connection opened (`true`) or closed (`false`).
    pub fn count_connection(&self, opened: bool) {
        match opened {
            true => self.cells[cell::ACTIVE].fetch_add(1, Relaxed),
            false => self.cells[cell::ACTIVE].fetch_sub(1, Relaxed),
        };
    }

    /// Records the hub's counters (green workers).
    pub fn record_hub(&self, alive: u64, switches: u64, blocked: u64) {
        self.set(cell::GREEN_ALIVE, alive);
        self.set(cell::SWITCHES, switches);
        self.set(cell::BLOCKED, blocked);
    }

    /// Marks the worker as stopping.
    pub fn mark_stopping(&self) {
        self.set(cell::STOPPING, 1);
    }

    /// What the slot says now.
    pub fn stats(&self) -> WorkerStats {
        let now = Scoreboard::now(self.epoch);
        WorkerStats {
            pid: self.pid(),
            age: self.get(cell::AGE),
            requests: self.get(cell::REQUESTS),
            active_connections: self.get(cell::ACTIVE),
            requests_in_flight: self.get(cell::IN_FLIGHT),
            peak_requests_in_flight: self.get(cell::PEAK_IN_FLIGHT),
            green_threads: self.get(cell::GREEN_ALIVE),
            switches: self.get(cell::SWITCHES),
            blocked_hub_events: self.get(cell::BLOCKED),
            since_heartbeat_ms: now.saturating_sub(self.get(cell::BEAT)),
            uptime_ms: now.saturating_sub(self.get(cell::STARTED)),
            stopping: self.get(cell::STOPPING) != 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writer_elsewhere_is_read_through_the_mapping() {
        let board = Scoreboard::new().unwrap();
        let slot = board.slot(3);
        slot.claim(42, 7);
        assert_eq!(board.free_slot(), Some(0));
        // No fork in a test process (it has threads): a thread writing
        // through the same mapping stands in for the worker.
        let writer = board.slot(3);
        std::thread::spawn(move || {
            writer.count_request();
            writer.count_connection(true);
            writer.record_hub(5, 100, 1);
        })
        .join()
        .unwrap();
        let stats = board.workers();
        assert_eq!(stats.len(), 1);
        assert_eq!(stats[0].pid, 42);
        assert_eq!(stats[0].age, 7);
        assert_eq!(stats[0].requests, 1);
        assert_eq!(stats[0].active_connections, 1);
        assert_eq!(stats[0].green_threads, 5);
        slot.release();
        assert!(board.workers().is_empty());
    }
}
