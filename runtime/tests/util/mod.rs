//! Helpers shared by the runtime's integration tests.

#![allow(dead_code)] // each test file uses its own subset

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a child process may run before the watchdog kills it.
const WATCHDOG: Duration = Duration::from_secs(60);

/// How a child run of this test binary ended.
pub struct ChildRun {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs this test binary again with `envs` set, so that only `test` runs
/// there (in its child branch). A child still running after [`WATCHDOG`] is
/// killed and fails the calling test, so a hang cannot stall the suite.
pub fn run_child(test: &str, envs: &[(&str, &str)]) -> ChildRun {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture"])
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drained on threads so that a chatty child cannot fill a pipe and stall.
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let deadline = Instant::now() + WATCHDOG;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = stdout.join().unwrap();
    let stderr = stderr.join().unwrap();
    let Some(status) = status else {
        panic!("{test}: child still running after {WATCHDOG:?}, killed\n{stderr}\n{stdout}");
    };
    ChildRun {
        status,
        stdout,
        stderr,
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}
