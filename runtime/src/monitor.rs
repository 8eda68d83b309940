//! The blocking monitor: a watchdog OS thread that reports a green thread holding its hub too long without yielding.
//!
//! Enabled per hub with `HubBuilder::max_blocking_time`. On every switch
//! into a green thread (by the hub, or by the green thread handing off to
//! it) a counter is bumped and the green thread's id published (two
//! relaxed atomic stores; a disabled monitor is one `Option` check per
//! switch). The watchdog samples both every quarter of the threshold:
//! while a green thread runs and the counter has not moved for the
//! threshold, that green thread is holding the hub (a CPU loop, a blocking
//! call such as `std::thread::sleep` or a `std::net` read). It logs one
//! warning per such episode, with the green thread's id and name, and
//! counts it in `Stats::blocked`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// The hub's side of the monitor; stops the watchdog when dropped.
pub(crate) struct Monitor {
    shared: Arc<Shared>,
    watchdog: Option<thread::JoinHandle<()>>,
}

struct Shared {
    threshold: Duration,
    /// Switches into green threads; only the hub writes it.
    switches: AtomicU64,
    /// The running green thread's id, 0 between switches.
    running: AtomicU64,
    /// Episodes reported.
    blocked: AtomicU64,
    /// Names of the named green threads alive, for the report.
    names: Mutex<HashMap<u64, Arc<str>>>,
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Monitor {
    /// Starts the watchdog for a hub with `threshold`.
    pub(crate) fn start(threshold: Duration) -> std::io::Result<Monitor> {
        let shared = Arc::new(Shared {
            threshold,
            switches: AtomicU64::new(0),
            running: AtomicU64::new(0),
            blocked: AtomicU64::new(0),
            names: Mutex::new(HashMap::new()),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let theirs = Arc::clone(&shared);
        let watchdog = thread::Builder::new()
            .name("moss-monitor".into())
            .spawn(move || theirs.watch())?;
        Ok(Monitor {
            shared,
            watchdog: Some(watchdog),
        })
    }

    /// The hub switches into green thread `id`.
    pub(crate) fn enter(&self, id: u64) {
        let switches = &self.shared.switches;
        switches.store(switches.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        self.shared.running.store(id, Ordering::Relaxed);
    }

    /// The green thread gave the hub back.
    pub(crate) fn leave(&self) {
        self.shared.running.store(0, Ordering::Relaxed);
    }

    /// A named green thread starts.
    pub(crate) fn named(&self, id: u64, name: &str) {
        self.shared.names.lock().insert(id, Arc::from(name));
    }

    /// A green thread finished.
    pub(crate) fn forget(&self, id: u64) {
        self.shared.names.lock().remove(&id);
    }

    /// Episodes reported so far.
    pub(crate) fn blocked(&self) -> u64 {
        self.shared.blocked.load(Ordering::Relaxed)
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        *self.shared.stop.lock() = true;
        self.shared.wake.notify_one();
        if let Some(watchdog) = self.watchdog.take() {
            let _ = watchdog.join();
        }
    }
}

impl Shared {
    fn watch(&self) {
        let interval = (self.threshold / 4).max(Duration::from_millis(1));
        // The switch count last seen, when it was first seen with a green
        // thread running, and whether that episode was reported.
        let mut last = (u64::MAX, Instant::now(), false);
        let mut stop = self.stop.lock();
        while !*stop {
            self.wake.wait_for(&mut stop, interval);
            let switches = self.switches.load(Ordering::Relaxed);
            let running = self.running.load(Ordering::Relaxed);
            let now = Instant::now();
            if running == 0 || switches != last.0 {
                last = (switches, now, false);
                continue;
            }
            let held = now.duration_since(last.1);
            if !last.2 && held >= self.threshold {
                last.2 = true;
                self.report(running, held);
            }
        }
    }

    fn report(&self, id: u64, held: Duration) {
        let name = self.names.lock().get(&id).cloned();
        let name = name.as_deref().unwrap_or("<unnamed>");
        log::warn!(
            "moss: green thread '{name}' (id {id}) has held the hub for {} ms without yielding \
             (max_blocking_time {} ms): every other green thread of this hub is stalled; \
             move CPU-heavy or blocking work to moss::spawn_blocking",
            held.as_millis(),
            self.threshold.as_millis(),
        );
        self.blocked.fetch_add(1, Ordering::Relaxed);
    }
}
