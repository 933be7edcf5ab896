//! One call computes every metric: [`compute`]`(store, metadata, params) -> MetricsReport`.
//!
//! **Which events count.** An event of the store is *considered* when (1) the duplicate policy
//! keeps it (`dups=drop` skips [`EventStore::duplicate_rows`]), (2) its local date lies in
//! `[from, to]` (inclusive; unset bounds are open), and (3) the segment filter (`segv`) keeps it
//! or its user. Every metric — sessions, activity, outliers, segments, skew, `events_per_day` —
//! is computed from considered events only; the join report alone looks at the whole store.
//!
//! **Day axis.** Days `from ..= to`, defaulting to the local dates of the store's first and last
//! events, at most [`MAX_DAYS`]. Every per-day series is aligned with it.
//!
//! **Cost.** After the one-time sort of the store, a recompute is linear in events (plus days,
//! users and metadata rows), in separate passes: considered events with their local day (a table
//! of local midnights, one comparison per event), session cuts, event durations (outliers,
//! prefix sums of the policy-applied durations, app versions), activity units and per-user
//! active intervals, then per-user and per-day aggregates. Event durations are radix-sorted
//! once per filter ([`SortedDurations`]), so their outlier report, thresholds and the
//! app-version percentiles are read from the sorted values; other percentiles use a two-pass
//! bucket selection (a sort of a copy below 16,384 values).
//!
//! **Memoised recompute.** [`MetricsCache`] keeps each of those parts keyed by exactly the
//! params it reads, so after a knob change only the parts that depend on that knob are
//! recomputed; [`compute`] is always cold (docs/METRICS.md § Speed).

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::activity::{
    self, ActiveSeries, ActivityAccumulator, DailyCounts, DayStream, PeriodActives, Periods,
};
use super::anomalies::{self, AnomalyReport};
use super::calendar::{self, DayCalendar};
use super::join::{self, JoinReport, SegmentPlan, UserJoin, FILTERED};
use super::masks::EventMask;
use super::metadata::MetadataTable;
use super::outliers::{
    self, DurationStats, OutlierReport, SortedDurations, StreamedOutliers, StreamedStats,
};
use super::params::{
    ActivityDefinition, Date, DuplicatePolicy, Granularity, OutlierDetector, OutlierPolicy, Params,
};
use super::power::{self, PowerReport, UserTotals};
use super::prefix::CompactPrefix;
use super::profile::{Clock, NoClock, Profile, Profiler, StageKind};
use super::retention::{self, LifecycleReport, PeriodAxis, RetentionReport, UserDays};
use super::sessions::{CountDistribution, CountTally, SessionMetrics, SessionRules};
use super::skew::{self, SkewReport};
use super::store::{DurationMs, EventStore};
use super::versions::{self, VersionReport};

/// Version of the [`MetricsReport`] JSON schema (docs/METRICS.md).
pub const REPORT_SCHEMA_VERSION: u32 = 1;
/// Longest day axis (100 years): longer ranges need `from`/`to`.
pub const MAX_DAYS: usize = 36_600;
// Considered events keep their day index in a u16.
const _: () = assert!(MAX_DAYS <= 1 << 16);

/// Why metrics could not be computed. Messages say what to change.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MetricsError {
    #[error(
        "unknown time zone {0:?}: use an IANA name such as UTC, Europe/Berlin or America/New_York"
    )]
    UnknownTimeZone(String),
    #[error("there is no metadata column {column:?} to break down by; available: {available}")]
    UnknownSegmentColumn { column: String, available: String },
    #[error("breaking down by {column} needs user metadata: load a metadata file or pick app_version or action_type")]
    SegmentNeedsMetadata { column: String },
    #[error("the data spans {days} days (limit {MAX_DAYS}); some timestamps are probably wrong — set a date range (from/to)")]
    RangeTooLong { days: i64 },
    #[error("parameter {key} is out of range: {reason}")]
    InvalidParam { key: &'static str, reason: String },
}

/// The report's day axis: day `i` of every series is `dates[i]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayAxis {
    pub time_zone: String,
    pub first: Option<Date>,
    pub last: Option<Date>,
    pub dates: Vec<Date>,
}

/// What went in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputSummary {
    pub store_events: u64,
    pub store_users: u64,
    /// Considered events (see the module docs).
    pub events: u64,
    /// Users with ≥ 1 considered event.
    pub users: u64,
    pub duplicates_dropped: u64,
    pub outside_date_range: u64,
    pub removed_by_segment_filter: u64,
    /// Considered events whose `duration_ms` is null.
    pub null_durations: u64,
}

/// One segment's series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentSeries {
    pub label: String,
    /// Users with ≥ 1 considered event in the segment.
    pub users: u64,
    pub events: u64,
    /// Sessions (a session belongs to the segment of its user, or of its first event).
    pub sessions: u64,
    pub sessions_per_day: Vec<u64>,
    /// Activity per segment: for a per-event column the definition is evaluated on the user's
    /// events of that segment only (so a user can be active in several segments).
    pub dau: Vec<u64>,
    pub wau: Vec<u64>,
    pub mau: Vec<u64>,
    /// Stickiness of the segment per day, defined like the overall ratios
    /// ([`ActiveSeries::dau_mau`]): `null` when the denominator is 0.
    #[serde(default)]
    pub dau_mau: Vec<Option<f64>>,
    #[serde(default)]
    pub dau_wau: Vec<Option<f64>>,
    #[serde(default)]
    pub wau_mau: Vec<Option<f64>>,
    pub months: Vec<PeriodActives>,
}

/// A breakdown by one column: the top N values then `other`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentBreakdown {
    pub column: String,
    pub per_user: bool,
    pub segments: Vec<SegmentSeries>,
}

/// Every metric, for one set of params. Serialises to the CLI's JSON (docs/METRICS.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsReport {
    pub schema_version: u32,
    pub params: Params,
    /// The canonical permalink query for `params`.
    pub query: String,
    /// The activity definition in words.
    pub definition: String,
    pub axis: DayAxis,
    pub input: InputSummary,
    /// Considered events per local day.
    pub events_per_day: Vec<u64>,
    pub sessions: SessionMetrics,
    pub activity: ActiveSeries,
    /// Event `duration_ms` (non-null, considered events) before/after the outlier policy.
    pub event_durations: OutlierReport,
    pub join: Option<JoinReport>,
    pub segments: Option<SegmentBreakdown>,
    pub skew: SkewReport,
    /// Retention cohorts (docs/METRICS.md § Retention).
    #[serde(default)]
    pub retention: RetentionReport,
    /// New / returning / resurrecting / dormant per period (§ Lifecycle).
    #[serde(default)]
    pub lifecycle: LifecycleReport,
    /// Top users by interaction time and active days (§ Power users).
    #[serde(default)]
    pub power_users: PowerReport,
    /// Duration percentiles per app version and device type (§ App versions).
    #[serde(default)]
    pub versions: VersionReport,
    /// Days far from the same-weekday baseline (§ Anomalies).
    #[serde(default)]
    pub anomalies: AnomalyReport,
    /// Where this recompute spent its time (§ Profile). Wall times are the truth of one run:
    /// compare reports without it (or compute with [`NoClock`], where every time is 0).
    #[serde(default)]
    pub profile: Profile,
}

/// Describe the chosen definition with its knob values.
pub fn describe_definition(p: &Params) -> String {
    let actions = match &p.actions {
        None => "any action".to_string(),
        Some(a) => a.join("/"),
    };
    let inactive = if p.inactive_actions.is_empty() {
        String::new()
    } else {
        format!(" (never: {})", p.inactive_actions.join("/"))
    };
    match p.definition {
        ActivityDefinition::Minimal => format!("active on a day with ≥ 1 event of {actions}{inactive}"),
        ActivityDefinition::Core => format!(
            "active on day d with ≥ {} {}{} events in days d−6..d{inactive}",
            p.core_min_events,
            p.core_actions.join("/"),
            if p.core_strict { " (each followed by a page_view of the same page)" } else { "" }
        ),
        ActivityDefinition::Session => format!(
            "active on day d with ≥ 1 session longer than {} min (with an event of {actions}) started in days d−29..d{inactive}",
            p.min_session_mins
        ),
        ActivityDefinition::Custom => format!(
            "active on day d with ≥ {} events of {actions} in sessions longer than {} min in days d−{}..d{inactive}",
            p.custom_min_events,
            p.min_session_mins,
            p.custom_window_days.saturating_sub(1)
        ),
    }
}

fn validate(p: &Params) -> Result<chrono_tz::Tz, MetricsError> {
    let tz = p.tz().map_err(MetricsError::UnknownTimeZone)?;
    let (lo, hi) = super::params::GAP_MINS_RANGE;
    if p.session_gap_mins < lo || p.session_gap_mins > hi {
        return Err(MetricsError::InvalidParam {
            key: "gap",
            reason: "the session gap must be from 1m to 24h".into(),
        });
    }
    if p.max_session_mins == Some(0) {
        return Err(MetricsError::InvalidParam {
            key: "maxlen",
            reason: "the maximum session length must be at least 1m".into(),
        });
    }
    if p.week_start > 6 {
        return Err(MetricsError::InvalidParam {
            key: "wstart",
            reason: "the week start is a weekday 0 (Monday) to 6 (Sunday)".into(),
        });
    }
    let pct_ok = p.outlier_percentile > 0.0 && p.outlier_percentile < 100.0;
    let z_ok = p.outlier_z > 0.0 && p.outlier_z.is_finite();
    if !(pct_ok && z_ok) {
        return Err(MetricsError::InvalidParam {
            key: "pct",
            reason: "pct must be in (0, 100) and z positive".into(),
        });
    }
    Ok(tz)
}

/// Which events to skip (see the module docs).
struct Filter<'a> {
    store: &'a EventStore,
    cal: &'a DayCalendar,
    first: i32,
    last: i32,
    /// Every stored event lies on the axis `first ..= last` (no date range, or one that holds
    /// the data): no user's first and last times need a look. Why: that look was the first
    /// touch of each user's last event, a cache miss per user that the pass waited for
    /// (3–4 ms of a ~90 ms zone change at 10M events, 49K users).
    every_time_inside: bool,
    drop_dups: bool,
    seg: Option<&'a SegmentPlan>,
    seg_column: Option<&'a [u16]>,
}

impl Filter<'_> {
    /// Append the rows and day indices of user `u`'s considered events to `out`, and count them
    /// per day. `dup_cursor` walks `duplicate_rows` (ascending) across users visited in order.
    #[inline]
    fn user_events(
        &self,
        u: usize,
        rows: std::ops::Range<usize>,
        dup_cursor: &mut usize,
        counts: &mut Considered,
        (out_rows, out_days, per_day): (&mut RowSink, &mut Vec<u16>, &mut [u64]),
    ) {
        if rows.is_empty() {
            return;
        }
        let dups = &self.store.duplicate_rows;
        if let Some(plan) = self.seg {
            if plan.per_user && plan.user_bucket.get(u).copied() == Some(FILTERED) {
                counts.segment += rows.len() as u64;
                // Keep the duplicate cursor in step.
                while *dup_cursor < dups.len() && (dups[*dup_cursor] as usize) < rows.end {
                    *dup_cursor += 1;
                }
                return;
            }
        }
        let times = &self.store.time_ms;
        let mut cur = self.cal.cursor(times[rows.start]);
        // The usual user: no duplicate to drop and no per-event segment filter (a breakdown by
        // a per-event column without `segv` filters nothing). Their events on the axis are
        // then one run of rows (times ascend: two binary searches for the axis's first and
        // past-the-end instants), every row of it kept, and the days come as runs. A date
        // range that cuts through a user's events (an analyst brushing the axis) no longer
        // sends that user down the per-event walk below.
        let no_dups = !self.drop_dups
            || dups
                .get(*dup_cursor)
                .is_none_or(|&r| r as usize >= rows.end);
        let seg_keeps_all = self.seg.is_none_or(|p| p.keeps_every_event);
        if no_dups && (self.seg_column.is_none() || seg_keeps_all) && self.last >= self.first {
            let ts = &times[rows.clone()];
            let (from, to) = (
                self.cal.start_of(self.first),
                self.cal.start_of(self.last + 1),
            );
            let lo = if self.every_time_inside || ts[0] >= from {
                0
            } else {
                ts.partition_point(|&t| t < from)
            };
            let hi = if self.every_time_inside || ts[ts.len() - 1] < to {
                ts.len()
            } else {
                ts.partition_point(|&t| t < to)
            };
            let hi = hi.max(lo);
            counts.outside += (ts.len() - (hi - lo)) as u64;
            out_rows.push_range(rows.start + lo..rows.start + hi);
            let day_runs = &mut counts.day_runs;
            self.cal.day_runs(&ts[lo..hi], |day, k| {
                let di = (day - self.first) as u16;
                day_runs.push(out_days.len() as u32);
                out_days.extend(std::iter::repeat_n(di, k));
                per_day[di as usize] += k as u64;
            });
            return;
        }
        let mut last_day = None;
        for row in rows {
            if self.drop_dups {
                while *dup_cursor < dups.len() && (dups[*dup_cursor] as usize) < row {
                    *dup_cursor += 1;
                }
                if *dup_cursor < dups.len() && dups[*dup_cursor] as usize == row {
                    counts.dups += 1;
                    continue;
                }
            }
            let day = cur.day(times[row]);
            if day < self.first || day > self.last {
                counts.outside += 1;
                continue;
            }
            if let (Some(plan), Some(col)) = (self.seg, self.seg_column) {
                if plan
                    .value_bucket
                    .get(col[row] as usize)
                    .copied()
                    .unwrap_or(FILTERED)
                    == FILTERED
                {
                    counts.segment += 1;
                    continue;
                }
            }
            // The axis has at most MAX_DAYS (< 2^16) days.
            let di = (day - self.first) as u16;
            if last_day != Some(di) {
                counts.day_runs.push(out_days.len() as u32);
                last_day = Some(di);
            }
            out_rows.push(row as u32);
            out_days.push(di);
            per_day[di as usize] += 1;
        }
    }
}

/// Per-segment accumulation.
struct SegAcc {
    users: u64,
    events: u64,
    sessions: u64,
    sessions_per_day: Vec<u64>,
    acc: ActivityAccumulator,
}

// ---------------------------------------------------------------------------------------------
// Cached parts of a recompute. Each part is a pure function of the data and of the params its
// key keeps (`key_*` below: every other field reset to its default), so a part whose key equals
// the current params' key is exactly what a cold compute would produce.
// ---------------------------------------------------------------------------------------------

/// The store row of every considered event, in store order.
///
/// Usually every stored event counts (no duplicate dropped, none outside the axis, no segment
/// filter), so considered event `i` is store row `i`: then nothing is stored — 4 bytes per event
/// less (38 MiB at 10M events, a tenth of the worker's memory after the first compute).
#[derive(Debug, Default)]
enum Rows {
    /// Considered event `i` is store row `i`.
    #[default]
    Identity,
    /// Considered event `i` is store row `rows[i]`.
    Listed(Vec<u32>),
}

impl Rows {
    /// The store row of considered event `i`.
    #[inline(always)]
    fn at(&self, i: usize) -> u32 {
        match self {
            Rows::Identity => i as u32,
            Rows::Listed(rows) => rows[i],
        }
    }

    /// The store rows of considered events `b..e`.
    #[inline]
    fn range(&self, b: usize, e: usize) -> impl Iterator<Item = u32> + '_ {
        (b..e).map(|i| self.at(i))
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Rows::Identity => 0,
            Rows::Listed(rows) => rows.capacity() * 4,
        }
    }
}

/// Collects [`Rows`] in order: stays [`Rows::Identity`] while every row so far is its own
/// index, and lists them from the first row that is not (an event before it was left out).
struct RowSink {
    listed: Option<Vec<u32>>,
    /// The previous list's allocation, reused if a list is needed again (freed if not).
    spare: Option<Vec<u32>>,
    len: usize,
    /// Capacity for the list once one is needed (the store's length).
    capacity: usize,
}

impl RowSink {
    fn new(previous: Rows, capacity: usize) -> RowSink {
        let spare = match previous {
            Rows::Listed(v) => Some(v),
            Rows::Identity => None,
        };
        RowSink {
            listed: None,
            spare,
            len: 0,
            capacity,
        }
    }

    #[inline(always)]
    fn push(&mut self, row: u32) {
        if let Some(v) = &mut self.listed {
            v.push(row);
        } else if row as usize != self.len {
            let mut v = self.spare.take().unwrap_or_default();
            v.clear();
            v.reserve(self.capacity);
            v.extend(0..self.len as u32);
            v.push(row);
            self.listed = Some(v);
        }
        self.len += 1;
    }

    /// [`Self::push`] of every row of `rows` (ascending): no list is started when they continue
    /// the identity.
    #[inline]
    fn push_range(&mut self, rows: std::ops::Range<usize>) {
        if self.listed.is_none() && rows.start == self.len {
            self.len += rows.len();
        } else if let Some(v) = &mut self.listed {
            self.len += rows.len();
            v.extend(rows.start as u32..rows.end as u32);
        } else {
            for row in rows {
                self.push(row as u32);
            }
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn finish(self) -> Rows {
        self.listed.map_or(Rows::Identity, |mut v| {
            // The list was given room for every stored row; a date range keeps fewer (H2 2023:
            // 5.5M of 9.9M at 10M events). Shrinking in place hands the rest back to the
            // allocator before the parts that follow allocate (the worker's wasm memory after
            // a range change: 455 → 434 MiB).
            v.shrink_to_fit();
            Rows::Listed(v)
        })
    }
}

/// Considered events, user by user, with their day on the axis.
#[derive(Default)]
struct Considered {
    rows: Rows,
    /// Each considered event's day index on the axis (< [`MAX_DAYS`] < 2^16). Apart from
    /// `rows`: a `(u32, u32)` pair per event cost 8 bytes, these two 6 (19 MiB less at 10M).
    days: Vec<u16>,
    /// `(user, start, end)`: each user with ≥ 1 considered event and their range of events.
    users: Vec<(u32, u32, u32)>,
    /// The considered events as runs on one local day, user by user: the index of each run's
    /// first event (a run ends where the next begins, or at its user's end; its day is
    /// `days[start]`, and a user's runs have ascending, distinct days). A user's events come in
    /// bursts on a day, so there are far fewer runs than events: where a day with a unit is all
    /// that matters (the minimal definition), activity asks each run rather than each event.
    day_runs: Vec<u32>,
    /// Per considered user, the index of their first run in `day_runs`, plus the total.
    user_runs_first: Vec<u32>,
    dups: u64,
    outside: u64,
    segment: u64,
    events_per_day: Vec<u64>,
    null_durations: u64,
}

impl Considered {
    fn len(&self) -> usize {
        self.days.len()
    }

    /// Considered user `k`'s day runs: `(first event, past-the-end event, day index)`, in
    /// ascending days.
    #[inline]
    fn user_day_runs(&self, k: usize) -> impl Iterator<Item = (usize, usize, u16)> + '_ {
        let (a, b) = (
            self.user_runs_first[k] as usize,
            self.user_runs_first[k + 1] as usize,
        );
        let user_end = self.users[k].2 as usize;
        (a..b).map(move |r| {
            let start = self.day_runs[r] as usize;
            let end = self.day_runs.get(r + 1).map_or(user_end, |&e| e as usize);
            (start, end.min(user_end), self.days[start])
        })
    }

    /// `(row, day index)` of considered events `b..e`.
    #[inline]
    fn span(&self, b: usize, e: usize) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.rows
            .range(b, e)
            .zip(&self.days[b..e])
            .map(|(r, &d)| (r, d as u32))
    }
}

/// Session cuts over the considered events.
#[derive(Default)]
struct Sessions {
    /// Index into [`Considered::events`] of each session's first event, in order (a session
    /// ends where the next one starts: users' ranges are contiguous).
    starts: Vec<u32>,
    /// Per considered user, the index of their first session in `starts`, plus the total.
    user_first: Vec<u32>,
    durations: Vec<i64>,
    per_day: Vec<u64>,
    per_user: CountDistribution,
    events_per_session: CountDistribution,
}

impl Sessions {
    fn end(&self, j: usize, events: usize) -> usize {
        self.starts.get(j + 1).map_or(events, |&s| s as usize)
    }

    /// `per_day` counted again from the sessions' first events' day indices `days` (of the
    /// considered events, `n_days` days on the axis): what a walk that cuts them counts too.
    fn count_per_day(&mut self, days: &[u16], n_days: usize) {
        self.per_day.clear();
        self.per_day.resize(n_days, 0);
        for &b in &self.starts {
            if let Some(k) = self.per_day.get_mut(days[b as usize] as usize) {
                *k += 1;
            }
        }
    }

    /// Each session's active time from the prefix sums of the policy-applied durations of
    /// `events` considered events, into `out` (an outlier-knob change re-reads them). Its own
    /// function, extending `out` from an iterator: inside `MetricsCache::run`, a push per
    /// session kept the length in memory in wasm.
    #[inline(never)]
    fn active_times(&self, prefix: &CompactPrefix, events: usize, out: &mut Vec<i64>) {
        out.clear();
        // A range's map: an exact-length iterator, which `extend` writes without a capacity
        // check per item.
        out.extend(
            (0..self.starts.len())
                .map(|j| prefix.range(self.starts[j] as usize, self.end(j, events))),
        );
    }

    /// Sessions per user, read off `user_first` rather than collected during the cut, and
    /// events per session from the walk's tally of them (`sizes`).
    fn distributions(&mut self, sizes: CountTally) {
        let per_user = self.user_first.windows(2).map(|w| i64::from(w[1] - w[0]));
        self.per_user = CountDistribution::from_values(per_user);
        self.events_per_session = sizes.finish();
    }
}

/// Event durations under the outlier knobs.
#[derive(Default)]
struct Durations {
    threshold: Option<i64>,
    report: Option<OutlierReport>,
    /// Per considered user: Σ `duration_ms` after the policy (power users' interaction time).
    user_totals: Vec<i64>,
    /// `prefix[i]`: Σ policy-applied `duration_ms` of considered events `0..i` (null and
    /// filtered add 0), so a session's active time is `prefix[end] − prefix[start]` (exact:
    /// integers).
    prefix: CompactPrefix,
}

impl Durations {
    /// `user_totals` from the prefix sums, for considered users `(user, start, end)`.
    fn sum_per_user(&mut self, users: &[(u32, u32, u32)]) {
        self.user_totals.clear();
        let prefix = &self.prefix;
        self.user_totals.extend(
            users
                .iter()
                .map(|&(_, b, e)| prefix.range(b as usize, e as usize)),
        );
    }
}

/// The activity definition's active intervals, user by user.
#[derive(Default)]
struct Activity {
    /// `[a, b]` clipped to the axis, ascending per user.
    intervals: Vec<(i32, i32)>,
    /// Per considered user, the index of their first interval, plus the total.
    user_first: Vec<u32>,
    /// Per-event segments: `(bucket, start, end)` ranges of `bucket_intervals`, user by user
    /// (the definition evaluated on the user's events of that bucket).
    bucket_runs: Vec<(u16, u32, u32)>,
    bucket_intervals: Vec<(i32, i32)>,
    /// Per-event segments: users with ≥ 1 considered event in each bucket, and events.
    bucket_users: Vec<u64>,
    bucket_events: Vec<u64>,
    /// Per-event segments with the minimal definition ([`bucket_presence_pass`]): each
    /// bucket's active-user series accumulated directly (no interval lists are kept; the key
    /// then holds `mau` and `wstart` too). Empty otherwise.
    bucket_accs: Vec<ActivityAccumulator>,
    /// Scratch of [`event_units_pass`]: the considered events that are units.
    units: EventMask,
}

/// Session cut candidates of the considered events, for re-cutting sessions after a session
/// knob changes without re-reading the event times.
#[derive(Default)]
struct GapIndex {
    /// Per event (of the store, or of the listed considered rows): the gap to the user's
    /// previous event in whole minutes, capped at [`GAP_MAX_MINS`]; a user's first event is
    /// [`FIRST_EVENT`]. A gap `G` (whole minutes,
    /// ≤ 24 h) cuts before the events whose capped gap is `≥ G` (`gap ≥ G·60,000 ⟺
    /// ⌊gap / 60,000⌋ ≥ G`). No local day is coded: the index depends on the considered rows
    /// only, so it outlives a time-zone change (the midnight split reads the days apart, see
    /// [`EventMask::or_changes`]).
    codes: Vec<u16>,
}

/// The largest gap knob (24 h) in minutes: longer gaps are stored as this.
const GAP_MAX_MINS: u16 = 24 * 60;
/// [`GapIndex::codes`] of a user's first event: always a cut.
const FIRST_EVENT: u16 = 0xffff;

/// One cached value and the (projected) params it was computed for.
#[derive(Default)]
struct Slot<T> {
    key: Option<Params>,
    value: T,
}

impl<T> Slot<T> {
    fn fresh(&self, key: &Params) -> bool {
        self.key.as_ref() == Some(key)
    }
}

/// What a cache entry was computed from: the address and length of every column of the store
/// and the metadata, and a hash of a strided sample of their values. A caller keeps one
/// [`MetricsCache`] per loaded dataset (the worker replaces the dataset while the old one is
/// still alive, so a new store never shares the old one's buffers); this check is the safety
/// net.
#[derive(Debug, Clone, PartialEq)]
struct DataId {
    shape: Vec<usize>,
    sample: u64,
}

fn data_id(store: &EventStore, metadata: Option<&MetadataTable>) -> DataId {
    let mut shape = vec![
        store.time_ms.as_ptr() as usize,
        store.time_ms.len(),
        store.action.as_ptr() as usize,
        store.page.as_ptr() as usize,
        store.duration_ms.as_ptr() as usize,
        store.app_version.as_ptr() as usize,
        store.user_offsets.as_ptr() as usize,
        store.user_offsets.len(),
        store.duplicate_rows.as_ptr() as usize,
        store.duplicate_rows.len(),
        store.users.len(),
        store.actions.len(),
        store.pages.len(),
        store.app_versions.len(),
    ];
    if let Some(m) = metadata {
        shape.extend([
            m.user_keys.as_ptr() as usize,
            m.len(),
            m.join_day.as_ptr() as usize,
        ]);
        for c in &m.columns {
            shape.extend([c.values.as_ptr() as usize, c.values.len(), c.dict.len()]);
        }
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |x: u64| h = (h ^ x).wrapping_mul(0x0000_0100_0000_01b3);
    let n = store.len();
    for i in (0..n).step_by((n / 4096).max(1)) {
        mix(store.time_ms[i] as u64);
        mix(store.action[i] as u64);
        mix(store.page[i] as u64);
        mix(store.duration_ms[i].0 as u64);
        mix(store.app_version[i] as u64);
    }
    let u = store.user_offsets.len();
    for i in (0..u).step_by((u / 1024).max(1)) {
        mix(store.user_offsets[i] as u64);
    }
    if let Some(m) = metadata {
        for i in (0..m.len()).step_by((m.len() / 1024).max(1)) {
            mix(m.join_day[i].map_or(u64::MAX, |d| d as u64));
            for c in &m.columns {
                mix(c.values.get(i).copied().unwrap_or(0) as u64);
            }
        }
    }
    DataId { shape, sample: h }
}

/// The params the day axis and the considered events depend on.
fn key_filter(p: &Params) -> Params {
    let seg_filter = !p.segment_values.is_empty();
    Params {
        time_zone: p.time_zone.clone(),
        from: p.from,
        to: p.to,
        duplicates: p.duplicates,
        segment: if seg_filter { p.segment.clone() } else { None },
        segment_values: p.segment_values.clone(),
        ..Params::default()
    }
}

/// The knobs that choose *which* events are considered, and in what order, but not their days:
/// [`key_filter`] without the time zone when no date range is set (the axis then spans the
/// data in any zone, so every event is on it). Parts that read the considered rows but not
/// their local days (the sorted durations, the event-duration outliers and prefix sums, the
/// app versions) are keyed on it, so a time-zone change does not sort the durations again.
fn key_rows(p: &Params) -> Params {
    let mut key = key_filter(p);
    if p.from.is_none() && p.to.is_none() {
        key.time_zone = Params::default().time_zone;
    }
    key
}

fn key_plan(p: &Params) -> Params {
    Params {
        segment: p.segment.clone(),
        segment_values: p.segment_values.clone(),
        top_segments: p.top_segments,
        ..Params::default()
    }
}

/// Considered events plus the outlier knobs.
fn key_outliers(p: &Params) -> Params {
    Params {
        outlier_detector: p.outlier_detector,
        outlier_cap_mins: p.outlier_cap_mins,
        outlier_percentile: p.outlier_percentile,
        outlier_z: p.outlier_z,
        outlier_policy: p.outlier_policy,
        ..key_rows(p)
    }
}

fn key_versions(p: &Params) -> Params {
    Params {
        top_versions: p.top_versions,
        ..key_rows(p)
    }
}

/// The sessions with their local days (sessions per day, and every part that reads a session's
/// day: the session-based definitions, the segment series).
fn key_sessions(p: &Params) -> Params {
    Params {
        session_gap_mins: p.session_gap_mins,
        max_session_mins: p.max_session_mins,
        split_at_midnight: p.split_at_midnight,
        ..key_filter(p)
    }
}

/// The session cuts alone: which considered events each session spans. They read the event
/// times, not their local days — unless the midnight split is on — so without a date range
/// ([`key_rows`]) a time-zone change keeps them (and their durations, outliers and active
/// time); only the sessions per day are counted again.
fn key_cuts(p: &Params) -> Params {
    Params {
        session_gap_mins: p.session_gap_mins,
        max_session_mins: p.max_session_mins,
        split_at_midnight: p.split_at_midnight,
        ..if p.split_at_midnight {
            key_filter(p)
        } else {
            key_rows(p)
        }
    }
}

/// Session cuts plus the outlier knobs (session-duration report, active time).
fn key_session_outliers(p: &Params) -> Params {
    Params {
        outlier_detector: p.outlier_detector,
        outlier_cap_mins: p.outlier_cap_mins,
        outlier_percentile: p.outlier_percentile,
        outlier_z: p.outlier_z,
        outlier_policy: p.outlier_policy,
        ..key_cuts(p)
    }
}

/// Whether the activity definition looks at sessions.
fn definition_needs_sessions(p: &Params) -> bool {
    match p.definition {
        ActivityDefinition::Minimal => false,
        ActivityDefinition::Core => p.core_strict,
        ActivityDefinition::Session | ActivityDefinition::Custom => true,
    }
}

fn key_activity(p: &Params) -> Params {
    let base = if definition_needs_sessions(p) {
        key_sessions(p)
    } else {
        key_filter(p)
    };
    Params {
        definition: p.definition,
        actions: p.actions.clone(),
        inactive_actions: p.inactive_actions.clone(),
        core_min_events: p.core_min_events,
        core_actions: p.core_actions.clone(),
        core_strict: p.core_strict,
        min_session_mins: p.min_session_mins,
        custom_window_days: p.custom_window_days,
        custom_min_events: p.custom_min_events,
        ..base
    }
}

/// The activity per bucket of a per-event segment: the activity knobs plus the segment, and
/// with the minimal definition (`presence`: [`bucket_presence_pass`] accumulates the series
/// directly) the accumulator's knobs.
fn key_bucket_activity(p: &Params, presence: bool) -> Params {
    let base = Params {
        segment: p.segment.clone(),
        segment_values: p.segment_values.clone(),
        top_segments: p.top_segments,
        ..key_activity(p)
    };
    if presence {
        Params {
            mau_window_days: p.mau_window_days,
            week_start: p.week_start,
            ..base
        }
    } else {
        base
    }
}

/// Whether the per-bucket activity of a per-event segment with `n_buckets` buckets takes
/// [`bucket_presence_pass`]: the minimal definition (window 1, one unit), ≤ 64 buckets (one
/// bit each in a `u64`).
fn presence_path(p: &Params, n_buckets: usize) -> bool {
    p.definition == ActivityDefinition::Minimal
        && activity::window_and_min(p) == (1, 1)
        && n_buckets <= 64
}

/// Activity intervals plus the accumulator's knobs.
fn key_series(p: &Params) -> Params {
    Params {
        mau_window_days: p.mau_window_days,
        week_start: p.week_start,
        ..key_activity(p)
    }
}

/// Retention and lifecycle inputs: activity intervals, join days, start and return days.
fn key_user_days(p: &Params) -> Params {
    Params {
        retention_start_actions: p.retention_start_actions.clone(),
        retention_return_actions: p.retention_return_actions.clone(),
        ..key_activity(p)
    }
}

fn key_retention(p: &Params) -> Params {
    Params {
        retention_granularity: p.retention_granularity,
        cohort_by: p.cohort_by,
        retention_span: p.retention_span,
        week_start: p.week_start,
        ..key_user_days(p)
    }
}

fn key_lifecycle(p: &Params) -> Params {
    Params {
        lifecycle_granularity: p.lifecycle_granularity,
        cohort_by: p.cohort_by,
        week_start: p.week_start,
        ..key_user_days(p)
    }
}

/// Interaction time (outlier knobs) and active days (activity) per user, plus the ranking.
fn key_power(p: &Params) -> Params {
    Params {
        outlier_detector: p.outlier_detector,
        outlier_cap_mins: p.outlier_cap_mins,
        outlier_percentile: p.outlier_percentile,
        outlier_z: p.outlier_z,
        outlier_policy: p.outlier_policy,
        power_pct: p.power_pct,
        power_segment: p.power_segment.clone(),
        ..key_activity(p)
    }
}

/// The segment series: sessions, activity (per bucket for a per-event segment), the segment
/// plan and the accumulator's knobs.
fn key_segments(p: &Params) -> Params {
    Params {
        session_gap_mins: p.session_gap_mins,
        max_session_mins: p.max_session_mins,
        split_at_midnight: p.split_at_midnight,
        mau_window_days: p.mau_window_days,
        week_start: p.week_start,
        ..key_bucket_activity(p, false)
    }
}

/// The sessions per segment bucket: the session cuts with their local days, and the plan.
fn key_segment_sessions(p: &Params) -> Params {
    Params {
        segment: p.segment.clone(),
        segment_values: p.segment_values.clone(),
        top_segments: p.top_segments,
        ..key_sessions(p)
    }
}

/// Events per user of the considered rows: no local day is read.
fn key_skew(p: &Params) -> Params {
    Params {
        partitions: p.partitions,
        top_users: p.top_users,
        ..key_rows(p)
    }
}

/// Memoised parts of [`compute`] for one dataset: after a knob change only the parts that
/// depend on that knob are recomputed (a gap change re-cuts sessions but keeps the activity of
/// a definition that ignores sessions, the event-duration percentiles, the app-version report,
/// skew, …). Every part is keyed by exactly the params it reads, and by the data (see
/// [`MetricsCache::compute`]), so the report is identical to a cold [`compute`] — the test
/// `tests/metrics_cache.rs` compares them after every step of a sequence of knob changes.
///
/// Keep one cache per loaded dataset (drop it, or call [`MetricsCache::clear`], when the data
/// changes). Memory: the considered-event list and the prefix sums (8 bytes per event each), the
/// sorted durations and the sort's scratch (8 bytes per non-null duration each), the gap index
/// (2 bytes per stored event, and 2 per considered event under a filter), the session cuts
/// (12 bytes per session), per-user totals and intervals (per bucket too, for a per-event segment), and the scratch
/// vectors of the last recompute.
#[derive(Default)]
pub struct MetricsCache {
    data: Option<DataId>,
    /// The data's first and last event time (`None` inside: no event), once read.
    time_range: Option<Option<(i64, i64)>>,
    join: Slot<Option<UserJoin>>,
    plan: Slot<Option<SegmentPlan>>,
    considered: Slot<Considered>,
    durations: Slot<Durations>,
    versions: Slot<Option<VersionReport>>,
    /// Key: [`key_cuts`]. Its `per_day` is valid for [`MetricsCache::session_days`].
    sessions: Slot<Sessions>,
    /// The [`key_sessions`] that `sessions.per_day` was counted for (the cuts may outlive it).
    session_days: Option<Params>,
    session_report: Slot<Option<OutlierReport>>,
    active_time: Slot<Option<DurationStats>>,
    activity: Slot<Activity>,
    /// Per-event segments only: the activity per bucket (key: activity + segment).
    bucket_activity: Slot<Activity>,
    segments: Slot<Option<SegmentBreakdown>>,
    /// The sessions per bucket of the breakdown (key: sessions + segment).
    segment_sessions: Slot<Vec<BucketSessions>>,
    series: Slot<Option<ActiveSeries>>,
    retention: Slot<Option<RetentionReport>>,
    lifecycle: Slot<Option<LifecycleReport>>,
    power: Slot<Option<PowerReport>>,
    skew: Slot<Option<SkewReport>>,
    /// The gap index of every stored event, built with the first session cut (key: the default
    /// params, i.e. the data alone; not by [`compute_with_clock`], which computes once).
    store_gaps: Slot<GapIndex>,
    /// The gap index of listed considered rows (a filter is set), derived from `store_gaps`
    /// (key: the considered rows, [`key_rows`]). Unused while every event is considered.
    gap_index: Slot<GapIndex>,
    /// Non-null durations of the considered events, sorted (key: the considered rows,
    /// [`key_rows`]).
    sorted_durations: Slot<SortedDurations>,
    /// The considered rows ([`key_rows`]) whose durations the last compute selected from
    /// instead of sorting: a second compute that needs them (an outlier or `vtop` change)
    /// sorts them.
    selected_rows: Option<Params>,
    /// Used for one compute only ([`compute_with_clock`]): no gap index is built for later
    /// session-knob changes.
    cold_only: bool,
    /// Scratch, reused between recomputes.
    sort_scratch: Vec<u32>,
    session_active: Vec<i64>,
    cut_bits: EventMask,
}

thread_local! {
    /// The cache behind [`compute`], cleared on every call: only its allocations are reused.
    static COLD: std::cell::RefCell<MetricsCache> = std::cell::RefCell::new(MetricsCache::default());
}

/// Compute every metric of the report for `params`.
///
/// Errors: an unknown time zone, a breakdown column the metadata lacks (or no metadata for a
/// per-user column), a day axis over [`MAX_DAYS`], or knob values out of range when `params`
/// was built by hand rather than parsed. Never panics on user data.
///
/// Always a cold compute (nothing is reused between calls but the allocations of the large
/// vectors, kept in a thread-local); [`MetricsCache`] memoises parts between knob changes.
/// The report's `profile` has every stage with 0 ms (no clock is read, so results are
/// deterministic); use [`compute_with_clock`] to time the stages.
pub fn compute(
    store: &EventStore,
    metadata: Option<&MetadataTable>,
    params: &Params,
) -> Result<MetricsReport, MetricsError> {
    compute_with_clock(store, metadata, params, &NoClock)
}

/// [`compute`], timing each stage of the recompute with `clock` into the report's `profile`
/// (`SystemClock` natively; the worker passes `performance.now()` — `std::time::Instant` panics
/// on wasm32).
pub fn compute_with_clock(
    store: &EventStore,
    metadata: Option<&MetadataTable>,
    params: &Params,
    clock: &dyn Clock,
) -> Result<MetricsReport, MetricsError> {
    let mut cache = COLD.with(|c| std::mem::take(&mut *c.borrow_mut()));
    cache.clear();
    cache.cold_only = true;
    let out = cache.compute(store, metadata, params, clock);
    cache.clear();
    COLD.with(|c| *c.borrow_mut() = cache);
    out
}

impl MetricsCache {
    pub fn new() -> MetricsCache {
        MetricsCache::default()
    }

    /// Forget every cached part (their allocations stay, to be reused).
    pub fn clear(&mut self) {
        self.data = None;
        self.time_range = None;
        self.join.key = None;
        self.plan.key = None;
        self.considered.key = None;
        self.durations.key = None;
        self.versions.key = None;
        self.sessions.key = None;
        self.session_days = None;
        self.session_report.key = None;
        self.active_time.key = None;
        self.activity.key = None;
        self.bucket_activity.key = None;
        self.segments.key = None;
        self.segment_sessions.key = None;
        self.series.key = None;
        self.retention.key = None;
        self.lifecycle.key = None;
        self.power.key = None;
        self.skew.key = None;
        self.gap_index.key = None;
        self.store_gaps.key = None;
        self.sorted_durations.key = None;
        self.selected_rows = None;
    }

    /// Sort the event durations of `params`' considered rows now, when the last compute over
    /// them selected their percentiles instead (see `selected_rows`) and they are not sorted
    /// yet; returns whether it sorted. For idle time (the worker calls it when no request came
    /// for a while after a compute): a first outlier-knob change then reads sorted values
    /// instead of sorting first. The event-duration and version parts are computed again from
    /// the sorted values (equal to the selected ones); every other part stays cached.
    pub fn sort_selected(
        &mut self,
        store: &EventStore,
        metadata: Option<&MetadataTable>,
        params: &Params,
    ) -> Result<bool, MetricsError> {
        let rows = key_rows(params);
        if self.data.as_ref() != Some(&data_id(store, metadata))
            || self.selected_rows.as_ref() != Some(&rows)
            || self.sorted_durations.fresh(&rows)
        {
            return Ok(false);
        }
        self.durations.key = None;
        self.versions.key = None;
        self.compute(store, metadata, params, &NoClock)?;
        Ok(self.sorted_durations.fresh(&rows))
    }

    /// [`compute_with_clock`], reusing the parts of earlier recomputes on the same data whose
    /// params are unchanged. The profile's details end in "(cached)" for reused parts.
    pub fn compute(
        &mut self,
        store: &EventStore,
        metadata: Option<&MetadataTable>,
        params: &Params,
        clock: &dyn Clock,
    ) -> Result<MetricsReport, MetricsError> {
        let id = data_id(store, metadata);
        if self.data.as_ref() != Some(&id) {
            self.clear();
            self.data = Some(id);
        }
        self.run(store, metadata, params, clock)
    }

    fn run(
        &mut self,
        store: &EventStore,
        metadata: Option<&MetadataTable>,
        params: &Params,
        clock: &dyn Clock,
    ) -> Result<MetricsReport, MetricsError> {
        let mut prof = Profiler::new(clock);
        let tz = validate(params)?;
        let cached = |hit: bool, what: &str| {
            if hit {
                format!("{what} (cached)")
            } else {
                what.to_string()
            }
        };

        // Day axis (the data's time range: read once per dataset, one look at each user).
        let span = *self
            .time_range
            .get_or_insert_with(|| store.time_range().map(|(a, b)| (a.0, b.0)));
        let (t_min, t_max) = span.unwrap_or((i64::MAX, i64::MIN));
        let has_data = span.is_some();
        let first = params
            .from
            .map(|d| d.0)
            .or_else(|| has_data.then(|| calendar::local_day(tz, t_min)));
        let last = params
            .to
            .map(|d| d.0)
            .or_else(|| has_data.then(|| calendar::local_day(tz, t_max)));
        let (first, days) = match (first, last) {
            (Some(f), Some(l)) if l >= f => {
                let span = l as i64 - f as i64 + 1;
                if span > MAX_DAYS as i64 {
                    return Err(MetricsError::RangeTooLong { days: span });
                }
                (f, span as usize)
            }
            (Some(f), _) => (f, 0),
            _ => (0, 0),
        };
        let last = first + days as i32 - 1;

        // Join and segments: they depend on the data (and seg/segv/topn) only.
        let join_key = Params::default();
        let join_hit = self.join.fresh(&join_key);
        if !join_hit {
            self.join.value = metadata.map(|m| join::join_users(store, m));
            self.join.key = Some(join_key);
        }
        let plan_key = key_plan(params);
        let plan_hit = self.plan.fresh(&plan_key);
        if !plan_hit {
            self.plan.key = None;
            self.plan.value =
                join::plan_segments(store, metadata, self.join.value.as_ref(), params)?;
            self.plan.key = Some(plan_key);
        }
        let join = self.join.value.as_ref();
        let plan = self.plan.value.as_ref();
        let seg_column: Option<&[u16]> = match (plan, &params.segment) {
            (Some(p), Some(super::params::Segment::AppVersion)) if !p.per_user => {
                Some(&store.app_version)
            }
            (Some(p), Some(super::params::Segment::ActionType)) if !p.per_user => {
                Some(&store.action)
            }
            _ => None,
        };
        let n_store = store.len() as u64;
        prof.stage_detail(
            StageKind::Join,
            cached(
                join_hit && plan_hit,
                "day axis, metadata join, segment plan",
            ),
            n_store,
            store.user_count() as u64,
            join.map_or(0, |j| j.meta_row.len() as u64 * 4),
        );

        // Event durations: outliers, interaction time per user, app versions.
        let meta_rows = join.map(|j| &j.meta_row);
        let meta_value = |col: Option<&super::metadata::MetaColumn>, ui: usize| -> Option<u16> {
            let r = *meta_rows?.get(ui)?;
            col?.values.get(r as usize).copied()
        };
        let device_col = metadata.and_then(|m| m.column("device_type"));
        let okey = key_outliers(params);
        let vkey = key_versions(params);
        let d_hit = self.durations.fresh(&okey);
        let v_hit = self.versions.fresh(&vkey);
        let ikey = key_rows(params);
        let i_hit = self.sorted_durations.fresh(&ikey);
        let durations: &[DurationMs] = &store.duration_ms;
        // The cap detector's threshold is known before the values: the prefix sums of the
        // policy-applied durations are then built in the pass that collects the durations (with
        // no duration at all every prefix is 0 whatever the threshold).
        let early = (!d_hit && !i_hit && params.outlier_detector == OutlierDetector::Cap)
            .then(|| params.outlier_cap_mins as i64 * 60_000);
        let device = |u: usize| meta_value(device_col, u).unwrap_or(0);
        let groups = (
            store.app_versions.len().max(1),
            device_col.map_or(1, |col| col.dict.len().max(1)),
        );
        // A one-shot compute (the CLI's) of many events sorts the durations and reads their
        // reports on a second thread, while this one builds the prefix sums, cuts sessions and
        // derives activity and the rest: the sort and the version sweep are the longest stage
        // and nothing but the report needs them. Only when the threshold is known early (the cap
        // detector, the default): otherwise the prefix sums wait for the sorted values.
        let side_wanted =
            SIDE_THREAD && self.cold_only && early.is_some() && !(d_hit || v_hit || i_hit);
        // With no date range, no duplicate to drop and no `segv`, every stored event is
        // considered (the axis spans the data; a segment without `segv` filters nothing): the
        // second thread then starts now, from the store's rows, overlapping the considered pass.
        // (Checked after the pass: should it not hold, that thread's work is dropped.)
        let every_stored_event = params.from.is_none()
            && params.to.is_none()
            && (params.duplicates == DuplicatePolicy::Keep || store.duplicate_rows.is_empty())
            && params.segment_values.is_empty();
        let dict = device_col.map(|col| &col.dict);
        std::thread::scope(|scope| {
            // The sorted values and the sort's scratch move to the second thread and back
            // (their allocations are kept for the next compute).
            let mut side_job = (side_wanted
                && every_stored_event
                && store.len() >= SIDE_THREAD_MIN_EVENTS)
                .then(|| {
                    let job = SideJob {
                        store,
                        params,
                        users: SideUsers::Store,
                        device,
                        groups,
                        dict,
                    };
                    job.start(scope, &mut self.sorted_durations, &mut self.sort_scratch)
                });
            // Considered events and their local days.
            let fkey = key_filter(params);
            let f_hit = self.considered.fresh(&fkey);
            if !f_hit {
                // The same rows as before (a zone change without a date range): their null
                // durations are not counted again.
                let same_rows = self
                    .considered
                    .key
                    .take()
                    .is_some_and(|k| key_rows(&k) == key_rows(params));
                let known_nulls = same_rows.then_some(self.considered.value.null_durations);
                let cal = DayCalendar::new(tz, first, last.max(first));
                let filter = Filter {
                    store,
                    cal: &cal,
                    first,
                    last,
                    every_time_inside: has_data
                        && last >= first
                        && t_min >= cal.start_of(first)
                        && t_max < cal.start_of(last + 1),
                    drop_dups: params.duplicates == DuplicatePolicy::Drop,
                    seg: plan,
                    seg_column,
                };
                considered_pass(
                    &mut self.considered.value,
                    store,
                    &filter,
                    days,
                    known_nulls,
                );
                self.considered.key = Some(fkey);
            }
            let c = &self.considered.value;
            prof.stage_detail(
                StageKind::Sessionize,
                cached(f_hit, "considered events, local days"),
                n_store,
                c.len() as u64,
                (c.rows.heap_bytes()
                    + c.days.capacity() * 2
                    + c.day_runs.capacity() * 4
                    + c.user_runs_first.capacity() * 4) as u64,
            );

            let all_considered = matches!(c.rows, Rows::Identity) && c.len() == store.len();
            if let Some(job) = side_job.take_if(|_| !all_considered) {
                let dropped = join_side(job);
                self.sorted_durations.value = dropped.sorted;
                self.sort_scratch = dropped.scratch;
            }
            let side_started_late =
                side_wanted && side_job.is_none() && c.len() >= SIDE_THREAD_MIN_EVENTS;
            if side_started_late {
                let job = SideJob {
                    store,
                    params,
                    users: SideUsers::Considered(c),
                    device,
                    groups,
                    dict,
                };
                side_job =
                    Some(job.start(scope, &mut self.sorted_durations, &mut self.sort_scratch));
            }
            let side = side_job.is_some();
            let side_started_early = side && !side_started_late;
            let mut selected = false;
            if side {
                self.durations.key = None;
                let d = &mut self.durations.value;
                policy_prefix_sums(&mut d.prefix, c, durations, early, params.outlier_policy);
                d.sum_per_user(&c.users);
            } else if !(d_hit
                || v_hit
                || i_hit
                || self.selected_rows.as_ref() == Some(&ikey)
                || groups.0.max(1) * groups.1.max(1) > 1 << 16)
            {
                // The first compute under these rows: no sort, a selection (see
                // `MetricsCache::selected_rows`).
                let grouped = grouped_durations(store, c, device, groups);
                let values = grouped.values();
                let d = &mut self.durations.value;
                d.threshold = outliers::detect_threshold(values, params);
                d.report = Some(outliers::outlier_report(
                    "event_duration_ms",
                    values,
                    d.threshold,
                    params,
                ));
                policy_prefix_sums(
                    &mut d.prefix,
                    c,
                    durations,
                    d.threshold,
                    params.outlier_policy,
                );
                d.sum_per_user(&c.users);
                self.durations.key = Some(okey.clone());
                self.versions.value = Some(grouped.report(
                    &store.app_versions,
                    device_col.map(|col| &col.dict),
                    params.top_versions,
                ));
                self.versions.key = Some(vkey.clone());
                self.selected_rows = Some(ikey.clone());
                selected = true;
            } else if !(d_hit && v_hit) {
                let prefix = &mut self.durations.value.prefix;
                if !d_hit {
                    prefix.clear();
                }
                if !i_hit {
                    let prefix = early.map(|t| (prefix, Some(t), params.outlier_policy));
                    sort_durations(
                        &mut self.sorted_durations.value,
                        &mut self.sort_scratch,
                        store,
                        (&c.users, &c.rows),
                        device,
                        groups,
                        prefix,
                    );
                    if !self.cold_only {
                        // A long-lived cache (the worker's) frees the sort's scratch at once: the
                        // allocations that follow (gap codes, sessions) can then reuse its memory,
                        // which lowers the wasm high-water mark (wasm memory never shrinks). The
                        // one-shot path keeps it, as its allocations are reused by the next call.
                        self.sort_scratch = Vec::new();
                    }
                    self.sorted_durations.key = Some(ikey.clone());
                }
                let sd = &self.sorted_durations.value;
                if !d_hit {
                    self.durations.key = None;
                    let d = &mut self.durations.value;
                    d.threshold = sd.threshold(params);
                    d.report = Some(sd.report(
                        "event_duration_ms",
                        d.threshold.filter(|_| !sd.is_empty()),
                        params,
                    ));
                    if early.is_none() {
                        policy_prefix_sums(
                            &mut d.prefix,
                            c,
                            durations,
                            d.threshold,
                            params.outlier_policy,
                        );
                    }
                    debug_assert_eq!(d.prefix.len(), c.len() + 1);
                    d.sum_per_user(&c.users);
                    self.durations.key = Some(okey.clone());
                }
                if !v_hit {
                    self.versions.value = Some(versions::version_report_sorted(
                        sd,
                        &store.app_versions,
                        device_col.map(|col| &col.dict),
                        params.top_versions,
                    ));
                    self.versions.key = Some(vkey.clone());
                }
            }
            let d = &self.durations.value;
            if side {
                prof.stage_detail(
                    StageKind::Aggregate,
                    if side_started_early {
                        SIDE_EARLY_DETAIL
                    } else {
                        SIDE_LATE_DETAIL
                    }
                    .to_string(),
                    c.len() as u64,
                    c.len() as u64 + 1,
                    d.prefix.heap_bytes() as u64,
                );
            } else {
                let what = if selected {
                    "event-duration outliers, app-version percentiles (selected, not sorted)"
                } else if i_hit {
                    "event-duration outliers, app-version percentiles (durations sorted earlier)"
                } else {
                    "event-duration outliers, app-version percentiles"
                };
                let (values, sorted_bytes) = if selected {
                    (c.len() as u64 - c.null_durations, 0)
                } else {
                    let sd = &self.sorted_durations.value;
                    (sd.len() as u64, sd.heap_bytes())
                };
                prof.stage_detail(
                    StageKind::Aggregate,
                    cached(d_hit && v_hit, what),
                    c.len() as u64,
                    values,
                    (sorted_bytes + d.prefix.heap_bytes()) as u64,
                );
            }

            // Sessions (and, when the outlier knobs changed too, each session's active time, summed
            // in the same pass).
            let skey = key_cuts(params);
            let sdkey = key_sessions(params);
            let sokey = key_session_outliers(params);
            let s_hit = self.sessions.fresh(&skey);
            let active_fresh = self.active_time.fresh(&sokey);
            // When the walk cut sessions: each session's active time is summed and the
            // statistics it gathered as it went.
            let mut folded: Option<FoldedStats> = None;
            let mut how = "session cuts";
            if !s_hit {
                // A cache kept for knob changes cuts from the gap index of the considered
                // events (built with their first cut), so that a session-knob change only walks
                // the cuts. The first cut takes the same path, which also has V8 optimise the
                // walk's code before the analyst's first gap change (a wasm function's first
                // call runs baseline code: 51 instead of 38 ms for that change at 10M events).
                // The store's index is built once per dataset; filtered (listed) rows get theirs
                // derived from it.
                let codes = if self.cold_only {
                    None
                } else {
                    how = "session cuts (from the gap index)";
                    let all_key = Params::default();
                    if !self.store_gaps.fresh(&all_key) {
                        build_store_gaps(&mut self.store_gaps.value, store);
                        self.store_gaps.key = Some(all_key);
                        how = "session cuts (gap index built)";
                    }
                    let full = &self.store_gaps.value;
                    Some(match &c.rows {
                        Rows::Identity => &full.codes[..c.len()],
                        Rows::Listed(rows) => {
                            let gi_key = key_rows(params);
                            if !self.gap_index.fresh(&gi_key) {
                                self.gap_index.key = None;
                                derive_gap_index(&mut self.gap_index.value, full, store, c, rows);
                                self.gap_index.key = Some(gi_key);
                                how = "session cuts (gap index derived for the considered rows)";
                            }
                            &self.gap_index.value.codes[..]
                        }
                    })
                };
                self.sessions.key = None;
                self.active_time.key = None;
                self.session_active.clear();
                let rules = SessionRules::from_params(params);
                let threshold = outliers::threshold_before_values(params);
                folded = Some(if let Some(codes) = codes {
                    sessions_from_gap_index(
                        &mut self.sessions.value,
                        codes,
                        &mut self.cut_bits,
                        store,
                        c,
                        &rules,
                        days,
                        (&d.prefix, &mut self.session_active),
                        threshold,
                    )
                } else {
                    // A one-shot compute: one walk of every event.
                    sessions_pass(
                        &mut self.sessions.value,
                        store,
                        c,
                        &rules,
                        days,
                        (&d.prefix, &mut self.session_active),
                        threshold,
                    )
                });
                self.sessions.key = Some(skey);
                self.session_days = Some(sdkey.clone());
            }
            let days_hit = self.session_days.as_ref() == Some(&sdkey);
            if !days_hit {
                // The same cuts under other local days (a time-zone change): count them again.
                self.sessions.value.count_per_day(&c.days, days);
                self.session_days = Some(sdkey);
                how = "session cuts (cached), sessions per day counted again";
            }
            let s = &self.sessions.value;
            prof.stage_detail(
                StageKind::Sessionize,
                cached(s_hit && days_hit, how),
                c.len() as u64,
                s.starts.len() as u64,
                (s.starts.capacity() * 4 + s.durations.capacity() * 8 + self.cut_bits.heap_bytes())
                    as u64,
            );

            // Session durations and active time under the outlier policy.
            let so_hit = self.session_report.fresh(&sokey) && active_fresh && s_hit;
            if !self.session_report.fresh(&sokey) {
                self.session_report.key = None;
                let threshold = outliers::detect_threshold(&s.durations, params);
                let target = "session_duration_ms";
                let tallied = folded.as_mut().and_then(|f| f.durations.take());
                self.session_report.value = Some(match tallied {
                    Some(pass) if pass.made_for(threshold) => {
                        pass.finish(target, &s.durations, threshold, params)
                    }
                    _ => outliers::outlier_report(target, &s.durations, threshold, params),
                });
                self.session_report.key = Some(sokey.clone());
            }
            if !(s_hit && active_fresh) {
                self.active_time.key = None;
                let sa = &mut self.session_active;
                self.active_time.value = Some(match folded.take() {
                    Some(f) => f.active.finish(sa),
                    None => {
                        s.active_times(&d.prefix, c.len(), sa);
                        outliers::duration_stats(sa)
                    }
                });
                self.active_time.key = Some(sokey);
            }
            prof.stage_detail(
                StageKind::Aggregate,
                cached(so_hit, "session-duration outliers, active time"),
                s.starts.len() as u64,
                2,
                self.session_active.capacity() as u64 * 8,
            );

            // Activity: per-user active intervals of the definition.
            let periods = Periods::new(first, days, params.week_start);
            let names = &store.actions;
            let in_list = |list: &[String], a: &str| list.iter().any(|x| x == a);
            let akey = key_activity(params);
            let a_hit = self.activity.fresh(&akey);
            let seg = match (plan, seg_column) {
                (Some(p), Some(col)) => Some((p, col)),
                _ => None,
            };
            let presence = seg.is_some_and(|(p, _)| presence_path(params, p.buckets()));
            let bkey = key_bucket_activity(params, presence);
            let b_hit = seg.is_none() || self.bucket_activity.fresh(&bkey);
            if !(a_hit && b_hit) {
                let qual: Vec<bool> = names
                    .iter()
                    .enumerate()
                    .map(|(i, a)| {
                        i != 0
                            && !a.is_empty()
                            && !in_list(&params.inactive_actions, a)
                            && params.actions.as_ref().is_none_or(|s| in_list(s, a))
                    })
                    .collect();
                let core: Vec<bool> = names
                    .iter()
                    .enumerate()
                    .map(|(i, a)| {
                        i != 0
                            && !a.is_empty()
                            && !in_list(&params.inactive_actions, a)
                            && in_list(&params.core_actions, a)
                    })
                    .collect();
                let (window, min_count) = activity::window_and_min(params);
                let units = UnitRules {
                    def: params.definition,
                    strict: params.core_strict,
                    by_session: definition_needs_sessions(params),
                    qual: &qual,
                    core: &core,
                    page_view: store.actions.position("page_view").map(|i| i as u16),
                    min_session_ms: params.min_session_mins as i64 * 60_000,
                    any_session: params.definition == ActivityDefinition::Custom
                        && params.min_session_mins == 0,
                    window,
                    min_count,
                };
                if !a_hit {
                    self.activity.key = None;
                    let out = &mut self.activity.value;
                    activity_pass(out, store, c, s, &units, (first, last), None);
                    self.activity.key = Some(akey);
                }
                if !b_hit {
                    self.bucket_activity.key = None;
                    let out = &mut self.bucket_activity.value;
                    let span = (first, last);
                    let seg = seg.map(|(p, col)| (p, col, &periods, params.mau_window_days));
                    activity_pass(out, store, c, s, &units, span, seg);
                    self.bucket_activity.key = Some(bkey);
                }
            }
            let act = &self.activity.value;
            let bucket_act = &self.bucket_activity.value;
            prof.stage_detail(
                StageKind::Activity,
                cached(
                    a_hit && b_hit,
                    match (a_hit, b_hit) {
                        (true, false) => "activity units per segment bucket (overall reused)",
                        _ => "activity units, active intervals",
                    },
                ),
                c.len() as u64,
                act.intervals.len() as u64,
                (act.intervals.capacity() * 8 + bucket_act.bucket_intervals.capacity() * 8) as u64,
            );

            // Segment series, before the overall series: a breakdown by a per-user column
            // splits the users into disjoint buckets, so its buckets' accumulators sum to the
            // overall one (`total`), which then needs no pass of its own over the users'
            // intervals.
            let gkey = key_segments(params);
            let g_hit = self.segments.fresh(&gkey);
            let mut summed: Option<ActivityAccumulator> = None;
            if !g_hit {
                self.segments.key = None;
                self.segments.value = None;
                if let Some(p) = plan {
                    let sskey = key_segment_sessions(params);
                    if !self.segment_sessions.fresh(&sskey) {
                        self.segment_sessions.key = None;
                        self.segment_sessions.value = segment_sessions(p, c, s, seg_column, days);
                        self.segment_sessions.key = Some(sskey);
                    }
                    let (breakdown, total) = segment_series(
                        p,
                        c,
                        &self.segment_sessions.value,
                        (act, bucket_act),
                        seg_column,
                        first,
                        days,
                        params,
                        &periods,
                    );
                    self.segments.value = Some(breakdown);
                    summed = total;
                }
                self.segments.key = Some(gkey);
            }
            let segments = self.segments.value.clone();
            prof.stage_detail(
                StageKind::Join,
                cached(g_hit, "segment series"),
                c.users.len() as u64,
                segments.as_ref().map_or(0, |s| s.segments.len() as u64),
                0,
            );

            // Per-user series: DAU/WAU/MAU, retention inputs, power-user totals.
            let flags = |list: &[String]| -> Option<Vec<bool>> {
                (!list.is_empty()).then(|| names.iter().map(|a| in_list(list, a)).collect())
            };
            let start_flags = flags(&params.retention_start_actions);
            let return_flags = flags(&params.retention_return_actions);
            let actions = &store.action;
            let user_active = |k: usize| -> &[(i32, i32)] {
                &act.intervals[act.user_first[k] as usize..act.user_first[k + 1] as usize]
            };
            let series_key = key_series(params);
            let series_hit = self.series.fresh(&series_key);
            if !series_hit {
                self.series.key = None;
                let total = summed.unwrap_or_else(|| {
                    let mut total =
                        ActivityAccumulator::new(first, days, params.mau_window_days, &periods);
                    for k in 0..c.users.len() {
                        total.add_user(user_active(k));
                    }
                    total
                });
                self.series.value = Some(total.finish(&periods));
                self.series.key = Some(series_key);
            }
            let activity = self.series.value.clone().expect("series computed above");
            // Retention and lifecycle inputs (borrowing the cached intervals), built only when one
            // of the two is recomputed.
            let rkey = key_retention(params);
            let lkey = key_lifecycle(params);
            let r_hit = self.retention.fresh(&rkey);
            let l_hit = self.lifecycle.fresh(&lkey);
            let mut user_days: Vec<UserDays<'_>> = Vec::new();
            if !(r_hit && l_hit) {
                user_days.reserve(c.users.len());
                for (k, &(u, b, e)) in c.users.iter().enumerate() {
                    let ui = u as usize;
                    let (b, e) = (b as usize, e as usize);
                    let join_day = match (meta_rows, metadata) {
                        (Some(mr), Some(m)) => mr
                            .get(ui)
                            .and_then(|&r| m.join_day.get(r as usize).copied().flatten()),
                        _ => None,
                    };
                    let start_day = start_flags.as_ref().and_then(|f| {
                        c.span(b, e)
                            .find(|&(row, _)| f[actions[row as usize] as usize])
                            .map(|(_, di)| first + di as i32)
                    });
                    let return_days = return_flags.as_ref().map(|f| {
                        let mut v: Vec<i32> = Vec::new();
                        for (row, di) in c.span(b, e) {
                            let d = first + di as i32;
                            if f[actions[row as usize] as usize] && v.last() != Some(&d) {
                                v.push(d);
                            }
                        }
                        v
                    });
                    user_days.push(UserDays {
                        active: user_active(k),
                        join_day,
                        start_day,
                        return_days,
                    });
                }
            }
            prof.stage_detail(
                StageKind::Activity,
                cached(
                    series_hit && r_hit && l_hit,
                    "DAU/WAU/MAU, periods, stickiness, L7/L30",
                ),
                c.users.len() as u64,
                days as u64,
                0,
            );

            let last_partial = |g: Granularity| -> bool {
                days > 0
                    && match g {
                        Granularity::Day => false,
                        Granularity::Week => calendar::weekday(last + 1) != params.week_start,
                        Granularity::Month => {
                            calendar::year_month(last + 1) == calendar::year_month(last)
                        }
                    }
            };
            if !r_hit {
                let rg = params.retention_granularity;
                self.retention.value = Some(retention::retention(
                    &user_days,
                    start_flags.is_some(),
                    &PeriodAxis::new(rg, first, days, &periods),
                    rg,
                    params.cohort_by,
                    params.retention_span,
                    last_partial(rg),
                ));
                self.retention.key = Some(rkey);
            }
            let retention = self.retention.value.clone().unwrap_or_default();
            prof.stage_detail(
                StageKind::Aggregate,
                cached(r_hit, "retention"),
                c.users.len() as u64,
                retention.cohorts.len() as u64,
                0,
            );
            let pkey = key_power(params);
            let p_hit = self.power.fresh(&pkey);
            if !p_hit {
                let power_col = metadata.and_then(|m| m.column(&params.power_segment));
                let user_totals: Vec<UserTotals> = c
                    .users
                    .iter()
                    .enumerate()
                    .map(|(k, &(u, _, _))| {
                        let ui = u as usize;
                        UserTotals {
                            key: store.users.get(ui),
                            duration_ms: d.user_totals[k],
                            active_days: user_active(k)
                                .iter()
                                .map(|&(a, b)| (b - a + 1) as u64)
                                .sum(),
                            label: power_col.zip(meta_value(power_col, ui)).map(|(col, id)| {
                                match col.dict.get(id as usize) {
                                    "" => versions::NONE_LABEL,
                                    s => s,
                                }
                            }),
                        }
                    })
                    .collect();
                self.power.value = Some(power::power_users(
                    &user_totals,
                    params.power_pct,
                    power_col.map(|col| col.name.clone()),
                ));
                self.power.key = Some(pkey);
            }
            let power_users = self.power.value.clone().unwrap_or_default();
            prof.stage_detail(
                StageKind::Aggregate,
                cached(p_hit, "power users"),
                c.users.len() as u64,
                power_users.by_duration.users,
                0,
            );
            let anomalies = anomalies::anomalies(
                first,
                &activity.dau,
                &c.events_per_day,
                params.anomaly_z,
                params.anomaly_weeks,
            );
            if !l_hit {
                let lg = params.lifecycle_granularity;
                self.lifecycle.value = Some(retention::lifecycle(
                    &user_days,
                    &PeriodAxis::new(lg, first, days, &periods),
                    lg,
                    params.cohort_by,
                    last_partial(lg),
                ));
                self.lifecycle.key = Some(lkey);
            }
            let lifecycle = self.lifecycle.value.clone().unwrap_or_default();
            prof.stage_detail(
                StageKind::Aggregate,
                cached(l_hit, "anomalies, lifecycle"),
                c.users.len() as u64,
                lifecycle.periods.len() as u64,
                0,
            );

            let kkey = key_skew(params);
            let k_hit = self.skew.fresh(&kkey);
            if !k_hit {
                let per_user_keys: Vec<(&str, u64)> = c
                    .users
                    .iter()
                    .map(|&(u, b, e)| (store.users.get(u as usize), (e - b) as u64))
                    .collect();
                self.skew.value = Some(skew::skew_report(
                    &per_user_keys,
                    params.partitions,
                    params.top_users,
                    metadata.map(join::metadata_bytes),
                ));
                self.skew.key = Some(kkey);
            }
            prof.stage_detail(
                StageKind::Aggregate,
                cached(k_hit, "skew"),
                c.users.len() as u64,
                params.partitions as u64,
                0,
            );

            // The second thread's part: its wait is what it added to this thread's time.
            let mut event_durations = None;
            if let Some(job) = side_job {
                let SideDurations {
                    sorted,
                    scratch,
                    threshold,
                    report,
                    versions: version_report,
                } = join_side(job);
                let n_sorted = sorted.len();
                self.sorted_durations.value = sorted;
                self.sort_scratch = scratch;
                self.sorted_durations.key = Some(ikey);
                self.durations.value.threshold = threshold;
                event_durations = Some(report);
                self.versions.value = Some(version_report);
                self.versions.key = Some(vkey);
                prof.stage_detail(
                    StageKind::Aggregate,
                    SIDE_WAIT_DETAIL.to_string(),
                    c.len() as u64,
                    n_sorted as u64,
                    self.sorted_durations.value.heap_bytes() as u64,
                );
            }
            let d = &mut self.durations.value;
            if let Some(report) = event_durations {
                d.report = Some(report);
                self.durations.key = Some(okey);
            }
            let report = MetricsReport {
                schema_version: REPORT_SCHEMA_VERSION,
                params: params.clone(),
                query: params.to_query(),
                definition: describe_definition(params),
                axis: DayAxis {
                    time_zone: tz.name().to_string(),
                    first: (days > 0).then_some(Date(first)),
                    last: (days > 0).then_some(Date(last)),
                    dates: (0..days as i32).map(|i| Date(first + i)).collect(),
                },
                input: InputSummary {
                    store_events: store.len() as u64,
                    store_users: store.user_count() as u64,
                    events: c.len() as u64,
                    users: c.users.len() as u64,
                    duplicates_dropped: c.dups,
                    outside_date_range: c.outside,
                    removed_by_segment_filter: c.segment,
                    null_durations: c.null_durations,
                },
                events_per_day: c.events_per_day.clone(),
                sessions: SessionMetrics {
                    count: s.starts.len() as u64,
                    per_day: s.per_day.clone(),
                    per_user: s.per_user.clone(),
                    events_per_session: s.events_per_session.clone(),
                    duration: self.session_report.value.clone().unwrap_or_else(|| {
                        outliers::outlier_report("session_duration_ms", &[0i64; 0], None, params)
                    }),
                    active_time: self.active_time.value.clone().unwrap_or_default(),
                },
                activity,
                event_durations: d.report.clone().unwrap_or_else(|| {
                    outliers::outlier_report("event_duration_ms", &[0i32; 0], None, params)
                }),
                join: join.map(|j| j.report.clone()),
                segments,
                skew: self.skew.value.clone().unwrap_or_else(|| {
                    skew::skew_report(&[], params.partitions, params.top_users, None)
                }),
                retention,
                lifecycle,
                power_users,
                versions: self.versions.value.clone().unwrap_or_default(),
                anomalies,
                profile: Profile::default(),
            };
            Ok(MetricsReport {
                profile: prof.finish(),
                ..report
            })
        })
    }
}

/// Whether a one-shot compute may sort the event durations on a second thread: natively only
/// (wasm32 has no threads; the worker's cache sorts once and keeps the result).
const SIDE_THREAD: bool = cfg!(not(target_arch = "wasm32"));
/// Below this many considered events the second thread is not worth starting (about a
/// millisecond of sorting; `tests/metrics_cache.rs` computes 40,000 events, so its cold computes
/// take this path).
const SIDE_THREAD_MIN_EVENTS: usize = 1 << 15;

/// The profile detail of the prefix sums when the second thread started before the
/// considered pass (from the store's rows), and when it started after it.
const SIDE_EARLY_DETAIL: &str =
    "event-duration prefix sums (outliers, app versions: a second thread from the store's rows)";
const SIDE_LATE_DETAIL: &str =
    "event-duration prefix sums (outliers, app versions: a second thread from the considered rows)";
/// The profile detail of the wait for the second thread, at the end of the compute.
const SIDE_WAIT_DETAIL: &str =
    "event-duration outliers, app-version percentiles (second thread: the wait for it)";

/// Whose events the second thread sorts.
enum SideUsers<'a> {
    /// Every stored event (known to be every considered one before the considered pass).
    Store,
    Considered(&'a Considered),
}

/// The second thread's part of a one-shot compute: sort the event durations, then read the
/// outlier report and the app-version report from them.
struct SideJob<'a, F> {
    store: &'a EventStore,
    params: &'a Params,
    users: SideUsers<'a>,
    /// The device id of a store user.
    device: F,
    groups: (usize, usize),
    /// The device dictionary, if the metadata has one.
    dict: Option<&'a super::store::Dictionary>,
}

/// Wait for the second thread; its panic, if any, continues on this thread (as it would have
/// on the sequential path).
fn join_side(job: std::thread::ScopedJoinHandle<'_, SideDurations>) -> SideDurations {
    match job.join() {
        Ok(parts) => parts,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// What [`SideJob::run`] gives back: the sorted values and the sort's scratch (kept for the
/// next compute), the threshold and both reports.
struct SideDurations {
    sorted: SortedDurations,
    scratch: Vec<u32>,
    threshold: Option<i64>,
    report: OutlierReport,
    versions: VersionReport,
}

impl<'env, F: Fn(usize) -> u16 + Send + 'env> SideJob<'env, F> {
    /// Run on a thread of `scope`, moving the sorted values' and the scratch's allocations to
    /// it (`sorted` is stale until [`join_side`] gives them back).
    fn start<'scope>(
        self,
        scope: &'scope std::thread::Scope<'scope, 'env>,
        sorted: &mut Slot<SortedDurations>,
        scratch: &mut Vec<u32>,
    ) -> std::thread::ScopedJoinHandle<'scope, SideDurations> {
        sorted.key = None;
        let values = std::mem::take(&mut sorted.value);
        let scratch = std::mem::take(scratch);
        scope.spawn(move || self.run(values, scratch))
    }

    fn run(self, mut sorted: SortedDurations, mut scratch: Vec<u32>) -> SideDurations {
        let store = self.store;
        let stored_users: Vec<(u32, u32, u32)>;
        let identity = Rows::Identity;
        let users = match self.users {
            SideUsers::Considered(c) => (&c.users[..], &c.rows),
            SideUsers::Store => {
                stored_users = store
                    .users_with_rows()
                    .filter(|(_, rows)| !rows.is_empty())
                    .map(|(u, rows)| (u.0, rows.start as u32, rows.end as u32))
                    .collect();
                (&stored_users[..], &identity)
            }
        };
        sort_durations(
            &mut sorted,
            &mut scratch,
            store,
            users,
            self.device,
            self.groups,
            None,
        );
        let threshold = sorted.threshold(self.params);
        let report = sorted.report(
            "event_duration_ms",
            threshold.filter(|_| !sorted.is_empty()),
            self.params,
        );
        let versions = versions::version_report_sorted(
            &sorted,
            &store.app_versions,
            self.dict,
            self.params.top_versions,
        );
        SideDurations {
            sorted,
            scratch,
            threshold,
            report,
            versions,
        }
    }
}

/// The considered events' durations (nulls skipped) in store order, with their app version
/// and their user's device as one id `version · n_devices + device` (each clamped to its
/// dictionary; `groups` = (version ids, device ids)): the input of the version report's
/// selection and of the event-duration outlier report.
fn grouped_durations(
    store: &EventStore,
    c: &Considered,
    device: impl Fn(usize) -> u16,
    groups: (usize, usize),
) -> versions::GroupedDurations {
    let (n_a, n_b) = (groups.0.max(1), groups.1.max(1));
    debug_assert!(n_a * n_b <= 1 << 16);
    let n = c.len() - c.null_durations as usize;
    let mut out = versions::GroupedDurations::new(n, n_a, n_b);
    let (durations, app_versions) = (&store.duration_ms[..], &store.app_version[..]);
    for &(u, b, e) in &c.users {
        let dev = (device(u as usize) as usize).min(n_b - 1);
        let (b, e) = (b as usize, e as usize);
        let id = |a: u16| ((a as usize).min(n_a - 1) * n_b + dev) as u16;
        match &c.rows {
            Rows::Identity => {
                for (d, &a) in durations[b..e].iter().zip(&app_versions[b..e]) {
                    if !d.is_null() {
                        out.push(d.0, id(a));
                    }
                }
            }
            Rows::Listed(rows) => {
                for &r in &rows[b..e] {
                    let d = durations[r as usize];
                    if !d.is_null() {
                        out.push(d.0, id(app_versions[r as usize]));
                    }
                }
            }
        }
    }
    out
}

/// Collect the non-null durations of the considered events with their app version and their
/// user's device (`device(user)`; ids below `groups`) and sort them into `out` (`scratch`: the
/// sort's). With `prefix = (sums, threshold, policy)`, push the prefix sums of the durations under
/// the policy (as [`policy_prefix_sums`]) in the same walk.
fn sort_durations(
    out: &mut SortedDurations,
    scratch: &mut Vec<u32>,
    store: &EventStore,
    (users, rows): (&[(u32, u32, u32)], &Rows),
    device: impl Fn(usize) -> u16,
    groups: (usize, usize),
    mut prefix: Option<(&mut CompactPrefix, Option<i64>, OutlierPolicy)>,
) {
    let durations: &[DurationMs] = &store.duration_ms;
    let n = users.last().map_or(0, |u| u.2 as usize);
    let mut items = outliers::SortedItems::new(out, n, groups);
    // The users' ranges tile the considered events `0..n`: announce exactly their durations
    // (nulls included: they are never packed).
    debug_assert!(users.first().is_none_or(|u| u.1 == 0));
    match rows {
        Rows::Identity => items.expect_values(durations[..n].iter().map(|d| d.0)),
        Rows::Listed(r) => items.expect_values(r[..n].iter().map(|&row| durations[row as usize].0)),
    }
    let mut acc: i64 = 0;
    if let Some((sums, _, _)) = &mut prefix {
        sums.reserve(n + 1);
        sums.push(0);
    }
    for &(u, b, e) in users {
        let device = device(u as usize);
        for row in rows.range(b as usize, e as usize) {
            let d = durations[row as usize];
            if !d.is_null() {
                items.push(d.0, store.app_version[row as usize], device);
            }
            if let Some((sums, threshold, policy)) = &mut prefix {
                if !d.is_null() {
                    if let Some(x) = outliers::apply_policy(d.0 as i64, *threshold, *policy) {
                        acc += x;
                    }
                }
                sums.push(acc);
            }
        }
    }
    out.build(items, scratch);
}

/// `prefix[i]`: Σ of the policy-applied durations of `events[..i]` ([`Durations::prefix`];
/// null and filtered durations add 0), as [`outliers::apply_policy`] per event, with the policy
/// chosen once outside the loop so the loop body has no branches on the data.
fn policy_prefix_sums(
    prefix: &mut CompactPrefix,
    c: &Considered,
    durations: &[DurationMs],
    threshold: Option<i64>,
    policy: OutlierPolicy,
) {
    // Monomorphised per row representation and policy: with `Rows::Identity` the durations are
    // read in place, in order.
    fn fill(
        prefix: &mut CompactPrefix,
        c: &Considered,
        durations: &[DurationMs],
        f: impl Fn(i64) -> i64,
    ) {
        prefix.clear();
        prefix.reserve(c.len() + 1);
        prefix.push(0);
        let value = |d: DurationMs| if d.is_null() { 0 } else { f(d.0 as i64) };
        match &c.rows {
            Rows::Identity => {
                let ds = durations.get(..c.len()).unwrap_or_default();
                prefix.extend_sums_of(0, ds, value);
            }
            Rows::Listed(rows) => {
                prefix.extend_sums(0, rows.iter().map(|&row| value(durations[row as usize])));
            }
        }
    }
    let Some(t) = threshold else {
        return fill(prefix, c, durations, |v| v);
    };
    match policy {
        OutlierPolicy::Keep | OutlierPolicy::Flag => fill(prefix, c, durations, |v| v),
        OutlierPolicy::Filter => fill(prefix, c, durations, |v| if v > t { 0 } else { v }),
        OutlierPolicy::Cap => fill(prefix, c, durations, |v| v.min(t)),
    }
}

/// Fill `out` with the considered events of `store` under `filter`; `known_nulls`: their number
/// of null durations, when the caller knows it (the same rows as the last pass).
fn considered_pass(
    out: &mut Considered,
    store: &EventStore,
    filter: &Filter,
    days: usize,
    known_nulls: Option<u64>,
) {
    out.days.clear();
    out.users.clear();
    out.day_runs.clear();
    out.user_runs_first.clear();
    out.days.reserve(store.len());
    out.dups = 0;
    out.outside = 0;
    out.segment = 0;
    out.null_durations = 0;
    let mut rows_out = RowSink::new(std::mem::take(&mut out.rows), store.len());
    let mut days_out = std::mem::take(&mut out.days);
    let mut dup_cursor = 0;
    let mut per_day = vec![0u64; days];
    let durations: &[DurationMs] = &store.duration_ms;
    for (u, rows) in store.users_with_rows() {
        let start = rows_out.len();
        let first_run = out.day_runs.len() as u32;
        let out_to = (&mut rows_out, &mut days_out, &mut per_day[..]);
        filter.user_events(u.0 as usize, rows, &mut dup_cursor, out, out_to);
        if rows_out.len() > start {
            out.users.push((u.0, start as u32, rows_out.len() as u32));
            out.user_runs_first.push(first_run);
        }
    }
    out.user_runs_first.push(out.day_runs.len() as u32);
    out.rows = rows_out.finish();
    // After the walk: a second pass over the durations (one contiguous count when every row
    // is kept) beats carrying the rows of a user that may not be listed.
    let nulls = known_nulls.unwrap_or_else(|| match &out.rows {
        Rows::Identity => durations[..days_out.len()]
            .iter()
            .filter(|d| d.is_null())
            .count() as u64,
        Rows::Listed(rows) => rows
            .iter()
            .filter(|&&r| durations[r as usize].is_null())
            .count() as u64,
    });
    out.days = days_out;
    out.events_per_day = per_day;
    out.null_durations = nulls;
}

/// Cut each user's considered events into sessions (docs/METRICS.md § Sessions), walking every
/// event (a one-shot compute; a cache cuts from its [`GapIndex`]).
fn sessions_pass(
    out: &mut Sessions,
    store: &EventStore,
    c: &Considered,
    rules: &SessionRules,
    n_days: usize,
    (prefix, active): (&CompactPrefix, &mut Vec<i64>),
    threshold: Option<Option<i64>>,
) -> FoldedStats {
    let times = &store.time_ms;
    let (rows, days) = (&c.rows, &c.days);
    let stats = WalkStats::new(threshold, c.len());
    let mut sink = SessionSink::open(out, active, prefix, days, n_days, stats);
    out.user_first.clear();
    for &(_, b, e) in &c.users {
        let (b, e) = (b as usize, e as usize);
        out.user_first.push(sink.starts.len() as u32);
        let mut begin = b;
        let t_begin0 = times[rows.at(b) as usize];
        let (mut t_begin, mut t_prev, mut d_prev) = (t_begin0, t_begin0, days[b]);
        for (i, &d) in days.iter().enumerate().take(e).skip(b + 1) {
            let t = times[rows.at(i) as usize];
            if rules.starts_new(t_begin, t_prev, d_prev as i32, t, d as i32) {
                sink.emit(begin, i, t_prev - t_begin);
                begin = i;
                t_begin = t;
            }
            t_prev = t;
            d_prev = d;
        }
        sink.emit(begin, e, t_prev - t_begin);
    }
    out.user_first.push(sink.starts.len() as u32);
    sink.close(out, active)
}

/// The [`GapIndex`] code of an event at `t` whose user's previous considered event is at
/// `t_prev`: whole minutes, capped. (A negative gap — never: times ascend per user — would cut,
/// as any long one.)
#[inline(always)]
fn gap_code(t: i64, t_prev: i64) -> u16 {
    let mins = ((t - t_prev) / 60_000) as u64;
    mins.min(GAP_MAX_MINS as u64) as u16
}

/// The [`GapIndex`] of every stored event, in store order (each user's first event
/// [`FIRST_EVENT`]): one pass, once per dataset. With every event considered (or a prefix of
/// the store: [`Rows::Identity`]) it is the considered events' index as it stands; under a
/// filter [`derive_gap_index`] reads it.
fn build_store_gaps(out: &mut GapIndex, store: &EventStore) {
    let times = &store.time_ms;
    out.codes.clear();
    out.codes.resize(store.len(), FIRST_EVENT);
    for (_, rows) in store.users_with_rows() {
        for i in rows.start + 1..rows.end {
            out.codes[i] = gap_code(times[i], times[i - 1]);
        }
    }
}

/// The [`GapIndex`] of considered events listed as store `rows`, from the store's index
/// `full`: an event whose previous considered event is the store row just before it has the
/// store's code (the usual case under a date range, which keeps each user's events on the axis
/// as one run of rows); the others — after a dropped duplicate or an event a `segv` filter
/// removed — are coded from their times. A gather instead of a division per event (wasm has
/// no 64-bit multiply-high, so that division by a constant stays a division).
fn derive_gap_index(
    out: &mut GapIndex,
    full: &GapIndex,
    store: &EventStore,
    c: &Considered,
    rows: &[u32],
) {
    let times = &store.time_ms;
    out.codes.clear();
    out.codes.resize(c.len(), FIRST_EVENT);
    for &(_, b, e) in &c.users {
        for i in b as usize + 1..e as usize {
            let (r, p) = (rows[i] as usize, rows[i - 1] as usize);
            out.codes[i] = if r == p + 1 {
                full.codes[r]
            } else {
                gap_code(times[r], times[p])
            };
        }
    }
}

/// [`sessions_pass`] from the gap index: mark the cuts of the gap (capped gap ≥ G), of the
/// midnight split and each user's first event in a bitset (one comparison per event, 64 events
/// per word), walk the marks in order, and split
/// only the candidate sessions longer than the max length (greedily, as
/// [`SessionRules::starts_new`]: the gap and midnight rules do not depend on where the session
/// started, so cutting by them first and by the max length inside is the same cut). The same
/// sessions, in the same order, as the per-event walk.
#[allow(clippy::too_many_arguments)]
fn sessions_from_gap_index(
    out: &mut Sessions,
    codes: &[u16],
    cuts: &mut EventMask,
    store: &EventStore,
    c: &Considered,
    rules: &SessionRules,
    days: usize,
    (prefix, active): (&CompactPrefix, &mut Vec<i64>),
    threshold: Option<Option<i64>>,
) -> FoldedStats {
    let n = c.len();
    debug_assert_eq!(rules.gap_ms % 60_000, 0);
    let g = (rules.gap_ms / 60_000).min(GAP_MAX_MINS as i64) as u16;
    debug_assert_eq!(codes.len(), n);
    cuts.codes_at_least(codes, g);
    debug_assert_eq!(cuts.len(), n);
    if rules.split_at_midnight {
        cuts.or_changes(&c.days[..n]);
    }
    // At least one session per cut (more where the max length splits).
    let at_least = cuts.count();
    let stats = WalkStats::new(threshold, at_least);
    let mut sink = SessionSink::open(out, active, prefix, &c.days[..n], days, stats);
    sink.reserve(at_least);
    let times = &store.time_ms;
    let user_first = &mut out.user_first;
    match &c.rows {
        Rows::Identity => walk_cuts(&mut sink, user_first, cuts, |i| times[i], c, rules),
        Rows::Listed(r) => walk_cuts(
            &mut sink,
            user_first,
            cuts,
            |i| times[r[i] as usize],
            c,
            rules,
        ),
    }
    sink.close(out, active)
}

/// [`sessions_from_gap_index`]'s walk of the candidate starts (`cuts`; the time of considered
/// event `i` is `t(i)`): each candidate ends where the next begins, and is split further only
/// when it is longer than the max length. Each boundary's prefix sum is read once (it ends one
/// session and starts the next), and the outputs are held in a local [`SessionSink`] rather
/// than behind `&mut Sessions`.
///
/// Its own function, with the usual candidate's code inlined into the loop and the rare split
/// out of line: inlined into `MetricsCache::run`, wasm's code kept the walk's state in memory,
/// and as a closure the per-candidate code was a call per session (at 10M events in wasm the
/// walk went ~18 → ~13 ms of a ~45 ms gap change).
#[inline(never)]
fn walk_cuts(
    sink: &mut SessionSink,
    user_first: &mut Vec<u32>,
    cuts: &EventMask,
    t: impl Fn(usize) -> i64 + Copy,
    c: &Considered,
    rules: &SessionRules,
) {
    let n = c.len();
    let max_len = rules.max_len_ms;
    user_first.clear();
    let mut users = UserStarts::new(&c.users);
    let mut prev = usize::MAX;
    cuts.for_each_one(|i| {
        if prev != usize::MAX {
            close_candidate(sink, user_first, &mut users, t, max_len, prev, i);
        }
        prev = i;
    });
    if prev != usize::MAX {
        close_candidate(sink, user_first, &mut users, t, max_len, prev, n);
    }
    user_first.push(sink.starts.len() as u32);
}

/// The first considered event of each user in turn, for [`walk_cuts`].
struct UserStarts<'a> {
    users: std::slice::Iter<'a, (u32, u32, u32)>,
    next: usize,
}

impl<'a> UserStarts<'a> {
    fn new(users: &'a [(u32, u32, u32)]) -> Self {
        let mut users = users.iter();
        let next = users.next().map_or(usize::MAX, |&(_, b, _)| b as usize);
        UserStarts { users, next }
    }

    #[inline(always)]
    fn advance(&mut self) {
        self.next = self
            .users
            .next()
            .map_or(usize::MAX, |&(_, b, _)| b as usize);
    }
}

/// [`walk_cuts`]' candidate session `b..e` (its first event starts a user's sessions when it
/// is `users.next`): one session when it is no longer than the max length, else split.
#[inline(always)]
fn close_candidate(
    sink: &mut SessionSink,
    user_first: &mut Vec<u32>,
    users: &mut UserStarts,
    t: impl Fn(usize) -> i64,
    max_len: i64,
    b: usize,
    e: usize,
) {
    if b == users.next {
        user_first.push(sink.starts.len() as u32);
        users.advance();
    }
    let (t_b, t_last) = (t(b), t(e - 1));
    if t_last - t_b <= max_len {
        sink.emit(b, e, t_last - t_b);
    } else {
        split_long(sink, t, max_len, b, e);
    }
}

/// A candidate session `b..e` longer than the max length, cut greedily (as
/// [`SessionRules::starts_new`]).
#[inline(never)]
fn split_long(sink: &mut SessionSink, t: impl Fn(usize) -> i64, max_len: i64, b: usize, e: usize) {
    let (mut begin, mut t_begin) = (b, t(b));
    for i in b + 1..e {
        let ti = t(i);
        if ti - t_begin > max_len {
            sink.emit(begin, i, t(i - 1) - t_begin);
            begin = i;
            t_begin = ti;
        }
    }
    sink.emit(begin, e, t(e - 1) - t_begin);
}

/// The session outputs while a walk cuts sessions (the per-event walk and the walk of the cut
/// mask), held in a local (not behind `&mut Sessions`) so that their lengths can stay in
/// registers. Sessions are emitted in order, each beginning where the previous one ended.
struct SessionSink<'a> {
    starts: Vec<u32>,
    durations: Vec<i64>,
    per_day: Vec<u64>,
    /// Each session's active time.
    active: Vec<i64>,
    prefix: &'a CompactPrefix,
    days: &'a [u16],
    /// The prefix sum at the next session's first event.
    p_begin: i64,
    stats: WalkStats,
}

/// The session statistics a walk gathers as it goes (see [`outliers::StreamedPass`]): events
/// per session, the first pass of the durations' outlier report when its threshold is known
/// before the walk (the cap detector, the default), and the first pass of the active times'
/// statistics. Each was a pass over a vector the walk had just written (at 10M events, 1.6–1.8M
/// sessions: 7 MB of starts, 14 MB of durations, 14 MB of active times) from memory.
///
/// The walk hands over every [`FOLD_SESSIONS`] sessions, whose values are still in cache
/// ([`SessionSink::fold`]), rather than each session as it emits it: tallying inside the
/// walk's loop made Chromium's code for the walk slower by more than the passes it saved
/// (the walk 25 → 34–38 ms at 10M events, even for the events per session alone).
struct WalkStats {
    sizes: CountTally,
    durations: Option<StreamedOutliers>,
    active: StreamedStats,
    /// Sessions whose duration and active time were handed over.
    folded: usize,
    /// Sessions whose size was handed over (one behind: a size needs the next start).
    sized: usize,
}

/// Sessions per hand-over to [`WalkStats`]: 4 KiB of starts, 8 KiB each of durations and
/// active times, in cache.
const FOLD_SESSIONS: usize = 1024;

/// What [`WalkStats`] leaves for the outlier report and the active-time statistics.
struct FoldedStats {
    durations: Option<StreamedOutliers>,
    active: StreamedStats,
}

impl WalkStats {
    /// For at least `at_least` sessions; `threshold`: the durations' outlier threshold when it
    /// is known before the walk ([`outliers::threshold_before_values`]).
    fn new(threshold: Option<Option<i64>>, at_least: usize) -> Self {
        WalkStats {
            sizes: CountTally::new(),
            durations: threshold.map(|t| StreamedOutliers::new(t, at_least)),
            active: StreamedStats::new(at_least),
            folded: 0,
            sized: 0,
        }
    }
}

impl<'a> SessionSink<'a> {
    /// The outputs of `out` and `active`, emptied, to be refilled in order by a walk over
    /// considered events whose day indices are `days` (`n_days` days on the axis); then
    /// [`SessionSink::close`].
    fn open(
        out: &mut Sessions,
        active: &mut Vec<i64>,
        prefix: &'a CompactPrefix,
        days: &'a [u16],
        n_days: usize,
        stats: WalkStats,
    ) -> Self {
        let mut sink = SessionSink {
            starts: std::mem::take(&mut out.starts),
            durations: std::mem::take(&mut out.durations),
            per_day: std::mem::take(&mut out.per_day),
            active: std::mem::take(active),
            prefix,
            days,
            p_begin: if days.is_empty() { 0 } else { prefix.get(0) },
            stats,
        };
        sink.starts.clear();
        sink.durations.clear();
        sink.active.clear();
        sink.per_day.clear();
        sink.per_day.resize(n_days, 0);
        sink
    }

    /// Room for `sessions` (the outputs are empty: just opened). An output that is short
    /// drops its allocation before taking one a quarter larger than needed: nothing stale is
    /// copied (`reserve` would copy the whole old block), and moving the gap slider down a few
    /// steps from where it was (30 → 10 min: 1.59M → 1.84M sessions at 10M events) finds the
    /// room already there. In wasm that growth was ~10 ms of such a change — the copy, and the
    /// first touch of memory the heap had just grown by.
    fn reserve(&mut self, sessions: usize) {
        fn room<T>(v: &mut Vec<T>, n: usize) {
            debug_assert!(v.is_empty());
            if v.capacity() < n {
                *v = Vec::new();
                v.reserve_exact(n + n / 4);
            }
        }
        room(&mut self.starts, sessions);
        room(&mut self.durations, sessions);
        room(&mut self.active, sessions);
    }

    /// Put the outputs back, with the distributions; the statistics still to be finished.
    fn close(mut self, out: &mut Sessions, active: &mut Vec<i64>) -> FoldedStats {
        self.fold();
        let st = &mut self.stats;
        // The last session ends at the last considered event.
        if let Some(&b) = self.starts.last() {
            debug_assert_eq!(st.sized + 1, self.starts.len());
            st.sizes.add(self.days.len() as i64 - i64::from(b));
        }
        out.starts = self.starts;
        out.durations = self.durations;
        out.per_day = self.per_day;
        *active = self.active;
        let WalkStats {
            sizes,
            durations,
            active,
            ..
        } = self.stats;
        out.distributions(sizes);
        FoldedStats { durations, active }
    }

    /// Hand the sessions emitted since the last call to [`WalkStats`] (all but the last
    /// one's size, which needs the next start).
    #[inline(never)]
    fn fold(&mut self) {
        let st = &mut self.stats;
        let (from, to) = (st.folded, self.durations.len());
        if let Some(d) = &mut st.durations {
            d.add_slice(&self.durations[from..to]);
        }
        st.active.add_slice(&self.active[from..to]);
        st.folded = to;
        for w in self.starts[st.sized..].windows(2) {
            st.sizes.add(i64::from(w[1] - w[0]));
        }
        st.sized = self.starts.len().saturating_sub(1);
    }

    /// The next session: considered events `begin..end`, lasting `dur` ms.
    #[inline(always)]
    fn emit(&mut self, begin: usize, end: usize, dur: i64) {
        let p_end = self.prefix.get(end);
        self.active.push(p_end - self.p_begin);
        self.p_begin = p_end;
        self.starts.push(begin as u32);
        self.durations.push(dur);
        if let Some(k) = self.per_day.get_mut(self.days[begin] as usize) {
            *k += 1;
        }
        if self.durations.len().is_multiple_of(FOLD_SESSIONS) {
            self.fold();
        }
    }
}

/// How the activity definition turns events into units (docs/METRICS.md § Activity).
struct UnitRules<'a> {
    def: ActivityDefinition,
    strict: bool,
    /// Units are evaluated per session (session/custom definitions, strict core).
    by_session: bool,
    qual: &'a [bool],
    core: &'a [bool],
    page_view: Option<u16>,
    min_session_ms: i64,
    /// `def=custom&minsess=0m`: every session counts.
    any_session: bool,
    window: i32,
    min_count: u32,
}

/// Count activity units per user and day and turn them into active intervals — overall
/// (`seg = None`), or only per bucket of a per-event segment (`seg = (plan, column)`: the
/// definition evaluated on the user's events of each bucket), counting the users and events of
/// each bucket on the way.
///
/// Never inlined: called once per recompute from `MetricsCache::run`, inside which wasm's
/// code kept its loop state in memory (measured with `scripts/bench/wasm_knobs.mjs`).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn activity_pass(
    out: &mut Activity,
    store: &EventStore,
    c: &Considered,
    s: &Sessions,
    rules: &UnitRules,
    (first, last): (i32, i32),
    seg: Option<(&SegmentPlan, &[u16], &Periods, u32)>,
) {
    out.intervals.clear();
    out.user_first.clear();
    out.bucket_runs.clear();
    out.bucket_intervals.clear();
    out.bucket_users.clear();
    out.bucket_events.clear();
    out.bucket_accs.clear();
    let overall = seg.is_none();
    let actions = &store.action;
    let pages = &store.page;
    let (rows, days) = (&c.rows, &c.days);
    let n_buckets = seg.map_or(0, |(p, ..)| p.buckets());
    out.bucket_users.resize(n_buckets, 0);
    out.bucket_events.resize(n_buckets, 0);
    if let Some((plan, col, periods, mau)) = seg {
        if rules.def == ActivityDefinition::Minimal
            && (rules.window, rules.min_count) == (1, 1)
            && n_buckets <= 64
        {
            let days = (last - first + 1).max(0) as usize;
            out.bucket_accs = (0..n_buckets)
                .map(|_| ActivityAccumulator::new(first, days, mau, periods))
                .collect();
            bucket_presence_pass(out, store, c, rules.qual, first, (plan, col));
            return;
        }
    }
    let seg = seg.map(|(p, col, ..)| (p, col));
    if overall && rules.def == ActivityDefinition::Session {
        session_units_pass(out, store, c, s, rules, (first, last));
        return;
    }
    if overall && !rules.by_session {
        // Minimal, or core without the strict rule: a unit is one event of a set of actions.
        let unit = match rules.def {
            ActivityDefinition::Core => rules.core,
            _ => rules.qual,
        };
        if matches!(
            rules.def,
            ActivityDefinition::Minimal | ActivityDefinition::Core
        ) {
            event_units_pass(out, store, c, unit, rules, (first, last));
            return;
        }
    }
    let mut counts = DailyCounts::default();
    let mut bucket_counts: Vec<DailyCounts> = vec![DailyCounts::default(); n_buckets];
    let mut bucket_touched: Vec<u16> = Vec::new();
    let mut iv: Vec<(i32, i32)> = Vec::new();
    for (k, &(_, ub, ue)) in c.users.iter().enumerate() {
        out.user_first.push(out.intervals.len() as u32);
        counts.clear();
        let mut seen: u128 = 0;
        let spans = if rules.by_session {
            s.user_first[k] as usize..s.user_first[k + 1] as usize
        } else {
            0..1
        };
        for j in spans {
            let (b, e, dur) = if rules.by_session {
                (s.starts[j] as usize, s.end(j, c.len()), s.durations[j])
            } else {
                (ub as usize, ue as usize, 0)
            };
            let long_enough = rules.any_session || dur > rules.min_session_ms;
            let mut has_qual = false;
            let mut qual_mask: u128 = 0;
            for (i, &di) in days.iter().enumerate().take(e).skip(b) {
                let row = rows.at(i) as usize;
                let a = actions[row] as usize;
                let bucket = match seg {
                    Some((p, col)) => {
                        p.value_bucket.get(col[row] as usize).copied().unwrap_or(0) as usize
                    }
                    None => 0,
                };
                if !overall {
                    if let Some(n) = out.bucket_events.get_mut(bucket) {
                        *n += 1;
                        if bucket < 128 && seen & (1u128 << bucket) == 0 {
                            seen |= 1u128 << bucket;
                            out.bucket_users[bucket] += 1;
                        }
                    }
                }
                let unit = match rules.def {
                    ActivityDefinition::Minimal => rules.qual[a],
                    ActivityDefinition::Custom => rules.qual[a] && long_enough,
                    ActivityDefinition::Core => {
                        rules.core[a]
                            && (!rules.strict
                                || (i + 1 < e && {
                                    let next = rows.at(i + 1) as usize;
                                    Some(actions[next]) == rules.page_view
                                        && pages[row] != 0
                                        && pages[next] == pages[row]
                                }))
                    }
                    ActivityDefinition::Session => {
                        if rules.qual[a] {
                            has_qual = true;
                            if bucket < 128 {
                                qual_mask |= 1u128 << bucket;
                            }
                        }
                        false
                    }
                };
                if unit {
                    let day = first + di as i32;
                    if overall {
                        counts.add(day, 1);
                    } else {
                        if bucket_counts[bucket].is_empty() {
                            bucket_touched.push(bucket as u16);
                        }
                        bucket_counts[bucket].add(day, 1);
                    }
                }
            }
            if rules.def == ActivityDefinition::Session && has_qual && long_enough {
                let day = first + days[b] as i32;
                if overall {
                    counts.add(day, 1);
                } else {
                    for (bk, counts) in bucket_counts.iter_mut().enumerate().take(128) {
                        if qual_mask & (1u128 << bk) != 0 {
                            if counts.is_empty() {
                                bucket_touched.push(bk as u16);
                            }
                            counts.add(day, 1);
                        }
                    }
                }
            }
        }
        if overall {
            iv.clear();
            activity::active_intervals(&counts.0, rules.window, rules.min_count, &mut iv);
            clip_intervals(&iv, (first, last), &mut out.intervals);
        }
        for &bk in &bucket_touched {
            iv.clear();
            let counts = &mut bucket_counts[bk as usize];
            activity::active_intervals(&counts.0, rules.window, rules.min_count, &mut iv);
            counts.clear();
            let from = out.bucket_intervals.len() as u32;
            clip_intervals(&iv, (first, last), &mut out.bucket_intervals);
            out.bucket_runs
                .push((bk, from, out.bucket_intervals.len() as u32));
        }
        bucket_touched.clear();
    }
    out.user_first.push(out.intervals.len() as u32);
}

/// [`activity_pass`] overall when a unit is one event whose action is in `unit` (minimal; core
/// without the strict rule): counts per user and day, then the window. With a 1-day window
/// and one unit (minimal) the active intervals are the runs of consecutive days with a unit,
/// extended as the events come, without counts or a window sweep.
fn event_units_pass(
    out: &mut Activity,
    store: &EventStore,
    c: &Considered,
    unit: &[bool],
    rules: &UnitRules,
    (first, last): (i32, i32),
) {
    // The unit events first, as a mask (one vectorised scan of the action codes), then each
    // user's days from only those: a definition of rare actions (core: `create`, ~9 % of the
    // sample's events) walks a tenth of the events.
    let mut units = std::mem::take(&mut out.units);
    match &c.rows {
        Rows::Identity => units.actions_in(&store.action[..c.len()], unit),
        Rows::Listed(_) => units.actions_in_rows(&store.action, c.len(), |i| c.rows.at(i), unit),
    }
    let presence = (rules.window, rules.min_count) == (1, 1);
    // With one unit a day (the minimal definition) a user's active days are the days of their
    // day runs (listed by the considered pass) that hold a unit: a look at a word or two of
    // the mask per run, rather than each unit event's day bit by bit (~1.2M runs against ~9.6M
    // units at 10M events, where notifications are the inactive action); none at all when
    // every considered event is a unit.
    let every_event = units.count() == c.len();
    let mut counts = DailyCounts::default();
    let mut iv: Vec<(i32, i32)> = Vec::new();
    for (k, &(_, ub, ue)) in c.users.iter().enumerate() {
        out.user_first.push(out.intervals.len() as u32);
        let unit_days = units
            .ones_in(ub as usize, ue as usize)
            .map(|i| first + c.days[i] as i32);
        iv.clear();
        if presence {
            // A day is active when its run holds a unit.
            let active = c
                .user_day_runs(k)
                .filter(|&(b, e, _)| every_event || units.any_in(b, e))
                .map(|(_, _, di)| first + di as i32);
            presence_runs(active, &mut iv);
        } else {
            counts.clear();
            for d in unit_days {
                counts.add(d, 1);
            }
            activity::active_intervals(&counts.0, rules.window, rules.min_count, &mut iv);
        }
        clip_intervals(&iv, (first, last), &mut out.intervals);
    }
    out.user_first.push(out.intervals.len() as u32);
    out.units = units;
}

/// Append to `iv` the runs of consecutive days among `days` (ascending, repeats allowed): a
/// user's active intervals when a single unit on a day makes the day active.
fn presence_runs(days: impl Iterator<Item = i32>, iv: &mut Vec<(i32, i32)>) {
    let mut run: Option<(i32, i32)> = None;
    for d in days {
        run = match run {
            Some((a, b)) if d <= b + 1 => Some((a, d)),
            Some(r) => {
                iv.push(r);
                Some((d, d))
            }
            None => Some((d, d)),
        };
    }
    iv.extend(run);
}

/// Append the active intervals `iv` that overlap the axis `first..=last`, clipped to it.
fn clip_intervals(iv: &[(i32, i32)], (first, last): (i32, i32), out: &mut Vec<(i32, i32)>) {
    for &(a, b) in iv {
        if b >= first && a <= last {
            out.push((a.max(first), b.min(last)));
        }
    }
}

/// [`activity_pass`] overall for the session definition: a unit is a session lasting more
/// than the minimum with at least one qualifying event, counted on its first event's day, so a
/// session is decided by its duration first and then by its events up to the first qualifying
/// one (usually the first) — not by all of them.
fn session_units_pass(
    out: &mut Activity,
    store: &EventStore,
    c: &Considered,
    s: &Sessions,
    rules: &UnitRules,
    (first, last): (i32, i32),
) {
    let actions = &store.action;
    let (rows, days) = (&c.rows, &c.days);
    let mut counts = DailyCounts::default();
    let mut iv: Vec<(i32, i32)> = Vec::new();
    for k in 0..c.users.len() {
        out.user_first.push(out.intervals.len() as u32);
        counts.clear();
        for j in s.user_first[k] as usize..s.user_first[k + 1] as usize {
            if !(rules.any_session || s.durations[j] > rules.min_session_ms) {
                continue;
            }
            let b = s.starts[j] as usize;
            let has_qual = rows
                .range(b, s.end(j, c.len()))
                .any(|row| rules.qual[actions[row as usize] as usize]);
            if has_qual {
                counts.add(first + days[b] as i32, 1);
            }
        }
        iv.clear();
        activity::active_intervals(&counts.0, rules.window, rules.min_count, &mut iv);
        clip_intervals(&iv, (first, last), &mut out.intervals);
    }
    out.user_first.push(out.intervals.len() as u32);
}

/// [`activity_pass`] per bucket for the minimal definition (window 1, one unit; at most 64
/// buckets): a user is active in a bucket on exactly the days with a qualifying event in it.
/// Those days are found from a per-day bitmask of the buckets seen and streamed into the
/// bucket's accumulator in `out.bucket_accs` ([`ActivityAccumulator::add_day`]), without per-day
/// counts, a window sweep or interval lists (the segment series reads the accumulators).
fn bucket_presence_pass(
    out: &mut Activity,
    store: &EventStore,
    c: &Considered,
    qual: &[bool],
    first: i32,
    (plan, col): (&SegmentPlan, &[u16]),
) {
    let n_buckets = plan.buckets();
    // Per column value: its bucket, or `NO_BUCKET` (filtered, or not a bucket).
    let bucket_of: Vec<u8> = plan
        .value_bucket
        .iter()
        .map(|&b| {
            if (b as usize) < n_buckets {
                b as u8
            } else {
                NO_BUCKET
            }
        })
        .collect();
    if std::ptr::eq(col, store.action.as_slice()) {
        // Segment by action type: whether an event qualifies is a function of the value too.
        let qual_of: Vec<bool> = (0..bucket_of.len())
            .map(|v| qual.get(v).copied().unwrap_or(false))
            .collect();
        presence_events(out, c, first, &bucket_of, col, |v, _| qual_of[v as usize]);
    } else {
        let actions = &store.action;
        presence_events(out, c, first, &bucket_of, col, |_, row| {
            qual[actions[row] as usize]
        });
    }
}

/// The event loop of [`bucket_presence_pass`]: `qualifies(value, row)` says whether the event
/// at `row` (segment column value `value`) is a unit.
#[inline(always)]
fn presence_events(
    out: &mut Activity,
    c: &Considered,
    first: i32,
    bucket_of: &[u8],
    col: &[u16],
    qualifies: impl Fn(u16, usize) -> bool,
) {
    let n_buckets = out.bucket_accs.len();
    let mut streams = vec![DayStream::default(); n_buckets];
    let accs = &mut out.bucket_accs;
    let mut events = [0u64; 64];
    let flush =
        |mask: u64, day: i32, accs: &mut [ActivityAccumulator], streams: &mut [DayStream]| {
            let mut m = mask;
            while m != 0 {
                let bk = m.trailing_zeros() as usize;
                m &= m - 1;
                accs[bk].add_day(&mut streams[bk], day);
            }
        };
    for &(_, ub, ue) in &c.users {
        out.user_first.push(out.intervals.len() as u32);
        let mut seen: u64 = 0;
        let (mut day_mask, mut cur_day) = (0u64, i32::MIN);
        for (row, di) in c.span(ub as usize, ue as usize) {
            let row = row as usize;
            let v = col[row];
            let bucket = bucket_of.get(v as usize).copied().unwrap_or(NO_BUCKET);
            if bucket as usize >= n_buckets {
                continue;
            }
            events[bucket as usize] += 1;
            seen |= 1u64 << bucket;
            if qualifies(v, row) {
                // Days ascend within a user.
                let day = first + di as i32;
                if day != cur_day {
                    flush(day_mask, cur_day, accs, &mut streams);
                    day_mask = 0;
                    cur_day = day;
                }
                day_mask |= 1u64 << bucket;
            }
        }
        flush(day_mask, cur_day, accs, &mut streams);
        let mut m = seen;
        while m != 0 {
            let bk = m.trailing_zeros() as usize;
            m &= m - 1;
            out.bucket_users[bk] += 1;
            accs[bk].end_days(&mut streams[bk]);
        }
    }
    for (n, &e) in out.bucket_events.iter_mut().zip(&events) {
        *n += e;
    }
    out.user_first.push(out.intervals.len() as u32);
}

/// [`bucket_presence_pass`]: a column value in no bucket (filtered by `segv`, or outside the
/// plan's value map, which covers the dictionary).
const NO_BUCKET: u8 = u8::MAX;

/// The sessions of one segment bucket: how many, and how many start on each day of the axis.
#[derive(Debug, Clone, Default)]
struct BucketSessions {
    sessions: u64,
    per_day: Vec<u64>,
}

/// The sessions per bucket of a breakdown (a session belongs to its user's bucket, or to its
/// first event's), apart from the segment series because they read only the session cuts and
/// the considered events: a change of the definition (or any activity knob) with a breakdown
/// on keeps them.
fn segment_sessions(
    plan: &SegmentPlan,
    c: &Considered,
    s: &Sessions,
    seg_column: Option<&[u16]>,
    n_days: usize,
) -> Vec<BucketSessions> {
    let mut out = vec![
        BucketSessions {
            sessions: 0,
            per_day: vec![0; n_days],
        };
        plan.buckets()
    ];
    let (rows, days) = (&c.rows, &c.days);
    if plan.per_user {
        for (k, &(u, _, _)) in c.users.iter().enumerate() {
            let Some(b) = plan
                .user_bucket
                .get(u as usize)
                .and_then(|&ub| out.get_mut(ub as usize))
            else {
                continue;
            };
            let starts = &s.starts[s.user_first[k] as usize..s.user_first[k + 1] as usize];
            b.sessions += starts.len() as u64;
            for &start in starts {
                b.per_day[days[start as usize] as usize] += 1;
            }
        }
    } else if let Some(col) = seg_column {
        for &start in &s.starts {
            let row = rows.at(start as usize) as usize;
            let bucket = plan
                .value_bucket
                .get(col[row] as usize)
                .copied()
                .unwrap_or(0);
            if let Some(b) = out.get_mut(bucket as usize) {
                b.sessions += 1;
                b.per_day[days[start as usize] as usize] += 1;
            }
        }
    }
    out
}

/// The breakdown's series: users, events and sessions per bucket, and the activity series of
/// each bucket from the users' (per-user column) or the buckets' (per-event column) intervals.
///
/// Left to inlining (unlike the stages around it): the defaults never call it, and a
/// function's first call in wasm runs baseline code, where inlined into `MetricsCache::run` it
/// is optimised with the rest of that function (Chromium: a segment change 28 → 36 ms when
/// this was out of line).
#[allow(clippy::too_many_arguments)]
fn segment_series(
    plan: &SegmentPlan,
    c: &Considered,
    sessions: &[BucketSessions],
    (act, bucket_act): (&Activity, &Activity),
    seg_column: Option<&[u16]>,
    first: i32,
    days: usize,
    params: &Params,
    periods: &Periods,
) -> (SegmentBreakdown, Option<ActivityAccumulator>) {
    debug_assert_eq!(sessions.len(), plan.buckets());
    let mut segs: Vec<SegAcc> = sessions
        .iter()
        .map(|b| SegAcc {
            users: 0,
            events: 0,
            sessions: b.sessions,
            sessions_per_day: b.per_day.clone(),
            acc: ActivityAccumulator::new(first, days, params.mau_window_days, periods),
        })
        .collect();
    // With a per-user column: the users in no bucket, so that the buckets and these sum to
    // every considered user (none, in practice: a filtered user's events are not considered).
    let mut rest = ActivityAccumulator::new(first, days, params.mau_window_days, periods);
    let mut total = None;
    if plan.per_user {
        for (k, &(u, b, e)) in c.users.iter().enumerate() {
            let active = &act.intervals[act.user_first[k] as usize..act.user_first[k + 1] as usize];
            let Some(sg) = plan
                .user_bucket
                .get(u as usize)
                .and_then(|&ub| segs.get_mut(ub as usize))
            else {
                rest.add_user(active);
                continue;
            };
            sg.users += 1;
            sg.events += (e - b) as u64;
            sg.acc.add_user(active);
        }
        for sg in &segs {
            rest.merge(&sg.acc);
        }
        total = Some(rest);
    } else if seg_column.is_some() {
        // Users (with any considered event in the bucket) and events, counted by the bucket
        // activity pass.
        for (sg, (&users, &events)) in segs.iter_mut().zip(
            bucket_act
                .bucket_users
                .iter()
                .zip(&bucket_act.bucket_events),
        ) {
            sg.users = users;
            sg.events = events;
        }
        if bucket_act.bucket_accs.len() == segs.len() {
            // The minimal definition: accumulated by the bucket pass.
            for (sg, acc) in segs.iter_mut().zip(&bucket_act.bucket_accs) {
                sg.acc = acc.clone();
            }
        }
        for &(bk, from, to) in &bucket_act.bucket_runs {
            if let Some(sg) = segs.get_mut(bk as usize) {
                sg.acc
                    .add_user(&bucket_act.bucket_intervals[from as usize..to as usize]);
            }
        }
    }
    let breakdown = SegmentBreakdown {
        column: plan.column.clone(),
        per_user: plan.per_user,
        segments: segs
            .into_iter()
            .zip(&plan.labels)
            .map(|(sg, label)| {
                let series = sg.acc.finish(periods);
                SegmentSeries {
                    label: label.clone(),
                    users: sg.users,
                    events: sg.events,
                    sessions: sg.sessions,
                    sessions_per_day: sg.sessions_per_day,
                    dau: series.dau,
                    wau: series.wau,
                    mau: series.mau,
                    dau_mau: series.dau_mau,
                    dau_wau: series.dau_wau,
                    wau_mau: series.wau_mau,
                    months: series.months,
                }
            })
            .collect(),
    };
    (breakdown, total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::dataset::Dataset;
    use crate::engine::sample::SampleConfig;
    use std::cell::Cell;

    fn sink(previous: Rows, rows: &[u32]) -> (Vec<u32>, Rows) {
        let mut sink = RowSink::new(previous, 16);
        for &r in rows {
            sink.push(r);
        }
        assert_eq!(sink.len(), rows.len());
        let rows_out = sink.finish();
        let read = (0..rows.len()).map(|i| rows_out.at(i)).collect();
        (read, rows_out)
    }

    #[test]
    fn considered_rows_are_listed_only_after_a_gap() {
        // Every row its own index, or only trailing rows left out: nothing listed.
        for rows in [&[][..], &[0, 1, 2, 3], &[0, 1]] {
            let (read, r) = sink(Rows::default(), rows);
            assert_eq!(read, rows);
            assert!(matches!(r, Rows::Identity));
        }
        // A row left out at the start, in the middle, or several: listed from then on (in a
        // previous list's allocation), given room for every row (16 here) while listing, and
        // shrunk to the rows kept at the end.
        for rows in [&[1, 2, 3][..], &[0, 1, 3, 4], &[0, 2, 5, 9]] {
            let (read, r) = sink(Rows::Listed(vec![7; 3]), rows);
            assert_eq!(read, rows);
            match r {
                Rows::Listed(v) => {
                    assert_eq!(v, rows);
                    assert!(v.capacity() < 16, "not shrunk: {}", v.capacity());
                }
                Rows::Identity => panic!("{rows:?} must be listed"),
            }
        }
        // A previous list is dropped when the new rows need none.
        let (_, r) = sink(Rows::Listed(vec![3, 4]), &[0, 1, 2]);
        assert_eq!(r.heap_bytes(), 0);
    }

    /// A clock that advances by 1 ms on every reading.
    struct StepClock(Cell<f64>);
    impl Clock for StepClock {
        fn now_ms(&self) -> f64 {
            let t = self.0.get();
            self.0.set(t + 1.0);
            t
        }
    }

    /// The per-bucket fast path of the minimal definition against the general per-session path
    /// with the same units: `custom` with a 1-day window, 1 event and every session counting.
    #[test]
    fn per_bucket_presence_path_equals_the_general_path() {
        let ds = Dataset::sample(&SampleConfig::for_events(30_000, 3)).expect("sample");
        for seg in [
            "seg=action_type",
            "seg=app_version&topn=3",
            "seg=action_type&segv=edit",
        ] {
            let fast = Params::from_query(seg).0;
            let general =
                Params::from_query(&format!("{seg}&def=custom&win=1&cmin=1&minsess=0m")).0;
            let a = compute(&ds.events, ds.metadata.as_ref(), &fast).expect("compute");
            let b = compute(&ds.events, ds.metadata.as_ref(), &general).expect("compute");
            assert!(a.segments.is_some());
            assert_eq!(a.segments, b.segments, "{seg}");
            assert_eq!(a.activity, b.activity, "{seg}");
        }
    }

    /// The statistics the session walk gathers as it goes (events per session, the durations'
    /// outlier report, the active times' statistics) against the passes over the sessions it
    /// wrote, for the walk of the gap index (a cache) and the per-event walk (a one-shot
    /// compute), with more sessions than several hand-overs hold, under detectors whose
    /// threshold is known before the walk and one that is not.
    #[test]
    fn walk_statistics_equal_passes_over_the_sessions() {
        let ds = Dataset::sample(&SampleConfig::for_events(40_000, 5)).expect("sample");
        for q in [
            "",
            "gap=1m",
            "gap=5m&maxlen=20m",
            "policy=filter&cap=20m",
            "policy=flag&cap=1m",
            "outlier=pct&pct=90&policy=cap",
            "from=2023-03-01&to=2023-09-30&tz=Asia%2FKolkata&gap=2m",
        ] {
            let (p, issues, _) = Params::from_query(q);
            assert!(issues.is_empty(), "{q}: {issues:?}");
            let mut cache = MetricsCache::new();
            let r = cache
                .compute(&ds.events, ds.metadata.as_ref(), &p, &NoClock)
                .expect("compute");
            let s = &cache.sessions.value;
            let n = cache.considered.value.len();
            assert!(
                s.starts.len() > 3 * FOLD_SESSIONS,
                "{q}: {}",
                s.starts.len()
            );
            let last = s.starts.last().map(|&b| n as i64 - i64::from(b));
            let sizes = s.starts.windows(2).map(|w| i64::from(w[1] - w[0]));
            assert_eq!(
                r.sessions.events_per_session,
                CountDistribution::from_values(sizes.chain(last)),
                "{q}"
            );
            let t = outliers::detect_threshold(&s.durations, &p);
            let report = outliers::outlier_report("session_duration_ms", &s.durations, t, &p);
            assert_eq!(r.sessions.duration, report, "{q}");
            let active = outliers::duration_stats(&cache.session_active);
            assert_eq!(r.sessions.active_time, active, "{q}");
            let one_shot = compute(&ds.events, ds.metadata.as_ref(), &p).expect("compute");
            assert_eq!(one_shot.sessions, r.sessions, "{q}");
        }
    }

    /// A breakdown by a per-user column sums the overall series from its buckets'
    /// accumulators: the overall series must not change with the breakdown, whatever the
    /// definition, window, week start, zone or range, computed at once or after a change on a
    /// warm cache (where the series, the breakdown or its sessions per bucket may be reused);
    /// and the sessions per bucket (a per-event breakdown too) add up to every session.
    #[test]
    fn overall_series_summed_from_a_per_user_breakdown() {
        let ds = Dataset::sample(&SampleConfig::for_events(30_000, 7)).expect("sample");
        let run = |q: &str| {
            let (p, issues, _) = Params::from_query(q);
            assert!(issues.is_empty(), "{q}: {issues:?}");
            compute(&ds.events, ds.metadata.as_ref(), &p).expect("compute")
        };
        let qs = [
            "def=core",
            "def=core&tz=Asia%2FTokyo",
            "def=session&mau=28&wstart=sun",
            "def=session&mau=28&wstart=sun&gap=5m",
            "tz=America%2FNew_York&from=2023-02-01&to=2023-08-31",
            "tz=America%2FNew_York&from=2023-02-01&to=2023-08-31&def=core&k=3",
        ];
        let plain: Vec<MetricsReport> = qs.iter().map(|q| run(q)).collect();
        // Breakdown first, the other knobs inside: the warm cache then keeps the sessions per
        // bucket across the definition changes and recomputes them after the gap and zone ones
        // (a zone alone keeps the cuts but moves their days).
        let mut cache = MetricsCache::new();
        for seg in [
            "seg=country",
            "seg=device_type&topn=1",
            "seg=join_month",
            "seg=action_type",
        ] {
            for (q, plain) in qs.iter().zip(&plain) {
                let with = run(&format!("{q}&{seg}"));
                let b = with.segments.as_ref().expect("a breakdown");
                assert!(b.segments.len() > 1, "{q}&{seg}");
                assert_eq!(with.activity, plain.activity, "{q}&{seg}");
                assert_eq!(with.sessions, plain.sessions, "{q}&{seg}");
                let sessions: u64 = b.segments.iter().map(|s| s.sessions).sum();
                assert_eq!(sessions, plain.sessions.count, "{q}&{seg}");
                let (p, _, _) = Params::from_query(&format!("{q}&{seg}"));
                let warm = cache
                    .compute(&ds.events, ds.metadata.as_ref(), &p, &NoClock)
                    .expect("compute");
                assert_eq!(warm.activity, plain.activity, "warm: {q}&{seg}");
                assert_eq!(warm.segments, with.segments, "warm: {q}&{seg}");
            }
        }
    }

    #[test]
    fn profile_stages_are_in_order_contiguous_and_within_the_total() {
        let ds = Dataset::sample(&SampleConfig::for_events(5_000, 1)).expect("sample");
        let (p, _, _) = Params::from_query("seg=country");
        let clock = StepClock(Cell::new(1000.0));
        let r = compute_with_clock(&ds.events, ds.metadata.as_ref(), &p, &clock).expect("compute");
        let stages = &r.profile.stages;
        let kinds: Vec<StageKind> = stages.iter().map(|s| s.kind).collect();
        for k in [
            StageKind::Join,
            StageKind::Sessionize,
            StageKind::Activity,
            StageKind::Aggregate,
        ] {
            assert!(kinds.contains(&k), "{k:?} missing from {kinds:?}");
        }
        assert_eq!(stages[0].start_ms, 0.0);
        for w in stages.windows(2) {
            assert_eq!(w[1].start_ms, w[0].start_ms + w[0].wall_ms, "{w:?}");
        }
        let sum: f64 = stages.iter().map(|s| s.wall_ms).sum();
        assert!(stages.iter().all(|s| s.wall_ms >= 1.0));
        assert!(sum <= r.profile.total_ms);
        assert!(stages
            .iter()
            .any(|s| s.kind == StageKind::Sessionize && s.rows_in == ds.events.len() as u64));
        // Without a clock every time is 0 and the rest of the report is the same.
        let mut cold = compute(&ds.events, ds.metadata.as_ref(), &p).expect("compute");
        assert!(cold.profile.stages.iter().all(|s| s.wall_ms == 0.0));
        assert_eq!(cold.profile.stages.len(), stages.len());
        cold.profile = r.profile.clone();
        assert_eq!(cold, r);
    }
}
