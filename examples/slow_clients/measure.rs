//! One run per peer: a baseline (the normal load alone), then one fresh
//! server per mode with N slow connections held while the same normal load
//! runs.

use std::collections::BTreeMap;
use std::io;
use std::time::{Duration, Instant};

use crate::load::{self, Load};
use crate::server::{Peer, Server};
use crate::slow::{self, Driver, Mode};
use crate::Settings;

/// Everything measured for one peer.
pub struct PeerRun {
    pub peer: Peer,
    pub baseline: Result<Load, String>,
    /// The largest complete head the server accepted (probed when the
    /// big-head mode runs).
    pub max_head: Option<usize>,
    pub modes: Vec<(Mode, Result<ModeRun, String>)>,
}

/// One mode against one fresh server.
pub struct ModeRun {
    /// Bytes each slow connection sent on opening.
    pub opening: usize,
    pub open_time: Duration,
    /// `VmRSS`, KiB: before the slow connections, with them (after the
    /// settle time), after the normal load, at the end of the hold.
    pub rss_before: u64,
    pub rss_slow: u64,
    pub rss_load: u64,
    pub rss_end: u64,
    /// The server's descriptors before, with the slow connections, at the
    /// end of the hold.
    pub fds_before: usize,
    pub fds_slow: usize,
    pub fds_end: usize,
    /// Slow connections the server had closed when the RSS was read with
    /// them, when the normal load ended, at the end of the hold.
    pub closed_at_rss: usize,
    pub closed_at_load_end: usize,
    pub closed_at_end: usize,
    /// When each closed connection was closed, seconds after it opened,
    /// sorted.
    pub close_after: Vec<f64>,
    /// Status codes of the responses the server sent them -> how many.
    pub statuses: BTreeMap<u16, usize>,
    pub load: Load,
    /// Seconds from the last slow connection's opening to the final count.
    pub held: f64,
    pub server_messages: usize,
    pub server_alive: bool,
}

/// Runs every peer of `settings` in turn; a peer or mode that fails is
/// reported and the run goes on.
pub fn run_all(settings: &Settings) -> Vec<PeerRun> {
    let mut runs = Vec::new();
    for &peer in &settings.peers {
        eprintln!("slow_clients: {}: baseline ...", peer.name());
        let probe = settings.modes.contains(&Mode::BigHead);
        let (baseline, max_head) = match baseline(peer, settings, probe) {
            Ok((load, max_head)) => (Ok(load), max_head),
            Err(error) => {
                eprintln!("slow_clients: {}: baseline failed: {error}", peer.name());
                (Err(error.to_string()), None)
            }
        };
        let mut modes = Vec::new();
        for &mode in &settings.modes {
            eprintln!("slow_clients: {}: {} ...", peer.name(), mode.name());
            let big_head = match (mode, max_head) {
                (Mode::BigHead, None) => {
                    let error = "the largest accepted head is unknown".to_owned();
                    modes.push((mode, Err(error)));
                    continue;
                }
                (Mode::BigHead, Some(max)) => {
                    let mut head = slow::head_of(max);
                    // Everything but the final CRLF.
                    head.truncate(head.len() - 2);
                    head
                }
                _ => Vec::new(),
            };
            let result = measure(peer, mode, &big_head, settings).map_err(|e| e.to_string());
            if let Err(error) = &result {
                eprintln!(
                    "slow_clients: {}: {} failed: {error}",
                    peer.name(),
                    mode.name()
                );
            }
            modes.push((mode, result));
        }
        runs.push(PeerRun {
            peer,
            baseline,
            max_head,
            modes,
        });
    }
    runs
}

/// The normal load alone on a fresh server; then, if asked, the largest
/// head it accepts.
fn baseline(peer: Peer, settings: &Settings, probe: bool) -> io::Result<(Load, Option<usize>)> {
    let server = Server::start(peer, settings)?;
    warm_up(&server)?;
    std::thread::sleep(settings.settle);
    let load = normal_load(&server, settings)?;
    let max_head = match probe {
        true => slow::probe_max_head(server.addr),
        false => None,
    };
    Ok((load, max_head))
}

/// The normal load, `settings.rounds` times: the round of median
/// requests/s, with every round's rate and the server's CPU time over all.
fn normal_load(server: &Server, settings: &Settings) -> io::Result<Load> {
    let ticks = server.cpu_ticks()?;
    let mut rounds = Vec::with_capacity(settings.rounds);
    for _ in 0..settings.rounds {
        rounds.push(load::run(server.addr, settings.normal, settings.seconds)?);
    }
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let server_cpu = server.cpu_ticks()?.saturating_sub(ticks) as f64 / per_second;
    let all_requests = rounds.iter().map(|round| round.requests).sum();
    let mut rates: Vec<f64> = rounds.iter().map(Load::per_second).collect();
    rates.sort_by(f64::total_cmp);
    rounds.sort_by(|a, b| a.per_second().total_cmp(&b.per_second()));
    let mut load = rounds.swap_remove(rounds.len() / 2);
    load.server_cpu = server_cpu;
    load.all_requests = all_requests;
    load.rates = rates;
    Ok(load)
}

/// One request, so that one-time set-up belongs to the baseline.
fn warm_up(server: &Server) -> io::Result<()> {
    match slow::accepts(server.addr, 1024) {
        true => Ok(()),
        false => Err(io::Error::other("no 200 answer to a GET")),
    }
}

fn measure(peer: Peer, mode: Mode, big_head: &[u8], settings: &Settings) -> io::Result<ModeRun> {
    let mut server = Server::start(peer, settings)?;
    warm_up(&server)?;
    std::thread::sleep(settings.settle);
    let rss_before = server.rss()?;
    let fds_before = server.fds();

    let started = Instant::now();
    let conns = slow::open(
        server.addr,
        mode,
        settings.conns,
        big_head,
        settings.interval,
        started + Duration::from_secs(120),
    )?;
    let open_time = started.elapsed();
    let all_open = Instant::now();
    let driver = Driver::start(conns, mode, settings.interval);
    std::thread::sleep(settings.settle);
    let rss_slow = server.rss()?;
    let fds_slow = server.fds();
    let closed_at_rss = driver.closed();

    let load = normal_load(&server, settings);
    let closed_at_load_end = driver.closed();
    let rss_load = server.rss().unwrap_or(0);
    if let Ok(load) = &load {
        eprintln!(
            "slow_clients: {}: {}: {:.0} requests/s under {} slow connections",
            peer.name(),
            mode.name(),
            load.per_second(),
            settings.conns - closed_at_rss
        );
    }
    // The hold runs on from the last opening; the normal connections have
    // closed meanwhile.
    let hold_end = all_open + settings.hold;
    let now = Instant::now();
    if hold_end > now {
        std::thread::sleep(hold_end - now);
    }
    let closed_at_end = driver.closed();
    let held = all_open.elapsed().as_secs_f64();
    let conns = driver.stop();
    let rss_end = server.rss().unwrap_or(0);
    let fds_end = server.fds();
    let load = load?;

    let mut close_after: Vec<f64> = conns
        .iter()
        .filter_map(|c| Some((c.closed? - c.opened).as_secs_f64()))
        .collect();
    close_after.sort_by(f64::total_cmp);
    let mut statuses = BTreeMap::new();
    for status in conns.iter().filter_map(|c| c.status) {
        *statuses.entry(status).or_default() += 1;
    }
    let server_alive = server.alive();
    Ok(ModeRun {
        opening: match mode {
            Mode::BigHead => big_head.len(),
            _ => 0,
        },
        open_time,
        rss_before,
        rss_slow,
        rss_load,
        rss_end,
        fds_before,
        fds_slow,
        fds_end,
        closed_at_rss,
        closed_at_load_end,
        closed_at_end,
        close_after,
        statuses,
        load,
        held,
        server_messages: server.messages.load(std::sync::atomic::Ordering::Relaxed),
        server_alive,
    })
}
