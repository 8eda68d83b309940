//! The hazards of patching libc under unmodified code, each pinned by a
//! test named after what it protects: descriptor reuse, the user's own
//! non-blocking mode, the layer's hidden `O_NONBLOCK`, duplicates, plain
//! threads sharing a socket with green threads, the resolver, and
//! interrupts delivered as errno values.

#![cfg(feature = "patch")]

mod util;

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::mem::ManuallyDrop;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

use util::{tcp_pair, Watchdog};

/// The errno of the last failed libc call.
fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap()
}

/// `F_GETFL` as the application sees it.
fn status_flags(fd: RawFd) -> i32 {
    // SAFETY: F_GETFL reads the flags of a descriptor the caller owns.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(flags >= 0, "F_GETFL: {}", std::io::Error::last_os_error());
    flags
}

/// A `TcpStream` view of `fd` that never closes it.
fn borrow_stream(fd: RawFd) -> ManuallyDrop<TcpStream> {
    // SAFETY: the caller keeps `fd` open while the view is used, and the
    // view is never dropped (so never closes it).
    ManuallyDrop::new(unsafe { TcpStream::from_raw_fd(fd) })
}

#[test]
fn a_reader_parked_on_a_closed_fd_never_reads_the_socket_that_reuses_its_number() {
    let _watchdog = Watchdog::arm("fd reuse");
    moss::run(|| {
        let (client, _server) = tcp_pair();
        let fd = client.into_raw_fd();
        let reader = moss::spawn(move || borrow_stream(fd).read(&mut [0; 64]));
        moss::yield_now(); // the reader parks in recv(fd)

        // SAFETY: `fd` was given up by `into_raw_fd`; the reader only holds
        // a non-owning view of it.
        assert_eq!(unsafe { libc::close(fd) }, 0);
        // The number now names another connection, with data ready at both
        // ends (it usually takes the freed number itself; if not, `dup2`
        // puts one end there).
        let (mut fresh_client, mut fresh_server) = tcp_pair();
        fresh_client.write_all(b"not yours").unwrap();
        fresh_server.write_all(b"not yours").unwrap();
        let reused = fresh_client.as_raw_fd() == fd || fresh_server.as_raw_fd() == fd;
        if !reused {
            // SAFETY: `fd` is free (closed above; a concurrent test could
            // take it only between these lines); the copy is closed below.
            assert_eq!(unsafe { libc::dup2(fresh_server.as_raw_fd(), fd) }, fd);
        }

        let error = reader.join().unwrap().unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::EBADF), "{error:?}");
        if !reused {
            // SAFETY: `fd` is the duplicate made above, owned by this test.
            unsafe { libc::close(fd) };
        }
    });
}

#[test]
fn a_users_nonblocking_socket_still_gets_would_block_in_a_green_thread() {
    let _watchdog = Watchdog::arm("user nonblocking");
    moss::run(|| {
        let (mut client, _server) = tcp_pair();
        client.set_nonblocking(true).unwrap(); // ioctl(FIONBIO)
        let error = client.read(&mut [0; 16]).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::WouldBlock);

        let (other, _other_server) = tcp_pair();
        let fd = other.as_raw_fd();
        let flags = status_flags(fd) | libc::O_NONBLOCK;
        // SAFETY: F_SETFL on a descriptor this test owns.
        let set = unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
        assert_eq!(set, 0);
        let mut buf = [0u8; 16];
        // SAFETY: `buf` is valid for its length during the call.
        let got = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        assert_eq!((got, errno()), (-1, libc::EAGAIN));
        assert_ne!(
            status_flags(fd) & libc::O_NONBLOCK,
            0,
            "the user's flag shows"
        );
    });
}

#[test]
fn msg_dontwait_on_a_blocking_socket_gets_eagain_in_a_green_thread() {
    let _watchdog = Watchdog::arm("MSG_DONTWAIT");
    moss::run(|| {
        let (client, _server) = tcp_pair();
        let mut buf = [0u8; 16];
        // SAFETY: `buf` is valid for its length during the call.
        let got = unsafe {
            libc::recv(
                client.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        assert_eq!((got, errno()), (-1, libc::EAGAIN));
    });
}

#[test]
fn f_getfl_does_not_show_the_layers_nonblocking_flag() {
    let _watchdog = Watchdog::arm("F_GETFL");
    moss::run(|| {
        let (client, mut server) = tcp_pair();
        let fd = client.as_raw_fd();
        let before = status_flags(fd);
        let reader = moss::spawn(move || {
            let mut buf = [0; 5];
            (&client).read_exact(&mut buf).unwrap();
            (client, buf)
        });
        moss::yield_now(); // parked: the layer made the socket non-blocking
        assert_eq!(status_flags(fd) & libc::O_NONBLOCK, 0, "while parked");
        server.write_all(b"hello").unwrap();
        let (client, buf) = reader.join().unwrap();
        assert_eq!(&buf, b"hello");
        assert_eq!(status_flags(client.as_raw_fd()), before, "after the wait");
        // F_SETFL with the flags read back keeps the socket cooperative.
        // SAFETY: F_SETFL on a descriptor this test owns.
        assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFL, before) }, 0);
        let reader = moss::spawn(move || (&client).read(&mut [0; 8]).unwrap());
        moss::yield_now();
        server.write_all(b"again").unwrap();
        assert_eq!(reader.join().unwrap(), 5);
    });
}

#[test]
fn dup_fds_work_and_closing_one_dup_leaves_the_other_working() {
    let _watchdog = Watchdog::arm("dup");
    moss::run(|| {
        let (client, mut server) = tcp_pair();
        let clone = client.try_clone().unwrap(); // fcntl(F_DUPFD_CLOEXEC)
                                                 // SAFETY: dup of a descriptor this test owns; the result is owned below.
        let dup_fd = unsafe { libc::dup(client.as_raw_fd()) };
        assert!(dup_fd >= 0);
        // SAFETY: `dup_fd` is a fresh descriptor owned by nobody else.
        let dup = unsafe { TcpStream::from_raw_fd(dup_fd) };

        // A read parks through the original, so the layer registers it.
        let first = moss::spawn(move || {
            let mut buf = [0; 3];
            (&client).read_exact(&mut buf).unwrap();
            (client, buf)
        });
        moss::yield_now();
        server.write_all(b"one").unwrap();
        let (client, buf) = first.join().unwrap();
        assert_eq!(&buf, b"one");

        // The clone parks; the original closes meanwhile; the clone still
        // gets its data (no ghost registration, no EBADF for a live dup).
        let second = moss::spawn(move || {
            let mut buf = [0; 3];
            (&clone).read_exact(&mut buf).unwrap();
            (clone, buf)
        });
        moss::yield_now();
        drop(client);
        server.write_all(b"two").unwrap();
        let (clone, buf) = second.join().unwrap();
        assert_eq!(&buf, b"two");

        // The raw dup after both others closed.
        drop(clone);
        let third = moss::spawn(move || {
            let mut buf = [0; 5];
            (&dup).read_exact(&mut buf).unwrap();
            buf
        });
        moss::yield_now();
        server.write_all(b"three").unwrap();
        assert_eq!(&third.join().unwrap(), b"three");
    });
}

#[test]
fn a_plain_thread_reading_an_fd_the_layer_touched_still_blocks_until_data() {
    let _watchdog = Watchdog::arm("plain thread");
    moss::run(|| {
        let (client, mut server) = tcp_pair();
        let reader = moss::spawn(move || {
            let mut buf = [0; 5];
            (&client).read_exact(&mut buf).unwrap();
            client
        });
        moss::yield_now(); // parked: the layer set O_NONBLOCK
        server.write_all(b"green").unwrap();
        let client = reader.join().unwrap();

        // The same socket read on an OS thread with no hub, while the hub
        // is alive: a blocking read, not EAGAIN.
        let shared = client.try_clone().unwrap();
        let plain = std::thread::spawn(move || {
            let mut buf = [0; 5];
            (&shared).read_exact(&mut buf).map(|()| buf)
        });
        moss::sleep(Duration::from_millis(50));
        server.write_all(b"plain").unwrap();
        while !plain.is_finished() {
            moss::sleep(Duration::from_millis(1));
        }
        assert_eq!(&plain.join().unwrap().unwrap(), b"plain");
        drop(client);
    });
}

#[test]
fn getaddrinfo_in_a_green_thread_does_not_stall_the_hub() {
    let _watchdog = Watchdog::arm("getaddrinfo");
    moss::run(|| {
        let resolving = Rc::new(Cell::new(false));
        let ticks_while_resolving = Rc::new(Cell::new(0u64));
        let done = Rc::new(Cell::new(false));
        let ticker = {
            let (resolving, ticks, done) = (
                Rc::clone(&resolving),
                Rc::clone(&ticks_while_resolving),
                Rc::clone(&done),
            );
            moss::spawn(move || {
                while !done.get() {
                    if resolving.get() {
                        ticks.set(ticks.get() + 1);
                    }
                    moss::yield_now();
                }
            })
        };
        moss::yield_now();
        // A lookup in /etc/hosts can finish on the offload thread before
        // the caller parks (then nothing else runs meanwhile, correctly), so
        // look up until another green thread ran during one: without the
        // layer that never happens, with it the first lookup all but
        // always suffices.
        let mut addrs = Vec::new();
        for _ in 0..1000 {
            resolving.set(true);
            addrs = ("localhost", 80).to_socket_addrs().unwrap().collect();
            resolving.set(false);
            if ticks_while_resolving.get() > 0 {
                break;
            }
        }
        done.set(true);
        ticker.join().unwrap();
        assert!(
            addrs.iter().any(|addr| addr.ip().is_loopback()),
            "{addrs:?}"
        );
        assert!(
            ticks_while_resolving.get() > 0,
            "another green thread ran while getaddrinfo was in progress"
        );
    });
}

#[test]
fn kill_inside_a_hooked_recv_fails_it_with_ecanceled_and_stays_pending() {
    let _watchdog = Watchdog::arm("kill recv");
    moss::run(|| {
        let (client, _server) = tcp_pair();
        let errno_seen = Rc::new(Cell::new(None));
        let reader = {
            let errno_seen = Rc::clone(&errno_seen);
            moss::spawn(move || {
                let error = (&client).read_exact(&mut [0; 4]).unwrap_err();
                assert_ne!(error.kind(), ErrorKind::Interrupted);
                errno_seen.set(error.raw_os_error());
                // The kill is still pending: the next blocking point unwinds.
                moss::sleep(Duration::from_secs(3600));
                unreachable!("the kill was pending");
            })
        };
        moss::yield_now();
        reader.kill();
        assert!(reader.join().unwrap_err().is_killed());
        assert_eq!(errno_seen.get(), Some(libc::ECANCELED));
    });
}

#[test]
fn kill_inside_a_hooked_poll_fails_it_with_ecanceled() {
    let _watchdog = Watchdog::arm("kill poll");
    moss::run(|| {
        let (client, _server) = tcp_pair();
        let errno_seen = Rc::new(Cell::new(None));
        let poller = {
            let errno_seen = Rc::clone(&errno_seen);
            moss::spawn(move || {
                let mut pfd = libc::pollfd {
                    fd: client.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd for the duration of the call.
                let ready = unsafe { libc::poll(&mut pfd, 1, -1) };
                errno_seen.set(Some((ready, errno())));
                moss::sleep(Duration::from_secs(3600));
            })
        };
        moss::yield_now();
        poller.kill();
        assert!(poller.join().unwrap_err().is_killed());
        assert_eq!(errno_seen.get(), Some((-1, libc::ECANCELED)));
    });
}

#[test]
fn moss_timeout_inside_a_hooked_recv_fails_it_with_etimedout() {
    let _watchdog = Watchdog::arm("timeout recv");
    moss::run(|| {
        let (client, _server) = tcp_pair();
        let result = moss::timeout(Duration::from_millis(20), || (&client).read(&mut [0; 4]));
        match result {
            Ok(Err(error)) => {
                assert_eq!(error.raw_os_error(), Some(libc::ETIMEDOUT), "{error:?}");
                assert_eq!(error.kind(), ErrorKind::TimedOut);
            }
            other => panic!("expected Ok(Err(ETIMEDOUT)), got {other:?}"),
        }
        // The scope is over: the green thread blocks normally again.
        moss::sleep(Duration::from_millis(1));
    });
}

#[test]
fn moss_timeout_inside_a_hooked_poll_fails_it_with_etimedout() {
    let _watchdog = Watchdog::arm("timeout poll");
    moss::run(|| {
        let (client, _server) = tcp_pair();
        let result = moss::timeout(Duration::from_millis(20), || {
            let mut pfd = libc::pollfd {
                fd: client.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd for the duration of the call.
            let ready = unsafe { libc::poll(&mut pfd, 1, -1) };
            (ready, errno())
        });
        assert_eq!(result, Ok((-1, libc::ETIMEDOUT)));
        moss::sleep(Duration::from_millis(1));
    });
}

#[test]
fn a_write_to_a_peer_that_does_not_read_parks_until_it_reads() {
    let _watchdog = Watchdog::arm("blocked write");
    moss::run(|| {
        let (client, server) = tcp_pair();
        const TOTAL: usize = 16 << 20; // far more than both socket buffers
        let writer = moss::spawn(move || {
            let chunk = vec![7u8; 64 << 10];
            let mut sent = 0;
            while sent < TOTAL {
                sent += (&client)
                    .write(&chunk[..chunk.len().min(TOTAL - sent)])
                    .unwrap();
            }
            sent
        });
        // The writer fills the buffers and parks; this green thread runs.
        moss::yield_now();
        assert!(!writer.is_finished(), "the writer waits for the reader");
        let mut received = 0;
        let mut buf = vec![0u8; 64 << 10];
        while received < TOTAL {
            received += (&server).read(&mut buf).unwrap();
        }
        assert_eq!(writer.join().unwrap(), TOTAL);
        assert_eq!(received, TOTAL);
    });
}

#[test]
fn a_refused_connect_in_a_green_thread_reports_connection_refused() {
    let _watchdog = Watchdog::arm("refused connect");
    moss::run(|| {
        // A port that was just free: bound, then closed.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let error = TcpStream::connect(addr).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionRefused, "{error:?}");
        let error = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionRefused, "{error:?}");
    });
}

#[test]
fn a_socket_timeout_on_a_plain_thread_still_fires_after_green_use() {
    let _watchdog = Watchdog::arm("plain thread timeout");
    let (client, mut server) = moss::run(|| {
        let (client, mut server) = tcp_pair();
        let reader = moss::spawn(move || {
            (&client).read_exact(&mut [0; 2]).unwrap();
            client
        });
        moss::yield_now(); // parked: the layer set O_NONBLOCK
        server.write_all(b"hi").unwrap();
        (reader.join().unwrap(), server)
    });
    // No hub on this thread now: a blocking read with a timeout.
    client
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let error = (&client).read(&mut [0; 4]).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::WouldBlock, "{error:?}");
    server.write_all(b"late").unwrap();
    let mut buf = [0; 4];
    (&client).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"late");
}

#[test]
fn a_killed_thread_sleep_ends_and_the_kill_stays_pending() {
    let _watchdog = Watchdog::arm("kill sleep");
    moss::run(|| {
        let woke = Rc::new(Cell::new(false));
        let sleeper = {
            let woke = Rc::clone(&woke);
            moss::spawn(move || {
                std::thread::sleep(Duration::from_secs(3600));
                woke.set(true);
                moss::yield_now(); // the pending kill unwinds here
                unreachable!("the kill was pending");
            })
        };
        moss::yield_now();
        sleeper.kill();
        assert!(sleeper.join().unwrap_err().is_killed());
        assert!(woke.get(), "the hooked sleep returned");
    });
}

#[test]
fn udp_receivers_in_green_threads_wait_at_once() {
    let _watchdog = Watchdog::arm("udp");
    const RECEIVERS: usize = 50;
    static WAITING: util::Overlap = util::Overlap::new();
    moss::run(|| {
        let sockets: Vec<_> = (0..RECEIVERS)
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let addrs: Vec<_> = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
        let receivers: Vec<_> = sockets
            .into_iter()
            .map(|socket| {
                moss::spawn(move || {
                    let _waiting = WAITING.enter();
                    let mut buf = [0; 16];
                    let (n, _) = socket.recv_from(&mut buf).unwrap(); // recvfrom
                    buf[..n].to_vec()
                })
            })
            .collect();
        while WAITING.now() < RECEIVERS {
            moss::yield_now();
        }
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for addr in &addrs {
            sender.send_to(b"datagram", addr).unwrap(); // sendto
        }
        for receiver in receivers {
            assert_eq!(receiver.join().unwrap(), b"datagram");
        }
        assert_eq!(WAITING.peak(), RECEIVERS);
    });
}

#[test]
fn select_in_a_green_thread_parks_until_the_fd_is_readable() {
    let _watchdog = Watchdog::arm("select");
    moss::run(|| {
        let (client, mut server) = tcp_pair();
        let fd = client.as_raw_fd();
        let selector = moss::spawn(move || {
            // SAFETY: an fd_set on the stack, initialised by FD_ZERO before
            // use; `fd` is below FD_SETSIZE in this test process.
            unsafe {
                let mut readable: libc::fd_set = std::mem::zeroed();
                libc::FD_ZERO(&mut readable);
                libc::FD_SET(fd, &mut readable);
                let ready = libc::select(
                    fd + 1,
                    &mut readable,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                );
                (ready, libc::FD_ISSET(fd, &readable))
            }
        });
        moss::yield_now();
        assert!(!selector.is_finished(), "select waits");
        server.write_all(b"x").unwrap();
        assert_eq!(selector.join().unwrap(), (1, true));
        drop(client);
    });
}

#[test]
fn a_poll_parked_on_a_descriptor_that_closes_reports_pollnval() {
    let _watchdog = Watchdog::arm("poll close");
    moss::run(|| {
        let (client, _server) = tcp_pair();
        let fd = client.into_raw_fd();
        let poller = moss::spawn(move || {
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd for the duration of the call.
            let ready = unsafe { libc::poll(&mut pfd, 1, -1) };
            (ready, pfd.revents)
        });
        moss::yield_now(); // parked in poll
                           // SAFETY: `fd` was given up by `into_raw_fd`; the poller only
                           // holds its number.
        assert_eq!(unsafe { libc::close(fd) }, 0);
        // The close made the poller ready: it runs at the next turns of the
        // hub (each sleep also lets the hub poll epoll).
        for _ in 0..50 {
            if poller.is_finished() {
                break;
            }
            moss::sleep(Duration::from_millis(1));
        }
        if !poller.is_finished() {
            poller.kill(); // fails the poll with ECANCELED, ends the test
            panic!("close did not wake the green thread parked in poll on that descriptor");
        }
        assert_eq!(poller.join().unwrap(), (1, libc::POLLNVAL));
    });
}

#[test]
fn epoll_waits_of_the_programs_own_epoll_instances_overlap() {
    let _watchdog = Watchdog::arm("epoll_wait");
    const WAITERS: usize = 20;
    static WAITING: util::Overlap = util::Overlap::new();
    moss::run(|| {
        let mut peers = Vec::new();
        let waiters: Vec<_> = (0..WAITERS)
            .map(|_| {
                let (client, server) = tcp_pair();
                peers.push(server);
                moss::spawn(move || {
                    // SAFETY: plain epoll calls on descriptors this green
                    // thread owns; `events` outlives the wait.
                    unsafe {
                        let epoll = libc::epoll_create1(libc::EPOLL_CLOEXEC);
                        assert!(epoll >= 0);
                        let mut event = libc::epoll_event {
                            events: libc::EPOLLIN as u32,
                            u64: 7,
                        };
                        assert_eq!(
                            libc::epoll_ctl(
                                epoll,
                                libc::EPOLL_CTL_ADD,
                                client.as_raw_fd(),
                                &mut event
                            ),
                            0
                        );
                        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
                        let _waiting = WAITING.enter();
                        let ready = libc::epoll_wait(epoll, events.as_mut_ptr(), 4, -1);
                        libc::close(epoll);
                        (ready, events[0].u64)
                    }
                })
            })
            .collect();
        while WAITING.now() < WAITERS {
            moss::yield_now();
        }
        for peer in &mut peers {
            peer.write_all(b"!").unwrap();
        }
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap(), (1, 7));
        }
        assert_eq!(WAITING.peak(), WAITERS);
    });
}
