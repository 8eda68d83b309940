//! The offload pool: OS threads that run blocking work for green threads ([`spawn_blocking`]).
//!
//! Each hub starts its pool on the first [`spawn_blocking`]. Jobs go on a
//! lock-free queue (crossbeam); a worker that finds it empty waits on a
//! condition variable for [`OFFLOAD_KEEP_ALIVE`] and then exits. A job that finds
//! no idle worker starts a new one, up to the hub's bound
//! (`HubBuilder::offload_threads`, [`DEFAULT_OFFLOAD_THREADS`] unless set);
//! beyond it jobs queue. When a job finishes, its result is stored and the
//! waiting green thread is woken through the hub's cross-thread waker.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crossbeam_queue::SegQueue;
use parking_lot::{Condvar, Mutex};

use crate::park::{self, RemoteUnparker};
use crate::remote::ExternalWait;
use crate::{context, sched};

/// Default bound on a hub's offload threads.
pub const DEFAULT_OFFLOAD_THREADS: usize = 32;

/// How long an idle offload thread waits for work before it exits.
pub const OFFLOAD_KEEP_ALIVE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send + 'static>;

/// One hub's pool of offload threads.
pub(crate) struct OffloadPool {
    shared: Arc<Shared>,
}

struct Shared {
    jobs: SegQueue<Job>,
    state: Mutex<State>,
    work: Condvar,
    max_threads: usize,
}

/// Worker bookkeeping, under `Shared::state`.
#[derive(Default)]
struct State {
    /// Workers alive.
    threads: usize,
    /// Workers waiting for work and not yet claimed by a submitter.
    idle: usize,
    /// Claims: wake-ups handed out to idle workers and not yet taken.
    wakeups: usize,
    /// Set when the hub ends: workers exit once the queue is empty.
    shutdown: bool,
}

impl OffloadPool {
    pub(crate) fn new(max_threads: usize) -> OffloadPool {
        OffloadPool {
            shared: Arc::new(Shared {
                jobs: SegQueue::new(),
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                max_threads: max_threads.max(1),
            }),
        }
    }

    /// Queues `job` and makes sure a worker will run it. When no worker
    /// can be started and none is alive, nobody else will ever run the
    /// queue: returns `false`, and the caller runs it ([`OffloadPool::run_queued`]).
    fn submit(&self, job: Job) -> bool {
        self.shared.jobs.push(job);
        let mut state = self.shared.state.lock();
        if state.idle > 0 {
            state.idle -= 1;
            state.wakeups += 1;
            self.shared.work.notify_one();
            return true;
        }
        if state.threads >= self.shared.max_threads {
            return true;
        }
        state.threads += 1;
        drop(state);
        let shared = Arc::clone(&self.shared);
        let spawned = thread::Builder::new()
            .name("moss-offload".into())
            .spawn(move || shared.work_loop());
        match spawned {
            Ok(_) => true,
            Err(err) => {
                let mut state = self.shared.state.lock();
                state.threads -= 1;
                let alone = state.threads == 0;
                drop(state);
                log::warn!("moss: cannot start an offload thread: {err}");
                !alone
            }
        }
    }

    /// Runs the queued jobs on the calling thread (when no offload thread
    /// could be started).
    fn run_queued(shared: &Shared) {
        while let Some(job) = shared.jobs.pop() {
            job();
        }
    }
}

impl Drop for OffloadPool {
    fn drop(&mut self) {
        self.shared.state.lock().shutdown = true;
        self.shared.work.notify_all();
    }
}

impl Shared {
    fn work_loop(&self) {
        loop {
            if let Some(job) = self.jobs.pop() {
                job();
                continue;
            }
            let mut state = self.state.lock();
            if !self.jobs.is_empty() {
                continue;
            }
            if state.shutdown {
                state.threads -= 1;
                return;
            }
            state.idle += 1;
            let timed_out = self
                .work
                .wait_for(&mut state, OFFLOAD_KEEP_ALIVE)
                .timed_out();
            if state.wakeups > 0 {
                // Claimed by a submitter (this one or an equivalent idle
                // worker was counted out of `idle`).
                state.wakeups -= 1;
            } else {
                state.idle -= 1;
                if (timed_out && self.jobs.is_empty()) || state.shutdown {
                    state.threads -= 1;
                    return;
                }
            }
        }
    }
}

/// Where a job leaves its result for the green thread that waits.
struct Completion<T> {
    slot: Mutex<Slot<T>>,
}

struct Slot<T> {
    result: Option<thread::Result<T>>,
    /// The parked caller.
    waiter: Option<RemoteUnparker>,
}

/// Runs `f` on the hub's offload pool (OS threads) and parks the calling
/// green thread until it returns; other green threads run meanwhile.
///
/// Use it for work that would otherwise hold the hub: CPU-heavy
/// computation, file I/O, `getaddrinfo`, blocking calls into libraries
/// that do not go through moss's green sockets. Outside a green thread it
/// simply runs `f` on the calling thread.
///
/// The pool grows on demand up to the hub's bound
/// (`HubBuilder::offload_threads`, [`DEFAULT_OFFLOAD_THREADS`] by
/// default); beyond it calls queue. Idle threads exit after
/// [`OFFLOAD_KEEP_ALIVE`].
///
/// # Panics
/// A panic in `f` resumes in the caller, with the same payload.
///
/// # Kill and timeout
/// If the caller is killed, or its `moss::timeout` elapses, while `f`
/// runs, the caller unwinds at once; `f` cannot be interrupted, so it runs
/// to completion on its OS thread and its result (or panic) is dropped.
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// let sum = moss::run(|| {
///     let ticker = moss::spawn(|| moss::yield_now());
///     let sum = moss::spawn_blocking(|| (1..=1000u64).sum::<u64>());
///     ticker.join().unwrap();
///     sum
/// });
/// assert_eq!(sum, 500_500);
/// ```
pub fn spawn_blocking<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let Some(sched) = sched::current().filter(|_| context::in_green_thread()) else {
        return f();
    };
    let completion = submit(&sched, f);
    let _external = ExternalWait::new(sched);
    loop {
        let mut slot = completion.slot.lock();
        if let Some(result) = slot.result.take() {
            return match result {
                Ok(value) => value,
                Err(payload) => {
                    // Re-raised here, where the panic hook does not see it
                    // (it ran on the offload thread): record the unwind.
                    sched::with_running(|green| green.panicked.set(true));
                    panic::resume_unwind(payload)
                }
            };
        }
        // A caller that is unwinding (a destructor) cannot be interrupted
        // again: it waits for the job, parked like any other wait.
        park::park_native_shielded("spawn_blocking", None, move |unparker| {
            slot.waiter = Some(unparker.remote());
            drop(slot);
        });
    }
}

/// Queues `f` on the hub's pool; its result (or panic) lands in the
/// returned completion, whose waiter is woken.
fn submit<F, T>(sched: &sched::Hub, f: F) -> Arc<Completion<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let completion = Arc::new(Completion {
        slot: Mutex::new(Slot {
            result: None,
            waiter: None,
        }),
    });
    let theirs = Arc::clone(&completion);
    let job: Job = Box::new(move || {
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        let waiter = {
            let mut slot = theirs.slot.lock();
            slot.result = Some(result);
            slot.waiter.take()
        };
        if let Some(waiter) = waiter {
            waiter.unpark();
        }
    });
    let orphaned = {
        let pool = sched.offload();
        (!pool.submit(job)).then(|| Arc::clone(&pool.shared))
    };
    if let Some(shared) = orphaned {
        // Nobody else will ever run the queue: run it here, on the hub,
        // rather than leave the caller parked forever. No borrow of the
        // pool is held, so a job may itself call `spawn_blocking`.
        OffloadPool::run_queued(&shared);
    }
    completion
}

/// [`spawn_blocking`] for foreign (C) frames, which must not unwind: a
/// panic of `f` comes back as `Ok(Err(payload))`, and a kill or an
/// elapsed `moss::timeout` while `f` runs as `Err(interrupt)` at once,
/// the interrupt staying pending for the next Rust-native blocking point.
/// `f` then runs to completion on its OS thread and its result is dropped
/// there. Outside a green thread it runs `f` on the calling thread.
///
/// # Errors
/// The interrupt that ended the wait.
pub fn spawn_blocking_foreign<F, T>(f: F) -> Result<thread::Result<T>, park::Interrupt>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let Some(sched) = sched::current().filter(|_| context::in_green_thread()) else {
        return Ok(panic::catch_unwind(AssertUnwindSafe(f)));
    };
    let completion = submit(&sched, f);
    let _external = ExternalWait::new(sched);
    loop {
        let mut slot = completion.slot.lock();
        if let Some(result) = slot.result.take() {
            return Ok(result);
        }
        park::park_unless_unwinding("spawn_blocking", None, move |unparker| {
            slot.waiter = Some(unparker.remote());
            drop(slot);
        })?;
    }
}

impl crate::sched::Hub {
    /// The hub's offload pool, started on first use.
    fn offload(&self) -> std::cell::RefMut<'_, OffloadPool> {
        let mut pool = self.offload.borrow_mut();
        if pool.is_none() {
            *pool = Some(OffloadPool::new(self.config.offload_threads));
        }
        std::cell::RefMut::map(pool, |pool| pool.as_mut().expect("just started"))
    }
}
