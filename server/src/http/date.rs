//! The `Date` header value, formatted by `httpdate` once per second per thread.

use std::cell::RefCell;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use httpdate::HttpDate;

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) const DATE_LEN: usize = 29;

/// Seconds since the epoch of 10000-01-01, where IMF-fixdates (and
/// `httpdate`, which panics from there on) end.
const YEAR_10000: u64 = 253_402_300_800;

struct Cached {
    second: u64,
    text: [u8; DATE_LEN],
}

thread_local! {
    static CACHE: RefCell<Cached> = const {
        RefCell::new(Cached { second: u64::MAX, text: [b' '; DATE_LEN] })
    };
}

/// The current date as an IMF-fixdate.
pub(crate) fn now() -> [u8; DATE_LEN] {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHE.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.second != now {
            cached.text = format_imf(now);
            cached.second = now;
        }
        cached.text
    })
}

/// Formats seconds since the Unix epoch as an IMF-fixdate (RFC 9110
/// 5.6.7); a clock past year 9999 reads as its last second.
fn format_imf(secs: u64) -> [u8; DATE_LEN] {
    let time = UNIX_EPOCH + Duration::from_secs(secs.min(YEAR_10000 - 1));
    let mut text = [b' '; DATE_LEN];
    // An IMF-fixdate of years 1970-9999 is exactly `DATE_LEN` bytes.
    let written = write!(&mut text[..], "{}", HttpDate::from(time));
    debug_assert!(written.is_ok());
    text
}

#[cfg(test)]
mod tests {
    use super::{format_imf, YEAR_10000};

    #[test]
    fn formats_known_dates() {
        assert_eq!(&format_imf(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&format_imf(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&format_imf(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(&format_imf(u64::MAX), b"Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(format_imf(YEAR_10000), format_imf(YEAR_10000 - 1));
    }
}
