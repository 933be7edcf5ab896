//! Turning the many spellings of "when" into milliseconds since the Unix epoch (UTC).
//!
//! Rules, in one place so the UI can quote them:
//! - **Strings**: `YYYY-MM-DD`, optionally followed by `T` or a space and `HH:MM[:SS[.fraction]]`,
//!   optionally followed by a zone: `Z`, `UTC`, `±HH`, `±HHMM` or `±HH:MM`. `/` is accepted as the
//!   date separator. A time **without a zone is read as UTC** (event logs are almost always
//!   written in UTC; reading them in the browser's zone would make results depend on the viewer).
//!   Fractions beyond milliseconds are truncated toward the earlier instant.
//! - **Numbers** (integer or float columns, or numeric strings in CSV) are epoch offsets whose unit
//!   is decided **per value by magnitude**: `|v| < 10^11` → seconds (10^11 s is the year 5138, and
//!   10^11 ms is only 1973-03-03, so a modern time in ms can never fall below it), `< 10^14` →
//!   milliseconds, `< 10^17` → microseconds, otherwise nanoseconds.
//! - Arrow/Parquet timestamp types are instants; their time zone annotation only affects display
//!   and is ignored. Timestamps without a zone are taken as UTC wall-clock time, like strings.

/// Milliseconds in one day.
pub const DAY_MS: i64 = 86_400_000;

/// Below this magnitude an epoch number is in seconds.
pub const EPOCH_SECONDS_BELOW: i64 = 100_000_000_000;
/// Below this magnitude (and at least [`EPOCH_SECONDS_BELOW`]) an epoch number is in milliseconds.
pub const EPOCH_MILLIS_BELOW: i64 = 100_000_000_000_000;
/// Below this magnitude (and at least [`EPOCH_MILLIS_BELOW`]) an epoch number is in microseconds;
/// anything larger is nanoseconds.
pub const EPOCH_MICROS_BELOW: i64 = 100_000_000_000_000_000;

/// An integer epoch offset of unknown unit, to milliseconds (see the module rules).
/// `None` only when the seconds value would overflow `i64` milliseconds (it cannot for
/// `|v| < 10^11`, so in practice never).
pub fn epoch_int_to_ms(v: i64) -> Option<i64> {
    let a = v.unsigned_abs();
    if a < EPOCH_SECONDS_BELOW as u64 {
        v.checked_mul(1000)
    } else if a < EPOCH_MILLIS_BELOW as u64 {
        Some(v)
    } else if a < EPOCH_MICROS_BELOW as u64 {
        Some(v.div_euclid(1000))
    } else {
        Some(v.div_euclid(1_000_000))
    }
}

/// A floating-point epoch offset of unknown unit, to milliseconds (floored). `None` for NaN and
/// infinities.
pub fn epoch_float_to_ms(v: f64) -> Option<i64> {
    if !v.is_finite() {
        return None;
    }
    let a = v.abs();
    let ms = if a < EPOCH_SECONDS_BELOW as f64 {
        v * 1000.0
    } else if a < EPOCH_MILLIS_BELOW as f64 {
        v
    } else if a < EPOCH_MICROS_BELOW as f64 {
        v / 1000.0
    } else {
        v / 1_000_000.0
    };
    let ms = ms.floor();
    (ms >= i64::MIN as f64 && ms <= i64::MAX as f64).then_some(ms as i64)
}

/// Days since 1970-01-01 of a proleptic Gregorian date, or `None` if the date does not exist.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

/// Parse a time string (see the module rules) to ms since the epoch, UTC.
///
/// ```
/// use pulse::engine::ingest::timestamps::parse_time_str;
/// assert_eq!(parse_time_str("2023-07-01 14:30:15"), Some(1_688_221_815_000));
/// assert_eq!(parse_time_str("2023-07-01T16:30:15.250+02:00"), Some(1_688_221_815_250));
/// assert_eq!(parse_time_str("1688221815"), Some(1_688_221_815_000));
/// assert_eq!(parse_time_str("yesterday"), None);
/// ```
pub fn parse_time_str(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    // A plain number: epoch offset by magnitude.
    if b.iter().all(|c| {
        c.is_ascii_digit() || *c == b'-' || *c == b'.' || *c == b'+' || *c == b'e' || *c == b'E'
    }) && (b.len() < 5 || b.get(4) != Some(&b'-'))
    {
        if let Ok(v) = s.parse::<i64>() {
            return epoch_int_to_ms(v);
        }
        return s.parse::<f64>().ok().and_then(epoch_float_to_ms);
    }
    let mut p = Cursor { b, i: 0 };
    let year = p.digits(4, 4)? as i64;
    let sep = p.byte()?;
    if sep != b'-' && sep != b'/' {
        return None;
    }
    let month = p.digits(1, 2)?;
    if p.byte()? != sep {
        return None;
    }
    let day = p.digits(1, 2)?;
    let days = days_from_civil(year, month, day)?;
    let mut ms = days.checked_mul(DAY_MS)?;
    if p.done() {
        return Some(ms);
    }
    match p.byte()? {
        b'T' | b't' | b' ' => {}
        _ => return None,
    }
    let hour = p.digits(2, 2)?;
    if p.byte()? != b':' {
        return None;
    }
    let minute = p.digits(2, 2)?;
    let mut second = 0;
    let mut frac_ms = 0;
    if p.peek() == Some(b':') {
        p.i += 1;
        second = p.digits(2, 2)?;
        if matches!(p.peek(), Some(b'.') | Some(b',')) {
            p.i += 1;
            let start = p.i;
            while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                p.i += 1;
            }
            let digits = b.get(start..p.i)?;
            if digits.is_empty() {
                return None;
            }
            for k in 0..3 {
                frac_ms = frac_ms * 10 + digits.get(k).map_or(0, |d| (d - b'0') as i64);
            }
        }
    }
    // 24:00:00 is allowed by ISO-8601 as the end of a day; leap second 60 is folded into 59.
    if hour > 24
        || minute > 59
        || second > 60
        || (hour == 24 && (minute, second, frac_ms) != (0, 0, 0))
    {
        return None;
    }
    let second = second.min(59);
    ms += (hour as i64 * 3600 + minute as i64 * 60 + second as i64) * 1000 + frac_ms;
    // Zone.
    while p.peek() == Some(b' ') {
        p.i += 1;
    }
    if p.done() {
        return Some(ms);
    }
    let rest = b.get(p.i..)?;
    if rest.eq_ignore_ascii_case(b"z")
        || rest.eq_ignore_ascii_case(b"utc")
        || rest.eq_ignore_ascii_case(b"gmt")
    {
        return Some(ms);
    }
    let sign = match p.byte()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let oh = p.digits(2, 2)? as i64;
    let mut om = 0;
    if p.peek() == Some(b':') {
        p.i += 1;
        om = p.digits(2, 2)? as i64;
    } else if !p.done() {
        om = p.digits(2, 2)? as i64;
    }
    if !p.done() || oh > 18 || om > 59 {
        return None;
    }
    Some(ms - sign * (oh * 3600 + om * 60) * 1000)
}

/// Parse a date (or a date-time, whose day is taken) to days since 1970-01-01.
pub fn parse_day_str(s: &str) -> Option<i32> {
    let ms = parse_time_str(s)?;
    i32::try_from(ms.div_euclid(DAY_MS)).ok()
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i >= self.b.len()
    }
    fn byte(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }
    /// Between `min` and `max` ASCII digits.
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.i;
        let mut v: u32 = 0;
        while self.i - start < max {
            match self.peek() {
                Some(c) if c.is_ascii_digit() => {
                    v = v * 10 + (c - b'0') as u32;
                    self.i += 1;
                }
                _ => break,
            }
        }
        (self.i - start >= min).then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_688_221_815_000; // 2023-07-01T14:30:15Z

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2023, 1, 1), Some(19_358));
        assert_eq!(days_from_civil(2000, 2, 29), Some(11_016));
        assert_eq!(days_from_civil(1900, 2, 29), None);
        assert_eq!(days_from_civil(2023, 13, 1), None);
        assert_eq!(days_from_civil(1969, 12, 31), Some(-1));
    }

    #[test]
    fn string_spellings() {
        for s in [
            "2023-07-01 14:30:15",
            "2023-07-01T14:30:15",
            "2023-07-01T14:30:15Z",
            "2023-07-01t14:30:15z",
            "2023-07-01 14:30:15 UTC",
            "2023-07-01T16:30:15+02:00",
            "2023-07-01T16:30:15+0200",
            "2023-07-01T16:30:15+02",
            "2023-07-01T09:30:15-05:00",
            "2023/07/01 14:30:15",
            "  2023-07-01 14:30:15  ",
        ] {
            assert_eq!(parse_time_str(s), Some(T), "{s}");
        }
        assert_eq!(parse_time_str("2023-07-01T14:30:15.5Z"), Some(T + 500));
        assert_eq!(
            parse_time_str("2023-07-01T14:30:15.123456789Z"),
            Some(T + 123)
        );
        assert_eq!(parse_time_str("2023-07-01 14:30"), Some(T - 15_000));
        assert_eq!(
            parse_time_str("2023-07-01"),
            Some(T - (14 * 3600 + 30 * 60 + 15) * 1000)
        );
        assert_eq!(
            parse_time_str("2023-07-01 24:00:00"),
            Some(days_from_civil(2023, 7, 2).unwrap() * DAY_MS)
        );
    }

    #[test]
    fn bad_strings() {
        for s in [
            "",
            "abc",
            "2023-02-30",
            "2023-07-01X14:30",
            "2023-07-01 25:00:00",
            "2023-07-01 14:61",
            "2023-07-01 14:30:15+25:00",
            "2023-07-01 14:30:15 PST",
            "2023-7",
            "2023-07-01 14:30:15.",
            "--",
            "1e400",
        ] {
            assert_eq!(parse_time_str(s), None, "{s:?}");
        }
    }

    #[test]
    fn epoch_by_magnitude() {
        assert_eq!(epoch_int_to_ms(1_688_221_815), Some(T));
        assert_eq!(epoch_int_to_ms(1_688_221_815_000), Some(T));
        assert_eq!(epoch_int_to_ms(1_688_221_815_000_000), Some(T));
        assert_eq!(epoch_int_to_ms(1_688_221_815_000_000_000), Some(T));
        assert_eq!(epoch_int_to_ms(0), Some(0));
        assert_eq!(
            epoch_int_to_ms(i64::MIN),
            Some(i64::MIN.div_euclid(1_000_000))
        );
        assert_eq!(parse_time_str("1688221815000"), Some(T));
        assert_eq!(parse_time_str("1688221815.25"), Some(T + 250));
        assert_eq!(epoch_float_to_ms(f64::NAN), None);
        assert_eq!(epoch_float_to_ms(1_688_221_815.5), Some(T + 500));
    }

    #[test]
    fn days() {
        assert_eq!(parse_day_str("2023-01-01"), Some(19_358));
        assert_eq!(parse_day_str("2023-01-01T23:59:59Z"), Some(19_358));
        assert_eq!(parse_day_str("1969-12-31"), Some(-1));
        assert_eq!(parse_day_str("x"), None);
    }
}
