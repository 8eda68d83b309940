//! The `sync` worker: one connection at a time, blocking, each response with `Connection: close` (as gunicorn's sync worker).
//!
//! The worker waits for a listener to become readable for at most a tick,
//! beating between waits, then accepts without blocking (another worker may
//! have taken the connection) and serves it to the end. A request that
//! runs longer than `--timeout` stops the beats: the master then kills the
//! worker, as gunicorn's does.

use std::io;
use std::os::unix::net::UnixStream;

use super::{
    conn_info, read_proxy_header, serve_accepted, tick, Counted, Flags, WorkerSetup, TICK,
};
use crate::master::listeners::Listener;
use crate::HttpConfig;

pub(super) fn run(setup: &WorkerSetup, flags: &Flags) -> io::Result<()> {
    for listener in &setup.listeners {
        listener.set_nonblocking(true)?;
    }
    let fds: Vec<_> = setup.listeners.iter().map(Listener::fd).collect();
    let app = Counted::new(setup, flags);
    // One request per connection: the sync worker never keeps one open.
    let http = HttpConfig {
        keep_alive: std::time::Duration::ZERO,
        ..setup.http.clone()
    };
    while !tick(setup, flags) {
        let Some(ready) = crate::sys::wait_readable(&fds, TICK)? else {
            continue;
        };
        let served = match &setup.listeners[ready] {
            Listener::Tcp(listener) => match listener.accept() {
                Ok((mut stream, peer)) => {
                    stream.set_nonblocking(false)?;
                    let _ = stream.set_nodelay(true);
                    let mut conn = conn_info(Some(peer), stream.local_addr().ok());
                    let _open = app.connection();
                    // A beat now: a TLS handshake may last up to --timeout.
                    setup.slot.beat();
                    match read_proxy_header(&mut stream, &http, &mut conn) {
                        true => serve_accepted(stream, &app, &http, conn, setup.tls.as_ref()),
                        false => Ok(()),
                    }
                }
                Err(error) => accept_failed(error),
            },
            Listener::Unix(listener, _) => match listener.accept() {
                Ok((stream, _)) => serve_unix(stream, &app, &http, setup),
                Err(error) => accept_failed(error),
            },
        };
        if let Err(error) = served {
            log::debug!("connection ended: {error}");
        }
    }
    Ok(())
}

fn serve_unix(
    stream: UnixStream,
    app: &Counted,
    http: &HttpConfig,
    setup: &WorkerSetup,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    let _open = app.connection();
    setup.slot.beat();
    serve_accepted(stream, app, http, conn_info(None, None), setup.tls.as_ref())
}

/// Another worker took the connection (`WouldBlock`), or accepting failed:
/// neither ends the worker.
fn accept_failed(error: io::Error) -> io::Result<()> {
    if error.kind() != io::ErrorKind::WouldBlock {
        log::error!("accept failed: {error}");
    }
    Ok(())
}
