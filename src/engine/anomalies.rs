//! Anomalous days: DAU or event volume far from the same-weekday median of the previous
//! `anomk` weeks, by the robust z-score |x − median| / (1.4826 · MAD) (`docs/METRICS.md`
//! § Anomalies).

use serde::{Deserialize, Serialize};

use super::params::Date;

/// Fewest same-weekday baseline values a day needs to be scored.
pub const MIN_BASELINE: usize = 3;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnomalyDay {
    pub date: Option<Date>,
    /// `"dau"` or `"events"`.
    pub metric: String,
    pub actual: u64,
    /// The baseline median.
    pub expected: f64,
    /// Robust z; `null` when the baseline is constant (MAD 0) and the day differs from it.
    pub score: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnomalyReport {
    pub threshold: f64,
    pub weeks: u32,
    /// Flagged days, by date then metric.
    pub flagged: Vec<AnomalyDay>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `(expected, score)` of day `i` of `series`, `None` without enough baseline.
pub fn score(series: &[u64], i: usize, weeks: u32) -> Option<(f64, Option<f64>)> {
    let mut base: Vec<f64> = (1..=weeks as usize)
        .filter_map(|j| i.checked_sub(7 * j).map(|k| series[k] as f64))
        .collect();
    if base.len() < MIN_BASELINE {
        return None;
    }
    let m = median(&mut base);
    let mut dev: Vec<f64> = base.iter().map(|x| (x - m).abs()).collect();
    let scale = 1.4826 * median(&mut dev);
    let d = (series[i] as f64 - m).abs();
    Some((
        m,
        (scale > 0.0)
            .then(|| d / scale)
            .or((d == 0.0).then_some(0.0)),
    ))
}

/// Never inlined: called once per recompute from `MetricsCache::run`, inside which wasm's
/// code kept its loop state in memory (measured with `scripts/bench/wasm_knobs.mjs`).
#[inline(never)]
pub fn anomalies(first: i32, dau: &[u64], events: &[u64], z: f64, weeks: u32) -> AnomalyReport {
    let mut flagged = Vec::new();
    for i in 0..dau.len().max(events.len()) {
        for (metric, series) in [("dau", dau), ("events", events)] {
            if i >= series.len() {
                continue;
            }
            if let Some((expected, s)) = score(series, i, weeks) {
                if s.is_none_or(|s| s > z) {
                    flagged.push(AnomalyDay {
                        date: Some(Date(first + i as i32)),
                        metric: metric.into(),
                        actual: series[i],
                        expected,
                        score: s,
                    });
                }
            }
        }
    }
    AnomalyReport {
        threshold: z,
        weeks,
        flagged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spike_on_a_weekday_is_flagged() {
        // Four weeks; day 21 (same weekday as 0, 7, 14) spikes.
        let mut dau = vec![10u64; 28];
        dau[0] = 9;
        dau[7] = 11;
        dau[14] = 10;
        dau[21] = 30;
        let events = vec![100u64; 28];
        let r = anomalies(0, &dau, &events, 3.5, 6);
        // Baseline {10, 11, 9}: median 10, MAD 1 → score 20 / 1.4826.
        assert_eq!(r.flagged.len(), 1);
        let f = &r.flagged[0];
        assert_eq!((f.metric.as_str(), f.actual, f.expected), ("dau", 30, 10.0));
        assert!((f.score.unwrap() - 20.0 / 1.4826).abs() < 1e-12);
        // A constant baseline: any departure is flagged with a null score; equality is not.
        let mut ev = events.clone();
        ev[22] = 101;
        let r = anomalies(0, &vec![0; 28], &ev, 3.5, 6);
        assert_eq!(r.flagged.len(), 1);
        assert_eq!(r.flagged[0].score, None);
        assert_eq!(r.flagged[0].date, Some(Date(22)));
        // Fewer than 3 baseline weeks: not scored.
        assert_eq!(score(&dau, 20, 6), None);
        assert_eq!(score(&dau, 21, 2), None);
    }
}
