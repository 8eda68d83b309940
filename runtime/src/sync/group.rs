//! `Group`: a set of green threads joined together.

use std::fmt;

use crate::green::{self, JoinError, JoinHandle};

/// A collection of green threads to wait for together, like
/// `gevent.pool.Group`.
///
/// # Examples
/// ```
/// # use moss_runtime as moss;
/// let squares = moss::run(|| {
///     let mut group = moss::Group::new();
///     for i in 1..=3 {
///         group.spawn(move || i * i);
///     }
///     group.add(moss::spawn(|| 100));
///     group.join_all().into_iter().map(Result::unwrap).collect::<Vec<_>>()
/// });
/// assert_eq!(squares, [1, 4, 9, 100]);
/// ```
pub struct Group<T = ()> {
    handles: Vec<JoinHandle<T>>,
}

impl<T> Group<T> {
    /// An empty group.
    pub fn new() -> Group<T> {
        Group {
            handles: Vec::new(),
        }
    }

    /// Spawns `f` (as [`crate::spawn`]) into the group.
    ///
    /// # Panics
    /// As [`crate::spawn`].
    pub fn spawn<F>(&mut self, f: F)
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        self.handles.push(green::spawn(f));
    }

    /// Adds a green thread spawned elsewhere.
    pub fn add(&mut self, handle: JoinHandle<T>) {
        self.handles.push(handle);
    }

    /// Green threads in the group.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Whether the group is empty.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Kills every green thread of the group (see [`JoinHandle::kill`]).
    pub fn kill_all(&self) {
        self.handles.iter().for_each(JoinHandle::kill);
    }

    /// Waits for every green thread and returns their results in the order
    /// they were added.
    pub fn join_all(self) -> Vec<Result<T, JoinError>> {
        self.handles.into_iter().map(JoinHandle::join).collect()
    }
}

impl<T> Default for Group<T> {
    fn default() -> Group<T> {
        Group::new()
    }
}

impl<T> fmt::Debug for Group<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("len", &self.handles.len())
            .finish()
    }
}
