use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Whole seconds since the Unix epoch (0 for a clock set before 1970).
pub(crate) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// Whole milliseconds since the Unix epoch (0 for a clock set before 1970).
pub(crate) fn unix_millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The time `millis` milliseconds after the epoch (negative values count as 0).
pub(crate) fn from_unix_millis(millis: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(millis).unwrap_or(0))
}

/// The time `secs` seconds after the epoch.
pub(crate) fn from_unix_seconds(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) for whole seconds since the epoch.
pub(crate) fn http_date(unix_secs: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(unix_secs))
}

/// Parses an HTTP date into whole seconds since the epoch.
pub(crate) fn parse_http_date(text: &str) -> Option<u64> {
    httpdate::parse_http_date(text.trim())
        .ok()
        .map(unix_seconds)
}

/// `now` as RFC 3339 in UTC with milliseconds, e.g. `2024-05-01T12:34:56.789Z`.
pub(crate) fn rfc3339_utc(now: SystemTime) -> String {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (year, month, day) = civil_from_days(secs / 86_400);
    let second_of_day = secs % 86_400;
    // Written digit by digit: this is on every ODP answer, and `format!` costs more.
    let mut text = String::with_capacity(24);
    push_digits(&mut text, year, 4);
    text.push('-');
    push_digits(&mut text, month, 2);
    text.push('-');
    push_digits(&mut text, day, 2);
    text.push('T');
    push_digits(&mut text, second_of_day / 3600, 2);
    text.push(':');
    push_digits(&mut text, second_of_day % 3600 / 60, 2);
    text.push(':');
    push_digits(&mut text, second_of_day % 60, 2);
    text.push('.');
    push_digits(&mut text, u64::from(since_epoch.subsec_millis()), 3);
    text.push('Z');
    text
}

/// `value` in decimal, zero-padded to at least `width` digits.
fn push_digits(text: &mut String, value: u64, width: u32) {
    let digits = value.checked_ilog10().unwrap_or(0) + 1;
    for _ in digits..width {
        text.push('0');
    }
    let mut divisor = 10u64.pow(digits - 1);
    while divisor > 0 {
        let digit = u8::try_from(value / divisor % 10).unwrap_or(0);
        text.push(char::from(b'0' + digit));
        divisor /= 10;
    }
}

/// Gregorian (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of a 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        let at = |secs: u64, millis: u64| {
            rfc3339_utc(UNIX_EPOCH + Duration::from_millis(secs * 1000 + millis))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_714_566_896, 789), "2024-05-01T12:34:56.789Z");
        assert_eq!(at(4_107_542_399, 999), "2100-02-28T23:59:59.999Z");
        assert_eq!(at(253_402_300_799, 10), "9999-12-31T23:59:59.010Z");
        assert_eq!(at(253_402_300_800, 100), "10000-01-01T00:00:00.100Z");
    }

    #[test]
    fn http_dates_round_trip() {
        let secs = 1_714_566_896;
        assert_eq!(parse_http_date(&http_date(secs)), Some(secs));
        assert_eq!(parse_http_date("not a date"), None);
    }
}
