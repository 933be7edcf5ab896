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
use super::prefetch;

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

impl DurationStats {
    /// The stats of `count` values with this sum, min, max and the [`STAT_QUANTILES`] in
    /// order; mean, min and max are `None` for no values.
    fn from_parts(count: usize, sum: i64, min: i64, max: i64, qs: &[Option<f64>]) -> Self {
        DurationStats {
            count: count as u64,
            sum_ms: sum,
            mean_ms: (count > 0).then(|| sum as f64 / count as f64),
            min_ms: (count > 0).then_some(min),
            max_ms: (count > 0).then_some(max),
            p50_ms: qs[0],
            p90_ms: qs[1],
            p95_ms: qs[2],
            p99_ms: qs[3],
        }
    }
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
pub(crate) fn bucket_key(v: i64) -> usize {
    let bits = (v as f32).to_bits();
    // A negative value's bits all flipped, a non-negative one's sign bit set: one xor with a
    // mask made from the sign, so the counting loops have no branch on it (a third of the
    // session durations are 0 and the rest positive, in no order).
    let flip = 0x8000_0000 | (v >> 63) as u32;
    ((bits ^ flip) >> 16) as usize
}

/// How many [`bucket_key`] buckets there are.
pub(crate) const BUCKETS: usize = 1 << 16;

/// A table with one `fill` per [`bucket_key`] bucket, typed by its length so that a bucket key
/// indexes it without a bounds check.
fn bucket_table<T: Clone>(fill: T) -> Box<[T; BUCKETS]> {
    vec![fill; BUCKETS]
        .into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| unreachable!("a vector of BUCKETS items"))
}

/// The one integer a [`bucket_key`] bucket can hold, if it holds only one: every non-negative
/// integer below 2^24 is an exact `f32`, so a bucket in that range holds the integers from its
/// lowest `f32` rounded up to its highest rounded down. (Below 256 each bucket holds one
/// integer: session durations of 0 ms — single-event sessions — fill one such bucket.)
fn bucket_single_value(key: usize) -> Option<i64> {
    if key < 0x8000 {
        return None; // negative values
    }
    let lo_bits = ((key & 0x7fff) as u32) << 16;
    let (lo, hi) = (f32::from_bits(lo_bits), f32::from_bits(lo_bits | 0xffff));
    (hi < 16_777_216.0 && lo.ceil() == hi.floor()).then_some(lo.ceil() as i64)
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
    let mut counts = BucketCounts::for_len(values.len());
    if let Some(c) = &mut counts.0 {
        for block in prefetch::touched_blocks(values) {
            for &v in block {
                c.add(v.into());
            }
        }
    }
    counts.order_statistics(values, ranks)
}

/// The first pass of [`order_statistics`] — the count per [`bucket_key`] bucket — when a caller
/// reads every value anyway (the stats pass of [`duration_stats`] and [`outlier_report`]) and
/// counts in that pass, saving one pass over the values. `None` for small inputs, which sort a
/// copy instead.
struct BucketCounts(Option<Box<[u32; BUCKETS]>>);

/// Where a stats pass counts each value's bucket: the [`BucketCounts`] table, or nowhere (small
/// inputs). The passes are monomorphised on it, so the counting loop tests no `Option` per
/// value, and a table indexed by a 16-bit key needs no bounds check.
pub(crate) trait BucketSink {
    fn add(&mut self, v: i64);
}

impl BucketSink for [u32; BUCKETS] {
    #[inline(always)]
    fn add(&mut self, v: i64) {
        self[bucket_key(v)] += 1;
    }
}

impl BucketSink for () {
    #[inline(always)]
    fn add(&mut self, _: i64) {}
}

/// A stats pass's accumulator for one value at a time ([`StatsTally`], [`OutlierTally`]).
///
/// The passes feed the even-indexed values to one accumulator (with its own bucket table) and
/// the odd-indexed ones to a second, then merge the two. Why: every accumulator counts into
/// tables (buckets, log bins), and equal neighbours — a third of the session durations are
/// 0 ms, single-event sessions — make each increment wait for the previous one to the same
/// counter (a store-to-load chain of ~5 cycles); two accumulators make two independent chains
/// (measured natively on the sample's session durations: that pass 2.7 → 2.2 ms).
pub(crate) trait Tally: Sized {
    fn add<B: BucketSink>(&mut self, v: i64, buckets: &mut B);
    fn merge(self, other: Self) -> Self;
}

/// Feed `values` in pairs to the tallies `a` (even positions) and `b` (odd), counting each
/// value's bucket in `a`'s table or `b`'s (see [`Tally`]).
#[inline(always)]
fn pairs<T: Copy + Into<i64>, A: Tally, B: BucketSink>(
    values: &[T],
    a: &mut A,
    b: &mut A,
    (ba, bb): (&mut B, &mut B),
) {
    let mut pairs = values.chunks_exact(2);
    for p in &mut pairs {
        a.add(p[0].into(), ba);
        b.add(p[1].into(), bb);
    }
    for &v in pairs.remainder() {
        a.add(v.into(), ba);
    }
}

impl BucketCounts {
    fn for_len(n: usize) -> BucketCounts {
        BucketCounts((n > SMALL_SORT).then(|| bucket_table(0u32)))
    }

    /// [`order_statistics`] of `values`, which are exactly the counted values.
    fn order_statistics<T: Copy + Into<i64>>(&self, values: &[T], ranks: &[usize]) -> Vec<i64> {
        if values.is_empty() || ranks.is_empty() {
            return Vec::new();
        }
        match &self.0 {
            Some(counts) => select_ranks(values, &counts[..], ranks),
            None => sorted_statistics(values, ranks),
        }
    }
}

/// [`order_statistics`] by sorting a copy (small inputs, or too many buckets wanted).
fn sorted_statistics<T: Copy + Into<i64>>(values: &[T], ranks: &[usize]) -> Vec<i64> {
    let mut all: Vec<i64> = values.iter().map(|&v| v.into()).collect();
    all.sort_unstable();
    ranks.iter().map(|&r| all[r]).collect()
}

/// [`order_statistics`]' second pass: collect the values in the buckets that hold a wanted rank
/// (`counts`: the bucket counts of `values`) and sort only those.
fn select_ranks<T: Copy + Into<i64>>(values: &[T], counts: &[u32], ranks: &[usize]) -> Vec<i64> {
    // Cumulative starts per bucket.
    let mut starts = vec![0u64; (1 << 16) + 1];
    for i in 0..(1 << 16) {
        starts[i + 1] = starts[i] + counts[i] as u64;
    }
    let bucket_of_rank = |r: usize| starts.partition_point(|&s| s <= r as u64) - 1;
    // Buckets that hold a single value answer their ranks without collecting their values
    // (a bucket of 0 ms session durations can hold a third of the values).
    let mut wanted: Vec<usize> = ranks
        .iter()
        .map(|&r| bucket_of_rank(r))
        .filter(|&b| bucket_single_value(b).is_none())
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.is_empty() {
        return ranks
            .iter()
            .filter_map(|&r| bucket_single_value(bucket_of_rank(r)))
            .collect();
    }
    if wanted.len() >= u8::MAX as usize {
        // More than 254 distinct buckets wanted: just sort everything.
        return sorted_statistics(values, ranks);
    }
    let mut slot = bucket_table(u8::MAX);
    for (i, &b) in wanted.iter().enumerate() {
        slot[b] = i as u8;
    }
    let mut collected: Vec<Vec<i64>> = wanted
        .iter()
        .map(|&b| Vec::with_capacity(counts[b] as usize))
        .collect();
    for block in prefetch::touched_blocks(values) {
        for &v in block {
            let v: i64 = v.into();
            let s = slot[bucket_key(v)];
            if s != u8::MAX {
                collected[s as usize].push(v);
            }
        }
    }
    for c in &mut collected {
        c.sort_unstable();
    }
    ranks
        .iter()
        .map(|&r| {
            let b = bucket_of_rank(r);
            if let Some(v) = bucket_single_value(b) {
                return v;
            }
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

/// The threshold [`detect_threshold`] finds for any non-empty input, when the detector does
/// not look at the values (the cap): `Some(threshold)`; `None` when it does. A producer of the
/// values can then run [`outlier_report`]'s first pass as it produces them
/// ([`StreamedOutliers`]).
pub fn threshold_before_values(params: &Params) -> Option<Option<i64>> {
    match params.outlier_detector {
        OutlierDetector::Cap => Some(Some(params.outlier_cap_mins as i64 * 60_000)),
        OutlierDetector::Percentile | OutlierDetector::ZScore | OutlierDetector::Mad => None,
    }
}

/// Outlier threshold for `values` (ms): values `> t` are outliers. `None` = nothing is.
pub fn detect_threshold<T: Copy + Into<i64>>(values: &[T], params: &Params) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    match params.outlier_detector {
        OutlierDetector::Cap => threshold_before_values(params).flatten(),
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
    // v < 0 → 0; [0, 1024) → 1; [2^(10+k), 2^(11+k)) → 2 + k, capped at the last bin. Without
    // branches: the sessions' durations (many 0, many not) made them unpredictable.
    // The sign as a mask, so that LLVM does not branch on `v ≤ 0` either.
    let negative = (v >> 63) as u64;
    let k = 64 - (((v as u64) & !negative) >> 10).leading_zeros() as usize;
    (1 + k).min(19) & !(negative as usize)
}

/// How many bins [`log_bin_edges`] makes.
const LOG_BINS: usize = 20;

/// A running sum that saturates in the order of the values, computed as a wrapping sum
/// (cheaper per value than a saturating add, which wasm has no instruction for, and one that
/// can be split into interleaved partial sums, see [`Tally`]). When no prefix of the values
/// can overflow — `count · max |v| ≤ i64::MAX` — the wrapping sum is exact and equals the
/// saturating one; otherwise (only absurd durations, near 2^63 / count ms) the saturating sum
/// is redone in order. So the result is always the in-order saturating sum.
#[derive(Default, Clone, Copy)]
struct SaturatingSum(i64);

impl SaturatingSum {
    #[inline(always)]
    fn add(&mut self, v: i64) {
        self.0 = self.0.wrapping_add(v);
    }

    /// The sum of two partial sums (wrapping).
    fn merge(self, other: SaturatingSum) -> SaturatingSum {
        SaturatingSum(self.0.wrapping_add(other.0))
    }

    /// The saturating sum in order of the `count` values of `values` that `keep` selects, which
    /// are the values added; every value of `values` lies in `[min, max]`.
    fn finish<T: Copy + Into<i64>>(
        self,
        values: &[T],
        keep: impl Fn(i64) -> bool,
        (count, min, max): (usize, i64, i64),
    ) -> i64 {
        let largest = i128::from(min).abs().max(i128::from(max).abs());
        if count == 0 || largest * count as i128 <= i128::from(i64::MAX) {
            return self.0;
        }
        values
            .iter()
            .map(|&v| v.into())
            .filter(|&v| keep(v))
            .fold(0i64, i64::saturating_add)
    }
}

/// [`duration_stats`]' pass: the sum, min and max, each value counted in the buckets.
#[derive(Clone)]
pub(crate) struct StatsTally {
    sum: SaturatingSum,
    min: i64,
    max: i64,
}

impl StatsTally {
    fn new() -> Self {
        StatsTally {
            sum: SaturatingSum::default(),
            min: i64::MAX,
            max: i64::MIN,
        }
    }
}

impl Tally for StatsTally {
    #[inline(always)]
    fn add<B: BucketSink>(&mut self, v: i64, buckets: &mut B) {
        self.sum.add(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        buckets.add(v);
    }

    fn merge(self, o: Self) -> Self {
        StatsTally {
            sum: self.sum.merge(o.sum),
            min: self.min.min(o.min),
            max: self.max.max(o.max),
        }
    }
}

/// What [`outlier_report`]'s pass gathers: over all values, over those above the threshold,
/// and over the kept ones; the log-bin histogram of the kept values and, apart, of the
/// outliers (placed by the policy after the pass, so the loop has no branch on it).
#[derive(Clone)]
pub(crate) struct OutlierTally {
    /// The threshold (`i64::MAX`: none); values above it are outliers.
    t: i64,
    all_sum: SaturatingSum,
    min: i64,
    max: i64,
    detected: usize,
    outlier_sum: SaturatingSum,
    out_min: i64,
    kept_max: i64,
    kept_bins: [u64; LOG_BINS],
    outlier_bins: [u64; LOG_BINS],
}

impl OutlierTally {
    /// An empty tally for threshold `t` (`i64::MAX`: none).
    fn new(t: i64) -> Self {
        OutlierTally {
            t,
            all_sum: SaturatingSum::default(),
            min: i64::MAX,
            max: i64::MIN,
            detected: 0,
            outlier_sum: SaturatingSum::default(),
            out_min: i64::MAX,
            kept_max: i64::MIN,
            kept_bins: [0; LOG_BINS],
            outlier_bins: [0; LOG_BINS],
        }
    }
}

impl Tally for OutlierTally {
    #[inline(always)]
    fn add<B: BucketSink>(&mut self, v: i64, buckets: &mut B) {
        self.all_sum.add(v);
        buckets.add(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        let bin = log_bin_index(v);
        if v > self.t {
            self.detected += 1;
            self.outlier_sum.add(v);
            self.out_min = self.out_min.min(v);
            self.outlier_bins[bin] += 1;
        } else {
            self.kept_max = self.kept_max.max(v);
            self.kept_bins[bin] += 1;
        }
    }

    fn merge(mut self, o: Self) -> Self {
        for (x, y) in self.kept_bins.iter_mut().zip(o.kept_bins) {
            *x += y;
        }
        for (x, y) in self.outlier_bins.iter_mut().zip(o.outlier_bins) {
            *x += y;
        }
        OutlierTally {
            t: self.t,
            all_sum: self.all_sum.merge(o.all_sum),
            min: self.min.min(o.min),
            max: self.max.max(o.max),
            detected: self.detected + o.detected,
            outlier_sum: self.outlier_sum.merge(o.outlier_sum),
            out_min: self.out_min.min(o.out_min),
            kept_max: self.kept_max.max(o.kept_max),
            kept_bins: self.kept_bins,
            outlier_bins: self.outlier_bins,
        }
    }
}

/// The first pass of [`duration_stats`] (no threshold) or of [`outlier_report`] (with one),
/// fed slice by slice: by those functions, a touched block at a time (see `prefetch`), and by
/// a producer of the values — the session walk, which hands over each few thousand session
/// durations and active times it has just written, while they are still in cache — so that
/// the statistics need no pass of their own over the values in memory.
///
/// Two interleaved tallies, each with its own bucket table (see [`Tally`]). Which value goes to
/// which does not matter: they merge into the same result.
pub(crate) struct StreamedPass<A> {
    a: A,
    b: A,
    counts: BucketCounts,
    /// `b`'s bucket table, when there are tables.
    second: BucketCounts,
}

/// [`StreamedPass`] for [`duration_stats`].
pub(crate) type StreamedStats = StreamedPass<StatsTally>;
/// [`StreamedPass`] for [`outlier_report`].
pub(crate) type StreamedOutliers = StreamedPass<OutlierTally>;

impl<A: Tally + Clone> StreamedPass<A> {
    /// Both tallies `empty`; bucket tables when at least `at_least` values will come (fewer:
    /// the selection sorts a copy instead). A low guess only costs speed, never correctness.
    fn with(empty: A, at_least: usize) -> Self {
        let counts = BucketCounts::for_len(at_least);
        let second = BucketCounts::for_len(at_least);
        StreamedPass {
            a: empty.clone(),
            b: empty,
            counts,
            second,
        }
    }

    /// The next values, in order.
    #[inline(always)]
    pub(crate) fn add_slice<T: Copy + Into<i64>>(&mut self, values: &[T]) {
        let (a, b) = (&mut self.a, &mut self.b);
        match (&mut self.counts.0, &mut self.second.0) {
            (Some(ta), Some(tb)) => pairs(values, a, b, (&mut **ta, &mut **tb)),
            _ => pairs(values, a, b, (&mut (), &mut ())),
        }
    }

    /// The merged tally and bucket counts.
    fn merged(self) -> (A, BucketCounts) {
        let StreamedPass {
            a,
            b,
            mut counts,
            second,
        } = self;
        if let (Some(x), Some(y)) = (&mut counts.0, &second.0) {
            for (x, y) in x.iter_mut().zip(y.iter()) {
                *x += y;
            }
        }
        (a.merge(b), counts)
    }
}

impl StreamedStats {
    /// An empty pass, for at least `at_least` values.
    pub(crate) fn new(at_least: usize) -> Self {
        StreamedPass::with(StatsTally::new(), at_least)
    }

    /// [`duration_stats`] of `values`, which are exactly the values added, in order.
    pub(crate) fn finish<T: Copy + Into<i64>>(self, values: &[T]) -> DurationStats {
        let (tally, counts) = self.merged();
        stats_from_tally(values, tally, counts)
    }
}

impl StreamedOutliers {
    /// An empty pass for the outlier `threshold`, for at least `at_least` values.
    pub(crate) fn new(threshold: Option<i64>, at_least: usize) -> Self {
        StreamedPass::with(OutlierTally::new(threshold.unwrap_or(i64::MAX)), at_least)
    }

    /// Whether the pass was made for `threshold`.
    pub(crate) fn made_for(&self, threshold: Option<i64>) -> bool {
        self.a.t == threshold.unwrap_or(i64::MAX)
    }

    /// [`outlier_report`] of `values`, which are exactly the values added, in order, for the
    /// threshold the pass was made for ([`StreamedOutliers::made_for`]).
    pub(crate) fn finish<T: Copy + Into<i64>>(
        self,
        target: &str,
        values: &[T],
        threshold: Option<i64>,
        params: &Params,
    ) -> OutlierReport {
        let (tally, counts) = self.merged();
        report_from_tally(target, values, threshold, params, tally, counts)
    }
}

/// Feed `pass` every value of `values`, a touched block at a time (see `prefetch`).
fn pass_over<T: Copy + Into<i64>, A: Tally + Clone>(pass: &mut StreamedPass<A>, values: &[T]) {
    for block in prefetch::touched_blocks(values) {
        pass.add_slice(block);
    }
}

/// The statistics of `values` (ms) alone: the `before` of [`outlier_report`] without a
/// threshold, histogram or policy (one pass plus the two-pass selection of 8 ranks). Empty
/// input: count 0 and every optional field `None`.
///
/// Never inlined: inside a large caller (`MetricsCache::run`), wasm's code kept the pass's
/// accumulators in memory.
#[inline(never)]
pub fn duration_stats<T: Copy + Into<i64>>(values: &[T]) -> DurationStats {
    let mut pass = StreamedStats::new(values.len());
    pass_over(&mut pass, values);
    pass.finish(values)
}

/// [`duration_stats`] after its first pass: `tally` and `counts` (the bucket counts, or none
/// for a small input) hold exactly `values`.
fn stats_from_tally<T: Copy + Into<i64>>(
    values: &[T],
    StatsTally { sum, min, max }: StatsTally,
    counts: BucketCounts,
) -> DurationStats {
    let n = values.len();
    let sum = sum.finish(values, |_| true, (n, min, max));
    let mut ranks = Vec::with_capacity(2 * STAT_QUANTILES.len());
    if n > 0 {
        for &q in &STAT_QUANTILES {
            let (lo, hi, _) = cont_ranks(n, q);
            ranks.push(lo);
            ranks.push(hi);
        }
    }
    let stats = counts.order_statistics(values, &ranks);
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
    let mut pass = StreamedOutliers::new(threshold, values.len());
    pass_over(&mut pass, values);
    pass.finish(target, values, threshold, params)
}

/// [`outlier_report`] after its first pass: `tally` (for `threshold`) and `counts` (the bucket
/// counts, or none for a small input) hold exactly `values`.
fn report_from_tally<T: Copy + Into<i64>>(
    target: &str,
    values: &[T],
    threshold: Option<i64>,
    params: &Params,
    tally: OutlierTally,
    counts: BucketCounts,
) -> OutlierReport {
    let n = values.len();
    let policy = params.outlier_policy;
    let t = threshold.unwrap_or(i64::MAX);
    debug_assert_eq!(tally.t, t);
    let edges = log_bin_edges();
    debug_assert_eq!(edges.len(), LOG_BINS);
    let OutlierTally {
        t: _,
        all_sum,
        min,
        max,
        detected,
        outlier_sum,
        out_min,
        kept_max,
        kept_bins: mut hist,
        outlier_bins,
    } = tally;
    // The outliers under the policy: binned by value (keep), at the threshold (cap), or not
    // at all (filter; flag: their own bucket).
    match policy {
        OutlierPolicy::Keep => {
            for (h, k) in hist.iter_mut().zip(outlier_bins) {
                *h += k;
            }
        }
        OutlierPolicy::Cap => hist[log_bin_index(t)] += detected as u64,
        OutlierPolicy::Filter | OutlierPolicy::Flag => {}
    }
    let sum = all_sum.finish(values, |_| true, (n, min, max));
    let out_sum = outlier_sum.finish(values, |v| v > t, (detected, min, max));
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
    let stats = counts.order_statistics(values, &ranks);
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
    let mk = DurationStats::from_parts;
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

/// Event durations sorted once, for exact order statistics without a selection per query.
///
/// With the prefix sums kept every [`SUM_CHUNK`] ranks, the outlier report, every detector's
/// threshold and the per-group percentiles of [`super::versions`] are read from it in
/// `O(log n)` (plus one sweep for the groups), so an outlier-knob change no longer selects over
/// the values. The report equals [`outlier_report`] over the same multiset (the unit tests
/// compare them).
///
/// Each value carries two group ids (app version, device type). Most values are stored in
/// **4 bytes**: when both groups' ids fit in [`MAX_GROUP_BITS`] bits together, a value in
/// `[0, 2^vbits)` (`vbits` = min(22, 32 − group bits): ≥ 17 min, ~70 min for the usual
/// dictionaries) is packed as `value << group bits | ids` ([`Packing`]). Every other value —
/// negative, or at least `2^vbits` ms — is a **wide** 8-byte item ([`sorted_item`]), as all
/// are when the ids do not fit. Why: at 10M events the sorted values and the sort's scratch
/// were 16 B/event, the largest part of the metrics cache and of the browser's peak memory;
/// packed they are 8, and the radix sort moves half the bytes. Ranks: the negative wide items
/// come first, then the packed ones, then the large wide ones (each part sorted).
#[derive(Debug, Default)]
pub struct SortedDurations {
    packed: Vec<u32>,
    wide: Vec<u64>,
    /// How many wide items are negative (they rank before every packed one).
    wide_low: usize,
    packing: Option<Packing>,
    /// `packed_prefix[j]`: Σ of the values of packed items `0 .. j·SUM_CHUNK`, plus the total.
    packed_prefix: Vec<i64>,
    /// The same for the wide items.
    wide_prefix: Vec<i64>,
    /// Σ v² (exact), for the z-score detector.
    sum_sq: i128,
    /// Items per id of the first and of the second group (indexed by id; trailing ids absent).
    group_counts: (Vec<usize>, Vec<usize>),
}

/// Items per stored prefix sum of [`SortedDurations`].
const SUM_CHUNK: usize = 256;

/// At most this many bits of group ids are packed with a value in 4 bytes (so at least 20
/// bits, ~17 min, are left for the value).
const MAX_GROUP_BITS: u32 = 12;
/// Packed values use at most this many bits (~70 min): three radix digits of 8, 7 and 7 bits.
const MAX_VALUE_BITS: u32 = 22;

/// The layout of a packed item: `value << group_bits | group_a << b_bits | group_b`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Packing {
    b_bits: u32,
    group_bits: u32,
    value_bits: u32,
}

impl Packing {
    /// The packing for group ids below `groups.0` and `groups.1` (`None`: too many ids).
    fn for_groups(groups: (usize, usize)) -> Option<Packing> {
        let bits = |n: usize| usize::BITS - n.saturating_sub(1).leading_zeros();
        let (a_bits, b_bits) = (bits(groups.0), bits(groups.1));
        let group_bits = a_bits + b_bits;
        (group_bits <= MAX_GROUP_BITS).then(|| Packing {
            b_bits,
            group_bits,
            value_bits: MAX_VALUE_BITS.min(32 - group_bits),
        })
    }

    /// Bits of `group_a` and of `group_b` past their fields (0 when both ids fit).
    #[inline]
    fn ids_overflow(self, group_a: u16, group_b: u16) -> u32 {
        let a_bits = self.group_bits - self.b_bits;
        (group_a as u32 >> a_bits) | (group_b as u32 >> self.b_bits)
    }

    /// The packed item, when the value and the ids fit (one test: a negative value's sign bit
    /// is past `value_bits`).
    #[inline]
    fn pack(self, duration: i32, group_a: u16, group_b: u16) -> Option<u32> {
        let v = duration as u32;
        let fits = (v >> self.value_bits) | self.ids_overflow(group_a, group_b) == 0;
        fits.then(|| (v << self.group_bits) | ((group_a as u32) << self.b_bits) | group_b as u32)
    }

    #[inline]
    fn value(self, item: u32) -> i64 {
        (item >> self.group_bits) as i64
    }

    #[inline]
    fn groups(self, item: u32) -> (u16, u16) {
        let ids = item & ((1u32 << self.group_bits) - 1);
        (
            (ids >> self.b_bits) as u16,
            (ids & ((1u32 << self.b_bits) - 1)) as u16,
        )
    }
}

/// The wide item of [`SortedDurations`] for one duration and its two group ids: an `i32`
/// duration (order-preserving: sign bit flipped) in the high 32 bits, the two 16-bit ids below.
#[inline]
pub fn sorted_item(duration: i32, group_a: u16, group_b: u16) -> u64 {
    let key = (duration as u32) ^ 0x8000_0000;
    ((key as u64) << 32) | ((group_a as u64) << 16) | group_b as u64
}

/// The duration of a wide item.
#[inline]
pub fn item_value(item: u64) -> i32 {
    (((item >> 32) as u32) ^ 0x8000_0000) as i32
}

#[inline]
fn item_groups(item: u64) -> (u16, u16) {
    ((item >> 16) as u16, item as u16)
}

/// Radix digits of the wide items, least significant first: two low digits of 8 and 7 bits,
/// then the high 17 bits of the 32-bit key, counted as one histogram. Event durations are
/// mostly under 2^22 ms, so nearly every item has the same top 10 bits: the high 17 bits then
/// take one pass with ~128 busy buckets (the few items with other top bits land in rarely
/// written buckets), otherwise two passes of 7 and 10 bits with the histograms summed from the
/// high one. Measured at 10M events: three passes of ≤ 256 buckets over the low 22 bits beat
/// two of 2,048 (sort 85–93 → 57–61 ms; the 2,048 scattered store streams — likely their TLB
/// and write-combining misses — cost more than the extra pass), and the merged high pass saves
/// the nearly-constant top digit's pass. Packed items take the same three low digits (8, 7,
/// ≤ 7 bits of the value).
const LOW_WIDTHS: [u32; 2] = [8, 7];
const LOW_BUCKETS: usize = 1 << 8;
/// The bit where the high part of the key starts, and its width.
const HIGH_SHIFT: u32 = 15;
const HIGH_BUCKETS: usize = 1 << (32 - HIGH_SHIFT);
/// The split of the high part when it takes two passes.
const MID_BITS: u32 = 7;

/// Items collected for a [`SortedDurations`]. The radix histograms are counted when the items
/// are sorted, not as they come in: the collecting loop is then a plain push (measured: the
/// same total, a simpler hot loop).
pub struct SortedItems {
    packing: Option<Packing>,
    packed: Vec<u32>,
    wide: Vec<u64>,
    /// Set by [`Self::expect_values`]: the packed items are written straight to their place
    /// by the lowest digit.
    placed: Option<Placed>,
}

/// The packed items' value-digit histograms, counted before the collection, and the next
/// free position of each lowest-digit bucket in `packed` (pre-sized).
struct Placed {
    counts: [[u32; LOW_BUCKETS]; 3],
    next: [u32; LOW_BUCKETS],
}

/// A radix-sortable item: its 32-bit digit source.
trait RadixItem: Copy + Default {
    fn key(self) -> u32;
}

impl RadixItem for u64 {
    #[inline]
    fn key(self) -> u32 {
        (self >> 32) as u32
    }
}

impl RadixItem for u32 {
    #[inline]
    fn key(self) -> u32 {
        self
    }
}

/// One stable scatter pass of an LSD radix sort: `items` into `tmp` by the digit
/// `(key >> shift) & (counts.len() − 1)`, whose histogram is `counts` (a power-of-two length).
fn scatter_pass<T: RadixItem>(items: &[T], tmp: &mut [T], counts: &[u32], shift: u32) {
    let mut next = Vec::with_capacity(counts.len());
    let mut acc = 0u32;
    for &k in counts {
        next.push(acc);
        acc += k;
    }
    let mask = counts.len() - 1;
    for &x in items {
        let b = ((x.key() >> shift) as usize) & mask;
        tmp[next[b] as usize] = x;
        next[b] += 1;
    }
}

/// The histograms of the three value digits (8, 7 and 7 bits) of the values `< 2^value_bits`
/// of `values` (the others are never packed: negative ones, nulls, long ones). Counted in two
/// interleaved halves with a table each: most values share their top digit, and one table's
/// counter for it would be a chain of dependent increments through memory (~5 cycles an
/// item); two independent chains halve that.
fn value_histograms(
    mut values: impl Iterator<Item = u32>,
    value_bits: u32,
) -> [[u32; LOW_BUCKETS]; 3] {
    let mut a = [[0u32; LOW_BUCKETS]; 3];
    let mut b = [[0u32; LOW_BUCKETS]; 3];
    let count = |c: &mut [[u32; LOW_BUCKETS]; 3], v: u32| {
        if v >> value_bits == 0 {
            c[0][(v & 0xff) as usize] += 1;
            c[1][((v >> 8) & 0x7f) as usize] += 1;
            c[2][((v >> 15) & 0x7f) as usize] += 1;
        }
    };
    while let Some(x) = values.next() {
        count(&mut a, x);
        let Some(y) = values.next() else {
            break;
        };
        count(&mut b, y);
    }
    for (ca, cb) in a.iter_mut().zip(&b) {
        for (x, y) in ca.iter_mut().zip(cb) {
            *x += y;
        }
    }
    a
}

/// Whether a digit with histogram `counts` varies over `n` items (else its pass is skipped).
fn varies(counts: &[u32], n: usize) -> bool {
    !counts.iter().any(|&k| k as usize == n)
}

impl SortedItems {
    /// Start collecting into the buffers of `reuse` (cleared; their allocations are reused),
    /// for `capacity` items whose group ids are below `groups.0` and `groups.1`.
    pub fn new(reuse: &mut SortedDurations, capacity: usize, groups: (usize, usize)) -> Self {
        let (mut packed, mut wide) = reuse.take_buffers();
        packed.clear();
        wide.clear();
        let packing = Packing::for_groups(groups);
        if packing.is_some() {
            packed.reserve(capacity);
        } else {
            wide.reserve(capacity);
        }
        SortedItems {
            packing,
            packed,
            wide,
            placed: None,
        }
    }

    /// Announce the durations about to be pushed (every one, in any order; nulls may be
    /// included, they are never packed), so that [`Self::push`] writes each packed item
    /// straight to its place by the lowest value digit: the radix sort's first pass is done
    /// in the collection, and its digit histograms are counted from the 4-byte durations
    /// before it. Why: the sort is bound by memory traffic on this VM (each scatter pass over
    /// 9.6M items ≈ 33 ms), and the collection's plain write of every item, then the first
    /// pass's read and scattered write, become one scattered write.
    pub fn expect_values(&mut self, values: impl Iterator<Item = i32>) {
        let Some(p) = self.packing else {
            return;
        };
        let counts = value_histograms(values.map(|v| v as u32), p.value_bits);
        let mut next = [0u32; LOW_BUCKETS];
        let mut at = 0u32;
        for (slot, &k) in next.iter_mut().zip(&counts[0]) {
            *slot = at;
            at += k;
        }
        self.packed.clear();
        self.packed.resize(at as usize, 0);
        self.placed = Some(Placed { counts, next });
    }

    /// Add one duration with its two group ids.
    #[inline]
    pub fn push(&mut self, duration: i32, group_a: u16, group_b: u16) {
        if let Some(p) = self.packing {
            if let Some(x) = p.pack(duration, group_a, group_b) {
                match &mut self.placed {
                    None => self.packed.push(x),
                    Some(placed) => {
                        let b = ((x >> p.group_bits) & 0xff) as usize;
                        let at = placed.next[b] as usize;
                        // A value that was not announced (a caller's mistake) would overrun
                        // its bucket: checked once, at the sort.
                        if let Some(slot) = self.packed.get_mut(at) {
                            *slot = x;
                        }
                        placed.next[b] += 1;
                    }
                }
                return;
            }
        }
        self.push_unpacked(duration, group_a, group_b);
    }

    /// [`Self::push`] of a value that is not packed (rare: kept out of the hot loop).
    #[inline(never)]
    fn push_unpacked(&mut self, duration: i32, group_a: u16, group_b: u16) {
        if self
            .packing
            .is_some_and(|p| p.ids_overflow(group_a, group_b) != 0)
        {
            // An id past the announced groups: store every item wide from now on.
            self.unpack();
        }
        self.wide.push(sorted_item(duration, group_a, group_b));
    }

    /// Move the packed items to the wide ones (an id did not fit the packing).
    #[cold]
    fn unpack(&mut self) {
        let Some(p) = self.packing.take() else {
            return;
        };
        let packed = std::mem::take(&mut self.packed);
        let wide = |&x: &u32| {
            let (a, b) = p.groups(x);
            sorted_item(p.value(x) as i32, a, b)
        };
        match self.placed.take() {
            None => self.wide.extend(packed.iter().map(wide)),
            Some(placed) => {
                // Each bucket's items so far: from its start to its next free position.
                let mut start = 0usize;
                for (&k, &next) in placed.counts[0].iter().zip(&placed.next) {
                    let end = (next as usize).min(packed.len());
                    self.wide
                        .extend(packed[start.min(end)..end].iter().map(wide));
                    start += k as usize;
                }
            }
        }
    }

    /// Both parts sorted by value (stable LSD radix sorts; digits on which every item agrees
    /// are skipped). `scratch` serves the packed part (kept for the next sort); the wide
    /// part's, small unless nothing is packed, is freed.
    fn sorted(self, scratch: &mut Vec<u32>) -> (Option<Packing>, Vec<u32>, Vec<u64>) {
        let SortedItems {
            packing,
            mut packed,
            mut wide,
            placed,
        } = self;
        if let Some(p) = packing {
            let n = packed.len();
            // Placed items: the first digit is done (each bucket must be exactly full).
            let (packed_counts, done) = match placed {
                Some(placed) => {
                    let mut start = 0u32;
                    for (&k, &next) in placed.counts[0].iter().zip(&placed.next) {
                        start += k;
                        assert_eq!(next, start, "the durations pushed were not those announced");
                    }
                    (placed.counts, 1)
                }
                None => (
                    value_histograms(packed.iter().map(|&x| x >> p.group_bits), p.value_bits),
                    0,
                ),
            };
            if n >= 2 {
                scratch.clear();
                scratch.resize(n, 0);
                let mut shift = p.group_bits;
                for (i, (c, width)) in packed_counts
                    .iter()
                    .zip([8, 7, p.value_bits - 15])
                    .enumerate()
                {
                    let c = &c[..1 << width];
                    if i >= done && varies(c, n) {
                        scatter_pass(&packed, scratch, c, shift);
                        std::mem::swap(&mut packed, scratch);
                    }
                    shift += width;
                }
            }
        }
        let n = wide.len();
        if n >= 2 {
            let mut low = [[0u32; LOW_BUCKETS]; 2];
            let mut high = vec![0u32; HIGH_BUCKETS];
            for &x in &wide {
                let k = (x >> 32) as u32;
                low[0][(k & 0xff) as usize] += 1;
                low[1][((k >> LOW_WIDTHS[0]) & 0x7f) as usize] += 1;
                high[(k >> HIGH_SHIFT) as usize] += 1;
            }
            let mut tmp = vec![0u64; n];
            let mut shift = 0;
            for (c, width) in low.iter().zip(LOW_WIDTHS) {
                let c = &c[..1 << width];
                if varies(c, n) {
                    scatter_pass(&wide, &mut tmp, c, shift);
                    std::mem::swap(&mut wide, &mut tmp);
                }
                shift += width;
            }
            // The high part's two digits' histograms, summed from the high one.
            let mut mid = [0u32; 1 << MID_BITS];
            let mut top = vec![0u32; HIGH_BUCKETS >> MID_BITS];
            for (i, &k) in high.iter().enumerate() {
                mid[i & ((1 << MID_BITS) - 1)] += k;
                top[i >> MID_BITS] += k;
            }
            let top_max = top.iter().copied().max().unwrap_or(0) as usize;
            if top_max >= n - n / 64 {
                // Nearly one top digit: one pass over the high 17 bits (none when they all agree).
                if varies(&high[..], n) {
                    scatter_pass(&wide, &mut tmp, &high[..], HIGH_SHIFT);
                    std::mem::swap(&mut wide, &mut tmp);
                }
            } else {
                for (c, shift) in [(&mid[..], HIGH_SHIFT), (&top[..], HIGH_SHIFT + MID_BITS)] {
                    if varies(c, n) {
                        scatter_pass(&wide, &mut tmp, c, shift);
                        std::mem::swap(&mut wide, &mut tmp);
                    }
                }
            }
        }
        (packing, packed, wide)
    }
}

/// A pass over the values of a [`SortedDurations`] in ascending order ([`SortedDurations::sweep`]).
pub trait Sweep {
    /// The next values: `(value, group a, group b)`, ascending.
    fn part<I: Iterator<Item = (i64, u16, u16)>>(&mut self, values: I);
}

impl SortedDurations {
    /// Sort the collected `items` and index them; count the items per id of each group
    /// (`group_counts`). `scratch` is the sort's (its allocation is reused).
    pub fn build(&mut self, items: SortedItems, scratch: &mut Vec<u32>) {
        let (packing, packed, wide) = items.sorted(scratch);
        self.packing = packing;
        self.wide_low = wide.partition_point(|&x| item_value(x) < 0);
        self.packed = packed;
        self.wide = wide;
        // Per part: prefix sums every SUM_CHUNK items, Σ v², items per group id (tight loops
        // over each part's own encoding).
        let (mut ca, mut cb) = (vec![0usize; 1], vec![0usize; 1]);
        let mut count = |a: u16, b: u16, k: usize| {
            let (a, b) = (a as usize, b as usize);
            if a >= ca.len() {
                ca.resize(a + 1, 0);
            }
            if b >= cb.len() {
                cb.resize(b + 1, 0);
            }
            ca[a] += k;
            cb[b] += k;
        };
        let mut sum_sq = 0i128;
        self.wide_prefix.clear();
        let mut sum = 0i64;
        for chunk in self.wide.chunks(SUM_CHUNK) {
            self.wide_prefix.push(sum);
            for &x in chunk {
                let v = item_value(x) as i64;
                sum += v;
                sum_sq += (v * v) as i128;
                let (a, b) = item_groups(x);
                count(a, b, 1);
            }
        }
        self.wide_prefix.push(sum);
        self.packed_prefix.clear();
        if let Some(p) = self.packing {
            self.packed_prefix
                .reserve(self.packed.len() / SUM_CHUNK + 1);
            let mut ids = vec![0usize; 1 << p.group_bits];
            let mut sum = 0i64;
            for chunk in self.packed.chunks(SUM_CHUNK) {
                self.packed_prefix.push(sum);
                // Values < 2^22: a chunk's Σ v² < 2^52 fits an i64.
                let (mut s, mut sq) = (0i64, 0i64);
                for &x in chunk {
                    let v = p.value(x);
                    s += v;
                    sq += v * v;
                    ids[(x & ((1 << p.group_bits) - 1)) as usize] += 1;
                }
                sum += s;
                sum_sq += sq as i128;
            }
            self.packed_prefix.push(sum);
            for (id, &k) in ids.iter().enumerate() {
                if k > 0 {
                    let (a, b) = p.groups(id as u32);
                    count(a, b, k);
                }
            }
        } else {
            self.packed_prefix.push(0);
        }
        self.group_counts = (ca, cb);
        self.sum_sq = sum_sq;
    }

    /// Give the items' buffers back for reuse (the index is empty afterwards).
    fn take_buffers(&mut self) -> (Vec<u32>, Vec<u64>) {
        self.packed_prefix.clear();
        self.wide_prefix.clear();
        self.sum_sq = 0;
        self.wide_low = 0;
        self.group_counts = Default::default();
        (
            std::mem::take(&mut self.packed),
            std::mem::take(&mut self.wide),
        )
    }

    /// Items per id of the first / second group id.
    pub fn group_counts(&self) -> (&[usize], &[usize]) {
        (&self.group_counts.0, &self.group_counts.1)
    }

    /// Run `sweep` over every `(value, group a, group b)` in ascending order of value: one
    /// [`Sweep::part`] call per stored part (negative wide, packed, large wide items), each
    /// monomorphised for its decoding so the sweep's loop body is compiled inline.
    pub fn sweep<S: Sweep>(&self, sweep: &mut S) {
        let (low, high) = self.wide.split_at(self.wide_low);
        let wide = |&x: &u64| {
            let (a, b) = item_groups(x);
            (item_value(x) as i64, a, b)
        };
        sweep.part(low.iter().map(wide));
        if let Some(p) = self.packing {
            sweep.part(self.packed.iter().map(move |&x| {
                let (a, b) = p.groups(x);
                (p.value(x), a, b)
            }));
        }
        sweep.part(high.iter().map(wide));
    }

    /// Every `(value, group a, group b)` in ascending order of value.
    pub fn for_each(&self, f: impl FnMut(i64, u16, u16)) {
        struct Each<F>(F);
        impl<F: FnMut(i64, u16, u16)> Sweep for Each<F> {
            fn part<I: Iterator<Item = (i64, u16, u16)>>(&mut self, values: I) {
                for (v, a, b) in values {
                    (self.0)(v, a, b);
                }
            }
        }
        self.sweep(&mut Each(f));
    }

    /// Bytes held by the sorted items.
    pub fn heap_bytes(&self) -> usize {
        self.packed.capacity() * 4
            + self.wide.capacity() * 8
            + (self.packed_prefix.capacity() + self.wide_prefix.capacity()) * 8
    }

    /// Σ v² over the values (exact).
    pub fn sum_of_squares(&self) -> i128 {
        self.sum_sq
    }

    pub fn len(&self) -> usize {
        self.packed.len() + self.wide.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of rank `i` (0-based, ascending).
    #[inline]
    pub fn get(&self, i: usize) -> i64 {
        if i < self.wide_low {
            return item_value(self.wide[i]) as i64;
        }
        match (self.packing, self.packed.get(i - self.wide_low)) {
            (Some(p), Some(&x)) => p.value(x),
            _ => item_value(self.wide[i - self.packed.len()]) as i64,
        }
    }

    /// Σ of the values of ranks `0..i`.
    fn prefix(&self, i: usize) -> i64 {
        fn part<T: Copy>(items: &[T], prefix: &[i64], i: usize, value: impl Fn(T) -> i64) -> i64 {
            let j = i / SUM_CHUNK;
            let base = prefix.get(j).copied().unwrap_or(0);
            base + items[j * SUM_CHUNK..i]
                .iter()
                .map(|&x| value(x))
                .sum::<i64>()
        }
        let wide = |i| part(&self.wide, &self.wide_prefix, i, |x| item_value(x) as i64);
        let packed = |i| match self.packing {
            Some(p) => part(&self.packed, &self.packed_prefix, i, |x| p.value(x)),
            None => 0,
        };
        let (low, n_packed) = (self.wide_low, self.packed.len());
        if i <= low {
            wide(i)
        } else if i <= low + n_packed {
            wide(low) + packed(i - low)
        } else {
            wide(i - n_packed) + packed(n_packed)
        }
    }

    /// Σ of the values of ranks `a..b`.
    pub fn range_sum(&self, a: usize, b: usize) -> i64 {
        self.prefix(b) - self.prefix(a)
    }

    /// How many values are `< v` (`v` any `i64`).
    pub fn count_below(&self, v: i64) -> usize {
        let wide = if v <= i32::MIN as i64 {
            0
        } else if v > i32::MAX as i64 {
            self.wide.len()
        } else {
            let key = (v as i32 as u32) ^ 0x8000_0000;
            self.wide.partition_point(|&x| ((x >> 32) as u32) < key)
        };
        let packed = match self.packing {
            Some(p) if v > 0 => self.packed.partition_point(|&x| p.value(x) < v),
            _ => 0,
        };
        wide + packed
    }

    /// `quantile_cont(q)` (`None` when empty).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.len();
        (n > 0).then(|| {
            let (lo, hi, frac) = cont_ranks(n, q);
            interpolate(self.get(lo), self.get(hi), frac)
        })
    }

    /// [`detect_threshold`] over the values.
    pub fn threshold(&self, params: &Params) -> Option<i64> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        match params.outlier_detector {
            OutlierDetector::Cap => Some(params.outlier_cap_mins as i64 * 60_000),
            OutlierDetector::Percentile => {
                let q = (params.outlier_percentile / 100.0).clamp(0.0, 1.0);
                self.quantile(q).map(|v| v.floor() as i64)
            }
            OutlierDetector::ZScore => {
                let sum = self.range_sum(0, n);
                let (mean, sd) = mean_and_sd(n, sum, self.sum_sq);
                (sd > 0.0).then(|| (mean + params.outlier_z * sd).floor() as i64)
            }
            OutlierDetector::Mad => {
                let median = self.quantile(0.5)?;
                let twice_median = (median * 2.0).round() as i64;
                // Twice the deviations |2v − 2·median| are integers; their median from the
                // ranks: the smallest d with ≥ r + 1 values whose deviation is ≤ d.
                let within = |d: i64| -> usize {
                    let lo = -((d - twice_median).div_euclid(2)); // ⌈(tm − d) / 2⌉
                    let hi = (twice_median + d).div_euclid(2);
                    self.count_below(hi + 1) - self.count_below(lo)
                };
                let rank_value = |r: usize| -> i64 {
                    let (mut a, mut b) = (0i64, 1i64 << 34);
                    while a < b {
                        let m = a + (b - a) / 2;
                        if within(m) > r {
                            b = m;
                        } else {
                            a = m + 1;
                        }
                    }
                    a
                };
                let (lo, hi, frac) = cont_ranks(n, 0.5);
                let mad = interpolate(rank_value(lo), rank_value(hi), frac) / 2.0;
                (mad > 0.0).then(|| (median + params.outlier_z * 1.4826 * mad).floor() as i64)
            }
        }
    }

    /// [`outlier_report`] over the values.
    pub fn report(&self, target: &str, threshold: Option<i64>, params: &Params) -> OutlierReport {
        let n = self.len();
        let policy = params.outlier_policy;
        let t = threshold.unwrap_or(i64::MAX);
        let kept = if threshold.is_some() {
            self.count_below(t.saturating_add(1))
        } else {
            n
        };
        let detected = n - kept;
        let sum = self.range_sum(0, n);
        let out_sum = self.range_sum(kept, n);
        let (min, max) = if n > 0 {
            (self.get(0), self.get(n - 1))
        } else {
            (i64::MAX, i64::MIN)
        };
        let out_min = if detected > 0 {
            self.get(kept)
        } else {
            i64::MAX
        };
        let kept_max = if kept > 0 {
            self.get(kept - 1)
        } else {
            i64::MIN
        };
        let edges = log_bin_edges();
        // Values under the policy per bin: the kept ones by value, then the outliers.
        let binned = if policy == OutlierPolicy::Keep {
            n
        } else {
            kept
        };
        let mut hist: Vec<u64> = (0..edges.len())
            .map(|i| {
                let lo = if i == 0 {
                    0
                } else {
                    self.count_below(edges[i]).min(binned)
                };
                let hi = edges
                    .get(i + 1)
                    .map_or(binned, |&e| self.count_below(e).min(binned));
                (hi - lo) as u64
            })
            .collect();
        if policy == OutlierPolicy::Cap && detected > 0 {
            hist[log_bin_index(t)] += detected as u64;
        }
        let q_of = |m: usize, base: usize, q: f64| -> Option<f64> {
            (m > 0).then(|| {
                let (lo, hi, frac) = cont_ranks(m, q);
                interpolate(self.get(base + lo), self.get(base + hi), frac)
            })
        };
        let qs = |m: usize, base: usize| -> Vec<Option<f64>> {
            STAT_QUANTILES.iter().map(|&q| q_of(m, base, q)).collect()
        };
        let mk = DurationStats::from_parts;
        let before = mk(n, sum, min, max, &qs(n, 0));
        let outliers = mk(detected, out_sum, out_min, max, &qs(detected, kept));
        let after = match policy {
            OutlierPolicy::Keep | OutlierPolicy::Flag => before.clone(),
            OutlierPolicy::Filter => mk(kept, sum - out_sum, min, kept_max, &qs(kept, 0)),
            OutlierPolicy::Cap => {
                let at = |r: usize| if r >= kept { t } else { self.get(r) };
                let qs_cap: Vec<Option<f64>> = STAT_QUANTILES
                    .iter()
                    .map(|&q| {
                        (n > 0).then(|| {
                            let (lo, hi, frac) = cont_ranks(n, q);
                            interpolate(at(lo), at(hi), frac)
                        })
                    })
                    .collect();
                let capped_sum = sum - out_sum + detected as i64 * t;
                let capped_max = if detected > 0 { t } else { max };
                mk(n, capped_sum, min.min(capped_max), capped_max, &qs_cap)
            }
        };
        let touched = match policy {
            OutlierPolicy::Keep | OutlierPolicy::Flag => 0,
            OutlierPolicy::Filter | OutlierPolicy::Cap => detected as u64,
        };
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
            histogram: edges
                .iter()
                .enumerate()
                .map(|(i, &lo)| HistogramBin {
                    lower_ms: lo,
                    upper_ms: edges.get(i + 1).copied(),
                    count: hist[i],
                })
                .collect(),
            outlier_bucket: if policy == OutlierPolicy::Flag {
                detected as u64
            } else {
                0
            },
        }
    }
}

/// Mean and population standard deviation of `n > 0` integers from their exact sum and sum of
/// squares: `σ² = (n·Σv² − (Σv)²) / n²`, computed exactly in integers and rounded once.
fn mean_and_sd(n: usize, sum: i64, sum_sq: i128) -> (f64, f64) {
    let nn = n as i128;
    let num = nn * sum_sq - (sum as i128) * (sum as i128);
    let var = num as f64 / (nn * nn) as f64;
    (sum as f64 / n as f64, var.max(0.0).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_value_buckets_hold_exactly_that_value() {
        // Every bucket the integers 0 .. 2^20 fall in, with how many of them and which.
        const N: i64 = 1 << 20;
        let mut seen: Vec<(u32, i64)> = vec![(0, 0); 1 << 16];
        for v in 0..N {
            let e = &mut seen[bucket_key(v)];
            *e = (e.0 + 1, v);
        }
        let last = bucket_key(N - 1); // may hold integers past N too: not checked
        let mut singles = 0;
        for (key, &(count, v)) in seen.iter().enumerate() {
            if count == 0 || key == last {
                continue;
            }
            let expect = (count == 1).then_some(v);
            assert_eq!(bucket_single_value(key), expect, "bucket {key:#x}");
            singles += (count == 1) as usize;
        }
        assert!(singles >= 256, "{singles}");
        assert_eq!(bucket_single_value(bucket_key(0)), Some(0));
        assert_eq!(bucket_single_value(bucket_key(1 << 30)), None);
        assert_eq!(bucket_single_value(bucket_key(-5)), None);
    }

    #[test]
    fn selection_with_single_value_buckets_equals_a_sort() {
        // Mostly 0 and 1 (single-value buckets), then a spread tail: SMALL_SORT is passed, so
        // the bucket selection runs, and its wanted ranks mix both kinds of bucket.
        let mut values: Vec<i64> = Vec::new();
        let mut x: u64 = 7;
        for i in 0..100_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            values.push(match i % 10 {
                0..=5 => 0,
                6 => 1,
                _ => (x >> 33) as i64 % 5_000_000,
            });
        }
        let mut sorted = values.clone();
        sorted.sort_unstable();
        let ranks: Vec<usize> = (0..values.len()).step_by(997).chain([99_999]).collect();
        let expect: Vec<i64> = ranks.iter().map(|&r| sorted[r]).collect();
        assert_eq!(order_statistics(&values, &ranks), expect);
        // Only single-value buckets wanted.
        assert_eq!(
            order_statistics(&values, &[0, 50_000, 65_000]),
            vec![0, 0, 1]
        );
    }

    #[test]
    fn log_bins_at_their_edges() {
        let edges = log_bin_edges();
        assert_eq!(edges.len(), 20);
        for (bin, w) in edges.windows(2).enumerate() {
            // Each bin holds its lower edge; the value below belongs to the previous bin.
            if w[0] != i64::MIN {
                assert_eq!(log_bin_index(w[0]), bin, "lower edge {}", w[0]);
            }
            assert_eq!(log_bin_index(w[1] - 1), bin, "below {}", w[1]);
        }
        assert_eq!(log_bin_index(i64::MIN), 0);
        assert_eq!(log_bin_index(1 << 27), 19);
        assert_eq!(log_bin_index(i64::MAX), 19);
    }

    #[test]
    fn sums_saturate_in_order() {
        let p = Params::default();
        // Inside one touched block, across blocks, and past the bucket selection's size: the
        // odd and even values' partial sums never overflow, but the sum in order does.
        for len in [4, 40, 20_001] {
            let mut values = vec![0i64; len];
            values[..4].copy_from_slice(&[i64::MAX, 1, -5, 3]);
            // Saturating in order: MAX, MAX, MAX − 5, MAX − 2 (a wrapping sum would say MIN + 0;
            // two interleaved ones MAX − 1).
            assert_eq!(duration_stats(&values).sum_ms, i64::MAX - 2, "len {len}");
            let r = outlier_report("x", &values, Some(0), &p);
            assert_eq!(r.before.sum_ms, i64::MAX - 2, "len {len}");
            assert_eq!(r.outliers.sum_ms, i64::MAX, "len {len}");
        }
        assert_eq!(duration_stats(&[i64::MIN, -1, 1]).sum_ms, i64::MIN + 1);
    }

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

    #[test]
    fn streamed_passes_equal_the_passes_over_the_values() {
        // Values fed slice by slice (as the session walk does) give the same stats and report
        // as the passes over the whole slice, whatever the size hint: below SMALL_SORT the
        // streamed pass sorts a copy, above it counts buckets, and a hint below the real count
        // only decides which. Policies and thresholds that cut inside the values, and an absurd
        // value that makes the in-order saturating sum differ from a wrapping one.
        let mut p = Params::default();
        for n in [0usize, 1, 2, 7, 100, 20_000, 70_000] {
            let mut values: Vec<i64> = (0..n as i64)
                .map(|i| (i * 7_919 + (i % 13) * 1_000_003) % 9_000_001 - 5)
                .collect();
            if n == 100 {
                values[50] = i64::MAX / 3;
            }
            for hint in [0, n / 2, n, 1 << 20] {
                // Slices of odd and even lengths, as the session walk hands them over.
                let mut stats = StreamedStats::new(hint);
                values.chunks(3).for_each(|c| stats.add_slice(c));
                assert_eq!(
                    stats.finish(&values),
                    duration_stats(&values),
                    "n {n} hint {hint}"
                );
                for (t, policy) in [
                    (None, OutlierPolicy::Keep),
                    (Some(4_000_000), OutlierPolicy::Cap),
                    (Some(8_999_000), OutlierPolicy::Filter),
                    (Some(-10), OutlierPolicy::Flag),
                ] {
                    p.outlier_policy = policy;
                    let mut pass = StreamedOutliers::new(t, hint);
                    values.chunks(1024).for_each(|c| pass.add_slice(c));
                    assert!(pass.made_for(t) && !pass.made_for(Some(1)));
                    assert_eq!(
                        pass.finish("x", &values, t, &p),
                        outlier_report("x", &values, t, &p),
                        "n {n} hint {hint} t {t:?} {policy:?}"
                    );
                }
            }
        }
        // The cap is known before the values; the other detectors read them.
        let p = Params::default();
        assert_eq!(threshold_before_values(&p), Some(Some(600 * 60_000)));
        assert_eq!(detect_threshold(&[1i64], &p), Some(600 * 60_000));
        assert_eq!(detect_threshold(&[0i64; 0], &p), None);
        for d in [
            OutlierDetector::Percentile,
            OutlierDetector::ZScore,
            OutlierDetector::Mad,
        ] {
            let p = Params {
                outlier_detector: d,
                ..Params::default()
            };
            assert_eq!(threshold_before_values(&p), None);
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

    #[test]
    fn radix_sort_equals_a_stable_sort_by_duration() {
        // Equal durations keep their push order (the group ids tell them apart), on values that
        // vary in every digit, in some digits only, or in none; packed (ids that fit), wide
        // (ids that do not) and packed until an id past the announced groups arrives.
        let mut x: u64 = 11;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 16
        };
        let spreads: [fn(u64) -> i32; 5] = [
            |r| r as u32 as i32,
            |r| (r % 300) as i32 * 1_000,
            |r| {
                if r % 97 == 0 {
                    i32::MIN + (r % 3) as i32
                } else {
                    (r % 40_000) as i32
                }
            },
            |r| match r % 5 {
                0 => (1 << 22) - 1 - (r % 2) as i32,
                1 => 1 << 22,
                2 => -1,
                _ => (r % 5_000_000) as i32,
            },
            |_| 1_234,
        ];
        // (announced groups, the ids pushed for item i)
        type Ids = fn(usize) -> (u16, u16);
        let layouts: [((usize, usize), Ids); 4] = [
            ((40, 7), |i| ((i % 40) as u16, (i % 7) as u16)),
            ((1, 1), |_| (0, 0)),
            ((1 << 16, 1 << 16), |i| ((i >> 16) as u16, i as u16)),
            ((4, 4), |i| {
                if i == 900 {
                    (4, 0)
                } else {
                    ((i % 4) as u16, 3)
                }
            }),
        ];
        for spread in spreads {
            for (groups, ids) in layouts {
                // Collected plainly, then placed by the lowest digit as they come in
                // (`expect_values`, with an id overflow while placing in the last layout).
                for (n, placed) in [2usize, 3, 1_000, 50_000]
                    .into_iter()
                    .flat_map(|n| [(n, false), (n, true)])
                {
                    let values: Vec<i32> = (0..n).map(|_| spread(next())).collect();
                    let mut items = SortedItems::new(&mut SortedDurations::default(), n, groups);
                    if placed {
                        items.expect_values(values.iter().copied());
                    }
                    let mut expected = Vec::with_capacity(n);
                    for (i, &v) in values.iter().enumerate() {
                        let (a, b) = ids(i);
                        items.push(v, a, b);
                        expected.push((v as i64, a, b));
                    }
                    expected.sort_by_key(|&(v, _, _)| v);
                    let mut sd = SortedDurations::default();
                    sd.build(items, &mut Vec::new());
                    let mut got = Vec::with_capacity(n);
                    sd.for_each(|v, a, b| got.push((v, a, b)));
                    assert_eq!(got, expected, "n = {n}, groups {groups:?}, placed {placed}");
                    assert_eq!(sd.len(), n);
                    for (r, &(v, _, _)) in expected.iter().enumerate() {
                        assert_eq!(sd.get(r), v, "rank {r}");
                    }
                    for probe in [i64::MIN, -1, 0, 1, 1_234, 1 << 22, (1 << 22) + 1, i64::MAX] {
                        let below = expected.iter().filter(|&&(v, _, _)| v < probe).count();
                        assert_eq!(sd.count_below(probe), below, "below {probe}");
                    }
                    let total: i64 = expected.iter().map(|&(v, _, _)| v).sum();
                    assert_eq!(sd.range_sum(0, n), total);
                    assert_eq!(
                        sd.range_sum(1, n - 1),
                        total - expected[0].0 - expected[n - 1].0
                    );
                }
            }
        }
    }

    #[test]
    fn sorted_durations_equal_the_selection_path() {
        let mut x: u64 = 7;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 20
        };
        for n in [0usize, 1, 2, 5, 300, 20_000, 70_000] {
            let values: Vec<i32> = (0..n)
                .map(|i| match i % 50 {
                    0 => -((next() % 5_000) as i32),
                    1 => i32::MAX,
                    2 => (next() % 100) as i32 * 1_000,
                    _ => (next() % 2_000_000) as i32,
                })
                .collect();
            let mut sd = SortedDurations::default();
            let mut items = SortedItems::new(&mut sd, n, (1, 1));
            for &v in &values {
                items.push(v, 0, 0);
            }
            sd.build(items, &mut Vec::new());
            for detector in [
                OutlierDetector::Cap,
                OutlierDetector::Percentile,
                OutlierDetector::ZScore,
                OutlierDetector::Mad,
            ] {
                for policy in [
                    OutlierPolicy::Keep,
                    OutlierPolicy::Filter,
                    OutlierPolicy::Cap,
                    OutlierPolicy::Flag,
                ] {
                    let p = Params {
                        outlier_detector: detector,
                        outlier_policy: policy,
                        outlier_cap_mins: 20,
                        outlier_percentile: 97.5,
                        outlier_z: 1.5,
                        ..Params::default()
                    };
                    let t = sd.threshold(&p);
                    if detector != OutlierDetector::ZScore {
                        assert_eq!(t, detect_threshold(&values, &p), "{n} {detector:?}");
                    } else if let (Some(a), Some(b)) = (t, detect_threshold(&values, &p)) {
                        assert!((a - b).abs() <= 1, "{n}: {a} vs {b}");
                    }
                    assert_eq!(
                        sd.report("x", t, &p),
                        outlier_report("x", &values, t, &p),
                        "{n} {detector:?} {policy:?}"
                    );
                }
            }
        }
    }
}
