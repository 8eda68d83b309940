//! Green-thread-local storage: [`GreenLocal`], one value per green thread (gevent's `local`).

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::sched;

/// Rounds of [`Locals::clear`]: values that destructors create again are
/// dropped in the green thread this many times at most.
const CLEAR_ROUNDS: usize = 4;

/// The values one green thread (or, outside any green thread, one OS
/// thread) holds, by key. Values are `Rc`s so that a value can be used
/// while another local is initialised or read (no borrow is held while
/// user code runs).
#[derive(Default)]
pub(crate) struct Locals {
    /// By key; a green thread uses few locals, so a vector beats a map
    /// (and costs nothing to create on the spawn path).
    values: RefCell<Vec<(usize, Rc<dyn Any>)>>,
}

impl Locals {
    /// Drops every value (at the end of the green thread's body, inside
    /// the green thread, so destructors may block). A destructor may use
    /// a local again and so create a value: those are dropped too, for up
    /// to [`CLEAR_ROUNDS`] rounds in all (as pthreads do with
    /// `PTHREAD_DESTRUCTOR_ITERATIONS`); what is still left after that is
    /// dropped by the hub, on its own stack, when the record goes (see
    /// `Hub::orphans`).
    pub(crate) fn clear(&self) {
        for _ in 0..CLEAR_ROUNDS {
            if self.values.borrow().is_empty() {
                return;
            }
            let values = std::mem::take(&mut *self.values.borrow_mut());
            drop(values);
        }
    }

    /// Takes every value left, for a record being dropped; `None` when
    /// there is none (the common case, which then costs one test).
    pub(crate) fn take_all(&mut self) -> Option<Vec<(usize, Rc<dyn Any>)>> {
        let values = self.values.get_mut();
        (!values.is_empty()).then(|| std::mem::take(values))
    }

    fn get_or_init<T: 'static>(&self, key: usize, init: fn() -> T) -> Rc<dyn Any> {
        let find = |values: &[(usize, Rc<dyn Any>)]| {
            values
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, value)| Rc::clone(value))
        };
        if let Some(value) = find(&self.values.borrow()) {
            return value;
        }
        // `init` may itself use locals: no borrow is held while it runs,
        // and a value it created for this key first wins.
        let value: Rc<dyn Any> = Rc::new(init());
        let mut values = self.values.borrow_mut();
        if let Some(existing) = find(&values) {
            return existing;
        }
        values.push((key, Rc::clone(&value)));
        value
    }
}

impl fmt::Debug for Locals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Locals")
            .field("values", &self.values.borrow().len())
            .finish()
    }
}

thread_local! {
    /// Values of code that runs outside any green thread.
    static OUTSIDE: Locals = Locals::default();
}

/// A value each green thread has its own copy of, created on first use
/// by `init`: what `thread_local!` is for OS threads, and `gevent.local`
/// for greenlets. Put it in a `static`.
///
/// Green threads of one hub share the OS thread, so a `thread_local!` is
/// shared by all of them; a `GreenLocal` is not. Outside any green thread
/// the value is per OS thread. A green thread's values are dropped when
/// its function returns (or unwinds), inside the green thread; values
/// their destructors create again are dropped too, for up to four rounds,
/// and what is still left after that is dropped later by the hub, outside
/// any green thread.
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// use std::cell::Cell;
/// static REQUESTS: moss::GreenLocal<Cell<u32>> = moss::GreenLocal::new(|| Cell::new(0));
///
/// let counts = moss::run(|| {
///     let handles: Vec<_> = (1..=3)
///         .map(|n| moss::spawn(move || {
///             for _ in 0..n {
///                 REQUESTS.with(|count| count.set(count.get() + 1));
///                 moss::yield_now(); // the others run in between
///             }
///             REQUESTS.with(Cell::get)
///         }))
///         .collect();
///     handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
/// });
/// assert_eq!(counts, [1, 2, 3]);
/// ```
pub struct GreenLocal<T: 'static> {
    init: fn() -> T,
    /// 0 until first use, then a process-wide unique key.
    key: AtomicUsize,
    _value: PhantomData<fn() -> T>,
}

impl<T: 'static> GreenLocal<T> {
    /// A local whose value in each green thread starts as `init()`.
    pub const fn new(init: fn() -> T) -> GreenLocal<T> {
        GreenLocal {
            init,
            key: AtomicUsize::new(0),
            _value: PhantomData,
        }
    }

    fn key(&self) -> usize {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        match self.key.load(Ordering::Acquire) {
            0 => {
                let fresh = NEXT.fetch_add(1, Ordering::Relaxed);
                match self
                    .key
                    .compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => fresh,
                    Err(winner) => winner,
                }
            }
            key => key,
        }
    }

    /// Runs `f` with the current green thread's value (created on first
    /// use). Other locals, and this one, may be used inside `f`.
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        let key = self.key();
        let value = sched::with_running(|green| green.locals.get_or_init(key, self.init))
            .unwrap_or_else(|| OUTSIDE.with(|locals| locals.get_or_init(key, self.init)));
        let value = value
            .downcast_ref::<T>()
            .expect("a local's key belongs to its type");
        f(value)
    }
}

impl<T: 'static> fmt::Debug for GreenLocal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GreenLocal").finish_non_exhaustive()
    }
}
