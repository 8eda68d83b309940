//! The `Date` header value, formatted once per second per thread.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) const DATE_LEN: usize = 29;

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

/// Formats seconds since the Unix epoch as an IMF-fixdate (RFC 9110 5.6.7).
pub(crate) fn format_imf(secs: u64) -> [u8; DATE_LEN] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, rem / 60 % 60, rem % 60);
    let (year, month, day) = civil_from_days(days as i64);

    let mut text = [b' '; DATE_LEN];
    text[0..3].copy_from_slice(DAYS[(days % 7) as usize]);
    text[3] = b',';
    put2(&mut text[5..7], day as u64);
    text[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    let year = year.clamp(0, 9999) as u64;
    put2(&mut text[12..14], year / 100);
    put2(&mut text[14..16], year % 100);
    put2(&mut text[17..19], hour);
    text[19] = b':';
    put2(&mut text[20..22], minute);
    text[22] = b':';
    put2(&mut text[23..25], second);
    text[26..29].copy_from_slice(b"GMT");
    text
}

fn put2(out: &mut [u8], value: u64) {
    out[0] = b'0' + (value / 10 % 10) as u8;
    out[1] = b'0' + (value % 10) as u8;
}

/// Gregorian (year, month 1-12, day 1-31) of a day count since 1970-01-01,
/// by the era-based method of Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::format_imf;

    #[test]
    fn formats_known_dates() {
        assert_eq!(&format_imf(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&format_imf(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&format_imf(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
