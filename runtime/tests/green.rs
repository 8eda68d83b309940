//! Green threads: spawn, join, panics, kill, nesting, the root's clean-up.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use moss_runtime as moss;

#[test]
fn join_returns_the_value() {
    let value = moss::run(|| moss::spawn(|| 6 * 7).join().unwrap());
    assert_eq!(value, 42);
}

#[test]
fn run_returns_the_root_value_and_borrows_locals() {
    let mut local = vec![1, 2];
    let len = moss::run(|| {
        local.push(3);
        local.len()
    });
    assert_eq!(len, 3);
    assert_eq!(local, [1, 2, 3]);
}

#[test]
fn join_reports_a_panic_with_its_payload() {
    let err = moss::run(|| {
        moss::spawn(|| -> u32 { panic!("boom") })
            .join()
            .unwrap_err()
    });
    assert!(err.is_panic());
    assert!(!err.is_killed());
    assert!(err.to_string().contains("boom"), "{err}");
    let payload = err.into_panic();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
}

#[test]
fn a_panicking_green_thread_does_not_stop_the_others() {
    let done = moss::run(|| {
        let bad = moss::spawn(|| panic!("one bad apple"));
        let good = moss::spawn(|| {
            moss::yield_now();
            "fine"
        });
        assert!(bad.join().is_err());
        good.join().unwrap()
    });
    assert_eq!(done, "fine");
}

#[test]
#[should_panic(expected = "root failure")]
fn a_panic_in_the_root_propagates_out_of_run() {
    moss::run(|| panic!("root failure"));
}

#[test]
#[should_panic(expected = "nested hubs")]
fn nested_run_is_a_clear_panic() {
    moss::run(|| moss::run(|| ()));
}

struct SetOnDrop(Rc<Cell<bool>>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn kill_of_a_parked_green_thread_runs_destructors() {
    let dropped = Rc::new(Cell::new(false));
    let flag = Rc::clone(&dropped);
    let (killed, reached_end) = moss::run(move || {
        let reached_end = Rc::new(Cell::new(false));
        let end = Rc::clone(&reached_end);
        let handle = moss::spawn(move || {
            let _guard = SetOnDrop(flag);
            moss::sleep(Duration::from_secs(3600));
            end.set(true);
        });
        moss::yield_now(); // let it start and park
        assert!(!handle.is_finished());
        handle.kill();
        let err = handle.join().unwrap_err();
        (err.is_killed(), reached_end.get())
    });
    assert!(killed);
    assert!(
        !reached_end,
        "the killed green thread did not go on after its sleep"
    );
    assert!(dropped.get(), "the killed green thread's destructors ran");
}

#[test]
fn kill_before_start_never_runs_the_function() {
    let ran = moss::run(|| {
        let ran = Rc::new(Cell::new(false));
        let flag = Rc::clone(&ran);
        let handle = moss::spawn(move || flag.set(true));
        handle.kill();
        assert!(handle.join().unwrap_err().is_killed());
        ran.get()
    });
    assert!(!ran);
}

#[test]
fn kill_of_a_running_green_thread_lands_at_its_next_blocking_point() {
    let steps = moss::run(|| {
        let steps = Rc::new(Cell::new(0));
        let counter = Rc::clone(&steps);
        let handle = moss::spawn(move || loop {
            counter.set(counter.get() + 1);
            moss::yield_now();
        });
        for _ in 0..3 {
            moss::yield_now();
        }
        handle.kill();
        assert!(handle.join().unwrap_err().is_killed());
        steps.get()
    });
    assert!(steps >= 3, "it ran until killed ({steps} steps)");
}

#[test]
fn kill_of_a_finished_green_thread_changes_nothing() {
    let value = moss::run(|| {
        let handle = moss::spawn(|| 5);
        moss::yield_now();
        assert!(handle.is_finished());
        handle.kill();
        handle.join().unwrap()
    });
    assert_eq!(value, 5);
}

#[test]
fn spawned_green_threads_spawn_more() {
    fn tree(depth: u32) -> u64 {
        if depth == 0 {
            return 1;
        }
        let left = moss::spawn(move || tree(depth - 1));
        let right = moss::spawn(move || tree(depth - 1));
        left.join().unwrap() + right.join().unwrap()
    }
    assert_eq!(moss::run(|| tree(10)), 1024);
}

#[test]
fn green_threads_alive_when_the_root_returns_are_killed_and_unwound() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let seen = Rc::clone(&log);
    moss::run(move || {
        for i in 0..3 {
            let log = Rc::clone(&seen);
            moss::spawn(move || {
                struct Note(Rc<RefCell<Vec<u32>>>, u32);
                impl Drop for Note {
                    fn drop(&mut self) {
                        self.0.borrow_mut().push(self.1);
                    }
                }
                let _note = Note(log, i);
                moss::sleep(Duration::from_secs(3600));
            });
        }
        moss::yield_now();
    });
    let mut unwound = log.borrow().clone();
    unwound.sort();
    assert_eq!(unwound, [0, 1, 2]);
}

#[test]
fn detached_green_threads_still_run() {
    let hits = moss::run(|| {
        let hits = Rc::new(Cell::new(0));
        for _ in 0..10 {
            let hits = Rc::clone(&hits);
            drop(moss::spawn(move || hits.set(hits.get() + 1)));
        }
        moss::sleep(Duration::from_millis(1));
        hits.get()
    });
    assert_eq!(hits, 10);
}

#[test]
fn names_ids_and_current() {
    moss::run(|| {
        let root = moss::current();
        assert_eq!(root.name(), Some("root"));
        let handle = moss::Builder::new()
            .name("child".into())
            .spawn(|| {
                (
                    moss::current().name().map(str::to_owned),
                    moss::current().id(),
                )
            })
            .unwrap();
        let child_id = handle.thread().id();
        let (name, id) = handle.join().unwrap();
        assert_eq!(name.as_deref(), Some("child"));
        assert_eq!(id, child_id);
        assert_ne!(id, root.id());
    });
    assert!(moss::try_current().is_none());
}

#[test]
fn joining_oneself_is_a_clear_panic() {
    let message = moss::run(|| {
        let slot: Rc<RefCell<Option<moss::JoinHandle<()>>>> = Rc::default();
        let message = Rc::new(RefCell::new(String::new()));
        let (their_slot, their_message) = (Rc::clone(&slot), Rc::clone(&message));
        let handle = moss::spawn(move || {
            let me = their_slot
                .borrow_mut()
                .take()
                .expect("the root stored our handle");
            let payload =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| me.join())).unwrap_err();
            *their_message.borrow_mut() = payload.downcast_ref::<&str>().unwrap_or(&"").to_string();
        });
        *slot.borrow_mut() = Some(handle);
        moss::yield_now();
        let message = message.borrow().clone();
        message
    });
    assert!(message.contains("cannot join itself"), "{message:?}");
}

#[test]
fn spawn_outside_a_hub_is_an_error() {
    let err = moss::Builder::new().spawn(|| ()).unwrap_err();
    assert!(err.to_string().contains("outside a hub"), "{err}");
}

#[test]
fn stats_count_spawns_and_switches() {
    let stats = moss::run(|| {
        for _ in 0..10 {
            moss::spawn(moss::yield_now).join().unwrap();
        }
        moss::stats()
    });
    assert_eq!(stats.spawned, 11);
    assert_eq!(stats.alive, 1);
    assert!(stats.switches >= 20, "{stats:?}");
    assert_eq!(moss::stats(), moss::Stats::default());
}

#[test]
fn every_yield_is_one_turn_and_stats_count_them_at_any_moment() {
    // Lone yields go on without a switch (or through the hub once its
    // budget between two polls is spent); each is one turn, counted at
    // once, wherever the hub is in its budget.
    let (before, after, paired) = moss::run(|| {
        let before = moss::stats().switches;
        for _ in 0..1000 {
            moss::yield_now();
        }
        let after = moss::stats().switches;
        let other = moss::spawn(|| {
            for _ in 0..100 {
                moss::yield_now();
            }
        });
        for _ in 0..100 {
            moss::yield_now();
        }
        other.join().unwrap();
        (before, after, moss::stats().switches)
    });
    assert_eq!(after - before, 1000);
    // Two green threads yielding to each other: a turn each per yield,
    // and the other's first turn.
    assert!(paired - after >= 201, "{before} {after} {paired}");
}

#[test]
fn hubs_on_several_os_threads_are_independent() {
    let threads: Vec<_> = (0..2)
        .map(|t| {
            std::thread::spawn(move || {
                moss::run(move || {
                    let handles: Vec<_> = (0..100).map(|i| moss::spawn(move || i * t)).collect();
                    handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
                })
            })
        })
        .collect();
    let sums: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(sums, [0, 4950]);
}

#[test]
fn a_closure_that_captures_a_large_value_can_be_spawned_and_run() {
    let big = [7u8; 4096];
    let sum = moss::run(move || {
        let inner = [3u8; 8192];
        let spawned = moss::spawn(move || inner.iter().map(|&b| u64::from(b)).sum::<u64>());
        spawned.join().unwrap() + big.iter().map(|&b| u64::from(b)).sum::<u64>()
    });
    assert_eq!(sum, 3 * 8192 + 7 * 4096);
}

#[test]
fn results_of_every_size_and_alignment_are_joined() {
    #[derive(Debug, PartialEq)]
    #[repr(align(64))]
    struct Aligned(u8);
    moss::run(|| {
        assert_eq!(moss::spawn(|| 7u8).join().unwrap(), 7);
        moss::spawn(|| ()).join().unwrap();
        let text = moss::spawn(|| String::from("moss")).join().unwrap();
        assert_eq!(text, "moss");
        let wide = moss::spawn(|| [9u64; 16]).join().unwrap();
        assert_eq!(wide, [9; 16]);
        let aligned = moss::spawn(|| Aligned(5)).join().unwrap();
        assert_eq!(aligned, Aligned(5));
        assert_eq!(std::ptr::from_ref(&aligned) as usize % 64, 0);
        let shared = Rc::new(3);
        let theirs = Rc::clone(&shared);
        let back = moss::spawn(move || theirs).join().unwrap();
        assert!(Rc::ptr_eq(&back, &shared));
    });
}

/// Records, when dropped, the green thread it was dropped in.
struct DropsIn(Rc<RefCell<Vec<Option<u64>>>>);

impl Drop for DropsIn {
    fn drop(&mut self) {
        let id = moss::try_current().map(|me| me.id().as_u64().get());
        self.0.borrow_mut().push(id);
    }
}

#[test]
fn a_result_is_dropped_once_where_its_owner_lets_go_of_it() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let seen = Rc::clone(&log);
    let (root, detached_early) = moss::run(move || {
        let root = moss::current().id().as_u64().get();
        // Joined: the joiner owns it.
        let joined = moss::spawn({
            let log = Rc::clone(&seen);
            move || DropsIn(log)
        });
        drop(joined.join().unwrap());
        // The handle dropped before the green thread ends: dropped as it
        // ends, in that green thread (where its destructor may block).
        let early = moss::spawn({
            let log = Rc::clone(&seen);
            move || {
                moss::yield_now();
                DropsIn(log)
            }
        });
        let early_id = early.thread().id().as_u64().get();
        drop(early);
        moss::sleep(Duration::from_millis(1));
        // The handle dropped after it ended: dropped with the handle.
        let late = moss::spawn({
            let log = Rc::clone(&seen);
            move || DropsIn(log)
        });
        moss::sleep(Duration::from_millis(1));
        assert!(late.is_finished());
        assert_eq!(seen.borrow().len(), 2);
        drop(late);
        (root, early_id)
    });
    assert_eq!(
        *log.borrow(),
        [Some(root), Some(detached_early), Some(root)]
    );
}

#[test]
fn a_forgotten_handle_leaks_its_result_like_std() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let seen = Rc::clone(&log);
    moss::run(move || {
        let handle = moss::spawn(move || DropsIn(seen));
        moss::sleep(Duration::from_millis(1));
        assert!(handle.is_finished());
        std::mem::forget(handle);
    });
    // The handle held the record, and the record the result: both leak,
    // as a forgotten `std::thread::JoinHandle` leaks its result.
    assert!(log.borrow().is_empty());
    assert_eq!(Rc::strong_count(&log), 2);
}

#[test]
fn a_detached_result_whose_destructor_blocks_and_panics_ends_its_green_thread_cleanly() {
    struct SleepsThenPanics(Rc<Cell<bool>>);
    impl Drop for SleepsThenPanics {
        fn drop(&mut self) {
            moss::sleep(Duration::from_millis(1));
            self.0.set(true);
            panic!("the result's destructor panicked");
        }
    }
    let dropped = moss::run(|| {
        let dropped = Rc::new(Cell::new(false));
        let theirs = Rc::clone(&dropped);
        drop(moss::spawn(move || {
            moss::yield_now();
            SleepsThenPanics(theirs)
        }));
        moss::sleep(Duration::from_millis(20));
        // The hub goes on.
        assert_eq!(moss::spawn(|| 1).join().unwrap(), 1);
        dropped.get()
    });
    assert!(dropped);
}

#[test]
fn results_of_function_pointer_types_are_joined() {
    // Higher-ranked and plain function pointers have distinct types; the
    // handle finds the one its green thread stored.
    fn first(bytes: &u8) -> u8 {
        *bytes
    }
    let value = moss::run(|| {
        let handle: moss::JoinHandle<for<'a> fn(&'a u8) -> u8> =
            moss::spawn(|| first as fn(&u8) -> u8);
        let f = handle.join().unwrap();
        f(&7)
    });
    assert_eq!(value, 7);
}
