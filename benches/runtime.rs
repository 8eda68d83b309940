//! Runtime micro-benchmarks, side by side in one run: yield round trip and
//! spawn+join of moss green threads against OS threads (`std::thread`,
//! `std::sync::mpsc`) and the `may` coroutine runtime (one worker), with a
//! raw corosensei switch as the floor.
//!
//! ```sh
//! cargo bench --bench runtime
//! ```

use std::hint::black_box;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

fn yield_round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("yield round trip");
    group.bench_function("raw corosensei resume+suspend (floor)", |b| {
        let mut coroutine: corosensei::Coroutine<(), (), ()> =
            corosensei::Coroutine::new(|yielder, ()| loop {
                yielder.suspend(());
            });
        b.iter(|| black_box(coroutine.resume(())))
    });
    group.bench_function("moss yield_now (alone)", |b| {
        b.iter_custom(|iters| {
            moss::run(|| {
                let start = Instant::now();
                for _ in 0..iters {
                    moss::yield_now();
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("moss yield_now (two green threads)", |b| {
        b.iter_custom(|iters| {
            moss::run(|| {
                let other = moss::spawn(move || {
                    for _ in 0..iters {
                        moss::yield_now();
                    }
                });
                moss::yield_now();
                let start = Instant::now();
                for _ in 0..iters {
                    moss::yield_now();
                }
                let elapsed = start.elapsed();
                other.join().unwrap();
                elapsed
            })
        })
    });
    group.bench_function("std mpsc ping-pong (two OS threads)", |b| {
        b.iter_custom(|iters| {
            let (ping_tx, ping_rx) = mpsc::channel::<u64>();
            let (pong_tx, pong_rx) = mpsc::channel::<u64>();
            let echo = std::thread::spawn(move || {
                for n in ping_rx {
                    pong_tx.send(n).unwrap();
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
        })
    });
    group.bench_function("may yield_now (two coroutines)", |b| {
        b.iter_custom(|iters| {
            let (tx, rx) = mpsc::channel();
            let other = go(move || {
                for _ in 0..iters {
                    may::coroutine::yield_now();
                }
            });
            let me = go(move || {
                let start = Instant::now();
                for _ in 0..iters {
                    may::coroutine::yield_now();
                }
                tx.send(start.elapsed()).unwrap();
            });
            me.join().unwrap();
            other.join().unwrap();
            rx.recv().unwrap()
        })
    });
    group.bench_function("may mpsc ping-pong (two coroutines)", |b| {
        b.iter_custom(|iters| {
            let (ping_tx, ping_rx) = may::sync::mpsc::channel::<u64>();
            let (pong_tx, pong_rx) = may::sync::mpsc::channel::<u64>();
            let echo = go(move || {
                for _ in 0..iters {
                    let n = ping_rx.recv().unwrap();
                    pong_tx.send(n).unwrap();
                }
            });
            let (tx, rx) = mpsc::channel();
            let driver = go(move || {
                let start = Instant::now();
                for i in 0..iters {
                    ping_tx.send(i).unwrap();
                    black_box(pong_rx.recv().unwrap());
                }
                tx.send(start.elapsed()).unwrap();
            });
            driver.join().unwrap();
            echo.join().unwrap();
            rx.recv().unwrap()
        })
    });
    group.finish();
}

fn spawn_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn+join");
    group.bench_function("moss (pooled stacks)", |b| {
        b.iter_custom(|iters| {
            moss::run(|| {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(moss::spawn(move || i).join().unwrap());
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("std::thread", |b| {
        b.iter(|| std::thread::spawn(|| black_box(1)).join().unwrap())
    });
    group.bench_function("may (one worker)", |b| {
        b.iter_custom(|iters| {
            let (tx, rx) = mpsc::channel();
            go(move || {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(go(move || i).join().unwrap());
                }
                tx.send(start.elapsed()).unwrap();
            })
            .join()
            .unwrap();
            rx.recv().unwrap()
        })
    });
    group.finish();
}

/// Spawns a may coroutine.
fn go<F, T>(f: F) -> may::coroutine::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // SAFETY: may marks spawn unsafe because a coroutine must not overflow
    // its stack or block the worker on TLS-bound state; these bodies are
    // small and use no thread-locals.
    unsafe { may::coroutine::spawn(f) }
}

fn configure() -> Criterion {
    may::config().set_workers(1);
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! { name = benches; config = configure(); targets = yield_round_trip, spawn_join }
criterion_main!(benches);
