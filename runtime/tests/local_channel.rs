//! Hub-local channels (`moss::sync::local`): ordering, capacity, disconnection, kill and timeout while parked, deadlock reports, message destructors.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use moss::sync::local::{self, RecvError, RecvTimeoutError, SendError, TryRecvError};
use moss_runtime as moss;

const SHORT: Duration = Duration::from_millis(5);

/// How long a test body may run before the watchdog fails it.
const WATCHDOG: Duration = Duration::from_secs(60);

/// Runs `body` (which starts its own hub) on an OS thread and fails the
/// test if it has not finished within [`WATCHDOG`], so a lost wake-up
/// cannot hang the suite. A panic in `body` is resumed here.
fn watched<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
    let (done_tx, done_rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
        let _ = done_tx.send(result);
    });
    match done_rx.recv_timeout(WATCHDOG) {
        Ok(result) => {
            thread.join().unwrap();
            result.unwrap_or_else(|payload| std::panic::resume_unwind(payload))
        }
        Err(_) => panic!("still running after {WATCHDOG:?}: a wake-up was lost"),
    }
}

/// Spawns a green thread and lets it run until it parks.
fn spawn_parked<T: 'static>(f: impl FnOnce() -> T + 'static) -> moss::JoinHandle<T> {
    let handle = moss::spawn(f);
    moss::yield_now();
    handle
}

/// Counts its drops.
struct Counted(Rc<Cell<usize>>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn messages_arrive_in_order_from_many_producers() {
    let received = watched(|| {
        moss::run(|| {
            let (tx, rx) = local::channel();
            for producer in 0..4 {
                let tx = tx.clone();
                moss::spawn(move || {
                    for i in 0..100 {
                        tx.send((producer, i)).unwrap();
                        moss::yield_now();
                    }
                });
            }
            drop(tx);
            rx.iter().collect::<Vec<_>>()
        })
    });
    assert_eq!(received.len(), 400);
    for producer in 0..4 {
        let own: Vec<_> = received.iter().filter(|(p, _)| *p == producer).collect();
        assert!(own.iter().map(|(_, i)| *i).eq(0..100), "{own:?}");
    }
}

#[test]
fn bounded_send_parks_while_full() {
    const CAPACITY: usize = 3;
    let (received, max_ahead) = watched(|| {
        moss::run(|| {
            let (tx, rx) = local::bounded(CAPACITY);
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
        })
    });
    assert_eq!(received, (0..50).collect::<Vec<_>>());
    assert_eq!(max_ahead, CAPACITY, "ran ahead by exactly the capacity");
}

#[test]
fn a_rendezvous_send_waits_until_the_message_is_taken() {
    let log = watched(|| {
        moss::run(|| {
            let (tx, rx) = local::bounded(0);
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
        })
    });
    assert_eq!(log, ["receiving", "sent"]);
}

#[test]
fn disconnection_is_reported_both_ways() {
    watched(|| {
        moss::run(|| {
            let (tx, rx) = local::channel::<u8>();
            tx.send(1).unwrap();
            drop(tx);
            assert_eq!(
                rx.try_recv(),
                Ok(1),
                "buffered messages outlive the senders"
            );
            assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
            assert_eq!(rx.recv(), Err(RecvError));
            assert_eq!(rx.recv_timeout(SHORT), Err(RecvTimeoutError::Disconnected));

            let (tx, rx) = local::channel();
            drop(rx);
            assert_eq!(tx.send(2), Err(SendError(2)));
        })
    });
}

#[test]
fn a_parked_receiver_wakes_when_the_last_sender_goes() {
    let result = watched(|| {
        moss::run(|| {
            let (tx, rx) = local::channel::<u8>();
            let other = tx.clone();
            let receiver = spawn_parked(move || rx.recv());
            drop(tx);
            moss::yield_now();
            assert!(!receiver.is_finished(), "one sender is left");
            drop(other);
            receiver.join().unwrap()
        })
    });
    assert_eq!(result, Err(RecvError));
}

#[test]
fn a_parked_sender_wakes_when_the_receiver_goes() {
    let result = watched(|| {
        moss::run(|| {
            let (tx, rx) = local::bounded(1);
            tx.send(1).unwrap();
            let sender = spawn_parked(move || tx.send(2));
            drop(rx);
            sender.join().unwrap()
        })
    });
    assert_eq!(result, Err(SendError(2)));
}

#[test]
fn a_rendezvous_sender_returns_when_the_receiver_goes_with_its_message() {
    let (result, drops) = watched(|| {
        moss::run(|| {
            let drops = Rc::new(Cell::new(0));
            let (tx, rx) = local::bounded(0);
            let message = Counted(Rc::clone(&drops));
            let sender = spawn_parked(move || tx.send(message).is_ok());
            drop(rx);
            (sender.join().unwrap(), drops.get())
        })
    });
    assert!(result, "the message was in the channel: sent");
    assert_eq!(drops, 1);
}

#[test]
fn try_recv_and_recv_timeout_do_not_wait_past_their_limit() {
    watched(|| {
        moss::run(|| {
            let (tx, rx) = local::channel();
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            assert_eq!(rx.recv_timeout(SHORT), Err(RecvTimeoutError::Timeout));
            tx.send(7).unwrap();
            assert_eq!(rx.recv_timeout(SHORT), Ok(7));
            tx.send(8).unwrap();
            tx.send(9).unwrap();
            assert_eq!(rx.try_iter().collect::<Vec<_>>(), [8, 9]);
        })
    });
}

#[test]
fn recv_timeout_returns_a_message_sent_while_it_waits() {
    let value = watched(|| {
        moss::run(|| {
            let (tx, rx) = local::channel();
            moss::spawn(move || {
                moss::sleep(SHORT);
                tx.send(3).unwrap();
            });
            rx.recv_timeout(Duration::from_secs(30))
        })
    });
    assert_eq!(value, Ok(3));
}

#[test]
fn kill_of_a_parked_receiver_loses_no_message() {
    let (killed, value) = watched(|| {
        moss::run(|| {
            let (tx, rx) = local::channel();
            let rx = Rc::new(rx);
            let theirs = Rc::clone(&rx);
            let receiver = spawn_parked(move || theirs.recv());
            receiver.kill();
            let killed = receiver.join().unwrap_err().is_killed();
            tx.send("kept").unwrap();
            (killed, rx.recv().unwrap())
        })
    });
    assert!(killed);
    assert_eq!(value, "kept");
}

#[test]
fn timeout_of_a_parked_receiver_loses_no_message() {
    let (elapsed, value) = watched(|| {
        moss::run(|| {
            let (tx, rx) = local::channel();
            let elapsed = moss::timeout(SHORT, || rx.recv()).is_err();
            tx.send(5).unwrap();
            (elapsed, rx.recv().unwrap())
        })
    });
    assert!(elapsed);
    assert_eq!(value, 5);
}

#[test]
fn kill_and_timeout_of_parked_senders_leave_the_channel_working() {
    let (received, drops) = watched(|| {
        moss::run(|| {
            let drops = Rc::new(Cell::new(0));
            let (tx, rx) = local::bounded(1);
            tx.send("first").unwrap();
            let killed = {
                let (tx, drops) = (tx.clone(), Rc::clone(&drops));
                spawn_parked(move || {
                    let _counted = Counted(drops);
                    tx.send("killed")
                })
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
            (received, drops.get())
        })
    });
    assert_eq!(received, ["first", "patient"]);
    assert_eq!(drops, 1, "the killed sender unwound");
}

#[test]
fn kill_of_a_rendezvous_sender_waiting_for_the_taker_leaves_its_message() {
    let value = watched(|| {
        moss::run(|| {
            let (tx, rx) = local::bounded(0);
            let sender = spawn_parked(move || tx.send("left"));
            sender.kill();
            assert!(sender.join().unwrap_err().is_killed());
            rx.recv()
        })
    });
    assert_eq!(value, Ok("left"));
}

#[test]
fn several_green_threads_waiting_on_one_receiver_each_get_a_message() {
    let mut values = watched(|| {
        moss::run(|| {
            let (tx, rx) = local::channel();
            let rx = Rc::new(rx);
            let receivers: Vec<_> = (0..3)
                .map(|_| {
                    let rx = Rc::clone(&rx);
                    spawn_parked(move || rx.recv().unwrap())
                })
                .collect();
            for i in 0..3 {
                tx.send(i).unwrap();
            }
            receivers
                .into_iter()
                .map(|r| r.join().unwrap())
                .collect::<Vec<_>>()
        })
    });
    values.sort_unstable();
    assert_eq!(values, [0, 1, 2]);
}

#[test]
fn unreceived_messages_are_dropped_exactly_once() {
    let drops = watched(|| {
        moss::run(|| {
            let drops = Rc::new(Cell::new(0));
            let (tx, rx) = local::channel();
            for _ in 0..5 {
                tx.send(Counted(Rc::clone(&drops))).unwrap();
            }
            drop(rx.recv().unwrap());
            assert_eq!(drops.get(), 1);
            drop(rx);
            assert_eq!(drops.get(), 5, "the receiver drops what is left");
            // A send after the receiver went comes back in the error.
            let SendError(back) = tx.send(Counted(Rc::clone(&drops))).unwrap_err();
            drop(back);
            drop(tx);
            drops.get()
        })
    });
    assert_eq!(drops, 6);
}

#[test]
fn a_message_holding_a_sender_of_its_own_channel_can_be_dropped_with_it() {
    watched(|| {
        moss::run(|| {
            let (tx, rx) = local::channel::<Box<dyn std::any::Any>>();
            tx.send(Box::new(tx.clone())).unwrap();
            drop(tx);
            drop(rx); // drops the buffered sender: the channel borrows nothing then
        })
    });
}

#[test]
fn a_deadlock_on_local_channels_is_reported() {
    let message = watched(|| {
        let payload = std::panic::catch_unwind(|| {
            moss::run(|| {
                let (a_tx, a_rx) = local::channel::<()>();
                let (b_tx, b_rx) = local::channel::<()>();
                let _other = moss::spawn(move || {
                    let _keep = a_tx;
                    b_rx.recv()
                });
                let _keep = b_tx;
                a_rx.recv()
            })
        })
        .expect_err("two green threads wait on each other: a deadlock");
        payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default()
    });
    assert!(message.contains("deadlock"), "{message}");
    assert!(message.contains("green thread 'root'"), "{message}");
    assert_eq!(
        message.matches("waits on: local channel recv").count(),
        2,
        "{message}"
    );
}

#[test]
fn a_deadlock_on_a_full_local_channel_is_reported() {
    let message = watched(|| {
        let payload = std::panic::catch_unwind(|| {
            moss::run(|| {
                let (tx, _rx) = local::bounded(1);
                tx.send(1).unwrap();
                tx.send(2) // nobody receives
            })
        })
        .expect_err("a send nobody can make room for: a deadlock");
        payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default()
    });
    assert!(message.contains("deadlock"), "{message}");
    assert!(
        message.contains("waits on: local channel send"),
        "{message}"
    );
}

#[test]
fn a_receiver_that_holds_its_only_sender_is_reported() {
    let message = watched(|| {
        let payload = std::panic::catch_unwind(|| {
            moss::run(|| {
                let (_tx, rx) = local::channel::<u8>();
                rx.recv()
            })
        })
        .expect_err("nobody else can send: a deadlock");
        payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default()
    });
    assert!(message.contains("deadlock"), "{message}");
    assert!(
        message.contains("waits on: local channel recv"),
        "{message}"
    );
}
