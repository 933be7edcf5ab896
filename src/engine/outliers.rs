//! Duration statistics and outlier handling, for event `duration_ms` and for session durations.
//!
//! **Percentiles** are `quantile_cont` (DuckDB's, PostgreSQL's `percentile_cont`): for `n`
//! sorted values `v[0..n]` and fraction `q`, let `pos = (n−1)·q`, `lo = ⌊pos⌋`, `hi = ⌈pos⌉`,
//! `d = pos − lo`; the result is `v[lo]·(1 − d) + v[hi]·d` in `f64` (the first product fused,
//! as DuckDB computes it). Empty input has no percentiles (`None`).
//!
//! **Detection** looks at the upper tail only (extremely *long* durations); a value is an
//! outlier when it is strictly greater than the threshold `t`, an integer number of ms:
//! - `cap`: `t` = the cap (default 10 h);
//! - `pct`: `t = ⌊quantile_cont(p/100)⌋`;
//! - `z`: `t = ⌊mean + z·σ⌋`, σ the population standard deviation (no outliers when σ = 0);
//! - `mad`: `t = ⌊median + z·1.4826·MAD⌋`, MAD = median of `|v − median|` (no outliers when
//!   MAD = 0).
//!
//! Since values are integers, `v > t` with the floored `t` is the same test as with the exact
//! real threshold. **Policies**: `keep` (nothing changes), `filter` (outliers leave the
//! aggregate), `cap` (outliers become `t`), `flag` (kept, and also summarised separately).
//! Null durations never enter any statistic. Because outliers are the largest values, the
//! after-policy order statistics are read from the same multiset, so one pass of
//! [`order_statistics`] serves both the before and after views.

use serde::{Deserialize, Serialize};

use super::params::{OutlierDetector, OutlierPolicy, Params};

/// Summary of a set of durations (ms). Means and percentiles are `None` when `count == 0`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DurationStats {
    pub count: u64,
    /// Exact integer sum.
    pub sum_ms: i64,
    /// `sum_ms / count`.
    pub mean_ms: Option<f64>,
    pub min_ms: Option<i64>,
    pub max_ms: Option<i64>,
    /// `quantile_cont` at 0.5, 0.9, 0.95, 0.99.
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// The quantile fractions every [`DurationStats`] carries.
pub const STAT_QUANTILES: [f64; 4] = [0.5, 0.9, 0.95, 0.99];

/// `quantile_cont` positions: the two ranks to read and the interpolation weight.
pub(crate) fn cont_ranks(n: usize, q: f64) -> (usize, usize, f64) {
    let pos = (n - 1) as f64 * q;
    let lo = pos.floor();
    let hi = pos.ceil();
    (lo as usize, (hi as usize).min(n - 1), pos - lo)
}

/// `lo·(1 − d) + hi·d` with the first product fused (one rounding), bit-for-bit what DuckDB's
/// `quantile_cont` returns for integer input (its `lo * (1.0 - d) + hi * d` compiled with FMA
/// contraction), so the differential tests can demand exact equality.
pub(crate) fn interpolate(lo: i64, hi: i64, frac: f64) -> f64 {
    if frac == 0.0 {
        lo as f64
    } else {
        (lo as f64).mul_add(1.0 - frac, hi as f64 * frac)
    }
}

/// An order-preserving 16-bit bucket key: the top bits of the value as an `f32` (so buckets are
/// ~0.8 % wide in relative terms, dense where durations are dense).
#[inline]
fn bucket_key(v: i64) -> usize {
    let bits = (v as f32).to_bits();
    let ordered = if v < 0 { !bits } else { bits | 0x8000_0000 };
    (ordered >> 16) as usize
}

/// Up to this many values, [`order_statistics`] sorts a copy instead of bucketing.
const SMALL_SORT: usize = 1 << 14;

/// The values at the given 0-based ranks of `values` sorted ascending (each rank `< len`).
///
/// Two linear passes: a 65,536-bucket histogram of an order-preserving key, then a pass
/// collecting only the values in the buckets that hold a wanted rank, which are sorted. Linear in
/// `values.len()` for spread-out data; a degenerate input whose values all share one bucket
/// costs one sort of that bucket.
pub fn order_statistics<T: Copy + Into<i64>>(values: &[T], ranks: &[usize]) -> Vec<i64> {
    if values.is_empty() || ranks.is_empty() {
        return Vec::new();
    }
    if values.len() <= SMALL_SORT {
        // Small inputs: a sort of a copy beats zeroing and scanning 65,536 buckets.
        let mut all: Vec<i64> = values.iter().map(|&v| v.into()).collect();
        all.sort_unstable();
        return ranks.iter().map(|&r| all[r]).collect();
    }
    let mut counts = vec![0u32; 1 << 16];
    for &v in values {
        counts[bucket_key(v.into())] += 1;
    }
    // Cumulative starts per bucket.
    let mut starts = vec![0u64; (1 << 16) + 1];
    for i in 0..(1 << 16) {
        starts[i + 1] = starts[i] + counts[i] as u64;
    }
    let bucket_of_rank = |r: usize| starts.partition_point(|&s| s <= r as u64) - 1;
    let mut wanted: Vec<usize> = ranks.iter().map(|&r| bucket_of_rank(r)).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut slot = vec![u8::MAX; 1 << 16];
    for (i, &b) in wanted.iter().enumerate() {
        slot[b] = i as u8;
    }
    let mut collected: Vec<Vec<i64>> = wanted
        .iter()
        .map(|&b| Vec::with_capacity(counts[b] as usize))
        .collect();
    if wanted.len() < u8::MAX as usize {
        for &v in values {
            let v: i64 = v.into();
            let s = slot[bucket_key(v)];
            if s != u8::MAX {
                collected[s as usize].push(v);
            }
        }
    } else {
        // More than 254 distinct buckets wanted: just sort everything.
        let mut all: Vec<i64> = values.iter().map(|&v| v.into()).collect();
        all.sort_unstable();
        return ranks.iter().map(|&r| all[r]).collect();
    }
    for c in &mut collected {
        c.sort_unstable();
    }
    ranks
        .iter()
        .map(|&r| {
            let b = bucket_of_rank(r);
            let i = wanted.binary_search(&b).unwrap_or(0);
            let within = r - starts[b] as usize;
            collected[i].get(within).copied().unwrap_or(0)
        })
        .collect()
}

/// `quantile_cont` of `values` at each `q` (`None` for empty input).
pub fn quantiles_cont<T: Copy + Into<i64>>(values: &[T], qs: &[f64]) -> Vec<Option<f64>> {
    if values.is_empty() {
        return vec![None; qs.len()];
    }
    let n = values.len();
    let mut ranks = Vec::with_capacity(qs.len() * 2);
    for &q in qs {
        let (lo, hi, _) = cont_ranks(n, q);
        ranks.push(lo);
        ranks.push(hi);
    }
    let stats = order_statistics(values, &ranks);
    qs.iter()
        .enumerate()
        .map(|(i, &q)| {
            let (_, _, frac) = cont_ranks(n, q);
            Some(interpolate(stats[2 * i], stats[2 * i + 1], frac))
        })
        .collect()
}

/// Outlier threshold for `values` (ms): values `> t` are outliers. `None` = nothing is.
pub fn detect_threshold<T: Copy + Into<i64>>(values: &[T], params: &Params) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    match params.outlier_detector {
        OutlierDetector::Cap => Some(params.outlier_cap_mins as i64 * 60_000),
        OutlierDetector::Percentile => {
            let q = (params.outlier_percentile / 100.0).clamp(0.0, 1.0);
            quantiles_cont(values, &[q])[0].map(|v| v.floor() as i64)
        }
        OutlierDetector::ZScore => {
            let n = values.len() as f64;
            let mean = values.iter().map(|&v| v.into() as f64).sum::<f64>() / n;
            let var = values
                .iter()
                .map(|&v| (v.into() as f64 - mean).powi(2))
                .sum::<f64>()
                / n;
            let sd = var.sqrt();
            (sd > 0.0).then(|| (mean + params.outlier_z * sd).floor() as i64)
        }
        OutlierDetector::Mad => {
            let median = quantiles_cont(values, &[0.5])[0]?;
            // Twice the deviations are integers even when the median is a half.
            let twice_median = (median * 2.0).round() as i64;
            let dev2: Vec<i64> = values
                .iter()
                .map(|&v| (2 * v.into() - twice_median).abs())
                .collect();
            let mad = quantiles_cont(&dev2, &[0.5])[0]? / 2.0;
            (mad > 0.0).then(|| (median + params.outlier_z * 1.4826 * mad).floor() as i64)
        }
    }
}

/// The effect of the outlier policy on one set of durations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutlierReport {
    /// `event_duration_ms` or `session_duration_ms`.
    pub target: String,
    pub detector: OutlierDetector,
    pub policy: OutlierPolicy,
    /// Values `> threshold_ms` are outliers; `None` when the detector found no threshold.
    pub threshold_ms: Option<i64>,
    /// Values above the threshold.
    pub detected: u64,
    /// Values the policy changed or removed (0 for keep and flag).
    pub touched: u64,
    /// Statistics of all values.
    pub before: DurationStats,
    /// Statistics under the policy (equal to `before` for keep and flag).
    pub after: DurationStats,
    /// The outliers on their own (the flag policy's separate bucket; also given for the others).
    pub outliers: DurationStats,
    /// Log-scaled histogram of the values under the policy (flagged values excluded, see
    /// `outlier_bucket`).
    pub histogram: Vec<HistogramBin>,
    /// Under `flag`: the number of values in the separate outlier bucket (not in `histogram`).
    pub outlier_bucket: u64,
}

/// One histogram bin, `[lower_ms, upper_ms)`; the last bin has no upper bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramBin {
    pub lower_ms: i64,
    pub upper_ms: Option<i64>,
    pub count: u64,
}

/// Log-scaled bin edges (ms): `(-∞, 0)` for negative values, `[0, 1024)`, then doubling from
/// 1024 ms (≈ 1 s) up to 2^27 ms (≈ 37 h), then `[2^27, ∞)`: 20 bins, found with one
/// leading-zeros count per value.
pub fn log_bin_edges() -> Vec<i64> {
    let mut e = vec![i64::MIN, 0];
    for k in 10..=27 {
        e.push(1i64 << k);
    }
    e
}

#[inline]
fn log_bin_index(v: i64) -> usize {
    if v < 0 {
        0
    } else if v < 1024 {
        1
    } else {
        // v in [2^(10+k), 2^(11+k)) → 2 + k, capped at the last bin.
        let k = 63 - (v >> 10).leading_zeros() as usize;
        (2 + k).min(19)
    }
}

/// The statistics of `values` (ms) alone: the `before` of [`outlier_report`] without a
/// threshold, histogram or policy (one pass plus the two-pass selection of 8 ranks). Empty
/// input: count 0 and every optional field `None`.
pub fn duration_stats<T: Copy + Into<i64>>(values: &[T]) -> DurationStats {
    let n = values.len();
    let mut sum: i64 = 0;
    let (mut min, mut max) = (i64::MAX, i64::MIN);
    for &v in values {
        let v: i64 = v.into();
        sum = sum.saturating_add(v);
        min = min.min(v);
        max = max.max(v);
    }
    let mut ranks = Vec::with_capacity(2 * STAT_QUANTILES.len());
    if n > 0 {
        for &q in &STAT_QUANTILES {
            let (lo, hi, _) = cont_ranks(n, q);
            ranks.push(lo);
            ranks.push(hi);
        }
    }
    let stats = order_statistics(values, &ranks);
    let qs: Vec<Option<f64>> = STAT_QUANTILES
        .iter()
        .enumerate()
        .map(|(i, &q)| {
            (n > 0).then(|| interpolate(stats[2 * i], stats[2 * i + 1], cont_ranks(n, q).2))
        })
        .collect();
    DurationStats {
        count: n as u64,
        sum_ms: sum,
        mean_ms: (n > 0).then(|| sum as f64 / n as f64),
        min_ms: (n > 0).then_some(min),
        max_ms: (n > 0).then_some(max),
        p50_ms: qs[0],
        p90_ms: qs[1],
        p95_ms: qs[2],
        p99_ms: qs[3],
    }
}

/// Statistics, policy effect and histogram for `values` (ms) under `params`' outlier knobs,
/// with `threshold` from [`detect_threshold`] (pass it in when it was computed earlier).
pub fn outlier_report<T: Copy + Into<i64>>(
    target: &str,
    values: &[T],
    threshold: Option<i64>,
    params: &Params,
) -> OutlierReport {
    let n = values.len();
    let policy = params.outlier_policy;
    let t = threshold.unwrap_or(i64::MAX);
    let mut sum: i64 = 0;
    let mut out_sum: i64 = 0;
    let mut detected = 0usize;
    let (mut min, mut max) = (i64::MAX, i64::MIN);
    let (mut out_min, mut kept_max) = (i64::MAX, i64::MIN);
    let edges = log_bin_edges();
    let mut hist = vec![0u64; edges.len()];
    for &v in values {
        let v: i64 = v.into();
        sum = sum.saturating_add(v);
        min = min.min(v);
        max = max.max(v);
        if v > t {
            detected += 1;
            out_sum = out_sum.saturating_add(v);
            out_min = out_min.min(v);
            match policy {
                OutlierPolicy::Keep => hist[log_bin_index(v)] += 1,
                OutlierPolicy::Cap => hist[log_bin_index(t)] += 1,
                OutlierPolicy::Filter | OutlierPolicy::Flag => {}
            }
        } else {
            kept_max = kept_max.max(v);
            hist[log_bin_index(v)] += 1;
        }
    }
    // Ranks needed: the quantiles of all n values, and of the n − detected kept ones.
    let kept = n - detected;
    let mut ranks = Vec::new();
    for &q in &STAT_QUANTILES {
        for (which, m) in [n, kept, detected].into_iter().enumerate() {
            if m > 0 {
                let (lo, hi, _) = cont_ranks(m, q);
                // Outliers are the top `detected` values: rank r among them is kept + r overall.
                let base = if which == 2 { kept } else { 0 };
                ranks.push(base + lo);
                ranks.push(base + hi);
            }
        }
    }
    let stats = order_statistics(values, &ranks);
    let mut it = stats.into_iter();
    let mut q_all = Vec::new();
    let mut q_kept = Vec::new();
    let mut q_out = Vec::new();
    // Raw order statistics at the all-values ranks, reused by the cap policy.
    let mut raw_all: Vec<(i64, i64)> = Vec::new();
    for &q in &STAT_QUANTILES {
        for (which, (m, dst)) in [(n, &mut q_all), (kept, &mut q_kept), (detected, &mut q_out)]
            .into_iter()
            .enumerate()
        {
            if m > 0 {
                let (_, _, frac) = cont_ranks(m, q);
                let lo = it.next().unwrap_or(0);
                let hi = it.next().unwrap_or(0);
                if which == 0 {
                    raw_all.push((lo, hi));
                }
                dst.push(Some(interpolate(lo, hi, frac)));
            } else {
                dst.push(None);
            }
        }
    }
    let mk = |count: usize, sum: i64, min: i64, max: i64, qs: &[Option<f64>]| DurationStats {
        count: count as u64,
        sum_ms: sum,
        mean_ms: (count > 0).then(|| sum as f64 / count as f64),
        min_ms: (count > 0).then_some(min),
        max_ms: (count > 0).then_some(max),
        p50_ms: qs[0],
        p90_ms: qs[1],
        p95_ms: qs[2],
        p99_ms: qs[3],
    };
    let before = mk(n, sum, min, max, &q_all);
    let outliers = mk(detected, out_sum, out_min, max, &q_out);
    let after = match policy {
        OutlierPolicy::Keep | OutlierPolicy::Flag => before.clone(),
        OutlierPolicy::Filter => mk(kept, sum - out_sum, min, kept_max, &q_kept),
        OutlierPolicy::Cap => {
            // Ranks below `kept` read the original multiset; ranks in the capped tail are `t`.
            let mut qs_cap = Vec::new();
            for (i, &q) in STAT_QUANTILES.iter().enumerate() {
                if n == 0 {
                    qs_cap.push(None);
                    continue;
                }
                let (lo, hi, frac) = cont_ranks(n, q);
                let lo_v = if lo >= kept { t } else { raw_all[i].0 };
                let hi_v = if hi >= kept { t } else { raw_all[i].1 };
                qs_cap.push(Some(interpolate(lo_v, hi_v, frac)));
            }
            let capped_sum = sum - out_sum + detected as i64 * t;
            let capped_max = if detected > 0 { t } else { max };
            mk(n, capped_sum, min.min(capped_max), capped_max, &qs_cap)
        }
    };
    let touched = match policy {
        OutlierPolicy::Keep | OutlierPolicy::Flag => 0,
        OutlierPolicy::Filter | OutlierPolicy::Cap => detected as u64,
    };
    let histogram = edges
        .iter()
        .enumerate()
        .map(|(i, &lo)| HistogramBin {
            lower_ms: lo,
            upper_ms: edges.get(i + 1).copied(),
            count: hist[i],
        })
        .collect();
    OutlierReport {
        target: target.to_string(),
        detector: params.outlier_detector,
        policy,
        threshold_ms: threshold,
        detected: detected as u64,
        touched,
        before,
        after,
        outliers,
        histogram,
        outlier_bucket: if policy == OutlierPolicy::Flag {
            detected as u64
        } else {
            0
        },
    }
}

/// Apply the policy to one value for downstream sums (e.g. a session's active time): `None`
/// when the value is filtered out.
#[inline]
pub fn apply_policy(v: i64, threshold: Option<i64>, policy: OutlierPolicy) -> Option<i64> {
    match threshold {
        Some(t) if v > t => match policy {
            OutlierPolicy::Keep | OutlierPolicy::Flag => Some(v),
            OutlierPolicy::Filter => None,
            OutlierPolicy::Cap => Some(t),
        },
        _ => Some(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_stats_equal_the_report_before() {
        let p = Params::default();
        for n in [0usize, 1, 2, 7, 100, 20_000, 70_000] {
            let values: Vec<i64> = (0..n as i64)
                .map(|i| (i * 7_919 + (i % 13) * 1_000_003) % 9_000_001 - 5)
                .collect();
            assert_eq!(
                duration_stats(&values),
                outlier_report("x", &values, None, &p).before,
                "n = {n}"
            );
        }
    }

    fn naive_quantile(values: &[i64], q: f64) -> f64 {
        let mut v = values.to_vec();
        v.sort_unstable();
        let (lo, hi, frac) = cont_ranks(v.len(), q);
        interpolate(v[lo], v[hi], frac)
    }

    #[test]
    fn quantile_cont_matches_definition() {
        // n = 4: pos(0.5) = 1.5 → 2 + 0.5·(3 − 2) = 2.5.
        assert_eq!(quantiles_cont(&[4, 1, 3, 2], &[0.5]), vec![Some(2.5)]);
        assert_eq!(quantiles_cont(&[7], &[0.99]), vec![Some(7.0)]);
        assert_eq!(quantiles_cont::<i64>(&[], &[0.5]), vec![None]);
        // Random data, including negatives and huge values, against a full sort.
        let mut x: u64 = 1;
        let values: Vec<i64> = (0..50_000)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 20) % 10_000_000) as i64 - 1000
            })
            .collect();
        for q in [0.0, 0.01, 0.5, 0.9, 0.95, 0.99, 1.0] {
            assert_eq!(
                quantiles_cont(&values, &[q])[0],
                Some(naive_quantile(&values, q))
            );
        }
        // Degenerate: all equal.
        assert_eq!(quantiles_cont(&[5; 1000], &[0.9]), vec![Some(5.0)]);
    }

    #[test]
    fn policies() {
        let values: Vec<i64> = vec![1, 2, 3, 4, 100];
        let p = Params {
            outlier_cap_mins: 0,
            ..Params::default()
        };
        let t = Some(10);
        let keep = outlier_report("x", &values, t, &p);
        assert_eq!((keep.detected, keep.touched), (1, 0));
        assert_eq!(keep.after, keep.before);
        assert_eq!(keep.before.sum_ms, 110);
        assert_eq!(keep.outliers.count, 1);
        let filter = outlier_report(
            "x",
            &values,
            t,
            &Params {
                outlier_policy: OutlierPolicy::Filter,
                ..p.clone()
            },
        );
        assert_eq!(filter.touched, 1);
        assert_eq!(filter.after.count, 4);
        assert_eq!(filter.after.sum_ms, 10);
        assert_eq!(filter.after.p50_ms, Some(2.5));
        assert_eq!(filter.after.max_ms, Some(4));
        let cap = outlier_report(
            "x",
            &values,
            t,
            &Params {
                outlier_policy: OutlierPolicy::Cap,
                ..p.clone()
            },
        );
        assert_eq!(cap.after.sum_ms, 20);
        assert_eq!(cap.after.max_ms, Some(10));
        // p99: pos = 3.96 → 4·0.04 + 10·0.96.
        assert_eq!(
            cap.after.p99_ms,
            Some(4f64.mul_add(1.0 - 0.96, 10.0 * 0.96))
        );
        let flag = outlier_report(
            "x",
            &values,
            t,
            &Params {
                outlier_policy: OutlierPolicy::Flag,
                ..p
            },
        );
        assert_eq!(flag.outlier_bucket, 1);
        assert_eq!(flag.histogram.iter().map(|b| b.count).sum::<u64>(), 4);
        assert_eq!(apply_policy(100, t, OutlierPolicy::Cap), Some(10));
        assert_eq!(apply_policy(100, t, OutlierPolicy::Filter), None);
        assert_eq!(apply_policy(10, t, OutlierPolicy::Filter), Some(10));
    }

    #[test]
    fn detectors() {
        let mut values: Vec<i64> = (1..=100).collect();
        values.push(10_000);
        let p = |d, z| Params {
            outlier_detector: d,
            outlier_z: z,
            ..Params::default()
        };
        assert_eq!(
            detect_threshold(&values, &p(OutlierDetector::Cap, 3.0)),
            Some(36_000_000)
        );
        // p99 of 1..=100, 10000: pos 99 → value 100.
        assert_eq!(
            detect_threshold(&values, &p(OutlierDetector::Percentile, 3.0)),
            Some(100)
        );
        let z = detect_threshold(&values, &p(OutlierDetector::ZScore, 3.0)).unwrap();
        assert!(z > 100 && z < 10_000, "{z}");
        // median 51, MAD 25 → 51 + 3·1.4826·25 = 162.195 → 162.
        assert_eq!(
            detect_threshold(&values, &p(OutlierDetector::Mad, 3.0)),
            Some(162)
        );
        assert_eq!(
            detect_threshold(&[5, 5, 5], &p(OutlierDetector::Mad, 3.0)),
            None
        );
        assert_eq!(
            detect_threshold(&[5, 5, 5], &p(OutlierDetector::ZScore, 3.0)),
            None
        );
    }

    #[test]
    fn log_bins() {
        assert_eq!(log_bin_index(-5), 0);
        assert_eq!(log_bin_index(1_023), 1);
        assert_eq!(log_bin_index(1_024), 2);
        assert_eq!(log_bin_index(2_047), 2);
        assert_eq!(log_bin_index(2_048), 3);
        assert_eq!(log_bin_index((1 << 27) - 1), 18);
        assert_eq!(log_bin_index(1 << 27), 19);
        // Each value lands in the bin whose edges enclose it.
        let e = log_bin_edges();
        for v in [-5i64, 0, 500, 1024, 5000, 3_600_000, 1 << 27, i64::MAX] {
            let i = log_bin_index(v);
            assert!(e[i] <= v && e.get(i + 1).is_none_or(|&hi| v < hi), "{v}");
        }
        assert_eq!(log_bin_index(i64::MAX), 19);
        assert_eq!(log_bin_edges().len(), 20);
    }
}
