//! Sync micro-benchmarks: channel round trips (green, hub-local, OS threads, may, tokio, hub to hub), spawn_blocking, Semaphore.
//!
//! Run: `cargo bench --bench sync -- --warm-up-time 1 --measurement-time 3`.
//! Each round trip is one message there and one back.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{may_ping_pong, std_ping_pong};
use criterion::{criterion_group, criterion_main, Criterion};
use moss::sync::{channel, local, Semaphore};

/// Two green threads of one hub bounce a counter through two channels.
fn green_ping_pong(iters: u64) -> Duration {
    moss::run(|| {
        let (ping_tx, ping_rx) = channel::<u64>();
        let (pong_tx, pong_rx) = channel::<u64>();
        let echo = moss::spawn(move || {
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
    })
}

/// Two green threads of one hub bounce a counter through two hub-local
/// channels.
fn local_ping_pong(iters: u64) -> Duration {
    moss::run(|| {
        let (ping_tx, ping_rx) = local::channel::<u64>();
        let (pong_tx, pong_rx) = local::channel::<u64>();
        let echo = moss::spawn(move || {
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
    })
}

/// [`local_ping_pong`] with both green threads running one function
/// (receive, send on): every hand-off returns into the same code, as a
/// server's connections do (see `moss yield_now (two green threads, same
/// code)` in the runtime benches).
fn local_ping_pong_same_code(iters: u64) -> Duration {
    #[inline(never)]
    fn relay(rx: &local::Receiver<u64>, tx: &local::Sender<u64>, n: u64) {
        for _ in 0..n {
            let value = rx.recv().unwrap();
            tx.send(black_box(value)).unwrap();
        }
    }
    let iters = iters.max(1);
    moss::run(|| {
        let (ping_tx, ping_rx) = local::channel::<u64>();
        let (pong_tx, pong_rx) = local::channel::<u64>();
        let echo = moss::spawn(move || relay(&ping_rx, &pong_tx, iters));
        let start = Instant::now();
        ping_tx.send(0).unwrap();
        relay(&pong_rx, &ping_tx, iters - 1);
        black_box(pong_rx.recv().unwrap());
        let elapsed = start.elapsed();
        echo.join().unwrap();
        elapsed
    })
}

/// Two tasks of a current-thread tokio runtime bounce a counter through
/// two unbounded `tokio::sync::mpsc` channels.
fn tokio_ping_pong(iters: u64) -> Duration {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let (ping_tx, mut ping_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let (pong_tx, mut pong_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let echo = tokio::spawn(async move {
            while let Some(value) = ping_rx.recv().await {
                pong_tx.send(value).unwrap();
            }
        });
        let start = Instant::now();
        for i in 0..iters {
            ping_tx.send(i).unwrap();
            black_box(pong_rx.recv().await.unwrap());
        }
        let elapsed = start.elapsed();
        drop(ping_tx);
        echo.await.unwrap();
        elapsed
    })
}

/// The switching floor of a green round trip: two green threads of one
/// hub that only yield to each other (the same four switches through the
/// hub as a channel round trip, and no channel).
fn green_yield_floor(iters: u64) -> Duration {
    moss::run(|| {
        let done = std::rc::Rc::new(std::cell::Cell::new(false));
        let other = {
            let done = std::rc::Rc::clone(&done);
            moss::spawn(move || {
                while !done.get() {
                    moss::yield_now();
                }
            })
        };
        let start = Instant::now();
        for _ in 0..iters {
            moss::yield_now();
        }
        let elapsed = start.elapsed();
        done.set(true);
        other.join().unwrap();
        elapsed
    })
}

/// A hub on another OS thread echoes: the cross-thread wake-up path.
fn hub_to_hub_ping_pong(iters: u64) -> Duration {
    let (ping_tx, ping_rx) = channel::<u64>();
    let (pong_tx, pong_rx) = channel::<u64>();
    let echo = std::thread::spawn(move || {
        moss::run(move || {
            for value in ping_rx {
                pong_tx.send(value).unwrap();
            }
        })
    });
    let elapsed = moss::run(move || {
        let start = Instant::now();
        for i in 0..iters {
            ping_tx.send(i).unwrap();
            black_box(pong_rx.recv().unwrap());
        }
        start.elapsed()
    });
    echo.join().unwrap();
    elapsed
}

fn channels(c: &mut Criterion) {
    may::config().set_workers(1);
    let mut group = c.benchmark_group("channel_round_trip");
    group.bench_function("moss_green_same_hub", |b| b.iter_custom(green_ping_pong));
    group.bench_function("moss_local_same_hub", |b| b.iter_custom(local_ping_pong));
    group.bench_function("moss_local_same_hub_same_code", |b| {
        b.iter_custom(local_ping_pong_same_code)
    });
    group.bench_function("moss_yield_floor_same_hub", |b| {
        b.iter_custom(green_yield_floor)
    });
    group.bench_function("tokio_mpsc_current_thread", |b| {
        b.iter_custom(tokio_ping_pong)
    });
    group.bench_function("std_mpsc_os_threads", |b| b.iter_custom(std_ping_pong));
    group.bench_function("may_mpsc_one_worker", |b| b.iter_custom(may_ping_pong));
    group.bench_function("moss_hub_to_hub", |b| b.iter_custom(hub_to_hub_ping_pong));
    group.finish();
}

fn offload(c: &mut Criterion) {
    c.bench_function("spawn_blocking_round_trip", |b| {
        b.iter_custom(|iters| {
            moss::run(|| {
                moss::spawn_blocking(|| ()); // start the pool outside the timing
                let start = Instant::now();
                for i in 0..iters {
                    black_box(moss::spawn_blocking(move || black_box(i)));
                }
                start.elapsed()
            })
        })
    });
}

fn semaphore(c: &mut Criterion) {
    c.bench_function("semaphore_acquire_release_uncontended", |b| {
        b.iter_custom(|iters| {
            moss::run(|| {
                let semaphore = Semaphore::new(1);
                let start = Instant::now();
                for _ in 0..iters {
                    drop(black_box(semaphore.acquire()));
                }
                start.elapsed()
            })
        })
    });
}

criterion_group!(benches, channels, offload, semaphore);
criterion_main!(benches);
