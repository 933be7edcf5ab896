//! The engine profile (our Spark UI): for a load or a recompute, each stage with its wall time,
//! rows in and out, and the memory it holds — drawn by the dashboard as a timeline.
//!
//! The engine cannot read a clock itself on every target (`std::time::Instant` panics on
//! `wasm32-unknown-unknown`, and the engine may not depend on web APIs), so the caller passes a
//! [`Clock`]: the CLI and tests use [`SystemClock`], the worker wraps `performance.now()`.

use serde::{Deserialize, Serialize};

/// A monotonic clock in milliseconds from an arbitrary origin.
pub trait Clock {
    fn now_ms(&self) -> f64;
}

/// No clock: every stage takes 0 ms. For callers that do not profile.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoClock;

impl Clock for NoClock {
    fn now_ms(&self) -> f64 {
        0.0
    }
}

/// `std::time::Instant`, native targets only.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone, Copy)]
pub struct SystemClock(std::time::Instant);

#[cfg(not(target_arch = "wasm32"))]
impl Default for SystemClock {
    fn default() -> Self {
        Self(std::time::Instant::now())
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Clock for SystemClock {
    fn now_ms(&self) -> f64 {
        self.0.elapsed().as_secs_f64() * 1e3
    }
}

/// The stages of the pipeline, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    /// Parquet/CSV bytes → column values.
    Decode,
    /// Column values → dictionary codes and one time unit (the column mapping).
    Map,
    /// Stable sort by (user, time).
    Sort,
    /// Session cuts, per-session stats.
    Sessionize,
    /// Activity units, DAU/WAU/MAU, stickiness.
    Activity,
    /// Events × metadata (broadcast hash join) and segments.
    Join,
    /// Percentiles, outliers, retention, lifecycle, power users, versions, anomalies, skew.
    Aggregate,
}

impl StageKind {
    pub fn label(self) -> &'static str {
        match self {
            StageKind::Decode => "decode",
            StageKind::Map => "map",
            StageKind::Sort => "sort",
            StageKind::Sessionize => "sessionize",
            StageKind::Activity => "activity",
            StageKind::Join => "join",
            StageKind::Aggregate => "aggregate",
        }
    }
}

/// One stage of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub kind: StageKind,
    /// Optional detail ("retention", "file part-0001.parquet").
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Start, in ms from the start of the run.
    pub start_ms: f64,
    pub wall_ms: f64,
    pub rows_in: u64,
    pub rows_out: u64,
    /// Bytes the stage's output holds resident (0 when not measured).
    pub bytes: u64,
}

/// The stages of one load or one recompute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub stages: Vec<Stage>,
    /// Wall time of the whole run.
    pub total_ms: f64,
}

/// Records stages against a clock.
pub struct Profiler<'c> {
    clock: &'c dyn Clock,
    origin: f64,
    mark: f64,
    stages: Vec<Stage>,
}

impl<'c> Profiler<'c> {
    pub fn new(clock: &'c dyn Clock) -> Self {
        let origin = clock.now_ms();
        Self {
            clock,
            origin,
            mark: origin,
            stages: Vec::new(),
        }
    }

    /// Close a stage that started at the previous mark (or at the start) and ends now.
    pub fn stage(&mut self, kind: StageKind, rows_in: u64, rows_out: u64, bytes: u64) {
        self.stage_detail(kind, String::new(), rows_in, rows_out, bytes);
    }

    pub fn stage_detail(
        &mut self,
        kind: StageKind,
        detail: String,
        rows_in: u64,
        rows_out: u64,
        bytes: u64,
    ) {
        let now = self.clock.now_ms();
        self.stages.push(Stage {
            kind,
            detail,
            start_ms: self.mark - self.origin,
            wall_ms: now - self.mark,
            rows_in,
            rows_out,
            bytes,
        });
        self.mark = now;
    }

    /// Restart the mark without recording (time spent between stages that is not a stage).
    pub fn skip(&mut self) {
        self.mark = self.clock.now_ms();
    }

    pub fn finish(self) -> Profile {
        Profile {
            total_ms: self.clock.now_ms() - self.origin,
            stages: self.stages,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A clock that advances by a fixed step on every reading.
    struct StepClock(Cell<f64>, f64);
    impl Clock for StepClock {
        fn now_ms(&self) -> f64 {
            let t = self.0.get();
            self.0.set(t + self.1);
            t
        }
    }

    #[test]
    fn stages_are_contiguous_and_sum_to_the_total() {
        let clock = StepClock(Cell::new(100.0), 5.0);
        let mut p = Profiler::new(&clock); // reads 100
        p.stage(StageKind::Decode, 10, 10, 0); // reads 105
        p.skip(); // reads 110
        p.stage(StageKind::Sort, 10, 10, 80); // reads 115
        let profile = p.finish(); // reads 120
        assert_eq!(profile.stages.len(), 2);
        assert_eq!(profile.stages[0].start_ms, 0.0);
        assert_eq!(profile.stages[0].wall_ms, 5.0);
        assert_eq!(profile.stages[1].start_ms, 10.0);
        assert_eq!(profile.stages[1].wall_ms, 5.0);
        assert_eq!(profile.stages[1].bytes, 80);
        assert_eq!(profile.total_ms, 20.0);
    }

    #[test]
    fn no_clock_reads_zero() {
        let mut p = Profiler::new(&NoClock);
        p.stage(StageKind::Activity, 1, 1, 0);
        assert_eq!(p.finish().stages[0].wall_ms, 0.0);
    }
}
