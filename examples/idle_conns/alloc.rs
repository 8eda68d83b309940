//! A counting global allocator: live allocations by requested size, and
//! the address of every live allocation of at least [`LARGE`] bytes, so
//! that the pages they keep resident can be read from `/proc/self/pagemap`.
//!
//! ```text
//!  BY_SIZE[size]   live allocations of `size` bytes (size < EXACT)
//!  TABLE           open addressing by address: addr -> size, zeroed?
//!                  (0 = empty, TOMBSTONE = freed; probes skip tombstones)
//! ```
//!
//! It adds nothing to an allocation, only counters beside it, so the
//! process's RSS is what it would be with the system allocator alone,
//! except for the tables, which [`prefault`] makes resident at start-up so
//! that they count in the baseline rather than per connection.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering::Relaxed};

/// Sizes below this are counted one by one; larger ones go to [`BIG`].
const EXACT: usize = 64 * 1024;

/// Allocations of at least this many bytes are tracked by address.
pub const LARGE: usize = 4096;

/// Slots of the address table (a power of two).
const SLOTS: usize = 1 << 16;

/// An address-table key of a freed allocation.
const TOMBSTONE: usize = 1;

static BY_SIZE: [AtomicI64; EXACT] = [const { AtomicI64::new(0) }; EXACT];
/// Live allocations of `EXACT` bytes or more: count and bytes.
static BIG: [AtomicI64; 2] = [const { AtomicI64::new(0) }; 2];
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static LIVE_ALLOCS: AtomicI64 = AtomicI64::new(0);
/// Large allocations the full table could not record.
static UNTRACKED: AtomicI64 = AtomicI64::new(0);
static KEYS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
/// `size << 1 | zeroed` of the allocation whose address is in `KEYS`.
static VALUES: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];

/// The system allocator, counted.
pub struct Counting;

fn slot_of(addr: usize) -> usize {
    (addr >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (usize::BITS - SLOTS.trailing_zeros())
}

// Out of line, here and in `forget`: inlined into every allocation site
// the bookkeeping would enlarge the frames of the code being measured.
#[inline(never)]
fn record(ptr: *mut u8, size: usize, zeroed: bool) {
    LIVE_BYTES.fetch_add(size as i64, Relaxed);
    LIVE_ALLOCS.fetch_add(1, Relaxed);
    match BY_SIZE.get(size) {
        Some(count) => count.fetch_add(1, Relaxed),
        None => {
            BIG[1].fetch_add(size as i64, Relaxed);
            BIG[0].fetch_add(1, Relaxed)
        }
    };
    if size < LARGE {
        return;
    }
    let addr = ptr as usize;
    let mut slot = slot_of(addr);
    for _ in 0..SLOTS {
        let key = KEYS[slot].load(Relaxed);
        if (key == 0 || key == TOMBSTONE)
            && KEYS[slot]
                .compare_exchange(key, addr, Relaxed, Relaxed)
                .is_ok()
        {
            VALUES[slot].store(size << 1 | usize::from(zeroed), Relaxed);
            return;
        }
        slot = (slot + 1) & (SLOTS - 1);
    }
    UNTRACKED.fetch_add(1, Relaxed);
}

#[inline(never)]
fn forget(ptr: *mut u8, size: usize) {
    LIVE_BYTES.fetch_sub(size as i64, Relaxed);
    LIVE_ALLOCS.fetch_sub(1, Relaxed);
    match BY_SIZE.get(size) {
        Some(count) => count.fetch_sub(1, Relaxed),
        None => {
            BIG[1].fetch_sub(size as i64, Relaxed);
            BIG[0].fetch_sub(1, Relaxed)
        }
    };
    if size < LARGE {
        return;
    }
    let addr = ptr as usize;
    let mut slot = slot_of(addr);
    for _ in 0..SLOTS {
        match KEYS[slot].load(Relaxed) {
            0 => break,
            key if key == addr => {
                KEYS[slot].store(TOMBSTONE, Relaxed);
                return;
            }
            _ => slot = (slot + 1) & (SLOTS - 1),
        }
    }
    UNTRACKED.fetch_sub(1, Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments
// and returns its result unchanged; the bookkeeping touches only atomics
// and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc`, passed on.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            record(ptr, layout.size(), false);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc_zeroed`, passed on.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            record(ptr, layout.size(), true);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        forget(ptr, layout.size());
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc`, passed on.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            forget(ptr, layout.size());
            record(new, new_size, false);
        }
        new
    }
}

/// Makes the counting tables resident, so that their pages belong to a
/// server's baseline and not to the connections that happen to touch them.
/// Call it before the process starts other threads: it stores back what
/// it read.
pub fn prefault() {
    // A store, not an idempotent read-modify-write, which the compiler may
    // turn into a load (a load of an untouched page maps the zero page).
    for table in [&KEYS, &VALUES] {
        for slot in table.iter().step_by(512) {
            slot.store(slot.load(Relaxed), Relaxed);
        }
    }
    for count in BY_SIZE.iter().step_by(512) {
        count.store(count.load(Relaxed), Relaxed);
    }
}

/// The live allocations as text, one fact per line:
///
/// ```text
/// live_bytes BYTES
/// live_allocs COUNT
/// size BYTES COUNT                         (sizes below 64 KiB, COUNT > 0)
/// big COUNT BYTES                          (64 KiB and above)
/// large BYTES ZEROED COUNT RESIDENT_BYTES  (tracked by address)
/// untracked COUNT
/// ```
///
/// `RESIDENT_BYTES` counts the bytes of these allocations that lie on
/// resident pages: a page shared by two allocations is split between them
/// by the bytes each has on it.
pub fn render() -> String {
    // Read everything first: rendering allocates.
    let sizes: Vec<(usize, i64)> = BY_SIZE
        .iter()
        .enumerate()
        .map(|(size, count)| (size, count.load(Relaxed)))
        .filter(|&(_, count)| count != 0)
        .collect();
    let mut large: Vec<(usize, usize)> = Vec::new();
    for (key, value) in KEYS.iter().zip(&VALUES) {
        let addr = key.load(Relaxed);
        if addr > TOMBSTONE {
            large.push((addr, value.load(Relaxed)));
        }
    }
    let pagemap = File::open("/proc/self/pagemap").ok();
    let mut groups: BTreeMap<(usize, bool), (u64, u64)> = Default::default();
    for (addr, value) in large {
        let (size, zeroed) = (value >> 1, value & 1 == 1);
        let resident = pagemap
            .as_ref()
            .map_or(0, |pagemap| resident_bytes(pagemap, addr, size));
        let group = groups.entry((size, zeroed)).or_default();
        group.0 += 1;
        group.1 += resident;
    }
    let mut out = String::new();
    let _ = writeln!(out, "live_bytes {}", LIVE_BYTES.load(Relaxed));
    let _ = writeln!(out, "live_allocs {}", LIVE_ALLOCS.load(Relaxed));
    for (size, count) in sizes {
        let _ = writeln!(out, "size {size} {count}");
    }
    let _ = writeln!(out, "big {} {}", BIG[0].load(Relaxed), BIG[1].load(Relaxed));
    for ((size, zeroed), (count, resident)) in groups {
        let _ = writeln!(out, "large {size} {} {count} {resident}", u8::from(zeroed));
    }
    let _ = writeln!(out, "untracked {}", UNTRACKED.load(Relaxed));
    out
}

/// Bytes of `addr..addr + size` on pages that are resident.
fn resident_bytes(pagemap: &File, addr: usize, size: usize) -> u64 {
    const PAGE: usize = 4096;
    let (first, last) = (addr / PAGE, (addr + size - 1) / PAGE);
    let mut entries = vec![0u8; (last - first + 1) * 8];
    if pagemap
        .read_exact_at(&mut entries, (first * 8) as u64)
        .is_err()
    {
        return 0;
    }
    let mut resident = 0;
    for (i, entry) in entries.chunks_exact(8).enumerate() {
        let entry = u64::from_ne_bytes(entry.try_into().expect("8 bytes"));
        if entry >> 63 == 1 {
            let page = (first + i) * PAGE;
            let (lo, hi) = (page.max(addr), (page + PAGE).min(addr + size));
            resident += (hi - lo) as u64;
        }
    }
    resident
}

/// Runs glibc's `malloc_trim(0)`, which gives every free page of every
/// arena back to the kernel; `true` if it released some memory.
pub fn malloc_trim() -> bool {
    // SAFETY: `malloc_trim` has no preconditions; it only releases memory
    // that malloc holds free.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// A report of [`render`], read back.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub live_bytes: i64,
    pub live_allocs: i64,
    /// Size -> live allocations (sizes below 64 KiB).
    pub sizes: BTreeMap<usize, i64>,
    /// (size, zeroed) -> (live allocations, bytes on resident pages).
    pub large: BTreeMap<(usize, bool), (i64, i64)>,
}

impl Stats {
    pub fn parse(text: &str) -> Stats {
        let mut stats = Stats::default();
        for line in text.lines() {
            let fields: Vec<i64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|field| field.parse().ok())
                .collect();
            match (line.split_whitespace().next(), &fields[..]) {
                (Some("live_bytes"), &[bytes]) => stats.live_bytes = bytes,
                (Some("live_allocs"), &[count]) => stats.live_allocs = count,
                (Some("size"), &[size, count]) => {
                    stats.sizes.insert(size as usize, count);
                }
                (Some("large"), &[size, zeroed, count, resident]) => {
                    stats
                        .large
                        .insert((size as usize, zeroed == 1), (count, resident));
                }
                _ => {}
            }
        }
        stats
    }
}
