//! The `redis` crate's synchronous client, unmodified, against a real
//! `redis-server`: a hundred green threads block in `BLPOP` at once on one
//! OS thread while a pusher feeds them.
//!
//! Ignored by default; `.ci/run` starts a server and runs
//! `cargo test --workspace -- --ignored` with `MOSS_REDIS_URL` set
//! (for example `redis://127.0.0.1:6379/`).

#![cfg(feature = "patch")]

mod util;

use std::time::Duration;

use redis::Commands;
use util::{Overlap, Watchdog};

const WAITERS: usize = 100;

fn redis_url() -> String {
    std::env::var("MOSS_REDIS_URL").unwrap_or_else(|_| {
        panic!("MOSS_REDIS_URL is not set: start redis-server and set it to redis://HOST:PORT/")
    })
}

/// `blocked_clients` from the server's `INFO clients`.
fn blocked_clients(connection: &mut redis::Connection) -> usize {
    let info: String = redis::cmd("INFO").arg("clients").query(connection).unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("blocked_clients:"))
        .expect("INFO clients has blocked_clients")
        .trim()
        .parse()
        .unwrap()
}

#[test]
#[ignore = "needs redis-server: set MOSS_REDIS_URL and run with --ignored"]
fn a_hundred_blpop_waiters_share_one_os_thread() {
    let _watchdog = Watchdog::arm("a_hundred_blpop_waiters_share_one_os_thread");
    static BLOCKED: Overlap = Overlap::new();
    let client = redis::Client::open(redis_url()).unwrap();
    let key = format!("moss:patch:blpop:{}", std::process::id());
    let os_thread = std::thread::current().id();
    let items = moss::run(|| {
        let waiters: Vec<_> = (0..WAITERS)
            .map(|_| {
                let (client, key) = (client.clone(), key.clone());
                moss::spawn(move || {
                    let mut connection = client.get_connection().unwrap();
                    let _blocked = BLOCKED.enter();
                    let item: Option<(String, String)> = connection.blpop(&key, 30.0).unwrap();
                    assert_eq!(std::thread::current().id(), os_thread);
                    item.map(|(_, value)| value)
                })
            })
            .collect();

        let mut pusher = client.get_connection().unwrap();
        // The server itself counts the hundred clients blocked at once (the
        // test's server has no other blocked clients).
        while BLOCKED.now() < WAITERS || blocked_clients(&mut pusher) < WAITERS {
            std::thread::sleep(Duration::from_millis(5));
        }
        for i in 0..WAITERS {
            let _: usize = pusher.rpush(&key, format!("item {i}")).unwrap();
        }
        let mut items: Vec<String> = waiters
            .into_iter()
            .map(|waiter| waiter.join().unwrap().expect("BLPOP timed out"))
            .collect();
        items.sort();
        items
    });
    let mut expected: Vec<String> = (0..WAITERS).map(|i| format!("item {i}")).collect();
    expected.sort();
    assert_eq!(items, expected, "every waiter got exactly one item");
    assert_eq!(BLOCKED.peak(), WAITERS);
}

#[test]
#[ignore = "needs redis-server: set MOSS_REDIS_URL and run with --ignored"]
fn a_blpop_timeout_returns_nil_while_the_hub_runs_others() {
    let _watchdog = Watchdog::arm("a_blpop_timeout_returns_nil_while_the_hub_runs_others");
    let client = redis::Client::open(redis_url()).unwrap();
    let key = format!("moss:patch:empty:{}", std::process::id());
    moss::run(|| {
        let ticks = std::rc::Rc::new(std::cell::Cell::new(0u64));
        let ticker = {
            let ticks = ticks.clone();
            moss::spawn(move || loop {
                ticks.set(ticks.get() + 1);
                moss::sleep(Duration::from_millis(1));
            })
        };
        let mut connection = client.get_connection().unwrap();
        let item: Option<(String, String)> = connection.blpop(&key, 0.2).unwrap();
        assert_eq!(item, None);
        assert!(
            ticks.get() > 0,
            "the hub ran another green thread meanwhile"
        );
        ticker.kill();
    });
}
