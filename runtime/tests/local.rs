//! Green-thread-local storage.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use moss_runtime as moss;

static COUNTER: moss::GreenLocal<Cell<u32>> = moss::GreenLocal::new(|| Cell::new(0));
static NAME: moss::GreenLocal<RefCell<String>> =
    moss::GreenLocal::new(|| RefCell::new(String::from("unset")));

#[test]
fn each_green_thread_has_its_own_value() {
    let values = moss::run(|| {
        COUNTER.with(|c| c.set(100));
        let handles: Vec<_> = (0..10u32)
            .map(|i| {
                moss::spawn(move || {
                    for _ in 0..=i {
                        COUNTER.with(|c| c.set(c.get() + 1));
                        moss::yield_now();
                    }
                    COUNTER.with(Cell::get)
                })
            })
            .collect();
        let values: Vec<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(
            COUNTER.with(Cell::get),
            100,
            "the root's value is untouched"
        );
        values
    });
    assert_eq!(values, (1..=10).collect::<Vec<_>>());
}

#[test]
fn locals_can_be_used_inside_each_other() {
    let name = moss::run(|| {
        moss::spawn(|| {
            COUNTER.with(|c| {
                c.set(7);
                NAME.with(|n| *n.borrow_mut() = format!("seven={}", COUNTER.with(Cell::get)));
            });
            NAME.with(|n| n.borrow().clone())
        })
        .join()
        .unwrap()
    });
    assert_eq!(name, "seven=7");
}

struct Goodbye(Rc<RefCell<Vec<String>>>);

impl Drop for Goodbye {
    fn drop(&mut self) {
        // Runs inside the green thread: it has a name and may block.
        let who = moss::try_current().and_then(|g| g.name().map(str::to_owned));
        moss::sleep(Duration::from_millis(1));
        self.0
            .borrow_mut()
            .push(who.unwrap_or_else(|| "outside".into()));
    }
}

thread_local! {
    static LOG: Rc<RefCell<Vec<String>>> = Rc::default();
}

static GOODBYE: moss::GreenLocal<RefCell<Option<Goodbye>>> =
    moss::GreenLocal::new(|| RefCell::new(None));

#[test]
fn values_drop_inside_the_green_thread_when_it_ends_even_when_killed() {
    let log = LOG.with(Rc::clone);
    moss::run(|| {
        let finished = moss::Builder::new()
            .name("finisher".into())
            .spawn(|| GOODBYE.with(|g| *g.borrow_mut() = Some(Goodbye(LOG.with(Rc::clone)))))
            .unwrap();
        finished.join().unwrap();
        let killed = moss::Builder::new()
            .name("victim".into())
            .spawn(|| {
                GOODBYE.with(|g| *g.borrow_mut() = Some(Goodbye(LOG.with(Rc::clone))));
                moss::sleep(Duration::from_secs(3600));
            })
            .unwrap();
        moss::yield_now();
        killed.kill();
        assert!(killed.join().unwrap_err().is_killed());
    });
    assert_eq!(*log.borrow(), ["finisher", "victim"]);
}

#[test]
fn outside_a_green_thread_the_value_is_per_os_thread() {
    COUNTER.with(|c| c.set(5));
    let other = std::thread::spawn(|| COUNTER.with(Cell::get))
        .join()
        .unwrap();
    assert_eq!(other, 0);
    assert_eq!(COUNTER.with(Cell::get), 5);
    let inside = moss::run(|| COUNTER.with(Cell::get));
    assert_eq!(inside, 0, "the root green thread has its own value");
}
