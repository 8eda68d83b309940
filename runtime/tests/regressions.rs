//! Regressions of the unwinding paths: kill, timeout, panics and teardown.
//!
//! Each scenario runs in a child process (this test binary, re-executed
//! with the scenario's name) under a watchdog, because the bugs they pin
//! froze the hub at 100 % CPU, hung it, or aborted the process.

use std::cell::{Cell, RefCell};
use std::io::{self, BufWriter, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use moss::io::{Interest, Registration};
use moss::sync::{Event, Mutex};
use moss_runtime as moss;

mod util;

/// Each scenario runs in a child process (see the module docs).
mod child {
    use super::util::{run_child, ChildRun};

    const VAR: &str = "MOSS_REGRESSION_CHILD";

    /// Runs `scenario` in a child process, when this process is not that
    /// child already (then it runs it and returns `None`).
    pub fn run(name: &str, scenario: impl FnOnce()) -> Option<ChildRun> {
        if std::env::var(VAR).as_deref() == Ok(name) {
            scenario();
            return None;
        }
        Some(run_child(name, &[(VAR, name)]))
    }

    /// [`run`], asserting that the child passed.
    pub fn passes(name: &str, scenario: impl FnOnce()) {
        if let Some(outcome) = run(name, scenario) {
            assert!(
                outcome.status.success(),
                "scenario {name} failed ({}); stderr:\n{}",
                outcome.status,
                outcome.stderr
            );
        }
    }
}

/// Panics when dropped.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("PanicsOnDrop dropped");
    }
}

#[test]
fn a_panic_escaping_a_green_thread_leaves_no_dangling_running_pointer() {
    child::passes(
        "a_panic_escaping_a_green_thread_leaves_no_dangling_running_pointer",
        || {
            static LOCAL: moss::GreenLocal<Cell<u32>> = moss::GreenLocal::new(|| Cell::new(0));
            let killed_before_start = moss::run(|| {
                // Killed before it starts: its closure, which owns a value
                // that panics when dropped, is dropped unrun.
                let captured = PanicsOnDrop;
                let handle = moss::spawn(move || drop(captured));
                handle.kill();
                let killed = handle.join().unwrap_err().is_killed();
                // Detached: its result panics when dropped with the packet.
                drop(moss::spawn(|| PanicsOnDrop));
                // Detached: its panic payload panics when dropped.
                drop(moss::spawn(|| panic::panic_any(PanicsOnDrop)));
                moss::yield_now();
                moss::yield_now();
                killed
            });
            assert!(killed_before_start);
            assert!(
                moss::try_current().is_none(),
                "a dangling running green thread"
            );
            LOCAL.with(|value| value.set(7));
            assert_eq!(LOCAL.with(Cell::get), 7);
        },
    );
}

/// Kills and joins its child when dropped: structured concurrency by hand.
struct Reaper {
    child: Option<moss::JoinHandle<()>>,
    joined: Rc<Cell<Option<bool>>>,
}

impl Drop for Reaper {
    fn drop(&mut self) {
        let child = self.child.take().unwrap();
        child.kill();
        self.joined.set(Some(child.join().unwrap_err().is_killed()));
    }
}

#[test]
fn join_in_a_destructor_while_a_timeout_unwinds_waits_instead_of_spinning() {
    child::passes(
        "join_in_a_destructor_while_a_timeout_unwinds_waits_instead_of_spinning",
        || {
            moss::run(|| {
                let joined = Rc::new(Cell::new(None));
                let reaped = Rc::clone(&joined);
                let result = moss::timeout(Duration::from_millis(5), move || {
                    let _reaper = Reaper {
                        child: Some(moss::spawn(|| moss::sleep(Duration::from_secs(3600)))),
                        joined: reaped,
                    };
                    moss::sleep(Duration::from_secs(3600));
                });
                assert!(result.is_err());
                assert_eq!(joined.get(), Some(true), "the child joined as killed");
            });
        },
    );
}

/// A `Write` over a green Unix socket, like `moss::net`'s streams.
struct GreenSocket {
    registration: Registration,
    socket: UnixStream,
}

impl GreenSocket {
    fn new(socket: UnixStream) -> GreenSocket {
        socket.set_nonblocking(true).unwrap();
        GreenSocket {
            registration: Registration::new(socket.as_fd()).unwrap(),
            socket,
        }
    }
}

impl Write for GreenSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let socket = &mut self.socket;
        self.registration
            .do_io(Interest::Writable, None, || socket.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes a buffer larger than the socket buffer when dropped (the peer
/// never reads) and records the error the write got.
struct FlushOnDrop {
    socket: GreenSocket,
    error: Rc<RefCell<Option<io::Error>>>,
}

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        let result = self.socket.write_all(&vec![0; 16 << 20]);
        *self.error.borrow_mut() = result.err();
    }
}

#[test]
fn io_in_a_destructor_while_a_timeout_unwinds_fails_instead_of_spinning() {
    child::passes(
        "io_in_a_destructor_while_a_timeout_unwinds_fails_instead_of_spinning",
        || {
            moss::run(|| {
                let (a, _peer) = UnixStream::pair().unwrap();
                let error = Rc::new(RefCell::new(None));
                let seen = Rc::clone(&error);
                let result = moss::timeout(Duration::from_millis(5), move || {
                    let _flush = FlushOnDrop {
                        socket: GreenSocket::new(a),
                        error: seen,
                    };
                    moss::sleep(Duration::from_secs(3600));
                });
                assert!(result.is_err());
                let error = error.borrow_mut().take().expect("the write failed");
                assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
            });
        },
    );
}

#[test]
fn a_bufwriter_dropped_by_a_killed_green_thread_fails_with_ecanceled() {
    child::passes(
        "a_bufwriter_dropped_by_a_killed_green_thread_fails_with_ecanceled",
        || {
            moss::run(|| {
                let (a, _peer) = UnixStream::pair().unwrap();
                let (b, _peer_b) = UnixStream::pair().unwrap();
                let error = Rc::new(RefCell::new(None));
                let seen = Rc::clone(&error);
                let victim = moss::spawn(move || {
                    // std's BufWriter retries `Interrupted` forever in its
                    // drop; it must see a real error instead.
                    let mut writer = BufWriter::with_capacity(32 << 20, GreenSocket::new(b));
                    writer.write_all(&vec![0; 16 << 20]).unwrap();
                    let _flush = FlushOnDrop {
                        socket: GreenSocket::new(a),
                        error: seen,
                    };
                    moss::sleep(Duration::from_secs(3600));
                });
                moss::yield_now();
                victim.kill();
                assert!(victim.join().unwrap_err().is_killed());
                let error = error.borrow_mut().take().expect("the write failed");
                assert_eq!(error.raw_os_error(), Some(libc::ECANCELED), "{error}");
            });
        },
    );
}

/// Waits on an event when dropped: a destructor that blocks.
struct WaitsOnDrop(Rc<Event>);

impl Drop for WaitsOnDrop {
    fn drop(&mut self) {
        self.0.wait();
    }
}

#[test]
fn a_green_thread_suspended_mid_unwind_does_not_shield_the_others() {
    child::passes(
        "a_green_thread_suspended_mid_unwind_does_not_shield_the_others",
        || {
            moss::run(|| {
                let release = Rc::new(Event::new());
                let guard = WaitsOnDrop(Rc::clone(&release));
                let unwinding = moss::spawn(move || {
                    let _guard = guard;
                    panic!("unwinds, then blocks in a destructor");
                });
                moss::yield_now();
                assert!(!unwinding.is_finished(), "suspended in its destructor");

                // Another green thread's timeout and kill still unwind it,
                // and its sleep still sleeps.
                let elapsed = moss::timeout(Duration::from_millis(2), || {
                    moss::sleep(Duration::from_secs(3600));
                });
                assert!(elapsed.is_err(), "the sleep returned early");
                let sleeper = moss::spawn(|| moss::sleep(Duration::from_secs(3600)));
                moss::yield_now();
                sleeper.kill();
                assert!(sleeper.join().unwrap_err().is_killed());

                release.set();
                assert!(unwinding.join().unwrap_err().is_panic());
            });
        },
    );
}

#[test]
fn a_killed_io_waiter_does_not_hide_a_later_deadlock() {
    child::passes("a_killed_io_waiter_does_not_hide_a_later_deadlock", || {
        let outcome = panic::catch_unwind(|| {
            moss::run(|| {
                let (a, _peer) = UnixStream::pair().unwrap();
                a.set_nonblocking(true).unwrap();
                let reader = moss::spawn(move || {
                    let registration = Registration::new(a.as_fd()).unwrap();
                    registration.wait(Interest::Readable, None)
                });
                moss::yield_now();
                reader.kill();
                assert!(reader.join().unwrap_err().is_killed());
                // A real deadlock: it must be reported, not waited on.
                Event::new().wait();
            })
        });
        let payload = outcome.expect_err("the deadlock is reported");
        let message = payload.downcast_ref::<String>().unwrap();
        assert!(message.contains("moss: deadlock"), "{message}");
    });
}

#[test]
fn a_deadlock_panic_reaches_the_caller_after_destructors_that_join_and_lock() {
    let outcome = child::run(
        "a_deadlock_panic_reaches_the_caller_after_destructors_that_join_and_lock",
        || {
            let joined = Rc::new(Cell::new(None));
            let locked = Rc::new(Cell::new(false));
            let (joined_seen, locked_seen) = (Rc::clone(&joined), Rc::clone(&locked));
            let outcome = panic::catch_unwind(AssertUnwindSafe(move || {
                moss::run(move || {
                    let never = Rc::new(Event::new());
                    let mutex = Rc::new(Mutex::new(0));
                    // Holds the lock and waits forever.
                    let holder = {
                        let (never, mutex) = (Rc::clone(&never), Rc::clone(&mutex));
                        moss::spawn(move || {
                            let _guard = mutex.lock();
                            never.wait();
                        })
                    };
                    moss::yield_now();
                    // Its destructors lock the contended mutex and join.
                    struct LocksOnDrop(Rc<Mutex<i32>>, Rc<Cell<bool>>);
                    impl Drop for LocksOnDrop {
                        fn drop(&mut self) {
                            *self.0.lock() += 1;
                            self.1.set(true);
                        }
                    }
                    let _waiter = {
                        let never = Rc::clone(&never);
                        let lock_guard = LocksOnDrop(Rc::clone(&mutex), locked_seen);
                        let reaper = Reaper {
                            child: Some(holder),
                            joined: joined_seen,
                        };
                        moss::spawn(move || {
                            let _lock_guard = lock_guard;
                            let _reaper = reaper;
                            never.wait();
                        })
                    };
                    never.wait();
                })
            }));
            let payload = outcome.expect_err("the deadlock is reported");
            let message = payload.downcast_ref::<String>().unwrap();
            assert!(message.contains("moss: deadlock"), "{message}");
            assert_eq!(joined.get(), Some(true), "the holder joined as killed");
            assert!(locked.get(), "the destructor got the lock");
        },
    );
    if let Some(outcome) = outcome {
        assert!(
            outcome.status.success(),
            "{}; stderr:\n{}",
            outcome.status,
            outcome.stderr
        );
    }
}

#[test]
fn a_destructor_waiting_forever_at_teardown_is_leaked_not_aborted() {
    child::passes(
        "a_destructor_waiting_forever_at_teardown_is_leaked_not_aborted",
        || {
            let value = moss::run(|| {
                let never = Rc::new(Event::new());
                let guard = WaitsOnDrop(Rc::clone(&never));
                moss::spawn(move || {
                    let _guard = guard;
                    moss::sleep(Duration::from_secs(3600));
                });
                moss::yield_now();
                42
            });
            assert_eq!(value, 42);
        },
    );
}

#[test]
fn green_threads_spawned_during_teardown_start_killed() {
    child::passes("green_threads_spawned_during_teardown_start_killed", || {
        let ran = Rc::new(Cell::new(false));
        let seen = Rc::clone(&ran);
        moss::run(move || {
            struct SpawnsOnDrop(Rc<Cell<bool>>);
            impl Drop for SpawnsOnDrop {
                fn drop(&mut self) {
                    let ran = Rc::clone(&self.0);
                    // Would loop forever if it ran.
                    drop(moss::spawn(move || loop {
                        ran.set(true);
                        moss::sleep(Duration::from_millis(1));
                    }));
                }
            }
            let guard = SpawnsOnDrop(seen);
            moss::spawn(move || {
                let _guard = guard;
                moss::sleep(Duration::from_secs(3600));
            });
            moss::yield_now();
        });
        assert!(!ran.get());
    });
}

#[test]
fn run_called_from_a_destructor_during_a_panic_still_delivers_kills_and_timeouts() {
    child::passes(
        "run_called_from_a_destructor_during_a_panic_still_delivers_kills_and_timeouts",
        || {
            struct RunsAHub(Rc<Cell<bool>>);
            impl Drop for RunsAHub {
                fn drop(&mut self) {
                    let ok = moss::run(|| {
                        let sleeper = moss::spawn(|| moss::sleep(Duration::from_secs(3600)));
                        moss::yield_now();
                        sleeper.kill();
                        let killed = sleeper.join().unwrap_err().is_killed();
                        let elapsed = moss::timeout(Duration::from_millis(1), || {
                            moss::sleep(Duration::from_secs(3600))
                        })
                        .is_err();
                        killed && elapsed
                    });
                    self.0.set(ok);
                }
            }
            let ok = Rc::new(Cell::new(false));
            let seen = Rc::clone(&ok);
            let outcome = panic::catch_unwind(AssertUnwindSafe(move || {
                let _hub = RunsAHub(seen);
                panic!("unwinds through a destructor that runs a hub");
            }));
            assert!(outcome.is_err());
            assert!(ok.get());
        },
    );
}

#[test]
fn a_kill_does_not_cut_short_a_destructor_waiting_for_a_green_thread() {
    child::passes(
        "a_kill_does_not_cut_short_a_destructor_waiting_for_a_green_thread",
        || {
            moss::run(|| {
                let joined = Rc::new(Cell::new(None));
                let reaped = Rc::clone(&joined);
                let victim = moss::spawn(move || {
                    let _reaper = Reaper {
                        // Unwinds slowly: its own destructor sleeps.
                        child: Some(moss::spawn(|| {
                            struct SleepsOnDrop;
                            impl Drop for SleepsOnDrop {
                                fn drop(&mut self) {
                                    moss::sleep(Duration::from_millis(5));
                                }
                            }
                            let _slow = SleepsOnDrop;
                            moss::sleep(Duration::from_secs(3600));
                        })),
                        joined: reaped,
                    };
                    moss::sleep(Duration::from_secs(3600));
                });
                moss::yield_now();
                victim.kill();
                moss::yield_now();
                // A second kill while the victim's destructor waits.
                victim.kill();
                assert!(victim.join().unwrap_err().is_killed());
                assert_eq!(joined.get(), Some(true));
            });
        },
    );
}

/// Joins its green thread when dropped.
struct JoinsOnDrop(Option<moss::JoinHandle<()>>);

impl Drop for JoinsOnDrop {
    fn drop(&mut self) {
        let _ = self.0.take().unwrap().join();
    }
}

/// Sleeps when dropped.
struct SleepsOnDrop(Duration);

impl Drop for SleepsOnDrop {
    fn drop(&mut self) {
        moss::sleep(self.0);
    }
}

/// A green thread that is killed and then stays suspended mid-unwind for
/// `for_how_long` (its destructor joins a green thread that sleeps).
fn suspended_mid_unwind(for_how_long: Duration) -> moss::JoinHandle<()> {
    let sleeper = moss::spawn(move || moss::sleep(for_how_long));
    let unwinding = moss::spawn(move || {
        let _join = JoinsOnDrop(Some(sleeper));
        moss::sleep(Duration::from_secs(3600));
    });
    moss::yield_now();
    unwinding.kill();
    moss::yield_now();
    unwinding
}

#[test]
fn a_green_thread_mid_unwind_by_resume_unwind_is_counted_so_kills_still_work() {
    child::passes(
        "a_green_thread_mid_unwind_by_resume_unwind_is_counted_so_kills_still_work",
        || {
            moss::run(|| {
                let neighbour = suspended_mid_unwind(Duration::from_millis(20));
                // Unwinds by `resume_unwind` (which no panic hook sees) and
                // stays suspended in a destructor.
                let release = Rc::new(Event::new());
                let guard = WaitsOnDrop(Rc::clone(&release));
                let quiet = moss::spawn(move || {
                    let _guard = guard;
                    panic::resume_unwind(Box::new("re-raised"));
                });
                moss::yield_now();
                assert!(neighbour.join().unwrap_err().is_killed());
                // Only `quiet` is mid-unwind now; a killed loop of sleeps
                // must unwind, not spin.
                let looping = moss::spawn(|| loop {
                    moss::sleep(Duration::from_millis(1));
                });
                moss::sleep(Duration::from_millis(5));
                looping.kill();
                assert!(looping.join().unwrap_err().is_killed());
                release.set();
                assert!(quiet.join().unwrap_err().is_panic());
            });
        },
    );
}

#[test]
fn a_panic_caught_while_another_green_thread_unwinds_does_not_stop_its_timeouts() {
    child::passes(
        "a_panic_caught_while_another_green_thread_unwinds_does_not_stop_its_timeouts",
        || {
            moss::run(|| {
                let _neighbour = suspended_mid_unwind(Duration::from_millis(30));
                let (_tx, rx) = moss::sync::channel::<u32>();
                let catcher = moss::spawn(move || {
                    let _ = panic::catch_unwind(|| panic!("caught at once"));
                    moss::timeout(Duration::from_millis(5), || rx.recv()).is_err()
                });
                // Nothing is ever sent: only the timeout can end the wait.
                assert!(catcher.join().unwrap(), "the timeout fired");
            });
        },
    );
}

#[test]
fn a_killed_loop_of_sleeps_while_another_green_thread_unwinds_does_not_freeze_the_hub() {
    child::passes(
        "a_killed_loop_of_sleeps_while_another_green_thread_unwinds_does_not_freeze_the_hub",
        || {
            moss::run(|| {
                let _neighbour = suspended_mid_unwind(Duration::from_millis(30));
                let looping = moss::spawn(|| {
                    let _ = panic::catch_unwind(|| panic!("caught at once"));
                    loop {
                        moss::sleep(Duration::from_millis(1));
                    }
                });
                moss::sleep(Duration::from_millis(3));
                looping.kill();
                assert!(looping.join().unwrap_err().is_killed());
            });
        },
    );
}

#[test]
fn timeouts_still_fire_on_an_os_thread_where_a_green_thread_was_leaked_mid_unwind() {
    child::passes(
        "timeouts_still_fire_on_an_os_thread_where_a_green_thread_was_leaked_mid_unwind",
        || {
            moss::run(|| {
                let never = Rc::new(Event::new());
                let guard = WaitsOnDrop(Rc::clone(&never));
                moss::spawn(move || {
                    let _guard = guard;
                    moss::sleep(Duration::from_secs(3600));
                });
                moss::yield_now();
            });
            // The leaked green thread is mid-unwind for good.
            assert!(std::thread::panicking());
            moss::run(|| {
                let (_tx, rx) = moss::sync::channel::<u32>();
                let waiter = moss::spawn(move || {
                    let first = moss::timeout(Duration::from_millis(1), || {
                        moss::sleep(Duration::from_secs(3600))
                    });
                    let second = moss::timeout(Duration::from_millis(1), || rx.recv());
                    first.is_err() && second.is_err()
                });
                assert!(waiter.join().unwrap(), "both timeouts fired");
            });
        },
    );
}

#[test]
fn a_hub_started_by_a_destructor_during_a_panic_can_kill_a_panicking_green_thread() {
    child::passes(
        "a_hub_started_by_a_destructor_during_a_panic_can_kill_a_panicking_green_thread",
        || {
            struct RunsAHub;
            impl Drop for RunsAHub {
                fn drop(&mut self) {
                    moss::run(|| {
                        let victim = moss::spawn(|| {
                            let _slow = SleepsOnDrop(Duration::from_secs(3600));
                            panic!("a plain panic in a hub started during an unwind");
                        });
                        moss::yield_now();
                        victim.kill();
                        assert!(victim.join().unwrap_err().is_panic());
                    });
                }
            }
            let outcome = panic::catch_unwind(|| {
                let _hub = RunsAHub;
                panic!("outer");
            });
            assert!(outcome.is_err());
        },
    );
}

#[test]
fn a_root_that_cannot_finish_aborts_instead_of_abandoning_what_it_borrows() {
    let outcome = child::run(
        "a_root_that_cannot_finish_aborts_instead_of_abandoning_what_it_borrows",
        || {
            let data = vec![7u64; 1024];
            let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                let data = &data;
                moss::run(move || {
                    std::thread::scope(|scope| {
                        // Borrows from the caller of `run` for as long as
                        // the root's frames exist.
                        scope.spawn(move || data.iter().sum::<u64>());
                        let never = Rc::new(Event::new());
                        let _guard = WaitsOnDrop(Rc::clone(&never));
                        Event::new().wait(); // a deadlock: the root is killed
                    });
                })
            }));
            unreachable!("`run` must not return while the root is abandoned");
        },
    );
    if let Some(outcome) = outcome {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            outcome.status.signal(),
            Some(libc::SIGABRT),
            "{}",
            outcome.stderr
        );
        assert!(
            outcome
                .stderr
                .contains("the root green thread could not finish"),
            "{}",
            outcome.stderr
        );
    }
}

#[test]
fn a_panic_re_raised_by_spawn_blocking_is_recorded_so_a_kill_in_its_destructor_does_not_abort() {
    child::passes(
        "a_panic_re_raised_by_spawn_blocking_is_recorded_so_a_kill_in_its_destructor_does_not_abort",
        || {
            moss::run(|| {
                let neighbour = suspended_mid_unwind(Duration::from_millis(30));
                let victim = moss::spawn(|| {
                    let _slow = SleepsOnDrop(Duration::from_secs(3600));
                    moss::spawn_blocking(|| panic!("offloaded panic"));
                });
                moss::sleep(Duration::from_millis(5));
                // The victim is suspended in its destructor, mid-unwind.
                victim.kill();
                assert!(victim.join().is_err());
                assert!(neighbour.join().unwrap_err().is_killed());
            });
        },
    );
}

/// Kills and joins a worker after a grace period when dropped.
struct Supervisor(Option<moss::JoinHandle<()>>);

impl Drop for Supervisor {
    fn drop(&mut self) {
        moss::sleep(Duration::from_millis(5));
        let worker = self.0.take().unwrap();
        worker.kill();
        let _ = worker.join();
    }
}

/// A worker that catches a panic while its supervisor unwinds, then waits
/// on `event`.
fn worker_catching_a_panic(event: Rc<Event>) -> moss::JoinHandle<()> {
    moss::spawn(move || {
        moss::sleep(Duration::from_millis(1));
        let _ = panic::catch_unwind(|| panic!("a handler panicked, caught"));
        event.wait();
    })
}

#[test]
fn two_green_threads_each_unsure_of_the_other_are_reported_not_left_polling() {
    child::passes(
        "two_green_threads_each_unsure_of_the_other_are_reported_not_left_polling",
        || {
            let outcome = panic::catch_unwind(|| {
                moss::run(|| {
                    let worker = worker_catching_a_panic(Rc::new(Event::new()));
                    let supervisor = moss::spawn(move || {
                        let _supervisor = Supervisor(Some(worker));
                        panic!("the supervisor fails");
                    });
                    let _ = supervisor.join();
                })
            });
            let payload = outcome.expect_err("the deadlock is reported");
            let message = payload.downcast_ref::<String>().unwrap();
            assert!(message.contains("moss: deadlock"), "{message}");
        },
    );
}

#[test]
fn teardown_ends_when_two_green_threads_are_each_unsure_of_the_other() {
    child::passes(
        "teardown_ends_when_two_green_threads_are_each_unsure_of_the_other",
        || {
            let value = moss::run(|| {
                let worker = worker_catching_a_panic(Rc::new(Event::new()));
                moss::spawn(move || {
                    let _join = JoinsOnDrop(Some(worker));
                    let _slow = SleepsOnDrop(Duration::from_millis(5));
                    panic!("the supervisor fails");
                });
                moss::sleep(Duration::from_millis(10));
                42
            });
            assert_eq!(value, 42);
        },
    );
}

/// A park whose registration wakes it at once is queued by that wake-up
/// and again by the hub when it suspends: it must run once, and its next
/// park must not be ended by the second entry (a spurious wake-up).
#[test]
fn a_park_woken_by_its_own_registration_runs_once() {
    let unparked_first = moss::run(|| {
        let slot: Rc<RefCell<Option<moss::park::Unparker>>> = Rc::default();
        let unparked = Rc::new(Cell::new(false));
        let green = {
            let (slot, unparked) = (Rc::clone(&slot), Rc::clone(&unparked));
            moss::spawn(move || {
                let first = moss::park::park("itself", None, |me| {
                    me.unpark();
                });
                assert_eq!(first, Ok(moss::park::Wake::Ready));
                let second = moss::park::park("the root", None, |me| {
                    *slot.borrow_mut() = Some(me);
                });
                assert_eq!(second, Ok(moss::park::Wake::Ready));
                unparked.get()
            })
        };
        for _ in 0..4 {
            moss::yield_now();
        }
        unparked.set(true);
        let unparker = slot.borrow_mut().take().expect("the second park waits");
        unparker.unpark();
        green.join().unwrap()
    });
    assert!(
        unparked_first,
        "the second park ended before its unparker ran"
    );
}
