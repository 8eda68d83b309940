//! Unix domain sockets inside a hub.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::time::Duration;

use moss_net_shims::{UnixListener, UnixStream};
use moss_runtime as moss;

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
