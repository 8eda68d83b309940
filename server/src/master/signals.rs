//! The master's signals: handlers only record them (signal-hook's self-pipe); the master loop handles them.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

use signal_hook::consts::*;
use signal_hook::iterator::backend::{Handle, SignalDelivery};
use signal_hook::iterator::exfiltrator::SignalOnly;

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

/// The master's signal queue.
pub(crate) struct Signals {
    delivery: SignalDelivery<UnixStream, SignalOnly>,
}

impl Signals {
    /// Installs the handlers. They write to a pipe; nothing else runs in
    /// signal context, and no thread is started (the master forks).
    pub(crate) fn install() -> io::Result<Signals> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        let delivery = SignalDelivery::with_pipe(read, write, SignalOnly, HANDLED)?;
        Ok(Signals { delivery })
    }

    /// The descriptor that becomes readable when a signal arrives.
    pub(crate) fn fd(&self) -> RawFd {
        self.delivery.get_read().as_raw_fd()
    }

    /// The signals that arrived, each once, without waiting.
    pub(crate) fn pending(&mut self) -> Vec<Signal> {
        self.delivery
            .pending()
            .filter_map(Signal::from_raw)
            .collect()
    }

    /// A handle that unregisters the master's handlers (in a new worker).
    pub(crate) fn handle(&self) -> Handle {
        self.delivery.handle()
    }
}
