//! Activity: when is a user *active on a day*, and the active-user series built on it.
//!
//! Days are local calendar days (see [`crate::engine::calendar`]). Every definition is a
//! per-user daily count `c(u, x)` (how many qualifying units the user produced on local day
//! `x`), a trailing window of `W` days and a minimum `C`:
//!
//! > user `u` is **active on day `d`** ⟺ `Σ c(u, x) for x in [d − W + 1, d]` ≥ `C`
//!
//! i.e. the window *includes* day `d` and day `d − W + 1` and *excludes* `d − W`.
//!
//! | definition | unit counted in `c(u, x)` | W | C |
//! |---|---|---|---|
//! | `minimal` | qualifying events on day `x` | 1 | 1 |
//! | `core` | core events on day `x` (strict: a core event followed, as the user's next event in the same session, by a `page_view` of the same non-null page) | 7 | K |
//! | `session` | sessions starting on day `x` lasting > M minutes and holding ≥ 1 qualifying event | 30 | 1 |
//! | `custom` | qualifying events on day `x` that lie in a session lasting > M minutes (M = 0: any session) | `win` | `cmin` |
//!
//! A *qualifying* event has a non-null action type in the `actions` set (default: every type)
//! and not in the `inactive` set; inactive types never count under any definition, core included.
//!
//! From `active(u, d)`:
//! - **DAU(d)** = #users active on `d`;
//! - **WAU(d)** = #users active on at least one day of `[d − 6, d]`;
//! - **MAU(d)** = #users active on at least one day of `[d − N + 1, d]` (N = `mau`, default 30);
//! - **calendar week / month actives** = #users active on at least one day of the week (starting
//!   on `wstart`) / calendar month; periods cut by the report range are marked `partial`;
//! - **stickiness** DAU/MAU, DAU/WAU, WAU/MAU per day (`None` when the denominator is 0);
//! - **L7 / L30** as of the last day `E`: `counts[n − 1]` = #users active on exactly `n` of the
//!   days `[E − 6, E]` (resp. 30), `cumulative[n − 1]` = #users active on ≥ n of them.
//!
//! Days before the first report day do not exist (events outside the range were filtered), so
//! early WAU/MAU values cover a partial window. Everything is computed from per-user active
//! *intervals* with difference arrays: time linear in events plus days.

use serde::{Deserialize, Serialize};

use super::params::{ActivityDefinition, Params};

/// `(W, C)` of the chosen definition.
pub fn window_and_min(p: &Params) -> (i32, u32) {
    match p.definition {
        ActivityDefinition::Minimal => (1, 1),
        ActivityDefinition::Core => (7, p.core_min_events.max(1)),
        ActivityDefinition::Session => (30, 1),
        ActivityDefinition::Custom => (
            p.custom_window_days.max(1) as i32,
            p.custom_min_events.max(1),
        ),
    }
}

/// A per-user list of `(day, count)`, days strictly increasing.
#[derive(Debug, Clone, Default)]
pub struct DailyCounts(pub Vec<(i32, u32)>);

impl DailyCounts {
    /// Add `n` on `day`; days must arrive in non-decreasing order.
    #[inline]
    pub fn add(&mut self, day: i32, n: u32) {
        match self.0.last_mut() {
            Some((d, c)) if *d == day => *c += n,
            _ => self.0.push((day, n)),
        }
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The maximal day intervals `[a, b]` (inclusive) on which the user is active: days `d` with
/// `Σ counts over [d − window + 1, d] ≥ min`. Appends to `out` in ascending order.
pub fn active_intervals(counts: &[(i32, u32)], window: i32, min: u32, out: &mut Vec<(i32, i32)>) {
    let (mut i, mut j) = (0, 0);
    let mut sum: u64 = 0;
    let mut start: Option<i32> = None;
    let n = counts.len();
    while i < n || j < n {
        // Next breakpoint: a count entering (day x) or leaving (day x + window).
        let add_day = if i < n { counts[i].0 } else { i32::MAX };
        let rem_day = if j < n {
            counts[j].0 + window
        } else {
            i32::MAX
        };
        let bp = add_day.min(rem_day);
        while i < n && counts[i].0 == bp {
            sum += counts[i].1 as u64;
            i += 1;
        }
        while j < n && counts[j].0 + window == bp {
            sum -= counts[j].1 as u64;
            j += 1;
        }
        let active = sum >= min as u64;
        match (start, active) {
            (None, true) => start = Some(bp),
            (Some(a), false) => {
                out.push((a, bp - 1));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(a) = start {
        // Unreachable in practice: once every count has left, the sum is 0.
        out.push((a, i32::MAX - 1));
    }
}

/// Accumulates active-user series over the report's day axis `[first, first + days)`.
#[derive(Debug, Clone)]
pub struct ActivityAccumulator {
    first: i32,
    days: usize,
    mau_window: i32,
    dau: Vec<i64>,
    wau: Vec<i64>,
    mau: Vec<i64>,
    week_of_day: std::sync::Arc<Vec<u32>>,
    month_of_day: std::sync::Arc<Vec<u32>>,
    weeks: Vec<u64>,
    months: Vec<u64>,
    l7: [u64; 7],
    l30: [u64; 30],
    ever_active: u64,
}

/// The calendar periods of a day axis, shared by all accumulators.
#[derive(Debug, Clone)]
pub struct Periods {
    pub week_of_day: std::sync::Arc<Vec<u32>>,
    pub month_of_day: std::sync::Arc<Vec<u32>>,
    /// `(first day, last day)` of each week / month, clipped to the axis.
    pub weeks: Vec<(i32, i32)>,
    pub months: Vec<(i32, i32)>,
}

impl Periods {
    pub fn new(first: i32, days: usize, week_start: u8) -> Periods {
        let mut week_of_day = Vec::with_capacity(days);
        let mut month_of_day = Vec::with_capacity(days);
        let mut weeks: Vec<(i32, i32)> = Vec::new();
        let mut months: Vec<(i32, i32)> = Vec::new();
        let mut last_month = None;
        for i in 0..days {
            let d = first + i as i32;
            if i == 0 || super::calendar::weekday(d) == week_start {
                weeks.push((d, d));
            }
            let ym = super::calendar::year_month(d);
            if last_month != Some(ym) {
                months.push((d, d));
                last_month = Some(ym);
            }
            if let Some(w) = weeks.last_mut() {
                w.1 = d;
            }
            if let Some(m) = months.last_mut() {
                m.1 = d;
            }
            week_of_day.push(weeks.len() as u32 - 1);
            month_of_day.push(months.len() as u32 - 1);
        }
        Periods {
            week_of_day: std::sync::Arc::new(week_of_day),
            month_of_day: std::sync::Arc::new(month_of_day),
            weeks,
            months,
        }
    }
}

impl ActivityAccumulator {
    pub fn new(first: i32, days: usize, mau_window_days: u32, periods: &Periods) -> Self {
        ActivityAccumulator {
            first,
            days,
            mau_window: mau_window_days.max(1) as i32,
            dau: vec![0; days + 1],
            wau: vec![0; days + 1],
            mau: vec![0; days + 1],
            week_of_day: periods.week_of_day.clone(),
            month_of_day: periods.month_of_day.clone(),
            weeks: vec![0; periods.weeks.len()],
            months: vec![0; periods.months.len()],
            l7: [0; 7],
            l30: [0; 30],
            ever_active: 0,
        }
    }

    /// Add the users of `other`, an accumulator over the same axis and knobs. Every field is
    /// a count over users (the difference arrays of DAU/WAU/MAU, the calendar periods, the
    /// L7/L30 histograms, the users ever active), so the accumulator of a set of users split
    /// into disjoint groups is the sum of the groups' accumulators.
    pub fn merge(&mut self, other: &ActivityAccumulator) {
        debug_assert_eq!(
            (self.first, self.days, self.mau_window),
            (other.first, other.days, other.mau_window)
        );
        fn add<T: Copy + std::ops::AddAssign>(x: &mut [T], y: &[T]) {
            debug_assert_eq!(x.len(), y.len());
            for (x, &y) in x.iter_mut().zip(y) {
                *x += y;
            }
        }
        add(&mut self.dau, &other.dau);
        add(&mut self.wau, &other.wau);
        add(&mut self.mau, &other.mau);
        add(&mut self.weeks, &other.weeks);
        add(&mut self.months, &other.months);
        add(&mut self.l7, &other.l7);
        add(&mut self.l30, &other.l30);
        self.ever_active += other.ever_active;
    }

    /// Add one user given their active intervals (ascending, disjoint, inside the axis start).
    pub fn add_user(&mut self, intervals: &[(i32, i32)]) {
        if intervals.is_empty() || self.days == 0 {
            return;
        }
        let last = self.first + self.days as i32 - 1;
        let mut any = false;
        let (mut last_week, mut last_month) = (u32::MAX, u32::MAX);
        let (mut n7, mut n30) = (0i32, 0i32);
        for &(a, b) in intervals {
            let a = a.max(self.first);
            let b = b.min(last);
            if a > b {
                continue;
            }
            any = true;
            let (ia, ib) = ((a - self.first) as usize, (b - self.first) as usize);
            self.dau[ia] += 1;
            self.dau[ib + 1] -= 1;
            // Calendar periods touched (intervals ascend, so periods do too).
            let (wa, wb) = (self.week_of_day[ia], self.week_of_day[ib]);
            for w in wa..=wb {
                if w != last_week {
                    self.weeks[w as usize] += 1;
                    last_week = w;
                }
            }
            let (ma, mb) = (self.month_of_day[ia], self.month_of_day[ib]);
            for m in ma..=mb {
                if m != last_month {
                    self.months[m as usize] += 1;
                    last_month = m;
                }
            }
            n7 += overlap(a, b, last - 6, last);
            n30 += overlap(a, b, last - 29, last);
        }
        if !any {
            return;
        }
        self.ever_active += 1;
        Self::add_extended(&mut self.wau, intervals, 6, self.first, last);
        Self::add_extended(
            &mut self.mau,
            intervals,
            self.mau_window - 1,
            self.first,
            last,
        );
        if n7 > 0 {
            self.l7[(n7 - 1) as usize] += 1;
        }
        if n30 > 0 {
            self.l30[(n30 - 1) as usize] += 1;
        }
    }

    /// [`ActivityAccumulator::add_user`] fed one active day at a time: `day` is the next day
    /// (strictly ascending per `st`, inside the axis) on which `st`'s user is active. Call
    /// [`ActivityAccumulator::end_days`] after the user's last day. The series equal
    /// `add_user`'s with the runs of consecutive days as intervals: each day adds the part of
    /// its window (`[d, d]`, `[d, d + 6]`, `[d, d + mau − 1]`) not already covered by the
    /// previous day's — so every day of the union is covered once — and the difference
    /// arrays' prefix sums (all [`ActivityAccumulator::finish`] reads) are the same. No
    /// branches on the data, and no interval list is materialised.
    #[inline]
    pub fn add_day(&mut self, st: &mut DayStream, day: i32) {
        let i = (day - self.first) as i64;
        let days = self.days as i64;
        // Index `days` is the sentinel past the axis: never read by the prefix sums.
        let cover = |arr: &mut [i64], ext: i64| {
            let start = i.max(st.last + ext + 1).min(days);
            let end = (i + ext + 1).min(days);
            arr[start as usize] += 1;
            arr[end as usize] -= 1;
        };
        cover(&mut self.dau, 0);
        cover(&mut self.wau, 6);
        cover(&mut self.mau, self.mau_window as i64 - 1);
        st.last = i;
        let w = self.week_of_day[i as usize];
        self.weeks[w as usize] += (w != st.last_week) as u64;
        st.last_week = w;
        let m = self.month_of_day[i as usize];
        self.months[m as usize] += (m != st.last_month) as u64;
        st.last_month = m;
        st.n7 += (i >= days - 7) as i32;
        st.n30 += (i >= days - 30) as i32;
    }

    /// Close the user of `st` (no-op when [`ActivityAccumulator::add_day`] was never called
    /// with it) and reset `st` for the next user.
    pub fn end_days(&mut self, st: &mut DayStream) {
        if st.last == DayStream::NONE {
            return;
        }
        self.ever_active += 1;
        if st.n7 > 0 {
            self.l7[(st.n7 - 1) as usize] += 1;
        }
        if st.n30 > 0 {
            self.l30[(st.n30 - 1) as usize] += 1;
        }
        *st = DayStream::default();
    }

    /// Difference-array update for the union of `[a, b + ext]` over the intervals.
    fn add_extended(arr: &mut [i64], intervals: &[(i32, i32)], ext: i32, first: i32, last: i32) {
        let mut cur: Option<(i32, i32)> = None;
        let flush = |arr: &mut [i64], (a, b): (i32, i32)| {
            let a = a.max(first);
            let b = b.min(last);
            if a <= b {
                arr[(a - first) as usize] += 1;
                arr[(b - first) as usize + 1] -= 1;
            }
        };
        for &(a, b) in intervals {
            let e = (a, b.saturating_add(ext));
            cur = match cur {
                Some((ca, cb)) if e.0 <= cb.saturating_add(1) => Some((ca, cb.max(e.1))),
                Some(c) => {
                    flush(arr, c);
                    Some(e)
                }
                None => Some(e),
            };
        }
        if let Some(c) = cur {
            flush(arr, c);
        }
    }

    /// Never inlined: called once per recompute from `MetricsCache::run`, inside which wasm's
    /// code kept its loop state in memory (measured with `scripts/bench/wasm_knobs.mjs`).
    #[inline(never)]
    pub fn finish(self, periods: &Periods) -> ActiveSeries {
        let prefix = |d: &[i64]| -> Vec<u64> {
            let mut s = 0i64;
            d[..self.days]
                .iter()
                .map(|&x| {
                    s += x;
                    s.max(0) as u64
                })
                .collect()
        };
        let dau = prefix(&self.dau);
        let wau = prefix(&self.wau);
        let mau = prefix(&self.mau);
        let ratio = |a: &[u64], b: &[u64]| -> Vec<Option<f64>> {
            a.iter()
                .zip(b)
                .map(|(&x, &y)| (y > 0).then(|| x as f64 / y as f64))
                .collect()
        };
        let last = self.first + self.days as i32 - 1;
        let period = |spans: &[(i32, i32)], counts: &[u64], full: &dyn Fn(i32, i32) -> bool| {
            spans
                .iter()
                .zip(counts)
                .map(|(&(a, b), &c)| PeriodActives {
                    start: super::params::Date(a),
                    end: super::params::Date(b),
                    partial: !full(a, b),
                    actives: c,
                })
                .collect::<Vec<_>>()
        };
        let week_full = |a: i32, b: i32| b - a == 6;
        let month_full = |a: i32, b: i32| {
            let starts = super::calendar::year_month(a - 1) != super::calendar::year_month(a);
            let ends = super::calendar::year_month(b + 1) != super::calendar::year_month(b);
            starts && ends
        };
        let hist = |c: &[u64]| {
            let counts = c.to_vec();
            let mut cumulative = vec![0u64; c.len()];
            let mut s = 0;
            for i in (0..c.len()).rev() {
                s += c[i];
                cumulative[i] = s;
            }
            StickinessHistogram {
                as_of: super::params::Date(last),
                counts,
                cumulative,
            }
        };
        ActiveSeries {
            dau_mau: ratio(&dau, &mau),
            dau_wau: ratio(&dau, &wau),
            wau_mau: ratio(&wau, &mau),
            weeks: period(&periods.weeks, &self.weeks, &week_full),
            months: period(&periods.months, &self.months, &month_full),
            l7: hist(&self.l7),
            l30: hist(&self.l30),
            ever_active: self.ever_active,
            dau,
            wau,
            mau,
        }
    }
}

fn overlap(a: i32, b: i32, lo: i32, hi: i32) -> i32 {
    (b.min(hi) - a.max(lo) + 1).max(0)
}

/// One user's state while their active days are streamed into an [`ActivityAccumulator`]
/// ([`ActivityAccumulator::add_day`]): the last day added (as an axis index), the last
/// calendar week and month counted, and the days in the last 7 / 30.
#[derive(Debug, Clone, Copy)]
pub struct DayStream {
    /// Axis index of the last day added; [`DayStream::NONE`] before the first.
    last: i64,
    last_week: u32,
    last_month: u32,
    n7: i32,
    n30: i32,
}

impl DayStream {
    /// No day yet: far enough before the axis that every window starts at the day itself.
    const NONE: i64 = i64::MIN / 4;
}

impl Default for DayStream {
    fn default() -> Self {
        DayStream {
            last: DayStream::NONE,
            last_week: u32::MAX,
            last_month: u32::MAX,
            n7: 0,
            n30: 0,
        }
    }
}

/// Users active in one calendar period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodActives {
    pub start: super::params::Date,
    pub end: super::params::Date,
    /// The report range cuts this period.
    pub partial: bool,
    pub actives: u64,
}

/// How many users were active on exactly `n` (and on at least `n`) of the last W days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StickinessHistogram {
    pub as_of: super::params::Date,
    /// `counts[n − 1]` = users active on exactly `n` days.
    pub counts: Vec<u64>,
    /// `cumulative[n − 1]` = users active on at least `n` days.
    pub cumulative: Vec<u64>,
}

/// Active-user series on the report's day axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveSeries {
    pub dau: Vec<u64>,
    pub wau: Vec<u64>,
    pub mau: Vec<u64>,
    pub dau_mau: Vec<Option<f64>>,
    pub dau_wau: Vec<Option<f64>>,
    pub wau_mau: Vec<Option<f64>>,
    pub weeks: Vec<PeriodActives>,
    pub months: Vec<PeriodActives>,
    pub l7: StickinessHistogram,
    pub l30: StickinessHistogram,
    /// Users active on at least one day of the range.
    pub ever_active: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(counts: &[(i32, u32)], w: i32, c: u32) -> Vec<(i32, i32)> {
        let mut out = Vec::new();
        active_intervals(counts, w, c, &mut out);
        out
    }

    #[test]
    fn minimal_intervals_are_days() {
        assert_eq!(iv(&[(3, 1), (4, 2), (9, 1)], 1, 1), vec![(3, 4), (9, 9)]);
        assert_eq!(iv(&[], 1, 1), vec![]);
    }

    #[test]
    fn trailing_window_edges() {
        // One event on day 10, W = 7: active on days 10..=16 (16 − 7 + 1 = 10 is inside),
        // not on day 17 (its window starts at 11).
        assert_eq!(iv(&[(10, 1)], 7, 1), vec![(10, 16)]);
        // K = 2: events on days 10 and 16 are within one window (day 16); 10 and 17 are not.
        assert_eq!(iv(&[(10, 1), (16, 1)], 7, 2), vec![(16, 16)]);
        assert_eq!(iv(&[(10, 1), (17, 1)], 7, 2), vec![]);
        assert_eq!(iv(&[(10, 2)], 7, 2), vec![(10, 16)]);
        assert_eq!(
            iv(&[(10, 1), (12, 1), (20, 3)], 7, 2),
            vec![(12, 16), (20, 26)]
        );
    }

    fn acc_for(users: &[Vec<(i32, i32)>], first: i32, days: usize, mau: u32) -> ActiveSeries {
        let periods = Periods::new(first, days, 0);
        let mut acc = ActivityAccumulator::new(first, days, mau, &periods);
        for u in users {
            acc.add_user(u);
        }
        acc.finish(&periods)
    }

    #[test]
    fn streamed_days_equal_the_day_runs() {
        // Users' active days (ascending), including the axis edges and gaps around the
        // WAU/MAU windows; two streams interleaved as the per-bucket pass does.
        let first = 19_000;
        let days = 75usize;
        let users: Vec<Vec<i32>> = vec![
            vec![0, 1, 2, 9, 10, 40, 74],
            vec![5],
            vec![6, 13, 14, 20, 27, 28, 29, 30, 68, 69, 70, 71, 72, 73, 74],
            vec![0, 7, 14, 21, 31, 60, 61, 67, 73],
            (0..75).step_by(3).collect(),
        ];
        for mau in [1, 7, 28, 30, 90] {
            for wstart in [0, 3] {
                let periods = Periods::new(first, days, wstart);
                let mut by_runs = ActivityAccumulator::new(first, days, mau, &periods);
                let mut streamed = ActivityAccumulator::new(first, days, mau, &periods);
                let mut st = [DayStream::default(); 2];
                for pair in users.chunks(2) {
                    for u in pair {
                        let mut runs: Vec<(i32, i32)> = Vec::new();
                        for &d in u {
                            let d = first + d;
                            match runs.last_mut() {
                                Some((_, b)) if *b + 1 == d => *b = d,
                                _ => runs.push((d, d)),
                            }
                        }
                        by_runs.add_user(&runs);
                    }
                    let longest = pair.iter().map(Vec::len).max().unwrap_or(0);
                    for i in 0..longest {
                        for (k, u) in pair.iter().enumerate() {
                            if let Some(&d) = u.get(i) {
                                streamed.add_day(&mut st[k], first + d);
                            }
                        }
                    }
                    for s in &mut st {
                        streamed.end_days(s);
                    }
                }
                assert_eq!(
                    by_runs.finish(&periods),
                    streamed.finish(&periods),
                    "mau={mau} wstart={wstart}"
                );
            }
        }
    }

    #[test]
    fn dau_wau_mau_windows() {
        // Day 0 = 1970-01-01 (Thursday). One user active on day 2 only.
        let s = acc_for(&[vec![(2, 2)]], 0, 12, 5);
        assert_eq!(s.dau, vec![0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        // WAU: days 2..=8 (d − 6 ≤ 2 ≤ d).
        assert_eq!(s.wau, vec![0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
        // MAU with N = 5: days 2..=6.
        assert_eq!(s.mau, vec![0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
        assert_eq!(s.dau_mau[2], Some(1.0));
        assert_eq!(s.dau_mau[0], None);
        // Calendar weeks (Monday start): Thu..Sun partial, then Mon 4..Sun 10, Mon 11..
        assert_eq!(s.weeks.len(), 3);
        assert_eq!(
            s.weeks.iter().map(|w| w.actives).collect::<Vec<_>>(),
            vec![1, 0, 0]
        );
        assert!(s.weeks[0].partial && !s.weeks[1].partial && s.weeks[2].partial);
        assert_eq!(s.months.len(), 1);
        assert_eq!(s.months[0].actives, 1);
        assert!(s.months[0].partial);
    }

    #[test]
    fn periods_count_each_user_once() {
        // Two intervals in the same week and one spanning three weeks.
        let s = acc_for(&[vec![(4, 4), (6, 6)], vec![(5, 20)]], 0, 31, 30);
        let w: Vec<u64> = s.weeks.iter().map(|w| w.actives).collect();
        // Weeks: [0..3], [4..10], [11..17], [18..24], [25..30].
        assert_eq!(w, vec![0, 2, 1, 1, 0]);
        assert_eq!(s.months[0].actives, 2);
        assert_eq!(s.ever_active, 2);
    }

    #[test]
    fn l7_l30_histogram() {
        // Axis days 0..=29, last day 29. User A active 23..=29 (7 of last 7), B active 29 only,
        // C active on day 0 only (0 of last 7, 1 of last 30).
        let s = acc_for(&[vec![(23, 29)], vec![(29, 29)], vec![(0, 0)]], 0, 30, 30);
        assert_eq!(s.l7.counts, vec![1, 0, 0, 0, 0, 0, 1]);
        assert_eq!(s.l7.cumulative, vec![2, 1, 1, 1, 1, 1, 1]);
        assert_eq!(s.l30.counts[0], 2);
        assert_eq!(s.l30.counts[6], 1);
    }

    #[test]
    fn intervals_clip_to_axis() {
        let s = acc_for(&[vec![(8, 40)]], 0, 10, 30);
        assert_eq!(s.dau, vec![0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
    }
}
