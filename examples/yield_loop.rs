//! Micro-loop for profiling the switch path: `yield_loop [N] [yield|pair|same|spawn]`.
//!
//! `pair`: two green threads yield to each other, each from a loop of its
//! own; `same`: from one function both call (a return into the same code
//! after every hand-off, as a server's connections have).
fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50_000_000);
    let what = std::env::args().nth(2).unwrap_or_default();
    if what != "spawn" && what != "pair" && what != "same" {
        let t = moss::run(|| {
            let start = std::time::Instant::now();
            for _ in 0..n {
                moss::yield_now();
            }
            start.elapsed()
        });
        println!("yield alone: {:.1} ns", t.as_nanos() as f64 / n as f64);
    }
    if what == "pair" || what.is_empty() {
        let t = moss::run(|| {
            let other = moss::spawn(move || {
                for _ in 0..n {
                    moss::yield_now();
                }
            });
            moss::yield_now();
            let start = std::time::Instant::now();
            for _ in 0..n {
                moss::yield_now();
            }
            let elapsed = start.elapsed();
            other.join().unwrap();
            elapsed
        });
        println!(
            "yield pair round trip: {:.1} ns",
            t.as_nanos() as f64 / n as f64
        );
    }
    if what == "same" || what.is_empty() {
        let t = moss::run(|| {
            let other = moss::spawn(move || yields(n));
            moss::yield_now();
            let start = std::time::Instant::now();
            yields(n);
            let elapsed = start.elapsed();
            other.join().unwrap();
            elapsed
        });
        println!(
            "yield pair round trip, same code: {:.1} ns",
            t.as_nanos() as f64 / n as f64
        );
    }
    if what != "yield" && what != "pair" && what != "same" {
        let t = moss::run(|| {
            let start = std::time::Instant::now();
            for i in 0..n / 10 {
                std::hint::black_box(moss::spawn(move || i).join().unwrap());
            }
            start.elapsed()
        });
        println!(
            "spawn+join: {:.1} ns",
            t.as_nanos() as f64 / (n / 10) as f64
        );
    }
}

/// `n` yields, from one place for every green thread that calls it.
#[inline(never)]
fn yields(n: u64) {
    for _ in 0..n {
        moss::yield_now();
    }
}
