//! The printed report: Markdown tables, ready for `docs/slow-clients.md`.

use crate::measure::{ModeRun, PeerRun};
use crate::server::Peer;
use crate::slow::Mode;
use crate::Settings;

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// Server RSS per slow connection, KiB.
fn per_conn(run: &ModeRun, conns: usize) -> f64 {
    (run.rss_slow as f64 - run.rss_before as f64) / conns as f64
}

fn ratio(a: f64, b: f64) -> String {
    match a.is_finite() && b.is_finite() && b != 0.0 {
        true => format!("{:.2}", a / b),
        false => "-".to_owned(),
    }
}

pub fn print(settings: &Settings, client_cpu: Option<usize>, runs: &[PeerRun]) {
    println!(
        "slow clients: {} per server, one byte every {} s (slow-head, slow-body); \
         normal load: {} keep-alive connections doing GET / for {} s, {} rounds \
         (the median round shown); \
         final count {} s after the last slow connection opened; \
         server pinned to CPU {}, clients {}\n",
        settings.conns,
        settings.interval.as_secs_f64(),
        settings.normal,
        settings.seconds.as_secs_f64(),
        settings.rounds,
        settings.hold.as_secs_f64(),
        settings.server_cpu,
        match client_cpu {
            Some(cpu) => format!("on CPU {cpu}"),
            None => "not pinned".to_owned(),
        }
    );
    println!("Normal load alone (baseline):\n");
    for run in runs {
        if let Ok(load) = &run.baseline {
            println!(
                "- {}: requests/s of the rounds {}",
                run.peer.name(),
                rates(load)
            );
        }
    }
    println!();
    println!(
        "| peer | requests/s | p50 ms | p99 ms | server CPU µs/request | errors | \
         largest head held |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for run in runs {
        match &run.baseline {
            Ok(load) => println!(
                "| {} | {:.0} | {:.3} | {:.3} | {:.2} | {} | {} |",
                run.peer.name(),
                load.per_second(),
                load.percentile_ms(0.5),
                load.percentile_ms(0.99),
                load.server_us_per_request(),
                load.errors + load.unanswered,
                run.max_head
                    .map_or("-".to_owned(), |bytes| format!("{bytes} B")),
            ),
            Err(error) => println!("| {} | failed: {error} | | | | | |", run.peer.name()),
        }
    }

    println!("\nWith the slow connections:\n");
    println!(
        "| peer | mode | RSS before → with slow, MiB | KiB per slow conn | requests/s | \
         vs baseline | p50 ms | p99 ms | server CPU µs/request | closed by the server: at RSS / after load / at end | \
         closed after, s (min, median, max) | answers |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for run in runs {
        for (mode, result) in &run.modes {
            let m = match result {
                Ok(m) => m,
                Err(error) => {
                    println!(
                        "| {} | {} | failed: {error} | | | | | | | | | |",
                        run.peer.name(),
                        mode.name()
                    );
                    continue;
                }
            };
            let baseline = run.baseline.as_ref().map_or(f64::NAN, |b| b.per_second());
            let close_after = match m.close_after.len() {
                0 => "-".to_owned(),
                n => format!(
                    "{:.1}, {:.1}, {:.1}",
                    m.close_after[0],
                    m.close_after[n / 2],
                    m.close_after[n - 1]
                ),
            };
            let answers: Vec<String> = m
                .statuses
                .iter()
                .map(|(status, count)| format!("{count}× {status}"))
                .collect();
            println!(
                "| {} | {} | {} → {} | {:.2} | {:.0} | {} | {:.3} | {:.3} | {:.2} | {} / {} / {} | {} | {} |",
                run.peer.name(),
                mode.name(),
                mib(m.rss_before),
                mib(m.rss_slow),
                per_conn(m, settings.conns),
                m.load.per_second(),
                ratio(m.load.per_second(), baseline),
                m.load.percentile_ms(0.5),
                m.load.percentile_ms(0.99),
                m.load.server_us_per_request(),
                m.closed_at_rss,
                m.closed_at_load_end,
                m.closed_at_end,
                close_after,
                match answers.is_empty() {
                    true => "none".to_owned(),
                    false => answers.join(", "),
                },
            );
        }
    }

    print_ratios(settings, runs);

    println!("\nDetails:\n");
    for run in runs {
        for (mode, m) in run
            .modes
            .iter()
            .filter_map(|(mode, r)| Some((mode, r.as_ref().ok()?)))
        {
            println!(
                "- {} {}: opened in {:.2} s{}; server descriptors {} → {} → {} at end \
                 (held {:.1} s); RSS after load {} MiB, at end {} MiB; requests/s of the rounds {}; \
                 normal-load errors {}, \
                 unanswered {}; {} lines on the server's stderr{}",
                run.peer.name(),
                mode.name(),
                m.open_time.as_secs_f64(),
                match m.opening {
                    0 => String::new(),
                    bytes => format!(", {bytes} B head each"),
                },
                m.fds_before,
                m.fds_slow,
                m.fds_end,
                m.held,
                mib(m.rss_load),
                mib(m.rss_end),
                rates(&m.load),
                m.load.errors,
                m.load.unanswered,
                m.server_messages,
                match m.server_alive {
                    true => "",
                    false => "; THE SERVER HAD EXITED",
                },
            );
        }
    }
}

/// The run of `mode` in `run`, if it succeeded.
fn mode_run(run: &PeerRun, mode: Mode) -> Option<&ModeRun> {
    run.modes
        .iter()
        .find(|(m, _)| *m == mode)
        .and_then(|(_, r)| r.as_ref().ok())
}

/// Each round's requests/s.
fn rates(load: &crate::load::Load) -> String {
    let rates: Vec<String> = load.rates.iter().map(|r| format!("{r:.0}")).collect();
    rates.join(", ")
}

/// moss / hyper, mode by mode.
fn print_ratios(settings: &Settings, runs: &[PeerRun]) {
    let find = |peer: Peer| runs.iter().find(|run| run.peer == peer);
    let (Some(moss), Some(hyper)) = (find(Peer::Moss), find(Peer::Hyper)) else {
        return;
    };
    println!("\nmoss / hyper:\n");
    println!("| mode | KiB per slow conn | requests/s | p50 | p99 | server CPU per request |");
    println!("|---|---:|---:|---:|---:|---:|");
    if let (Ok(a), Ok(b)) = (&moss.baseline, &hyper.baseline) {
        println!(
            "| none (baseline) | - | {} | {} | {} | {} |",
            ratio(a.per_second(), b.per_second()),
            ratio(a.percentile_ms(0.5), b.percentile_ms(0.5)),
            ratio(a.percentile_ms(0.99), b.percentile_ms(0.99)),
            ratio(a.server_us_per_request(), b.server_us_per_request()),
        );
    }
    for &mode in &settings.modes {
        let (Some(a), Some(b)) = (mode_run(moss, mode), mode_run(hyper, mode)) else {
            continue;
        };
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            mode.name(),
            ratio(per_conn(a, settings.conns), per_conn(b, settings.conns)),
            ratio(a.load.per_second(), b.load.per_second()),
            ratio(a.load.percentile_ms(0.5), b.load.percentile_ms(0.5)),
            ratio(a.load.percentile_ms(0.99), b.load.percentile_ms(0.99)),
            ratio(
                a.load.server_us_per_request(),
                b.load.server_us_per_request()
            ),
        );
    }
}
