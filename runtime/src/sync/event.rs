//! `Event`: a flag green threads wait on until it is set.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::time::{Duration, Instant};

use crate::park::{WaitList, Wake};
use crate::sync::{deadline_after, park_local};

/// A flag that green threads wait on until another sets it, like
/// `gevent.event.Event` or a manual-reset event.
///
/// [`set`](Event::set) wakes every waiter, and later waits return at once
/// until [`clear`](Event::clear). Hub-local: share it with `Rc`.
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// use std::rc::Rc;
/// use moss::sync::Event;
///
/// moss::run(|| {
///     let ready = Rc::new(Event::new());
///     let waiters: Vec<_> = (0..3)
///         .map(|_| {
///             let ready = Rc::clone(&ready);
///             moss::spawn(move || ready.wait())
///         })
///         .collect();
///     moss::yield_now();
///     ready.set();
///     waiters.into_iter().for_each(|w| w.join().unwrap());
///     assert!(ready.is_set());
/// });
/// ```
#[derive(Default)]
pub struct Event {
    set: Cell<bool>,
    waiters: RefCell<WaitList>,
}

impl Event {
    /// A new, unset event.
    pub const fn new() -> Event {
        Event {
            set: Cell::new(false),
            waiters: RefCell::new(WaitList::new()),
        }
    }

    /// Sets the flag and wakes every green thread waiting for it.
    pub fn set(&self) {
        self.set.set(true);
        self.waiters.borrow_mut().wake_all();
    }

    /// Clears the flag; green threads that wait from now on park.
    pub fn clear(&self) {
        self.set.set(false);
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.set.get()
    }

    /// Parks until the flag is set (returns at once if it is).
    ///
    /// A waiter woken by [`set`](Event::set) returns even if the flag was
    /// cleared again before it ran. A kill or an elapsed `moss::timeout`
    /// unwinds the green thread.
    ///
    /// # Panics
    /// When it would wait outside a green thread.
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// [`wait`](Event::wait) for at most `timeout`; whether the flag was
    /// set (`false`: timed out).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(deadline_after(timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        loop {
            if self.set.get() {
                return true;
            }
            let wake = park_local("Event::wait", deadline, |unparker| {
                self.waiters.borrow_mut().push(unparker);
            });
            match wake {
                Wake::Ready => return true,
                Wake::TimedOut => return self.set.get(),
                Wake::Interrupted => continue,
            }
        }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.set.get())
            .finish_non_exhaustive()
    }
}
