//! The switch between green threads: hand-offs keep the run queue's order,
//! the hub still gets its turn, green threads that exit give their stacks
//! back, bodies of every size and alignment arrive intact, and a backtrace
//! taken in a green thread ends at its first frame.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use moss_runtime as moss;

mod util;

#[test]
fn green_threads_that_yield_take_turns_in_spawn_order() {
    let order = moss::run(|| {
        let log = Rc::new(RefCell::new(Vec::new()));
        let handles: Vec<_> = (0..3)
            .map(|id| {
                let log = Rc::clone(&log);
                moss::spawn(move || {
                    for round in 0..4 {
                        log.borrow_mut().push((round, id));
                        moss::yield_now();
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        Rc::try_unwrap(log).unwrap().into_inner()
    });
    let expected: Vec<_> = (0..4)
        .flat_map(|round| (0..3).map(move |id| (round, id)))
        .collect();
    assert_eq!(order, expected);
}

/// Green threads that always have another to hand off to never need the
/// hub; it must still get its turn to fire timers and collect work done on
/// other OS threads. Without that the scenario hangs, so it runs in a child
/// process under a watchdog.
#[test]
fn timers_and_offload_work_complete_while_green_threads_keep_handing_off() {
    in_child(
        "timers_and_offload_work_complete_while_green_threads_keep_handing_off",
        timers_and_offload_scenario,
    );
}

/// Runs `scenario` in a child process (this test binary again) under a
/// watchdog, and asserts that it passed: for scenarios whose failure
/// hangs or crashes.
fn in_child(name: &str, scenario: impl FnOnce()) {
    const VAR: &str = "MOSS_SWITCH_CHILD";
    if std::env::var(VAR).as_deref() == Ok(name) {
        scenario();
        return;
    }
    let outcome = util::run_child(name, &[(VAR, name)]);
    assert!(
        outcome.status.success(),
        "{name}: {}\n{}",
        outcome.status,
        outcome.stderr
    );
}

fn timers_and_offload_scenario() {
    let (slept, offloaded) = moss::run(|| {
        let stop = Rc::new(Cell::new(false));
        let spinners: Vec<_> = (0..2)
            .map(|_| {
                let stop = Rc::clone(&stop);
                moss::spawn(move || {
                    while !stop.get() {
                        moss::yield_now();
                    }
                })
            })
            .collect();
        let sleeper = moss::spawn(|| moss::sleep(Duration::from_millis(20)));
        let offloaded = moss::spawn_blocking(|| 6 * 7);
        let slept = sleeper.join().is_ok();
        stop.set(true);
        for spinner in spinners {
            spinner.join().unwrap();
        }
        (slept, offloaded)
    });
    assert!(slept);
    assert_eq!(offloaded, 42);
}

/// What a destructor run while a green thread ends may do: ask for the
/// counters (which gives back the stack of a green thread that exited),
/// yield, spawn. A record of an exited green thread must never be dropped
/// on the stack of another that has retired: there such code would give
/// back the stack it runs on (a crash, hence the child process).
#[derive(Clone, Copy)]
enum Act {
    Stats,
    Yield,
    Sleep,
    StatsThenSpawn,
    Panic,
}

thread_local! {
    static ACT: Cell<Act> = const { Cell::new(Act::Stats) };
    /// Where the acting destructor ran: inside a green thread or not.
    static ACTED_IN_GREEN: Cell<Option<bool>> = const { Cell::new(None) };
    /// Whether a hub was installed when it ran.
    static ACTED_WITH_HUB: Cell<Option<bool>> = const { Cell::new(None) };
    /// Generations of `Chain` still to create.
    static CHAIN_LEFT: Cell<u32> = const { Cell::new(0) };
}

struct Acts;

impl Drop for Acts {
    fn drop(&mut self) {
        ACTED_IN_GREEN.with(|cell| cell.set(Some(moss::in_green_thread())));
        ACTED_WITH_HUB.with(|cell| cell.set(Some(moss::stats().spawned != 0)));
        match ACT.with(Cell::get) {
            Act::Stats => {
                let _ = moss::stats();
            }
            Act::Yield => moss::yield_now(),
            Act::Sleep => moss::sleep(Duration::from_millis(1)),
            Act::Panic => panic!("Acts dropped"),
            Act::StatsThenSpawn => {
                let _ = moss::stats();
                let bytes = [0x5au8; 480];
                drop(moss::spawn(move || {
                    assert_eq!(bytes.iter().map(|&b| u32::from(b)).sum::<u32>(), 480 * 0x5a);
                }));
            }
        }
    }
}

static ACTS: moss::GreenLocal<RefCell<Option<Acts>>> = moss::GreenLocal::new(|| RefCell::new(None));

/// Creates `ACTS` the first time while the locals are being dropped.
struct CreatesActs;

impl Drop for CreatesActs {
    fn drop(&mut self) {
        ACTS.with(|acts| *acts.borrow_mut() = Some(Acts));
    }
}

static CREATES_ACTS: moss::GreenLocal<RefCell<Option<CreatesActs>>> =
    moss::GreenLocal::new(|| RefCell::new(None));

/// A local whose destructor sets itself again, `CHAIN_LEFT` times, then
/// sets `ACTS`: with 3, `ACTS` is set in the fourth and last round of
/// drops at a green thread's end, and left in its record (see
/// [`leave_acts_in_the_record`]).
struct Chain;

impl Drop for Chain {
    fn drop(&mut self) {
        let left = CHAIN_LEFT.with(Cell::get);
        if left == 0 {
            ACTS.with(|acts| *acts.borrow_mut() = Some(Acts));
        } else {
            CHAIN_LEFT.with(|cell| cell.set(left - 1));
            CHAIN.with(|chain| *chain.borrow_mut() = Some(Chain));
        }
    }
}

static CHAIN: moss::GreenLocal<RefCell<Option<Chain>>> =
    moss::GreenLocal::new(|| RefCell::new(None));

/// A detached green thread leaves locals behind through `set_up`, then
/// another exits by handing off; returns the green threads alive at the
/// end and where `Acts` ran.
fn leftover_scenario(act: Act, set_up: fn()) -> (u64, Option<bool>) {
    ACT.with(|cell| cell.set(act));
    let alive = moss::run(move || {
        drop(moss::spawn(set_up));
        drop(moss::spawn(|| ()));
        moss::yield_now();
        moss::sleep(Duration::from_millis(10));
        moss::stats().alive
    });
    (alive, ACTED_IN_GREEN.with(Cell::get))
}

#[test]
fn locals_that_destructors_create_are_dropped_inside_the_green_thread() {
    in_child(
        "locals_that_destructors_create_are_dropped_inside_the_green_thread",
        || {
            for act in [Act::Stats, Act::Yield, Act::StatsThenSpawn] {
                let outcome = leftover_scenario(act, || {
                    CREATES_ACTS.with(|slot| *slot.borrow_mut() = Some(CreatesActs));
                });
                assert_eq!(outcome, (1, Some(true)));
            }
        },
    );
}

#[test]
fn locals_left_after_every_round_are_dropped_on_the_hub_not_on_a_retired_stack() {
    in_child(
        "locals_left_after_every_round_are_dropped_on_the_hub_not_on_a_retired_stack",
        || {
            for act in [Act::Stats, Act::Yield, Act::StatsThenSpawn] {
                CHAIN_LEFT.with(|cell| cell.set(3));
                let outcome = leftover_scenario(act, || {
                    CHAIN.with(|chain| *chain.borrow_mut() = Some(Chain));
                });
                assert_eq!(outcome, (1, Some(false)));
            }
        },
    );
}

#[test]
fn green_threads_that_exit_while_others_are_ready_give_their_stacks_back() {
    // The root and two more: every spawn below needs the stack of a green
    // thread that exited by handing off to another.
    moss::Hub::builder().max_stacks(3).run(|| {
        for _ in 0..100 {
            let first = moss::spawn(moss::yield_now);
            let second = moss::spawn(moss::yield_now);
            first.join().unwrap();
            second.join().unwrap();
        }
        assert_eq!(moss::stats().stacks, 1);
        assert_eq!(moss::stats().alive, 1);
    });
}

#[test]
fn a_green_thread_finishing_first_hands_off_and_the_rest_still_run() {
    let log = moss::run(|| {
        let log = Rc::new(RefCell::new(Vec::new()));
        let short = {
            let log = Rc::clone(&log);
            moss::spawn(move || log.borrow_mut().push("short"))
        };
        let long = {
            let log = Rc::clone(&log);
            moss::spawn(move || {
                for _ in 0..3 {
                    moss::yield_now();
                }
                log.borrow_mut().push("long");
                7
            })
        };
        short.join().unwrap();
        assert_eq!(long.join().unwrap(), 7);
        Rc::try_unwrap(log).unwrap().into_inner()
    });
    assert_eq!(log, ["short", "long"]);
}

#[test]
fn bodies_of_every_size_and_alignment_arrive_intact() {
    #[repr(align(128))]
    struct Aligned([u8; 128]);
    moss::run(|| {
        // Moved onto the new stack as it is (under the inline limit).
        let inline = [7u8; 480];
        let sum = moss::spawn(move || inline.iter().map(|&b| u32::from(b)).sum::<u32>());
        assert_eq!(sum.join().unwrap(), 7 * 480);
        // Over the limit: boxed.
        let boxed = vec![3u8; 4096].into_boxed_slice();
        let big = [5u8; 2048];
        let sum = moss::spawn(move || {
            boxed.iter().map(|&b| u32::from(b)).sum::<u32>()
                + big.iter().map(|&b| u32::from(b)).sum::<u32>()
        });
        assert_eq!(sum.join().unwrap(), 3 * 4096 + 5 * 2048);
        // More aligned than the stack's 16 bytes: boxed, and still aligned
        // (on several stacks at once, whose tops lie at different offsets).
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let aligned = Aligned([9; 128]);
                moss::spawn(move || {
                    moss::yield_now();
                    let at = std::ptr::from_ref(&aligned) as usize;
                    at % 128 == 0 && aligned.0.iter().all(|&b| b == 9)
                })
            })
            .collect();
        for handle in handles {
            assert!(handle.join().unwrap());
        }
    });
}

#[test]
fn a_backtrace_taken_in_a_green_thread_ends_at_its_first_frame() {
    #[inline(never)]
    fn capture_in_a_green_thread() -> String {
        std::backtrace::Backtrace::force_capture().to_string()
    }
    let trace = moss::run(|| moss::spawn(capture_in_a_green_thread).join().unwrap());
    assert!(trace.contains("capture_in_a_green_thread"), "{trace}");
    let frames: Vec<&str> = trace
        .lines()
        .filter(|line| {
            let line = line.trim_start();
            line.split_once(": ")
                .is_some_and(|(index, _)| index.parse::<u32>().is_ok())
        })
        .collect();
    let last = frames.last().expect("frames");
    assert!(last.contains("context::trampoline"), "{trace}");
}

/// Leaves an `Acts` in the running green thread's record, past every
/// round of drops at its end.
fn leave_acts_in_the_record() {
    CHAIN_LEFT.with(|cell| cell.set(3));
    CHAIN.with(|chain| *chain.borrow_mut() = Some(Chain));
}

/// A green thread whose join was cut short by a timeout stays in its
/// target's join slot (a stale unparker: a handle on its record) and ends
/// with locals left; the target later retires and hands off, dropping that
/// last handle on its own retired stack.
#[test]
fn a_record_whose_last_handle_is_a_stale_joiner_leaves_its_locals_to_the_hub() {
    in_child(
        "a_record_whose_last_handle_is_a_stale_joiner_leaves_its_locals_to_the_hub",
        || {
            for act in [Act::Stats, Act::Yield, Act::Sleep, Act::StatsThenSpawn] {
                ACT.with(|cell| cell.set(act));
                ACTED_IN_GREEN.with(|cell| cell.set(None));
                let alive = moss::run(|| {
                    let target = moss::spawn(|| moss::sleep(Duration::from_millis(40)));
                    drop(moss::spawn(move || {
                        let joined = moss::timeout(Duration::from_millis(5), move || target.join());
                        assert!(joined.is_err());
                        leave_acts_in_the_record();
                    }));
                    moss::sleep(Duration::from_millis(80));
                    moss::stats().alive
                });
                // The root, and whatever `Acts` spawned: never a green thread
                // lost from the hub's table by a second retirement.
                assert!(alive >= 1);
                assert_eq!(ACTED_IN_GREEN.with(Cell::get), Some(false));
            }
        },
    );
}

/// A killed sleeper's stale timer entry is the last handle on its record,
/// which has locals left; the timer heap drops it while compacting, in
/// the middle of another green thread's park.
#[test]
fn a_record_whose_last_handle_is_a_stale_timer_leaves_its_locals_to_the_hub() {
    in_child(
        "a_record_whose_last_handle_is_a_stale_timer_leaves_its_locals_to_the_hub",
        || {
            for act in [Act::Stats, Act::Sleep] {
                ACT.with(|cell| cell.set(act));
                ACTED_IN_GREEN.with(|cell| cell.set(None));
                moss::run(|| {
                    let keeper = moss::spawn(|| moss::sleep(Duration::from_millis(300)));
                    let left = moss::spawn(|| {
                        leave_acts_in_the_record();
                        moss::sleep(Duration::from_secs(100));
                    });
                    let sleepers: Vec<_> = (0..70)
                        .map(|_| moss::spawn(|| moss::sleep(Duration::from_secs(100))))
                        .collect();
                    moss::yield_now();
                    left.kill();
                    sleepers.iter().for_each(moss::JoinHandle::kill);
                    drop(left);
                    drop(sleepers);
                    moss::yield_now();
                    moss::yield_now();
                    // Arms a timer: the heap, mostly dead entries, compacts.
                    moss::sleep(Duration::from_millis(10));
                    keeper.join().unwrap();
                });
                assert_eq!(ACTED_IN_GREEN.with(Cell::get), Some(false));
            }
        },
    );
}

/// The timer heap compacts when most of its entries are dead; the entry
/// of the park that triggers it must survive (it is armed only after it
/// is inserted). Lost, the root's sleep never ends: a deadlock panic.
#[test]
fn a_sleep_that_compacts_the_timer_heap_still_wakes() {
    in_child("a_sleep_that_compacts_the_timer_heap_still_wakes", || {
        moss::run(|| {
            // A live timer above the dead ones, so the hub does not pop them.
            let keeper = moss::spawn(|| moss::sleep(Duration::from_millis(500)));
            let sleepers: Vec<_> = (0..70)
                .map(|_| moss::spawn(|| moss::sleep(Duration::from_secs(100))))
                .collect();
            moss::yield_now();
            sleepers.iter().for_each(moss::JoinHandle::kill);
            drop(sleepers);
            moss::yield_now();
            moss::sleep(Duration::from_millis(10));
            keeper.kill();
        });
    });
}

/// Left-over locals whose destructors panic, dropped by the hub: logged,
/// and `run` still returns the root's value.
#[test]
fn a_panic_in_a_left_over_local_does_not_reach_run() {
    in_child("a_panic_in_a_left_over_local_does_not_reach_run", || {
        ACT.with(|cell| cell.set(Act::Panic));
        let value = moss::run(|| {
            for _ in 0..3 {
                drop(moss::spawn(leave_acts_in_the_record));
            }
            drop(moss::spawn(|| ()));
            moss::yield_now();
            moss::sleep(Duration::from_millis(10));
            7
        });
        assert_eq!(value, 7);
    });
}

/// The root's own left-over locals, and those of a green thread killed
/// in a sleep when the root returned (its stale timer entry holds its
/// record): dropped by the hub while it is still installed, where a
/// destructor may spawn, and a panic of theirs does not reach `run`.
#[test]
fn left_over_locals_at_teardown_are_dropped_while_the_hub_is_installed() {
    in_child(
        "left_over_locals_at_teardown_are_dropped_while_the_hub_is_installed",
        || {
            for act in [Act::Stats, Act::StatsThenSpawn, Act::Panic] {
                ACT.with(|cell| cell.set(act));
                ACTED_WITH_HUB.with(|cell| cell.set(None));
                let value = moss::run(|| {
                    leave_acts_in_the_record();
                    7
                });
                assert_eq!(value, 7);
                assert_eq!(ACTED_WITH_HUB.with(Cell::get), Some(true));

                ACTED_WITH_HUB.with(|cell| cell.set(None));
                let value = moss::run(|| {
                    drop(moss::spawn(|| {
                        leave_acts_in_the_record();
                        moss::sleep(Duration::from_secs(100));
                    }));
                    moss::yield_now();
                    8
                });
                assert_eq!(value, 8);
                assert_eq!(ACTED_WITH_HUB.with(Cell::get), Some(true));

                // The trace sends every switch through the hub: the last
                // green thread to finish is retired there.
                ACTED_WITH_HUB.with(|cell| cell.set(None));
                let value = moss::Hub::builder().trace(true).run(|| {
                    drop(moss::spawn(|| {
                        leave_acts_in_the_record();
                        moss::sleep(Duration::from_millis(20));
                    }));
                    moss::yield_now();
                    9
                });
                assert_eq!(value, 9);
                assert_eq!(ACTED_WITH_HUB.with(Cell::get), Some(true));
            }
        },
    );
}

/// A root that panics with a left-over local that panics too: the root's
/// panic reaches the caller of `run`, and the process does not abort.
#[test]
fn a_root_panic_with_a_left_over_local_that_panics_reaches_the_caller() {
    in_child(
        "a_root_panic_with_a_left_over_local_that_panics_reaches_the_caller",
        || {
            ACT.with(|cell| cell.set(Act::Panic));
            let outcome = std::panic::catch_unwind(|| {
                moss::run(|| {
                    leave_acts_in_the_record();
                    panic!("the root");
                })
            });
            let payload = outcome.expect_err("the root panicked");
            assert_eq!(payload.downcast_ref::<&str>(), Some(&"the root"));
        },
    );
}
