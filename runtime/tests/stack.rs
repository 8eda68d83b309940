//! Stacks: overflow reporting, the stack cap, reuse.

use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use moss_runtime as moss;
use util::run_child;

mod util;

/// Recurses with a 1 KiB frame until the stack runs out.
#[inline(never)]
fn deep(n: u64) -> u64 {
    let frame = std::hint::black_box([n as u8; 1024]);
    if n == u64::MAX {
        return 0;
    }
    deep(n + 1) + u64::from(frame[0])
}

#[test]
fn stack_overflow_names_the_green_thread_and_aborts() {
    if std::env::var_os("MOSS_OVERFLOW_CHILD").is_some() {
        moss::run(|| {
            let handle = moss::Builder::new()
                .name("deep-recursion".into())
                .stack_size(64 * 1024)
                .spawn(|| deep(0));
            let _ = handle.unwrap().join();
        });
        unreachable!("the overflow aborts the process");
    }
    let output = run_child(
        "stack_overflow_names_the_green_thread_and_aborts",
        &[("MOSS_OVERFLOW_CHILD", "1")],
    );
    let stderr = &output.stderr;
    assert!(
        !output.status.success(),
        "the child must not survive an overflow"
    );
    assert!(
        stderr.contains("green thread 'deep-recursion'")
            && stderr.contains("overflowed its stack of 65536 bytes"),
        "stderr: {stderr}"
    );
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGABRT),
        "aborted, not a silent SIGSEGV"
    );
}

#[test]
fn a_segfault_that_is_not_an_overflow_is_not_reported_as_one() {
    if std::env::var_os("MOSS_SEGV_CHILD").is_some() {
        moss::run(|| {
            moss::spawn(|| {
                // SAFETY: deliberately faults, in a child process.
                unsafe {
                    std::ptr::write_volatile(
                        std::ptr::dangling_mut::<u64>().wrapping_add(1 << 20),
                        1,
                    )
                };
            })
            .join()
            .ok();
        });
        unreachable!("the fault kills the process");
    }
    let output = run_child(
        "a_segfault_that_is_not_an_overflow_is_not_reported_as_one",
        &[("MOSS_SEGV_CHILD", "1")],
    );
    let stderr = &output.stderr;
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGSEGV),
        "stderr: {stderr}"
    );
    assert!(!stderr.contains("overflowed its stack"), "stderr: {stderr}");
}

#[test]
fn spawn_fails_cleanly_when_stacks_run_out() {
    moss::Hub::builder().max_stacks(4).run(|| {
        // The root holds one stack; three more fit.
        let held: Vec<_> = (0..3)
            .map(|_| moss::Builder::new().spawn(moss::yield_now).unwrap())
            .collect();
        let err = moss::Builder::new().spawn(|| ()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory);
        assert!(err.to_string().contains("max_stacks"), "{err}");
        for handle in held {
            handle.join().unwrap();
        }
        // Finished green threads give their stacks back.
        moss::Builder::new().spawn(|| ()).unwrap().join().unwrap();
        assert_eq!(moss::stats().stacks, 1);
    });
}

#[test]
fn deep_but_bounded_recursion_fits_the_default_stack() {
    #[inline(never)]
    fn depth(n: u32) -> u32 {
        let pad = std::hint::black_box([0u8; 512]);
        if n == 0 {
            return u32::from(pad[0]);
        }
        depth(n - 1) + 1
    }
    // Frames of 0.5 KiB and more (debug builds copy the pad): well over 50 KiB.
    assert_eq!(
        moss::run(|| moss::spawn(|| depth(100)).join().unwrap()),
        100
    );
}

#[test]
fn many_stack_sizes_coexist() {
    let total = moss::run(|| {
        let handles: Vec<_> = [8 * 1024, 16 * 1024, 100_000, 1 << 20]
            .into_iter()
            .map(|size| {
                moss::Builder::new()
                    .stack_size(size)
                    .spawn(move || size)
                    .unwrap()
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum::<usize>()
    });
    assert_eq!(total, 8 * 1024 + 16 * 1024 + 100_000 + (1 << 20));
}

/// Spawns 16 KiB green threads that never run until a spawn fails; prints
/// how many fit and the error.
fn fill_until_refused() {
    moss::run(|| {
        let mut handles = Vec::new();
        let err = loop {
            match moss::Builder::new().stack_size(16 * 1024).spawn(|| ()) {
                Ok(handle) => handles.push(handle),
                Err(err) => break err,
            }
            assert!(handles.len() < 2_000_000, "no limit was ever reached");
        };
        println!("spawned {} refused {:?}: {err}", handles.len(), err.kind());
    });
}

#[test]
fn mprotect_guards_meet_a_computed_limit_with_an_error_not_a_crash() {
    if std::env::var_os("MOSS_FILL_CHILD").is_some() {
        return fill_until_refused();
    }
    let output = run_child(
        "mprotect_guards_meet_a_computed_limit_with_an_error_not_a_crash",
        &[("MOSS_FILL_CHILD", "1"), ("MOSS_STACK_GUARD", "mprotect")],
    );
    let stdout = &output.stdout;
    assert!(
        output.status.success(),
        "the child survived: {stdout}\n{}",
        output.stderr
    );
    let line = stdout
        .lines()
        .find(|line| line.starts_with("spawned "))
        .expect("the child reports");
    let spawned: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(
        line.contains("OutOfMemory") && line.contains("vm.max_map_count"),
        "{line}"
    );
    let max_map_count: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Two mappings per stack: the limit sits just under half the map count.
    assert!(
        spawned > 1_000 && spawned < max_map_count / 2,
        "{spawned} stacks for {max_map_count} mappings"
    );
}

#[test]
fn stack_overflow_is_reported_with_mprotect_guards_too() {
    let output = run_child(
        "stack_overflow_names_the_green_thread_and_aborts",
        &[
            ("MOSS_OVERFLOW_CHILD", "1"),
            ("MOSS_STACK_GUARD", "mprotect"),
        ],
    );
    let stderr = &output.stderr;
    assert!(
        stderr.contains("green thread 'deep-recursion'") && stderr.contains("overflowed its stack"),
        "{stderr}"
    );
    assert_eq!(output.status.signal(), Some(libc::SIGABRT));
}

/// Length of the region [`recover_guarded_region`] recovers faults on: a
/// multiple of any page size up to 64 KiB.
const GUARDED_LEN: usize = 64 * 1024;

/// Start of the region [`recover_guarded_region`] recovers faults on; 0
/// until the child maps it.
static GUARDED_REGION: AtomicUsize = AtomicUsize::new(0);

/// How many faults [`recover_guarded_region`] has recovered from.
static RECOVERED: AtomicUsize = AtomicUsize::new(0);

/// A SIGSEGV handler of the kind a JIT or a user installs: a fault inside
/// [`GUARDED_REGION`] makes the region accessible and returns, so the access
/// is retried and succeeds; any other fault takes the default action.
extern "C" fn recover_guarded_region(
    _signal: libc::c_int,
    info: *mut libc::siginfo_t,
    _context: *mut libc::c_void,
) {
    let region = GUARDED_REGION.load(Ordering::SeqCst);
    // SAFETY: the kernel (or moss's handler, passing on the kernel's
    // arguments) gives a SA_SIGINFO handler a valid siginfo; for a SIGSEGV
    // it fills si_addr.
    let address = unsafe { (*info).si_addr() } as usize;
    if region != 0 && (region..region + GUARDED_LEN).contains(&address) {
        // SAFETY: the range is the PROT_NONE mapping the child made for this
        // handler; it holds no Rust object whose access rights matter.
        let unprotected = unsafe {
            libc::mprotect(
                region as *mut libc::c_void,
                GUARDED_LEN,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
        if unprotected == 0 {
            RECOVERED.fetch_add(1, Ordering::SeqCst);
            return;
        }
    }
    // SAFETY: reinstalling the default action has no memory-safety
    // preconditions; the fault then repeats and kills the process.
    unsafe { libc::signal(libc::SIGSEGV, libc::SIG_DFL) };
}

/// Installs [`recover_guarded_region`] for SIGSEGV, without `SA_ONSTACK`,
/// and maps the PROT_NONE region it recovers; returns the region's start.
fn install_recovering_handler() -> usize {
    // SAFETY: all-zeroes is a valid sigaction (SIG_DFL, no flags).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = recover_guarded_region as *const () as libc::sighandler_t;
    action.sa_flags = libc::SA_SIGINFO;
    // SAFETY: `action.sa_mask` is a valid sigset_t we own.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: `action` is valid and its handler has the SA_SIGINFO
    // signature; the old-action pointer is null.
    let installed = unsafe { libc::sigaction(libc::SIGSEGV, &action, std::ptr::null_mut()) };
    assert_eq!(installed, 0, "{}", std::io::Error::last_os_error());
    // SAFETY: a fresh anonymous mapping at an address of the kernel's choice
    // aliases nothing.
    let region = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            GUARDED_LEN,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(
        region,
        libc::MAP_FAILED,
        "{}",
        std::io::Error::last_os_error()
    );
    GUARDED_REGION.store(region as usize, Ordering::SeqCst);
    region as usize
}

#[test]
fn overflow_is_still_reported_after_an_unrelated_fault_another_handler_recovered() {
    if std::env::var_os("MOSS_RECOVERED_FAULT_CHILD").is_some() {
        // Installed before the hub starts, so moss's handler chains to it.
        let region = install_recovering_handler();
        moss::run(move || {
            let value = moss::spawn(move || {
                let slot = region as *mut u64;
                // SAFETY: `slot` is the start of a live, page-aligned
                // mapping of GUARDED_LEN bytes; the first access faults and
                // the recovering handler makes the mapping read-write.
                unsafe { std::ptr::write_volatile(slot, 42) };
                // SAFETY: as above; the mapping is read-write by now.
                unsafe { std::ptr::read_volatile(slot) }
            })
            .join()
            .unwrap();
            assert_eq!(value, 42);
            assert_eq!(RECOVERED.load(Ordering::SeqCst), 1);
            eprintln!("the recovering handler recovered the fault");
            let handle = moss::Builder::new()
                .name("deep-after-recovery".into())
                .stack_size(64 * 1024)
                .spawn(|| deep(0));
            let _ = handle.unwrap().join();
        });
        unreachable!("the overflow aborts the process");
    }
    let output = run_child(
        "overflow_is_still_reported_after_an_unrelated_fault_another_handler_recovered",
        &[("MOSS_RECOVERED_FAULT_CHILD", "1")],
    );
    let stderr = &output.stderr;
    assert!(
        stderr.contains("the recovering handler recovered the fault"),
        "the unrelated fault was recovered first: {stderr}"
    );
    assert!(
        stderr.contains("green thread 'deep-after-recovery'")
            && stderr.contains("overflowed its stack of 65536 bytes"),
        "stderr: {stderr}"
    );
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGABRT),
        "aborted by moss's handler, not killed by the default action: {stderr}"
    );
}

#[test]
fn a_fault_the_previous_action_ignores_kills_instead_of_looping() {
    if std::env::var_os("MOSS_IGNORED_FAULT_CHILD").is_some() {
        // SAFETY: installing SIG_IGN has no memory-safety preconditions.
        let previous = unsafe { libc::signal(libc::SIGSEGV, libc::SIG_IGN) };
        assert_ne!(previous, libc::SIG_ERR);
        moss::run(|| {
            moss::spawn(|| {
                // SAFETY: deliberately faults, in a child process.
                unsafe {
                    std::ptr::write_volatile(
                        std::ptr::dangling_mut::<u64>().wrapping_add(1 << 20),
                        1,
                    )
                };
            })
            .join()
            .ok();
        });
        unreachable!("the fault kills the process");
    }
    let output = run_child(
        "a_fault_the_previous_action_ignores_kills_instead_of_looping",
        &[("MOSS_IGNORED_FAULT_CHILD", "1")],
    );
    let stderr = &output.stderr;
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGSEGV),
        "stderr: {stderr}"
    );
    assert!(!stderr.contains("overflowed its stack"), "stderr: {stderr}");
}

#[test]
fn memory_is_given_back_once_after_a_burst_of_green_threads_ends() {
    let (small, burst, again) = moss::Hub::builder().stack_size(64 * 1024).run(|| {
        let wave = |count: usize| {
            let handles: Vec<_> = (0..count)
                .map(|i| {
                    moss::spawn(move || {
                        let touched = std::hint::black_box([i as u8; 16 * 1024]);
                        moss::sleep(Duration::from_millis(1));
                        let heap = vec![touched[0]; 4096];
                        heap.len()
                    })
                })
                .collect();
            for handle in handles {
                assert_eq!(handle.join().unwrap(), 4096);
            }
            // The hub polls while this sleeps: that is when it trims.
            moss::sleep(Duration::from_millis(1));
            moss::stats().trims
        };
        (wave(100), wave(2000), wave(100))
    });
    assert_eq!(small, 0, "no burst, no trim");
    assert_eq!(burst, 1, "one trim after the burst");
    assert_eq!(again, 1, "a small wave after it does not trim again");
}

/// Fills `depth` bytes of stack below the caller, so that those pages are
/// touched, and returns a checksum so the work is not optimised away.
#[inline(never)]
fn touch_stack(depth: usize) -> u64 {
    let mut buf = [0u8; 64 * 1024];
    let depth = depth.min(buf.len());
    for (i, byte) in buf[..depth].iter_mut().enumerate() {
        *byte = i as u8;
    }
    std::hint::black_box(&buf)
        .iter()
        .map(|&b| u64::from(b))
        .sum()
}

/// Sleeps until the hub has swept a parked stack (the second sweep that
/// sees the same park, a second or two); a minute without one fails.
fn wait_for_a_sweep() {
    for _ in 0..600 {
        if moss::stats().stacks_swept > 0 {
            return;
        }
        moss::sleep(Duration::from_millis(100));
    }
    panic!("no parked stack was swept in a minute");
}

#[test]
fn the_dead_part_of_a_long_parked_stack_is_given_back_and_live_frames_survive() {
    moss::run(|| {
        let release = std::rc::Rc::new(moss::sync::Event::new());
        let event = std::rc::Rc::clone(&release);
        let parked = moss::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                // Live across the park: must read back intact.
                let live: [u64; 512] = std::array::from_fn(|i| i as u64 * 3 + 1);
                let checksum = touch_stack(64 * 1024);
                event.wait();
                let intact = std::hint::black_box(&live)
                    .iter()
                    .enumerate()
                    .all(|(i, &v)| v == i as u64 * 3 + 1);
                // Deep again after the sweep: the given-back pages fault in.
                (intact, checksum == touch_stack(64 * 1024))
            })
            .unwrap();
        wait_for_a_sweep();
        release.set();
        assert_eq!(parked.join().unwrap(), (true, true));
    });
}

#[test]
fn a_green_thread_swept_while_suspended_mid_unwind_finishes_its_unwind_intact() {
    struct WaitsThenChecks(std::rc::Rc<moss::sync::Event>, [u64; 256]);
    impl Drop for WaitsThenChecks {
        fn drop(&mut self) {
            touch_stack(32 * 1024);
            self.0.wait();
            let intact = self.1.iter().enumerate().all(|(i, &v)| v == !(i as u64));
            assert!(intact, "a destructor's data was lost to the sweep");
        }
    }
    moss::run(|| {
        let release = std::rc::Rc::new(moss::sync::Event::new());
        let guard = WaitsThenChecks(
            std::rc::Rc::clone(&release),
            std::array::from_fn(|i| !(i as u64)),
        );
        let unwinding = moss::spawn(move || {
            let _guard = guard;
            std::panic::panic_any(String::from("payload intact"));
        });
        wait_for_a_sweep();
        release.set();
        let payload = unwinding.join().unwrap_err().into_panic();
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("payload intact")
        );
    });
}
