//! The hub's trace (`HubBuilder::trace`): every switch and epoll wait logged.

use std::sync::Mutex;
use std::time::Duration;

use moss_runtime as moss;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == "moss::trace"
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            LINES.lock().unwrap().push(record.args().to_string());
        }
    }

    fn flush(&self) {}
}

#[test]
fn the_trace_shows_switches_parks_and_epoll_waits_only_when_on() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    moss::Hub::builder().trace(false).run(|| {
        moss::spawn(|| moss::sleep(Duration::from_millis(1)))
            .join()
            .unwrap();
    });
    assert!(
        LINES.lock().unwrap().is_empty(),
        "a hub without the trace logged"
    );

    moss::Hub::builder().trace(true).run(|| {
        let sleeper = moss::Builder::new()
            .name("sleeper".into())
            .spawn(|| moss::sleep(Duration::from_millis(5)))
            .unwrap();
        sleeper.join().unwrap();
    });
    let lines = LINES.lock().unwrap();
    let has = |needle: &str| lines.iter().any(|line| line.contains(needle));
    assert!(has("resume green thread"), "{lines:#?}");
    assert!(has("(sleeper)"), "{lines:#?}");
    assert!(has("parked on"), "{lines:#?}");
    assert!(has("finished"), "{lines:#?}");
    assert!(has("epoll wait"), "{lines:#?}");
    assert!(has("epoll returned"), "{lines:#?}");
}
