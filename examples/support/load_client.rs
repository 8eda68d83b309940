//! The echo load client shared by the `load` example and `echo_bench`:
//! N green threads on one hub, each a connection doing 64-byte round trips.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use moss::net::TcpStream;

/// Bytes per message.
pub const MESSAGE: usize = 64;

/// When each connection stops.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// After this many round trips.
    Rounds(usize),
    /// After this long.
    After(Duration),
}

/// What a load run measured.
#[derive(Debug)]
pub struct Report {
    /// Round trips completed.
    pub round_trips: usize,
    /// Wall-clock time of the measured phase.
    pub elapsed: Duration,
    /// Every round trip's latency in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// Connections that failed (connect or I/O).
    pub failed: usize,
}

impl Report {
    /// Round trips per second.
    pub fn throughput(&self) -> f64 {
        self.round_trips as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency at quantile `q` (0..=1), in microseconds.
    pub fn percentile(&self, q: f64) -> u32 {
        if self.latencies_us.is_empty() {
            return 0;
        }
        let index = ((self.latencies_us.len() - 1) as f64 * q).round() as usize;
        self.latencies_us[index]
    }
}

/// Opens `connections` connections to `addr`, then runs round trips on all
/// of them until `stop`; must run inside a hub.
pub fn run_load(addr: SocketAddr, connections: usize, stop: Stop) -> Report {
    let builder = || moss::Builder::new().stack_size(64 * 1024);
    let connecting: Vec<_> = (0..connections)
        .map(|_| {
            builder()
                .spawn(move || {
                    let stream = TcpStream::connect(addr)?;
                    stream.set_nodelay(true)?;
                    Ok::<_, std::io::Error>(stream)
                })
                .expect("spawn a connecting green thread")
        })
        .collect();
    let streams: Vec<_> = connecting
        .into_iter()
        .filter_map(|handle| handle.join().ok().and_then(Result::ok))
        .collect();
    let failed = Rc::new(RefCell::new(connections - streams.len()));
    let latencies = Rc::new(RefCell::new(Vec::new()));
    let start = Instant::now();
    let deadline = match stop {
        Stop::After(duration) => Some(start + duration),
        Stop::Rounds(_) => None,
    };
    let workers: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            let latencies = Rc::clone(&latencies);
            let failed = Rc::clone(&failed);
            builder()
                .spawn(move || {
                    let message = [7u8; MESSAGE];
                    let mut reply = [0u8; MESSAGE];
                    let mut mine = Vec::new();
                    let mut round = 0;
                    loop {
                        match (stop, deadline) {
                            (Stop::Rounds(rounds), _) if round >= rounds => break,
                            (_, Some(at)) if Instant::now() >= at => break,
                            _ => {}
                        }
                        let sent = Instant::now();
                        let ok = stream.write_all(&message).is_ok()
                            && stream.read_exact(&mut reply).is_ok();
                        if !ok {
                            *failed.borrow_mut() += 1;
                            break;
                        }
                        mine.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                        round += 1;
                    }
                    latencies.borrow_mut().extend(mine);
                })
                .expect("spawn a load green thread")
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    let elapsed = start.elapsed();
    let mut latencies_us = std::mem::take(&mut *latencies.borrow_mut());
    latencies_us.sort_unstable();
    let failed = *failed.borrow();
    Report {
        round_trips: latencies_us.len(),
        elapsed,
        latencies_us,
        failed,
    }
}
