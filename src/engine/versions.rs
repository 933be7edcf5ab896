//! App-version performance: exact p50/p95/p99 of event `duration_ms` (non-null, considered
//! events, *before* the outlier policy) per app version with the count behind each, the top
//! `vtop` versions by volume in version order plus `other`, and device type × performance with
//! eta-squared (`docs/METRICS.md` § App versions). Percentiles are DuckDB's `quantile_cont`,
//! read from the durations sorted once ([`SortedDurations`]) in one sweep that picks each
//! group's ranks; means and η² come from exact integer sums.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::outliers::{
    bucket_key, cont_ranks, interpolate, SortedDurations, SortedItems, Sweep, BUCKETS,
};
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

/// The groups of a report: which version ids are listed (the top `vtop` by volume, in version
/// order), the group of every version id (the listed ones, then `other`), and each group's
/// wanted ranks (p50/p95/p99), from the counts per version id and per device id.
struct GroupPlan<'a> {
    versions: &'a Dictionary,
    devices: Option<&'a Dictionary>,
    /// The listed version ids, in version order.
    ids: Vec<usize>,
    /// Whether some version is pooled into `other`.
    has_other: bool,
    /// The group of each (clamped) version id: its place in `ids`, or `ids.len()` (`other`).
    group_of: Vec<usize>,
    n_versions: usize,
    n_devices: usize,
    distinct: u64,
}

impl<'a> GroupPlan<'a> {
    /// The plan, and one [`GroupSweep`] per version group and per device id (with its ranks),
    /// from the counts per version id and per device id (ids past the dictionaries count as
    /// their last id).
    fn new(
        (va, db): (&[usize], &[usize]),
        versions: &'a Dictionary,
        devices: Option<&'a Dictionary>,
        top_n: u32,
    ) -> (Self, Vec<GroupSweep>, Vec<GroupSweep>) {
        let n_versions = versions.len().max(1);
        let n_devices = devices.map_or(1, |d| d.len().max(1));
        // Counts per id, ids past the dictionary clamped to its last id (as `version_of`).
        let clamp_counts = |counts: &[usize], len: usize| -> Vec<usize> {
            let mut out = vec![0usize; len];
            for (i, &k) in counts.iter().enumerate() {
                out[i.min(len - 1)] += k;
            }
            out
        };
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
        let v_groups: Vec<GroupSweep> = ids
            .iter()
            .map(|&i| v_counts[i])
            .chain(std::iter::once(rest.iter().map(|&i| v_counts[i]).sum()))
            .map(|n| GroupSweep::new(group_ranks(n)))
            .collect();
        let with_devices = devices.is_some();
        let d_groups: Vec<GroupSweep> = d_counts
            .iter()
            .map(|&n| {
                GroupSweep::new(if with_devices {
                    group_ranks(n)
                } else {
                    Vec::new()
                })
            })
            .collect();
        let plan = GroupPlan {
            versions,
            devices,
            ids,
            has_other: !rest.is_empty(),
            group_of,
            n_versions,
            n_devices,
            distinct,
        };
        (plan, v_groups, d_groups)
    }

    /// The version group of version id `a`.
    #[inline]
    fn version_group(&self, a: u16) -> usize {
        self.group_of[(a as usize).min(self.n_versions - 1)]
    }

    /// The device group of device id `b`.
    #[inline]
    fn device_group(&self, b: u16) -> usize {
        (b as usize).min(self.n_devices - 1)
    }

    /// The report from the filled groups; `(n, sum, sum_sq)`: of every value.
    fn report(
        &self,
        v_groups: &[GroupSweep],
        d_groups: &[GroupSweep],
        (n, sum, sum_sq): (usize, i64, i128),
    ) -> VersionReport {
        let mut out: Vec<GroupStats> = self
            .ids
            .iter()
            .enumerate()
            .map(|(g, &i)| v_groups[g].stats(&label(self.versions, i as u16)))
            .collect();
        if self.has_other {
            out.push(v_groups[self.ids.len()].stats(OTHER_LABEL));
        }
        let devices = self.devices.map(|names| {
            let mut groups: Vec<(String, &GroupSweep)> = d_groups
                .iter()
                .enumerate()
                .filter(|(_, g)| g.seen > 0)
                .map(|(i, g)| (label(names, i as u16), g))
                .collect();
            groups.sort_by(|a, b| a.0.cmp(&b.0));
            DevicePerformance {
                eta_squared: eta_squared_from_sums(
                    groups.iter().map(|(_, g)| (g.seen, g.sum)),
                    n,
                    sum,
                    sum_sq,
                ),
                groups: groups.iter().map(|(l, g)| g.stats(l)).collect(),
            }
        });
        VersionReport {
            distinct_versions: self.distinct,
            versions: out,
            devices,
        }
    }
}

/// The label of id `id` of `names` ([`NONE_LABEL`] for id 0 and empty labels).
fn label(names: &Dictionary, id: u16) -> String {
    match names.get(id as usize) {
        s if id != 0 && !s.is_empty() => s.to_string(),
        _ => NONE_LABEL.to_string(),
    }
}

/// [`version_report`] from the durations already sorted (their group ids: app version, device
/// type): a counting pass and one sweep that picks each group's ranks as they pass by.
pub fn version_report_sorted(
    sorted: &SortedDurations,
    versions: &Dictionary,
    devices: Option<&Dictionary>,
    top_n: u32,
) -> VersionReport {
    let (plan, mut v_groups, mut d_groups) =
        GroupPlan::new(sorted.group_counts(), versions, devices, top_n);
    struct Groups<'a, 'p> {
        v_groups: &'a mut [GroupSweep],
        d_groups: &'a mut [GroupSweep],
        plan: &'a GroupPlan<'p>,
        with_devices: bool,
    }
    impl Sweep for Groups<'_, '_> {
        fn part<I: Iterator<Item = (i64, u16, u16)>>(&mut self, values: I) {
            for (v, a, b) in values {
                self.v_groups[self.plan.version_group(a)].push(v);
                if self.with_devices {
                    self.d_groups[self.plan.device_group(b)].push(v);
                }
            }
        }
    }
    sorted.sweep(&mut Groups {
        v_groups: &mut v_groups,
        d_groups: &mut d_groups,
        plan: &plan,
        with_devices: devices.is_some(),
    });
    let n = sorted.len();
    plan.report(
        &v_groups,
        &d_groups,
        (n, sorted.range_sum(0, n), sorted.sum_of_squares()),
    )
}

/// Target values per coarse bucket of [`GroupedDurations::report`]: `n / COARSE_PARTS`, or
/// larger buckets when there are so many groups that their tables would pass
/// [`COARSE_CELLS`] counters.
const COARSE_PARTS: usize = 1024;
const COARSE_CELLS: usize = 1 << 20;

/// Durations with their group ids, for [`version_report`] without sorting
/// ([`Self::report`]): a bucket selection per group, linear in the values. Each value comes
/// with one id `version · n_b + device` (each clamped to its dictionary by the caller).
///
/// Why: sorting every duration (what [`SortedDurations`] needs) is the largest part of a first
/// compute — at 10M events 260–370 ms of the 550–690 ms in Chromium's worker — while the
/// report needs six ranks per group. Three passes:
/// 1. as the values come in ([`Self::push`]): counts and sums per id, Σv² and a 65,536-bucket
///    histogram of an order-preserving key ([`bucket_key`]) of every value;
/// 2. per group, counts per *coarse* bucket — consecutive fine buckets merged to hold about
///    `n / 1,024` values each (equi-depth, so a group's wanted rank lands in a small bucket
///    whatever the distribution), which keeps the per-group tables small;
/// 3. the values of the (group, coarse bucket) pairs that hold a wanted rank are collected and
///    sorted, and the ranks read from them.
///
/// Equal to [`version_report`] on the same values (unit-tested; `quantile_cont` ranks as there).
pub struct GroupedDurations {
    values: Vec<i32>,
    ids: Vec<u16>,
    n_b: usize,
    /// `(count, sum)` per id, in two tables taking the values by the parity of their index: a
    /// user's events share their device and mostly their version, and one table's counter
    /// would be a chain of dependent increments through memory.
    tables: [Vec<(u32, i64)>; 2],
    fine: Vec<u32>,
    sum_sq: i128,
}

impl GroupedDurations {
    /// Room for `capacity` values whose ids are below `n_a · n_b` (`n_a`: version ids,
    /// `n_b`: device ids).
    pub fn new(capacity: usize, n_a: usize, n_b: usize) -> Self {
        let n_ids = n_a.max(1) * n_b.max(1);
        GroupedDurations {
            values: Vec::with_capacity(capacity),
            ids: Vec::with_capacity(capacity),
            n_b: n_b.max(1),
            tables: [vec![(0, 0); n_ids], vec![(0, 0); n_ids]],
            fine: vec![0; BUCKETS],
            sum_sq: 0,
        }
    }

    /// Add one value with its id (`< n_a · n_b`).
    #[inline]
    pub fn push(&mut self, v: i32, id: u16) {
        let x = v as i64;
        let slot = &mut self.tables[self.values.len() & 1][id as usize];
        slot.0 += 1;
        slot.1 += x;
        self.fine[bucket_key(x)] += 1;
        self.sum_sq += (x * x) as i128;
        self.values.push(v);
        self.ids.push(id);
    }

    /// The values, in the order pushed.
    pub fn values(&self) -> &[i32] {
        &self.values
    }

    /// The report over the values pushed (`versions`: the version dictionary, of `n_a` ids).
    pub fn report(
        self,
        versions: &Dictionary,
        devices: Option<&Dictionary>,
        top_n: u32,
    ) -> VersionReport {
        let GroupedDurations {
            values,
            ids,
            n_b,
            tables,
            fine,
            sum_sq,
        } = self;
        let n_ids = tables[0].len();
        let n = values.len();
        let mut va = vec![(0usize, 0i64); n_ids / n_b];
        let mut db = vec![(0usize, 0i64); n_b];
        let mut sum = 0i64;
        for (id, (x, y)) in tables[0].iter().zip(&tables[1]).enumerate() {
            let (k, s) = ((x.0 + y.0) as usize, x.1 + y.1);
            va[id / n_b].0 += k;
            va[id / n_b].1 += s;
            db[id % n_b].0 += k;
            db[id % n_b].1 += s;
            sum += s;
        }
        let counts = |c: &[(usize, i64)]| c.iter().map(|&(k, _)| k).collect::<Vec<usize>>();
        let (plan, mut v_groups, mut d_groups) =
            GroupPlan::new((&counts(&va), &counts(&db)), versions, devices, top_n);
        for (a, &(k, s)) in va.iter().enumerate() {
            let g = &mut v_groups[plan.version_group(a.min(u16::MAX as usize) as u16)];
            g.seen += k;
            g.sum += s;
        }
        for (b, &(k, s)) in db.iter().enumerate() {
            let g = &mut d_groups[plan.device_group(b.min(u16::MAX as usize) as u16)];
            g.seen += k;
            g.sum += s;
        }
        if n > 0 {
            // The coarse buckets: fine buckets merged in order, a new one started when adding the
            // next non-empty fine bucket would pass the target (a fine bucket above it stays alone).
            let with_devices = devices.is_some();
            let n_vg = v_groups.len();
            let n_groups = n_vg + if with_devices { d_groups.len() } else { 0 };
            let parts = COARSE_PARTS.min(COARSE_CELLS / n_groups).max(1);
            let target = (n / parts).max(1);
            let mut coarse = vec![0u16; BUCKETS];
            let (mut c, mut held) = (0u16, 0usize);
            for (slot, &k) in coarse.iter_mut().zip(&fine) {
                let k = k as usize;
                if k > 0 && held > 0 && held + k > target && c < u16::MAX - 1 {
                    c += 1;
                    held = 0;
                }
                *slot = c;
                held += k;
            }
            drop(fine);
            let n_coarse = c as usize + 1;
            // Pass 2: counts per (group, coarse bucket); the device groups follow the versions'.
            // Each id pair's rows of the tables: its version group's and its device's.
            let rows: Vec<(usize, usize)> = (0..n_ids)
                .map(|id| {
                    let (a, b) = ((id / n_b) as u16, (id % n_b) as u16);
                    (
                        plan.version_group(a) * n_coarse,
                        (n_vg + plan.device_group(b)) * n_coarse,
                    )
                })
                .collect();
            let mut hist = vec![0u32; n_groups * n_coarse];
            if with_devices {
                for (&v, &id) in values.iter().zip(&ids) {
                    let k = coarse[bucket_key(v as i64)] as usize;
                    let (gv, gd) = rows[id as usize];
                    hist[gv + k] += 1;
                    hist[gd + k] += 1;
                }
            } else {
                for (&v, &id) in values.iter().zip(&ids) {
                    let k = coarse[bucket_key(v as i64)] as usize;
                    hist[rows[id as usize].0 + k] += 1;
                }
            }
            // Where each wanted rank lies: (slot of its (group, bucket), rank within the bucket).
            const NO_SLOT: u32 = u32::MAX;
            let mut slot_of = vec![NO_SLOT; n_groups * n_coarse];
            let mut wanted: Vec<Vec<(u32, usize)>> = Vec::with_capacity(n_groups);
            let mut slots = 0u32;
            for g in 0..n_groups {
                let sweep = if g < n_vg {
                    &v_groups[g]
                } else {
                    &d_groups[g - n_vg]
                };
                let row = &hist[g * n_coarse..(g + 1) * n_coarse];
                let mut at = Vec::with_capacity(sweep.ranks.len());
                let (mut k, mut before) = (0usize, 0usize);
                for &r in &sweep.ranks {
                    // Ranks ascend: move to the bucket holding rank r.
                    while before + row[k] as usize <= r {
                        before += row[k] as usize;
                        k += 1;
                    }
                    let s = &mut slot_of[g * n_coarse + k];
                    if *s == NO_SLOT {
                        *s = slots;
                        slots += 1;
                    }
                    at.push((*s, r - before));
                }
                wanted.push(at);
            }
            drop(hist);
            // Pass 3: collect the wanted buckets' values, then sort each.
            let mut lists: Vec<Vec<i32>> = vec![Vec::new(); slots as usize];
            for (&v, &id) in values.iter().zip(&ids) {
                let k = coarse[bucket_key(v as i64)] as usize;
                let (gv, gd) = rows[id as usize];
                let s = slot_of[gv + k];
                if s != NO_SLOT {
                    lists[s as usize].push(v);
                }
                if with_devices {
                    let s = slot_of[gd + k];
                    if s != NO_SLOT {
                        lists[s as usize].push(v);
                    }
                }
            }
            for l in &mut lists {
                l.sort_unstable();
            }
            for (g, at) in wanted.iter().enumerate() {
                let sweep = if g < n_vg {
                    &mut v_groups[g]
                } else {
                    &mut d_groups[g - n_vg]
                };
                sweep.found = at
                    .iter()
                    .map(|&(s, i)| lists[s as usize].get(i).map_or(0, |&v| v as i64))
                    .collect();
            }
        }
        plan.report(&v_groups, &d_groups, (n, sum, sum_sq))
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

    /// The selection equals the sort on shapes that stress it: durations spread over decades,
    /// heavy ties (one value for most events), negatives and `i32::MAX`, ids past the
    /// dictionaries, no device dictionary, tiny and empty inputs, and enough values that the
    /// coarse buckets hold many fine ones.
    #[test]
    fn selection_equals_sort() {
        use rand::{Rng, SeedableRng};
        let names = |n: usize| -> Dictionary {
            Dictionary::from_values(
                (0..n)
                    .map(|i| {
                        if i == 0 {
                            String::new()
                        } else {
                            format!("1.{i}")
                        }
                    })
                    .collect(),
            )
        };
        let devs = Dictionary::from_values(
            ["", "ios", "android", "web"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        );
        for seed in 0..12u64 {
            let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
            let n = [0, 1, 2, 7, 1_000, 40_000, 200_000][seed as usize % 7];
            let shape = seed % 4;
            let ev: Vec<(u16, u16, i32)> = (0..n)
                .map(|_| {
                    let v = match shape {
                        // Log-spread, as real durations.
                        0 => (10f64.powf(rng.random_range(0.0..7.5))) as i32,
                        // Mostly one value.
                        1 if rng.random_bool(0.9) => 1_234,
                        1 => rng.random_range(0..5_000),
                        // Extremes and negatives.
                        2 => match rng.random_range(0..6) {
                            0 => i32::MAX,
                            1 => i32::MIN,
                            2 => -rng.random_range(0..1_000),
                            _ => rng.random_range(0..100_000),
                        },
                        // Few distinct values.
                        _ => rng.random_range(0..4) * 1_000,
                    };
                    // Ids up to 2 past each dictionary (clamped to its last id).
                    (rng.random_range(0..12u16), rng.random_range(0..6u16), v)
                })
                .collect();
            for (top, with_devices) in [(3, true), (20, false), (0, true)] {
                let d = with_devices.then_some(&devs);
                let sorted = version_report(&ev, &names(10), d, top);
                let mut grouped = GroupedDurations::new(0, 10, 4);
                for &(a, b, v) in &ev {
                    // Ids past the dictionaries clamped, as the caller does.
                    grouped.push(v, a.min(9) * 4 + b.min(3));
                }
                let selected = grouped.report(&names(10), d, top);
                assert_eq!(selected, sorted, "seed {seed}, n {n}, top {top}");
            }
        }
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
