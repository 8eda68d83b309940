//! Channel waiters: a parked green thread is woken directly when the waker runs on its hub, through the hub's queue otherwise.
//!
//! A green waiter is plain data, a [`HubId`] and a [`Key`] into that hub's
//! table of unparkers: parking allocates nothing and clones no `Arc`. The
//! channel keeps one handle ([`Remote`]) per hub whose green threads have
//! waited on it ([`Hubs`], usually one entry, cloned once), which a waker
//! on another OS thread needs to reach the hub.
//!
//! Resolving a waiter (under the channel lock) yields a [`Wakeup`], which
//! the caller fires after releasing the lock:
//!
//! | waiter | waker on | wake-up |
//! |---|---|---|
//! | green thread of hub H | hub H's thread | take the unparker from H's table, make it ready |
//! | green thread of hub H | any other thread | queue the key on H, `mio::Waker` if needed |
//! | OS thread | anywhere | notify its condition variable |

use std::rc::Rc;
use std::sync::Arc;

use crate::park::Unparker;
use crate::remote::{Key, Remote, ThreadSignal};
use crate::sched::{self, Hub, HubId};

/// Someone waiting on a channel.
#[derive(Debug)]
pub(super) enum Waiter {
    /// A green thread parked on hub `hub`, reachable as entry `key` of its
    /// table.
    Green { hub: HubId, key: Key },
    /// A plain OS thread blocked on a condition variable.
    Thread(Arc<ThreadSignal>),
}

/// The hubs whose green threads have waited on one channel.
#[derive(Default)]
pub(super) struct Hubs(Vec<Arc<Remote>>);

impl Hubs {
    /// Makes `unparker`, of a green thread on `sched`, a waiter, and
    /// remembers its hub (cloning the hub's handle only the first time).
    /// Handles of hubs that have finished are dropped then: a running
    /// hub's table holds its own handle, so a count of one means only this
    /// list is left.
    pub(super) fn waiter(&mut self, sched: &Hub, unparker: Unparker) -> Waiter {
        let hub = sched.remote.id();
        if !self.0.iter().any(|remote| remote.id() == hub) {
            self.0.retain(|remote| Arc::strong_count(remote) > 1);
            self.0.push(Arc::clone(sched.remote.remote()));
        }
        Waiter::Green {
            hub,
            key: sched.remote.insert(unparker),
        }
    }

    /// How to wake `waiter` from this thread; `None` when its hub is gone.
    pub(super) fn resolve(&self, waiter: Waiter) -> Option<Wakeup> {
        match waiter {
            Waiter::Thread(signal) => Some(Wakeup::Thread(signal)),
            Waiter::Green { hub, key } => match sched::current() {
                Some(sched) if sched.remote.id() == hub => Some(Wakeup::Local(sched, key)),
                _ => self
                    .0
                    .iter()
                    .find(|remote| remote.id() == hub)
                    .map(|remote| Wakeup::Remote(Arc::clone(remote), key)),
            },
        }
    }
}

/// A resolved wake-up, fired once the channel lock is released.
pub(super) enum Wakeup {
    /// A green thread of the hub running on this thread.
    Local(Rc<Hub>, Key),
    /// A green thread of a hub on another thread.
    Remote(Arc<Remote>, Key),
    /// A blocked OS thread.
    Thread(Arc<ThreadSignal>),
}

impl Wakeup {
    pub(super) fn wake(self) {
        match self {
            Wakeup::Local(sched, key) => {
                sched.remote.unpark(key);
            }
            Wakeup::Remote(remote, key) => remote.request(key),
            Wakeup::Thread(signal) => signal.notify(),
        }
    }
}
