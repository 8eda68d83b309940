//! 100,000 green threads on one OS thread: each sleeps, wakes, passes a
//! token around a ring, and the hub shows where the "pseudo threads" live.
//!
//! ```sh
//! cargo run --release --example green_threads [COUNT]
//! ```

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let rss_before = resident_kib();
    moss::run(|| {
        let start = Instant::now();
        let woken = Rc::new(Cell::new(0usize));
        let handles: Vec<_> = (0..count)
            .map(|i| {
                let woken = Rc::clone(&woken);
                moss::spawn(move || {
                    // Everyone sleeps 100 ms, concurrently, on one OS thread.
                    moss::sleep(Duration::from_millis(100));
                    woken.set(woken.get() + 1);
                    i as u64
                })
            })
            .collect();
        moss::yield_now();
        let parked = moss::stats();
        let rss_parked = resident_kib();
        let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        let elapsed = start.elapsed();
        assert_eq!(sum, (count as u64 * (count as u64 - 1)) / 2);

        println!(
            "{count} green threads on one OS thread (thread id {:?})",
            std::thread::current().id()
        );
        println!(
            "  all parked at once: {} alive, {} timers armed",
            parked.alive, parked.timers
        );
        println!(
            "  resident memory while parked: {} KiB total, {:.2} KiB per green thread",
            rss_parked,
            rss_parked.saturating_sub(rss_before) as f64 / count as f64
        );
        println!(
            "  each slept 100 ms; all {} woke in {:.1?} wall-clock",
            woken.get(),
            elapsed
        );
        let done = moss::stats();
        println!(
            "  hub: {} switches, {} polls, {} spawned",
            done.switches, done.polls, done.spawned
        );
    });
}
