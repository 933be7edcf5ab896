//! Sessions: the rules that cut a user's time-ordered events into sessions, and the session
//! results of a [`crate::engine::report::MetricsReport`].
//!
//! **Definition.** Walk one user's events in store order (time, ties in file order). Event `e`
//! starts a new session when any of these holds:
//! 1. it is the user's first (considered) event;
//! 2. `t(e) − t(prev) ≥ G` — a gap of *exactly* G starts a new session;
//! 3. max length `L` is on and `t(e) − start(session) > L` — a session may last exactly `L`,
//!    never longer (splitting is greedy: the new session starts at `e` and is measured from `e`);
//! 4. the midnight split is on and `e`'s local day differs from the previous event's.
//!
//! Per session: `start` = first event's time, `end` = last event's time, `duration = end −
//! start` (0 for a one-event session), `events`, and `active_ms` = the sum of its events'
//! `duration_ms` after the event-duration outlier policy (nulls and filtered values add 0). A
//! session belongs to the local day of its start.

use serde::{Deserialize, Serialize};

use super::outliers::OutlierReport;
use super::params::Params;

/// The session-cutting knobs, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRules {
    pub gap_ms: i64,
    /// `i64::MAX` when off.
    pub max_len_ms: i64,
    pub split_at_midnight: bool,
}

impl SessionRules {
    pub fn from_params(p: &Params) -> SessionRules {
        SessionRules {
            gap_ms: p.session_gap_mins as i64 * 60_000,
            max_len_ms: p.max_session_mins.map_or(i64::MAX, |m| m as i64 * 60_000),
            split_at_midnight: p.split_at_midnight,
        }
    }

    /// Whether an event at `(t, day)` starts a new session after the previous event
    /// `(prev_t, prev_day)` of a session that started at `start`.
    #[inline]
    pub fn starts_new(&self, start: i64, prev_t: i64, prev_day: i32, t: i64, day: i32) -> bool {
        t - prev_t >= self.gap_ms
            || t - start > self.max_len_ms
            || (self.split_at_midnight && day != prev_day)
    }
}

/// Reference sessionizer for one user's sorted events: the index ranges of each session. The
/// report inlines the same [`SessionRules::starts_new`] test in its fused pass.
pub fn sessionize(
    times: &[i64],
    days: &[i32],
    rules: &SessionRules,
) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut begin = 0;
    for i in 1..times.len() {
        if rules.starts_new(times[begin], times[i - 1], days[i - 1], times[i], days[i]) {
            out.push(begin..i);
            begin = i;
        }
    }
    if !times.is_empty() {
        out.push(begin..times.len());
    }
    out
}

/// A distribution of counts (sessions per user, events per session): summary statistics and
/// the exact frequency table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CountDistribution {
    /// Number of observations (users, sessions).
    pub count: u64,
    /// Sum of the values.
    pub total: u64,
    pub mean: Option<f64>,
    /// `quantile_cont` at 0.5, 0.9, 0.99.
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<u64>,
    /// `(value, how many observations have it)`, ascending by value.
    pub frequencies: Vec<(u64, u64)>,
}

impl CountDistribution {
    /// From the observed values (negative values count as 0), read once: callers stream them
    /// (e.g. events per session as differences of session starts) rather than collect them.
    pub fn from_values(values: impl IntoIterator<Item = i64>) -> CountDistribution {
        let mut tally = CountTally::new();
        for v in values {
            tally.add(v);
        }
        tally.finish()
    }
}

/// [`CountDistribution::from_values`]' pass, fed one value at a time by a producer that has
/// the values in hand (the session walk's hand-overs: the event counts of the sessions it has
/// just cut).
#[derive(Debug, Clone)]
pub struct CountTally {
    /// Frequency table: dense for small values, sparse above (a bot's thousands of sessions).
    dense: Vec<u64>,
    sparse: Vec<u64>,
    total: u64,
    n: usize,
}

impl Default for CountTally {
    fn default() -> Self {
        CountTally::new()
    }
}

impl CountTally {
    pub fn new() -> CountTally {
        CountTally {
            dense: vec![0u64; 1024],
            sparse: Vec::new(),
            total: 0,
            n: 0,
        }
    }

    /// The next value (a negative one counts as 0).
    #[inline(always)]
    pub fn add(&mut self, v: i64) {
        self.n += 1;
        let v = v.max(0) as u64;
        self.total += v;
        match self.dense.get_mut(v as usize) {
            Some(k) => *k += 1,
            None => self.sparse.push(v),
        }
    }

    /// The distribution of the values added.
    pub fn finish(self) -> CountDistribution {
        let CountTally {
            dense,
            mut sparse,
            total,
            n,
        } = self;
        let mut freq: Vec<(u64, u64)> = dense
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(v, &c)| (v as u64, c))
            .collect();
        sparse.sort_unstable();
        for v in sparse {
            match freq.last_mut() {
                Some((last, c)) if *last == v => *c += 1,
                _ => freq.push((v, 1)),
            }
        }
        if n == 0 {
            return CountDistribution::default();
        }
        // quantile_cont read off the frequency table (linear; no sort of the values).
        let value_at = |rank: usize| -> i64 {
            let mut seen = 0usize;
            for &(v, c) in &freq {
                seen += c as usize;
                if rank < seen {
                    return v as i64;
                }
            }
            freq.last().map_or(0, |&(v, _)| v as i64)
        };
        let q = |q: f64| {
            let (lo, hi, d) = super::outliers::cont_ranks(n, q);
            Some(super::outliers::interpolate(value_at(lo), value_at(hi), d))
        };
        CountDistribution {
            count: n as u64,
            total,
            mean: Some(total as f64 / n as f64),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            max: freq.last().map(|&(v, _)| v),
            frequencies: freq,
        }
    }
}

/// Session results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionMetrics {
    /// Total sessions.
    pub count: u64,
    /// Sessions by local day of their start, aligned with the report's day axis.
    pub per_day: Vec<u64>,
    /// Sessions per user (users with ≥ 1 considered event).
    pub per_user: CountDistribution,
    /// Events per session.
    pub events_per_session: CountDistribution,
    /// Session duration (`end − start`, ms): before/after the outlier policy, log histogram.
    pub duration: OutlierReport,
    /// Per-session active time (sum of its events' `duration_ms` after the event-duration
    /// outlier policy), ms: statistics over sessions (`before` = `after`, no second policy).
    pub active_time: super::outliers::DurationStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn rules(gap_mins: i64, max_mins: Option<i64>, midnight: bool) -> SessionRules {
        SessionRules {
            gap_ms: gap_mins * MIN,
            max_len_ms: max_mins.map_or(i64::MAX, |m| m * MIN),
            split_at_midnight: midnight,
        }
    }

    #[test]
    fn gap_exactly_g_starts_a_new_session() {
        let t = [0, 30 * MIN - 1, 60 * MIN - 1, 60 * MIN - 1];
        let d = [0; 4];
        // 29:59.999 gap: same session; then exactly 30:00: new; tie (gap 0): same.
        assert_eq!(
            sessionize(&t, &d, &rules(30, None, false)),
            vec![0..2, 2..4]
        );
        assert_eq!(sessionize(&[], &[], &rules(30, None, false)), vec![]);
        assert_eq!(sessionize(&[5], &[0], &rules(30, None, false)), vec![0..1]);
    }

    #[test]
    fn ties_in_time_stay_together() {
        let t = [10, 10, 10];
        assert_eq!(
            sessionize(&t, &[0; 3], &rules(1, Some(1), true)),
            vec![0..3]
        );
    }

    #[test]
    fn max_length_splits_greedily() {
        // Events every 20 min for 3 h with a 60-min max length.
        let t: Vec<i64> = (0..10).map(|i| i * 20 * MIN).collect();
        let s = sessionize(&t, &[0; 10], &rules(30, Some(60), false));
        // 0,20,40,60 (60 − 0 = 60: not > 60, stays) | 80..140 | 160,180.
        assert_eq!(s, vec![0..4, 4..8, 8..10]);
        assert_eq!(
            sessionize(&t, &[0; 10], &rules(30, None, false)),
            vec![0..10]
        );
    }

    #[test]
    fn midnight_split() {
        let t = [0, MIN, 2 * MIN];
        let d = [0, 1, 1];
        assert_eq!(sessionize(&t, &d, &rules(30, None, true)), vec![0..1, 1..3]);
        assert_eq!(sessionize(&t, &d, &rules(30, None, false)), vec![0..3]);
    }

    #[test]
    fn count_distribution() {
        let d = CountDistribution::from_values([1, 1, 2, 5000]);
        assert_eq!(d.frequencies, vec![(1, 2), (2, 1), (5000, 1)]);
        assert_eq!(d.count, 4);
        assert_eq!(d.total, 5004);
        assert_eq!(d.p50, Some(1.5));
        assert_eq!(d.max, Some(5000));
        assert_eq!(
            CountDistribution::from_values([]),
            CountDistribution::default()
        );
        // Fed one at a time (the session walk's tally): the same distribution, the sparse
        // values above the dense table included.
        let values = [3, 0, -2, 1023, 1024, 5000, 1024, 3, 7];
        let mut t = CountTally::new();
        values.iter().for_each(|&v| t.add(v));
        let d = t.finish();
        assert_eq!(d, CountDistribution::from_values(values));
        assert_eq!(
            d.frequencies,
            vec![(0, 2), (3, 2), (7, 1), (1023, 1), (1024, 2), (5000, 1)]
        );
        assert_eq!((d.count, d.total, d.max), (9, 8084, Some(5000)));
    }
}
