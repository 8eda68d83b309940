//! Memory per parked unit of concurrency: RSS and memory mappings (VMAs)
//! for N parked moss green threads, `may` coroutines and OS threads, each
//! measured in a fresh child process.
//!
//! ```sh
//! cargo bench --bench parked                  # the full table (1,000,000 green threads)
//! cargo bench --bench parked -- moss 200000   # one case
//! ```
//!
//! may gets 30,000 coroutines: its stacks use `mprotect` guards (two
//! mappings each), so past ~32,000 it exhausts `vm.max_map_count` and
//! hangs in the allocation-failure path.

use std::process::Command;
use std::time::Duration;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn maps() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().count())
        .unwrap_or(0)
}

/// Prints one result line: kind, count, KiB per unit, VMAs added.
fn report(kind: &str, count: usize, before: (u64, usize)) {
    let (rss, vmas) = (rss_kib(), maps());
    let per = (rss.saturating_sub(before.0)) as f64 / count as f64;
    println!(
        "{kind:<28} {count:>9} parked  {per:>6.2} KiB RSS each  {:>7} VMAs added",
        vmas as i64 - before.1 as i64
    );
}

fn moss_case(count: usize) {
    let before = (rss_kib(), maps());
    moss::run(|| {
        for _ in 0..count {
            drop(moss::spawn(|| moss::sleep(Duration::from_secs(3600))));
        }
        moss::yield_now();
        assert_eq!(moss::stats().alive as usize, count + 1);
        report("moss green threads", count, before);
    });
}

fn may_case(count: usize) {
    may::config().set_workers(1);
    let before = (rss_kib(), maps());
    let handles: Vec<_> = (0..count)
        .map(|_| {
            // SAFETY: the coroutine only sleeps; it uses no thread-locals
            // and a handful of bytes of stack.
            unsafe { may::coroutine::spawn(|| may::coroutine::sleep(Duration::from_secs(3600))) }
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500 + count as u64 / 500));
    report("may coroutines (1 worker)", count, before);
    std::mem::forget(handles);
}

fn thread_case(count: usize) {
    let before = (rss_kib(), maps());
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let threads: Vec<_> = (0..count)
        .map(|_| {
            let rx = std::sync::Arc::clone(&rx);
            let ready = ready_tx.clone();
            std::thread::spawn(move || {
                ready.send(()).unwrap();
                let _ = rx.lock().map(|rx| rx.recv());
            })
        })
        .collect();
    for _ in 0..count {
        ready_rx.recv().unwrap();
    }
    report("OS threads (std::thread)", count, before);
    drop(tx);
    for thread in threads {
        thread.join().unwrap();
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    match args.first().map(String::as_str) {
        Some("moss") => moss_case(
            args.get(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(1_000_000),
        ),
        Some("may") => may_case(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(30_000)),
        Some("threads") => thread_case(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(10_000)),
        _ => {
            println!(
                "vm.max_map_count = {}",
                std::fs::read_to_string("/proc/sys/vm/max_map_count")
                    .unwrap_or_default()
                    .trim()
            );
            let me = std::env::current_exe().unwrap();
            for (kind, count) in [
                ("moss", "1000000"),
                ("moss", "100000"),
                ("may", "30000"),
                ("threads", "10000"),
            ] {
                let status = Command::new(&me).args([kind, count]).status().unwrap();
                if !status.success() {
                    println!("{kind} {count}: failed ({status})");
                }
            }
        }
    }
}
