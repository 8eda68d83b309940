//! Smoke tests of the patch layer's core: std sockets and sleeps in green threads, the owner's non-blocking mode, close, kill and timeout.
//!
//! Every test that would hang if the layer failed runs under a watchdog
//! that aborts the process. Concurrency is asserted with counters, never
//! with elapsed time.

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use moss_runtime as moss;

/// Aborts the process unless dropped within 60 s.
struct Watchdog(Option<mpsc::Sender<()>>);

fn watchdog(test: &'static str) -> Watchdog {
    let (done, wait) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(Duration::from_secs(60)) {
            eprintln!("{test}: still running after 60 s (a hooked call blocked the hub?)");
            std::process::abort();
        }
    });
    Watchdog(Some(done))
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.0.take());
    }
}

/// Yields until `cell` reaches `value`.
fn until(cell: &Cell<usize>, value: usize) {
    while cell.get() < value {
        moss::yield_now();
    }
}

/// The real file status flags, asked without the hooks.
fn kernel_flags(fd: i32) -> i32 {
    // SAFETY: F_GETFL takes no argument; a raw system call, so the hooks
    // do not see it.
    unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_GETFL) as i32 }
}

fn raw_os_error<T: std::fmt::Debug>(result: std::io::Result<T>) -> i32 {
    result.unwrap_err().raw_os_error().expect("an OS error")
}

#[test]
fn hooks_are_active() {
    assert!(moss_net_shims::patch::is_active());
}

#[test]
fn std_tcp_reads_overlap_in_green_threads_of_one_hub() {
    let _watchdog = watchdog("std_tcp_reads_overlap_in_green_threads_of_one_hub");
    const CLIENTS: usize = 50;
    moss::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let waiting = Rc::new(Cell::new(0));
        let peak = Rc::new(Cell::new(0));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (waiting, peak) = (Rc::clone(&waiting), Rc::clone(&peak));
                moss::spawn(move || {
                    let mut stream = TcpStream::connect(addr).unwrap();
                    waiting.set(waiting.get() + 1);
                    peak.set(peak.get().max(waiting.get()));
                    let mut greeting = [0; 5];
                    stream.read_exact(&mut greeting).unwrap();
                    waiting.set(waiting.get() - 1);
                    greeting
                })
            })
            .collect();
        // std's accept parks too; every client reaches its read before the
        // server writes anything.
        let mut streams: Vec<_> = (0..CLIENTS).map(|_| listener.accept().unwrap().0).collect();
        until(&peak, CLIENTS);
        for stream in &mut streams {
            stream.write_all(b"hello").unwrap();
        }
        for client in clients {
            assert_eq!(&client.join().unwrap(), b"hello");
        }
        assert_eq!(peak.get(), CLIENTS);
    });
}

#[test]
fn thread_sleep_in_1000_green_threads_overlaps() {
    let _watchdog = watchdog("thread_sleep_in_1000_green_threads_overlaps");
    const SLEEPERS: usize = 1000;
    moss::run(|| {
        let started = Rc::new(Cell::new(0));
        let sleepers: Vec<_> = (0..SLEEPERS)
            .map(|_| {
                let started = Rc::clone(&started);
                moss::spawn(move || {
                    started.set(started.get() + 1);
                    // Each sleeps until all have started: only possible if
                    // std's sleep parks the green thread, not the hub.
                    while started.get() < SLEEPERS {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        for sleeper in sleepers {
            sleeper.join().unwrap();
        }
        assert_eq!(started.get(), SLEEPERS);
    });
}

#[test]
fn owner_nonblocking_sockets_still_get_eagain() {
    let _watchdog = watchdog("owner_nonblocking_sockets_still_get_eagain");
    moss::run(|| {
        // set_nonblocking (ioctl FIONBIO)
        let (mut a, _b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        assert_eq!(
            a.read(&mut [0; 8]).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );

        // SOCK_NONBLOCK at creation
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let socket = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::STREAM.nonblocking(),
            None,
        )
        .unwrap();
        let _ = socket.connect(&listener.local_addr().unwrap().into());
        let (accepted, _) = listener.accept().unwrap();
        let mut stream = TcpStream::from(socket);
        assert_eq!(
            stream.read(&mut [0; 8]).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );

        // MSG_DONTWAIT on a blocking socket the layer made non-blocking
        let (c, mut d) = UnixStream::pair().unwrap();
        let reader = moss::spawn(move || {
            let mut buf = [0; 1];
            (&c).read_exact(&mut buf).unwrap();
            let mut buf = [0; 8];
            // SAFETY: a valid buffer of its length.
            let n = unsafe {
                libc::recv(
                    c.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    8,
                    libc::MSG_DONTWAIT,
                )
            };
            (n, std::io::Error::last_os_error().raw_os_error())
        });
        moss::yield_now();
        d.write_all(b"x").unwrap();
        assert_eq!(reader.join().unwrap(), (-1, Some(libc::EAGAIN)));
        drop(accepted);
    });
}

#[test]
fn fgetfl_hides_the_layers_flag_and_blocking_is_emulated_elsewhere() {
    let _watchdog = watchdog("fgetfl_hides_the_layers_flag");
    let (a, mut b) = UnixStream::pair().unwrap();
    let a = moss::run(move || {
        let reader = moss::spawn(move || {
            let mut buf = [0; 4];
            (&a).read_exact(&mut buf).unwrap();
            a
        });
        moss::yield_now();
        b.write_all(b"ping").unwrap();
        let a = reader.join().unwrap();
        (a, b)
    });
    let (a, mut b) = a;
    let fd = a.as_raw_fd();
    assert_ne!(kernel_flags(fd) & libc::O_NONBLOCK, 0, "the layer set it");
    let flags = socket2::SockRef::from(&a).nonblocking().unwrap();
    assert!(!flags, "F_GETFL shows the owner's mode");
    // The owner's "blocking" keeps the layer's flag.
    a.set_nonblocking(false).unwrap();
    assert_ne!(kernel_flags(fd) & libc::O_NONBLOCK, 0);
    // Outside a green thread the read blocks until data comes, never EAGAIN.
    let reader = std::thread::spawn(move || {
        let mut buf = [0; 4];
        (&a).read_exact(&mut buf).map(|()| buf)
    });
    b.write_all(b"pong").unwrap();
    assert_eq!(&reader.join().unwrap().unwrap(), b"pong");
}

/// Parks a green thread in `recv(fd)`, runs `replace` once it is parked,
/// and returns what the `recv` returned and its errno.
fn parked_recv_after(fd: i32, replace: impl FnOnce()) -> (isize, Option<i32>) {
    let parked = Rc::new(Cell::new(0));
    let reader = {
        let parked = Rc::clone(&parked);
        moss::spawn(move || {
            parked.set(1);
            let mut buf = [0; 16];
            // SAFETY: a valid buffer of its length; `fd` is open now.
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            (n, std::io::Error::last_os_error().raw_os_error())
        })
    };
    until(&parked, 1);
    moss::yield_now();
    replace();
    reader.join().unwrap()
}

#[test]
fn close_while_parked_in_recv_gives_ebadf() {
    let _watchdog = watchdog("close_while_parked_in_recv_gives_ebadf");
    moss::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let fd = b.into_raw_fd();
        let result = parked_recv_after(fd, || {
            // SAFETY: closes the descriptor taken out of `b` above.
            unsafe { libc::close(fd) };
            // A new socket may take the number, with data waiting at once.
            let (mut c, mut d) = UnixStream::pair().unwrap();
            c.write_all(b"not yours").unwrap();
            d.write_all(b"not yours").unwrap();
            std::mem::forget((c, d));
        });
        assert_eq!(result, (-1, Some(libc::EBADF)));
        drop(a);
    });
}

#[test]
fn dup2_over_a_parked_descriptor_gives_ebadf_not_the_new_sockets_data() {
    let _watchdog = watchdog("dup2_over_a_parked_descriptor");
    moss::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let fd = b.as_raw_fd();
        let (c, mut d) = UnixStream::pair().unwrap();
        let result = parked_recv_after(fd, || {
            d.write_all(b"new data").unwrap();
            // SAFETY: replaces `b`'s descriptor (owned by `b`) with a
            // duplicate of `c`'s.
            assert_eq!(unsafe { libc::dup2(c.as_raw_fd(), fd) }, fd);
        });
        assert_eq!(result, (-1, Some(libc::EBADF)));
        // The data is still there for the new owner of the number.
        let mut buf = [0; 8];
        (&b).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"new data");
        drop((a, c));
    });
}

#[test]
fn kill_in_a_hooked_read_gives_ecanceled_then_unwinds_at_the_next_park() {
    let _watchdog = watchdog("kill_in_a_hooked_read_gives_ecanceled");
    moss::run(|| {
        let (a, _b) = UnixStream::pair().unwrap();
        let seen = Rc::new(Cell::new(None));
        let after = Rc::new(Cell::new(false));
        let reader = {
            let (seen, after) = (Rc::clone(&seen), Rc::clone(&after));
            moss::spawn(move || {
                seen.set(Some(raw_os_error((&a).read(&mut [0; 8]))));
                moss::sleep(Duration::from_secs(3600));
                after.set(true);
            })
        };
        moss::yield_now();
        reader.kill();
        assert!(reader.join().unwrap_err().is_killed());
        assert_eq!(seen.get(), Some(libc::ECANCELED));
        assert!(!after.get());
    });
}

#[test]
fn timeout_in_a_hooked_read_gives_etimedout() {
    let _watchdog = watchdog("timeout_in_a_hooked_read_gives_etimedout");
    moss::run(|| {
        let (a, _b) = UnixStream::pair().unwrap();
        let inside = moss::timeout(Duration::from_millis(10), || {
            raw_os_error((&a).read(&mut [0; 8]))
        });
        assert_eq!(inside, Ok(libc::ETIMEDOUT));
        // Delivered at the next moss park inside the scope.
        let unwound = moss::timeout(Duration::from_millis(10), || {
            let _ = (&a).read(&mut [0; 8]);
            moss::sleep(Duration::from_secs(3600));
        });
        assert!(unwound.is_err());
    });
}

#[test]
fn socket_timeout_ends_a_parked_read_with_eagain() {
    let _watchdog = watchdog("socket_timeout_ends_a_parked_read_with_eagain");
    moss::run(|| {
        let (a, _b) = UnixStream::pair().unwrap();
        a.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
        let other = moss::spawn(|| 7);
        assert_eq!(
            (&a).read(&mut [0; 8]).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        assert_eq!(other.join().unwrap(), 7);
    });
}

#[test]
fn fd_from_raw_survives_the_hooks() {
    let (a, _b) = UnixStream::pair().unwrap();
    let fd = a.into_raw_fd();
    // SAFETY: `fd` was just given up by `a`.
    let a = unsafe { UnixStream::from_raw_fd(fd) };
    drop(a);
}

#[test]
fn poll_on_several_descriptors_parks_until_one_is_ready() {
    let _watchdog = watchdog("poll_on_several_descriptors_parks_until_one_is_ready");
    moss::run(|| {
        let pairs: Vec<_> = (0..3).map(|_| UnixStream::pair().unwrap()).collect();
        let fds: Vec<_> = pairs.iter().map(|(a, _)| a.as_raw_fd()).collect();
        let polling = Rc::new(Cell::new(0));
        let poller = {
            let polling = Rc::clone(&polling);
            moss::spawn(move || {
                let mut entries: Vec<_> = fds
                    .iter()
                    .map(|&fd| libc::pollfd {
                        fd,
                        events: libc::POLLIN,
                        revents: 0,
                    })
                    .collect();
                polling.set(1);
                // SAFETY: a valid array of its length.
                let ready = unsafe { libc::poll(entries.as_mut_ptr(), entries.len() as _, -1) };
                let revents: Vec<_> = entries.iter().map(|entry| entry.revents).collect();
                (ready, revents)
            })
        };
        until(&polling, 1);
        moss::yield_now();
        (&pairs[1].1).write_all(b"x").unwrap();
        let (ready, revents) = poller.join().unwrap();
        assert_eq!(ready, 1);
        assert_eq!(revents, [0, libc::POLLIN, 0]);
    });
}

#[test]
fn poll_and_select_timeouts_park_and_return_zero() {
    let _watchdog = watchdog("poll_and_select_timeouts_park_and_return_zero");
    moss::run(|| {
        let (a, _b) = UnixStream::pair().unwrap();
        let ran = Rc::new(Cell::new(0));
        let ticker = {
            let ran = Rc::clone(&ran);
            moss::spawn(move || loop {
                ran.set(ran.get() + 1);
                moss::yield_now();
            })
        };
        let mut entry = libc::pollfd {
            fd: a.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid entry.
        assert_eq!(unsafe { libc::poll(&mut entry, 1, 20) }, 0);
        let after_poll = ran.get();
        assert!(after_poll > 0, "the hub ran others while poll waited");

        // SAFETY: fd_set is plain data, valid all-zero.
        let mut set: libc::fd_set = unsafe { std::mem::zeroed() };
        // SAFETY: a valid set and a descriptor below FD_SETSIZE.
        unsafe {
            libc::FD_ZERO(&mut set);
            libc::FD_SET(a.as_raw_fd(), &mut set);
        }
        let mut limit = libc::timeval {
            tv_sec: 0,
            tv_usec: 20_000,
        };
        // SAFETY: a valid set and timeout.
        let ready = unsafe {
            libc::select(
                a.as_raw_fd() + 1,
                &mut set,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut limit,
            )
        };
        assert_eq!(ready, 0);
        assert!(
            ran.get() > after_poll,
            "the hub ran others while select waited"
        );
        ticker.kill();
        assert!(ticker.join().unwrap_err().is_killed());
    });
}

#[test]
fn std_sleep_of_a_killed_green_thread_ends_early_and_the_kill_lands_later() {
    let _watchdog = watchdog("std_sleep_of_a_killed_green_thread_ends_early");
    moss::run(|| {
        let woke = Rc::new(Cell::new(false));
        let after = Rc::new(Cell::new(false));
        let sleeper = {
            let (woke, after) = (Rc::clone(&woke), Rc::clone(&after));
            moss::spawn(move || {
                std::thread::sleep(Duration::from_secs(3600));
                woke.set(true);
                moss::yield_now();
                after.set(true);
            })
        };
        moss::yield_now();
        sleeper.kill();
        assert!(sleeper.join().unwrap_err().is_killed());
        assert!(woke.get());
        assert!(!after.get());
    });
}

#[test]
fn std_connect_timeout_and_name_lookup_work_in_a_green_thread() {
    use std::net::ToSocketAddrs;
    let _watchdog = watchdog("std_connect_timeout_and_name_lookup_work_in_a_green_thread");
    moss::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let addrs: Vec<_> = ("localhost", port).to_socket_addrs().unwrap().collect();
        assert!(!addrs.is_empty());
        let addr = listener.local_addr().unwrap();
        let client = moss::spawn(move || {
            let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(30)).unwrap();
            stream.write_all(b"hi").unwrap();
        });
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0; 2];
        stream.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi");
        client.join().unwrap();
    });
}

#[test]
fn close_on_another_thread_wakes_the_parked_reader_with_ebadf() {
    let _watchdog = watchdog("close_on_another_thread_wakes_the_parked_reader");
    moss::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let fd = b.into_raw_fd();
        let result = parked_recv_after(fd, || {
            // An offload thread is not a green thread: its close takes the
            // cross-thread path.
            moss::spawn_blocking(move || {
                // SAFETY: closes the descriptor taken out of `b` above.
                unsafe { libc::close(fd) }
            });
        });
        assert_eq!(result, (-1, Some(libc::EBADF)));
        drop(a);
    });
}

#[test]
fn epoll_wait_of_a_foreign_event_loop_parks() {
    let _watchdog = watchdog("epoll_wait_of_a_foreign_event_loop_parks");
    moss::run(|| {
        let (a, mut b) = UnixStream::pair().unwrap();
        // SAFETY: a new epoll instance, owned below.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        assert!(epoll >= 0);
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 7,
        };
        // SAFETY: valid descriptors and event.
        let added =
            unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, a.as_raw_fd(), &mut event) };
        assert_eq!(added, 0);
        let waiting = Rc::new(Cell::new(0));
        let waiter = {
            let waiting = Rc::clone(&waiting);
            moss::spawn(move || {
                let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
                waiting.set(1);
                // SAFETY: a valid array of its length.
                let n = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), 4, -1) };
                (n, events[0].u64)
            })
        };
        until(&waiting, 1);
        moss::yield_now();
        b.write_all(b"x").unwrap();
        assert_eq!(waiter.join().unwrap(), (1, 7));
        // SAFETY: closes the instance made above.
        unsafe { libc::close(epoll) };
    });
}

#[test]
fn msg_waitall_waits_for_the_whole_length() {
    let _watchdog = watchdog("msg_waitall_waits_for_the_whole_length");
    moss::run(|| {
        let (a, mut b) = UnixStream::pair().unwrap();
        let reader = moss::spawn(move || {
            let mut buf = [0; 6];
            // SAFETY: a valid buffer of its length.
            let n =
                unsafe { libc::recv(a.as_raw_fd(), buf.as_mut_ptr().cast(), 6, libc::MSG_WAITALL) };
            (n, buf)
        });
        moss::yield_now();
        b.write_all(b"abc").unwrap();
        moss::yield_now();
        b.write_all(b"def").unwrap();
        assert_eq!(reader.join().unwrap(), (6, *b"abcdef"));
    });
}

#[test]
fn a_duplicate_shares_the_hidden_mode_and_the_owners_choice_is_kept() {
    let _watchdog = watchdog("a_duplicate_shares_the_hidden_mode");
    let (a, mut b) = UnixStream::pair().unwrap();
    let (a, b) = moss::run(move || {
        let reader = moss::spawn(move || {
            (&a).read_exact(&mut [0; 1]).unwrap();
            a
        });
        moss::yield_now();
        b.write_all(b"x").unwrap();
        (reader.join().unwrap(), b)
    });
    // try_clone is fcntl(F_DUPFD_CLOEXEC).
    let c = a.try_clone().unwrap();
    assert_ne!(kernel_flags(c.as_raw_fd()) & libc::O_NONBLOCK, 0);
    assert!(!socket2::SockRef::from(&c).nonblocking().unwrap());
    // The owner's own non-blocking mode: EAGAIN, and F_GETFL shows it.
    c.set_nonblocking(true).unwrap();
    assert!(socket2::SockRef::from(&c).nonblocking().unwrap());
    assert_eq!(
        (&c).read(&mut [0; 1]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    // Back to blocking: the layer's flag stays, blocking is emulated.
    c.set_nonblocking(false).unwrap();
    assert_ne!(kernel_flags(c.as_raw_fd()) & libc::O_NONBLOCK, 0);
    let reader = std::thread::spawn(move || (&c).read_exact(&mut [0; 2]));
    (&b).write_all(b"yz").unwrap();
    reader.join().unwrap().unwrap();
    drop(a);
}

/// A set sized for `nfds` only (OpenSSH allocates `howmany(nfds,
/// NFDBITS)` longs), at the very end of a page followed by an inaccessible
/// one: a hook that reads or writes a whole `fd_set` faults.
#[test]
fn select_touches_only_the_bytes_of_nfds_in_each_set() {
    let _watchdog = watchdog("select_touches_only_the_bytes_of_nfds_in_each_set");
    moss::run(|| {
        let (mut a, b) = UnixStream::pair().unwrap();
        let nfds = b.as_raw_fd() + 1;
        let bytes = (nfds as usize).div_ceil(64) * 8;
        // SAFETY: a fresh anonymous mapping of two pages, the second made
        // inaccessible; unmapped at the end.
        let page = unsafe {
            let size = libc::sysconf(libc::_SC_PAGESIZE) as usize;
            let map = libc::mmap(
                std::ptr::null_mut(),
                2 * size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(map, libc::MAP_FAILED);
            assert_eq!(
                libc::mprotect(map.cast::<u8>().add(size).cast(), size, libc::PROT_NONE),
                0
            );
            (map, size)
        };
        let set = page
            .0
            .cast::<u8>()
            .wrapping_add(page.1 - bytes)
            .cast::<libc::fd_set>();
        let select = |timeout_us| {
            // SAFETY: `set` is valid for `bytes` bytes, which the kernel's
            // select reads and writes for `nfds`; it is zeroed first.
            unsafe {
                std::ptr::write_bytes(set.cast::<u8>(), 0, bytes);
                libc::FD_SET(b.as_raw_fd(), set);
                let mut limit = libc::timeval {
                    tv_sec: 0,
                    tv_usec: timeout_us,
                };
                let ready = libc::select(
                    nfds,
                    set,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    &mut limit,
                );
                (ready, libc::FD_ISSET(b.as_raw_fd(), set))
            }
        };
        // Nothing to read: parks, then the last look finds nothing.
        assert_eq!(select(20_000), (0, false));
        a.write_all(b"x").unwrap();
        assert_eq!(select(1_000_000), (1, true));
        // SAFETY: the mapping made above, no longer used.
        unsafe { libc::munmap(page.0, 2 * page.1) };
    });
}

#[test]
fn poll_with_a_null_array_fails_as_the_real_call_does() {
    let _watchdog = watchdog("poll_with_a_null_array_fails_as_the_real_call_does");
    moss::run(|| {
        // SAFETY: a null array with a count: the call fails with EFAULT.
        let result = unsafe { libc::poll(std::ptr::null_mut(), 1, 10) };
        assert_eq!(result, -1);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EFAULT)
        );
    });
}

#[test]
fn close_range_from_another_green_thread_wakes_a_parked_recv_with_ebadf() {
    let _watchdog = watchdog("close_range_wakes_a_parked_recv_with_ebadf");
    moss::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let fd = b.into_raw_fd();
        let result = parked_recv_after(fd, || {
            // Only `fd`: other tests of this process own the other numbers.
            // SAFETY: closes the descriptor taken out of `b` above.
            assert_eq!(unsafe { libc::close_range(fd as u32, fd as u32, 0) }, 0);
            // A new socket may take the number, with data waiting at once.
            let (mut c, mut d) = UnixStream::pair().unwrap();
            c.write_all(b"not yours").unwrap();
            d.write_all(b"not yours").unwrap();
            std::mem::forget((c, d));
        });
        assert_eq!(result, (-1, Some(libc::EBADF)));
        drop(a);
    });
}

extern "C" {
    fn gethostbyname(name: *const libc::c_char) -> *mut libc::hostent;
    fn gethostbyname_r(
        name: *const libc::c_char,
        ret: *mut libc::hostent,
        buf: *mut libc::c_char,
        buflen: libc::size_t,
        result: *mut *mut libc::hostent,
        h_errnop: *mut libc::c_int,
    ) -> libc::c_int;
}

/// The IPv4 addresses of a `hostent` from a lookup.
///
/// # Safety
/// `host` is a valid result of `gethostbyname*` (AF_INET).
unsafe fn ipv4_addresses(host: &libc::hostent) -> Vec<std::net::Ipv4Addr> {
    assert_eq!(host.h_addrtype, libc::AF_INET);
    assert_eq!(host.h_length, 4);
    let mut addresses = Vec::new();
    let mut entry = host.h_addr_list;
    // SAFETY: a null-terminated array of 4-byte addresses (the contract).
    unsafe {
        while !(*entry).is_null() {
            let octets = std::ptr::read_unaligned((*entry).cast::<[u8; 4]>());
            addresses.push(octets.into());
            entry = entry.add(1);
        }
    }
    addresses
}

/// Looks up "localhost" with `lookup` in a green thread until one lookup
/// has parked it (a ticker green thread ran meanwhile: a lookup that
/// blocked the hub would never let it), checking each answer.
fn lookups_park(mut lookup: impl FnMut() -> Vec<std::net::Ipv4Addr>) {
    moss::run(|| {
        let ticks = Rc::new(Cell::new(0));
        let ticker = {
            let ticks = Rc::clone(&ticks);
            moss::spawn(move || loop {
                ticks.set(ticks.get() + 1);
                moss::yield_now();
            })
        };
        moss::yield_now();
        let before = ticks.get();
        for _ in 0..200 {
            let addresses = lookup();
            assert!(addresses.iter().all(|address| address.is_loopback()));
            assert!(!addresses.is_empty());
            if ticks.get() > before {
                break;
            }
        }
        assert!(
            ticks.get() > before,
            "another green thread ran during a lookup"
        );
        ticker.kill();
        assert!(ticker.join().unwrap_err().is_killed());
    });
}

#[test]
fn gethostbyname_in_a_green_thread_runs_on_the_offload_pool() {
    let _watchdog = watchdog("gethostbyname_in_a_green_thread_runs_on_the_offload_pool");
    lookups_park(|| {
        // SAFETY: a valid name; the result is read before the next lookup
        // on this thread.
        let host = unsafe { gethostbyname(c"localhost".as_ptr()) };
        assert!(!host.is_null());
        // SAFETY: a non-null result of gethostbyname.
        unsafe { ipv4_addresses(&*host) }
    });
}

#[test]
fn gethostbyname_r_in_a_green_thread_fills_the_callers_buffer() {
    let _watchdog = watchdog("gethostbyname_r_in_a_green_thread_fills_the_callers_buffer");
    lookups_park(|| {
        // An odd start: the buffer's alignment is the caller's.
        let mut buffer = vec![0u8; 4097];
        // SAFETY: hostent is plain data; all-zero is its empty value.
        let mut host: libc::hostent = unsafe { std::mem::zeroed() };
        let mut result = std::ptr::null_mut();
        let mut h_errno = 0;
        // SAFETY: valid name, hostent, buffer of the length passed, and
        // out-pointers.
        let code = unsafe {
            gethostbyname_r(
                c"localhost".as_ptr(),
                &mut host,
                buffer[1..].as_mut_ptr().cast(),
                4096,
                &mut result,
                &mut h_errno,
            )
        };
        assert_eq!(code, 0);
        assert_eq!(result, &raw mut host);
        let start = buffer[1..].as_ptr() as usize;
        let name = host.h_name as usize;
        assert!(
            name >= start && name < start + 4096,
            "the name is in the caller's buffer"
        );
        // SAFETY: a successful result whose pointers are into `buffer`.
        let addresses = unsafe { ipv4_addresses(&host) };
        drop(buffer);
        addresses
    });
}

#[test]
fn pselect_and_epoll_pwait2_park_until_ready() {
    let _watchdog = watchdog("pselect_and_epoll_pwait2_park_until_ready");
    moss::run(|| {
        let (a, mut b) = UnixStream::pair().unwrap();
        let fd = a.as_raw_fd();
        let waiting = Rc::new(Cell::new(0));
        let waiter = {
            let waiting = Rc::clone(&waiting);
            moss::spawn(move || {
                // SAFETY: fd_set is plain data, valid all-zero.
                let mut set: libc::fd_set = unsafe { std::mem::zeroed() };
                // SAFETY: a valid set and a descriptor below FD_SETSIZE.
                unsafe { libc::FD_SET(fd, &mut set) };
                waiting.set(1);
                // SAFETY: a valid set; null timeout and mask.
                let ready = unsafe {
                    libc::pselect(
                        fd + 1,
                        &mut set,
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                        std::ptr::null(),
                        std::ptr::null(),
                    )
                };
                // SAFETY: a valid set.
                (ready, unsafe { libc::FD_ISSET(fd, &set) })
            })
        };
        until(&waiting, 1);
        moss::yield_now();
        b.write_all(b"x").unwrap();
        assert_eq!(waiter.join().unwrap(), (1, true));

        // SAFETY: a new epoll instance, closed below.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        let (c, mut d) = UnixStream::pair().unwrap();
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 9,
        };
        // SAFETY: valid descriptors and event.
        let added =
            unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, c.as_raw_fd(), &mut event) };
        assert_eq!(added, 0);
        let ticks = Rc::new(Cell::new(0));
        let waiter = {
            let ticks = Rc::clone(&ticks);
            moss::spawn(move || {
                let mut events = [libc::epoll_event { events: 0, u64: 0 }; 2];
                let limit = libc::timespec {
                    tv_sec: 30,
                    tv_nsec: 0,
                };
                let before = ticks.get();
                // SAFETY: a valid array of its length and timeout.
                let n = unsafe {
                    libc::epoll_pwait2(epoll, events.as_mut_ptr(), 2, &limit, std::ptr::null())
                };
                (n, events[0].u64, ticks.get() > before)
            })
        };
        moss::yield_now();
        ticks.set(ticks.get() + 1);
        d.write_all(b"y").unwrap();
        assert_eq!(waiter.join().unwrap(), (1, 9, true));
        // SAFETY: closes the instance made above.
        unsafe { libc::close(epoll) };
    });
}

/// Ticks of the ticker green thread of the signal test.
static SIGNAL_TICKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// What the handlers of the signal test saw: the sleep's result, the
/// signal number from the siginfo.
static SLEPT: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-2);
static SIGINFO_SIGNO: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn sleeping_handler(_: libc::c_int) {
    let pause = libc::timespec {
        tv_sec: 0,
        tv_nsec: 20_000_000,
    };
    // SAFETY: a valid request; nanosleep is async-signal-safe.
    let slept = unsafe { libc::nanosleep(&pause, std::ptr::null_mut()) };
    SLEPT.store(slept, std::sync::atomic::Ordering::SeqCst);
}

extern "C" fn siginfo_handler(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel's siginfo for this delivery.
    let signo = unsafe { (*info).si_signo };
    SIGINFO_SIGNO.store(signo, std::sync::atomic::Ordering::SeqCst);
}

/// The action of `sig`, read through the (hooked) `sigaction`.
fn action_of(sig: i32) -> libc::sigaction {
    // SAFETY: sigaction is plain data; all-zero is valid.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null action (read only) and a valid place for the old one.
    let result = unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) };
    assert_eq!(result, 0);
    old
}

#[test]
fn hooked_calls_in_signal_handlers_are_the_real_ones_and_sigaction_reports_the_users_handler() {
    use std::sync::atomic::Ordering::SeqCst;
    let _watchdog = watchdog("hooked_calls_in_signal_handlers_are_the_real_ones");
    // signal(): the previous handler comes back, and reading the action
    // shows the program's handler with its flags, not the layer's.
    let handler = sleeping_handler as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: installs a handler that only sleeps and stores an atomic.
    let previous = unsafe { libc::signal(libc::SIGUSR1, handler) };
    assert_ne!(previous, libc::SIG_ERR);
    // SAFETY: as above; the same handler again.
    assert_eq!(unsafe { libc::signal(libc::SIGUSR1, handler) }, handler);
    let action = action_of(libc::SIGUSR1);
    assert_eq!(action.sa_sigaction, handler);
    assert_eq!(action.sa_flags & libc::SA_SIGINFO, 0);

    // SA_SIGINFO: three arguments, reported as installed.
    let info_handler = siginfo_handler
        as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
        as libc::sighandler_t;
    // SAFETY: sigaction is plain data; all-zero is an empty action.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = info_handler;
    action.sa_flags = libc::SA_SIGINFO;
    // SAFETY: a valid action; the handler only stores an atomic.
    let result = unsafe { libc::sigaction(libc::SIGUSR2, &action, std::ptr::null_mut()) };
    assert_eq!(result, 0);
    let read = action_of(libc::SIGUSR2);
    assert_eq!(read.sa_sigaction, info_handler);
    assert_ne!(read.sa_flags & libc::SA_SIGINFO, 0);
    // SAFETY: raises a signal whose handler is installed above.
    assert_eq!(unsafe { libc::raise(libc::SIGUSR2) }, 0);
    assert_eq!(SIGINFO_SIGNO.load(SeqCst), libc::SIGUSR2);
    // SIG_IGN is passed on as it is.
    // SAFETY: ignores SIGUSR2.
    let previous = unsafe { libc::signal(libc::SIGUSR2, libc::SIG_IGN) };
    assert_eq!(previous, info_handler);
    assert_eq!(action_of(libc::SIGUSR2).sa_sigaction, libc::SIG_IGN);

    // A hooked sleep in a handler that interrupts a green thread is the
    // real one: the hub runs nothing else meanwhile (it would park the
    // green thread inside the handler otherwise, and the ticker would run).
    moss::run(|| {
        let ticker = moss::spawn(|| loop {
            SIGNAL_TICKS.fetch_add(1, SeqCst);
            moss::yield_now();
        });
        moss::yield_now();
        let before = SIGNAL_TICKS.load(SeqCst);
        assert!(before > 0);
        // SAFETY: raises a signal whose handler is installed above.
        assert_eq!(unsafe { libc::raise(libc::SIGUSR1) }, 0);
        assert_eq!(SLEPT.load(SeqCst), 0);
        assert_eq!(
            SIGNAL_TICKS.load(SeqCst),
            before,
            "the handler's sleep did not park"
        );
        // Out of the handler, the same sleep parks again.
        std::thread::sleep(Duration::from_millis(5));
        assert!(SIGNAL_TICKS.load(SeqCst) > before);
        ticker.kill();
        assert!(ticker.join().unwrap_err().is_killed());
    });
}
