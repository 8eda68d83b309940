//! Medians over the rounds, the markdown tables and the SVG plots.

use std::path::Path;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use serde_json::{json, Value};

use crate::{
    HELLO_CONNS, PROXY_CONNS, SLEEP_CONNS, SLEEP_MS, TLS_CLOSE_CONNS, TLS_CONNS, UPSTREAM_MS,
};

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

/// Medians of the measured runs `of`, by key.
fn medians(of: &[&Value]) -> Value {
    let ok: Vec<&Value> = of
        .iter()
        .copied()
        .filter(|v| v.get("rps").is_some())
        .collect();
    let med = |key: &str| median(ok.iter().filter_map(|v| num(v, key)).collect());
    json!({
        "rounds_ok": ok.len(),
        "rounds_failed": of.len() - ok.len(),
        "rps": med("rps"),
        "p50_ms": med("p50_ms"),
        "p99_ms": med("p99_ms"),
        "errors": med("errors"),
        "cpu_us_per_req": med("cpu_us_per_req"),
        "cpu_share": med("cpu_share"),
        "client_cpu_share": med("client_cpu_share"),
        "other_cpu": med("other_cpu"),
        "peak_rss_kib": ok.iter().filter_map(|v| num(v, "peak_rss_kib")).fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x)))),
        "rps_by_round": ok.iter().filter_map(|v| num(v, "rps")).collect::<Vec<_>>(),
        "error": of.iter().find_map(|v| v.get("error").cloned()),
    })
}

/// The summary: per scenario, server (in the run's order) and connections.
pub fn summarize(results: &Value) -> Value {
    let empty = Vec::new();
    let runs = results["runs"].as_array().unwrap_or(&empty);
    let idle = results["idle"].as_array().unwrap_or(&empty);
    let mut servers: Vec<String> = Vec::new();
    for v in runs.iter().chain(idle) {
        let name = v["server"].as_str().unwrap_or("").to_owned();
        if !servers.contains(&name) && name != "upstream-alone" {
            servers.push(name);
        }
    }
    let mut out = json!({});
    for scenario in ["hello", "sleep", "proxy", "tls", "tls-close"] {
        let mut rows = Vec::new();
        let conns: Vec<usize> = match scenario {
            "hello" => HELLO_CONNS.to_vec(),
            "sleep" => SLEEP_CONNS.to_vec(),
            "tls" => TLS_CONNS.to_vec(),
            "tls-close" => vec![TLS_CLOSE_CONNS],
            _ => vec![PROXY_CONNS],
        };
        let names = std::iter::once("upstream-alone".to_owned()).chain(servers.iter().cloned());
        for server in names {
            for &c in &conns {
                let of: Vec<&Value> = runs
                    .iter()
                    .filter(|v| {
                        v["scenario"] == scenario
                            && v["server"] == server.as_str()
                            && v["conns"] == c
                    })
                    .collect();
                if of.is_empty() {
                    continue;
                }
                let mut row = medians(&of);
                row["server"] = json!(server);
                row["conns"] = json!(c);
                rows.push(row);
            }
        }
        out[scenario] = json!(rows);
    }
    let mut rows = Vec::new();
    for server in &servers {
        let of: Vec<&Value> = idle
            .iter()
            .filter(|v| v["server"] == server.as_str())
            .collect();
        if of.is_empty() {
            continue;
        }
        if let Some(skipped) = of[0].get("skipped") {
            rows.push(json!({"server": server, "skipped": skipped}));
            continue;
        }
        let med =
            |f: &dyn Fn(&Value) -> Option<f64>| median(of.iter().filter_map(|v| f(v)).collect());
        let min = |key: &str| of.iter().filter_map(|v| v[key].as_u64()).min();
        rows.push(json!({
            "server": server,
            "rounds": of.len(),
            "idle_opened_min": min("idle_opened"),
            "idle_open_at_end_min": min("idle_open_at_end"),
            "kib_per_idle_conn": med(&|v| num(v, "kib_per_idle_conn")),
            "idle_cpu_share": med(&|v| num(v, "idle_cpu_share")),
            "rss_before_kib": med(&|v| num(v, "rss_before_kib")),
            "rss_with_idle_kib": med(&|v| num(v, "rss_with_idle_kib")),
            "p99_ms_without_idle": med(&|v| num(&v["without_idle"], "p99_ms")),
            "p99_ms_with_idle": med(&|v| num(&v["with_idle"], "p99_ms")),
            "rps_without_idle": med(&|v| num(&v["without_idle"], "rps")),
            "rps_with_idle": med(&|v| num(&v["with_idle"], "rps")),
            "errors_with_idle": med(&|v| num(&v["with_idle"], "errors")),
            "error": of.iter().find_map(|v| v.get("error").cloned()),
        }));
    }
    out["idle"] = json!(rows);
    out
}

fn rows<'a>(results: &'a Value, scenario: &str) -> Vec<&'a Value> {
    results["summary"][scenario]
        .as_array()
        .map_or(Vec::new(), |a| a.iter().collect())
}

fn find<'a>(rows: &[&'a Value], server: &str, c: usize) -> Option<&'a Value> {
    rows.iter()
        .copied()
        .find(|r| r["server"] == server && r["conns"] == c)
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) if v.is_finite() => {
            if digits == 0 {
                // thousands separators
                let n = v.round() as i64;
                let s = n.abs().to_string();
                let mut out = String::new();
                for (i, ch) in s.chars().enumerate() {
                    if i > 0 && (s.len() - i).is_multiple_of(3) {
                        out.push(',');
                    }
                    out.push(ch);
                }
                if n < 0 {
                    format!("-{out}")
                } else {
                    out
                }
            } else {
                format!("{v:.digits$}")
            }
        }
        _ => "—".into(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "—".into(),
    }
}

/// The server's and wrk's CPU, % of a core.
fn shares(r: &Value) -> String {
    format!(
        "{} / {}",
        fmt(num(r, "cpu_share").map(|s| s * 100.0), 0),
        fmt(num(r, "client_cpu_share").map(|s| s * 100.0), 0)
    )
}

fn rps(r: Option<&Value>) -> Option<f64> {
    r.and_then(|r| num(r, "rps"))
}

/// The line of a stamp: date, machine, versions, rounds, load average.
fn stamp_line(stamp: &Value) -> String {
    format!(
        "Run of {} ({} cores, {}, {}, {}, gunicorn {}, gevent {}, {}; {} round(s) of {} s runs after {} s warm-up; load average {} at the start, {} at the end; {:.0} s in all).\n\n",
        stamp["date"].as_str().unwrap_or("?"),
        stamp["cores"], stamp["kernel"].as_str().unwrap_or("?"), stamp["rustc"].as_str().unwrap_or("?"),
        stamp["python"].as_str().unwrap_or("?"), stamp["gunicorn"].as_str().unwrap_or("?"),
        stamp["gevent"].as_str().unwrap_or("?"), stamp["wrk"].as_str().unwrap_or("?").split(" Copyright").next().unwrap_or("?"),
        stamp["rounds"], stamp["seconds_per_run"], stamp["warmup_seconds"],
        stamp["loadavg_start"].as_str().unwrap_or("?"), stamp["loadavg_end"].as_str().unwrap_or("?"),
        stamp["elapsed_seconds"].as_f64().unwrap_or(0.0),
    )
}

/// The stamp line of a scenario run on its own after the main run (merged
/// into its results.json), if any.
fn scenario_stamp(results: &Value, scenario: &str) -> String {
    match results["stamps"].get(scenario) {
        Some(stamp) if stamp.is_object() => format!(
            "This scenario alone (moss {}), merged into the results of the run above: {}",
            stamp["moss_commit"].as_str().unwrap_or("?"),
            stamp_line(stamp)
        ),
        _ => String::new(),
    }
}

/// The markdown tables of the summary.
pub fn tables(results: &Value) -> String {
    let stamp = &results["stamp"];
    let mut out = String::new();
    out += &stamp_line(stamp);
    // The main run's runs: not those of a scenario run alone later (their
    // own figure is under their heading).
    let alone = |r: &Value| {
        let scenario = r["scenario"].as_str().unwrap_or("");
        let family = scenario.strip_suffix("-close").unwrap_or(scenario);
        results["stamps"].get(family).is_some_and(Value::is_object)
    };
    let others: Vec<f64> = (results["runs"].as_array().into_iter().flatten())
        .filter(|r| !alone(r))
        .filter_map(|r| num(r, "other_cpu"))
        .collect();
    if !others.is_empty() {
        let max = others.iter().copied().fold(0.0, f64::max);
        out += &format!(
            "CPU used by everything but the server and wrk during the measured runs (the driver, the proxy's upstream, any other work; from `/proc/stat`): median {} % of a core, highest {} %.\n\n",
            fmt(median(others).map(|v| v * 100.0), 0),
            fmt(Some(max * 100.0), 0)
        );
    }
    let best_rust = |rows: &[&Value], c: usize| {
        ["may_minihttp", "hyper"]
            .iter()
            .filter_map(|s| rps(find(rows, s, c)).map(|v| (v, *s)))
            .max_by(|a, b| a.0.total_cmp(&b.0))
    };
    let hello = rows(results, "hello");
    if !hello.is_empty() {
        out += "### Plaintext `GET /`, keep-alive\n\n";
        out += &scenario_stamp(results, "hello");
        out += "| server | c | req/s | p99 ms | server CPU µs/req | CPU % server / wrk | peak RSS MiB | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|\n";
        for r in &hello {
            out += &format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                r["server"].as_str().unwrap_or(""),
                r["conns"],
                fmt(num(r, "rps"), 0),
                fmt(num(r, "p99_ms"), 2),
                fmt(num(r, "cpu_us_per_req"), 1),
                shares(r),
                fmt(num(r, "peak_rss_kib").map(|k| k / 1024.0), 1),
                fmt(num(r, "errors"), 0),
            );
        }
        out += "\n| c | moss-green req/s | vs best Rust peer | vs gunicorn-gevent |\n|---:|---:|---:|---:|\n";
        for c in HELLO_CONNS {
            let green = rps(find(&hello, "moss-green", c));
            let best = best_rust(&hello, c);
            out += &format!(
                "| {c} | {} | {} ({}) | {} |\n",
                fmt(green, 0),
                ratio(green, best.map(|b| b.0)),
                best.map_or("—", |b| b.1),
                ratio(green, rps(find(&hello, "gunicorn-gevent", c))),
            );
        }
        out += "\n";
    }
    let sleep = rows(results, "sleep");
    if !sleep.is_empty() {
        out += &format!(
            "### `/sleep?ms={SLEEP_MS}`: Little's-law limit c / {:.1} s\n\n",
            SLEEP_MS as f64 / 1000.0
        );
        out += &scenario_stamp(results, "sleep");
        out += "| server | c | req/s | % of limit | p50 ms | p99 ms | server CPU µs/req | CPU % server / wrk | peak RSS MiB | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
        for r in &sleep {
            let c = r["conns"].as_f64().unwrap_or(0.0);
            let limit = c * 1000.0 / SLEEP_MS as f64;
            out += &format!(
                "| {} | {} | {} | {} % | {} | {} | {} | {} | {} | {} |\n",
                r["server"].as_str().unwrap_or(""),
                r["conns"],
                fmt(num(r, "rps"), 0),
                fmt(num(r, "rps").map(|v| 100.0 * v / limit), 1),
                fmt(num(r, "p50_ms"), 1),
                fmt(num(r, "p99_ms"), 1),
                fmt(num(r, "cpu_us_per_req"), 1),
                shares(r),
                fmt(num(r, "peak_rss_kib").map(|k| k / 1024.0), 1),
                fmt(num(r, "errors"), 0),
            );
        }
        out += "\n| c | moss-green req/s | vs best Rust peer | vs gunicorn-gevent |\n|---:|---:|---:|---:|\n";
        for c in SLEEP_CONNS {
            let green = rps(find(&sleep, "moss-green", c));
            let best = best_rust(&sleep, c);
            out += &format!(
                "| {c} | {} | {} ({}) | {} |\n",
                fmt(green, 0),
                ratio(green, best.map(|b| b.0)),
                best.map_or("—", |b| b.1),
                ratio(green, rps(find(&sleep, "gunicorn-gevent", c)))
            );
        }
        out += "\n";
    }
    let proxy = rows(results, "proxy");
    if !proxy.is_empty() {
        let ceiling = rps(find(&proxy, "upstream-alone", PROXY_CONNS));
        out += &format!("### Proxy: each request a blocking call to a {UPSTREAM_MS} ms upstream, c = {PROXY_CONNS}\n\n");
        out += &scenario_stamp(results, "proxy");
        out += &format!("The upstream alone (the hyper peer, one thread, alone on the server CPU) sustains {} req/s at c = {PROXY_CONNS} (Little's limit {}); during the proxy runs it shares the client CPU with wrk.\n\n| server | req/s | % of the upstream's ceiling | p50 ms | p99 ms | server CPU µs/req | CPU % server / wrk | peak RSS MiB | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n", fmt(ceiling, 0), fmt(Some(PROXY_CONNS as f64 * 1000.0 / UPSTREAM_MS as f64), 0));
        for r in proxy.iter().filter(|r| r["server"] != "upstream-alone") {
            out += &format!(
                "| {} | {} | {} % | {} | {} | {} | {} | {} | {} |\n",
                r["server"].as_str().unwrap_or(""),
                fmt(num(r, "rps"), 0),
                fmt(
                    match (num(r, "rps"), ceiling) {
                        (Some(v), Some(c)) if c > 0.0 => Some(100.0 * v / c),
                        _ => None,
                    },
                    1
                ),
                fmt(num(r, "p50_ms"), 1),
                fmt(num(r, "p99_ms"), 1),
                fmt(num(r, "cpu_us_per_req"), 1),
                shares(r),
                fmt(num(r, "peak_rss_kib").map(|k| k / 1024.0), 1),
                fmt(num(r, "errors"), 0),
            );
        }
        let green = rps(find(&proxy, "moss-green", PROXY_CONNS));
        let best = best_rust(&proxy, PROXY_CONNS);
        out += &format!(
            "\nmoss-green: {} the best Rust peer ({}), {} gunicorn-gevent.\n\n",
            ratio(green, best.map(|b| b.0)),
            best.map_or("—", |b| b.1),
            ratio(green, rps(find(&proxy, "gunicorn-gevent", PROXY_CONNS)))
        );
    }
    let idle = rows(results, "idle");
    if !idle.is_empty() {
        out += &format!("### {} idle keep-alive connections, with a moderate load ({} connections, {} ms pause between requests)\n\n", fmt(stamp["idle_conns"].as_f64(), 0), crate::IDLE_LOAD_CONNS, crate::IDLE_LOAD_DELAY_MS);
        out += &scenario_stamp(results, "idle");
        out += "| server | idle conns held | RSS per idle conn KiB | RSS with them MiB | idle CPU % of a core | p99 ms without | p99 ms with | req/s without / with |\n|---|---:|---:|---:|---:|---:|---:|---:|\n";
        for r in &idle {
            if let Some(skipped) = r.get("skipped") {
                out += &format!(
                    "| {} | — ({}) | | | | | | |\n",
                    r["server"].as_str().unwrap_or(""),
                    skipped.as_str().unwrap_or("")
                );
                continue;
            }
            out += &format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} / {} |\n",
                r["server"].as_str().unwrap_or(""),
                fmt(num(r, "idle_open_at_end_min"), 0),
                fmt(num(r, "kib_per_idle_conn"), 2),
                fmt(num(r, "rss_with_idle_kib").map(|k| k / 1024.0), 1),
                fmt(num(r, "idle_cpu_share").map(|s| s * 100.0), 1),
                fmt(num(r, "p99_ms_without_idle"), 2),
                fmt(num(r, "p99_ms_with_idle"), 2),
                fmt(num(r, "rps_without_idle"), 0),
                fmt(num(r, "rps_with_idle"), 0),
            );
        }
        out += "\n";
    }
    out += &tls_table(results);
    if let Some(failures) = results["failures"].as_array().filter(|f| !f.is_empty()) {
        out += "### Failures\n\n";
        for f in failures {
            out += &format!("* {}\n", f.as_str().unwrap_or(""));
        }
        out += "\n";
    }
    out
}

/// The TLS section: keep-alive and new-connection-per-request rows, and
/// moss-green against hyper-tls, same run.
fn tls_table(results: &Value) -> String {
    let keep = rows(results, "tls");
    let close = rows(results, "tls-close");
    if keep.is_empty() && close.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "### TLS hello: HTTPS `GET /`, keep-alive, and a new TLS connection per request\n\n",
    );
    out += &scenario_stamp(results, "tls");
    let stamp = match results["stamps"].get("tls") {
        Some(stamp) if stamp.is_object() => stamp,
        _ => &results["stamp"],
    };
    let tls = &stamp["tls"];
    let present = |name: &str| keep.iter().chain(close.iter()).any(|r| r["server"] == name);
    let mut who = Vec::new();
    if present("moss-green") {
        who.push("moss-green: `moss -w 2 -k green --certfile CERT --keyfile KEY hello` (moss's own rustls, ring)".to_owned());
    }
    if present("hyper-tls") {
        who.push(format!(
            "hyper-tls: the hyper peer behind {}, ALPN http/1.1, 2 worker threads",
            tls["peer"].as_str().unwrap_or("tokio-rustls")
        ));
    }
    if present("gunicorn-gevent") {
        who.push("gunicorn-gevent: `--certfile`/`--keyfile` (Python's ssl, OpenSSL)".to_owned());
    }
    out += &format!(
        "{}. wrk over {}; the certificate: {}. \"new per request\": wrk with `-H 'Connection: close'`: each request a new TCP connection and a TLS handshake, in which wrk offers the session its connection had before: hyper-tls (one process) and moss-green (whose workers share the ticket key their master made) resume them; hyper-tls-noresume (the peer with `--no-resumption`) makes every handshake full.",
        who.join("; "),
        tls["wrk_openssl"]
            .as_str()
            .map_or("OpenSSL", |v| v.split(" (").next().unwrap_or(v)),
        tls["certificate"].as_str().unwrap_or("self-signed"),
    );
    let others: Vec<f64> = (results["runs"].as_array().into_iter().flatten())
        .filter(|r| r["scenario"] == "tls" || r["scenario"] == "tls-close")
        .filter_map(|r| num(r, "other_cpu"))
        .collect();
    if !others.is_empty() {
        let max = others.iter().copied().fold(0.0, f64::max);
        let med = median(others).unwrap_or(0.0);
        out += &format!(
            " CPU used by everything but the server and wrk during these runs: median {} % of a core, highest {} %{}",
            fmt(Some(med * 100.0), 0),
            fmt(Some(max * 100.0), 0),
            if med > 0.1 {
                ": other work shared the machine (the load average above), so the server and wrk got less than their cores and these figures are noisy; req/s least of all comparable with the other tables, CPU per request least affected."
            } else {
                "."
            }
        );
    }
    out += "\n\n| server | connections | c | req/s | p99 ms | server CPU µs/req | CPU % server / wrk | peak RSS MiB | errors |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
    let both = (keep.iter().map(|r| ("keep-alive", *r)))
        .chain(close.iter().map(|r| ("new per request", *r)));
    for (connections, r) in both {
        out += &format!(
            "| {} | {connections} | {} | {} | {} | {} | {} | {} | {} |\n",
            r["server"].as_str().unwrap_or(""),
            r["conns"],
            fmt(num(r, "rps"), 0),
            fmt(num(r, "p99_ms"), 2),
            fmt(num(r, "cpu_us_per_req"), 1),
            shares(r),
            fmt(num(r, "peak_rss_kib").map(|k| k / 1024.0), 1),
            match num(r, "rps") {
                Some(_) => fmt(num(r, "errors"), 0),
                None => "did not run (see Failures)".into(),
            },
        );
    }
    out += "\n| connections | c | peer | moss-green req/s | peer req/s | moss-green / peer req/s | CPU µs/req moss-green / peer |\n|---|---:|---|---:|---:|---:|---:|\n";
    let pairs = (TLS_CONNS
        .iter()
        .map(|&c| ("keep-alive", &keep, c, "hyper-tls")))
    .chain([
        ("new per request", &close, TLS_CLOSE_CONNS, "hyper-tls"),
        (
            "new per request",
            &close,
            TLS_CLOSE_CONNS,
            "hyper-tls-noresume",
        ),
    ]);
    for (connections, rows, c, peer) in pairs {
        let (green, hyper) = (find(rows, "moss-green", c), find(rows, peer, c));
        if green.is_none() && hyper.is_none() {
            continue;
        }
        let cpu = |r: Option<&Value>| {
            r.and_then(|r| num(r, "cpu_us_per_req"))
                .filter(|_| rps(r).is_some())
        };
        out += &format!(
            "| {connections} | {c} | {peer} | {} | {} | {} | {} |\n",
            fmt(rps(green), 0),
            fmt(rps(hyper), 0),
            ratio(rps(green), rps(hyper)),
            ratio(cpu(green), cpu(hyper)),
        );
    }
    out += "\n";
    out
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Grouped bars: one group per server, one bar per series; `None` is no bar.
#[allow(clippy::too_many_arguments)]
fn bars<DB: DrawingBackend, Y>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    y_desc: &str,
    servers: &[String],
    series: &[(String, Vec<Option<f64>>)],
    y: Y,
    floor: f64,
    reference: Option<(f64, &str)>,
) -> Result<(), String>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let n = servers.len() as f64;
    let names = servers.to_vec();
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 17))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..n - 0.5, y)
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(servers.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
                names[i as usize].clone()
            } else {
                String::new()
            }
        })
        .x_label_style(("sans-serif", 12))
        .y_desc(y_desc)
        .y_label_formatter(&|v| {
            if v.abs() >= 10.0 {
                fmt(Some(*v), 0)
            } else {
                format!("{v:.1}")
            }
        })
        .light_line_style(WHITE)
        .draw()
        .map_err(e)?;
    let k = series.len().max(1) as f64;
    let width = 0.8 / k;
    for (j, (label, values)) in series.iter().enumerate() {
        let color = PALETTE[j % PALETTE.len()];
        let rects = values.iter().enumerate().filter_map(|(i, v)| {
            let v = (*v)?;
            let x0 = i as f64 - 0.4 + j as f64 * width;
            Some(Rectangle::new(
                [(x0, floor), (x0 + width * 0.92, v.max(floor))],
                color.filled(),
            ))
        });
        chart
            .draw_series(rects)
            .map_err(e)?
            .label(label.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    if let Some((value, label)) = reference {
        chart
            .draw_series(LineSeries::new(
                vec![(-0.5, value), (n - 0.5, value)],
                BLACK.stroke_width(2),
            ))
            .map_err(e)?
            .label(label.to_owned())
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], BLACK.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(e)?;
    Ok(())
}

fn values(
    rows: &[&Value],
    servers: &[String],
    c: usize,
    f: impl Fn(&Value) -> Option<f64>,
) -> Vec<Option<f64>> {
    servers
        .iter()
        .map(|s| find(rows, s, c).and_then(&f))
        .collect()
}

fn servers_of(rows: &[&Value]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for r in rows {
        let s = r["server"].as_str().unwrap_or("").to_owned();
        if s != "upstream-alone" && !names.contains(&s) {
            names.push(s);
        }
    }
    names
}

fn max_of(series: &[(String, Vec<Option<f64>>)], extra: f64) -> f64 {
    series
        .iter()
        .flat_map(|s| s.1.iter().flatten())
        .copied()
        .fold(extra, f64::max)
}

fn min_positive(series: &[(String, Vec<Option<f64>>)]) -> f64 {
    series
        .iter()
        .flat_map(|s| s.1.iter().flatten())
        .copied()
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min)
}

/// hello.svg, sleep.svg, proxy.svg, idle.svg in `dir`.
pub fn plots(results: &Value, dir: &Path) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<std::io::Error>| e.to_string();
    let hello = rows(results, "hello");
    if !hello.is_empty() {
        let servers = servers_of(&hello);
        let series: Vec<_> = HELLO_CONNS
            .iter()
            .map(|&c| {
                (
                    format!("c = {c}"),
                    values(&hello, &servers, c, |r| num(r, "rps")),
                )
            })
            .collect();
        let path = dir.join("hello.svg");
        let root = SVGBackend::new(&path, (1000, 900)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let (top, bottom) = root.split_vertically(450);
        let y_top = max_of(&series, 1.0) * 1.15;
        bars(&top, "Plaintext GET /, keep-alive: requests/s (2 workers each, server on 1 core, wrk on the other)", "requests/s", &servers, &series, 0f64..y_top, 0.0, None)?;
        let cpu: Vec<_> = HELLO_CONNS
            .iter()
            .map(|&c| {
                (
                    format!("c = {c}"),
                    values(&hello, &servers, c, |r| num(r, "cpu_us_per_req")),
                )
            })
            .collect();
        let lo = min_positive(&cpu) * 0.7;
        bars(
            &bottom,
            "Server CPU per request, µs (log scale; master and workers)",
            "µs per request",
            &servers,
            &cpu,
            (lo..max_of(&cpu, 1.0) * 2.0).log_scale(),
            lo,
            None,
        )?;
        root.present().map_err(e)?;
    }
    let sleep = rows(results, "sleep");
    if !sleep.is_empty() {
        let servers = servers_of(&sleep);
        let pct: Vec<_> = SLEEP_CONNS
            .iter()
            .map(|&c| {
                let limit = c as f64 * 1000.0 / SLEEP_MS as f64;
                (
                    format!("c = {c} (limit {} req/s)", limit),
                    values(&sleep, &servers, c, |r| {
                        num(r, "rps").map(|v| 100.0 * v / limit)
                    }),
                )
            })
            .collect();
        let p99: Vec<_> = SLEEP_CONNS
            .iter()
            .map(|&c| {
                (
                    format!("c = {c}"),
                    values(&sleep, &servers, c, |r| num(r, "p99_ms")),
                )
            })
            .collect();
        let path = dir.join("sleep.svg");
        let root = SVGBackend::new(&path, (1000, 900)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let (top, bottom) = root.split_vertically(450);
        bars(
            &top,
            &format!("/sleep?ms={SLEEP_MS}: req/s as % of Little's limit c/0.1 s"),
            "% of c / 0.1 s",
            &servers,
            &pct,
            0f64..max_of(&pct, 100.0) * 1.2,
            0.0,
            Some((100.0, "the limit")),
        )?;
        let lo = min_positive(&p99).min(SLEEP_MS as f64) * 0.8;
        bars(
            &bottom,
            "p99 latency, ms (log scale)",
            "ms",
            &servers,
            &p99,
            (lo..max_of(&p99, 1.0) * 2.0).log_scale(),
            lo,
            Some((SLEEP_MS as f64, "the sleep itself")),
        )?;
        root.present().map_err(e)?;
    }
    let proxy = rows(results, "proxy");
    if !proxy.is_empty() {
        let servers = servers_of(&proxy);
        let ceiling = rps(find(&proxy, "upstream-alone", PROXY_CONNS)).unwrap_or(f64::NAN);
        let pct = vec![(
            format!("c = {PROXY_CONNS}"),
            values(&proxy, &servers, PROXY_CONNS, |r| {
                num(r, "rps").map(|v| 100.0 * v / ceiling)
            }),
        )];
        let p99 = vec![(
            format!("c = {PROXY_CONNS}"),
            values(&proxy, &servers, PROXY_CONNS, |r| num(r, "p99_ms")),
        )];
        let path = dir.join("proxy.svg");
        let root = SVGBackend::new(&path, (1000, 900)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let (top, bottom) = root.split_vertically(450);
        bars(
            &top,
            &format!("Proxy to a {UPSTREAM_MS} ms upstream: % of its ceiling ({ceiling:.0} req/s)"),
            "% of the upstream alone",
            &servers,
            &pct,
            0f64..max_of(&pct, 100.0) * 1.2,
            0.0,
            Some((100.0, "the upstream alone")),
        )?;
        let lo = min_positive(&p99).min(UPSTREAM_MS as f64) * 0.8;
        bars(
            &bottom,
            "p99 latency, ms (log scale)",
            "ms",
            &servers,
            &p99,
            (lo..max_of(&p99, 1.0) * 2.0).log_scale(),
            lo,
            Some((UPSTREAM_MS as f64, "the upstream's delay")),
        )?;
        root.present().map_err(e)?;
    }
    tls_plot(results, dir)?;
    let idle = rows(results, "idle");
    let measured: Vec<&Value> = idle
        .iter()
        .copied()
        .filter(|r| r.get("kib_per_idle_conn").is_some_and(|v| !v.is_null()))
        .collect();
    if !measured.is_empty() {
        let servers: Vec<String> = measured
            .iter()
            .map(|r| r["server"].as_str().unwrap_or("").to_owned())
            .collect();
        let pick = |key: &str| measured.iter().map(|r| num(r, key)).collect::<Vec<_>>();
        let kib = vec![(
            "KiB per idle connection".to_owned(),
            pick("kib_per_idle_conn"),
        )];
        let p99 = vec![
            (
                "p99 without idle connections".to_owned(),
                pick("p99_ms_without_idle"),
            ),
            ("p99 with them".to_owned(), pick("p99_ms_with_idle")),
        ];
        let path = dir.join("idle.svg");
        let root = SVGBackend::new(&path, (1000, 900)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let (top, bottom) = root.split_vertically(450);
        let n = results["stamp"]["idle_conns"].as_u64().unwrap_or(0);
        bars(
            &top,
            &format!("{n} idle keep-alive connections: RSS each (KiB)"),
            "KiB (process tree RSS)",
            &servers,
            &kib,
            0f64..max_of(&kib, 1.0) * 1.2,
            0.0,
            None,
        )?;
        let lo = min_positive(&p99) * 0.8;
        bars(
            &bottom,
            "p99 of a moderate load, ms (log scale)",
            "ms",
            &servers,
            &p99,
            (lo..max_of(&p99, 1.0) * 3.0).log_scale(),
            lo,
            None,
        )?;
        root.present().map_err(e)?;
    }
    Ok(())
}

/// tls.svg: requests/s (keep-alive at each c, and a new connection per
/// request) and the server CPU per request, as hello.svg.
fn tls_plot(results: &Value, dir: &Path) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<std::io::Error>| e.to_string();
    let keep = rows(results, "tls");
    let close = rows(results, "tls-close");
    if keep.is_empty() && close.is_empty() {
        return Ok(());
    }
    let all: Vec<&Value> = keep.iter().chain(close.iter()).copied().collect();
    let servers = servers_of(&all);
    let series = |key: &'static str| -> Vec<(String, Vec<Option<f64>>)> {
        let measured = |r: &Value| num(r, "rps").and(num(r, key));
        let mut out: Vec<_> = TLS_CONNS
            .iter()
            .filter(|&&c| keep.iter().any(|r| r["conns"] == c))
            .map(|&c| {
                (
                    format!("keep-alive, c = {c}"),
                    values(&keep, &servers, c, measured),
                )
            })
            .collect();
        if !close.is_empty() {
            out.push((
                format!("new TLS connection per request, c = {TLS_CLOSE_CONNS}"),
                values(&close, &servers, TLS_CLOSE_CONNS, measured),
            ));
        }
        out
    };
    let rps = series("rps");
    let cpu = series("cpu_us_per_req");
    let path = dir.join("tls.svg");
    let root = SVGBackend::new(&path, (1000, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let (top, bottom) = root.split_vertically(450);
    // Log scale: a handshake per request is some 50 times slower.
    let lo = match min_positive(&rps) {
        v if v.is_finite() => v * 0.5,
        _ => 1.0,
    };
    bars(
        &top,
        "TLS hello, HTTPS GET /: requests/s (log scale; server on 1 core, wrk on the other)",
        "requests/s",
        &servers,
        &rps,
        (lo..max_of(&rps, 1.0) * 2.0).log_scale(),
        lo,
        None,
    )?;
    let lo = match min_positive(&cpu) {
        v if v.is_finite() => v * 0.7,
        _ => 1.0,
    };
    bars(
        &bottom,
        "Server CPU per request, µs (log scale; master and workers)",
        "µs per request",
        &servers,
        &cpu,
        // Headroom for the legend above the handshake bars.
        (lo..max_of(&cpu, 1.0) * 4.0).log_scale(),
        lo,
        None,
    )?;
    root.present().map_err(e)
}
