//! `status`: the workers' counters from the master's scoreboard, as an HTML page and as JSON.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::StatusCode;
use serde::Serialize;

use super::{text, AppContext};
use crate::scoreboard::WorkerStats;
use crate::{App, Request, RequestExt, Response};

/// `/` shows the master's view of its workers as an HTML page (refreshed
/// every 2 s), `/status.json` the same as JSON: the master's pid, the
/// worker class, the uptime, and per worker its pid, age, requests, open
/// connections, green threads, switches, blocked-hub events and seconds
/// since its heartbeat.
///
/// Without a scoreboard (the app embedded outside a master) it shows this
/// process alone: its hub's counters and the requests this app answered.
#[derive(Debug)]
pub struct Status {
    ctx: AppContext,
    /// Requests this app answered, for the view without a scoreboard.
    answered: AtomicU64,
}

/// What `/status.json` holds.
#[derive(Debug, Serialize)]
struct Report {
    master_pid: u32,
    worker_class: String,
    uptime_s: f64,
    /// `scoreboard`, or `process` for this process alone.
    source: &'static str,
    workers: Vec<WorkerRow>,
}

/// One worker's line; `None` where this process alone cannot tell.
#[derive(Debug, Serialize)]
struct WorkerRow {
    pid: u32,
    age: Option<u64>,
    requests: u64,
    active_connections: Option<u64>,
    green_threads: u64,
    switches: u64,
    blocked_hub_events: u64,
    since_heartbeat_s: Option<f64>,
    uptime_s: f64,
    stopping: bool,
}

impl From<WorkerStats> for WorkerRow {
    fn from(stats: WorkerStats) -> WorkerRow {
        WorkerRow {
            pid: stats.pid,
            age: Some(stats.age),
            requests: stats.requests,
            active_connections: Some(stats.active_connections),
            green_threads: stats.green_threads,
            switches: stats.switches,
            blocked_hub_events: stats.blocked_hub_events,
            since_heartbeat_s: Some(seconds(stats.since_heartbeat_ms)),
            uptime_s: seconds(stats.uptime_ms),
            stopping: stats.stopping,
        }
    }
}

fn seconds(millis: u64) -> f64 {
    millis as f64 / 1000.0
}

impl Status {
    /// The status app of the server `ctx` describes.
    pub fn new(ctx: AppContext) -> Status {
        Status {
            ctx,
            answered: AtomicU64::new(0),
        }
    }

    /// What the page shows now.
    fn report(&self) -> Report {
        let uptime_s = self.ctx.started.elapsed().map_or(0.0, |d| d.as_secs_f64());
        let (source, workers) = match &self.ctx.scoreboard {
            Some(board) => (
                "scoreboard",
                board.workers().into_iter().map(WorkerRow::from).collect(),
            ),
            None => {
                let hub = moss_runtime::stats();
                let row = WorkerRow {
                    pid: std::process::id(),
                    age: None,
                    requests: self.answered.load(Relaxed),
                    active_connections: None,
                    green_threads: hub.alive,
                    switches: hub.switches,
                    blocked_hub_events: hub.blocked,
                    since_heartbeat_s: None,
                    uptime_s,
                    stopping: false,
                };
                ("process", vec![row])
            }
        };
        Report {
            master_pid: self.ctx.master_pid,
            worker_class: self.ctx.worker_class.clone(),
            uptime_s,
            source,
            workers,
        }
    }
}

impl App for Status {
    fn call(&self, request: Request) -> Response {
        self.answered.fetch_add(1, Relaxed);
        let (body, content_type) = match &*request.info().path() {
            "/" => (html(&self.report()), "text/html; charset=utf-8"),
            "/status.json" => match serde_json::to_string_pretty(&self.report()) {
                Ok(json) => (json + "\n", "application/json"),
                Err(error) => {
                    return text(StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n"));
                }
            },
            _ => return text(StatusCode::NOT_FOUND, "try / or /status.json\n"),
        };
        let mut response = Response::new(body.into());
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// The HTML page of `report`.
fn html(report: &Report) -> String {
    let mut page = String::with_capacity(2048);
    // Writing to a `String` cannot fail.
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"2\"><title>moss status</title>\
         <style>body{{font-family:sans-serif}}td,th{{padding:2px 8px;text-align:right}}</style>\
         </head><body>\n<h1>moss</h1>\n<p>master pid {}, {} workers, up {:.0} s, {} worker{}{}</p>\n",
        report.master_pid,
        escape(&report.worker_class),
        report.uptime_s,
        report.workers.len(),
        if report.workers.len() == 1 { "" } else { "s" },
        if report.source == "process" {
            " (this process alone: no scoreboard)"
        } else {
            ""
        },
    );
    page.push_str(
        "<table>\n<tr><th>pid</th><th>age</th><th>up (s)</th><th>requests</th>\
         <th>connections</th><th>green threads</th><th>switches</th>\
         <th>blocked hub</th><th>since beat (s)</th><th>state</th></tr>\n",
    );
    let or_dash = |value: Option<String>| value.unwrap_or_else(|| "-".into());
    for w in &report.workers {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            w.pid,
            or_dash(w.age.map(|a| a.to_string())),
            w.uptime_s,
            w.requests,
            or_dash(w.active_connections.map(|c| c.to_string())),
            w.green_threads,
            w.switches,
            w.blocked_hub_events,
            or_dash(w.since_heartbeat_s.map(|s| format!("{s:.1}"))),
            if w.stopping { "stopping" } else { "running" },
        );
    }
    page.push_str("</table>\n<p><a href=\"/status.json\">status.json</a></p>\n</body></html>\n");
    page
}

/// `text` safe inside HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::tests::{body, exchange, get};
    use crate::scoreboard::Scoreboard;

    #[test]
    fn without_a_scoreboard_it_shows_this_process() {
        let status = Status::new(AppContext {
            worker_class: "<green>".into(),
            master_pid: 7,
            ..AppContext::default()
        });
        let response = exchange(&status, "GET /status.json HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(
            response.contains("\r\ncontent-type: application/json\r\n"),
            "{response}"
        );
        let json: serde_json::Value = serde_json::from_str(body(&response)).unwrap();
        assert_eq!(json["master_pid"], 7);
        assert_eq!(json["worker_class"], "<green>");
        assert_eq!(json["source"], "process");
        let workers = json["workers"].as_array().unwrap();
        assert_eq!(workers.len(), 1);
        assert_eq!(workers[0]["pid"], std::process::id());
        assert_eq!(workers[0]["requests"], 1);
        assert!(workers[0]["since_heartbeat_s"].is_null());

        let page = exchange(&status, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(page.contains("content-type: text/html"), "{page}");
        assert!(page.contains("&lt;green&gt; workers"), "{page}");
        assert!(page.contains(&format!("<tr><td>{}</td><td>-</td>", std::process::id())));
        assert_eq!(status.call(get("/nope")).status(), 404);
    }

    #[test]
    fn with_a_scoreboard_it_shows_every_worker() {
        let board = Scoreboard::new().unwrap();
        board.slot(0).claim(1001, 1);
        board.slot(2).claim(1002, 2);
        board.slot(2).count_request();
        board.slot(2).count_connection(true);
        board.slot(2).record_hub(9, 500, 3);
        let status = Status::new(AppContext {
            scoreboard: Some(board),
            worker_class: "green".into(),
            ..AppContext::default()
        });
        let report = status.report();
        assert_eq!(report.source, "scoreboard");
        let pids: Vec<u32> = report.workers.iter().map(|w| w.pid).collect();
        assert_eq!(pids, [1001, 1002]);
        let second = &report.workers[1];
        assert_eq!(
            (second.age, second.requests, second.active_connections),
            (Some(2), 1, Some(1))
        );
        assert_eq!(
            (
                second.green_threads,
                second.switches,
                second.blocked_hub_events
            ),
            (9, 500, 3)
        );
        assert!(second.since_heartbeat_s.unwrap() < 60.0);
        let page = html(&report);
        assert!(page.contains("<tr><td>1002</td><td>2</td>"), "{page}");
        assert!(page.contains("2 workers"));
    }
}
