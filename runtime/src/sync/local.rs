//! Hub-local channels: multi-producer, single-consumer queues between the green threads of one hub, with no lock and no atomic operation.
//!
//! The same methods, errors and disconnection rules as
//! [`moss::sync::channel`](super::channel), for the common case where both
//! ends stay on one hub: the halves are `!Send` (`Rc`), so the state is
//! plain `Cell`s and a wake-up is "make the waiter ready". Use
//! [`super::channel`] when a half may go to another OS thread or hub.
//!
//! ```text
//!   Sender ──┐                          ┌── Receiver
//!   Sender ──┼─ Rc<Shared> ─────────────┘
//!            │   buffer: VecDeque<T>
//!            │   senders / receiver_alive: counts of live halves
//!            │   receivers_waiting, senders_waiting: Unparkers (FIFO)
//! ```
//!
//! Wake-ups are notifications, as in [`super::channel`]: the woken green
//! thread re-checks the state. A park that ends any other way (a kill, a
//! `moss::timeout`, `recv_timeout`) removes its own entry when it leaves
//! (a drop guard, which also runs while the green thread unwinds), and an
//! entry whose park has ended is never notified ([`Unparker::unpark`]
//! skips it), so no notification is lost on a waiter that left.
//!
//! The halves cannot leave their OS thread:
//!
//! ```compile_fail
//! # use moss_runtime as moss;
//! let (tx, _rx) = moss::sync::local::channel::<u8>();
//! std::thread::spawn(move || tx.send(1)); // `Rc` is not `Send`
//! ```
//!
//! # Deadlock detection
//! Both halves live on the hub that created them, so a green thread
//! waiting here can only be woken by a green thread of that hub. A hub
//! whose green threads all wait (on local channels, `Event`s, joins, …)
//! with no timer, I/O or offload work left is a real deadlock and is
//! reported like every other hub-local wait; a receiver waiting on a
//! channel whose only sender it holds itself is reported too.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

pub use super::channel::{RecvError, RecvTimeoutError, SendError, TryRecvError};
use crate::park::{Unparker, Wake};
use crate::sync::{deadline_after, park_local};

/// The sending half of a hub-local channel; clone it for more producers.
///
/// `!Send`: it stays on the hub (OS thread) that created it.
pub struct Sender<T> {
    shared: Rc<Shared<T>>,
}

/// The receiving half of a hub-local channel.
///
/// `!Send`: it stays on the hub (OS thread) that created it. Shared
/// through an `Rc`, several green threads may wait on it; each message
/// goes to one of them.
pub struct Receiver<T> {
    shared: Rc<Shared<T>>,
}

struct Shared<T> {
    buffer: RefCell<VecDeque<T>>,
    /// `None`: unbounded; `Some(0)`: rendezvous.
    capacity: Option<usize>,
    /// Live `Sender`s; the receiver waits only while there is one.
    senders: Cell<usize>,
    /// Whether the `Receiver` lives; a sender waits only while it does.
    receiver_alive: Cell<bool>,
    /// Green threads waiting in `recv`, in arrival order.
    receivers_waiting: RefCell<VecDeque<Unparker>>,
    /// Senders waiting for space (rendezvous: also for their message to
    /// be taken), in arrival order.
    senders_waiting: RefCell<VecDeque<Unparker>>,
    /// Messages sent and taken so far (rendezvous hand-off).
    sent: Cell<u64>,
    received: Cell<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Receiver,
    Sender,
}

impl<T> Shared<T> {
    fn has_space(&self) -> bool {
        match self.capacity {
            None => true,
            Some(capacity) => self.buffer.borrow().len() < capacity.max(1),
        }
    }

    fn waiters(&self, role: Role) -> &RefCell<VecDeque<Unparker>> {
        match role {
            Role::Receiver => &self.receivers_waiting,
            Role::Sender => &self.senders_waiting,
        }
    }

    /// Parks the running green thread as `role` until notified or
    /// `deadline`. `Wake::Interrupted` asks the caller to check again (see
    /// `park_local`); a kill or an elapsed `moss::timeout` unwinds.
    fn wait(&self, role: Role, deadline: Option<Instant>) -> Wake {
        let what = match role {
            Role::Receiver => "local channel recv",
            Role::Sender => "local channel send",
        };
        let mut leave = Leave {
            waiters: self.waiters(role),
            notified: false,
        };
        let wake = park_local(what, deadline, |unparker| {
            leave.waiters.borrow_mut().push_back(unparker);
        });
        // Only a notification ends a park `Ready`, and it took the entry.
        leave.notified = wake == Wake::Ready;
        wake
    }

    /// Notifies the first green thread waiting as `role`, if any.
    fn notify_one(&self, role: Role) {
        let mut waiters = self.waiters(role).borrow_mut();
        while let Some(unparker) = waiters.pop_front() {
            if unparker.unpark_once() {
                return;
            }
        }
    }

    /// Notifies every green thread waiting as `role`.
    fn notify_all(&self, role: Role) {
        let waiters = std::mem::take(&mut *self.waiters(role).borrow_mut());
        for unparker in waiters {
            unparker.unpark_once();
        }
    }

    /// Takes the next message and notifies the sender(s) waiting for the
    /// space (rendezvous: for their message to be taken).
    fn take(&self) -> Option<T> {
        let value = self.buffer.borrow_mut().pop_front()?;
        self.received.set(self.received.get() + 1);
        match self.capacity {
            None => {}
            Some(0) => self.notify_all(Role::Sender),
            Some(_) => self.notify_one(Role::Sender),
        }
        Some(value)
    }
}

/// Removes a waiter's entry when its park ends other than by a
/// notification (a timeout, or an unwind out of the park: a kill or an
/// elapsed `moss::timeout`). The entry no longer waits then, so dropping
/// the entries that do not leaves every other waiter in place.
struct Leave<'a> {
    waiters: &'a RefCell<VecDeque<Unparker>>,
    notified: bool,
}

impl Drop for Leave<'_> {
    #[inline]
    fn drop(&mut self) {
        if !self.notified {
            self.remove_entry();
        }
    }
}

impl Leave<'_> {
    #[cold]
    fn remove_entry(&self) {
        self.waiters.borrow_mut().retain(Unparker::is_waiting);
    }
}

/// Creates an unbounded hub-local channel: [`Sender::send`] never waits.
///
/// Like [`moss::sync::channel`](super::channel) for green threads of one
/// hub, at the cost of a few non-atomic instructions per message: both
/// halves are `!Send`. A receiver parks its green thread; outside a green
/// thread only the calls that do not wait work ([`Sender::send`] on an
/// unbounded channel, [`Receiver::try_recv`]).
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// use moss::sync::local;
///
/// let sum = moss::run(|| {
///     let (tx, rx) = local::channel();
///     for i in 0..10 {
///         let tx = tx.clone();
///         moss::spawn(move || tx.send(i).unwrap());
///     }
///     drop(tx);
///     rx.iter().sum::<u32>()
/// });
/// assert_eq!(sum, 45);
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    pair(None)
}

/// Creates a hub-local channel that holds at most `capacity` messages:
/// [`Sender::send`] parks while it is full. A capacity of 0 makes a
/// rendezvous channel: each send waits until its message is received.
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// use moss::sync::local;
///
/// moss::run(|| {
///     let (tx, rx) = local::bounded(1);
///     let producer = moss::spawn(move || {
///         for i in 0..3 {
///             tx.send(i).unwrap(); // waits for the consumer
///         }
///     });
///     assert_eq!(rx.iter().collect::<Vec<_>>(), [0, 1, 2]);
///     producer.join().unwrap();
/// });
/// ```
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    pair(Some(capacity))
}

fn pair<T>(capacity: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let shared = Rc::new(Shared {
        buffer: RefCell::new(VecDeque::new()),
        capacity,
        senders: Cell::new(1),
        receiver_alive: Cell::new(true),
        receivers_waiting: RefCell::new(VecDeque::new()),
        senders_waiting: RefCell::new(VecDeque::new()),
        sent: Cell::new(0),
        received: Cell::new(0),
    });
    (
        Sender {
            shared: Rc::clone(&shared),
        },
        Receiver { shared },
    )
}

impl<T> Sender<T> {
    /// Sends `value`, parking while a bounded channel is full.
    ///
    /// # Errors
    /// The receiver is gone; the value comes back in the error.
    ///
    /// A kill or an elapsed `moss::timeout` while waiting for space
    /// unwinds the green thread; the value is dropped, not sent. On a
    /// rendezvous channel the message is sent once it is in the channel:
    /// an interrupt while waiting for it to be taken leaves it there.
    ///
    /// # Panics
    /// When it would wait outside a green thread.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        let shared = &*self.shared;
        loop {
            if !shared.receiver_alive.get() {
                return Err(SendError(value));
            }
            if shared.has_space() {
                break;
            }
            shared.wait(Role::Sender, None);
        }
        shared.buffer.borrow_mut().push_back(value);
        let sequence = shared.sent.get() + 1;
        shared.sent.set(sequence);
        shared.notify_one(Role::Receiver);
        if shared.capacity == Some(0) {
            // Rendezvous: wait until this message has been taken.
            while shared.received.get() < sequence && shared.receiver_alive.get() {
                shared.wait(Role::Sender, None);
            }
        }
        Ok(())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.shared.senders.set(self.shared.senders.get() + 1);
        Sender {
            shared: Rc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let senders = self.shared.senders.get() - 1;
        self.shared.senders.set(senders);
        if senders == 0 {
            self.shared.notify_all(Role::Receiver);
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// Takes the next message, parking until there is one.
    ///
    /// # Errors
    /// Every sender is gone and the channel is empty.
    ///
    /// A kill or an elapsed `moss::timeout` while waiting unwinds the
    /// green thread; no message is lost (it stays in the channel).
    ///
    /// # Panics
    /// When it would wait outside a green thread.
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_until(None).map_err(|_| RecvError)
    }

    /// [`recv`](Receiver::recv) for at most `timeout`.
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`] when no message came in time,
    /// [`RecvTimeoutError::Disconnected`] as [`RecvError`].
    ///
    /// # Panics
    /// When it would wait outside a green thread.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_until(deadline_after(timeout))
    }

    /// Takes a message if one is there, without waiting.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] or [`TryRecvError::Disconnected`].
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        match self.shared.take() {
            Some(value) => Ok(value),
            None if self.shared.senders.get() == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// An iterator that waits for messages until every sender is gone.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { receiver: self }
    }

    /// An iterator over the messages there now, without waiting.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { receiver: self }
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let shared = &*self.shared;
        loop {
            if let Some(value) = shared.take() {
                return Ok(value);
            }
            if shared.senders.get() == 0 {
                return Err(RecvTimeoutError::Disconnected);
            }
            if deadline.is_some_and(|at| at <= Instant::now()) {
                return Err(RecvTimeoutError::Timeout);
            }
            if shared.wait(Role::Receiver, deadline) == Wake::TimedOut {
                return match shared.take() {
                    Some(value) => Ok(value),
                    None if shared.senders.get() == 0 => Err(RecvTimeoutError::Disconnected),
                    None => Err(RecvTimeoutError::Timeout),
                };
            }
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.receiver_alive.set(false);
        // Dropped outside the borrow: a message's destructor may use the
        // channel (drop a `Sender` of it, say).
        let buffered = std::mem::take(&mut *self.shared.buffer.borrow_mut());
        self.shared.notify_all(Role::Sender);
        drop(buffered);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

super::receiver_iterators!();
