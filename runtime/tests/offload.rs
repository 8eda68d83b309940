//! The offload pool: `spawn_blocking` runs on OS threads while the hub serves green threads.

use std::cell::Cell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use moss_runtime as moss;

#[test]
fn spawn_blocking_returns_the_value() {
    let value = moss::run(|| moss::spawn_blocking(|| 6 * 7));
    assert_eq!(value, 42);
}

#[test]
fn spawn_blocking_outside_a_hub_runs_inline() {
    let here = std::thread::current().id();
    let there = moss::spawn_blocking(move || std::thread::current().id());
    assert_eq!(here, there);
}

#[test]
fn spawn_blocking_runs_on_another_os_thread() {
    let (here, there) = moss::run(|| {
        let here = std::thread::current().id();
        (here, moss::spawn_blocking(|| std::thread::current().id()))
    });
    assert_ne!(here, there);
}

/// The blocking function waits for a signal that a green thread sends
/// only after it has made `STEPS` steps: the call can only return if the
/// hub kept running green threads meanwhile.
#[test]
fn spawn_blocking_keeps_other_green_threads_progressing() {
    const STEPS: usize = 50;
    let (steps_during_call, value) = moss::run(|| {
        let (go, wait) = mpsc::channel::<usize>();
        let steps = Rc::new(Cell::new(0));
        let counter = Rc::clone(&steps);
        let stepper = moss::spawn(move || {
            for _ in 0..STEPS {
                counter.set(counter.get() + 1);
                moss::yield_now();
            }
            go.send(counter.get()).unwrap();
        });
        let value = moss::spawn_blocking(move || wait.recv().unwrap());
        stepper.join().unwrap();
        (steps.get(), value)
    });
    assert_eq!(value, STEPS);
    assert_eq!(steps_during_call, STEPS);
}

#[test]
fn a_panic_in_the_blocking_function_resumes_in_the_caller() {
    let message = moss::run(|| {
        let caller = moss::spawn(|| moss::spawn_blocking(|| -> u32 { panic!("offloaded boom") }));
        caller.join().unwrap_err().to_string()
    });
    assert!(message.contains("offloaded boom"), "{message}");
}

#[derive(Debug)]
struct CountDrop(Arc<AtomicUsize>);
impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_killed_caller_unwinds_while_the_function_finishes_and_its_result_is_dropped() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let (release, gate) = mpsc::channel::<()>();
    let (finished_tx, finished) = mpsc::channel::<()>();
    let result_drops = Arc::clone(&dropped);
    let killed = moss::run(move || {
        let caller = moss::spawn(move || {
            moss::spawn_blocking(move || {
                gate.recv().unwrap();
                finished_tx.send(()).unwrap();
                CountDrop(result_drops)
            })
        });
        moss::yield_now();
        caller.kill();
        let killed = caller.join().unwrap_err().is_killed();
        release.send(()).unwrap();
        killed
    });
    assert!(killed);
    finished.recv_timeout(Duration::from_secs(10)).unwrap();
    // The job drops its result right after it signalled; wait for that.
    for _ in 0..1000 {
        if dropped.load(Ordering::SeqCst) == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

#[test]
fn a_timeout_interrupts_the_wait_for_an_offloaded_call() {
    let (release, gate) = mpsc::channel::<()>();
    let elapsed = moss::run(move || {
        let result = moss::timeout(Duration::from_millis(10), || {
            moss::spawn_blocking(move || gate.recv().ok())
        });
        release.send(()).unwrap();
        result.is_err()
    });
    assert!(elapsed);
}

#[test]
fn the_pool_is_bounded_and_queues_beyond_the_bound() {
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let seen = Arc::clone(&threads);
    let results = moss::Hub::builder().offload_threads(2).run(move || {
        let handles: Vec<_> = (0..8u64)
            .map(|i| {
                let seen = Arc::clone(&seen);
                moss::spawn(move || {
                    moss::spawn_blocking(move || {
                        seen.lock().unwrap().insert(std::thread::current().id());
                        std::thread::sleep(Duration::from_millis(2));
                        i * 10
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(results, [0, 10, 20, 30, 40, 50, 60, 70]);
    let used = threads.lock().unwrap().len();
    assert!((1..=2).contains(&used), "{used} offload threads");
}

#[test]
fn an_idle_hub_waiting_only_for_offload_work_is_not_a_deadlock() {
    let value = moss::run(|| {
        moss::spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(20));
            "slept"
        })
    });
    assert_eq!(value, "slept");
}

#[test]
fn a_remote_unparker_wakes_a_park_from_another_os_thread() {
    use moss::park::{self, Wake};
    let wake = moss::run(|| {
        let (tx, rx) = mpsc::channel();
        let waker = std::thread::spawn(move || {
            let remote: park::RemoteUnparker = rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(5));
            remote.unpark();
        });
        // The remote wake-up is invisible to the deadlock detector, so a
        // sleeper keeps the hub busy while it travels.
        let keeper = moss::spawn(|| moss::sleep(Duration::from_secs(30)));
        let wake = park::park_native("a remote wake-up", None, |unparker| {
            tx.send(unparker.remote()).unwrap();
        });
        keeper.kill();
        waker.join().unwrap();
        wake
    });
    assert_eq!(wake, Wake::Ready);
}
