//! Runtime micro-benchmarks, side by side in one run: yield round trip and
//! spawn+join of moss green threads against OS threads (`std::thread`,
//! `std::sync::mpsc`), the `may` coroutine runtime (one worker) and tokio
//! (a current-thread runtime: stackless tasks, the async peer), with a raw
//! corosensei switch as the floor.
//!
//! ```sh
//! cargo bench --bench runtime
//! ```

use std::hint::black_box;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::go;
use criterion::{criterion_group, criterion_main, Criterion};

mod common;

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
    // Both run the same function: a yield returns to the same place in
    // either, as a server's connections do (one handler, many green
    // threads). Above, each has its own loop, and every hand-off ends
    // in one return the processor predicts wrong (see docs/benchmarks.md).
    group.bench_function("moss yield_now (two green threads, same code)", |b| {
        b.iter_custom(|iters| {
            moss::run(|| {
                let other = moss::spawn(move || moss_yields(iters));
                moss::yield_now();
                let start = Instant::now();
                moss_yields(iters);
                let elapsed = start.elapsed();
                other.join().unwrap();
                elapsed
            })
        })
    });
    group.bench_function("std mpsc ping-pong (two OS threads)", |b| {
        b.iter_custom(common::std_ping_pong)
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
    group.bench_function("may yield_now (two coroutines, same code)", |b| {
        b.iter_custom(|iters| {
            let (tx, rx) = mpsc::channel();
            let other = go(move || {
                may_yields(iters);
            });
            let me = go(move || {
                let start = Instant::now();
                may_yields(iters);
                tx.send(start.elapsed()).unwrap();
            });
            me.join().unwrap();
            other.join().unwrap();
            rx.recv().unwrap()
        })
    });
    group.bench_function("may mpsc ping-pong (two coroutines)", |b| {
        b.iter_custom(common::may_ping_pong)
    });
    group.bench_function("tokio yield_now (two tasks, current thread)", |b| {
        b.iter_custom(|iters| {
            tokio_current_thread().block_on(async move {
                let local = tokio::task::LocalSet::new();
                local
                    .run_until(async move {
                        let other = tokio::task::spawn_local(async move {
                            for _ in 0..iters {
                                tokio::task::yield_now().await;
                            }
                        });
                        tokio::task::yield_now().await;
                        let start = Instant::now();
                        for _ in 0..iters {
                            tokio::task::yield_now().await;
                        }
                        let elapsed = start.elapsed();
                        other.await.unwrap();
                        elapsed
                    })
                    .await
            })
        })
    });
    group.finish();
}

/// `iters` moss yields, from one place for every green thread that calls it.
#[inline(never)]
fn moss_yields(iters: u64) {
    for _ in 0..iters {
        moss::yield_now();
    }
}

/// `iters` may yields, from one place for every coroutine that calls it.
#[inline(never)]
fn may_yields(iters: u64) {
    for _ in 0..iters {
        may::coroutine::yield_now();
    }
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
    group.bench_function("tokio spawn_local+await (current thread)", |b| {
        b.iter_custom(|iters| {
            tokio_current_thread().block_on(async move {
                tokio::task::LocalSet::new()
                    .run_until(async move {
                        let start = Instant::now();
                        for i in 0..iters {
                            black_box(tokio::task::spawn_local(async move { i }).await.unwrap());
                        }
                        start.elapsed()
                    })
                    .await
            })
        })
    });
    group.finish();
}

/// A tokio runtime on the calling thread (one hub's peer).
fn tokio_current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn configure() -> Criterion {
    may::config().set_workers(1);
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! { name = benches; config = configure(); targets = yield_round_trip, spawn_join }
criterion_main!(benches);
