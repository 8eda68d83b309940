//! Green synchronization: events, semaphores, mutexes and channels that park green threads, never the OS thread.
//!
//! | type | like | shared between |
//! |---|---|---|
//! | [`Event`] | `gevent.event.Event` | green threads of one hub |
//! | [`Semaphore`] | `gevent.lock.Semaphore` | green threads of one hub |
//! | [`Mutex`] | `std::sync::Mutex`, fair | green threads of one hub |
//! | [`channel`], [`bounded`] | `std::sync::mpsc` | any threads: green threads of any hub, plain OS threads |
//! | [`local::channel`], [`local::bounded`] | `std::sync::mpsc`, `!Send` | green threads of one hub |
//!
//! Every wait goes through the park protocol, so a green thread waiting
//! here can be killed or timed out ([`crate::timeout`]) like at any other
//! blocking point, and the primitive stays consistent: a permit, a lock
//! or a message handed to a waiter that is interrupted before it takes it
//! is passed on, never lost.
//!
//! A green thread parked on a [`channel`] is never reported as
//! deadlocked: it waits only while the other side is alive, and that side
//! may have been moved to another OS thread or hub. Waits on the hub-local
//! primitives, [`local`] channels included, are.
//!
//! `Event`, `Semaphore`, `Mutex` and the [`local`] channels are hub-local
//! (`!Send`, share them with `Rc`): they cost a few non-atomic
//! instructions when uncontended. Between green threads of one hub prefer
//! [`local::channel`]; across OS threads use [`channel`], or
//! `std`/`parking_lot` locks for short critical sections that never wait
//! for a green thread.
//!
//! # Examples
//! ```
//! # use moss_runtime as moss;
//! use std::rc::Rc;
//! use moss::sync::{bounded, Semaphore};
//!
//! let total = moss::run(|| {
//!     let (tx, rx) = bounded(4);
//!     let slots = Rc::new(Semaphore::new(2));
//!     for i in 0..10 {
//!         let (tx, slots) = (tx.clone(), Rc::clone(&slots));
//!         moss::spawn(move || {
//!             let _permit = slots.acquire(); // at most two at a time
//!             tx.send(i).unwrap();
//!         });
//!     }
//!     drop(tx);
//!     rx.iter().sum::<i32>()
//! });
//! assert_eq!(total, 45);
//! ```

/// The iterator types of a channel's `Receiver` (`Iter`, `TryIter`,
/// `IntoIter` and the `IntoIterator` impls): the same for the `Send`
/// channel and the local one, each expanding it next to its own
/// `Receiver`.
macro_rules! receiver_iterators {
    () => {
        /// Messages of a [`Receiver`], waiting for each ([`Receiver::iter`]).
        #[derive(Debug)]
        pub struct Iter<'a, T> {
            receiver: &'a Receiver<T>,
        }

        impl<T> Iterator for Iter<'_, T> {
            type Item = T;
            fn next(&mut self) -> Option<T> {
                self.receiver.recv().ok()
            }
        }

        /// Messages already in a [`Receiver`] ([`Receiver::try_iter`]).
        #[derive(Debug)]
        pub struct TryIter<'a, T> {
            receiver: &'a Receiver<T>,
        }

        impl<T> Iterator for TryIter<'_, T> {
            type Item = T;
            fn next(&mut self) -> Option<T> {
                self.receiver.try_recv().ok()
            }
        }

        /// Messages of a [`Receiver`] it owns, waiting for each.
        #[derive(Debug)]
        pub struct IntoIter<T> {
            receiver: Receiver<T>,
        }

        impl<T> Iterator for IntoIter<T> {
            type Item = T;
            fn next(&mut self) -> Option<T> {
                self.receiver.recv().ok()
            }
        }

        impl<'a, T> IntoIterator for &'a Receiver<T> {
            type Item = T;
            type IntoIter = Iter<'a, T>;
            fn into_iter(self) -> Iter<'a, T> {
                self.iter()
            }
        }

        impl<T> IntoIterator for Receiver<T> {
            type Item = T;
            type IntoIter = IntoIter<T>;
            fn into_iter(self) -> IntoIter<T> {
                IntoIter { receiver: self }
            }
        }
    };
}
use receiver_iterators;

mod channel;
mod event;
mod group;
pub mod local;
mod mutex;
mod pool;
mod semaphore;
mod waiter;

pub use channel::{
    bounded, channel, IntoIter, Iter, Receiver, RecvError, RecvTimeoutError, SendError, Sender,
    TryIter, TryRecvError,
};
pub use event::Event;
pub use group::Group;
pub use mutex::{Mutex, MutexGuard};
pub use pool::Pool;
pub use semaphore::{Semaphore, SemaphorePermit};

use std::time::{Duration, Instant};

use crate::context;
use crate::park::{self, Unparker, Wake};

/// `now + duration`, or `None` (no deadline) when it overflows.
pub(crate) fn deadline_after(duration: Duration) -> Option<Instant> {
    Instant::now().checked_add(duration)
}

/// Parks the running green thread for a hub-local primitive: a pending
/// interrupt unwinds it, except while it is already unwinding (a
/// destructor that waits), when the park is shielded and lasts until the
/// primitive wakes it or `deadline` passes (see
/// `park::park_native_shielded`). Returns `Ready` or `TimedOut`, or
/// `Interrupted` when the caller should check its condition and park
/// again (the green thread could not tell whether it is unwinding, and
/// now perhaps it can).
///
/// # Panics
/// Outside a green thread: `what` names the primitive in the message.
pub(crate) fn park_local(
    what: &'static str,
    deadline: Option<Instant>,
    register: impl FnOnce(Unparker),
) -> Wake {
    assert!(
        context::in_green_thread(),
        "moss: {what} would wait outside a green thread (hub-local primitives wait only inside moss::run)"
    );
    park::park_native_shielded(what, deadline, register)
}
