//! Calendar days in an IANA time zone.
//!
//! A *day number* is the local calendar date as days since 1970-01-01 (so in UTC it equals
//! `floor(t / 86_400_000)`). Local day `D` covers the half-open instant range
//! `[start(D), start(D + 1))`, where `start(D)` is the UTC instant of local midnight — or, when a
//! DST change skips midnight, the first instant whose local date is `D`; when midnight occurs
//! twice, the earlier one. Days are therefore never duplicated or missing: a 23-hour
//! spring-forward day and a 25-hour fall-back day are each exactly one day.
//!
//! [`DayCalendar`] computes the table of `start(D)` once per recompute for the data's day range,
//! so each event costs one comparison against the next midnight while walking a user's
//! time-sorted events ([`DayCursor`]).

use chrono::{LocalResult, NaiveDate, Offset, TimeZone};
use chrono_tz::Tz;

use super::params::Date;

pub const DAY_MS: i64 = 86_400_000;

/// The local date (days since 1970-01-01) of instant `t_ms` in `tz`, computed directly.
pub fn local_day(tz: Tz, t_ms: i64) -> i32 {
    let offset_ms = match chrono::DateTime::from_timestamp_millis(t_ms) {
        Some(dt) => {
            tz.offset_from_utc_datetime(&dt.naive_utc())
                .fix()
                .local_minus_utc() as i64
                * 1000
        }
        None => 0,
    };
    (t_ms.saturating_add(offset_ms)).div_euclid(DAY_MS) as i32
}

/// The first instant (ms UTC) whose local date in `tz` is `day` or later.
pub fn day_start_ms(tz: Tz, day: i32) -> i64 {
    let naive = Date(day)
        .to_naive()
        .and_then(|d: NaiveDate| d.and_hms_opt(0, 0, 0));
    let Some(naive) = naive else {
        return day as i64 * DAY_MS;
    };
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(dt) => dt.timestamp_millis(),
        LocalResult::Ambiguous(a, b) => a.timestamp_millis().min(b.timestamp_millis()),
        LocalResult::None => {
            // Midnight is skipped: binary-search the first instant of local day `day`.
            let guess = day as i64 * DAY_MS;
            let (mut lo, mut hi) = (guess - 2 * DAY_MS, guess + 2 * DAY_MS);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if local_day(tz, mid) >= day {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            lo
        }
    }
}

/// Local-midnight instants for a contiguous range of days.
#[derive(Debug, Clone)]
pub struct DayCalendar {
    tz: Tz,
    first_day: i32,
    /// `starts[i]` = `day_start_ms(first_day + i)`; one more entry than days.
    starts: Vec<i64>,
}

impl DayCalendar {
    /// Table for local days `first_day..=last_day` (`last_day >= first_day`).
    pub fn new(tz: Tz, first_day: i32, last_day: i32) -> DayCalendar {
        let n = (last_day - first_day).max(0) as usize + 2;
        let mut starts = Vec::with_capacity(n);
        let utc = tz == Tz::UTC;
        for i in 0..n as i32 {
            let d = first_day + i;
            starts.push(if utc {
                d as i64 * DAY_MS
            } else {
                day_start_ms(tz, d)
            });
        }
        DayCalendar {
            tz,
            first_day,
            starts,
        }
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    pub fn first_day(&self) -> i32 {
        self.first_day
    }

    /// Number of days in the table.
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn last_day(&self) -> i32 {
        self.first_day + self.len() as i32 - 1
    }

    /// First instant of local day `day` (table look-up inside the range).
    pub fn start_of(&self, day: i32) -> i64 {
        let i = day - self.first_day;
        if i >= 0 && (i as usize) < self.starts.len() {
            self.starts[i as usize]
        } else {
            day_start_ms(self.tz, day)
        }
    }

    /// The local days of `times` (non-decreasing instants, all on days of the table) as runs:
    /// `run(day, k)` for each maximal run of `k` consecutive instants on local day `day`, in
    /// order. Why runs: a user's events come in bursts on one day, so the day is looked up once
    /// per run and the walk inside a run is one comparison per instant (the considered-events
    /// pass writes a run's day indices with one fill).
    pub fn day_runs(&self, times: &[i64], mut run: impl FnMut(i32, usize)) {
        let Some(&t0) = times.first() else {
            return;
        };
        let mut cur = self.cursor(t0);
        let mut i = 0;
        while i < times.len() {
            let day = cur.day(times[i]);
            let end = cur.next_start;
            let mut j = i + 1;
            while j < times.len() && times[j] < end {
                j += 1;
            }
            run(day, j - i);
            i = j;
        }
    }

    /// Local day of `t_ms` (a step in the table; direct computation outside it).
    pub fn day_of(&self, t_ms: i64) -> i32 {
        if t_ms < self.starts[0] || t_ms >= self.starts[self.starts.len() - 1] {
            return local_day(self.tz, t_ms);
        }
        self.first_day + self.index_of(t_ms) as i32
    }

    /// The index of the day holding `t_ms`, which is inside the table
    /// (`starts[0] <= t_ms < starts[len]`).
    ///
    /// Local days last 24 h give or take the zone's offset changes, so the day count since the
    /// table's first midnight is the day or a neighbour: step from that estimate (a binary
    /// search of the table cost a few unpredictable branches per call, and the walks call this
    /// once per user and day). Both steps stop inside the table; a day its zone skipped (an
    /// empty range) is stepped over.
    #[inline]
    fn index_of(&self, t_ms: i64) -> usize {
        let starts = &self.starts;
        let mut i = (((t_ms - starts[0]) / DAY_MS) as usize).min(starts.len() - 2);
        while starts[i] > t_ms {
            i -= 1;
        }
        while starts[i + 1] <= t_ms {
            i += 1;
        }
        i
    }

    /// A cursor positioned for instant `t_ms`, for walking forward through sorted times.
    pub fn cursor(&self, t_ms: i64) -> DayCursor<'_> {
        let mut c = DayCursor {
            cal: self,
            day: self.first_day,
            this_start: i64::MAX,
            next_start: i64::MIN,
        };
        c.advance(t_ms);
        c
    }
}

/// Walks through instants (usually non-decreasing), returning local days: one comparison while
/// on the previous call's day, a step in the table otherwise.
#[derive(Debug, Clone)]
pub struct DayCursor<'a> {
    cal: &'a DayCalendar,
    day: i32,
    this_start: i64,
    next_start: i64,
}

impl DayCursor<'_> {
    /// Local day of `t_ms`. Fastest when `t_ms` is on the previous call's day.
    #[inline]
    pub fn day(&mut self, t_ms: i64) -> i32 {
        if t_ms >= self.this_start && t_ms < self.next_start {
            return self.day;
        }
        self.advance(t_ms)
    }

    fn advance(&mut self, t_ms: i64) -> i32 {
        let starts = &self.cal.starts;
        let inside = t_ms >= starts[0] && t_ms < starts[starts.len() - 1];
        if !inside {
            // Outside the table (events the date range drops anyway): direct computation; the
            // empty range keeps the next call on this path.
            self.day = local_day(self.cal.tz, t_ms);
            self.this_start = i64::MAX;
            self.next_start = i64::MIN;
            return self.day;
        }
        let i = self.cal.index_of(t_ms);
        self.day = self.cal.first_day + i as i32;
        self.this_start = starts[i];
        self.next_start = starts[i + 1];
        self.day
    }
}

/// Weekday of a day number, 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday).
pub fn weekday(day: i32) -> u8 {
    (day + 3).rem_euclid(7) as u8
}

/// `(year, month)` of a day number.
pub fn year_month(day: i32) -> (i32, u32) {
    use chrono::Datelike;
    match Date(day).to_naive() {
        Some(d) => (d.year(), d.month()),
        None => (1970, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    fn day(s: &str) -> i32 {
        Date::parse_iso(s).unwrap().0
    }

    #[test]
    fn utc_days_are_floor_division() {
        let cal = DayCalendar::new(Tz::UTC, day("2023-01-01"), day("2023-01-03"));
        assert_eq!(cal.day_of(ms("2023-01-01T00:00:00Z")), day("2023-01-01"));
        assert_eq!(
            cal.day_of(ms("2023-01-01T23:59:59.999Z")),
            day("2023-01-01")
        );
        assert_eq!(cal.day_of(ms("2023-01-02T00:00:00Z")), day("2023-01-02"));
        // Outside the table: computed directly.
        assert_eq!(cal.day_of(ms("2022-12-31T12:00:00Z")), day("2022-12-31"));
        assert_eq!(cal.day_of(ms("2024-06-01T12:00:00Z")), day("2024-06-01"));
    }

    #[test]
    fn new_york_spring_forward_and_fall_back() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let cal = DayCalendar::new(tz, day("2023-03-01"), day("2023-11-30"));
        // 2023-03-12: 02:00 EST jumps to 03:00 EDT — a 23-hour day.
        let spring = day("2023-03-12");
        assert_eq!(cal.start_of(spring), ms("2023-03-12T00:00:00-05:00"));
        assert_eq!(cal.start_of(spring + 1), ms("2023-03-13T00:00:00-04:00"));
        assert_eq!(
            cal.start_of(spring + 1) - cal.start_of(spring),
            23 * 3_600_000
        );
        // 2023-11-05: 02:00 EDT falls back to 01:00 EST — a 25-hour day.
        let fall = day("2023-11-05");
        assert_eq!(cal.start_of(fall + 1) - cal.start_of(fall), 25 * 3_600_000);
        // Both 01:30s of the fall-back day are on that day.
        assert_eq!(cal.day_of(ms("2023-11-05T01:30:00-04:00")), fall);
        assert_eq!(cal.day_of(ms("2023-11-05T01:30:00-05:00")), fall);
        // Local midnight boundaries: 23:59:59.999 is the previous day.
        assert_eq!(cal.day_of(ms("2023-11-05T23:59:59.999-05:00")), fall);
        assert_eq!(cal.day_of(ms("2023-11-06T00:00:00-05:00")), fall + 1);
        assert_eq!(cal.day_of(ms("2023-03-11T23:59:59.999-05:00")), spring - 1);
        // No duplicated or missing day: every table day is 23, 24 or 25 hours.
        for d in cal.first_day()..=cal.last_day() {
            let len = cal.start_of(d + 1) - cal.start_of(d);
            assert!([23, 24, 25].map(|h| h * 3_600_000).contains(&len), "{d}");
        }
        // The table agrees with the direct computation every 17 minutes over the range.
        let mut t = cal.start_of(cal.first_day());
        let mut cur = cal.cursor(t);
        while t < cal.start_of(cal.last_day()) {
            assert_eq!(cal.day_of(t), local_day(tz, t));
            assert_eq!(cur.day(t), local_day(tz, t));
            t += 17 * 60_000;
        }
    }

    #[test]
    fn berlin_dst_days() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let cal = DayCalendar::new(tz, day("2023-03-20"), day("2023-11-01"));
        // 2023-03-26: 02:00 CET → 03:00 CEST.
        let spring = day("2023-03-26");
        assert_eq!(
            cal.start_of(spring + 1) - cal.start_of(spring),
            23 * 3_600_000
        );
        assert_eq!(cal.day_of(ms("2023-03-26T03:30:00+02:00")), spring);
        // 2023-10-29: 03:00 CEST → 02:00 CET.
        let fall = day("2023-10-29");
        assert_eq!(cal.start_of(fall + 1) - cal.start_of(fall), 25 * 3_600_000);
        assert_eq!(cal.day_of(ms("2023-10-29T00:00:00+02:00")), fall);
        assert_eq!(cal.day_of(ms("2023-10-28T23:59:59.999+02:00")), fall - 1);
        assert_eq!(cal.day_of(ms("2023-10-29T23:30:00+01:00")), fall);
        // 22:30 UTC on the 28th is 00:30 local on the 29th.
        assert_eq!(cal.day_of(ms("2023-10-28T22:30:00Z")), fall);
    }

    #[test]
    fn skipped_midnight_starts_at_the_transition() {
        // America/Havana skipped midnight on 2023-03-12 (00:00 → 01:00).
        let tz: Tz = "America/Havana".parse().unwrap();
        let d = day("2023-03-12");
        let start = day_start_ms(tz, d);
        assert_eq!(local_day(tz, start), d);
        assert_eq!(local_day(tz, start - 1), d - 1);
    }

    #[test]
    fn day_runs_step_over_a_skipped_day() {
        // Pacific/Apia skipped 2011-12-30 (UTC−10 → UTC+14): that day's range is empty.
        let tz: Tz = "Pacific/Apia".parse().unwrap();
        let (d0, d1) = (day("2011-12-27"), day("2012-01-02"));
        let cal = DayCalendar::new(tz, d0, d1);
        assert_eq!(
            cal.start_of(day("2011-12-30")),
            cal.start_of(day("2011-12-31"))
        );
        let (start, end) = (cal.start_of(d0), cal.start_of(d1 + 1));
        for step in [61 * 60_000, 26 * 3_600_000, 49 * 3_600_000] {
            let times: Vec<i64> = (start..end).step_by(step).collect();
            let mut got = Vec::new();
            cal.day_runs(&times, |d, k| got.extend(std::iter::repeat_n(d, k)));
            let expect: Vec<i32> = times.iter().map(|&t| local_day(tz, t)).collect();
            assert_eq!(got, expect, "step {step}");
            assert!(!got.contains(&day("2011-12-30")));
        }
    }

    #[test]
    fn day_runs_match_the_cursor() {
        // Across the DST change of Europe/Paris (2024-03-31 has 23 hours) and midnights.
        let tz: Tz = "Europe/Paris".parse().unwrap();
        let (d0, d1) = (day("2024-03-29"), day("2024-04-02"));
        let cal = DayCalendar::new(tz, d0, d1);
        let start = cal.start_of(d0);
        let end = cal.start_of(d1 + 1);
        let mut times = vec![start, start, start + 1];
        let mut t = start;
        while t < end {
            times.push(t);
            t += 37 * 60_000 + 11;
        }
        times.extend([end - 1, end - 1]);
        for from in [0, 1, 3, 50] {
            let ts = &times[from..];
            let mut runs = Vec::new();
            cal.day_runs(ts, |d, k| runs.push((d, k)));
            // Against the direct computation (not the table).
            let expect: Vec<i32> = ts.iter().map(|&t| local_day(tz, t)).collect();
            let got: Vec<i32> = runs
                .iter()
                .flat_map(|&(d, k)| std::iter::repeat_n(d, k))
                .collect();
            assert_eq!(got, expect);
            // Maximal runs: consecutive runs differ in day.
            assert!(runs.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 > 0));
            let mut distinct = expect.clone();
            distinct.dedup();
            assert_eq!(runs.len(), distinct.len());
            assert_eq!(distinct.len(), if from < 50 { 5 } else { 4 });
        }
        cal.day_runs(&[], |_, _| panic!("no run for no instants"));
    }

    #[test]
    fn cursor_walks_and_jumps() {
        let cal = DayCalendar::new(Tz::UTC, 0, 10);
        let mut c = cal.cursor(0);
        assert_eq!(c.day(5), 0);
        assert_eq!(c.day(DAY_MS), 1);
        assert_eq!(c.day(DAY_MS * 9 + 1), 9);
        assert_eq!(c.day(DAY_MS * 2), 2); // backwards jump still right
        assert_eq!(c.day(-1), -1); // before the table
        assert_eq!(weekday(0), 3);
        assert_eq!(year_month(day("2023-02-28")), (2023, 2));
    }
}
