//! The whole `moss` server against its peers: moss (sync, gthread, green),
//! gunicorn (sync, gthread, gevent), may_minihttp and hyper, 2 workers each,
//! under wrk, in one run, interleaved rounds; and over TLS, moss-green,
//! gunicorn-gevent and hyper on tokio-rustls. `docs/benchmarks.md` ("The
//! whole server against its peers") explains the method and reads the
//! results.
//!
//! ```sh
//! CARGO_TARGET_DIR=target/load cargo run --release \
//!     --manifest-path benches/load/Cargo.toml -- [--quick] \
//!     [--scenarios hello,sleep,proxy,idle,tls] [--servers moss-green,hyper,...] \
//!     [--rounds R] [--seconds S] [--out docs/benchmarks]
//! ```
//!
//! A run of some scenarios only keeps the other scenarios' results already
//! in the output directory's results.json (each scenario's own stamp kept).

mod idle;
mod procs;
mod report;
mod servers;
mod setup;
mod tls;
mod wrk;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use servers::{App, Server};
use wrk::{Measured, Wrk};

/// Scenarios, in their order of a round.
pub const SCENARIOS: [&str; 5] = ["hello", "sleep", "proxy", "idle", "tls"];
/// Connections of the plaintext scenario.
pub const HELLO_CONNS: [usize; 3] = [64, 256, 1024];
/// Connections of the `/sleep?ms=100` scenario.
pub const SLEEP_CONNS: [usize; 2] = [200, 1000];
pub const SLEEP_MS: u64 = 100;
/// Connections of the proxy scenario, and the upstream's delay.
pub const PROXY_CONNS: usize = 200;
pub const UPSTREAM_MS: u64 = 50;
/// The moderate load of the idle scenario: connections, and each one's
/// pause between two requests.
pub const IDLE_LOAD_CONNS: usize = 16;
pub const IDLE_LOAD_DELAY_MS: u64 = 10;
/// Connections of the TLS scenario (keep-alive), `--quick` the first only.
pub const TLS_CONNS: [usize; 2] = [64, 256];
/// Connections of the TLS scenario's new-connection-per-request runs
/// (`Connection: close`: a full TLS handshake per request).
pub const TLS_CLOSE_CONNS: usize = 64;

#[derive(Debug, Clone)]
pub struct Settings {
    pub quick: bool,
    pub rounds: usize,
    pub seconds: u64,
    pub warmup: u64,
    pub scenarios: Vec<String>,
    pub servers: Vec<Server>,
    pub idle_conns: usize,
    pub idle_seconds: u64,
    pub idle_settle: u64,
    pub out: PathBuf,
    pub server_cpu: usize,
    pub client_cpu: usize,
}

const USAGE: &str = "\
usage: load [OPTIONS]

  --quick              1 round, 3 s runs (default: 3 rounds, 8 s runs)
  --scenarios LIST     of hello,sleep,proxy,idle,tls (all); a run of some
                       keeps the others' results already in DIR/results.json
                         hello  plaintext GET /, keep-alive, c = 64, 256, 1024
                         sleep  /sleep?ms=100, c = 200, 1000
                         proxy  a blocking call to a 50 ms upstream, c = 200
                         idle   10,000 idle keep-alive connections
                         tls    TLS hello: HTTPS GET /, keep-alive, c = 64, 256
                                (quick: 64), and a new TLS connection per
                                request (Connection: close), c = 64; servers
                                moss-green, gunicorn-gevent (--certfile,
                                --keyfile) and hyper-tls (with it, for the
                                new-connection run, hyper-tls-noresume: no
                                session resumption); a self-signed cert
                                made in target/load
  --servers LIST       of moss-sync,moss-gthread,moss-green,gunicorn-sync,
                       gunicorn-gthread,gunicorn-gevent,may_minihttp,hyper,
                       hyper-tls (all; each runs the scenarios it takes part in)
  --rounds R           interleaved rounds (medians reported)
  --seconds S          length of each measured wrk run
  --warmup S           wrk warm-up before each measured run (1)
  --idle-conns N       idle keep-alive connections of the idle scenario (10000)
  --idle-settle S      from the last idle connection to the RSS reading (2)
  --out DIR            results.json, tables.md and the plots (docs/benchmarks)
  --replot FILE        only write the tables and plots again from FILE
                       (a results.json), next to it
  --server-cpu CPU     the CPU of the servers (0); wrk, the driver and the
  --client-cpu CPU     proxy's upstream run on the client CPU (1)";

fn parse_args(root: &std::path::Path) -> Result<Option<Settings>, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let mut settings = Settings {
        quick,
        rounds: if quick { 1 } else { 3 },
        seconds: if quick { 3 } else { 8 },
        warmup: 1,
        scenarios: SCENARIOS.iter().map(|s| s.to_string()).collect(),
        servers: servers::ALL.to_vec(),
        idle_conns: 10_000,
        idle_seconds: if quick { 3 } else { 5 },
        idle_settle: 2,
        out: root.join("docs/benchmarks"),
        server_cpu: 0,
        client_cpu: 1,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{arg} {v}: not a number"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--quick" => {}
            "--replot" => {
                value()?;
            }
            "--rounds" => settings.rounds = number(value()?)?.max(1) as usize,
            "--seconds" => settings.seconds = number(value()?)?.max(1),
            "--warmup" => settings.warmup = number(value()?)?,
            "--idle-conns" => settings.idle_conns = number(value()?)? as usize,
            "--idle-settle" => settings.idle_settle = number(value()?)?,
            "--server-cpu" => settings.server_cpu = number(value()?)? as usize,
            "--client-cpu" => settings.client_cpu = number(value()?)? as usize,
            "--out" => settings.out = PathBuf::from(value()?),
            "--scenarios" => {
                settings.scenarios = value()?.split(',').map(str::to_owned).collect();
                if let Some(bad) =
                    (settings.scenarios.iter()).find(|s| !SCENARIOS.contains(&s.as_str()))
                {
                    return Err(format!("unknown scenario {bad}"));
                }
            }
            "--servers" => {
                settings.servers = value()?
                    .split(',')
                    .map(|name| {
                        (servers::ALL.iter().find(|s| s.name == name).copied())
                            .ok_or(format!("unknown server {name}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            _ => return Err(format!("unknown argument {arg}\n{USAGE}")),
        }
    }
    Ok(Some(settings))
}

fn main() -> ExitCode {
    procs::install_cleanup();
    let root = setup::repo_root();
    let settings = match parse_args(&root) {
        Ok(Some(settings)) => settings,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("load: {why}");
            return ExitCode::from(2);
        }
    };
    // `--replot FILE`: the tables and plots again from a results.json.
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--replot") {
        let Some(file) = args.get(at + 1) else {
            eprintln!("load: --replot needs a results.json");
            return ExitCode::from(2);
        };
        return match replot(std::path::Path::new(file)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(why) => {
                eprintln!("load: {why}");
                ExitCode::FAILURE
            }
        };
    }
    let code = match run(&root, &settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("load: {why}");
            ExitCode::FAILURE
        }
    };
    procs::kill_all();
    code
}

/// The record of one measured run.
fn record(
    round: usize,
    scenario: &str,
    server: &str,
    conns: usize,
    m: &Result<Measured, String>,
) -> Value {
    let mut v = json!({"round": round, "scenario": scenario, "server": server, "conns": conns});
    match m {
        Ok(m) => {
            v["rps"] = json!(m.rps);
            v["requests"] = json!(m.requests);
            v["seconds"] = json!(m.seconds);
            v["errors"] = json!(m.errors);
            v["timeouts"] = json!(m.timeouts);
            v["non_2xx"] = json!(m.non_2xx);
            v["p50_ms"] = json!(m.p50_ms);
            v["p99_ms"] = json!(m.p99_ms);
            v["max_ms"] = json!(m.max_ms);
            v["cpu_us_per_req"] = json!(m.cpu_us_per_req);
            v["cpu_share"] = json!(m.cpu_share);
            v["client_cpu_share"] = json!(m.client_cpu_share);
            v["other_cpu"] = json!(m.other_cpu);
            v["peak_rss_kib"] = json!(m.peak_rss_kib);
        }
        Err(why) => v["error"] = json!(why),
    }
    v
}

fn say(started: Instant, line: &str) {
    eprintln!("[{:>6.1}s] {line}", started.elapsed().as_secs_f64());
}

fn brief(m: &Result<Measured, String>) -> String {
    match m {
        Ok(m) => format!(
            "{:>9.0} req/s  p99 {:>8.1} ms  cpu {:>6.1} us/req ({:>3.0} %, wrk {:>3.0} %, other {:>3.0} %)  peak {:>7} KiB  errors {}",
            m.rps,
            m.p99_ms,
            m.cpu_us_per_req,
            m.cpu_share * 100.0,
            m.client_cpu_share * 100.0,
            m.other_cpu * 100.0,
            m.peak_rss_kib,
            m.errors
        ),
        Err(why) => format!("FAILED: {why}"),
    }
}

fn run(root: &std::path::Path, settings: &Settings) -> Result<(), String> {
    let started = Instant::now();
    let tools = setup::prepare(root)?;
    let nofile = procs::raise_nofile_limit();
    if !procs::pin_self(settings.client_cpu) {
        eprintln!(
            "load: could not pin the driver to CPU {}",
            settings.client_cpu
        );
    }
    let mut stamp = setup::stamp(&tools, settings, nofile);
    stamp["loadavg_start"] = json!(setup::loadavg());
    say(started, &format!("stamp: {stamp}"));
    std::fs::create_dir_all(&settings.out)
        .map_err(|e| format!("{}: {e}", settings.out.display()))?;
    let wrk = Wrk::new(tools.wrk.clone(), &tools.paths.logs, settings.client_cpu)
        .map_err(|e| format!("wrk script: {e}"))?;
    let (warmup, secs) = (settings.warmup, settings.seconds);
    let mut runs: Vec<Value> = Vec::new();
    let mut idle_runs: Vec<Value> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let wants = |s: &str| settings.scenarios.iter().any(|x| x == s);
    let upstream = if wants("proxy") {
        match servers::start_upstream(settings.client_cpu, &tools.paths) {
            Ok(up) => Some(up),
            Err(why) => {
                failures.push(why.clone());
                say(started, &format!("proxy scenario skipped: {why}"));
                None
            }
        }
    } else {
        None
    };
    // The TLS scenario's certificate, made once, before its first round.
    let tls_files = if wants("tls") {
        match tls::make_cert(&root.join("target/load")) {
            Ok(files) => {
                say(
                    started,
                    &format!(
                        "tls: made {} and {}",
                        files.cert.display(),
                        files.key.display()
                    ),
                );
                Some(files)
            }
            Err(why) => {
                failures.push(format!("tls scenario skipped: {why}"));
                say(started, &format!("tls scenario skipped: {why}"));
                None
            }
        }
    } else {
        None
    };
    let measure = |addr, path: &str, conns, pgid| -> Result<Measured, String> {
        if warmup > 0 {
            wrk.run(addr, path, conns, warmup, 0, pgid)?;
        }
        wrk.run(addr, path, conns, secs, 0, pgid)
    };
    for round in 1..=settings.rounds {
        for scenario in settings.scenarios.iter() {
            // Round-robin over the servers that take part, starting one
            // server further each round.
            let taking_part: Vec<Server> = (settings.servers.iter().copied())
                .filter(|s| s.runs(scenario))
                .collect();
            let n = taking_part.len();
            let order: Vec<Server> = (0..n).map(|i| taking_part[(i + round - 1) % n]).collect();
            say(
                started,
                &format!("round {round}/{}: {scenario}", settings.rounds),
            );
            if scenario == "proxy" {
                if upstream.is_none() {
                    continue;
                }
                // The upstream's ceiling: another instance of it, alone on
                // the server CPU (as a proxy has the server CPU to itself).
                let path = format!("/sleep?ms={UPSTREAM_MS}");
                let m = servers::start_upstream(settings.server_cpu, &tools.paths)
                    .and_then(|alone| measure(alone.addr, &path, PROXY_CONNS, alone.group.pid));
                say(
                    started,
                    &format!(
                        "  {:<17} c={PROXY_CONNS:<5} {}",
                        "upstream-alone",
                        brief(&m)
                    ),
                );
                runs.push(record(round, "proxy", "upstream-alone", PROXY_CONNS, &m));
            }
            if scenario == "tls" && tls_files.is_none() {
                continue;
            }
            for &server in &order {
                if scenario == "tls" {
                    let files = tls_files.as_ref().expect("checked above");
                    let (r, f) =
                        tls_run(round, server, settings, &tools.paths, files, &wrk, started);
                    runs.extend(r);
                    failures.extend(f);
                    continue;
                }
                if scenario == "idle" {
                    let v = idle_run(round, server, settings, &tools.paths, &wrk, started);
                    if let Some(why) = v.get("error").and_then(Value::as_str) {
                        failures.push(format!("round {round} idle {}: {why}", server.name));
                    }
                    idle_runs.push(v);
                    continue;
                }
                let (app, path, conns): (App, String, Vec<usize>) = match scenario.as_str() {
                    "hello" => (App::Hello, "/".into(), HELLO_CONNS.to_vec()),
                    "sleep" => (
                        App::Sleep,
                        format!("/sleep?ms={SLEEP_MS}"),
                        SLEEP_CONNS.to_vec(),
                    ),
                    _ => {
                        let Some(up) = &upstream else { continue };
                        (
                            App::Proxy(up.addr),
                            format!("/sleep?ms={UPSTREAM_MS}"),
                            vec![PROXY_CONNS],
                        )
                    }
                };
                // Plaintext: one server for every c, a wrk warm-up before
                // each. Sleep and proxy: a fresh server for each c and no wrk
                // warm-up, as an overloaded server (sync, gthread) would
                // otherwise still be serving the warm-up's queued
                // connections during the measurement.
                let fresh = scenario != "hello";
                let groups: Vec<Vec<usize>> = match fresh {
                    true => conns.iter().map(|&c| vec![c]).collect(),
                    false => vec![conns.clone()],
                };
                for group in groups {
                    let running = match servers::start(
                        server,
                        app,
                        settings.server_cpu,
                        2,
                        None,
                        &tools.paths,
                    ) {
                        Ok(running) => running,
                        Err(why) => {
                            say(
                                started,
                                &format!("  {:<17} FAILED TO START: {why}", server.name),
                            );
                            failures
                                .push(format!("round {round} {scenario} {}: {why}", server.name));
                            for &c in &group {
                                runs.push(record(
                                    round,
                                    scenario,
                                    server.name,
                                    c,
                                    &Err(format!("did not start: {why}")),
                                ));
                            }
                            continue;
                        }
                    };
                    for &c in &group {
                        let pgid = running.group.pid;
                        let m = match fresh {
                            true => wrk.run(running.addr, &path, c, secs, 0, pgid),
                            false => measure(running.addr, &path, c, pgid),
                        };
                        say(
                            started,
                            &format!("  {:<17} c={c:<5} {}", server.name, brief(&m)),
                        );
                        if let Err(why) = &m {
                            failures.push(format!(
                                "round {round} {scenario} {} c={c}: {why}",
                                server.name
                            ));
                        }
                        runs.push(record(round, scenario, server.name, c, &m));
                    }
                    drop(running);
                }
            }
        }
    }
    drop(upstream);
    stamp["loadavg_end"] = json!(setup::loadavg());
    stamp["elapsed_seconds"] = json!(started.elapsed().as_secs_f64());
    let mut results = json!({
        "stamp": stamp,
        "runs": runs,
        "idle": idle_runs,
        "failures": failures,
    });
    let json_path = settings.out.join("results.json");
    if SCENARIOS.iter().any(|s| !wants(s)) {
        merge_previous(&mut results, &json_path, &settings.scenarios);
    }
    write_outputs(results, &settings.out)?;
    say(
        started,
        &format!(
            "wrote {} and the plots; {} failures",
            json_path.display(),
            failures.len()
        ),
    );
    Ok(())
}

/// The scenario a run record or a failure belongs to, as `--scenarios`
/// names it (`tls-close` is part of `tls`).
fn family(scenario: &str) -> &str {
    match scenario {
        "tls-close" => "tls",
        other => other,
    }
}

/// A run of some scenarios only: keeps the results of the others from the
/// previous `results.json` at `path` (its runs, idle runs, failures and
/// stamp), and records this run's stamp as the stamp of the scenarios it
/// ran (`stamps`); the previous file's stamps of the others stay.
fn merge_previous(results: &mut Value, path: &std::path::Path, ran: &[String]) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let Ok(old) = serde_json::from_str::<Value>(&text) else {
        eprintln!(
            "load: {} is not JSON: written anew, not merged",
            path.display()
        );
        return;
    };
    let rerun = |scenario: &str| ran.iter().any(|s| s == family(scenario));
    let empty = Vec::new();
    let kept = |key: &str, keep: &dyn Fn(&Value) -> bool| -> Vec<Value> {
        (old[key].as_array().unwrap_or(&empty).iter())
            .filter(|v| keep(v))
            .cloned()
            .collect()
    };
    let mut runs = kept("runs", &|v| !rerun(v["scenario"].as_str().unwrap_or("")));
    if runs.is_empty() && !rerun("idle") && old["idle"].as_array().is_none_or(Vec::is_empty) {
        // Nothing of another scenario to keep.
        return;
    }
    runs.extend(results["runs"].as_array().unwrap_or(&empty).iter().cloned());
    let mut idle = if rerun("idle") {
        Vec::new()
    } else {
        kept("idle", &|_| true)
    };
    idle.extend(results["idle"].as_array().unwrap_or(&empty).iter().cloned());
    // Failures read "round N SCENARIO ..." or "SCENARIO scenario skipped: ...".
    let mut failures = kept("failures", &|f| {
        let words: Vec<&str> = f.as_str().unwrap_or("").split_whitespace().collect();
        let scenario = match words[..] {
            ["round", _, scenario, ..] => scenario,
            [scenario, "scenario", ..] => scenario,
            _ => "",
        };
        !rerun(scenario)
    });
    failures.extend(
        results["failures"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .cloned(),
    );
    let mut stamps = old["stamps"].clone();
    if !stamps.is_object() {
        stamps = json!({});
    }
    for scenario in ran {
        stamps[scenario.as_str()] = results["stamp"].clone();
    }
    let stamp = if old["stamp"].is_object() {
        old["stamp"].clone()
    } else {
        results["stamp"].clone()
    };
    *results = json!({
        "stamp": stamp,
        "stamps": stamps,
        "runs": runs,
        "idle": idle,
        "failures": failures,
    });
    eprintln!(
        "load: merged with the other scenarios' results in {}",
        path.display()
    );
}

/// The TLS scenario for one server: one server (with `--certfile`,
/// `--keyfile`), wrk on `https://` at each c of [`TLS_CONNS`] after a
/// warm-up, then (moss-green, hyper-tls) with `Connection: close` at
/// [`TLS_CLOSE_CONNS`]: the run records and the failures.
fn tls_run(
    round: usize,
    server: Server,
    settings: &Settings,
    paths: &servers::Paths,
    files: &tls::Files,
    wrk: &Wrk,
    started: Instant,
) -> (Vec<Value>, Vec<String>) {
    let conns: Vec<usize> = match settings.quick {
        true => TLS_CONNS[..1].to_vec(),
        false => TLS_CONNS.to_vec(),
    };
    let mut plan: Vec<(&str, usize)> = conns.iter().map(|&c| ("tls", c)).collect();
    if server.tls_close() {
        plan.push(("tls-close", TLS_CLOSE_CONNS));
    }
    let (mut runs, mut failures) = (Vec::new(), Vec::new());
    let running = match servers::start(
        server,
        App::Hello,
        settings.server_cpu,
        2,
        Some(files),
        paths,
    ) {
        Ok(running) => running,
        Err(why) => {
            say(
                started,
                &format!("  {:<17} FAILED TO START: {why}", server.name),
            );
            failures.push(format!("round {round} tls {}: {why}", server.name));
            for (scenario, c) in plan {
                let m = Err(format!("did not start: {why}"));
                runs.push(record(round, scenario, server.name, c, &m));
            }
            return (runs, failures);
        }
    };
    let url = format!("https://127.0.0.1:{}/", running.addr.port());
    let pgid = running.group.pid;
    for (scenario, c) in plan {
        let headers: &[&str] = match scenario {
            "tls-close" => &["Connection: close"],
            _ => &[],
        };
        let mut m = Ok(Measured::default());
        if settings.warmup > 0 {
            m = wrk.run_url(&url, headers, c, settings.warmup, 0, pgid);
        }
        if m.is_ok() {
            m = wrk.run_url(&url, headers, c, settings.seconds, 0, pgid);
        }
        let label = match scenario {
            "tls-close" => format!("{} (close)", server.name),
            _ => server.name.to_owned(),
        };
        say(started, &format!("  {label:<17} c={c:<5} {}", brief(&m)));
        if let Err(why) = &m {
            failures.push(format!(
                "round {round} {scenario} {} c={c}: {why}",
                server.name
            ));
        }
        runs.push(record(round, scenario, server.name, c, &m));
    }
    drop(running);
    // hyper-tls resumes nearly every session wrk offers again (its one
    // process holds them all); moss's worker processes each hold their own.
    // The same peer without resumption bounds the other end: every
    // handshake full.
    if server.kind == servers::Kind::HyperTls {
        let full = Server::HYPER_TLS_FULL;
        let (r, f) = tls_close_alone(round, full, settings, paths, files, wrk, started);
        runs.extend(r);
        failures.extend(f);
    }
    (runs, failures)
}

/// The new-connection-per-request run alone, on a server of its own.
fn tls_close_alone(
    round: usize,
    server: Server,
    settings: &Settings,
    paths: &servers::Paths,
    files: &tls::Files,
    wrk: &Wrk,
    started: Instant,
) -> (Vec<Value>, Vec<String>) {
    let c = TLS_CLOSE_CONNS;
    let m = servers::start(
        server,
        App::Hello,
        settings.server_cpu,
        2,
        Some(files),
        paths,
    )
    .and_then(|running| {
        let url = format!("https://127.0.0.1:{}/", running.addr.port());
        let headers = ["Connection: close"];
        let pgid = running.group.pid;
        if settings.warmup > 0 {
            wrk.run_url(&url, &headers, c, settings.warmup, 0, pgid)?;
        }
        wrk.run_url(&url, &headers, c, settings.seconds, 0, pgid)
    });
    say(
        started,
        &format!("  {:<17} c={c:<5} {}", server.name, brief(&m)),
    );
    let failures = match &m {
        Err(why) => vec![format!(
            "round {round} tls-close {} c={c}: {why}",
            server.name
        )],
        Ok(_) => Vec::new(),
    };
    (
        vec![record(round, "tls-close", server.name, c, &m)],
        failures,
    )
}

/// results.json (with its summary), tables.md and the plots in `dir`.
fn write_outputs(mut results: Value, dir: &std::path::Path) -> Result<(), String> {
    results["summary"] = report::summarize(&results);
    let json_path = dir.join("results.json");
    let text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
    std::fs::write(&json_path, text).map_err(|e| format!("{}: {e}", json_path.display()))?;
    let tables = report::tables(&results);
    std::fs::write(dir.join("tables.md"), &tables).map_err(|e| e.to_string())?;
    println!("{tables}");
    report::plots(&results, dir)
}

fn replot(file: &std::path::Path) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let results: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    write_outputs(results, file.parent().unwrap_or(std::path::Path::new(".")))
}

/// The idle scenario for one server: a moderate load alone, then 10,000
/// idle keep-alive connections held, their RSS, the server's idle CPU, and
/// the same moderate load again.
fn idle_run(
    round: usize,
    server: Server,
    settings: &Settings,
    paths: &servers::Paths,
    wrk: &Wrk,
    started: Instant,
) -> Value {
    let mut v = json!({"round": round, "server": server.name});
    if !server.holds_idle() {
        v["skipped"] = json!("one connection at a time, closed after each response");
        return v;
    }
    let running = match servers::start(server, App::Hello, settings.server_cpu, 600, None, paths) {
        Ok(running) => running,
        Err(why) => {
            say(
                started,
                &format!("  {:<17} FAILED TO START: {why}", server.name),
            );
            v["error"] = json!(format!("did not start: {why}"));
            return v;
        }
    };
    let pgid = running.group.pid;
    let moderate = |seconds| {
        wrk.run(
            running.addr,
            "/",
            IDLE_LOAD_CONNS,
            seconds,
            IDLE_LOAD_DELAY_MS,
            pgid,
        )
    };
    if settings.warmup > 0 {
        let _ = moderate(settings.warmup);
    }
    let without = moderate(settings.seconds);
    std::thread::sleep(Duration::from_secs(1));
    let rss_before = procs::tree_rss(pgid);
    let opening = Instant::now();
    let held = idle::open(running.addr, settings.idle_conns, Duration::from_secs(120));
    let open_seconds = opening.elapsed().as_secs_f64();
    let opened = held.len();
    std::thread::sleep(Duration::from_secs(settings.idle_settle));
    let rss_after = procs::tree_rss(pgid);
    let cpu0 = procs::tree_cpu(pgid);
    let idle_start = Instant::now();
    std::thread::sleep(Duration::from_secs(settings.idle_seconds));
    let idle_cpu = (procs::tree_cpu(pgid) - cpu0) / idle_start.elapsed().as_secs_f64();
    let with = moderate(settings.seconds);
    let open_after = idle::still_open(&held);
    drop(held);
    let kib_per_conn = (opened > 0).then(|| (rss_after as f64 - rss_before as f64) / opened as f64);
    v["idle_opened"] = json!(opened);
    v["idle_requested"] = json!(settings.idle_conns);
    v["idle_open_at_end"] = json!(open_after);
    v["open_seconds"] = json!(open_seconds);
    v["rss_before_kib"] = json!(rss_before);
    v["rss_with_idle_kib"] = json!(rss_after);
    v["kib_per_idle_conn"] = json!(kib_per_conn);
    v["idle_cpu_share"] = json!(idle_cpu);
    v["without_idle"] = record(round, "idle", server.name, IDLE_LOAD_CONNS, &without);
    v["with_idle"] = record(round, "idle", server.name, IDLE_LOAD_CONNS, &with);
    say(
        started,
        &format!(
            "  {:<17} {} idle opened, {} open at the end (of {}), {:.2} KiB each, idle CPU {:.1} %; p99 {} -> {}",
            server.name,
            opened,
            open_after,
            settings.idle_conns,
            kib_per_conn.unwrap_or(f64::NAN),
            idle_cpu * 100.0,
            without.as_ref().map_or("failed".into(), |m| format!("{:.2} ms", m.p99_ms)),
            with.as_ref().map_or("failed".into(), |m| format!("{:.2} ms", m.p99_ms)),
        ),
    );
    v
}
