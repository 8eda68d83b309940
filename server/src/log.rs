//! Logging in gunicorn's formats: the error log (a [`::log::Log`]) and, in [`access`], the access log.
//!
//! ```text
//!   log::info!(..) ──► error log ──┐
//!                                  ├──► Sink: "-" (a copy of stderr/stdout) or a file, O_APPEND
//!   Logged<A>::call ─► access log ─┘        every open sink is listed for `reopen()` (USR1)
//! ```
//!
//! Both are fork-safe: no background thread, and no lock is held across a
//! write. A line is formatted first, then written with one `write_all` on
//! the sink's current file, which a lock guards only while it is cloned or
//! swapped. A green thread that parked inside a write while holding a lock
//! would stop every other green thread of its hub at that lock; with no
//! lock held there is nothing to stop at. Lines below `PIPE_BUF` bytes
//! written to an `O_APPEND` file or a pipe do not interleave.
//!
//! Times are written in UTC (`+0000`): formatting a local offset would
//! need the C library's time zone state, which is not fork- or
//! thread-safe to read.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

pub mod access;

pub use self::access::{AccessLog, Logged, DEFAULT_FORMAT};

/// Sets up the error log: lines at `level` and above go to `errorlog`,
/// `-` for stderr or a file path (created if missing, appended to).
///
/// Installs the process's [`::log`] logger on the first call; a later call
/// replaces the target and level. Fails if the file cannot be opened, or if
/// another logger was installed first.
///
/// # Examples
///
/// ```
/// moss_server::log::init("-", log::LevelFilter::Info).unwrap();
/// log::info!("Listening at: http://127.0.0.1:8000");
/// // stderr: [2026-11-30 13:42:07 +0000] [4242] [INFO] Listening at: http://127.0.0.1:8000
/// ```
pub fn init(errorlog: &str, level: ::log::LevelFilter) -> io::Result<()> {
    let sink = Sink::open(errorlog, Standard::Err)?;
    *lock(&ERROR_LOG.sink) = Some(sink);
    if !*INSTALLED.get_or_init(|| ::log::set_logger(&ERROR_LOG).is_ok()) {
        return Err(io::Error::other(
            "another logger is installed; moss's error log cannot be",
        ));
    }
    ::log::set_max_level(level);
    Ok(())
}

/// Reopens every log file of this process by its path (the error log and
/// every open [`AccessLog`]): what `SIGUSR1` asks for after a log rotation.
/// `-` targets take a fresh copy of stdout or stderr.
///
/// Tries every file; returns the first error.
pub fn reopen() -> io::Result<()> {
    let sinks: Vec<Arc<Sink>> = {
        let mut open = lock(&OPEN_SINKS);
        open.retain(|sink| sink.strong_count() > 0);
        open.iter().filter_map(Weak::upgrade).collect()
    };
    let mut result = Ok(());
    for sink in sinks {
        if let Err(error) = sink.reopen() {
            result = result.and(Err(error));
        }
    }
    result
}

/// The process's error log.
static ERROR_LOG: ErrorLog = ErrorLog {
    sink: Mutex::new(None),
};

/// Whether [`ERROR_LOG`] is the installed logger, once [`init`] has tried.
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// Every sink opened in this process, for [`reopen`].
static OPEN_SINKS: Mutex<Vec<Weak<Sink>>> = Mutex::new(Vec::new());

/// Locks `mutex`, whatever a panicking holder left: log state stays usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The [`::log::Log`] behind [`init`].
struct ErrorLog {
    /// Where lines go; `None` before [`init`].
    sink: Mutex<Option<Arc<Sink>>>,
}

impl ::log::Log for ErrorLog {
    fn enabled(&self, metadata: &::log::Metadata<'_>) -> bool {
        metadata.level() <= ::log::max_level()
    }

    fn log(&self, record: &::log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let Some(sink) = lock(&self.sink).clone() else {
            return;
        };
        let line = error_line(
            SystemTime::now(),
            std::process::id(),
            record.level(),
            record.args(),
        );
        // Nowhere to report a failed log write.
        let _ = sink.write_line(line.as_bytes());
    }

    fn flush(&self) {}
}

/// One error-log line, gunicorn's
/// `[%Y-%m-%d %H:%M:%S %z] [pid] [LEVEL] message`, newline included.
fn error_line(
    now: SystemTime,
    pid: u32,
    level: ::log::Level,
    message: &std::fmt::Arguments<'_>,
) -> String {
    let level = match level {
        ::log::Level::Error => "ERROR",
        ::log::Level::Warn => "WARNING",
        ::log::Level::Info => "INFO",
        ::log::Level::Debug => "DEBUG",
        ::log::Level::Trace => "TRACE",
    };
    let t = Utc::of(now);
    format!(
        "[{:04}-{:02}-{:02} {:02}:{:02}:{:02} +0000] [{pid}] [{level}] {message}\n",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// Which standard stream a `-` target means.
#[derive(Debug, Clone, Copy)]
enum Standard {
    Out,
    Err,
}

/// Where a log's lines go: a file opened for appending, or a copy of a
/// standard stream's descriptor (unbuffered, and free of std's stdout
/// lock, which green threads of one OS thread would share).
#[derive(Debug)]
struct Sink {
    /// The file's path; `None` for a standard stream.
    path: Option<PathBuf>,
    standard: Standard,
    /// The open file. Locked only to clone or replace the `Arc`, never
    /// across I/O (see the module docs).
    file: Mutex<Arc<File>>,
}

impl Sink {
    /// Opens `target` (`-`: the `standard` stream) and lists it for
    /// [`reopen`].
    fn open(target: &str, standard: Standard) -> io::Result<Arc<Sink>> {
        let path = (target != "-").then(|| PathBuf::from(target));
        let file = Sink::open_file(path.as_ref(), standard)?;
        let sink = Arc::new(Sink {
            path,
            standard,
            file: Mutex::new(Arc::new(file)),
        });
        let mut open = lock(&OPEN_SINKS);
        open.retain(|sink| sink.strong_count() > 0);
        open.push(Arc::downgrade(&sink));
        Ok(sink)
    }

    fn open_file(path: Option<&PathBuf>, standard: Standard) -> io::Result<File> {
        match path {
            Some(path) => OpenOptions::new().create(true).append(true).open(path),
            None => {
                let fd = match standard {
                    Standard::Out => io::stdout().as_fd().try_clone_to_owned()?,
                    Standard::Err => io::stderr().as_fd().try_clone_to_owned()?,
                };
                Ok(File::from(fd))
            }
        }
    }

    /// Opens the target again and writes to the new file from now on.
    fn reopen(&self) -> io::Result<()> {
        let file = Sink::open_file(self.path.as_ref(), self.standard)?;
        *lock(&self.file) = Arc::new(file);
        Ok(())
    }

    /// Writes one whole line.
    fn write_line(&self, line: &[u8]) -> io::Result<()> {
        let file = lock(&self.file).clone();
        (&*file).write_all(line)
    }
}

/// A UTC calendar time, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Utc {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl Utc {
    /// The calendar time of `time` (the epoch for earlier times).
    fn of(time: SystemTime) -> Utc {
        let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let (days, rest) = ((secs / 86_400) as i64, (secs % 86_400) as u32);
        // Howard Hinnant's `civil_from_days`: eras of 400 years (146097
        // days) from 0000-03-01, so the leap day ends each year.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z.rem_euclid(146_097);
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_from_march = (5 * day_of_year + 2) / 153;
        let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
        let month = if month_from_march < 10 {
            month_from_march + 3
        } else {
            month_from_march - 9
        } as u32;
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        Utc {
            year,
            month,
            day,
            hour: rest / 3600,
            minute: rest / 60 % 60,
            second: rest % 60,
        }
    }

    /// The month's English abbreviation (`strftime`'s `%b` in the C locale).
    fn month_name(&self) -> &'static str {
        const NAMES: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        NAMES[(self.month - 1) as usize]
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// 2026-11-30 13:42:07 UTC.
    pub(crate) fn fixed_time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_796_046_127)
    }

    #[test]
    fn utc_dates_match_known_instants() {
        let at = |secs| Utc::of(UNIX_EPOCH + Duration::from_secs(secs));
        let utc = |year, month, day, hour, minute, second| Utc {
            year,
            month,
            day,
            hour,
            minute,
            second,
        };
        assert_eq!(at(0), utc(1970, 1, 1, 0, 0, 0));
        assert_eq!(at(951_782_400), utc(2000, 2, 29, 0, 0, 0));
        assert_eq!(at(1_709_251_199), utc(2024, 2, 29, 23, 59, 59));
        assert_eq!(at(4_107_542_400), utc(2100, 3, 1, 0, 0, 0));
        assert_eq!(Utc::of(fixed_time()), utc(2026, 11, 30, 13, 42, 7));
        assert_eq!(Utc::of(fixed_time()).month_name(), "Nov");
        assert_eq!(Utc::of(UNIX_EPOCH - Duration::from_secs(1)), at(0));
    }

    #[test]
    fn error_lines_have_gunicorns_shape() {
        let line = error_line(
            fixed_time(),
            4242,
            ::log::Level::Info,
            &format_args!("Booting worker with pid: {}", 4243),
        );
        assert_eq!(
            line,
            "[2026-11-30 13:42:07 +0000] [4242] [INFO] Booting worker with pid: 4243\n"
        );
        let line = error_line(fixed_time(), 1, ::log::Level::Warn, &format_args!("w"));
        assert_eq!(line, "[2026-11-30 13:42:07 +0000] [1] [WARNING] w\n");
    }

    /// A fresh path in the temporary directory.
    pub(crate) fn temp_path(name: &str) -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        std::env::temp_dir().join(format!("moss-log-{}-{n}-{name}", std::process::id()))
    }

    #[test]
    fn the_error_log_writes_to_its_file_and_reopens_it_after_a_rotation() {
        let path = temp_path("error.log");
        init(path.to_str().unwrap(), ::log::LevelFilter::Info).unwrap();
        ::log::info!("first");
        ::log::debug!("below the level");
        let rotated = path.with_extension("1");
        std::fs::rename(&path, &rotated).unwrap();
        ::log::warn!("still to the rotated file");
        reopen().unwrap();
        ::log::error!("to the new file");

        // Other tests may log meanwhile: look only for these lines.
        let pid = std::process::id();
        let old = std::fs::read_to_string(&rotated).unwrap();
        assert!(
            old.contains(&format!("+0000] [{pid}] [INFO] first\n")),
            "{old}"
        );
        assert!(old.contains("] [WARNING] still to the rotated file\n"));
        assert!(!old.contains("below the level") && !old.contains("to the new file"));
        let new = std::fs::read_to_string(&path).unwrap();
        assert!(new.contains("] [ERROR] to the new file\n"), "{new}");
        assert!(!new.contains("first"));
        let _ = std::fs::remove_file(path);
        let _ = std::fs::remove_file(rotated);
    }
}
