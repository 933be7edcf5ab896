//! App-version performance: exact p50/p95/p99 of event `duration_ms` (non-null, considered
//! events, *before* the outlier policy) per app version with the count behind each, the top
//! `vtop` versions by volume in version order plus `other`, and device type × performance with
//! eta-squared (`docs/METRICS.md` § App versions). Percentiles are DuckDB's `quantile_cont`,
//! read from the durations sorted once ([`SortedDurations`]) in one sweep that picks each
//! group's ranks; means and η² come from exact integer sums.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::outliers::{cont_ranks, interpolate, SortedDurations, SortedItems, Sweep};
use super::store::Dictionary;

/// The label of events without a version / device.
pub const NONE_LABEL: &str = "(none)";
pub const OTHER_LABEL: &str = "other";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupStats {
    pub label: String,
    /// Events behind the percentiles.
    pub events: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub mean_ms: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DevicePerformance {
    pub groups: Vec<GroupStats>,
    /// η² = SS_between / SS_total = Σ_g n_g (mean_g − mean)² / Σ_i (x_i − mean)²: the share of
    /// duration variance explained by the device type (0 … 1); `null` when SS_total is 0.
    pub eta_squared: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionReport {
    /// Distinct versions with ≥ 1 duration.
    pub distinct_versions: u64,
    /// The top versions in version order (oldest first), then `other` (all the rest pooled).
    pub versions: Vec<GroupStats>,
    /// When the metadata has `device_type`.
    pub devices: Option<DevicePerformance>,
}

/// Lenient semver order: an optional `v`, dot-separated numeric components compared as numbers
/// (missing ones are 0), a `-pre` release before its release, `+build` ignored; strings that are
/// not of that form sort after every version-like one, by text. Ties are broken by text.
pub fn version_cmp(a: &str, b: &str) -> Ordering {
    type Key<'a> = Option<(Vec<u64>, Option<&'a str>)>;
    fn key(s: &str) -> Key<'_> {
        let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
        let s = s.split('+').next().unwrap_or(s);
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (s, None),
        };
        let nums: Option<Vec<u64>> = core.split('.').map(|c| c.parse::<u64>().ok()).collect();
        Some((nums?, pre))
    }
    let ord = match (key(a), key(b)) {
        (Some((na, pa)), Some((nb, pb))) => {
            let n = na.len().max(nb.len());
            let get = |v: &Vec<u64>, i: usize| v.get(i).copied().unwrap_or(0);
            (0..n)
                .map(|i| get(&na, i).cmp(&get(&nb, i)))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
                .then_with(|| match (pa, pb) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Greater,
                    (Some(_), None) => Ordering::Less,
                    (Some(x), Some(y)) => x.cmp(y),
                })
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    ord.then_with(|| a.cmp(b))
}

/// `events`: `(version id, device id, duration)` of considered events with a duration;
/// id 0 = none. `versions`/`devices`: the dictionaries' labels by id (`devices` = `None` when
/// the metadata has no `device_type`). Sorts the durations, then [`version_report_sorted`].
pub fn version_report(
    events: &[(u16, u16, i32)],
    versions: &Dictionary,
    devices: Option<&Dictionary>,
    top_n: u32,
) -> VersionReport {
    let groups = events.iter().fold((1, 1), |(a, b), &(v, d, _)| {
        (a.max(v as usize + 1), b.max(d as usize + 1))
    });
    let mut sorted = SortedDurations::default();
    let mut items = SortedItems::new(&mut sorted, events.len(), groups);
    for &(v, d, x) in events {
        items.push(x, v, d);
    }
    sorted.build(items, &mut Vec::new());
    version_report_sorted(&sorted, versions, devices, top_n)
}

/// One group's wanted ranks (ascending) and what a sweep over the sorted values found.
#[derive(Default, Clone)]
struct GroupSweep {
    ranks: Vec<usize>,
    found: Vec<i64>,
    /// The next wanted rank (`usize::MAX` when all are found).
    next: usize,
    seen: usize,
    sum: i64,
}

impl GroupSweep {
    fn new(ranks: Vec<usize>) -> Self {
        GroupSweep {
            next: ranks.first().copied().unwrap_or(usize::MAX),
            ranks,
            ..GroupSweep::default()
        }
    }

    #[inline]
    fn push(&mut self, v: i64) {
        if self.seen == self.next {
            while self.ranks.get(self.found.len()) == Some(&self.seen) {
                self.found.push(v);
            }
            self.next = self
                .ranks
                .get(self.found.len())
                .copied()
                .unwrap_or(usize::MAX);
        }
        self.seen += 1;
        self.sum += v;
    }

    fn stats(&self, label: &str) -> GroupStats {
        let n = self.seen;
        let at = |r: usize| -> i64 {
            let i = self.ranks.partition_point(|&x| x < r);
            self.found.get(i).copied().unwrap_or(0)
        };
        let q = |q: f64| {
            (n > 0).then(|| {
                let (lo, hi, frac) = cont_ranks(n, q);
                interpolate(at(lo), at(hi), frac)
            })
        };
        GroupStats {
            label: label.to_string(),
            events: n as u64,
            p50_ms: q(0.5),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
            mean_ms: (n > 0).then(|| self.sum as f64 / n as f64),
        }
    }
}

/// The ranks of p50/p95/p99 in a group of `n` values, ascending.
fn group_ranks(n: usize) -> Vec<usize> {
    let mut r: Vec<usize> = if n == 0 {
        Vec::new()
    } else {
        [0.5, 0.95, 0.99]
            .iter()
            .flat_map(|&q| {
                let (lo, hi, _) = cont_ranks(n, q);
                [lo, hi]
            })
            .collect()
    };
    r.sort_unstable();
    r
}

/// [`version_report`] from the durations already sorted (their group ids: app version, device
/// type): a counting pass and one sweep that picks each group's ranks as they pass by.
pub fn version_report_sorted(
    sorted: &SortedDurations,
    versions: &Dictionary,
    devices: Option<&Dictionary>,
    top_n: u32,
) -> VersionReport {
    let label = |names: &Dictionary, id: u16| -> String {
        match names.get(id as usize) {
            s if id != 0 && !s.is_empty() => s.to_string(),
            _ => NONE_LABEL.to_string(),
        }
    };
    let n_versions = versions.len().max(1);
    let n_devices = devices.map_or(1, |d| d.len().max(1));
    let version_of = |a: u16| (a as usize).min(n_versions - 1);
    let device_of = |b: u16| (b as usize).min(n_devices - 1);
    // Counts per id, ids past the dictionary clamped to its last id (as `version_of`).
    let clamp_counts = |counts: &[usize], len: usize| -> Vec<usize> {
        let mut out = vec![0usize; len];
        for (i, &k) in counts.iter().enumerate() {
            out[i.min(len - 1)] += k;
        }
        out
    };
    let (va, db) = sorted.group_counts();
    let v_counts = clamp_counts(va, n_versions);
    let d_counts = clamp_counts(db, n_devices);
    let mut ids: Vec<usize> = (0..n_versions).filter(|&i| v_counts[i] > 0).collect();
    let distinct = ids.len() as u64;
    let name = |i: usize| label(versions, i as u16);
    ids.sort_by(|&a, &b| {
        v_counts[b]
            .cmp(&v_counts[a])
            .then_with(|| version_cmp(&name(b), &name(a)))
    });
    let rest = ids.split_off(ids.len().min(top_n as usize));
    ids.sort_by(|&a, &b| version_cmp(&name(a), &name(b)));
    // Version groups: the listed versions in order, then `other`.
    let other = ids.len();
    let mut group_of = vec![other; n_versions];
    for (g, &i) in ids.iter().enumerate() {
        group_of[i] = g;
    }
    let mut v_groups: Vec<GroupSweep> = ids
        .iter()
        .map(|&i| v_counts[i])
        .chain(std::iter::once(rest.iter().map(|&i| v_counts[i]).sum()))
        .map(|n| GroupSweep::new(group_ranks(n)))
        .collect();
    let with_devices = devices.is_some();
    let mut d_groups: Vec<GroupSweep> = d_counts
        .iter()
        .map(|&n| {
            GroupSweep::new(if with_devices {
                group_ranks(n)
            } else {
                Vec::new()
            })
        })
        .collect();
    struct Groups<'a, V, D> {
        v_groups: &'a mut [GroupSweep],
        d_groups: &'a mut [GroupSweep],
        group_of: &'a [usize],
        version_of: V,
        device_of: D,
        with_devices: bool,
    }
    impl<V: Fn(u16) -> usize, D: Fn(u16) -> usize> Sweep for Groups<'_, V, D> {
        fn part<I: Iterator<Item = (i64, u16, u16)>>(&mut self, values: I) {
            for (v, a, b) in values {
                self.v_groups[self.group_of[(self.version_of)(a)]].push(v);
                if self.with_devices {
                    self.d_groups[(self.device_of)(b)].push(v);
                }
            }
        }
    }
    sorted.sweep(&mut Groups {
        v_groups: &mut v_groups,
        d_groups: &mut d_groups,
        group_of: &group_of,
        version_of,
        device_of,
        with_devices,
    });
    let mut out: Vec<GroupStats> = ids
        .iter()
        .enumerate()
        .map(|(g, &i)| v_groups[g].stats(&name(i)))
        .collect();
    if !rest.is_empty() {
        out.push(v_groups[other].stats(OTHER_LABEL));
    }
    let devices = devices.map(|names| {
        let mut groups: Vec<(String, &GroupSweep)> = d_groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.seen > 0)
            .map(|(i, g)| (label(names, i as u16), g))
            .collect();
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        let n = sorted.len();
        DevicePerformance {
            eta_squared: eta_squared_from_sums(
                groups.iter().map(|(_, g)| (g.seen, g.sum)),
                n,
                sorted.range_sum(0, n),
                sorted.sum_of_squares(),
            ),
            groups: groups.iter().map(|(l, g)| g.stats(l)).collect(),
        }
    });
    VersionReport {
        distinct_versions: distinct,
        versions: out,
        devices,
    }
}

/// η² from the groups' `(count, sum)` and the overall count, sum and sum of squares of integer
/// values, exactly in integers then rounded once: `n²·SS_between = Σ_g (n·S_g − n_g·S)² / n_g`
/// and `n²·SS_total = n·(n·Σv² − S²)`. `None` when SS_total is 0.
pub fn eta_squared_from_sums(
    groups: impl Iterator<Item = (usize, i64)>,
    n: usize,
    sum: i64,
    sum_sq: i128,
) -> Option<f64> {
    let nn = n as i128;
    let total = nn * sum_sq - (sum as i128) * (sum as i128);
    if n == 0 || total <= 0 {
        return None;
    }
    let between: f64 = groups
        .filter(|&(m, _)| m > 0)
        .map(|(m, s)| {
            let d = (nn * s as i128 - m as i128 * sum as i128) as f64;
            d * d / m as f64
        })
        .sum();
    Some(between / (n as f64 * total as f64))
}

/// η² = SS_between / SS_total over the groups' values; `None` when SS_total is 0.
pub fn eta_squared(groups: &[&[i32]]) -> Option<f64> {
    let n: usize = groups.iter().map(|g| g.len()).sum();
    if n == 0 {
        return None;
    }
    let mean = groups
        .iter()
        .flat_map(|g| g.iter())
        .map(|&x| x as f64)
        .sum::<f64>()
        / n as f64;
    let mut between = 0.0;
    let mut total = 0.0;
    for g in groups {
        if g.is_empty() {
            continue;
        }
        let gm = g.iter().map(|&x| x as f64).sum::<f64>() / g.len() as f64;
        between += g.len() as f64 * (gm - mean).powi(2);
        total += g.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>();
    }
    (total > 0.0).then(|| between / total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_order() {
        let mut v = vec![
            "1.10.0",
            "1.9.2",
            "v1.9.10",
            "2.0.0-beta",
            "2.0.0",
            "weird",
            "1.9",
        ];
        v.sort_by(|a, b| version_cmp(a, b));
        assert_eq!(
            v,
            [
                "1.9",
                "1.9.2",
                "v1.9.10",
                "1.10.0",
                "2.0.0-beta",
                "2.0.0",
                "weird"
            ]
        );
    }

    #[test]
    fn top_versions_other_and_percentiles() {
        let names: Vec<String> = ["", "1.0", "1.2", "1.10"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // 1.10: 4 events, 1.0: 2 events, 1.2: 1 event, none: 1 event.
        let ev = vec![
            (3, 0, 10),
            (3, 0, 20),
            (3, 0, 30),
            (3, 0, 40),
            (1, 0, 5),
            (1, 0, 7),
            (2, 0, 100),
            (0, 0, 1),
        ];
        let r = version_report(&ev, &Dictionary::from_values(names), None, 2);
        assert_eq!(r.distinct_versions, 4);
        let labels: Vec<&str> = r.versions.iter().map(|g| g.label.as_str()).collect();
        assert_eq!(labels, ["1.0", "1.10", "other"]);
        // quantile_cont of 10,20,30,40 at 0.5 = 25; at 0.95: 10 + 2.85·10 = 38.5.
        assert_eq!(r.versions[1].p50_ms, Some(25.0));
        assert!((r.versions[1].p95_ms.unwrap() - 38.5).abs() < 1e-9);
        assert_eq!(r.versions[2].events, 2);
        assert_eq!(r.versions[2].p50_ms, Some(50.5));
        assert!(r.devices.is_none());
    }

    #[test]
    fn eta_squared_hand_checked() {
        // Groups {1,3} and {5,7}: mean 4; between = 2·(2−4)² + 2·(6−4)² = 16;
        // total = 9 + 1 + 1 + 9 = 20 → 0.8.
        assert_eq!(eta_squared(&[&[1, 3], &[5, 7]]), Some(0.8));
        assert_eq!(eta_squared(&[&[2, 2], &[2]]), None);
        let devs: Vec<String> = ["", "ios", "android"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let r = version_report(
            &[(0, 1, 1), (0, 1, 3), (0, 2, 5), (0, 2, 7)],
            &Dictionary::default(),
            Some(&Dictionary::from_values(devs)),
            5,
        );
        let d = r.devices.unwrap();
        assert_eq!(d.eta_squared, Some(0.8));
        assert_eq!(d.groups[0].label, "android");
        assert_eq!(r.versions[0].label, NONE_LABEL);
    }
}
