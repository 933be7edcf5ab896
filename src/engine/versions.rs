//! App-version performance: exact p50/p95/p99 of event `duration_ms` (non-null, considered
//! events, *before* the outlier policy) per app version with the count behind each, the top
//! `vtop` versions by volume in version order plus `other`, and device type × performance with
//! eta-squared (`docs/METRICS.md` § App versions). Percentiles use
//! [`super::outliers::quantiles_cont`] (DuckDB's `quantile_cont`).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::outliers::quantiles_cont;

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

fn stats(label: &str, v: &[i32]) -> GroupStats {
    let q = quantiles_cont(v, &[0.5, 0.95, 0.99]);
    GroupStats {
        label: label.to_string(),
        events: v.len() as u64,
        p50_ms: q[0],
        p95_ms: q[1],
        p99_ms: q[2],
        mean_ms: (!v.is_empty()).then(|| v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64),
    }
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
/// the metadata has no `device_type`).
pub fn version_report(
    events: &[(u16, u16, i32)],
    versions: &[String],
    devices: Option<&[String]>,
    top_n: u32,
) -> VersionReport {
    let label = |names: &[String], id: u16| -> String {
        match names.get(id as usize) {
            Some(s) if id != 0 && !s.is_empty() => s.clone(),
            _ => NONE_LABEL.to_string(),
        }
    };
    let by_version = Groups::new(events, versions.len().max(1), |e| e.0);
    let mut ids: Vec<usize> = (0..by_version.len())
        .filter(|&i| !by_version.get(i).is_empty())
        .collect();
    let distinct = ids.len() as u64;
    let name = |i: usize| label(versions, i as u16);
    ids.sort_by(|&a, &b| {
        by_version
            .get(b)
            .len()
            .cmp(&by_version.get(a).len())
            .then_with(|| version_cmp(&name(b), &name(a)))
    });
    let rest = ids.split_off(ids.len().min(top_n as usize));
    ids.sort_by(|&a, &b| version_cmp(&name(a), &name(b)));
    let mut out: Vec<GroupStats> = ids
        .iter()
        .map(|&i| stats(&name(i), by_version.get(i)))
        .collect();
    if !rest.is_empty() {
        let pooled: Vec<i32> = rest
            .iter()
            .flat_map(|&i| by_version.get(i).iter().copied())
            .collect();
        out.push(stats(OTHER_LABEL, &pooled));
    }
    let devices = devices.map(|names| {
        let by_dev = Groups::new(events, names.len().max(1), |e| e.1);
        let mut groups: Vec<(String, &[i32])> = (0..by_dev.len())
            .map(|i| (i, by_dev.get(i)))
            .filter(|(_, v)| !v.is_empty())
            .map(|(i, v)| (label(names, i as u16), v))
            .collect();
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        DevicePerformance {
            eta_squared: eta_squared(&groups.iter().map(|g| g.1).collect::<Vec<_>>()),
            groups: groups.iter().map(|(l, v)| stats(l, v)).collect(),
        }
    });
    VersionReport {
        distinct_versions: distinct,
        versions: out,
        devices,
    }
}

/// The durations of `events` grouped by `key` (clamped to `groups − 1`), each group in event
/// order: a counting pass, then one scatter into a single exactly-sized buffer (no per-group
/// vector growth).
struct Groups {
    values: Vec<i32>,
    starts: Vec<usize>,
}

impl Groups {
    fn new(
        events: &[(u16, u16, i32)],
        groups: usize,
        key: impl Fn(&(u16, u16, i32)) -> u16,
    ) -> Self {
        let slot = |e: &(u16, u16, i32)| (key(e) as usize).min(groups - 1);
        let mut starts = vec![0usize; groups + 1];
        for e in events {
            starts[slot(e) + 1] += 1;
        }
        for i in 0..groups {
            starts[i + 1] += starts[i];
        }
        let mut next = starts.clone();
        let mut values = vec![0i32; events.len()];
        for e in events {
            let g = slot(e);
            values[next[g]] = e.2;
            next[g] += 1;
        }
        Groups { values, starts }
    }

    fn len(&self) -> usize {
        self.starts.len() - 1
    }

    fn get(&self, i: usize) -> &[i32] {
        &self.values[self.starts[i]..self.starts[i + 1]]
    }
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
        let r = version_report(&ev, &names, None, 2);
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
            &[],
            Some(&devs),
            5,
        );
        let d = r.devices.unwrap();
        assert_eq!(d.eta_squared, Some(0.8));
        assert_eq!(d.groups[0].label, "android");
        assert_eq!(r.versions[0].label, NONE_LABEL);
    }
}
