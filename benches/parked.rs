//! Memory per parked unit of concurrency: RSS and memory mappings (VMAs)
//! for N parked moss green threads, `may` coroutines and OS threads, each
//! measured in a fresh child process.
//!
//! ```sh
//! cargo bench --bench parked                  # the full table (1,000,000 green threads)
//! cargo bench --bench parked -- moss 200000   # one case
//! ```
//!
//! The full table also goes to `target/criterion/parked/results.json`
//! (next to criterion's results; `$CRITERION_HOME` or `$CARGO_TARGET_DIR`
//! move it as they move those), which `examples/bench_summary` reads.
//!
//! may gets 30,000 coroutines: its stacks use `mprotect` guards (two
//! mappings each), so past ~32,000 it exhausts `vm.max_map_count` and
//! hangs in the allocation-failure path.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Where a child writes its result as one JSON object (set by the parent).
const RESULT_ENV: &str = "MOSS_PARKED_RESULT";

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn maps() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().count())
        .unwrap_or(0)
}

/// Prints one result line: kind, count, KiB per unit, VMAs added; and
/// writes it as JSON to `$MOSS_PARKED_RESULT` when the parent asks.
fn report(kind: &str, count: usize, before: (u64, usize)) {
    let (rss, vmas) = (rss_kib(), maps());
    let per = (rss.saturating_sub(before.0)) as f64 / count as f64;
    let vmas_added = vmas as i64 - before.1 as i64;
    println!("{kind:<28} {count:>9} parked  {per:>6.2} KiB RSS each  {vmas_added:>7} VMAs added");
    if let Some(path) = std::env::var_os(RESULT_ENV) {
        let json = format!(
            "{{\"what\":\"{kind}\",\"count\":{count},\"rss_kib_each\":{per:.4},\"vmas_added\":{vmas_added}}}"
        );
        std::fs::write(path, json).expect("write the parked result");
    }
}

/// `<target>/criterion/parked`: criterion's own choice of directory
/// (`$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`), else the
/// target directory this binary was built in (the nearest ancestor holding
/// cargo's `CACHEDIR.TAG`).
fn results_dir() -> PathBuf {
    let criterion = std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR").map(|t| PathBuf::from(t).join("criterion"))
        })
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            let target = exe
                .ancestors()
                .find(|dir| dir.join("CACHEDIR.TAG").is_file())?;
            Some(target.join("criterion"))
        })
        .unwrap_or_else(|| PathBuf::from("target/criterion"));
    criterion.join("parked")
}

fn moss_case(count: usize) {
    let before = (rss_kib(), maps());
    moss::run(|| {
        for _ in 0..count {
            drop(moss::spawn(|| moss::sleep(Duration::from_secs(3600))));
        }
        moss::yield_now();
        assert_eq!(moss::stats().alive as usize, count + 1);
        report("moss green threads", count, before);
    });
}

fn may_case(count: usize) {
    may::config().set_workers(1);
    let before = (rss_kib(), maps());
    let handles: Vec<_> = (0..count)
        .map(|_| {
            // SAFETY: the coroutine only sleeps; it uses no thread-locals
            // and a handful of bytes of stack.
            unsafe { may::coroutine::spawn(|| may::coroutine::sleep(Duration::from_secs(3600))) }
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500 + count as u64 / 500));
    report("may coroutines (1 worker)", count, before);
    std::mem::forget(handles);
}

fn thread_case(count: usize) {
    let before = (rss_kib(), maps());
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let threads: Vec<_> = (0..count)
        .map(|_| {
            let rx = std::sync::Arc::clone(&rx);
            let ready = ready_tx.clone();
            std::thread::spawn(move || {
                ready.send(()).unwrap();
                let _ = rx.lock().map(|rx| rx.recv());
            })
        })
        .collect();
    for _ in 0..count {
        ready_rx.recv().unwrap();
    }
    report("OS threads (std::thread)", count, before);
    drop(tx);
    for thread in threads {
        thread.join().unwrap();
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    match args.first().map(String::as_str) {
        Some("moss") => moss_case(
            args.get(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(1_000_000),
        ),
        Some("may") => may_case(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(30_000)),
        Some("threads") => thread_case(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(10_000)),
        _ => {
            println!(
                "vm.max_map_count = {}",
                std::fs::read_to_string("/proc/sys/vm/max_map_count")
                    .unwrap_or_default()
                    .trim()
            );
            let me = std::env::current_exe().unwrap();
            let dir = results_dir();
            std::fs::create_dir_all(&dir).expect("create the results directory");
            let mut rows = Vec::new();
            for (kind, count) in [
                ("moss", "1000000"),
                ("moss", "100000"),
                ("may", "30000"),
                ("threads", "10000"),
            ] {
                let case = dir.join(format!("{kind}-{count}.json"));
                let _ = std::fs::remove_file(&case);
                let status = Command::new(&me)
                    .args([kind, count])
                    .env(RESULT_ENV, &case)
                    .status()
                    .unwrap();
                let row = match std::fs::read_to_string(&case) {
                    Ok(json) if status.success() => json,
                    _ => {
                        println!("{kind} {count}: failed ({status})");
                        format!("{{\"what\":\"{kind}\",\"count\":{count},\"failed\":\"{status}\"}}")
                    }
                };
                let _ = std::fs::remove_file(&case);
                rows.push(row);
            }
            let max_map_count = std::fs::read_to_string("/proc/sys/vm/max_map_count")
                .unwrap_or_default()
                .trim()
                .parse::<u64>()
                .unwrap_or(0);
            let results = dir.join("results.json");
            std::fs::write(
                &results,
                format!(
                    "{{\"vm_max_map_count\":{max_map_count},\"cases\":[\n{}\n]}}\n",
                    rows.join(",\n")
                ),
            )
            .expect("write results.json");
            println!("results: {}", results.display());
        }
    }
}
