//! An inline place for one value of any `'static` type, checked by `TypeId` when taken (a safe API over unsafe storage): a green thread's result without an allocation of its own.
//!
//! [`AnySlot`] is a `RefCell<Option<Box<dyn Any>>>` whose small values
//! (at most [`INLINE`] bytes, aligned to at most a word) live in the
//! slot itself; a larger or more aligned one is boxed and its box lives
//! there. The green-thread record carries one, so spawning a green thread
//! whose result is small allocates the record and nothing else (the slot
//! holds a `Result<T, JoinError>`: a `T` of up to 24 bytes, such as a
//! `u64`, a `String` or a `Vec`, stays inline).
//!
//! ```text
//!   AnySlot { ty: TypeId, drop: Option<fn>, bytes: [usize; 4] }
//!                                            └ T itself, or Box<T>
//! ```

use std::any::TypeId;
use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::mem::{align_of, size_of, MaybeUninit};
use std::ptr;

/// Bytes of a value kept inline.
pub(crate) const INLINE: usize = 4 * size_of::<usize>();

/// The slot's storage: four words.
type Bytes = MaybeUninit<[usize; INLINE / size_of::<usize>()]>;

/// One value of any `'static` type, or none.
///
/// # Invariant
/// `drop` is `Some` exactly when `bytes` holds a value; then `ty` is its
/// stored type `S` (`T` itself when [`AnySlot::fits`], else `Box<T>`, the
/// `T` being the one `ty` names) and `drop` drops an `S` in place.
pub(crate) struct AnySlot {
    /// The type of the value held (`T`, whether inline or boxed).
    ty: Cell<TypeId>,
    /// Drops the value held in place; `None` when empty.
    drop: Cell<Option<unsafe fn(*mut Bytes)>>,
    bytes: UnsafeCell<Bytes>,
    /// A value held may be neither `Send` nor `Sync` (an `Rc`).
    _not_send: PhantomData<*const ()>,
}

impl Default for AnySlot {
    fn default() -> AnySlot {
        AnySlot {
            ty: Cell::new(TypeId::of::<()>()),
            drop: Cell::new(None),
            bytes: UnsafeCell::new(MaybeUninit::uninit()),
            _not_send: PhantomData,
        }
    }
}

impl AnySlot {
    /// Whether a `T` is kept inline (else boxed).
    const fn fits<T>() -> bool {
        size_of::<T>() <= INLINE && align_of::<T>() <= align_of::<Bytes>()
    }

    /// Whether a value is held.
    pub(crate) fn is_full(&self) -> bool {
        self.drop.get().is_some()
    }

    /// Stores `value`; one held already is dropped first (after it left
    /// the slot, so its destructor may use the slot; one it puts there is
    /// dropped too).
    pub(crate) fn put<T: 'static>(&self, value: T) {
        // A destructor of the value dropped may put another one there.
        while self.is_full() {
            self.clear();
        }
        let bytes = self.bytes.get().cast::<u8>();
        if Self::fits::<T>() {
            // SAFETY: the slot is empty (cleared above, and no user code
            // ran since), `bytes` is `INLINE` bytes aligned to `align_of::<Bytes>()`,
            // enough for a `T` (`fits`); `UnsafeCell` allows the write
            // through a shared reference, and no reference into `bytes`
            // is alive (none is ever handed out).
            unsafe { bytes.cast::<T>().write(value) };
            self.drop.set(Some(drop_in_place::<T>));
        } else {
            // SAFETY: as above, for a `Box<T>` (one word).
            unsafe { bytes.cast::<Box<T>>().write(Box::new(value)) };
            self.drop.set(Some(drop_in_place::<Box<T>>));
        }
        self.ty.set(TypeId::of::<T>());
    }

    /// Takes the value out if it is a `T`; `None` when the slot is empty or
    /// holds another type (which stays).
    pub(crate) fn take<T: 'static>(&self) -> Option<T> {
        if !self.is_full() || self.ty.get() != TypeId::of::<T>() {
            return None;
        }
        self.drop.set(None);
        let bytes = self.bytes.get().cast::<u8>();
        if Self::fits::<T>() {
            // SAFETY: by the invariant, `bytes` holds a `T` kept inline
            // (`ty` is `T` and `fits`), and marking the slot empty above
            // makes this read its one move out.
            Some(unsafe { bytes.cast::<T>().read() })
        } else {
            // SAFETY: as above, for the `Box<T>` a `T` that does not fit
            // is kept in.
            Some(*unsafe { bytes.cast::<Box<T>>().read() })
        }
    }

    /// Drops the value held, if any (after it left the slot, so its
    /// destructor may use the slot).
    pub(crate) fn clear(&self) {
        let Some(drop) = self.drop.take() else {
            return;
        };
        // SAFETY: `bytes` held a value (the invariant: `drop` was `Some`);
        // the slot is marked empty, so this bitwise copy is now its only
        // owner.
        let mut moved: Bytes = unsafe { ptr::read(self.bytes.get()) };
        // SAFETY: `drop` drops the type `moved` holds (the invariant),
        // and `moved` is dropped once, here.
        unsafe { drop(&mut moved) };
    }

    /// Gives up the value held without dropping it (it leaks, like a
    /// value whose last owner was `mem::forget`ten).
    pub(crate) fn leak(&self) {
        self.drop.set(None);
    }
}

impl Drop for AnySlot {
    fn drop(&mut self) {
        // As in `put`: a destructor may put another value there.
        while self.is_full() {
            self.clear();
        }
    }
}

/// Drops the `S` at `bytes`.
///
/// # Safety
/// `bytes` holds an initialized `S`, not used again.
unsafe fn drop_in_place<S>(bytes: *mut Bytes) {
    // SAFETY: passed on from the caller.
    unsafe { ptr::drop_in_place(bytes.cast::<S>()) };
}

// A `Box<T>` always fits, whatever the `T`.
const _: () = assert!(AnySlot::fits::<Box<[u8; 1 << 20]>>());
const _: () = assert!(size_of::<AnySlot>() <= 64);

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn small_values_round_trip_inline() {
        let slot = AnySlot::default();
        assert!(!slot.is_full());
        slot.put(7u64);
        assert!(slot.is_full());
        assert_eq!(slot.take::<u64>(), Some(7));
        assert!(!slot.is_full());
        assert_eq!(slot.take::<u64>(), None);
        slot.put(String::from("moss"));
        assert_eq!(slot.take::<String>().as_deref(), Some("moss"));
        slot.put(());
        assert_eq!(slot.take::<()>(), Some(()));
    }

    #[test]
    fn large_and_overaligned_values_are_boxed_and_round_trip() {
        #[derive(Debug, PartialEq)]
        #[repr(align(32))]
        struct Wide(u8);
        assert!(!AnySlot::fits::<[u64; 5]>());
        assert!(!AnySlot::fits::<Wide>());
        let slot = AnySlot::default();
        slot.put([1u64, 2, 3, 4, 5]);
        assert_eq!(slot.take::<[u64; 5]>(), Some([1, 2, 3, 4, 5]));
        slot.put(Wide(3));
        assert_eq!(slot.take::<Wide>(), Some(Wide(3)));
    }

    #[test]
    fn another_type_is_refused_and_stays() {
        let slot = AnySlot::default();
        slot.put(5u32);
        assert_eq!(slot.take::<i32>(), None);
        assert_eq!(slot.take::<u64>(), None);
        assert!(slot.is_full());
        assert_eq!(slot.take::<u32>(), Some(5));
    }

    #[test]
    fn values_are_dropped_once_by_clear_put_and_drop_and_never_by_leak() {
        let value = Rc::new(());
        let big = Rc::new(());
        let slot = AnySlot::default();
        slot.put(Rc::clone(&value));
        slot.clear();
        assert_eq!(Rc::strong_count(&value), 1);
        slot.put(Rc::clone(&value));
        slot.put((Rc::clone(&big), [0u64; 8]));
        assert_eq!(Rc::strong_count(&value), 1);
        assert_eq!(Rc::strong_count(&big), 2);
        drop(slot);
        assert_eq!(Rc::strong_count(&big), 1);
        let slot = AnySlot::default();
        slot.put(Rc::clone(&value));
        slot.leak();
        drop(slot);
        assert_eq!(Rc::strong_count(&value), 2);
    }

    #[test]
    fn a_destructor_may_use_the_slot_it_leaves() {
        struct Refill<'a>(&'a AnySlot);
        impl Drop for Refill<'_> {
            fn drop(&mut self) {
                assert!(!self.0.is_full());
                self.0.put(9u8);
            }
        }
        // Leaked to get a `'static` slot the value can point to.
        let slot: &'static AnySlot = Box::leak(Box::default());
        slot.put(Refill(slot));
        slot.clear();
        assert_eq!(slot.take::<u8>(), Some(9));
    }
}
