//! `Pool`: bounded concurrency, a spawn that waits while the pool is full.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use crate::green::{self, JoinHandle};
use crate::park::{WaitList, Wake};
use crate::sync::park_local;

/// A bound on how many green threads run at once, like `gevent.pool.Pool`.
///
/// [`spawn`](Pool::spawn) parks the caller while `size` green threads of
/// the pool are running, then spawns; [`join`](Pool::join) waits until
/// none is. Free slots go to waiting spawners first in, first out.
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// moss::run(|| {
///     let pool = moss::Pool::new(3);
///     let peak = Rc::new(Cell::new(0));
///     for _ in 0..10 {
///         let pool_running = pool.clone();
///         let peak = Rc::clone(&peak);
///         pool.spawn(move || {
///             peak.set(peak.get().max(pool_running.running()));
///             moss::sleep(Duration::from_millis(1));
///         });
///     }
///     pool.join();
///     assert_eq!(peak.get(), 3);
/// });
/// ```
#[derive(Clone)]
pub struct Pool {
    inner: Rc<Inner>,
}

struct Inner {
    size: usize,
    /// Green threads of the pool alive, or slots handed to a spawner.
    running: Cell<usize>,
    spawners: RefCell<WaitList>,
    joiners: RefCell<WaitList>,
}

/// A slot of the pool, given back when the green thread ends.
struct Slot(Rc<Inner>);

impl Drop for Slot {
    fn drop(&mut self) {
        let inner = &self.0;
        if inner.spawners.borrow_mut().wake_one() {
            return; // handed over
        }
        inner.running.set(inner.running.get() - 1);
        if inner.running.get() == 0 {
            inner.joiners.borrow_mut().wake_all();
        }
    }
}

impl Pool {
    /// A pool that runs at most `size` green threads at once (at least 1).
    pub fn new(size: usize) -> Pool {
        Pool {
            inner: Rc::new(Inner {
                size: size.max(1),
                running: Cell::new(0),
                spawners: RefCell::new(WaitList::new()),
                joiners: RefCell::new(WaitList::new()),
            }),
        }
    }

    /// The most green threads it runs at once.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// Green threads of the pool running now.
    pub fn running(&self) -> usize {
        self.inner.running.get()
    }

    /// Spawns `f` as a green thread of the pool, first parking while the
    /// pool is full.
    ///
    /// # Panics
    /// Outside a green thread, or when no stack can be had (as
    /// [`crate::spawn`]).
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let slot = self.take_slot();
        green::spawn(move || {
            let _slot = slot;
            f()
        })
    }

    fn take_slot(&self) -> Slot {
        let inner = &self.inner;
        loop {
            if inner.running.get() < inner.size {
                inner.running.set(inner.running.get() + 1);
                return Slot(Rc::clone(inner));
            }
            let wake = park_local("Pool::spawn", None, |unparker| {
                inner.spawners.borrow_mut().push(unparker);
            });
            match wake {
                // A finishing green thread handed its slot to us.
                Wake::Ready => return Slot(Rc::clone(inner)),
                Wake::TimedOut | Wake::Interrupted => continue,
            }
        }
    }

    /// Parks until no green thread of the pool is running.
    pub fn join(&self) {
        let inner = &self.inner;
        while inner.running.get() > 0 {
            park_local("Pool::join", None, |unparker| {
                inner.joiners.borrow_mut().push(unparker);
            });
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.inner.size)
            .field("running", &self.inner.running.get())
            .finish_non_exhaustive()
    }
}
