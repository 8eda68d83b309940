//! Memory of idle keep-alive HTTP connections: KiB of server RSS per idle
//! connection, and the RSS a server keeps once they have closed, for
//! moss's engine on green threads, the same engine on OS threads, and
//! minimal tokio servers, each in a fresh child process, in one run.
//!
//! ```sh
//! cargo build --release --examples
//! target/release/examples/idle_conns                       # 5,000 connections, every peer
//! target/release/examples/idle_conns --conns 20000 --peers moss,tokio
//! ```
//!
//! Options: `--conns N` (5000), `--silent M` (100), `--peers LIST`
//! (comma-separated, default all: `moss,threads,tokio,tokio-readable,
//! moss-counted`), `--settle-ms MS` (2500: the hub sweeps parked stacks once a second), `--server-cpu CPU` (0),
//! `--verbose` (relay the servers' stderr).
//! `docs/idle-memory.md` explains the method and reads the results.
//!
//! # Method
//!
//! For each peer in turn: start the server (pinned to one CPU with
//! `taskset` when there is one), make one request on one connection and
//! close it (one-time set-up then belongs to the baseline), wait, read the
//! server's `VmRSS` (before). Open N connections from this process, each
//! sending one `GET / HTTP/1.1` and reading the whole response, then idle;
//! wait, read `VmRSS` again (idle) and how `/proc/PID/smaps` splits it by
//! kind of mapping; (idle - before) / N is the figure per connection.
//! Close them all, wait until the server has closed its ends, wait again,
//! read `VmRSS` (after close): what a burst leaves behind.
//!
//! Alongside: the resident pages of every green-thread stack slot
//! (`/proc/PID/pagemap`) and how deep below its top each stack reached
//! (its lowest non-zero byte, `/proc/PID/mem`), read again once M more
//! connections have connected without sending anything (their green
//! threads are parked in their first read and have run no request: the
//! depth of the park point alone); the page tables (`VmPTE`) and the kernel's socket
//! objects and buffers (`/proc/slabinfo`, `/proc/net/sockstat`), which no
//! RSS counts; and for the peers that run in this binary (`*-counted`,
//! `tokio*`) a counting allocator's live allocations by size, with the
//! bytes of each size that sit on resident pages, and the RSS after glibc's
//! `malloc_trim(0)` (asked of the server's control thread, `control.rs`).
//!
//! The peers:
//!
//! * `moss`: `http_echo --keep-alive 600`, one green thread per connection
//!   on one hub.
//! * `threads`: `http_echo --threads --keep-alive 600`, the same engine on
//!   one OS thread per connection.
//! * `tokio`, `tokio-readable`: two minimal tokio servers, see
//!   `tokio_peers.rs`.
//! * `moss-counted`, `threads-counted`: `http_echo`'s own `serve_green`
//!   and `serve_threads` (this binary includes `http_echo.rs`) with
//!   `--keep-alive 600`, their allocations counted; their RSS matches
//!   `moss` and `threads`.
//!
//! Loopback only. Needs about N + 100 descriptors in each process: the
//! soft `RLIMIT_NOFILE` is raised to the hard limit, and the servers
//! inherit it. Every wait is bounded; a peer that fails is reported and
//! the run goes on.

// `http_echo` itself, so that `moss-counted` and `threads-counted` run its
// `serve_green` and `serve_threads` (both, as there, or the engine's code
// would be inlined differently); its `main` is not used here.
#[path = "../http_echo.rs"]
#[allow(dead_code)]
mod http_echo;

mod alloc;
mod client;
mod control;
mod measure;
mod procfs;
mod report;
mod tokio_peers;

use std::process::ExitCode;
use std::time::Duration;

use measure::{Peer, Settings};
use moss::server::HttpConfig;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// How long the servers keep an idle connection open.
const KEEP_ALIVE: Duration = Duration::from_secs(600);

fn parse_args(args: &[String]) -> Result<Settings, String> {
    let mut settings = Settings {
        conns: 5000,
        silent: 100,
        peers: Peer::ALL.to_vec(),
        settle: Duration::from_millis(2500),
        server_cpu: 0,
        verbose: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--conns" => {
                let value = value()?;
                settings.conns = value
                    .parse()
                    .map_err(|_| format!("--conns {value}: not a count"))?;
            }
            "--silent" => {
                let value = value()?;
                settings.silent = value
                    .parse()
                    .map_err(|_| format!("--silent {value}: not a count"))?;
            }
            "--peers" => {
                settings.peers = value()?
                    .split(',')
                    .map(|name| Peer::parse(name).ok_or(format!("unknown peer {name}")))
                    .collect::<Result<_, _>>()?;
            }
            "--settle-ms" => {
                let value = value()?;
                let ms = value
                    .parse()
                    .map_err(|_| format!("--settle-ms {value}: not a number"))?;
                settings.settle = Duration::from_millis(ms);
            }
            "--server-cpu" => {
                let value = value()?;
                settings.server_cpu = value
                    .parse()
                    .map_err(|_| format!("--server-cpu {value}: not a CPU number"))?;
            }
            "--verbose" => settings.verbose = true,
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    Ok(settings)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // A server this binary runs as a child: `--serve KIND ADDR`.
    if let [flag, kind, address] = &args[..] {
        if flag == "--serve" {
            alloc::prefault();
            let config = HttpConfig {
                keep_alive: KEEP_ALIVE,
                ..HttpConfig::default()
            };
            let served = control::start().and_then(|()| match kind.as_str() {
                "moss-counted" => http_echo::serve_green(address, config),
                "threads-counted" => http_echo::serve_threads(address, config),
                "tokio" => tokio_peers::serve(address, false),
                "tokio-readable" => tokio_peers::serve(address, true),
                _ => Err(std::io::Error::other(format!("unknown server {kind}"))),
            });
            if let Err(error) = served {
                eprintln!("idle_conns --serve {kind}: {error}");
            }
            return ExitCode::FAILURE;
        }
    }
    let settings = match parse_args(&args) {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("idle_conns: {message}");
            eprintln!(
                "usage: idle_conns [--conns N] [--silent M] [--peers moss,threads,tokio,...] \
                 [--settle-ms MS] [--server-cpu CPU] [--verbose]"
            );
            return ExitCode::from(2);
        }
    };
    match measure::run_all(&settings) {
        Ok(results) => {
            report::print(&settings, &results);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("idle_conns: {error}");
            ExitCode::FAILURE
        }
    }
}
