//! Timers: wake-up order, many sleepers, `timeout` and its nesting.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use moss_runtime as moss;

#[test]
fn sleepers_wake_in_deadline_order() {
    let order = moss::run(|| {
        let order = Rc::new(RefCell::new(Vec::new()));
        let delays = [50u64, 10, 40, 0, 30, 20];
        let handles: Vec<_> = delays
            .iter()
            .map(|&ms| {
                let order = Rc::clone(&order);
                moss::spawn(move || {
                    moss::sleep(Duration::from_millis(ms));
                    order.borrow_mut().push(ms);
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        let order = order.borrow().clone();
        order
    });
    assert_eq!(order, [0, 10, 20, 30, 40, 50]);
}

#[test]
fn equal_deadlines_wake_in_arrival_order() {
    let order = moss::run(|| {
        let order = Rc::new(RefCell::new(Vec::new()));
        let at = Instant::now() + Duration::from_millis(5);
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let order = Rc::clone(&order);
                moss::spawn(move || {
                    moss::sleep_until(at);
                    order.borrow_mut().push(i);
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        let order = order.borrow().clone();
        order
    });
    assert_eq!(order, (0..20).collect::<Vec<_>>());
}

#[test]
fn sleep_lasts_at_least_its_duration() {
    let elapsed = moss::run(|| {
        let start = Instant::now();
        moss::sleep(Duration::from_millis(15));
        start.elapsed()
    });
    assert!(elapsed >= Duration::from_millis(15), "{elapsed:?}");
}

#[test]
fn a_hundred_thousand_concurrent_sleepers_complete() {
    let (done, started, parked, done_then) = moss::Hub::builder().stack_size(16 * 1024).run(|| {
        let done = Rc::new(RefCell::new(0u32));
        let started = Rc::new(RefCell::new(0u32));
        let handles: Vec<_> = (0..100_000u32)
            .map(|i| {
                let done = Rc::clone(&done);
                let started = Rc::clone(&started);
                moss::spawn(move || {
                    *started.borrow_mut() += 1;
                    moss::sleep(Duration::from_millis(50 + u64::from(i % 50)));
                    *done.borrow_mut() += 1;
                })
            })
            .collect();
        // The run queue is FIFO: every sleeper starts before the root is
        // back, and each one not done yet sleeps (on its timer, or woken
        // by it and queued behind the root).
        moss::yield_now();
        let started = *started.borrow();
        let parked = moss::stats().timers;
        let done_then = u64::from(*done.borrow());
        for handle in handles {
            handle.join().unwrap();
        }
        let done = *done.borrow();
        (done, started, parked, done_then)
    });
    assert_eq!(done, 100_000);
    assert_eq!(
        started, 100_000,
        "every sleeper started before the root was back"
    );
    assert!(
        parked + done_then <= 100_000 && done_then < 100_000,
        "{parked} timers, {done_then} done"
    );
    assert!(parked > 0);
}

#[test]
fn sleep_outside_a_hub_is_a_plain_sleep() {
    let start = Instant::now();
    moss::sleep(Duration::from_millis(5));
    moss::yield_now();
    assert!(start.elapsed() >= Duration::from_millis(5));
}

#[test]
fn timeout_interrupts_a_sleep_and_runs_destructors() {
    struct Flag(Rc<RefCell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            *self.0.borrow_mut() = true;
        }
    }
    let (result, dropped) = moss::run(|| {
        let dropped = Rc::new(RefCell::new(false));
        let flag = Rc::clone(&dropped);
        let result = moss::timeout(Duration::from_millis(5), move || {
            let _flag = Flag(flag);
            moss::sleep(Duration::from_secs(3600));
            "slept"
        });
        let dropped = *dropped.borrow();
        (result, dropped)
    });
    assert!(result.is_err(), "{result:?}");
    assert!(dropped);
}

#[test]
fn timeout_that_is_not_reached_returns_the_value() {
    let result = moss::run(|| {
        moss::timeout(Duration::from_secs(3600), || {
            moss::sleep(Duration::from_millis(1));
            7
        })
    });
    assert_eq!(result, Ok(7));
}

#[test]
fn nested_timeouts_each_report_their_own() {
    moss::run(|| {
        // The inner deadline is earlier: the inner scope reports it and the
        // outer one goes on.
        let outer = moss::timeout(Duration::from_secs(3600), || {
            let inner = moss::timeout(Duration::from_millis(5), || {
                moss::sleep(Duration::from_secs(3600))
            });
            assert!(inner.is_err());
            "outer finished"
        });
        assert_eq!(outer, Ok("outer finished"));

        // The outer deadline is earlier: the inner scope must not catch it.
        let inner_saw_elapsed = Rc::new(RefCell::new(None));
        let seen = Rc::clone(&inner_saw_elapsed);
        let outer = moss::timeout(Duration::from_millis(5), move || {
            let inner = moss::timeout(Duration::from_secs(3600), || {
                moss::sleep(Duration::from_secs(3600))
            });
            *seen.borrow_mut() = Some(inner.is_err());
        });
        assert!(outer.is_err());
        assert_eq!(
            *inner_saw_elapsed.borrow(),
            None,
            "the outer timeout unwound through the inner scope"
        );
    });
}

#[test]
fn timeout_interrupts_join_but_the_target_runs_on() {
    moss::run(|| {
        let slow = moss::spawn(|| {
            moss::sleep(Duration::from_millis(20));
            "finished"
        });
        let target = slow.thread().clone();
        let result = moss::timeout(Duration::from_millis(1), move || slow.join());
        assert!(result.is_err());
        let _ = target;
        // The detached target is still alive and finishes on its own.
        assert!(moss::stats().alive >= 2);
    });
}

#[test]
fn a_timeout_that_passed_while_computing_strikes_at_the_next_blocking_point() {
    let result = moss::run(|| {
        moss::timeout(Duration::from_millis(2), || {
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(5) {
                std::hint::spin_loop();
            }
            moss::yield_now();
            "not reached"
        })
    });
    assert!(result.is_err());
}

#[test]
fn panics_inside_timeout_propagate_unchanged() {
    let payload = moss::run(|| {
        moss::spawn(|| {
            let _ = moss::timeout(Duration::from_secs(1), || panic!("inner panic"));
        })
        .join()
        .unwrap_err()
        .into_panic()
    });
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"inner panic"));
}

#[test]
fn timeout_outside_a_hub_runs_to_completion() {
    assert_eq!(moss::timeout(Duration::from_millis(1), || 3), Ok(3));
}

#[test]
fn timers_armed_are_counted_and_released() {
    moss::run(|| {
        let sleeper = moss::spawn(|| moss::sleep(Duration::from_secs(3600)));
        moss::yield_now();
        assert_eq!(moss::stats().timers, 1);
        sleeper.kill();
        assert!(sleeper.join().unwrap_err().is_killed());
        assert_eq!(moss::stats().timers, 0);
    });
}
