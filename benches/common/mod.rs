//! Baselines shared by the bench binaries: OS-thread and may round trips,
//! and a may spawn helper. Measured in every binary that compares against
//! them, so each comparison is within one run.

use std::hint::black_box;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Two OS threads bounce a counter through two `std::sync::mpsc` channels.
pub fn std_ping_pong(iters: u64) -> Duration {
    let (ping_tx, ping_rx) = mpsc::channel::<u64>();
    let (pong_tx, pong_rx) = mpsc::channel::<u64>();
    let echo = std::thread::spawn(move || {
        for value in ping_rx {
            pong_tx.send(value).unwrap();
        }
    });
    let start = Instant::now();
    for i in 0..iters {
        ping_tx.send(i).unwrap();
        black_box(pong_rx.recv().unwrap());
    }
    let elapsed = start.elapsed();
    drop(ping_tx);
    echo.join().unwrap();
    elapsed
}

/// Two may coroutines (one worker thread) bounce a counter through two
/// `may::sync::mpsc` channels.
pub fn may_ping_pong(iters: u64) -> Duration {
    let (ping_tx, ping_rx) = may::sync::mpsc::channel::<u64>();
    let (pong_tx, pong_rx) = may::sync::mpsc::channel::<u64>();
    let echo = move || {
        while let Ok(value) = ping_rx.recv() {
            pong_tx.send(value).unwrap();
        }
    };
    let driver = move || {
        let start = Instant::now();
        for i in 0..iters {
            ping_tx.send(i).unwrap();
            black_box(pong_rx.recv().unwrap());
        }
        start.elapsed()
    };
    let (echo, driver) = (go(echo), go(driver));
    let elapsed = driver.join().unwrap();
    echo.join().unwrap();
    elapsed
}

/// Spawns a may coroutine.
pub fn go<F, T>(f: F) -> may::coroutine::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // SAFETY: may marks spawn unsafe because a coroutine must not overflow
    // its stack or block the worker on TLS-bound state; these bodies are
    // small and use no thread-locals.
    unsafe { may::coroutine::spawn(f) }
}
