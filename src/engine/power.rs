//! Power users: the top `power`% of users by total interaction time (event `duration_ms` after
//! the outlier policy, [`super::outliers::apply_policy`]) and by active days, their share of all
//! activity, and who they are by a metadata column. Definitions: `docs/METRICS.md` § Power users.

use serde::{Deserialize, Serialize};

/// One user's totals (users with ≥ 1 considered event). Borrows the key and label from the
/// store and metadata dictionaries: no allocation per user.
#[derive(Debug, Clone, PartialEq)]
pub struct UserTotals<'a> {
    pub key: &'a str,
    /// Σ duration_ms of considered events after the outlier policy.
    pub duration_ms: i64,
    /// Active days on the axis (activity definition).
    pub active_days: u64,
    /// Metadata label of the breakdown column (`None`: no metadata row or no column).
    pub label: Option<&'a str>,
}

/// The top users by one measure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PowerRanking {
    /// ⌈users × pct / 100⌉ (0 without users).
    pub users: u64,
    /// The smallest value among the top users.
    pub threshold: Option<i64>,
    pub top_total: i64,
    pub all_total: i64,
    /// `top_total / all_total`; `null` when `all_total` is 0.
    pub share: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PowerSegment {
    pub label: String,
    pub users: u64,
    /// Power users (by duration) with this label.
    pub power_by_duration: u64,
    pub power_by_active_days: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PowerReport {
    pub pct: f64,
    pub users: u64,
    pub by_duration: PowerRanking,
    pub by_active_days: PowerRanking,
    /// The breakdown column, when the metadata has it.
    pub column: Option<String>,
    /// Labels by power users (by duration) descending, then label; `(none)` = no metadata.
    pub segments: Vec<PowerSegment>,
}

/// Rank `values` descending, ties by user key ascending; mark the first `n`.
///
/// Keys are unique, so the order is total and the first `n` are a set: a selection
/// (`select_nth_unstable_by`, linear on average) finds them and the `n`-th value without
/// sorting every user.
fn top(
    users: &[UserTotals<'_>],
    value: impl Fn(&UserTotals<'_>) -> i64,
    n: usize,
) -> (PowerRanking, Vec<bool>) {
    let mut idx: Vec<usize> = (0..users.len()).collect();
    if n > 0 {
        idx.select_nth_unstable_by(n - 1, |&a, &b| {
            value(&users[b])
                .cmp(&value(&users[a]))
                .then_with(|| users[a].key.cmp(users[b].key))
        });
    }
    let mut mark = vec![false; users.len()];
    let mut top_total = 0i64;
    for &i in idx.iter().take(n) {
        mark[i] = true;
        top_total += value(&users[i]);
    }
    let all_total: i64 = users.iter().map(&value).sum();
    let ranking = PowerRanking {
        users: n as u64,
        threshold: (n > 0).then(|| value(&users[idx[n - 1]])),
        top_total,
        all_total,
        share: (all_total != 0).then(|| top_total as f64 / all_total as f64),
    };
    (ranking, mark)
}

/// Top-user count for `pct` percent of `users`.
pub fn top_count(users: usize, pct: f64) -> usize {
    ((users as f64 * pct / 100.0).ceil() as usize).min(users)
}

/// Never inlined: called once per recompute from `MetricsCache::run`, inside which wasm's
/// code kept its loop state in memory (measured with `scripts/bench/wasm_knobs.mjs`).
#[inline(never)]
pub fn power_users(users: &[UserTotals<'_>], pct: f64, column: Option<String>) -> PowerReport {
    let n = top_count(users.len(), pct);
    let (by_duration, md) = top(users, |u| u.duration_ms, n);
    let (by_active_days, ma) = top(users, |u| u.active_days as i64, n);
    let mut segments: Vec<PowerSegment> = Vec::new();
    if column.is_some() {
        let mut map: std::collections::BTreeMap<&str, PowerSegment> = Default::default();
        for (i, u) in users.iter().enumerate() {
            let label = u.label.unwrap_or("(none)");
            let s = map.entry(label).or_insert_with(|| PowerSegment {
                label: label.to_string(),
                ..Default::default()
            });
            s.users += 1;
            s.power_by_duration += md[i] as u64;
            s.power_by_active_days += ma[i] as u64;
        }
        segments = map.into_values().collect();
        segments.sort_by(|a, b| {
            b.power_by_duration
                .cmp(&a.power_by_duration)
                .then_with(|| a.label.cmp(&b.label))
        });
    }
    PowerReport {
        pct,
        users: users.len() as u64,
        by_duration,
        by_active_days,
        column,
        segments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u<'a>(key: &'a str, ms: i64, days: u64, label: &'a str) -> UserTotals<'a> {
        UserTotals {
            key,
            duration_ms: ms,
            active_days: days,
            label: Some(label),
        }
    }

    #[test]
    fn top_percent_share_and_segments() {
        let users = vec![
            u("a", 100, 1, "free"),
            u("b", 500, 2, "pro"),
            u("c", 300, 9, "free"),
            u("d", 100, 1, "pro"),
        ];
        // 30% of 4 users → ⌈1.2⌉ = 2.
        let r = power_users(&users, 30.0, Some("plan".into()));
        assert_eq!(r.by_duration.users, 2);
        assert_eq!(r.by_duration.top_total, 800);
        assert_eq!(r.by_duration.all_total, 1000);
        assert_eq!(r.by_duration.share, Some(0.8));
        assert_eq!(r.by_duration.threshold, Some(300));
        // Active days: c (9), b (2).
        assert_eq!(r.by_active_days.top_total, 11);
        assert_eq!(r.segments[0].label, "free");
        assert_eq!(r.segments[0].power_by_duration, 1);
        assert_eq!(r.segments[1].power_by_active_days, 1);
        // 1% of 4 → 1; ties broken by key: a before d.
        let r = power_users(&users[..1], 1.0, None);
        assert_eq!(r.by_duration.users, 1);
        assert!(r.segments.is_empty());
        assert_eq!(top_count(0, 1.0), 0);
        assert_eq!(top_count(200, 1.0), 2);
    }
}
