//! Retention cohorts and the lifecycle (new / returning / resurrecting / dormant), computed
//! from per-user day facts the report collects ([`UserDays`], borrowing its cached intervals).
//! Activity is never redefined here: "active" means the activity definition's active intervals
//! ([`super::activity::active_intervals`]) clipped to the day axis. Definitions:
//! `docs/METRICS.md` § Retention and § Lifecycle.

use serde::{Deserialize, Serialize};

use super::activity::Periods;
use super::params::{CohortBy, Date, Granularity};

/// What one user contributes to retention and the lifecycle.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserDays<'a> {
    /// Active intervals `[a, b]` (inclusive), ascending, clipped to the axis.
    pub active: &'a [(i32, i32)],
    /// Metadata join day (any day, possibly outside the axis).
    pub join_day: Option<i32>,
    /// First day with a considered event of a retention start action (`rstart` set only).
    pub start_day: Option<i32>,
    /// Days (ascending, unique) with a considered event of a return action (`rreturn` set only).
    pub return_days: Option<Vec<i32>>,
}

/// The periods of a day axis at one granularity.
pub struct PeriodAxis {
    pub first: i32,
    pub bounds: Vec<(i32, i32)>,
    of_day: Vec<u32>,
}

impl PeriodAxis {
    pub fn new(g: Granularity, first: i32, days: usize, periods: &Periods) -> PeriodAxis {
        let (bounds, of_day) = match g {
            Granularity::Day => (
                (0..days as i32).map(|i| (first + i, first + i)).collect(),
                (0..days as u32).collect(),
            ),
            Granularity::Week => (periods.weeks.clone(), periods.week_of_day.to_vec()),
            Granularity::Month => (periods.months.clone(), periods.month_of_day.to_vec()),
        };
        PeriodAxis {
            first,
            bounds,
            of_day,
        }
    }

    /// The period holding `day`, `None` outside the axis.
    pub fn of(&self, day: i32) -> Option<usize> {
        let i = day.checked_sub(self.first)?;
        (i >= 0)
            .then(|| self.of_day.get(i as usize).map(|&p| p as usize))
            .flatten()
    }

    pub fn len(&self) -> usize {
        self.bounds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    /// Ascending unique periods touched by the intervals.
    fn of_intervals(&self, iv: &[(i32, i32)], out: &mut Vec<usize>) {
        out.clear();
        for &(a, b) in iv {
            let (Some(pa), Some(pb)) = (self.of(a), self.of(b)) else {
                continue;
            };
            for p in pa..=pb {
                if out.last() != Some(&p) {
                    out.push(p);
                }
            }
        }
    }

    fn of_days(&self, days: &[i32], out: &mut Vec<usize>) {
        out.clear();
        for &d in days {
            if let Some(p) = self.of(d) {
                if out.last() != Some(&p) {
                    out.push(p);
                }
            }
        }
    }
}

/// One cohort: users whose cohort period starts on `start`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetentionCohort {
    pub start: Option<Date>,
    pub size: u64,
    /// `retained[n]`: cohort users returning in period n (recurring). Length = periods the
    /// cohort has reached (the last one may be partial).
    pub retained: Vec<u64>,
    /// `cumulative[n]`: cohort users returning in period n or any later period of the axis.
    pub cumulative: Vec<u64>,
    pub rate: Vec<f64>,
    pub cumulative_rate: Vec<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetentionReport {
    pub granularity: Granularity,
    pub cohort_by: CohortBy,
    /// Whether the last period of the axis is cut short by the axis end.
    pub last_period_partial: bool,
    pub cohorts: Vec<RetentionCohort>,
    /// Cohort-size weighted average over cohorts that have reached period n:
    /// Σ retained[n] / Σ size (same cohorts). `None` when no such cohort has users.
    pub average: Vec<Option<f64>>,
    pub average_cumulative: Vec<Option<f64>>,
    /// Users in no cohort of the span (cohort period before the span, no start event, no
    /// join date in the axis).
    pub users_without_cohort: u64,
}

fn rate(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Retention cohorts over the last `span` periods of `axis`. `has_start`: a start action set
/// is given, so cohorts come from [`UserDays::start_day`].
///
/// Never inlined: called once per recompute from `MetricsCache::run`, inside which wasm's
/// code kept its loop state in memory (measured with `scripts/bench/wasm_knobs.mjs`).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn retention(
    users: &[UserDays<'_>],
    has_start: bool,
    axis: &PeriodAxis,
    granularity: Granularity,
    cohort_by: CohortBy,
    span: u32,
    last_period_partial: bool,
) -> RetentionReport {
    let np = axis.len();
    let first_cohort = np.saturating_sub(span as usize);
    let mut cohorts: Vec<RetentionCohort> = (first_cohort..np)
        .map(|c| RetentionCohort {
            start: Some(Date(axis.bounds[c].0)),
            size: 0,
            retained: vec![0; np - c],
            cumulative: vec![0; np - c],
            rate: Vec::new(),
            cumulative_rate: Vec::new(),
        })
        .collect();
    let mut without = 0u64;
    let mut ret: Vec<usize> = Vec::new();
    let mut act: Vec<usize> = Vec::new();
    for u in users {
        axis.of_intervals(u.active, &mut act);
        let cohort_period = match cohort_by {
            CohortBy::Join => u.join_day.and_then(|d| axis.of(d)),
            CohortBy::FirstSeen if has_start => u.start_day.and_then(|d| axis.of(d)),
            CohortBy::FirstSeen => act.first().copied(),
        };
        let c = match cohort_period {
            Some(c) if c >= first_cohort => c,
            _ => {
                without += 1;
                continue;
            }
        };
        match &u.return_days {
            Some(days) => axis.of_days(days, &mut ret),
            None => std::mem::swap(&mut ret, &mut act),
        }
        let co = &mut cohorts[c - first_cohort];
        co.size += 1;
        let mut last_n: Option<usize> = None;
        for &p in ret.iter().filter(|&&p| p >= c) {
            co.retained[p - c] += 1;
            last_n = Some(p - c);
        }
        if let Some(l) = last_n {
            for x in &mut co.cumulative[..=l] {
                *x += 1;
            }
        }
    }
    let mut num = vec![0u64; np - first_cohort];
    let mut num_c = vec![0u64; np - first_cohort];
    let mut den = vec![0u64; np - first_cohort];
    for co in &mut cohorts {
        co.rate = co.retained.iter().map(|&r| rate(r, co.size)).collect();
        co.cumulative_rate = co.cumulative.iter().map(|&r| rate(r, co.size)).collect();
        for n in 0..co.retained.len() {
            num[n] += co.retained[n];
            num_c[n] += co.cumulative[n];
            den[n] += co.size;
        }
    }
    let avg = |num: &[u64]| -> Vec<Option<f64>> {
        num.iter()
            .zip(&den)
            .map(|(&a, &b)| (b > 0).then(|| a as f64 / b as f64))
            .collect()
    };
    RetentionReport {
        granularity,
        cohort_by,
        last_period_partial,
        average: avg(&num),
        average_cumulative: avg(&num_c),
        cohorts,
        users_without_cohort: without,
    }
}

/// Lifecycle counts of one period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LifecyclePeriod {
    pub start: Option<Date>,
    pub end: Option<Date>,
    pub partial: bool,
    pub new: u64,
    pub returning: u64,
    pub resurrecting: u64,
    /// Active in the previous period, not in this one: a positive count (chart it below zero).
    pub dormant: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LifecycleReport {
    pub granularity: Granularity,
    pub new_by: CohortBy,
    pub periods: Vec<LifecyclePeriod>,
}

/// New / returning / resurrecting / dormant per period of `axis`.
///
/// Never inlined: called once per recompute from `MetricsCache::run`, inside which wasm's
/// code kept its loop state in memory (measured with `scripts/bench/wasm_knobs.mjs`).
#[inline(never)]
pub fn lifecycle(
    users: &[UserDays<'_>],
    axis: &PeriodAxis,
    granularity: Granularity,
    new_by: CohortBy,
    last_period_partial: bool,
) -> LifecycleReport {
    let np = axis.len();
    let mut periods: Vec<LifecyclePeriod> = axis
        .bounds
        .iter()
        .enumerate()
        .map(|(i, &(a, b))| LifecyclePeriod {
            start: Some(Date(a)),
            end: Some(Date(b)),
            partial: last_period_partial && i + 1 == np,
            ..Default::default()
        })
        .collect();
    let mut act: Vec<usize> = Vec::new();
    for u in users {
        axis.of_intervals(u.active, &mut act);
        let join_p = u.join_day.and_then(|d| axis.of(d));
        for (k, &p) in act.iter().enumerate() {
            let prev_active = k > 0 && act[k - 1] + 1 == p;
            let is_new = match new_by {
                CohortBy::FirstSeen => k == 0,
                CohortBy::Join => join_p == Some(p),
            };
            let row = &mut periods[p];
            if is_new {
                row.new += 1;
            } else if prev_active {
                row.returning += 1;
            } else {
                row.resurrecting += 1;
            }
            let next_active = act.get(k + 1) == Some(&(p + 1));
            if !next_active && p + 1 < np {
                periods[p + 1].dormant += 1;
            }
        }
    }
    LifecycleReport {
        granularity,
        new_by,
        periods,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(days: usize) -> PeriodAxis {
        // Day 0 = 1970-01-01, a Thursday; weeks start Monday (day 4).
        let p = Periods::new(0, days, 0);
        PeriodAxis::new(Granularity::Week, 0, days, &p)
    }

    fn user(iv: &[(i32, i32)]) -> UserDays<'_> {
        UserDays {
            active: iv,
            ..Default::default()
        }
    }

    #[test]
    fn weekly_recurring_and_cumulative() {
        // Weeks: [0,3], [4,10], [11,17], [18,24].
        let ax = axis(25);
        assert_eq!(ax.bounds, vec![(0, 3), (4, 10), (11, 17), (18, 24)]);
        let users = vec![
            user(&[(1, 1), (12, 12)]), // cohort 0: weeks 0, 2
            user(&[(2, 5)]),           // cohort 0: weeks 0, 1
            user(&[(5, 5), (20, 20)]), // cohort 1: weeks 1, 3
            user(&[]),                 // never active
        ];
        let r = retention(
            &users,
            false,
            &ax,
            Granularity::Week,
            CohortBy::FirstSeen,
            26,
            false,
        );
        assert_eq!(r.cohorts.len(), 4);
        assert_eq!(r.cohorts[0].size, 2);
        assert_eq!(r.cohorts[0].retained, vec![2, 1, 1, 0]);
        assert_eq!(r.cohorts[0].cumulative, vec![2, 2, 1, 0]);
        assert_eq!(r.cohorts[1].retained, vec![1, 0, 1]);
        assert_eq!(r.cohorts[1].cumulative, vec![1, 1, 1]);
        assert_eq!(r.cohorts[2].size, 0);
        assert_eq!(r.users_without_cohort, 1);
        // Average period 1: cohorts 0..=2 reached it: (1 + 0 + 0) / (2 + 1 + 0).
        assert_eq!(r.average[1], Some(1.0 / 3.0));
        assert_eq!(r.average[3], Some(0.0));
        assert_eq!(r.average_cumulative[2], Some(2.0 / 3.0));
        // Span 3: cohort week 0 is out of the span.
        let r = retention(
            &users,
            false,
            &ax,
            Granularity::Week,
            CohortBy::FirstSeen,
            3,
            false,
        );
        assert_eq!(r.cohorts.len(), 3);
        assert_eq!(r.users_without_cohort, 3);
    }

    #[test]
    fn start_and_return_actions_and_join() {
        let ax = axis(25);
        let u = UserDays {
            active: &[(0, 24)],
            join_day: Some(-30),
            start_day: Some(6),
            return_days: Some(vec![6, 19]),
        };
        let r = retention(
            std::slice::from_ref(&u),
            true,
            &ax,
            Granularity::Week,
            CohortBy::FirstSeen,
            26,
            false,
        );
        assert_eq!(r.cohorts[1].retained, vec![1, 0, 1]);
        // Join before the axis: no cohort.
        let r = retention(
            &[u],
            true,
            &ax,
            Granularity::Week,
            CohortBy::Join,
            26,
            false,
        );
        assert_eq!(r.users_without_cohort, 1);
    }

    #[test]
    fn lifecycle_counts() {
        let ax = axis(25);
        // Active weeks: A {0,1,3}; B {1,2}; C {3}.
        let users = vec![
            user(&[(0, 0), (5, 5), (19, 19)]),
            user(&[(4, 11)]),
            user(&[(24, 24)]),
        ];
        let l = lifecycle(&users, &ax, Granularity::Week, CohortBy::FirstSeen, true);
        let got: Vec<(u64, u64, u64, u64)> = l
            .periods
            .iter()
            .map(|p| (p.new, p.returning, p.resurrecting, p.dormant))
            .collect();
        assert_eq!(
            got,
            vec![(1, 0, 0, 0), (1, 1, 0, 0), (0, 1, 0, 1), (1, 0, 1, 1)]
        );
        assert!(l.periods[3].partial && !l.periods[2].partial);
        // Joined in week 1 for A: week 0 is then "resurrecting" (not new, no previous period).
        let mut a = users[0].clone();
        a.join_day = Some(6);
        let l = lifecycle(&[a], &ax, Granularity::Week, CohortBy::Join, false);
        let got: Vec<(u64, u64, u64, u64)> = l
            .periods
            .iter()
            .map(|p| (p.new, p.returning, p.resurrecting, p.dormant))
            .collect();
        assert_eq!(
            got,
            vec![(0, 0, 1, 0), (1, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 0)]
        );
    }
}
