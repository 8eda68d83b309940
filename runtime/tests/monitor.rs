//! The blocking monitor: a green thread that spins without yielding is reported by name and counted.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use moss_runtime as moss;

/// Collects warnings so the test can read them.
struct TestLogger {
    lines: Mutex<Vec<String>>,
}

impl log::Log for TestLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            self.lines.lock().unwrap().push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

fn logger() -> &'static TestLogger {
    static LOGGER: OnceLock<TestLogger> = OnceLock::new();
    let logger = LOGGER.get_or_init(|| TestLogger {
        lines: Mutex::new(Vec::new()),
    });
    if log::set_logger(logger).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
    logger
}

#[test]
fn the_monitor_reports_a_green_thread_that_spins() {
    let logger = logger();
    let blocked = moss::Hub::builder()
        .max_blocking_time(Duration::from_millis(20))
        .run(|| {
            let before = moss::stats().blocked;
            let spinner = moss::Builder::new()
                .name("spinner".into())
                .spawn(move || {
                    // Holds the hub, never yielding, until the watchdog has
                    // noticed (bounded so a broken monitor fails, not hangs).
                    let give_up = Instant::now() + Duration::from_secs(30);
                    while moss::stats().blocked == before && Instant::now() < give_up {
                        std::hint::spin_loop();
                    }
                })
                .unwrap();
            spinner.join().unwrap();
            moss::stats().blocked - before
        });
    assert!(blocked >= 1, "the spin was counted");
    let lines = logger.lines.lock().unwrap();
    let report = lines
        .iter()
        .find(|line| line.contains("spinner"))
        .unwrap_or_else(|| panic!("no report names the spinner: {lines:?}"));
    assert!(report.contains("without yielding"), "{report}");
    assert!(report.contains(" ms"), "{report}");
}

#[test]
fn the_monitor_is_off_by_default() {
    let blocked = moss::run(|| {
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(5) {
            std::hint::spin_loop();
        }
        moss::stats().blocked
    });
    assert_eq!(blocked, 0);
}

#[test]
fn a_green_thread_that_yields_often_alone_is_not_reported() {
    // Alone on its hub, a yield goes on without a switch; it must still
    // count as letting go of the hub. 80 yields, 20 ms of work between
    // two: far below the threshold each, far above it together.
    let blocked = moss::Hub::builder()
        .max_blocking_time(Duration::from_millis(400))
        .run(|| {
            for _ in 0..80 {
                let until = Instant::now() + Duration::from_millis(20);
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
                moss::yield_now();
            }
            moss::stats().blocked
        });
    assert_eq!(
        blocked, 0,
        "a green thread yielding every 20 ms was reported as holding the hub"
    );
}
