//! Green sync primitives: Event, Semaphore, Mutex, channels, Pool, Group; kill and timeout leave each consistent.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use moss::sync::{
    bounded, channel, Event, Mutex, RecvTimeoutError, Semaphore, SendError, TryRecvError,
};
use moss_runtime as moss;

const SHORT: Duration = Duration::from_millis(5);

/// Spawns a green thread and lets it run until it parks.
fn spawn_parked<T: 'static>(f: impl FnOnce() -> T + 'static) -> moss::JoinHandle<T> {
    let handle = moss::spawn(f);
    moss::yield_now();
    handle
}

// ---- channels ---------------------------------------------------------

#[test]
fn bounded_producer_consumer_applies_back_pressure() {
    const CAPACITY: usize = 3;
    let (received, max_ahead) = moss::run(|| {
        let (tx, rx) = bounded(CAPACITY);
        let sent = Rc::new(Cell::new(0usize));
        let taken = Rc::new(Cell::new(0usize));
        let max_ahead = Rc::new(Cell::new(0usize));
        let producer = {
            let (sent, taken, max_ahead) = (sent.clone(), taken.clone(), max_ahead.clone());
            moss::spawn(move || {
                for i in 0..50 {
                    tx.send(i).unwrap();
                    sent.set(sent.get() + 1);
                    max_ahead.set(max_ahead.get().max(sent.get() - taken.get()));
                }
            })
        };
        let mut received = Vec::new();
        for value in &rx {
            taken.set(taken.get() + 1);
            received.push(value);
            moss::yield_now(); // a slow consumer
        }
        producer.join().unwrap();
        (received, max_ahead.get())
    });
    assert_eq!(received, (0..50).collect::<Vec<_>>());
    assert_eq!(
        max_ahead, CAPACITY,
        "the producer ran ahead by exactly the capacity"
    );
}

#[test]
fn a_rendezvous_send_waits_until_the_message_is_taken() {
    let log = moss::run(|| {
        let (tx, rx) = bounded(0);
        let log = Rc::new(RefCell::new(Vec::new()));
        let producer_log = Rc::clone(&log);
        let producer = moss::spawn(move || {
            tx.send(1).unwrap();
            producer_log.borrow_mut().push("sent");
        });
        moss::yield_now();
        moss::yield_now();
        log.borrow_mut().push("receiving");
        assert_eq!(rx.recv(), Ok(1));
        producer.join().unwrap();
        let log = log.borrow().clone();
        log
    });
    assert_eq!(log, ["receiving", "sent"]);
}

#[test]
fn disconnection_is_reported_both_ways() {
    moss::run(|| {
        let (tx, rx) = channel::<u8>();
        let tx2 = tx.clone();
        tx.send(1).unwrap();
        drop(tx);
        drop(tx2);
        assert_eq!(rx.recv(), Ok(1), "buffered messages outlive the senders");
        assert!(rx.recv().is_err());
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(rx.recv_timeout(SHORT), Err(RecvTimeoutError::Disconnected));

        let (tx, rx) = bounded::<u8>(1);
        tx.send(1).unwrap();
        let blocked = spawn_parked(move || tx.send(2));
        drop(rx);
        assert_eq!(blocked.join().unwrap(), Err(SendError(2)));
    });
}

#[test]
fn a_parked_receiver_wakes_when_the_last_sender_goes() {
    let result = moss::run(|| {
        let (tx, rx) = channel::<u8>();
        let receiver = spawn_parked(move || rx.recv());
        drop(tx);
        receiver.join().unwrap()
    });
    assert!(result.is_err());
}

#[test]
fn try_recv_and_recv_timeout_do_not_wait_past_their_limit() {
    moss::run(|| {
        let (tx, rx) = channel();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(rx.recv_timeout(SHORT), Err(RecvTimeoutError::Timeout));
        tx.send(7).unwrap();
        assert_eq!(rx.recv_timeout(SHORT), Ok(7));
        tx.send(8).unwrap();
        tx.send(9).unwrap();
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [8, 9]);
    });
}

#[test]
fn a_plain_os_thread_sends_into_a_hub() {
    let (tx, rx) = channel();
    let (go, start) = std::sync::mpsc::channel();
    let producer = std::thread::spawn(move || {
        start.recv().unwrap();
        for i in 0..1000u64 {
            tx.send(i).unwrap();
        }
    });
    let sum = moss::run(|| {
        // Runs only once the root has parked in `recv`: the first message
        // must come through the cross-thread wake-up.
        let signaller = moss::spawn(move || go.send(()).unwrap());
        let first = rx.recv().unwrap();
        signaller.join().unwrap();
        first + rx.iter().sum::<u64>()
    });
    producer.join().unwrap();
    assert_eq!(sum, 499_500);
}

#[test]
fn a_hub_sends_to_a_plain_os_thread_that_blocks() {
    let (tx, rx) = bounded(2);
    let consumer = std::thread::spawn(move || rx.into_iter().collect::<Vec<u32>>());
    moss::run(move || {
        for i in 0..100 {
            tx.send(i).unwrap();
        }
    });
    assert_eq!(consumer.join().unwrap(), (0..100).collect::<Vec<_>>());
}

#[test]
fn hub_to_hub_ping_pong_across_os_threads() {
    let (ping_tx, ping_rx) = bounded::<u32>(1);
    let (pong_tx, pong_rx) = channel::<u32>();
    let echo = std::thread::spawn(move || {
        moss::run(move || {
            for value in ping_rx {
                pong_tx.send(value + 1).unwrap();
            }
        })
    });
    let last = moss::run(move || {
        let mut value = 0;
        for _ in 0..500 {
            ping_tx.send(value).unwrap();
            value = pong_rx.recv().unwrap();
        }
        value
    });
    echo.join().unwrap();
    assert_eq!(last, 500);
}

#[test]
fn kill_of_a_parked_receiver_loses_no_message() {
    let (killed, value) = moss::run(|| {
        let (tx, rx) = channel();
        let rx = Rc::new(rx);
        let theirs = Rc::clone(&rx);
        let receiver = spawn_parked(move || theirs.recv());
        receiver.kill();
        let killed = receiver.join().unwrap_err().is_killed();
        tx.send("kept").unwrap();
        (killed, rx.recv().unwrap())
    });
    assert!(killed);
    assert_eq!(value, "kept");
}

#[test]
fn timeout_of_a_parked_receiver_loses_no_message() {
    let (elapsed, value) = moss::run(|| {
        let (tx, rx) = channel();
        let elapsed = moss::timeout(SHORT, || rx.recv()).is_err();
        tx.send(5).unwrap();
        (elapsed, rx.recv().unwrap())
    });
    assert!(elapsed);
    assert_eq!(value, 5);
}

#[test]
fn kill_and_timeout_of_parked_senders_pass_the_free_slot_on() {
    let received = moss::run(|| {
        let (tx, rx) = bounded(1);
        tx.send("first").unwrap();
        let killed = {
            let tx = tx.clone();
            spawn_parked(move || tx.send("killed"))
        };
        let timed_out = {
            let tx = tx.clone();
            spawn_parked(move || moss::timeout(SHORT, || tx.send("timed out")))
        };
        let patient = {
            let tx = tx.clone();
            spawn_parked(move || tx.send("patient"))
        };
        drop(tx);
        killed.kill();
        assert!(killed.join().unwrap_err().is_killed());
        assert!(timed_out.join().unwrap().is_err());
        let received: Vec<_> = rx.iter().collect();
        patient.join().unwrap().unwrap();
        received
    });
    assert_eq!(received, ["first", "patient"]);
}

/// The panic message of `f`, which must panic.
fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(f).unwrap_err();
    payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default()
}

// Regression: a channel counted as shared with another OS thread only once
// one of its handles was used there, so a root parked in `recv` while the
// only sender sat unused on another thread got a false deadlock panic.

#[test]
fn no_false_deadlock_when_the_sender_moved_to_an_os_thread_is_unused_at_park_time() {
    let value = moss::run(|| {
        let (tx, rx) = channel();
        let producer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            tx.send(1).unwrap();
        });
        let value = rx.recv().unwrap();
        producer.join().unwrap();
        value
    });
    assert_eq!(value, 1);
}

#[test]
fn no_false_deadlock_when_the_sender_moved_to_another_hub_is_unused_at_park_time() {
    let value = moss::run(|| {
        let (tx, rx) = channel();
        let other_hub = std::thread::spawn(move || {
            moss::run(move || {
                moss::sleep(Duration::from_millis(50));
                tx.send(1).unwrap();
            })
        });
        let value = rx.recv().unwrap();
        other_hub.join().unwrap();
        value
    });
    assert_eq!(value, 1);
}

#[test]
fn no_false_deadlock_when_the_receiver_moved_to_an_os_thread_is_unused_at_park_time() {
    let received = moss::run(|| {
        let (tx, rx) = bounded(1);
        let consumer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            rx.iter().collect::<Vec<u8>>()
        });
        tx.send(1).unwrap();
        tx.send(2).unwrap(); // full: waits for the consumer
        drop(tx);
        consumer.join().unwrap()
    });
    assert_eq!(received, [1, 2]);
}

#[test]
fn a_deadlock_on_an_event_nobody_can_set_is_still_reported() {
    let message = panic_message(|| {
        moss::run(|| {
            let event = Rc::new(Event::new());
            let waiter = Rc::clone(&event);
            let _other = moss::spawn(move || waiter.wait());
            event.wait();
        })
    });
    assert!(message.contains("deadlock"), "{message}");
    assert!(message.contains("green thread 'root'"), "{message}");
    assert_eq!(
        message.matches("waits on: Event::wait").count(),
        2,
        "{message}"
    );
}

// ---- Event ------------------------------------------------------------

#[test]
fn many_waiters_on_one_event_all_wake_on_set() {
    let (woken, before) = moss::run(|| {
        let event = Rc::new(Event::new());
        let woken = Rc::new(Cell::new(0));
        let waiters: Vec<_> = (0..200)
            .map(|_| {
                let (event, woken) = (Rc::clone(&event), Rc::clone(&woken));
                moss::spawn(move || {
                    event.wait();
                    woken.set(woken.get() + 1);
                })
            })
            .collect();
        moss::yield_now();
        let before = woken.get();
        event.set();
        waiters.into_iter().for_each(|w| w.join().unwrap());
        (woken.get(), before)
    });
    assert_eq!(before, 0);
    assert_eq!(woken, 200);
}

#[test]
fn event_wait_timeout_clear_and_is_set() {
    moss::run(|| {
        let event = Event::new();
        assert!(!event.wait_timeout(SHORT));
        event.set();
        assert!(event.is_set());
        assert!(event.wait_timeout(SHORT));
        event.wait();
        event.clear();
        assert!(!event.is_set());
        assert!(!event.wait_timeout(SHORT));
    });
}

#[test]
fn kill_and_timeout_of_event_waiters_leave_it_working() {
    let (killed, elapsed, others) = moss::run(|| {
        let event = Rc::new(Event::new());
        let victim = {
            let event = Rc::clone(&event);
            spawn_parked(move || event.wait())
        };
        let other = {
            let event = Rc::clone(&event);
            spawn_parked(move || event.wait())
        };
        victim.kill();
        let killed = victim.join().unwrap_err().is_killed();
        let elapsed = moss::timeout(SHORT, || event.wait()).is_err();
        event.set();
        (killed, elapsed, other.join().is_ok())
    });
    assert!(killed && elapsed && others);
}

// ---- Semaphore --------------------------------------------------------

#[test]
fn a_semaphore_limits_concurrency() {
    let (peak, available) = moss::run(|| {
        let slots = Rc::new(Semaphore::new(3));
        let inside = Rc::new(Cell::new(0));
        let peak = Rc::new(Cell::new(0));
        let workers: Vec<_> = (0..20)
            .map(|_| {
                let (slots, inside, peak) = (slots.clone(), inside.clone(), peak.clone());
                moss::spawn(move || {
                    let _permit = slots.acquire();
                    inside.set(inside.get() + 1);
                    peak.set(peak.get().max(inside.get()));
                    moss::yield_now();
                    moss::yield_now();
                    inside.set(inside.get() - 1);
                })
            })
            .collect();
        workers.into_iter().for_each(|w| w.join().unwrap());
        (peak.get(), slots.available())
    });
    assert_eq!(peak, 3);
    assert_eq!(available, 3);
}

#[test]
fn kill_and_timeout_of_semaphore_waiters_lose_no_permit() {
    let (killed, timed_out, served, available) = moss::run(|| {
        let slots = Rc::new(Semaphore::new(1));
        let held = slots.acquire();
        let victim = {
            let slots = Rc::clone(&slots);
            spawn_parked(move || drop(slots.acquire()))
        };
        let patient = {
            let slots = Rc::clone(&slots);
            spawn_parked(move || drop(slots.acquire()))
        };
        victim.kill();
        let killed = victim.join().unwrap_err().is_killed();
        let timed_out = slots.acquire_timeout(SHORT).is_none();
        drop(held); // goes to the patient waiter, not to the dead ones
        let served = patient.join().is_ok();
        (killed, timed_out, served, slots.available())
    });
    assert!(killed && timed_out && served);
    assert_eq!(available, 1);
}

#[test]
fn a_release_with_only_ended_waits_listed_keeps_the_permit_and_the_lock_free() {
    // A waiter that gave up leaves its entry in the wait list: the release
    // (and the unlock) finds no one to hand over to and must keep the
    // permit (free the lock) rather than give it to the ended wait.
    let (available, locked) = moss::run(|| {
        let slots = Semaphore::new(1);
        let held = slots.acquire();
        assert!(slots.acquire_timeout(SHORT).is_none());
        drop(held);
        let mutex = Mutex::new(());
        let guard = mutex.lock();
        assert!(moss::timeout(SHORT, || drop(mutex.lock())).is_err());
        drop(guard);
        (slots.available(), mutex.is_locked())
    });
    assert_eq!(available, 1);
    assert!(!locked);
}

// ---- Mutex ------------------------------------------------------------

#[test]
fn a_mutex_excludes_under_yields() {
    let (total, overlaps) = moss::run(|| {
        let counter = Rc::new(Mutex::new(0u32));
        let inside = Rc::new(Cell::new(false));
        let overlaps = Rc::new(Cell::new(0));
        let workers: Vec<_> = (0..10)
            .map(|_| {
                let (counter, inside, overlaps) =
                    (counter.clone(), inside.clone(), overlaps.clone());
                moss::spawn(move || {
                    for _ in 0..20 {
                        let mut n = counter.lock();
                        if inside.replace(true) {
                            overlaps.set(overlaps.get() + 1);
                        }
                        let seen = *n;
                        moss::yield_now();
                        *n = seen + 1;
                        inside.set(false);
                    }
                })
            })
            .collect();
        workers.into_iter().for_each(|w| w.join().unwrap());
        let total = *counter.lock();
        (total, overlaps.get())
    });
    assert_eq!(total, 200);
    assert_eq!(overlaps, 0);
}

#[test]
fn a_relocking_loop_cannot_starve_a_waiter() {
    let position = moss::run(|| {
        let mutex = Rc::new(Mutex::new(Vec::new()));
        let hog = {
            let mutex = Rc::clone(&mutex);
            moss::spawn(move || {
                for _ in 0..100 {
                    let mut log = mutex.lock();
                    log.push("hog");
                    moss::yield_now(); // the waiter parks meanwhile
                }
            })
        };
        moss::yield_now();
        mutex.lock().push("waiter");
        hog.join().unwrap();
        let log = mutex.lock();
        log.iter().position(|who| *who == "waiter").unwrap()
    });
    assert!(
        position <= 2,
        "the waiter got the lock after {position} turns"
    );
}

#[test]
fn kill_and_timeout_of_mutex_waiters_leave_it_unlocked() {
    let (killed, elapsed, value, locked) = moss::run(|| {
        let mutex = Rc::new(Mutex::new(0));
        let guard = mutex.lock();
        let victim = {
            let mutex = Rc::clone(&mutex);
            spawn_parked(move || *mutex.lock() += 100)
        };
        let patient = {
            let mutex = Rc::clone(&mutex);
            spawn_parked(move || *mutex.lock() += 1)
        };
        victim.kill();
        let killed = victim.join().unwrap_err().is_killed();
        let elapsed = moss::timeout(SHORT, || drop(mutex.lock())).is_err();
        drop(guard);
        patient.join().unwrap();
        let value = *mutex.lock();
        (killed, elapsed, value, mutex.is_locked())
    });
    assert!(killed && elapsed);
    assert_eq!(value, 1);
    assert!(!locked);
}

// ---- Pool and Group ---------------------------------------------------

#[test]
fn a_pool_runs_at_most_n_and_join_waits_for_all() {
    let (peak, finished) = moss::run(|| {
        let pool = moss::Pool::new(4);
        let inside = Rc::new(Cell::new(0));
        let peak = Rc::new(Cell::new(0));
        let finished = Rc::new(Cell::new(0));
        for _ in 0..25 {
            let (inside, peak, finished) = (inside.clone(), peak.clone(), finished.clone());
            pool.spawn(move || {
                inside.set(inside.get() + 1);
                peak.set(peak.get().max(inside.get()));
                moss::sleep(Duration::from_millis(1));
                inside.set(inside.get() - 1);
                finished.set(finished.get() + 1);
            });
        }
        pool.join();
        assert_eq!(pool.running(), 0);
        (peak.get(), finished.get())
    });
    assert_eq!(peak, 4);
    assert_eq!(finished, 25);
}

#[test]
fn a_group_joins_everything_it_holds() {
    let results = moss::run(|| {
        let mut group = moss::Group::new();
        group.spawn(|| 1);
        group.spawn(|| panic!("two"));
        group.add(moss::spawn(|| 3));
        assert_eq!(group.len(), 3);
        group
            .join_all()
            .into_iter()
            .map(|r| r.ok())
            .collect::<Vec<_>>()
    });
    assert_eq!(results, [Some(1), None, Some(3)]);
}
