//! What `/proc` says about a server: its RSS (`status`), the RSS of each
//! kind of memory region (`smaps`), the resident pages of each green-thread
//! stack slot (`pagemap`), its open descriptors, and the kernel's own
//! memory (`slabinfo`, `meminfo`, `sockstat`), which no RSS counts.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Bytes per page.
pub const PAGE: u64 = 4096;

/// The memory lines of `/proc/PID/status`, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Status {
    pub rss: u64,
    pub page_tables: u64,
    pub threads: u64,
}

pub fn status(pid: u32) -> io::Result<Status> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    Ok(Status {
        rss: field("VmRSS:"),
        page_tables: field("VmPTE:"),
        threads: field("Threads:"),
    })
}

/// Open descriptors of the process.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}

/// What a mapping is, told from its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Region {
    /// glibc's main arena (`[heap]`, grown with `brk`).
    Heap,
    /// A slab of green-thread stacks: anonymous, `MAP_NORESERVE`, a whole
    /// number of stack slots (slabs that the kernel merged stay so).
    GreenStacks,
    /// A slab of root-stack slots (`DEFAULT_ROOT_STACK_SIZE`).
    RootStack,
    /// An OS thread's stack: read-write, right above a small `---p` guard.
    ThreadStacks,
    /// Every other anonymous mapping: glibc's `mmap`ed chunks and the
    /// arenas of other threads, runtime tables, the main thread's stack.
    OtherAnon,
    /// The executable and libraries.
    File,
}

impl Region {
    pub fn name(self) -> &'static str {
        match self {
            Region::Heap => "[heap] (main malloc arena)",
            Region::GreenStacks => "green-thread stack slabs",
            Region::RootStack => "root green-thread stack",
            Region::ThreadStacks => "OS thread stacks",
            Region::OtherAnon => "other anonymous (mmap chunks, arenas)",
            Region::File => "file-backed (code)",
        }
    }
}

/// One mapping of `smaps`.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub region: Region,
    /// Resident KiB.
    pub rss: u64,
}

/// The sizes of green-thread stack slots, guard page included.
#[derive(Debug, Clone, Copy)]
pub struct Slots {
    pub green: u64,
    pub root: u64,
}

impl Slots {
    pub fn of_moss() -> Slots {
        Slots {
            green: moss::DEFAULT_STACK_SIZE as u64 + PAGE,
            root: moss::DEFAULT_ROOT_STACK_SIZE as u64 + PAGE,
        }
    }

    /// How much of a `MAP_NORESERVE` mapping of `len` bytes is root-stack
    /// slabs (16 slots each, the pools' first slab size) if the rest is
    /// whole green-thread slots; `None` if it is not made of stack slabs.
    pub fn root_part(self, len: u64) -> Option<u64> {
        (0..4)
            .map(|slabs| slabs * 16 * self.root)
            .find(|&root| root <= len && (len - root) % self.green == 0)
    }
}

struct RawMapping {
    start: u64,
    end: u64,
    perms: String,
    path: String,
    rss: u64,
    noreserve: bool,
}

/// The process's mappings, each classified.
pub fn mappings(pid: u32, slots: Slots) -> io::Result<Vec<Mapping>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps"))?;
    let mut raw: Vec<RawMapping> = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if let Some(value) = line.strip_prefix("Rss:") {
            if let Some(last) = raw.last_mut() {
                last.rss = value
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .unwrap_or(0);
            }
        } else if let Some(flags) = line.strip_prefix("VmFlags:") {
            if let Some(last) = raw.last_mut() {
                last.noreserve = flags.split_whitespace().any(|flag| flag == "nr");
            }
        } else if !first.ends_with(':') {
            if let Some((start, end)) = first.split_once('-') {
                let (Ok(start), Ok(end)) =
                    (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
                else {
                    continue;
                };
                let perms = fields.next().unwrap_or_default().to_owned();
                let path = fields.nth(3).unwrap_or_default().to_owned();
                raw.push(RawMapping {
                    start,
                    end,
                    perms,
                    path,
                    rss: 0,
                    noreserve: false,
                });
            }
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, m) in raw.iter().enumerate() {
        let len = m.end - m.start;
        let anon = m.path.is_empty();
        let guard_below = i > 0
            && raw[i - 1].end == m.start
            && raw[i - 1].perms == "---p"
            && raw[i - 1].path.is_empty()
            && raw[i - 1].end - raw[i - 1].start <= 64 * 1024;
        let mapping = |region, start, end, rss| Mapping {
            start,
            end,
            region,
            rss,
        };
        if anon && m.noreserve && m.perms == "rw-p" {
            if let Some(root_len) = slots.root_part(len) {
                // The root slab, made first, is the highest; newer slabs
                // are mapped below it and the kernel may merge them.
                let split = m.end - root_len;
                if root_len == 0 {
                    out.push(mapping(Region::GreenStacks, m.start, m.end, m.rss));
                } else if split == m.start {
                    out.push(mapping(Region::RootStack, m.start, m.end, m.rss));
                } else {
                    let root = resident_kib(pid, split, m.end)?;
                    out.push(mapping(Region::GreenStacks, m.start, split, m.rss - root));
                    out.push(mapping(Region::RootStack, split, m.end, root));
                }
                continue;
            }
        }
        let region = if m.path == "[heap]" {
            Region::Heap
        } else if anon && m.perms == "rw-p" && guard_below && len >= 64 * 1024 {
            Region::ThreadStacks
        } else if anon || m.path.starts_with('[') {
            Region::OtherAnon
        } else {
            Region::File
        };
        out.push(mapping(region, m.start, m.end, m.rss));
    }
    Ok(out)
}

/// Resident KiB of `start..end` in the address space of `pid`.
fn resident_kib(pid: u32, start: u64, end: u64) -> io::Result<u64> {
    let present = present_pages(&File::open(format!("/proc/{pid}/pagemap"))?, start, end)?;
    Ok(present.iter().filter(|&&p| p).count() as u64 * PAGE / 1024)
}

/// Whether each page of `start..end` is resident.
fn present_pages(pagemap: &File, start: u64, end: u64) -> io::Result<Vec<bool>> {
    let mut entries = vec![0u8; ((end - start) / PAGE) as usize * 8];
    pagemap.read_exact_at(&mut entries, start / PAGE * 8)?;
    Ok(entries
        .chunks_exact(8)
        .map(|e| u64::from_ne_bytes(e.try_into().expect("8 bytes")) >> 63 == 1)
        .collect())
}

/// Resident KiB by region.
pub fn rss_by_region(mappings: &[Mapping]) -> BTreeMap<Region, u64> {
    let mut by = BTreeMap::new();
    for m in mappings {
        *by.entry(m.region).or_default() += m.rss;
    }
    by
}

/// How many green-thread stack slots have how many resident pages
/// (slots with none, never used or discarded, are left out), and how deep
/// the lowest resident page of each slot lies below the slot's top.
#[derive(Debug, Default, Clone)]
pub struct SlotPages {
    /// Resident pages -> slots.
    pub resident: BTreeMap<u64, u64>,
    /// Slots whose resident pages are not one run from the top down.
    pub holes: u64,
    /// For each slot with resident pages, how far below the slot's top its
    /// lowest non-zero byte lies: how deep its green thread's stack has
    /// reached (at least; a frame may have stored only zeros below it).
    pub depths: Vec<u64>,
}

impl SlotPages {
    /// The smallest, the median and the largest of [`SlotPages::depths`].
    pub fn depth_range(&self) -> Option<[u64; 3]> {
        let mut depths = self.depths.clone();
        depths.sort_unstable();
        Some([*depths.first()?, depths[depths.len() / 2], *depths.last()?])
    }
}

/// Reads the resident pages of every green-thread stack slot.
pub fn slot_pages(pid: u32, mappings: &[Mapping], slot: u64) -> io::Result<SlotPages> {
    let pagemap = File::open(format!("/proc/{pid}/pagemap"))?;
    let memory = File::open(format!("/proc/{pid}/mem"))?;
    let mut page = vec![0u8; PAGE as usize];
    let mut pages = SlotPages::default();
    for m in mappings.iter().filter(|m| m.region == Region::GreenStacks) {
        let present = present_pages(&pagemap, m.start, m.end)?;
        let slots = present.chunks_exact((slot / PAGE) as usize);
        for (index, slot_pages) in slots.enumerate() {
            let resident = slot_pages.iter().filter(|&&p| p).count() as u64;
            if resident == 0 {
                continue;
            }
            *pages.resident.entry(resident).or_default() += 1;
            let lowest = slot_pages.iter().position(|&p| p).unwrap_or(0) as u64;
            if slot_pages.len() as u64 - lowest != resident {
                pages.holes += 1;
            }
            let top = m.start + (index as u64 + 1) * slot;
            let lowest_page = m.start + index as u64 * slot + lowest * PAGE;
            memory.read_exact_at(&mut page, lowest_page)?;
            if let Some(first) = page.iter().position(|&b| b != 0) {
                pages.depths.push(top - lowest_page - first as u64);
            }
        }
    }
    Ok(pages)
}

/// Resident KiB of each OS thread stack -> how many stacks.
pub fn thread_stack_rss(mappings: &[Mapping]) -> BTreeMap<u64, u64> {
    let mut by = BTreeMap::new();
    for m in mappings.iter().filter(|m| m.region == Region::ThreadStacks) {
        *by.entry(m.rss).or_default() += 1;
    }
    by
}

/// Kernel memory no process's RSS counts, machine-wide.
#[derive(Debug, Default, Clone)]
pub struct Kernel {
    /// Slab cache -> bytes of its active objects (`/proc/slabinfo`, root only).
    pub slab: BTreeMap<String, i64>,
    /// `/proc/meminfo` KernelStack, PageTables, Slab (KiB).
    pub kernel_stack: i64,
    pub page_tables: i64,
    pub slab_total: i64,
    /// Pages charged to TCP socket buffers (`/proc/net/sockstat`, "mem").
    pub tcp_buffer_pages: i64,
}

pub fn kernel() -> Kernel {
    let mut kernel = Kernel::default();
    if let Ok(text) = std::fs::read_to_string("/proc/slabinfo") {
        for line in text.lines().skip(2) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if let [name, active, _, size, ..] = fields[..] {
                let (Ok(active), Ok(size)) = (active.parse::<i64>(), size.parse::<i64>()) else {
                    continue;
                };
                kernel.slab.insert(name.to_owned(), active * size);
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string("/proc/meminfo") {
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        kernel.kernel_stack = field("KernelStack:");
        kernel.page_tables = field("PageTables:");
        kernel.slab_total = field("Slab:");
    }
    if let Ok(text) = std::fs::read_to_string("/proc/net/sockstat") {
        kernel.tcp_buffer_pages = text
            .lines()
            .find(|line| line.starts_with("TCP:"))
            .and_then(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let at = fields.iter().position(|&f| f == "mem")?;
                fields.get(at + 1)?.parse().ok()
            })
            .unwrap_or(0);
    }
    kernel
}

impl Kernel {
    /// The slab caches that grew the most from `before` to `self`, bytes.
    pub fn slab_growth(&self, before: &Kernel, top: usize) -> Vec<(String, i64)> {
        let mut growth: Vec<(String, i64)> = self
            .slab
            .iter()
            .map(|(name, bytes)| {
                (
                    name.clone(),
                    bytes - before.slab.get(name).copied().unwrap_or(0),
                )
            })
            .filter(|(_, grew)| *grew > 0)
            .collect();
        growth.sort_by_key(|(_, grew)| -grew);
        growth.truncate(top);
        growth
    }
}
