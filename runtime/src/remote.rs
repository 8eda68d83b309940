//! Cross-thread wake-ups: a `Send` handle that wakes a parked green thread from any OS thread.
//!
//! An [`Unparker`] is hub-local (`Rc`). To let another OS thread wake a
//! park, the hub keeps a table of unparkers keyed by a slot and a
//! generation ([`RemoteTable`]); a [`RemoteUnparker`] names one entry. Its
//! [`RemoteUnparker::unpark`] either wakes the entry directly (when called
//! on the hub's own OS thread) or pushes a request on the hub's lock-free
//! queue and fires the hub's `mio::Waker`; the hub drains the queue after
//! every poll.
//!
//! ```text
//!   other OS thread                     hub thread
//!   ───────────────                     ──────────
//!   requests.push((slot, generation))
//!   if !notified.swap(true)  ─────────▶ epoll returns (WAKE_TOKEN)
//!       waker.wake()                    notified.swap(false)
//!                                       pop every request:
//!                                         table[slot] has generation?
//!                                           → Unparker::unpark
//! ```
//!
//! `notified` keeps a burst of requests to one `eventfd` write: a sender
//! that sees it already set knows the hub has not drained yet (the swap
//! pair orders its push before the hub's drain).
//!
//! The table also counts parks that wait for a wake-up from another OS
//! thread (offload jobs, every channel wait), so the deadlock
//! detector knows an idle hub may still be woken from afar.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_queue::SegQueue;
use parking_lot::{Condvar, Mutex};
use slab::Slab;

use crate::io::HubWaker;
use crate::park::Unparker;
use crate::sched::{self, Hub, HubId};

/// The part of a hub other OS threads reach.
pub(crate) struct Remote {
    id: HubId,
    requests: SegQueue<Key>,
    /// Set by the first request after a drain; cleared by the drain.
    notified: AtomicBool,
    waker: HubWaker,
}

/// An entry of a hub's [`RemoteTable`]: plain data, `Send`; only the hub
/// that made it can resolve it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    slot: usize,
    generation: u64,
}

impl Remote {
    pub(crate) fn id(&self) -> HubId {
        self.id
    }

    /// Asks the hub to wake entry `key` at its next drain; callable from
    /// any thread.
    pub(crate) fn request(&self, key: Key) {
        self.requests.push(key);
        if !self.notified.swap(true, Ordering::AcqRel) {
            if let Err(err) = self.waker.wake() {
                log::error!("moss: cannot wake a hub from another thread: {err}");
            }
        }
    }
}

/// The hub-local side: unparkers reachable from other threads.
pub(crate) struct RemoteTable {
    remote: Arc<Remote>,
    slots: RefCell<Slab<Slot>>,
    next_generation: Cell<u64>,
    /// Parks that wait for a wake-up from another OS thread.
    external: Cell<usize>,
}

struct Slot {
    generation: u64,
    unparker: Unparker,
}

impl RemoteTable {
    pub(crate) fn new(id: HubId, waker: HubWaker) -> RemoteTable {
        RemoteTable {
            remote: Arc::new(Remote {
                id,
                requests: SegQueue::new(),
                notified: AtomicBool::new(false),
                waker,
            }),
            slots: RefCell::new(Slab::new()),
            next_generation: Cell::new(0),
            external: Cell::new(0),
        }
    }

    /// This hub's identity.
    pub(crate) fn id(&self) -> HubId {
        self.remote.id
    }

    /// The handle other threads use to reach this hub.
    pub(crate) fn remote(&self) -> &Arc<Remote> {
        &self.remote
    }

    /// Makes `unparker` reachable from other threads.
    pub(crate) fn register(&self, unparker: Unparker) -> RemoteUnparker {
        RemoteUnparker {
            remote: Arc::clone(&self.remote),
            key: self.insert(unparker),
        }
    }

    /// Stores `unparker` under a new key, without cloning the hub handle.
    /// Entries whose park ended some other way are pruned when the table
    /// would grow.
    pub(crate) fn insert(&self, unparker: Unparker) -> Key {
        let mut slots = self.slots.borrow_mut();
        if slots.len() == slots.capacity() && !slots.is_empty() {
            slots.retain(|_, slot| slot.unparker.is_waiting());
        }
        let generation = self.next_generation.get() + 1;
        self.next_generation.set(generation);
        let slot = slots.insert(Slot {
            generation,
            unparker,
        });
        Key { slot, generation }
    }

    fn take(&self, key: Key) -> Option<Unparker> {
        let mut slots = self.slots.borrow_mut();
        match slots.get(key.slot) {
            Some(slot) if slot.generation == key.generation => {
                Some(slots.remove(key.slot).unparker)
            }
            _ => None,
        }
    }

    /// Wakes entry `key` (on the hub's own thread); whether it woke.
    pub(crate) fn unpark(&self, key: Key) -> bool {
        let unparker = self.take(key);
        unparker.is_some_and(|unparker| unparker.unpark())
    }

    /// Wakes the parks requested from other threads; returns how many woke.
    pub(crate) fn drain(&self) -> usize {
        self.remote.notified.swap(false, Ordering::AcqRel);
        let mut woken = 0;
        while let Some(key) = self.remote.requests.pop() {
            woken += usize::from(self.unpark(key));
        }
        woken
    }

    /// Whether requests wait to be drained.
    pub(crate) fn pending(&self) -> bool {
        !self.remote.requests.is_empty()
    }

    /// Parks now waiting for a wake-up from another OS thread.
    pub(crate) fn external(&self) -> usize {
        self.external.get()
    }
}

/// A `Send + Sync` permission to wake one park of one green thread, from
/// any OS thread: the cross-thread form of [`Unparker`]
/// ([`Unparker::remote`]).
///
/// Waking from the hub's own OS thread is direct; from another thread it
/// goes through the hub's wake-up queue and `mio::Waker`. Waking a park
/// that already ended, or a hub that has finished, does nothing.
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// use std::time::{Duration, Instant};
/// use moss::park::{self, Wake};
///
/// moss::run(|| {
///     let (tx, rx) = std::sync::mpsc::channel();
///     let waker = std::thread::spawn(move || {
///         let remote: park::RemoteUnparker = rx.recv().unwrap();
///         remote.unpark();
///     });
///     // A bare park is invisible to the deadlock detector: the deadline
///     // tells the hub that something (the timer) can still end it.
///     let deadline = Some(Instant::now() + Duration::from_secs(60));
///     let wake = park::park_native("a remote wake-up", deadline, |unparker| {
///         tx.send(unparker.remote()).unwrap();
///     });
///     assert_eq!(wake, Wake::Ready);
///     waker.join().unwrap();
/// });
/// ```
#[derive(Clone)]
pub struct RemoteUnparker {
    remote: Arc<Remote>,
    key: Key,
}

impl RemoteUnparker {
    /// Wakes the park it was made for (see the type docs).
    pub fn unpark(&self) {
        match sched::current() {
            Some(sched) if sched.remote.id() == self.remote.id => {
                sched.remote.unpark(self.key);
            }
            _ => self.remote.request(self.key),
        }
    }
}

impl fmt::Debug for RemoteUnparker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteUnparker")
            .field("slot", &self.key.slot)
            .field("generation", &self.key.generation)
            .finish_non_exhaustive()
    }
}

/// Marks the running green thread as waiting for a wake-up from another
/// OS thread for as long as it lives, so the deadlock detector leaves the
/// hub waiting.
pub(crate) struct ExternalWait {
    sched: std::rc::Rc<Hub>,
}

impl ExternalWait {
    pub(crate) fn new(sched: std::rc::Rc<Hub>) -> ExternalWait {
        let external = &sched.remote.external;
        external.set(external.get() + 1);
        ExternalWait { sched }
    }
}

impl Drop for ExternalWait {
    fn drop(&mut self) {
        let external = &self.sched.remote.external;
        external.set(external.get() - 1);
    }
}

/// A one-shot signal an OS thread (outside any green thread) blocks on.
#[derive(Debug, Default)]
pub(crate) struct ThreadSignal {
    notified: Mutex<bool>,
    condvar: Condvar,
}

impl ThreadSignal {
    pub(crate) fn notify(&self) {
        *self.notified.lock() = true;
        self.condvar.notify_one();
    }

    /// Blocks until notified or `deadline`; whether it was notified.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> bool {
        let mut notified = self.notified.lock();
        while !*notified {
            match deadline {
                Some(at) => {
                    if self.condvar.wait_until(&mut notified, at).timed_out() {
                        return *notified;
                    }
                }
                None => self.condvar.wait(&mut notified),
            }
        }
        true
    }
}
