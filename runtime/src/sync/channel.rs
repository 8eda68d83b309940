//! Channels: multi-producer, single-consumer queues that work across green threads, hubs and OS threads.
//!
//! The state (buffer, counts, waiters) sits behind one `parking_lot`
//! mutex, held for a few instructions and never while waking anyone on
//! the common paths. A waiter is a parked green thread of any hub or a
//! blocked OS thread (a condition variable); see [`waiter`](super::waiter)
//! for how each is woken, directly when the waker runs on the waiter's own
//! hub. Wake-ups are notifications: the woken party re-checks the state
//! under the lock, and a sender that was notified of free space but
//! interrupted before using it passes the notification on.
//!
//! Costs on one hub: a send or a receive that does not wait is one lock
//! and unlock; a receive that waits is one more after the wake-up. A park
//! stores the waiter's unparker in the hub's table (no allocation, no
//! atomic reference count).
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
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};

use super::waiter::{Hubs, Waiter, Wakeup};
use crate::park::{self, Wake};
use crate::remote::{ExternalWait, ThreadSignal};
use crate::sync::deadline_after;
use crate::{context, sched};

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

type Guard<'a, T> = MutexGuard<'a, State<T>>;

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
    /// The hubs of the green threads that waited here.
    hubs: Hubs,
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

    /// Takes the waiting receiver, to wake.
    fn receiver_wakeup(&mut self) -> Option<Wakeup> {
        let (_, waiter) = self.receiver_waiting.take()?;
        self.hubs.resolve(waiter)
    }

    /// Takes the first waiting sender, to wake.
    fn sender_wakeup(&mut self) -> Option<Wakeup> {
        let (_, waiter) = self.senders_waiting.pop_front()?;
        self.hubs.resolve(waiter)
    }

    /// Wakes every waiting sender, under the lock (rare paths: rendezvous,
    /// the receiver going away).
    fn wake_all_senders(&mut self) {
        while let Some(wakeup) = self.sender_wakeup() {
            wakeup.wake();
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
                hubs: Hubs::default(),
                sent: 0,
                received: 0,
                next_waiter: 0,
            }),
        })
    }

    fn lock(&self) -> Guard<'_, T> {
        self.state.lock()
    }

    /// Waits, as `role`, until notified or `deadline`, and locks again.
    /// The waiter is queued before the lock is released, so no
    /// notification can slip in between.
    fn wait<'a>(
        &'a self,
        mut state: Guard<'a, T>,
        role: Role,
        deadline: Option<Instant>,
    ) -> (Waited, Guard<'a, T>) {
        state.next_waiter += 1;
        let id = state.next_waiter;
        let sched = match sched::current() {
            Some(sched) if context::in_green_thread() => sched,
            _ => {
                let signal = Arc::new(ThreadSignal::default());
                state.enqueue(role, id, Waiter::Thread(Arc::clone(&signal)));
                drop(state);
                let notified = signal.wait(deadline);
                let mut state = self.lock();
                let queued = state.dequeue(role, id);
                let waited = if notified || !queued {
                    Waited::Woken
                } else {
                    Waited::TimedOut
                };
                return (waited, state);
            }
        };
        // Waiting implies the other side is alive (a live sender for the
        // receiver, the receiver for a sender), and it may be on any
        // thread: never a deadlock the hub can prove.
        let _external = ExternalWait::new(Rc::clone(&sched));
        let what = match role {
            Role::Receiver => "channel recv",
            Role::Sender => "channel send",
        };
        let register = |unparker| {
            let waiter = state.hubs.waiter(&sched, unparker);
            state.enqueue(role, id, waiter);
            drop(state);
        };
        // A green thread that is (or may be) unwinding cannot be
        // interrupted again: it waits until notified, or until it should
        // decide again (`Wake::Interrupted`, a re-check below).
        let result = park::park_unless_unwinding(what, deadline, register);
        let mut state = self.lock();
        // Only the waker's notification ends this park `Ready`, and it took
        // the entry out of the queue: nothing to remove then.
        if result == Ok(Wake::Ready) {
            return (Waited::Woken, state);
        }
        let notified = !state.dequeue(role, id);
        match result {
            Ok(wake) => {
                if notified {
                    pass_on(&mut state, role);
                }
                if wake == Wake::TimedOut {
                    (Waited::TimedOut, state)
                } else {
                    (Waited::Woken, state)
                }
            }
            Err(interrupt) => {
                if notified {
                    pass_on(&mut state, role);
                }
                drop(state);
                // Raises, or (when the green thread may be unwinding) has
                // the caller check the channel again.
                park::raise_or_report(interrupt);
                (Waited::Woken, self.lock())
            }
        }
    }
}

/// A notified waiter leaves without acting on it: hand the notification
/// to the next one in line.
fn pass_on<T>(state: &mut Guard<'_, T>, role: Role) {
    // There is one receiver: nobody to pass to.
    if role == Role::Sender && (state.has_space() || state.capacity == Some(0)) {
        if let Some(wakeup) = state.sender_wakeup() {
            MutexGuard::unlocked(state, || wakeup.wake());
        }
    }
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
/// `Semaphore`, `Mutex`, `Pool`, `join`, a [`local`](super::local)
/// channel) is still reported.
///
/// # Hub-local channels
/// Between green threads of one hub, [`local::channel`](super::local::channel)
/// has the same methods and errors with no lock and no atomic operation
/// (its halves are `!Send`), and its waits are covered by the deadlock
/// detector. Use this channel when a half may cross to another OS thread
/// or hub.
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
            state = chan.wait(state, Role::Sender, None).1;
        }
        state.buffer.push_back(value);
        state.sent += 1;
        let sequence = state.sent;
        let receiver = state.receiver_wakeup();
        if state.capacity != Some(0) {
            drop(state);
            if let Some(receiver) = receiver {
                receiver.wake();
            }
            return Ok(());
        }
        // Rendezvous: wait until this message has been taken.
        if let Some(receiver) = receiver {
            MutexGuard::unlocked(&mut state, || receiver.wake());
        }
        while state.received < sequence && state.receiver_alive {
            state = chan.wait(state, Role::Sender, None).1;
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
            let receiver = state.receiver_wakeup();
            drop(state);
            if let Some(receiver) = receiver {
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
        let state = self.chan.lock();
        match take(state) {
            Ok(value) => Ok(value),
            Err(state) if state.senders == 0 => Err(TryRecvError::Disconnected),
            Err(_) => Err(TryRecvError::Empty),
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
        let chan = &self.chan;
        let mut state = chan.lock();
        loop {
            state = match take(state) {
                Ok(value) => return Ok(value),
                Err(state) => state,
            };
            if state.senders == 0 {
                return Err(RecvTimeoutError::Disconnected);
            }
            if deadline.is_some_and(|at| at <= Instant::now()) {
                return Err(RecvTimeoutError::Timeout);
            }
            let (waited, relocked) = chan.wait(state, Role::Receiver, deadline);
            state = relocked;
            if let Waited::TimedOut = waited {
                return match take(state) {
                    Ok(value) => Ok(value),
                    Err(state) if state.senders == 0 => Err(RecvTimeoutError::Disconnected),
                    Err(_) => Err(RecvTimeoutError::Timeout),
                };
            }
        }
    }
}

/// Takes the next message, releases the lock and notifies the sender(s)
/// waiting for the space (rendezvous: for the message to be taken). With
/// no message, gives the lock back.
fn take<T>(mut state: Guard<'_, T>) -> Result<T, Guard<'_, T>> {
    let Some(value) = state.buffer.pop_front() else {
        return Err(state);
    };
    state.received += 1;
    if state.capacity == Some(0) {
        state.wake_all_senders();
    } else if let Some(sender) = state.sender_wakeup() {
        drop(state);
        sender.wake();
    }
    Ok(value)
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.chan.lock();
        state.receiver_alive = false;
        let buffered = std::mem::take(&mut state.buffer);
        state.wake_all_senders();
        drop(state);
        drop(buffered);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

super::receiver_iterators!();

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
