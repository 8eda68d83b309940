//! Slow clients ("slowloris") against moss's HTTP engine and hyper: what a
//! connection that never finishes its request costs the server in memory,
//! whether the server's timeouts close it, and what it does to the
//! latency of normal clients served meanwhile.
//!
//! ```sh
//! cargo build --release --examples
//! target/release/examples/slow_clients                        # 500 slow connections, every mode and peer
//! target/release/examples/slow_clients --conns 2000 --mode big-head --peers moss
//! cargo run --release --example slow_clients -- --help
//! ```
//!
//! `docs/slow-clients.md` explains the method and reads the results.
//!
//! # Method
//!
//! For each peer: a fresh server runs the normal load alone (the
//! baseline: C keep-alive connections doing `GET /` in a loop for S
//! seconds, R rounds, the round of median requests/s kept), then the
//! largest request head it waits on while unfinished (and then answers
//! once finished) is found by bisection. Then, for each mode, a fresh server: one warm-up request,
//! `VmRSS` (before); N slow connections opened one after the other; after
//! the settle time `VmRSS` again (with slow); the same normal load; then
//! the connections are held until `--hold` seconds after the last one
//! opened, and counted: how many the server closed, when, and what it
//! answered. (with slow - before) / N is the RSS per slow connection.
//!
//! The modes:
//!
//! * `slow-head`: `GET / HTTP/1.1`, `Host`, then one byte of a header field
//!   every interval; the head never ends.
//! * `big-head`: a head of the largest size the server accepts, less its
//!   final CRLF, then nothing.
//! * `slow-body`: a `POST` head with `Content-Length: 1000000`, then one
//!   body byte every interval.
//!
//! The peers, each a child process pinned to `--server-cpu` with
//! `taskset`; this process (the clients) is pinned to another CPU:
//!
//! * `moss`: `http_echo` (this binary's directory), moss's engine on green
//!   threads on one hub, with its defaults and any `--moss-arg`.
//! * `hyper`: a minimal hyper 1 server on a tokio current-thread runtime,
//!   this binary run again with `--serve-hyper ADDR` (`hyper_peer.rs`).
//!
//! Loopback only. The soft `RLIMIT_NOFILE` is raised to the hard limit
//! (the servers inherit it). Every wait is bounded; a peer or mode that
//! fails is reported and the run goes on.

mod hyper_peer;
mod load;
mod measure;
mod report;
mod server;
mod slow;

use std::process::ExitCode;
use std::time::Duration;

use server::Peer;
use slow::Mode;

/// What the command line asks for.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Slow connections per mode.
    pub conns: usize,
    /// Normal keep-alive connections.
    pub normal: usize,
    /// How long one round of the normal load runs.
    pub seconds: Duration,
    /// Rounds of the normal load per measurement (the median one is kept).
    pub rounds: usize,
    /// The servers to measure.
    pub peers: Vec<Peer>,
    /// The kinds of slow client.
    pub modes: Vec<Mode>,
    /// The CPU the servers are pinned to.
    pub server_cpu: usize,
    /// Time between two trickled bytes of one slow connection.
    pub interval: Duration,
    /// From the last slow connection's opening to the final count.
    pub hold: Duration,
    /// Pause before each RSS reading.
    pub settle: Duration,
    /// Extra arguments for `http_echo`, before its address.
    pub moss_args: Vec<String>,
    /// Relay the servers' stderr.
    pub verbose: bool,
}

const USAGE: &str = "\
usage: slow_clients [OPTIONS]

  --conns N          slow connections per mode (500)
  --normal C         normal keep-alive connections doing GET / in a loop (50)
  --seconds S        how long one round of the normal load runs (5)
  --rounds R         rounds of the normal load per measurement; the round
                     of median requests/s is reported (3)
  --peers LIST       comma-separated, of moss,hyper (both)
  --mode LIST        comma-separated, of slow-head,big-head,slow-body (all)
  --interval S       seconds between two bytes of a slow connection (5)
  --hold S           count closed slow connections S seconds after the last
                     one opened (40: past the 30 s header timeouts)
  --settle-ms MS     pause before each RSS reading (2500)
  --server-cpu CPU   the CPU the servers are pinned to (0); the clients run
                     on another one
  --moss-arg ARG     pass ARG to http_echo (repeatable), e.g. --moss-arg
                     --keep-alive --moss-arg 5
  --verbose          relay the servers' stderr";

fn seconds(value: &str, flag: &str) -> Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| format!("{flag} {value}: not a number of seconds"))
}

fn parse_args(args: &[String]) -> Result<Option<Settings>, String> {
    let mut settings = Settings {
        conns: 500,
        normal: 50,
        seconds: Duration::from_secs(5),
        rounds: 3,
        peers: Peer::ALL.to_vec(),
        modes: Mode::ALL.to_vec(),
        server_cpu: 0,
        interval: Duration::from_secs(5),
        hold: Duration::from_secs(40),
        settle: Duration::from_millis(2500),
        moss_args: Vec::new(),
        verbose: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--conns" | "--normal" | "--rounds" | "--server-cpu" => {
                let value = value()?;
                let number = value
                    .parse()
                    .map_err(|_| format!("{arg} {value}: not a number"))?;
                match arg.as_str() {
                    "--conns" => settings.conns = number,
                    "--normal" => settings.normal = number,
                    "--rounds" => settings.rounds = number,
                    _ => settings.server_cpu = number,
                }
            }
            "--seconds" => settings.seconds = seconds(value()?, arg)?,
            "--interval" => settings.interval = seconds(value()?, arg)?,
            "--hold" => settings.hold = seconds(value()?, arg)?,
            "--settle-ms" => {
                let value = value()?;
                let ms = value
                    .parse()
                    .map_err(|_| format!("--settle-ms {value}: not a number"))?;
                settings.settle = Duration::from_millis(ms);
            }
            "--peers" => {
                settings.peers = value()?
                    .split(',')
                    .map(|name| Peer::parse(name).ok_or(format!("unknown peer {name}")))
                    .collect::<Result<_, _>>()?;
            }
            "--mode" | "--modes" => {
                settings.modes = value()?
                    .split(',')
                    .map(|name| Mode::parse(name).ok_or(format!("unknown mode {name}")))
                    .collect::<Result<_, _>>()?;
            }
            "--moss-arg" => settings.moss_args.push(value()?.clone()),
            "--verbose" => settings.verbose = true,
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    if settings.conns == 0
        || settings.normal == 0
        || settings.rounds == 0
        || settings.interval.is_zero()
    {
        return Err("--conns, --normal, --rounds and --interval must be above zero".to_owned());
    }
    Ok(Some(settings))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The hyper peer, run as a child of this binary.
    if let [flag, address] = &args[..] {
        if flag == "--serve-hyper" {
            if let Err(error) = hyper_peer::serve(address) {
                eprintln!("slow_clients --serve-hyper: {error}");
            }
            return ExitCode::FAILURE;
        }
    }
    let settings = match parse_args(&args) {
        Ok(Some(settings)) => settings,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("slow_clients: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let limit = server::raise_nofile_limit();
    let needed = settings.conns + settings.normal + 100;
    if (limit as usize) < needed {
        eprintln!(
            "slow_clients: {needed} descriptors needed per process; RLIMIT_NOFILE allows {limit}"
        );
        return ExitCode::FAILURE;
    }
    // Before any thread starts, so that they all inherit it.
    let client_cpu = server::pin_client(settings.server_cpu);
    let runs = measure::run_all(&settings);
    report::print(&settings, client_cpu, &runs);
    ExitCode::SUCCESS
}
