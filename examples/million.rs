//! Spawns a million fresh green threads (each on a stack of its own, all
//! alive at once, parked on one event), then wakes and joins them: the
//! time per spawn, per wake-up and per join, and the system time spent.
//!
//! ```sh
//! cargo run --release --example million [COUNT]
//! ```

use std::time::Instant;

fn cpu_seconds() -> (f64, f64) {
    // User and system time of this process, in clock ticks (fields 14, 15).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (ticks(11), ticks(12))
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    moss::run(|| {
        let gate = std::rc::Rc::new(moss::sync::Event::new());
        let (user0, sys0) = cpu_seconds();
        let started = Instant::now();
        let handles: Vec<_> = (0..count)
            .map(|_| {
                let gate = std::rc::Rc::clone(&gate);
                moss::spawn(move || gate.wait())
            })
            .collect();
        // Let every one of them run to its park.
        moss::yield_now();
        let spawned = started.elapsed();
        let (user1, sys1) = cpu_seconds();
        let woken = Instant::now();
        gate.set();
        for handle in handles {
            handle.join().unwrap();
        }
        let joined = woken.elapsed();
        let (user2, sys2) = cpu_seconds();
        println!(
            "{count} fresh green threads: spawned and parked in {:.2} s ({:.0} ns each; user {:.2} s, sys {:.2} s)",
            spawned.as_secs_f64(),
            spawned.as_nanos() as f64 / count as f64,
            user1 - user0,
            sys1 - sys0,
        );
        println!(
            "woken and joined in {:.2} s ({:.0} ns each; user {:.2} s, sys {:.2} s)",
            joined.as_secs_f64(),
            joined.as_nanos() as f64 / count as f64,
            user2 - user1,
            sys2 - sys1,
        );
    });
}
