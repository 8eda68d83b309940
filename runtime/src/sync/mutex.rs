//! `Mutex`: mutual exclusion between green threads, handed over in arrival order.

use std::cell::{Cell, RefCell, RefMut};
use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::park::{WaitList, Wake};
use crate::sync::park_local;

/// A mutual-exclusion lock for green threads: [`lock`](Mutex::lock) parks
/// the green thread (never the OS thread) while another holds the lock,
/// so a guard may be held across blocking calls (`sleep`, I/O, channels).
///
/// Fair: unlocking hands the lock to the longest waiter, so a green thread
/// that unlocks and relocks in a loop cannot starve the others. There is
/// no poisoning: a panic while locked just unlocks. Hub-local (`!Send`):
/// share it with `Rc`.
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// use std::rc::Rc;
/// use moss::sync::Mutex;
///
/// let total = moss::run(|| {
///     let counter = Rc::new(Mutex::new(0));
///     let workers: Vec<_> = (0..10)
///         .map(|_| {
///             let counter = Rc::clone(&counter);
///             moss::spawn(move || {
///                 let mut n = counter.lock();
///                 let seen = *n;
///                 moss::yield_now(); // others run, but cannot enter
///                 *n = seen + 1;
///             })
///         })
///         .collect();
///     workers.into_iter().for_each(|w| w.join().unwrap());
///     let total = *counter.lock();
///     total
/// });
/// assert_eq!(total, 10);
/// ```
pub struct Mutex<T: ?Sized> {
    /// Held by someone. Invariant: while a waiter is parked it stays set
    /// (unlock hands the lock over instead of clearing it).
    locked: Cell<bool>,
    waiters: RefCell<WaitList>,
    data: RefCell<T>,
}

/// Access to the data of a locked [`Mutex`]; unlocks when dropped.
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    data: RefMut<'a, T>,
}

impl<T> Mutex<T> {
    /// A new, unlocked mutex holding `value`.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            locked: Cell::new(false),
            waiters: RefCell::new(WaitList::new()),
            data: RefCell::new(value),
        }
    }

    /// Consumes the mutex and returns its data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, parking until the lock is handed to this green thread.
    ///
    /// A kill or an elapsed `moss::timeout` while waiting unwinds the
    /// green thread without taking the lock.
    ///
    /// # Panics
    /// When it would wait outside a green thread, including a green thread
    /// that locks a mutex it already holds (that would deadlock).
    pub fn lock(&self) -> MutexGuard<'_, T> {
        loop {
            if let Some(guard) = self.try_lock() {
                return guard;
            }
            let wake = park_local("Mutex::lock", None, |unparker| {
                self.waiters.borrow_mut().push(unparker);
            });
            match wake {
                // Only an unlock unparks a waiter, handing the lock over.
                Wake::Ready => return self.guard(),
                Wake::TimedOut | Wake::Interrupted => continue,
            }
        }
    }

    /// Locks if the mutex is free, without waiting.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        if self.locked.get() {
            return None;
        }
        self.locked.set(true);
        Some(self.guard())
    }

    /// Whether someone holds the lock now.
    pub fn is_locked(&self) -> bool {
        self.locked.get()
    }

    /// The data, through a unique borrow: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    fn guard(&self) -> MutexGuard<'_, T> {
        MutexGuard {
            mutex: self,
            data: self.data.borrow_mut(),
        }
    }

    fn unlock(&self) {
        // Uncontended, the list is empty: no mutable borrow (see
        // `Semaphore::release`).
        if self.waiters.borrow().is_empty() || !self.waiters.borrow_mut().wake_one() {
            self.locked.set(false);
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Mutex");
        match self.data.try_borrow() {
            Ok(data) if !self.locked.get() => debug.field("data", &&*data),
            _ => debug.field("data", &format_args!("<locked>")),
        };
        debug.finish_non_exhaustive()
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.data
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // The next holder only runs after this guard (and its borrow of
        // the data) is gone: unlocking merely makes it ready.
        self.mutex.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.data, f)
    }
}
