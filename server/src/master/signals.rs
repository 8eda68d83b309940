//! The master's signals: handlers only record them (a byte per delivery on a pipe); the master loop handles them.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

use signal_hook::consts::*;
use signal_hook::SigId;

/// A signal the master acts on, as gunicorn's arbiter does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Reload: re-read the configuration, start new workers, stop the old.
    Hup,
    /// Graceful stop.
    Term,
    /// Quick stop.
    Int,
    /// Quick stop.
    Quit,
    /// One more worker.
    Ttin,
    /// One worker fewer.
    Ttou,
    /// Reopen log files (and tell the workers to).
    Usr1,
    /// Upgrade: start a new master from the binary, handing it the listeners.
    Usr2,
    /// Stop the workers gracefully, keep the master (after an upgrade).
    Winch,
    /// A child changed state: reap it.
    Chld,
}

impl Signal {
    fn from_raw(signal: i32) -> Option<Signal> {
        Some(match signal {
            SIGHUP => Signal::Hup,
            SIGTERM => Signal::Term,
            SIGINT => Signal::Int,
            SIGQUIT => Signal::Quit,
            SIGTTIN => Signal::Ttin,
            SIGTTOU => Signal::Ttou,
            SIGUSR1 => Signal::Usr1,
            SIGUSR2 => Signal::Usr2,
            SIGWINCH => Signal::Winch,
            SIGCHLD => Signal::Chld,
            _ => return None,
        })
    }
}

/// The signals the master handles.
const HANDLED: [i32; 10] = [
    SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD,
];

/// Most deliveries of one signal handled in one turn of the master loop
/// (a flood of signals cannot starve the rest of the loop).
const PER_TURN: usize = 16;

/// The master's signal queue: one socket pair per signal, to which the
/// handler writes one byte per delivery (signal-hook's pipe handler), so
/// that two TTINs are two workers more, as in gunicorn's queue.
pub(crate) struct Signals {
    pipes: Vec<(Signal, UnixStream)>,
    ids: Vec<SigId>,
}

impl Signals {
    /// Installs the handlers. They write to their pipes; nothing else runs
    /// in signal context, and no thread is started (the master forks).
    pub(crate) fn install() -> io::Result<Signals> {
        let mut signals = Signals {
            pipes: Vec::new(),
            ids: Vec::new(),
        };
        for raw in HANDLED {
            let (read, write) = UnixStream::pair()?;
            read.set_nonblocking(true)?;
            signals
                .ids
                .push(signal_hook::low_level::pipe::register(raw, write)?);
            let signal = Signal::from_raw(raw).expect("every handled signal has a name");
            signals.pipes.push((signal, read));
        }
        Ok(signals)
    }

    /// The descriptors that become readable when a signal arrives.
    pub(crate) fn fds(&self) -> Vec<RawFd> {
        self.pipes
            .iter()
            .map(|(_, read)| read.as_raw_fd())
            .collect()
    }

    /// The signals that arrived, once per delivery, without waiting.
    pub(crate) fn pending(&mut self) -> Vec<Signal> {
        let mut arrived = Vec::new();
        for (signal, read) in &mut self.pipes {
            let mut bytes = [0u8; PER_TURN];
            // Nonblocking: WouldBlock when nothing arrived.
            let count = (&*read).read(&mut bytes).unwrap_or(0);
            arrived.extend(std::iter::repeat_n(*signal, count));
        }
        arrived
    }

    /// Removes the master's handlers (in a new worker, which installs its
    /// own).
    pub(crate) fn unregister(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
        self.pipes.clear();
    }
}
