//! Unix domain sockets inside a hub.

mod util;

use std::cell::RefCell;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use moss_net_shims::{UnixListener, UnixStream};
use moss_runtime as moss;
use socket2::{Domain, SockAddr, Socket, Type};

#[test]
fn unix_listener_and_streams_echo_lines() {
    let dir = std::env::temp_dir().join(format!("moss-net-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let _ = std::fs::remove_file(&path);
    moss::run(|| {
        let listener = UnixListener::bind(&path).unwrap();
        let server = moss::spawn(move || {
            for stream in listener.incoming().take(20) {
                let stream = stream.unwrap();
                moss::spawn(move || {
                    let mut line = String::new();
                    BufReader::new(&stream).read_line(&mut line).unwrap();
                    (&stream).write_all(line.as_bytes()).unwrap();
                });
            }
        });
        let clients: Vec<_> = (0..20)
            .map(|i| {
                let path = path.clone();
                moss::spawn(move || {
                    let mut stream = UnixStream::connect(&path).unwrap();
                    writeln!(stream, "line {i}").unwrap();
                    let mut reply = String::new();
                    stream.read_to_string(&mut reply).unwrap();
                    reply == format!("line {i}\n")
                })
            })
            .collect();
        assert!(clients.into_iter().all(|c| c.join().unwrap()));
        server.join().unwrap();
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unix_pair_parks_and_times_out() {
    moss::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let reader = moss::spawn(move || {
            let mut buf = [0; 5];
            (&b).read_exact(&mut buf).unwrap();
            b.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
            let err = (&b).read(&mut buf).unwrap_err();
            (buf, err.kind())
        });
        moss::sleep(Duration::from_millis(5));
        (&a).write_all(b"hello").unwrap();
        assert_eq!(reader.join().unwrap(), (*b"hello", ErrorKind::TimedOut));
    });
}

/// Connects to `path` when dropped, keeping the outcome.
struct ConnectOnDrop {
    path: PathBuf,
    outcome: Rc<RefCell<Option<io::Result<UnixStream>>>>,
}

impl Drop for ConnectOnDrop {
    fn drop(&mut self) {
        *self.outcome.borrow_mut() = Some(UnixStream::connect(&self.path));
    }
}

/// A listener at `path` that never accepts, and the connections that
/// filled its backlog: the next connect gets `EAGAIN`.
fn full_backlog(path: &Path) -> (Socket, Vec<Socket>) {
    let listener = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
    listener.bind(&SockAddr::unix(path).unwrap()).unwrap();
    listener.listen(0).unwrap();
    let mut queued = Vec::new();
    loop {
        let socket = Socket::new(Domain::UNIX, Type::STREAM.nonblocking(), None).unwrap();
        match socket.connect(&SockAddr::unix(path).unwrap()) {
            Ok(()) => queued.push(socket),
            Err(err) if err.raw_os_error() == Some(libc::EAGAIN) => return (listener, queued),
            Err(err) => panic!("connect to fill the backlog: {err}"),
        }
        assert!(queued.len() < 1024, "the backlog never filled");
    }
}

#[test]
fn unix_connect_back_off_in_a_destructor_unwinding_from_a_timeout_returns_instead_of_spinning() {
    let dir = std::env::temp_dir().join(format!("moss-net-unix-backlog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("full.sock");
    let _ = std::fs::remove_file(&path);
    let (listener, queued) = full_backlog(&path);
    let err = util::within_watchdog("connect in an unwinding destructor", move || {
        moss::run(move || {
            let outcome = Rc::new(RefCell::new(None));
            let guard = ConnectOnDrop {
                path,
                outcome: Rc::clone(&outcome),
            };
            // The unwind from the elapsed scope runs the guard's connect
            // with the scope still enclosing it: every park of the
            // back-off returns at once.
            let elapsed = moss::timeout(Duration::from_millis(10), move || {
                let _guard = guard;
                moss::sleep(Duration::from_secs(60));
            });
            assert!(elapsed.is_err());
            let connected = outcome.borrow_mut().take().expect("the guard ran");
            connected.expect_err("the backlog is full").kind()
        })
    });
    assert_eq!(err, ErrorKind::WouldBlock);
    drop((listener, queued));
    std::fs::remove_dir_all(&dir).unwrap();
}
