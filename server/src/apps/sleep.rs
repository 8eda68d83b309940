//! `sleep`: requests that wait or burn the CPU, to see what each worker class does with them.
//!
//! `/sleep?ms=N` calls plain `std::thread::sleep`: in a green worker the
//! patch layer turns it into a park, so the hub serves other connections
//! meanwhile; in a sync worker it holds the worker. `/spin?ms=N` never
//! yields: it is what the blocking monitor and the heartbeat timeout exist
//! for.

use std::time::{Duration, Instant};

use http::StatusCode;

use super::text;
use crate::{App, Request, RequestExt, Response};

/// The longest wait or spin a request may ask for, in milliseconds.
pub const MAX_MS: u64 = 600_000;

/// `/sleep?ms=N` sleeps N ms, `/spin?ms=N` busy-loops N ms; both answer
/// with what they did. A missing, malformed or too large `ms` gets 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sleep;

impl App for Sleep {
    fn call(&self, request: Request) -> Response {
        let info = request.info();
        let (path, query) = (info.path(), info.query());
        let millis = match &*path {
            "/sleep" | "/spin" => match millis(query) {
                Ok(ms) => ms,
                Err(message) => return text(StatusCode::BAD_REQUEST, message),
            },
            _ => {
                return text(
                    StatusCode::NOT_FOUND,
                    "try /sleep?ms=N (sleeps) or /spin?ms=N (burns the CPU)\n",
                )
            }
        };
        let duration = Duration::from_millis(millis);
        if path == "/sleep" {
            std::thread::sleep(duration);
            text(StatusCode::OK, format!("slept {millis} ms\n"))
        } else {
            spin(duration);
            text(StatusCode::OK, format!("spun {millis} ms\n"))
        }
    }
}

/// The `ms` parameter of `query`.
fn millis(query: &str) -> Result<u64, String> {
    let Some(value) = query.split('&').find_map(|pair| pair.strip_prefix("ms=")) else {
        return Err(format!("missing ms: ask for ?ms=N, N from 0 to {MAX_MS}\n"));
    };
    match value.parse::<u64>() {
        Ok(ms) if ms <= MAX_MS => Ok(ms),
        Ok(ms) => Err(format!("ms={ms} is over the limit of {MAX_MS}\n")),
        Err(_) => Err(format!(
            "bad ms: {value:?} is not a whole number of milliseconds from 0 to {MAX_MS}\n"
        )),
    }
}

/// Burns the CPU for `duration` without yielding.
fn spin(duration: Duration) {
    let start = Instant::now();
    let mut turns = 0u64;
    while start.elapsed() < duration {
        // Work the optimizer cannot drop.
        turns = std::hint::black_box(turns.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::tests::{body, exchange, get};

    #[test]
    fn sleep_waits_at_least_the_time_asked() {
        let start = Instant::now();
        let response = exchange(&Sleep, "GET /sleep?ms=20 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert_eq!(body(&response), "slept 20 ms\n");
    }

    #[test]
    fn spin_burns_the_time_asked() {
        let start = Instant::now();
        let response = Sleep.call(get("/spin?x=1&ms=15"));
        assert!(start.elapsed() >= Duration::from_millis(15));
        assert_eq!(response.status(), 200);
    }

    #[test]
    fn bad_missing_and_too_large_ms_get_400() {
        for uri in [
            "/sleep",
            "/sleep?ms=",
            "/sleep?ms=-1",
            "/sleep?ms=1.5",
            "/spin?ms=abc",
            "/sleep?ms=600001",
        ] {
            assert_eq!(Sleep.call(get(uri)).status(), 400, "{uri}");
        }
        assert_eq!(millis("ms=600000"), Ok(MAX_MS));
        assert_eq!(
            millis("ms=x").unwrap_err(),
            "bad ms: \"x\" is not a whole number of milliseconds from 0 to 600000\n"
        );
        assert_eq!(Sleep.call(get("/other")).status(), 404);
    }
}
