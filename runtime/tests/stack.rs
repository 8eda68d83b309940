//! Stacks: overflow reporting, the stack cap, reuse.

use std::process::Command;

use moss_runtime as moss;

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
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "stack_overflow_names_the_green_thread_and_aborts",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MOSS_OVERFLOW_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "the child must not survive an overflow"
    );
    assert!(
        stderr.contains("green thread 'deep-recursion'")
            && stderr.contains("overflowed its stack of 65536 bytes"),
        "stderr: {stderr}"
    );
    use std::os::unix::process::ExitStatusExt;
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
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_segfault_that_is_not_an_overflow_is_not_reported_as_one",
            "--nocapture",
        ])
        .env("MOSS_SEGV_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    use std::os::unix::process::ExitStatusExt;
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
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "mprotect_guards_meet_a_computed_limit_with_an_error_not_a_crash",
            "--nocapture",
        ])
        .env("MOSS_FILL_CHILD", "1")
        .env("MOSS_STACK_GUARD", "mprotect")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the child survived: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
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
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "stack_overflow_names_the_green_thread_and_aborts",
            "--nocapture",
        ])
        .env("MOSS_OVERFLOW_CHILD", "1")
        .env("MOSS_STACK_GUARD", "mprotect")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("green thread 'deep-recursion'") && stderr.contains("overflowed its stack"),
        "{stderr}"
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(output.status.signal(), Some(libc::SIGABRT));
}
