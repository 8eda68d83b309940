//! Guard-paged, pooled coroutine stacks carved from large mmap slabs.
//!
//! ```text
//!  slab (one mmap, MAP_NORESERVE)
//!  ┌───────┬─────────────────────┬───────┬─────────────────────┬─────
//!  │ guard │ stack 0  ←grows   ░ │ guard │ stack 1  ←grows  ░░ │ ...
//!  └───────┴─────────────────────┴───────┴─────────────────────┴─────
//!  ^limit(0)                 base(0)^              base(1)^
//! ```
//!
//! Each slot is one guard page followed by the usable stack and one spare
//! page; the stack grows down from its top (`base`) towards its guard. The
//! top lies 0 to 15 cache lines (`░`) below the slot's end, a different
//! offset for neighbouring slots ([`TOP_COLOURS`]), so that the hot frames
//! of thousands of parked green threads do not all fall into the same cache
//! sets. Guards are installed with
//! `madvise(MADV_GUARD_INSTALL)` (Linux ≥ 6.13), which keeps the whole slab
//! one memory mapping (VMA), so a process can hold a million stacks under
//! the default `vm.max_map_count` of 65530. Where the kernel refuses it,
//! guards fall back to `mprotect`, which splits the mapping twice per stack;
//! the pool then computes how many stacks the map count allows, logs that
//! limit once, and refuses further stacks with an error instead of letting
//! the process run out of mappings. `MOSS_STACK_GUARD=mprotect` in the
//! environment forces the fallback.
//!
//! Untouched pages cost no memory: a parked green thread's stack is one
//! resident page plus what it has used. Freed stacks go to a LIFO free list
//! (hot stacks are reused first); past [`HOT_STACKS`] free stacks, released
//! ones hand their pages back to the kernel, [`DISCARD_BATCH`] at a time.
//!
//! System calls are batched: a new slab's guards are installed together,
//! and released stacks are discarded together (`process_madvise`, one call
//! and one TLB flush for many ranges; one `madvise` each on kernels that
//! do not take it).

pub(crate) mod overflow;

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;

use crate::sys::{self, GuardKind, Mapping};

/// The least usable size of a stack: a green thread's first frame and its
/// body (at most 512 bytes, see `context.rs`) and a little room to run.
pub(crate) const MIN_STACK_SIZE: usize = 4096;

/// Free stacks kept with their pages resident; beyond this, released stacks
/// are discarded (`MADV_DONTNEED`) before they go back to the free list.
const HOT_STACKS: usize = 256;

/// Released stacks past [`HOT_STACKS`] wait in a batch of this many before
/// their pages are discarded together.
const DISCARD_BATCH: usize = 64;

/// Slots in the largest slab; slabs grow from 16 slots by doubling.
const MAX_SLAB_SLOTS: usize = 4096;

/// Mappings left for the rest of the process when guards use `mprotect`.
const MAP_HEADROOM: usize = 1024;

/// Stack tops are staggered by this many bytes times the slot's index
/// modulo [`TOP_COLOURS`] (one cache line).
const TOP_STAGGER: usize = 64;

/// Distinct stack-top offsets. Page-aligned tops would put the hottest
/// bytes of every parked green thread (the frames just below the top,
/// touched when it resumes) at the same offsets in their pages, hence in
/// the same cache sets: thousands of them compete for the few ways of those
/// sets while the rest of the cache sits idle. Sixteen offsets (at most 960
/// bytes) spread them over sixteen times as many sets, and a shallow park
/// still fits in the top page (one resident page per parked green thread).
/// The echo benchmark at 10,000 connections: about 3 % less server CPU per
/// round trip (docs/net.md).
const TOP_COLOURS: usize = 16;

// The largest offset stays within the slot's spare page (pages are at
// least 4 KiB).
const _: () = assert!((TOP_COLOURS - 1) * TOP_STAGGER < 4096);

/// How many stacks may exist at once, shared by every size class of a hub.
#[derive(Debug)]
pub(crate) struct StackBudget {
    in_use: Cell<usize>,
    /// The configured cap (`HubBuilder::max_stacks`), if any.
    configured: Option<usize>,
    /// The cap imposed by `vm.max_map_count` once guards fall back to
    /// `mprotect`.
    map_limit: Cell<Option<usize>>,
    /// Set while the hub tears down: released stacks are not discarded.
    shutting_down: Cell<bool>,
}

impl StackBudget {
    /// A budget with an optional configured cap.
    pub(crate) fn new(configured: Option<usize>) -> Rc<StackBudget> {
        Rc::new(StackBudget {
            in_use: Cell::new(0),
            configured,
            map_limit: Cell::new(None),
            shutting_down: Cell::new(false),
        })
    }

    /// Stacks handed out and not yet returned.
    pub(crate) fn in_use(&self) -> usize {
        self.in_use.get()
    }

    /// Marks the hub as tearing down.
    pub(crate) fn shut_down(&self) {
        self.shutting_down.set(true);
    }

    fn check(&self) -> io::Result<()> {
        let in_use = self.in_use.get();
        if let Some(max) = self.configured {
            if in_use >= max {
                return Err(io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!(
                        "no stack for a new green thread: {in_use} in use, the hub's limit is {max} \
                         (raise it with Hub::builder().max_stacks)"
                    ),
                ));
            }
        }
        if let Some(max) = self.map_limit.get() {
            if in_use >= max {
                return Err(io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!(
                        "no stack for a new green thread: {in_use} in use, and with mprotect guard pages \
                         vm.max_map_count allows about {max} (needs Linux >= 6.13 for MADV_GUARD_INSTALL, \
                         or a larger vm.max_map_count)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A pool of stacks of one size.
#[derive(Debug, Clone)]
pub(crate) struct StackPool {
    inner: Rc<PoolInner>,
}

#[derive(Debug)]
struct PoolInner {
    /// Usable bytes of each stack, a multiple of the page size.
    stack_size: usize,
    /// `stack_size` plus the guard page and a page of room for the top's
    /// offset ([`TOP_COLOURS`]).
    slot_size: usize,
    slabs: RefCell<Vec<Slab>>,
    /// The page size.
    page: usize,
    /// Free slots whose guard is installed, by their stack's top
    /// ([`PooledStack::top`], which gives the slot's start without the
    /// division that places the top); LIFO.
    free: RefCell<Vec<usize>>,
    /// Released slots (by top) whose pages wait to be discarded with the
    /// next batch (reused as they are if the free list runs dry first).
    pending: RefCell<Vec<usize>>,
    guard: Cell<GuardKind>,
    budget: Rc<StackBudget>,
}

#[derive(Debug)]
struct Slab {
    mapping: Mapping,
    /// Slots handed out at least once.
    used: usize,
    slots: usize,
    /// Every slot's guard was installed when the slab was made (else each
    /// is installed when its slot is first handed out).
    guarded: bool,
}

impl StackPool {
    /// A pool of stacks with at least `stack_size` usable bytes each.
    pub(crate) fn new(stack_size: usize, budget: Rc<StackBudget>) -> StackPool {
        let page = sys::page_size();
        let stack_size = round_up(stack_size.max(MIN_STACK_SIZE), page);
        StackPool {
            inner: Rc::new(PoolInner {
                stack_size,
                slot_size: stack_size + 2 * page,
                page,
                slabs: RefCell::new(Vec::new()),
                free: RefCell::new(Vec::new()),
                pending: RefCell::new(Vec::new()),
                guard: Cell::new(preferred_guard()),
                budget,
            }),
        }
    }

    /// Usable bytes of each stack of this pool.
    pub(crate) fn stack_size(&self) -> usize {
        self.inner.stack_size
    }

    /// Gives back to the kernel the pages of every free stack but its top
    /// one (where a reused stack starts), after a burst: the free list
    /// keeps up to [`HOT_STACKS`] stacks resident for quick reuse, which
    /// a burst of thousands of green threads leaves fully touched.
    pub(crate) fn trim(&self) {
        let inner = &self.inner;
        inner.discard_pending();
        let page = inner.page;
        let keep = page.min(inner.stack_size);
        let ranges: Vec<(usize, usize)> = inner
            .free
            .borrow()
            .iter()
            .map(|&top| (inner.slot_start(top) + page, inner.slot_size - page - keep))
            .collect();
        // SAFETY: free slots of slabs this pool owns; above their guard
        // page and below their top page nothing lives (no coroutine runs
        // on a free stack), so their pages may be zeroed.
        unsafe { sys::discard_many(&ranges) };
    }

    /// Takes a stack from the pool, carving a new slab when none is free.
    pub(crate) fn take(&self) -> io::Result<PooledStack> {
        let inner = &self.inner;
        inner.budget.check()?;
        let reused = inner.free.borrow_mut().pop();
        let top = match reused.or_else(|| inner.pending.borrow_mut().pop()) {
            Some(top) => top,
            None => self.carve()?,
        };
        inner.budget.in_use.set(inner.budget.in_use.get() + 1);
        Ok(PooledStack {
            start: inner.slot_start(top),
            top,
            pool: Rc::clone(inner),
        })
    }

    /// Hands out a never-used slot, installing its guard page; returns
    /// its stack's top.
    fn carve(&self) -> io::Result<usize> {
        let inner = &self.inner;
        let mut slabs = inner.slabs.borrow_mut();
        if slabs.last().is_none_or(|slab| slab.used == slab.slots) {
            let slots = (16usize << slabs.len().min(8)).min(MAX_SLAB_SLOTS);
            let mapping = Mapping::reserve(slots * inner.slot_size)?;
            // All the slab's guards at once, when they cost no mapping.
            let guarded = inner.guard.get() == GuardKind::Madvise && {
                let page = inner.page;
                let guards: Vec<(usize, usize)> = (0..slots)
                    .map(|slot| (mapping.start() + slot * inner.slot_size, page))
                    .collect();
                // SAFETY: each range is the first page of a slot of the new
                // mapping, which this pool owns and nothing uses yet.
                unsafe { sys::install_guards(&guards) }.is_ok()
            };
            slabs.push(Slab {
                mapping,
                used: 0,
                slots,
                guarded,
            });
        }
        let slab = slabs
            .last_mut()
            .expect("a slab with a free slot was just ensured");
        let start = slab.mapping.start() + slab.used * inner.slot_size;
        let top = start + inner.slot_size - slab.used % TOP_COLOURS * TOP_STAGGER;
        if slab.guarded {
            slab.used += 1;
            return Ok(top);
        }
        // SAFETY: the guard page is the first page of a slot of a mapping
        // this pool owns, and the slot was never handed out, so no Rust
        // object lives there.
        let kind = unsafe { sys::install_guard(start, inner.page, inner.guard.get())? };
        slab.used += 1;
        if kind != inner.guard.get()
            || (kind == GuardKind::Mprotect && inner.budget.map_limit.get().is_none())
        {
            self.fall_back_to_mprotect();
        }
        Ok(top)
    }

    /// Records that guards now cost a mapping each and derives the limit.
    fn fall_back_to_mprotect(&self) {
        let inner = &self.inner;
        inner.guard.set(GuardKind::Mprotect);
        let max = sys::max_map_count();
        let available = max.saturating_sub(sys::map_count() + MAP_HEADROOM) / 2;
        let limit = inner.budget.in_use.get() + available;
        if inner.budget.map_limit.get().is_none() {
            let why = if preferred_guard() == GuardKind::Mprotect {
                "MOSS_STACK_GUARD=mprotect is set"
            } else {
                "MADV_GUARD_INSTALL is not available (Linux < 6.13?)"
            };
            log::warn!(
                "moss: {why}; guard pages use mprotect, which costs 2 memory mappings per stack: \
                 with vm.max_map_count = {max} this process can hold about {limit} green threads"
            );
        }
        inner.budget.map_limit.set(Some(limit));
    }
}

/// Where a stack lies: its guard page's range and its usable size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StackInfo {
    pub(crate) guard_lo: usize,
    pub(crate) guard_hi: usize,
    pub(crate) size: usize,
}

/// One stack taken from a [`StackPool`]; returns itself to the pool on drop.
///
/// # Invariant
/// `start..start + slot_size` is a slot of a slab owned by `pool`: its
/// first page is an installed guard and the rest is read-write memory used
/// by nothing but this stack. The `Rc` keeps the slab mapped while the
/// stack exists.
#[derive(Debug)]
pub(crate) struct PooledStack {
    start: usize,
    /// The stack's top, computed once.
    top: usize,
    pool: Rc<PoolInner>,
}

impl PooledStack {
    /// The guard page's address range.
    pub(crate) fn guard_range(&self) -> (usize, usize) {
        (self.start, self.start + self.pool.page)
    }

    /// Usable bytes of this stack.
    pub(crate) fn size(&self) -> usize {
        self.pool.stack_size
    }

    /// Where the stack lies, for the green thread's record.
    pub(crate) fn info(&self) -> StackInfo {
        let (guard_lo, guard_hi) = self.guard_range();
        StackInfo {
            guard_lo,
            guard_hi,
            size: self.size(),
        }
    }

    /// The stack's top, where a green thread's first frame goes: the
    /// memory from the guard page's end up to it is this stack's alone, at
    /// least [`MIN_STACK_SIZE`] bytes, and it is 16-byte aligned (a
    /// multiple of [`TOP_STAGGER`] below a page boundary).
    #[inline]
    pub(crate) fn top(&self) -> usize {
        self.top
    }
}

impl Drop for PooledStack {
    fn drop(&mut self) {
        let pool = &self.pool;
        pool.budget.in_use.set(pool.budget.in_use.get() - 1);
        let hot = pool.free.borrow().len() < HOT_STACKS;
        if hot || pool.budget.shutting_down.get() {
            pool.free.borrow_mut().push(self.top);
            return;
        }
        let full = {
            let mut pending = pool.pending.borrow_mut();
            pending.push(self.top);
            pending.len() >= DISCARD_BATCH
        };
        if full {
            pool.discard_pending();
        }
    }
}

impl PoolInner {
    /// The start of the slot whose stack's top is `top`: the top lies less
    /// than a page below the slot's end ([`TOP_COLOURS`]), which is
    /// page-aligned (a mask: page sizes are powers of two).
    #[inline]
    fn slot_start(&self, top: usize) -> usize {
        debug_assert!(self.page.is_power_of_two());
        ((top + self.page - 1) & !(self.page - 1)) - self.slot_size
    }

    /// Discards the pages of the released stacks waiting for it, together,
    /// and moves them to the free list.
    fn discard_pending(&self) {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        if pending.is_empty() {
            return;
        }
        let page = self.page;
        let ranges: Vec<(usize, usize)> = pending
            .iter()
            .map(|&top| (self.slot_start(top) + page, self.slot_size - page))
            .collect();
        // SAFETY: the usable parts (above the guards) of slots of slabs
        // this pool owns; their coroutines are finished and the slots are
        // in no list but `pending`, so nothing lives there.
        unsafe { sys::discard_many(&ranges) };
        self.free.borrow_mut().extend(pending);
    }
}

/// Room left below a parked green thread's recorded stack pointer for the
/// frames of the switch itself (`context::suspend` and the register save,
/// a few hundred bytes) and the red zone.
const SWITCH_FRAMES: usize = 1024;

/// Gives back the pages of a parked green thread's stack that lie wholly
/// below its park's stack pointer (`Green::park_sp`) minus
/// [`SWITCH_FRAMES`]: its dead part. Does nothing unless the green thread
/// is parked.
pub(crate) fn discard_dead_part(green: &crate::green::Green) {
    if green.state.get() != crate::green::State::Parked {
        return;
    }
    let page = sys::page_size();
    // The lowest usable address: just above the guard page.
    let usable_lo = green.info.guard_hi;
    let top = green.park_sp.get().saturating_sub(SWITCH_FRAMES) & !(page - 1);
    if top > usable_lo {
        // SAFETY: a parked green thread is suspended inside `park_inner`,
        // which recorded `park_sp` (the stack pointer in its own frame)
        // just before suspending, and stays suspended until it resumes on
        // this hub, which is not running it now. Its live frames are at or
        // above `park_sp`, but for the switch's below it, which take less
        // than `SWITCH_FRAMES`; so `usable_lo..top` (page aligned, inside
        // its stack above the guard) holds no live object.
        unsafe { sys::discard(usable_lo, top - usable_lo) };
    }
}

/// The guard mechanism to try first: `MADV_GUARD_INSTALL`, unless the
/// environment says `MOSS_STACK_GUARD=mprotect` (to test or compare the
/// fallback on a kernel that has both). Read once per process.
fn preferred_guard() -> GuardKind {
    static PREFERRED: std::sync::OnceLock<GuardKind> = std::sync::OnceLock::new();
    *PREFERRED.get_or_init(|| match std::env::var("MOSS_STACK_GUARD").as_deref() {
        Ok("mprotect") => GuardKind::Mprotect,
        _ => GuardKind::Madvise,
    })
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_are_reused_lifo_and_counted() {
        let budget = StackBudget::new(None);
        let pool = StackPool::new(64 * 1024, Rc::clone(&budget));
        let a = pool.take().unwrap();
        let a_start = a.start;
        let b = pool.take().unwrap();
        assert_ne!(a_start, b.start);
        assert_eq!(budget.in_use(), 2);
        drop(a);
        assert_eq!(budget.in_use(), 1);
        let c = pool.take().unwrap();
        assert_eq!(
            c.start, a_start,
            "the most recently freed stack is reused first"
        );
    }

    #[test]
    fn a_reused_stack_keeps_its_slot_and_top() {
        let pool = StackPool::new(64 * 1024, StackBudget::new(None));
        let page = sys::page_size();
        // Past the pending batch and the hot list, through every colour.
        let stacks: Vec<_> = (0..3 * TOP_COLOURS + DISCARD_BATCH + HOT_STACKS)
            .map(|_| pool.take().unwrap())
            .collect();
        let slots: Vec<(usize, usize)> = stacks.iter().map(|s| (s.start, s.top)).collect();
        let tops: std::collections::HashSet<usize> = slots
            .iter()
            .map(|&(start, top)| start + pool.inner.slot_size - top)
            .collect();
        assert_eq!(tops.len(), TOP_COLOURS, "neighbours' tops are staggered");
        for &(start, top) in &slots {
            assert_eq!(start % page, 0);
            assert!(top > start + page + pool.stack_size() && top <= start + pool.inner.slot_size);
            assert_eq!(pool.inner.slot_start(top), start);
        }
        drop(stacks);
        let again: std::collections::HashSet<(usize, usize)> = slots
            .iter()
            .map(|_| {
                let stack = pool.take().unwrap();
                let slot = (stack.start, stack.top);
                std::mem::forget(stack);
                slot
            })
            .collect();
        let before: std::collections::HashSet<(usize, usize)> = slots.into_iter().collect();
        assert_eq!(again, before, "each slot comes back with its own top");
    }

    #[test]
    fn configured_cap_is_an_error_not_a_crash() {
        let budget = StackBudget::new(Some(2));
        let pool = StackPool::new(16 * 1024, budget);
        let _a = pool.take().unwrap();
        let _b = pool.take().unwrap();
        let err = pool.take().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::OutOfMemory);
        assert!(err.to_string().contains("max_stacks"), "{err}");
    }

    #[test]
    fn sizes_round_up_to_pages() {
        let pool = StackPool::new(10_000, StackBudget::new(None));
        assert_eq!(pool.stack_size() % sys::page_size(), 0);
        assert!(pool.stack_size() >= 10_000);
        let stack = pool.take().unwrap();
        let usable = stack.top() - stack.guard_range().1;
        assert!(usable >= pool.stack_size(), "{usable}");
        assert_eq!(stack.top() % 16, 0);
    }
}
