//! The printed report: the summary table, then where the memory is.

use std::collections::BTreeMap;

use crate::alloc::Stats;
use crate::measure::{Measured, Peer, Settings};
use crate::procfs::{Region, SlotPages, PAGE};

fn mib(kib: i64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// KiB per connection.
fn per(kib: i64, conns: usize) -> f64 {
    kib as f64 / conns as f64
}

pub fn print(settings: &Settings, results: &[(Peer, Result<Measured, String>)]) {
    let n = settings.conns;
    let pinned = results
        .iter()
        .any(|(_, r)| r.as_ref().is_ok_and(|m| m.pinned));
    println!(
        "idle keep-alive connections: {n} per server (loopback, one GET / each, then idle), \
         server {}, settle {} ms\n",
        match pinned {
            true => format!("pinned to CPU {} with taskset", settings.server_cpu),
            false => "not pinned".to_owned(),
        },
        settings.settle.as_millis()
    );
    println!(
        "{:<20} {:>11} {:>11} {:>9} {:>12} {:>11} {:>12} {:>8}",
        "peer", "RSS before", "RSS idle", "KiB/conn", "after close", "kept", "after trim", "open"
    );
    let measured: Vec<(Peer, &Measured)> = results
        .iter()
        .filter_map(|(peer, result)| Some((*peer, result.as_ref().ok()?)))
        .collect();
    for (peer, m) in &measured {
        println!(
            "{:<20} {:>11} {:>11} {:>9.2} {:>12} {:>11} {:>12} {:>7.2}s",
            peer.name(),
            mib(m.before.rss as i64),
            mib(m.idle.rss as i64),
            per(m.idle.rss as i64 - m.before.rss as i64, n),
            mib(m.closed.rss as i64),
            mib(m.closed.rss as i64 - m.before.rss as i64),
            m.trimmed.map_or("-".to_owned(), |t| mib(t.rss as i64)),
            m.open_time.as_secs_f64()
        );
    }
    for (peer, result) in results {
        if let Err(error) = result {
            println!("{:<20} failed: {error}", peer.name());
        }
    }
    for (peer, m) in &measured {
        let open = m.fds_idle as i64 - m.fds_before as i64;
        if open < n as i64 || m.server_messages > 0 {
            println!(
                "note: {}: {open} descriptors more while idle (expected {n}); {} lines on its stderr",
                peer.name(),
                m.server_messages
            );
        }
    }
    print_regions(n, &measured);
    print_kernel(n, &measured);
    print_stacks(n, settings.silent, &measured);
    print_heap(n, &measured);
    print_kept(&measured);
}

/// KiB per connection by kind of mapping.
fn print_regions(n: usize, measured: &[(Peer, &Measured)]) {
    println!("\nKiB per idle connection, by mapping (smaps Rss, idle - before):");
    print!("{:<40}", "");
    for (peer, _) in measured {
        print!(" {:>10}", truncate(peer.name(), 10));
    }
    println!();
    let regions = [
        Region::Heap,
        Region::GreenStacks,
        Region::RootStack,
        Region::ThreadStacks,
        Region::OtherAnon,
        Region::File,
    ];
    for region in regions {
        print!("{:<40}", region.name());
        for (_, m) in measured {
            let grew = delta(&m.regions_idle, &m.regions_before, region);
            print!(" {:>10.2}", per(grew, n));
        }
        println!();
    }
    print!("{:<40}", "not in RSS: page tables (VmPTE)");
    for (_, m) in measured {
        let grew = m.idle.page_tables as i64 - m.before.page_tables as i64;
        print!(" {:>10.2}", per(grew, n));
    }
    println!();
    print!("{:<40}", "server threads while idle");
    for (_, m) in measured {
        print!(" {:>10}", m.idle.threads);
    }
    println!();
}

fn delta(after: &BTreeMap<Region, u64>, before: &BTreeMap<Region, u64>, region: Region) -> i64 {
    after.get(&region).copied().unwrap_or(0) as i64
        - before.get(&region).copied().unwrap_or(0) as i64
}

fn truncate(name: &str, width: usize) -> &str {
    &name[..name.len().min(width)]
}

/// Kernel memory, machine-wide, per connection (both ends).
fn print_kernel(n: usize, measured: &[(Peer, &Measured)]) {
    println!(
        "\nKernel memory no RSS counts, machine-wide, per connection (both ends of it: \
         the client's socket too), idle - before:"
    );
    for (peer, m) in measured {
        let (k0, k1) = (&m.kernel_before, &m.kernel_idle);
        let top: Vec<String> = k1
            .slab_growth(k0, 6)
            .iter()
            .map(|(name, bytes)| format!("{name} {:.2}", *bytes as f64 / 1024.0 / n as f64))
            .collect();
        println!(
            "  {:<20} slab {:>6.2} KiB ({}), TCP buffers {:>5.2} KiB, kernel stacks {:>6.2} KiB",
            peer.name(),
            per(k1.slab_total - k0.slab_total, n),
            top.join(", "),
            (k1.tcp_buffer_pages - k0.tcp_buffer_pages) as f64 * PAGE as f64 / 1024.0 / n as f64,
            per(k1.kernel_stack - k0.kernel_stack, n),
        );
    }
}

/// The slots' resident pages, and how deep their stacks reached (`depth`:
/// not after close, when the pool has discarded all but the top page).
fn histogram(slots: &SlotPages, depth: bool) -> String {
    let used: u64 = slots.resident.values().sum();
    let pages: u64 = slots.resident.iter().map(|(p, s)| p * s).sum();
    let parts: Vec<String> = slots
        .resident
        .iter()
        .map(|(pages, count)| format!("{count}x{pages}"))
        .collect();
    let depth = match slots.depth_range().filter(|_| depth) {
        Some([min, median, max]) => {
            format!("; depth reached (B below the top): min {min}, median {median}, max {max}")
        }
        None => String::new(),
    };
    format!(
        "{used} slots hold {pages} pages ({}); slots x resident pages: {}{depth}",
        mib((pages * PAGE / 1024) as i64),
        parts.join(" ")
    )
}

/// Resident pages of green-thread and OS-thread stacks.
fn print_stacks(n: usize, silent: usize, measured: &[(Peer, &Measured)]) {
    println!("\nStacks:");
    for (peer, m) in measured {
        if let Some(slots) = &m.slots_idle {
            println!("  {:<20} idle:  {}", peer.name(), histogram(slots, true));
            if slots.holes > 0 {
                println!(
                    "  {:<20}        {} slots not resident from the top down",
                    "", slots.holes
                );
            }
        }
        if let Some(slots) = &m.slots_silent {
            println!(
                "  {:<20} and {silent} connections that sent nothing: {}",
                "",
                histogram(slots, true)
            );
        }
        if let Some(slots) = &m.slots_closed {
            println!("  {:<20} after close: {}", "", histogram(slots, false));
        }
        if m.thread_stacks.values().sum::<u64>() * 2 > n as u64 {
            let parts: Vec<String> = m
                .thread_stacks
                .iter()
                .map(|(kib, count)| format!("{count}x{kib} KiB"))
                .collect();
            let total: u64 = m.thread_stacks.iter().map(|(k, c)| k * c).sum();
            println!(
                "  {:<20} OS thread stacks resident: {} ({:.2} KiB per connection): {}",
                peer.name(),
                mib(total as i64),
                per(total as i64, n),
                parts.join(" ")
            );
        }
    }
}

/// Live allocations per connection, by size (peers in this binary).
fn print_heap(n: usize, measured: &[(Peer, &Measured)]) {
    for (peer, m) in measured {
        let (Some(before), Some(idle)) = (&m.stats_before, &m.stats_idle) else {
            continue;
        };
        println!(
            "\nHeap of {} per idle connection (counting allocator, idle - before): \
             {:.0} bytes in {:.2} allocations",
            peer.name(),
            (idle.live_bytes - before.live_bytes) as f64 / n as f64,
            (idle.live_allocs - before.live_allocs) as f64 / n as f64
        );
        print_sizes(n, before, idle);
        if let Some(closed) = &m.stats_closed {
            println!(
                "  after close: {} more live than before: {}",
                mib((closed.live_bytes - before.live_bytes) / 1024),
                still_live(before, closed).join(", ")
            );
        }
    }
}

fn print_sizes(n: usize, before: &Stats, idle: &Stats) {
    let mut rows: Vec<(i64, String)> = Vec::new();
    let mut other = (0i64, 0i64);
    for (&size, &count) in &idle.sizes {
        let grew = count - before.sizes.get(&size).copied().unwrap_or(0);
        if size >= crate::alloc::LARGE {
            continue;
        }
        if grew * 2 >= n as i64 {
            let bytes = grew * size as i64;
            rows.push((
                bytes,
                format!(
                    "  {size:>7} B  x {:>5.2} per conn = {:>7.0} B",
                    grew as f64 / n as f64,
                    bytes as f64 / n as f64
                ),
            ));
        } else {
            other.0 += grew;
            other.1 += grew * size as i64;
        }
    }
    for (&(size, zeroed), &(count, resident)) in &idle.large {
        let (c0, r0) = before.large.get(&(size, zeroed)).copied().unwrap_or((0, 0));
        let (grew, resident) = (count - c0, resident - r0);
        if grew * 2 < n as i64 {
            other.0 += grew;
            other.1 += grew * size as i64;
            continue;
        }
        let bytes = grew * size as i64;
        rows.push((
            bytes,
            format!(
                "  {size:>7} B{} x {:>5.2} per conn = {:>7.0} B, of which on resident pages {:>6.0} B",
                if zeroed { " (zeroed)" } else { "" },
                grew as f64 / n as f64,
                bytes as f64 / n as f64,
                resident as f64 / n as f64
            ),
        ));
    }
    rows.sort_by_key(|(bytes, _)| -bytes);
    for (_, row) in rows {
        println!("{row}");
    }
    println!(
        "  other sizes: {:+.2} allocations, {:+.0} B per conn (shared tables, amortized growth)",
        other.0 as f64 / n as f64,
        other.1 as f64 / n as f64
    );
}

/// The sizes of which at least 16 more allocations are live in `after`
/// than in `before`, largest total first: `COUNT x SIZE B`.
fn still_live(before: &Stats, after: &Stats) -> Vec<String> {
    let mut grew: BTreeMap<usize, i64> = BTreeMap::new();
    for (&size, &count) in &after.sizes {
        if size < crate::alloc::LARGE {
            grew.insert(size, count - before.sizes.get(&size).copied().unwrap_or(0));
        }
    }
    for (&(size, zeroed), &(count, _)) in &after.large {
        let was = before
            .large
            .get(&(size, zeroed))
            .map_or(0, |&(count, _)| count);
        *grew.entry(size).or_default() += count - was;
    }
    let mut rows: Vec<(usize, i64)> = grew.into_iter().filter(|&(_, c)| c >= 16).collect();
    rows.sort_by_key(|&(size, count)| -(size as i64 * count));
    rows.into_iter()
        .map(|(size, count)| format!("{count} x {size} B"))
        .collect()
}

/// What stays resident after every connection closed.
fn print_kept(measured: &[(Peer, &Measured)]) {
    println!("\nKept after close (after close - before), by mapping:");
    for (peer, m) in measured {
        let parts: Vec<String> = [
            Region::Heap,
            Region::GreenStacks,
            Region::ThreadStacks,
            Region::OtherAnon,
        ]
        .into_iter()
        .map(|region| {
            let kept = delta(&m.regions_closed, &m.regions_before, region);
            format!("{} {}", region.name(), mib(kept))
        })
        .collect();
        println!("  {:<20} {}", peer.name(), parts.join(", "));
        if let Some(trimmed) = m.trimmed {
            println!(
                "  {:<20} after malloc_trim(0): RSS {} ({} above before)",
                "",
                mib(trimmed.rss as i64),
                mib(trimmed.rss as i64 - m.before.rss as i64)
            );
        }
    }
}
