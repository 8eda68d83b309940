//! Channels: multi-producer, single-consumer queues that work across green threads, hubs and OS threads.
//!
//! The state (buffer, counts, waiters) sits behind one `parking_lot`
//! mutex. A waiter is a parked green thread of any hub (woken through a
//! [`RemoteUnparker`](crate::park::RemoteUnparker): directly on its own
//! hub, through the hub's wake-up queue and `mio::Waker` from elsewhere)
//! or a blocked OS thread (a condition variable). Wake-ups are
//! notifications: the woken party re-checks the state under the lock, and
//! a sender that was notified of free space but interrupted before using
//! it passes the notification on.
//!
//! A green thread parked on a channel always counts as waiting for a
//! wake-up from another OS thread ([`ExternalWait`]): it parks only while
//! the other side is alive, and a handle can be moved to any thread
//! without the channel noticing, so the deadlock detector must assume the
//! other side may act (see [`channel`]).

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};

use crate::park::{self, Interrupt, Wake};
use crate::remote::{ExternalWait, ThreadSignal, Waiter};
use crate::sync::deadline_after;
use crate::{context, sched, time};

/// The sending half of a channel; clone it for more producers.
///
/// `Send` and `Sync` when `T: Send`.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of a channel (one consumer).
///
/// `Send` when `T: Send`, not `Sync` (like `std::sync::mpsc::Receiver`).
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    _not_sync: PhantomData<Cell<()>>,
}

struct Chan<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    buffer: VecDeque<T>,
    /// `None`: unbounded; `Some(0)`: rendezvous.
    capacity: Option<usize>,
    senders: usize,
    receiver_alive: bool,
    /// The receiver, when it waits for a message.
    receiver_waiting: Option<(u64, Waiter)>,
    /// Senders waiting for space (or, rendezvous, for their message to be
    /// taken), in arrival order.
    senders_waiting: VecDeque<(u64, Waiter)>,
    /// Messages sent and received so far (rendezvous hand-off).
    sent: u64,
    received: u64,
    next_waiter: u64,
}

impl<T> State<T> {
    fn has_space(&self) -> bool {
        match self.capacity {
            None => true,
            Some(capacity) => self.buffer.len() < capacity.max(1),
        }
    }

    /// Removes waiter `id`; whether it was still queued (not notified).
    fn dequeue(&mut self, role: Role, id: u64) -> bool {
        match role {
            Role::Receiver => match &self.receiver_waiting {
                Some((waiting, _)) if *waiting == id => {
                    self.receiver_waiting = None;
                    true
                }
                _ => false,
            },
            Role::Sender => match self.senders_waiting.iter().position(|(w, _)| *w == id) {
                Some(index) => {
                    self.senders_waiting.remove(index);
                    true
                }
                None => false,
            },
        }
    }

    fn enqueue(&mut self, role: Role, id: u64, waiter: Waiter) {
        match role {
            Role::Receiver => self.receiver_waiting = Some((id, waiter)),
            Role::Sender => self.senders_waiting.push_back((id, waiter)),
        }
    }

    /// The waiters to notify after a message was taken.
    fn after_receive(&mut self) -> Vec<Waiter> {
        if self.capacity == Some(0) {
            // Rendezvous: the sender of this message waits for it to be
            // taken, and another one may wait for the free slot.
            self.senders_waiting.drain(..).map(|(_, w)| w).collect()
        } else {
            self.senders_waiting
                .pop_front()
                .map(|(_, w)| w)
                .into_iter()
                .collect()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Receiver,
    Sender,
}

/// How a wait ended.
enum Waited {
    /// Woken (or spuriously): re-check the state.
    Woken,
    TimedOut,
}

impl<T> Chan<T> {
    fn new(capacity: Option<usize>) -> Arc<Chan<T>> {
        Arc::new(Chan {
            state: Mutex::new(State {
                buffer: VecDeque::new(),
                capacity,
                senders: 1,
                receiver_alive: true,
                receiver_waiting: None,
                senders_waiting: VecDeque::new(),
                sent: 0,
                received: 0,
                next_waiter: 0,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock()
    }

    /// Waits, as `role`, until notified or `deadline`. Consumes the lock:
    /// the waiter is queued before it is released, so no notification can
    /// slip in between.
    fn wait(
        &self,
        mut state: MutexGuard<'_, State<T>>,
        role: Role,
        deadline: Option<Instant>,
    ) -> Waited {
        state.next_waiter += 1;
        let id = state.next_waiter;
        if !context::in_green_thread() {
            let signal = Arc::new(ThreadSignal::default());
            state.enqueue(role, id, Waiter::Thread(Arc::clone(&signal)));
            drop(state);
            let notified = signal.wait(deadline);
            let queued = self.lock().dequeue(role, id);
            return if notified || !queued {
                Waited::Woken
            } else {
                Waited::TimedOut
            };
        }
        // Waiting implies the other side is alive (a live sender for the
        // receiver, the receiver for a sender), and it may be on any
        // thread: never a deadlock the hub can prove.
        let sched = sched::current().expect("a green thread runs inside a hub");
        let _external = ExternalWait::new(sched);
        let what = match role {
            Role::Receiver => "channel recv",
            Role::Sender => "channel send",
        };
        let result = park::park(what, deadline, |unparker| {
            state.enqueue(role, id, Waiter::Green(unparker.remote()));
            drop(state);
        });
        let mut state = self.lock();
        let notified = !state.dequeue(role, id);
        match result {
            Ok(Wake::Ready) => Waited::Woken,
            Ok(wake) => {
                if notified {
                    self.pass_on(state, role);
                }
                if wake == Wake::TimedOut {
                    Waited::TimedOut
                } else {
                    Waited::Woken
                }
            }
            Err(interrupt) => {
                if notified {
                    self.pass_on(state, role);
                } else {
                    drop(state);
                }
                interrupted(interrupt)
            }
        }
    }

    /// A notified waiter leaves without acting on it: hand the
    /// notification to the next one in line.
    fn pass_on(&self, mut state: MutexGuard<'_, State<T>>, role: Role) {
        let next = match role {
            // There is one receiver: nobody to pass to.
            Role::Receiver => None,
            Role::Sender if state.has_space() || state.capacity == Some(0) => {
                state.senders_waiting.pop_front().map(|(_, w)| w)
            }
            Role::Sender => None,
        };
        drop(state);
        if let Some(waiter) = next {
            waiter.wake();
        }
    }
}

/// Unwinds with `interrupt`, unless already unwinding (a destructor that
/// waits): then lets the others run and has the caller re-check.
fn interrupted(interrupt: Interrupt) -> Waited {
    if !std::thread::panicking() {
        park::raise(interrupt);
    }
    time::yield_now();
    Waited::Woken
}

/// Creates an unbounded channel: [`Sender::send`] never waits.
///
/// Like `std::sync::mpsc::channel`, for green threads: a receiver in a
/// green thread parks (its hub runs others), on a plain OS thread it
/// blocks. Both halves are `Send` when `T: Send`: a send from another OS
/// thread or another hub wakes the receiving hub through its `mio::Waker`.
///
/// # Deadlock detection
/// A hub whose green threads all wait, with no timer, I/O or offload work
/// left, panics with a deadlock report. A green thread waiting on a
/// channel never counts as deadlocked: it waits only while the other side
/// is alive (a sender, for `recv`; the receiver, for `send`), and that
/// handle may have been moved to another OS thread or hub at any time, so
/// a message may still come. A hub whose only hope is such a channel
/// waits (like a blocked `std::sync::mpsc` receiver) rather than panic;
/// this includes a real deadlock, such as a green thread waiting on a
/// channel whose only sender it holds itself. Every other wait (`Event`,
/// `Semaphore`, `Mutex`, `Pool`, `join`) is still reported.
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// let (tx, rx) = moss::sync::channel();
/// let producer = std::thread::spawn(move || {
///     for i in 0..100 {
///         tx.send(i).unwrap();
///     }
/// });
/// let sum = moss::run(|| rx.iter().sum::<u32>());
/// producer.join().unwrap();
/// assert_eq!(sum, 4950);
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    pair(Chan::new(None))
}

/// Creates a channel that holds at most `capacity` messages:
/// [`Sender::send`] waits while it is full (back-pressure). A capacity of
/// 0 makes a rendezvous channel: each send waits until its message is
/// received.
///
/// See [`channel`] for how the halves work across threads.
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// moss::run(|| {
///     let (tx, rx) = moss::sync::bounded(1);
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
    pair(Chan::new(Some(capacity)))
}

fn pair<T>(chan: Arc<Chan<T>>) -> (Sender<T>, Receiver<T>) {
    (
        Sender {
            chan: Arc::clone(&chan),
        },
        Receiver {
            chan,
            _not_sync: PhantomData,
        },
    )
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while a bounded channel is full (parking a
    /// green thread, blocking an OS thread).
    ///
    /// # Errors
    /// The receiver is gone; the value comes back in the error.
    ///
    /// A kill or an elapsed `moss::timeout` while waiting unwinds the
    /// green thread; the value is dropped, not sent.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        let chan = &self.chan;
        let mut state = chan.lock();
        loop {
            if !state.receiver_alive {
                return Err(SendError(value));
            }
            if state.has_space() {
                break;
            }
            chan.wait(state, Role::Sender, None);
            state = chan.lock();
        }
        state.buffer.push_back(value);
        state.sent += 1;
        let sequence = state.sent;
        let receiver = state.receiver_waiting.take().map(|(_, w)| w);
        if state.capacity != Some(0) {
            drop(state);
            if let Some(receiver) = receiver {
                receiver.wake();
            }
            return Ok(());
        }
        // Rendezvous: wait until this message has been taken.
        if let Some(receiver) = receiver {
            receiver.wake();
        }
        while state.received < sequence && state.receiver_alive {
            chan.wait(state, Role::Sender, None);
            state = chan.lock();
        }
        Ok(())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.chan.lock().senders += 1;
        Sender {
            chan: Arc::clone(&self.chan),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = self.chan.lock();
        state.senders -= 1;
        if state.senders == 0 {
            let receiver = state.receiver_waiting.take();
            drop(state);
            if let Some((_, receiver)) = receiver {
                receiver.wake();
            }
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// Takes the next message, waiting for one (parking a green thread,
    /// blocking an OS thread).
    ///
    /// # Errors
    /// Every sender is gone and the channel is empty.
    ///
    /// A kill or an elapsed `moss::timeout` while waiting unwinds the
    /// green thread; no message is lost (it stays in the channel).
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_until(None).map_err(|_| RecvError)
    }

    /// [`recv`](Receiver::recv) for at most `timeout`.
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`] when no message came in time,
    /// [`RecvTimeoutError::Disconnected`] as [`RecvError`].
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_until(deadline_after(timeout))
    }

    /// Takes a message if one is there, without waiting.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] or [`TryRecvError::Disconnected`].
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut state = self.chan.lock();
        match self.take(&mut state) {
            Some(value) => Ok(value),
            None if state.senders == 0 => Err(TryRecvError::Disconnected),
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

    /// Takes the next message and notifies the senders that wait for it.
    /// Consumes the lock only when a message was taken.
    fn take(&self, state: &mut MutexGuard<'_, State<T>>) -> Option<T> {
        let value = state.buffer.pop_front()?;
        state.received += 1;
        if !state.senders_waiting.is_empty() {
            let senders = state.after_receive();
            MutexGuard::unlocked(state, || senders.iter().for_each(Waiter::wake));
        }
        Some(value)
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let chan = &self.chan;
        let mut state = chan.lock();
        loop {
            if let Some(value) = self.take(&mut state) {
                return Ok(value);
            }
            if state.senders == 0 {
                return Err(RecvTimeoutError::Disconnected);
            }
            if deadline.is_some_and(|at| at <= Instant::now()) {
                return Err(RecvTimeoutError::Timeout);
            }
            let waited = chan.wait(state, Role::Receiver, deadline);
            state = chan.lock();
            if let Waited::TimedOut = waited {
                return match self.take(&mut state) {
                    Some(value) => Ok(value),
                    None if state.senders == 0 => Err(RecvTimeoutError::Disconnected),
                    None => Err(RecvTimeoutError::Timeout),
                };
            }
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.chan.lock();
        state.receiver_alive = false;
        let buffered = std::mem::take(&mut state.buffer);
        let senders: Vec<_> = state.senders_waiting.drain(..).map(|(_, w)| w).collect();
        drop(state);
        senders.iter().for_each(Waiter::wake);
        drop(buffered);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

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

/// [`Sender::send`] failed: the receiver is gone. Holds the unsent value.
#[derive(Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sending on a closed channel")]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError").finish_non_exhaustive()
    }
}

/// [`Receiver::recv`] failed: every sender is gone and the channel is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("receiving on a closed channel")]
pub struct RecvError;

/// Why [`Receiver::try_recv`] returned no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryRecvError {
    /// No message now; senders remain.
    #[error("receiving on an empty channel")]
    Empty,
    /// Every sender is gone and the channel is empty.
    #[error("receiving on an empty and closed channel")]
    Disconnected,
}

/// Why [`Receiver::recv_timeout`] returned no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvTimeoutError {
    /// No message came before the timeout.
    #[error("timed out waiting on a channel")]
    Timeout,
    /// Every sender is gone and the channel is empty.
    #[error("receiving on a closed channel")]
    Disconnected,
}
