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
//! users and metadata rows): one pass per user over its contiguous rows cuts sessions, buckets
//! days (a table of local midnights, one comparison per event), counts activity units, and feeds
//! difference arrays; percentiles use a two-pass bucket selection instead of sorting (a sort of
//! a copy below 16,384 values). When the event-duration outlier detector needs the data (`pct`,
//! `z`, `mad`), the pass also records each session's count of durations, and the sessions'
//! active time is summed under the policy afterwards from the collected durations — no second
//! pass over the store. Scratch vectors are reused between recomputes (see [`compute`]).

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::activity::{
    self, ActiveSeries, ActivityAccumulator, DailyCounts, PeriodActives, Periods,
};
use super::anomalies::{self, AnomalyReport};
use super::calendar::{self, DayCalendar};
use super::join::{self, JoinReport, SegmentPlan, FILTERED};
use super::metadata::MetadataTable;
use super::outliers::{self, OutlierReport};
use super::params::{
    ActivityDefinition, Date, DuplicatePolicy, Granularity, OutlierDetector, Params,
};
use super::power::{self, PowerReport, UserTotals};
use super::profile::{Clock, NoClock, Profile, Profiler, StageKind};
use super::retention::{self, LifecycleReport, PeriodAxis, RetentionReport, UserDays};
use super::sessions::{CountDistribution, SessionMetrics, SessionRules};
use super::skew::{self, SkewReport};
use super::store::{DurationMs, EventStore};
use super::versions::{self, VersionReport};

/// Version of the [`MetricsReport`] JSON schema (docs/METRICS.md).
pub const REPORT_SCHEMA_VERSION: u32 = 1;
/// Longest day axis (100 years): longer ranges need `from`/`to`.
pub const MAX_DAYS: usize = 36_600;

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

/// Which events to skip, shared by the passes.
struct Filter<'a> {
    store: &'a EventStore,
    cal: &'a DayCalendar,
    first: i32,
    last: i32,
    drop_dups: bool,
    seg: Option<&'a SegmentPlan>,
    seg_column: Option<&'a [u16]>,
}

#[derive(Default)]
struct FilterCounts {
    dups: u64,
    outside: u64,
    segment: u64,
}

impl Filter<'_> {
    /// Fill `buf` with `(row, day index)` of user `u`'s considered events. `dup_cursor` walks
    /// `duplicate_rows` (ascending) across users visited in order.
    #[inline]
    fn user_events(
        &self,
        u: usize,
        rows: std::ops::Range<usize>,
        dup_cursor: &mut usize,
        counts: &mut FilterCounts,
        buf: &mut Vec<(u32, u32)>,
    ) {
        buf.clear();
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
            buf.push((row as u32, (day - self.first) as u32));
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

/// The large per-event and per-session vectors of a recompute, kept between recomputes on the
/// same thread (see [`compute`]): a slider change then writes into memory that is already mapped
/// instead of faulting in fresh pages (at 10M events these are ~170 MB). Contents never carry
/// over: every vector is cleared before use.
#[derive(Default)]
struct Scratch {
    buf: Vec<(u32, u32)>,
    event_durations: Vec<i32>,
    version_events: Vec<(u16, u16, i32)>,
    session_durations: Vec<i64>,
    session_active: Vec<i64>,
    /// Non-null durations per session, when the outlier threshold is known only after the pass.
    session_nonnull: Vec<u32>,
    events_per_session: Vec<i64>,
    sessions_per_user: Vec<i64>,
    user_events: Vec<(u32, u64)>,
}

impl Scratch {
    fn clear(&mut self) {
        self.buf.clear();
        self.event_durations.clear();
        self.version_events.clear();
        self.session_durations.clear();
        self.session_active.clear();
        self.session_nonnull.clear();
        self.events_per_session.clear();
        self.sessions_per_user.clear();
        self.user_events.clear();
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Compute every metric of the report for `params`.
///
/// Errors: an unknown time zone, a breakdown column the metadata lacks (or no metadata for a
/// per-user column), a day axis over [`MAX_DAYS`], or knob values out of range when `params`
/// was built by hand rather than parsed. Never panics on user data.
///
/// Memory: the large scratch vectors (per event and per session) are kept in a thread-local
/// between calls and reused, so repeated recomputes on one thread (the worker, the benchmark)
/// allocate them once; they hold no data between calls.
///
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
    let mut scratch = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
    scratch.clear();
    let out = compute_with(store, metadata, params, &mut scratch, clock);
    scratch.clear();
    SCRATCH.with(|s| *s.borrow_mut() = scratch);
    out
}

fn compute_with(
    store: &EventStore,
    metadata: Option<&MetadataTable>,
    params: &Params,
    scratch: &mut Scratch,
    clock: &dyn Clock,
) -> Result<MetricsReport, MetricsError> {
    let mut prof = Profiler::new(clock);
    let tz = validate(params)?;

    // Day axis.
    let mut t_min = i64::MAX;
    let mut t_max = i64::MIN;
    for (_, rows) in store.users_with_rows() {
        if !rows.is_empty() {
            t_min = t_min.min(store.time_ms[rows.start]);
            t_max = t_max.max(store.time_ms[rows.end - 1]);
        }
    }
    let has_data = t_min <= t_max;
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
    let cal = DayCalendar::new(tz, first, last.max(first));

    // Join and segments.
    let join = metadata.map(|m| join::join_users(store, m));
    let plan = join::plan_segments(store, metadata, join.as_ref(), params)?;
    let seg_column: Option<&[u16]> = match (&plan, &params.segment) {
        (Some(p), Some(super::params::Segment::AppVersion)) if !p.per_user => {
            Some(&store.app_version)
        }
        (Some(p), Some(super::params::Segment::ActionType)) if !p.per_user => Some(&store.action),
        _ => None,
    };
    let filter = Filter {
        store,
        cal: &cal,
        first,
        last,
        drop_dups: params.duplicates == DuplicatePolicy::Drop,
        seg: plan.as_ref(),
        seg_column,
    };

    let n_store = store.len() as u64;
    prof.stage_detail(
        StageKind::Join,
        "day axis, metadata join, segment plan".into(),
        n_store,
        store.user_count() as u64,
        join.as_ref().map_or(0, |j| j.meta_row.len() as u64 * 4),
    );

    // Action flags.
    let names = store.actions.values();
    let in_list = |list: &[String], a: &str| list.iter().any(|x| x == a);
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
    let page_view = store.actions.position("page_view").map(|i| i as u16);
    let flags = |list: &[String]| -> Option<Vec<bool>> {
        (!list.is_empty()).then(|| names.iter().map(|a| in_list(list, a)).collect())
    };
    let start_flags = flags(&params.retention_start_actions);
    let return_flags = flags(&params.retention_return_actions);
    let meta_rows = join.as_ref().map(|j| &j.meta_row);
    let mut user_days: Vec<UserDays> = Vec::new();
    let mut user_totals: Vec<UserTotals> = Vec::new();
    let version_events = &mut scratch.version_events;
    version_events.reserve(store.len());
    let power_col = metadata.and_then(|m| m.column(&params.power_segment));
    let device_col = metadata.and_then(|m| m.column("device_type"));
    let meta_value = |col: Option<&super::metadata::MetaColumn>, ui: usize| -> Option<u16> {
        let r = *meta_rows?.get(ui)?;
        col?.values.get(r as usize).copied()
    };

    // Event-duration threshold: known up front for the cap detector. The other detectors need
    // every considered duration first, so the fused pass collects them and records how many
    // each session has; the sessions' active time is summed under the policy after the pass
    // (same values, same order — so the same sums — without a second filtering pass).
    let buf = &mut scratch.buf;
    // i32 like the store column: half the memory traffic of i64 in the percentile passes.
    let event_durations = &mut scratch.event_durations;
    event_durations.reserve(store.len());
    let deferred = params.outlier_detector != OutlierDetector::Cap;
    let session_nonnull = &mut scratch.session_nonnull;
    let mut event_threshold = if deferred {
        None
    } else {
        Some(params.outlier_cap_mins as i64 * 60_000)
    };

    // The fused pass.
    let rules = SessionRules::from_params(params);
    let (window, min_count) = activity::window_and_min(params);
    let min_session_ms = params.min_session_mins as i64 * 60_000;
    let def = params.definition;
    let strict = params.core_strict;
    let policy = params.outlier_policy;
    let periods = Periods::new(first, days, params.week_start);
    let mut total = ActivityAccumulator::new(first, days, params.mau_window_days, &periods);
    let n_buckets = plan.as_ref().map_or(0, |p| p.buckets());
    let per_user_seg = plan.as_ref().is_some_and(|p| p.per_user);
    let mut segs: Vec<SegAcc> = (0..n_buckets)
        .map(|_| SegAcc {
            users: 0,
            events: 0,
            sessions: 0,
            sessions_per_day: vec![0; days],
            acc: ActivityAccumulator::new(first, days, params.mau_window_days, &periods),
        })
        .collect();
    let mut bucket_counts: Vec<DailyCounts> = vec![DailyCounts::default(); n_buckets];
    let mut bucket_touched: Vec<u16> = Vec::new();

    let mut events_per_day = vec![0u64; days];
    let mut sessions_per_day = vec![0u64; days];
    let session_durations = &mut scratch.session_durations;
    let session_active = &mut scratch.session_active;
    let events_per_session = &mut scratch.events_per_session;
    let sessions_per_user = &mut scratch.sessions_per_user;
    let user_events = &mut scratch.user_events;
    let mut counts = DailyCounts::default();
    let mut intervals: Vec<(i32, i32)> = Vec::new();
    let mut bounds: Vec<(usize, usize)> = Vec::new();
    let mut fc = FilterCounts::default();
    let mut dup_cursor = 0;
    let mut null_durations = 0u64;
    let times = &store.time_ms;
    let actions = &store.action;
    let pages = &store.page;
    let durations: &[DurationMs] = &store.duration_ms;

    for (u, rows) in store.users_with_rows() {
        let ui = u.0 as usize;
        filter.user_events(ui, rows, &mut dup_cursor, &mut fc, buf);
        if buf.is_empty() {
            continue;
        }
        let n = buf.len();
        user_events.push((u.0, n as u64));
        let user_bucket = if per_user_seg {
            plan.as_ref().and_then(|p| p.user_bucket.get(ui).copied())
        } else {
            None
        };
        let event_bucket = |row: usize| -> usize {
            match (plan.as_ref(), seg_column) {
                (Some(p), Some(col)) => {
                    p.value_bucket.get(col[row] as usize).copied().unwrap_or(0) as usize
                }
                _ => 0,
            }
        };

        // Session boundaries.
        bounds.clear();
        let mut begin = 0;
        for i in 1..n {
            let (r0, _) = buf[begin];
            let (rp, dp) = buf[i - 1];
            let (ri, di) = buf[i];
            if rules.starts_new(
                times[r0 as usize],
                times[rp as usize],
                dp as i32,
                times[ri as usize],
                di as i32,
            ) {
                bounds.push((begin, i));
                begin = i;
            }
        }
        bounds.push((begin, n));
        sessions_per_user.push(bounds.len() as i64);

        let user_device = meta_value(device_col, ui).unwrap_or(0);
        let active_from = session_active.len();
        counts.clear();
        for &(b, e) in &bounds {
            let (rb, db) = buf[b];
            let start = times[rb as usize];
            let dur = times[buf[e - 1].0 as usize] - start;
            let long_enough = match def {
                ActivityDefinition::Custom if params.min_session_mins == 0 => true,
                _ => dur > min_session_ms,
            };
            session_durations.push(dur);
            events_per_session.push((e - b) as i64);
            sessions_per_day[db as usize] += 1;
            let session_bucket = match user_bucket {
                Some(ub) => Some(ub as usize),
                None if seg_column.is_some() => Some(event_bucket(rb as usize)),
                None => None,
            };
            if let Some(sb) = session_bucket {
                if let Some(s) = segs.get_mut(sb) {
                    s.sessions += 1;
                    s.sessions_per_day[db as usize] += 1;
                }
            }
            let mut active_sum: i64 = 0;
            let durations_from = event_durations.len();
            let mut has_qual = false;
            let mut qual_mask: u128 = 0;
            for i in b..e {
                let (row, di) = buf[i];
                let row = row as usize;
                let day = first + di as i32;
                events_per_day[di as usize] += 1;
                match durations[row].get() {
                    Some(v) => {
                        version_events.push((store.app_version[row], user_device, v as i32));
                        event_durations.push(durations[row].0);
                        if !deferred {
                            if let Some(x) = outliers::apply_policy(v, event_threshold, policy) {
                                active_sum += x;
                            }
                        }
                    }
                    None => null_durations += 1,
                }
                let a = actions[row] as usize;
                let bucket = if seg_column.is_some() {
                    event_bucket(row)
                } else {
                    0
                };
                let mut unit = false;
                match def {
                    ActivityDefinition::Minimal => unit = qual[a],
                    ActivityDefinition::Custom => unit = qual[a] && long_enough,
                    ActivityDefinition::Core => {
                        if core[a] {
                            unit = if strict {
                                i + 1 < e && {
                                    let next = buf[i + 1].0 as usize;
                                    Some(actions[next]) == page_view
                                        && pages[row] != 0
                                        && pages[next] == pages[row]
                                }
                            } else {
                                true
                            };
                        }
                    }
                    ActivityDefinition::Session => {
                        if qual[a] {
                            has_qual = true;
                            if bucket < 128 {
                                qual_mask |= 1u128 << bucket;
                            }
                        }
                    }
                }
                if unit {
                    counts.add(day, 1);
                    if seg_column.is_some() {
                        if bucket_counts[bucket].is_empty() {
                            bucket_touched.push(bucket as u16);
                        }
                        bucket_counts[bucket].add(day, 1);
                    }
                }
                if seg_column.is_some() {
                    if let Some(s) = segs.get_mut(bucket) {
                        s.events += 1;
                    }
                }
            }
            if def == ActivityDefinition::Session && has_qual && long_enough {
                let day = first + db as i32;
                counts.add(day, 1);
                if seg_column.is_some() {
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
            session_active.push(active_sum);
            if deferred {
                session_nonnull.push((event_durations.len() - durations_from) as u32);
            }
        }

        // Activity.
        intervals.clear();
        activity::active_intervals(&counts.0, window, min_count, &mut intervals);
        total.add_user(&intervals);
        {
            let active: Vec<(i32, i32)> = intervals
                .iter()
                .filter(|&&(a, b)| b >= first && a <= last)
                .map(|&(a, b)| (a.max(first), b.min(last)))
                .collect();
            let join_day = match (meta_rows, metadata) {
                (Some(mr), Some(m)) => mr
                    .get(ui)
                    .and_then(|&r| m.join_day.get(r as usize).copied().flatten()),
                _ => None,
            };
            let start_day = start_flags.as_ref().and_then(|f| {
                buf.iter()
                    .find(|&&(row, _)| f[actions[row as usize] as usize])
                    .map(|&(_, di)| first + di as i32)
            });
            let return_days = return_flags.as_ref().map(|f| {
                let mut v: Vec<i32> = Vec::new();
                for &(row, di) in buf.iter() {
                    let d = first + di as i32;
                    if f[actions[row as usize] as usize] && v.last() != Some(&d) {
                        v.push(d);
                    }
                }
                v
            });
            user_totals.push(UserTotals {
                key: store.users.get(ui).to_string(),
                duration_ms: session_active[active_from..].iter().sum(),
                active_days: active.iter().map(|&(a, b)| (b - a + 1) as u64).sum(),
                label: power_col.zip(meta_value(power_col, ui)).map(|(c, id)| {
                    match c.dict.get(id as usize) {
                        "" => versions::NONE_LABEL.to_string(),
                        s => s.to_string(),
                    }
                }),
            });
            user_days.push(UserDays {
                active,
                join_day,
                start_day,
                return_days,
            });
        }
        if let Some(ub) = user_bucket {
            if let Some(s) = segs.get_mut(ub as usize) {
                s.users += 1;
                s.events += n as u64;
                s.acc.add_user(&intervals);
            }
        } else if seg_column.is_some() {
            // Users per bucket: any considered event in it.
            let mut seen: u128 = 0;
            for &(row, _) in buf.iter() {
                let bk = event_bucket(row as usize);
                if bk < 128 && seen & (1u128 << bk) == 0 {
                    seen |= 1u128 << bk;
                    if let Some(s) = segs.get_mut(bk) {
                        s.users += 1;
                    }
                }
            }
            for &bk in &bucket_touched {
                let bk = bk as usize;
                intervals.clear();
                activity::active_intervals(&bucket_counts[bk].0, window, min_count, &mut intervals);
                segs[bk].acc.add_user(&intervals);
                bucket_counts[bk].clear();
            }
            bucket_touched.clear();
        }
    }

    let scratch_bytes = |v: usize, size: usize| (v * size) as u64;
    prof.stage_detail(
        StageKind::Sessionize,
        "fused pass: filter, local days, sessions, activity units, durations".into(),
        n_store,
        session_durations.len() as u64,
        scratch_bytes(buf.capacity(), 8)
            + scratch_bytes(event_durations.capacity(), 4)
            + scratch_bytes(version_events.capacity(), 8)
            + scratch_bytes(session_durations.capacity(), 8) * 4
            + scratch_bytes(user_days.capacity(), std::mem::size_of::<UserDays>())
            + scratch_bytes(user_totals.capacity(), std::mem::size_of::<UserTotals>()),
    );

    if deferred {
        event_threshold = outliers::detect_threshold(event_durations, params);
        let mut k = 0;
        for (active, &c) in session_active.iter_mut().zip(session_nonnull.iter()) {
            let end = k + c as usize;
            let mut sum: i64 = 0;
            for &v in &event_durations[k..end] {
                if let Some(x) = outliers::apply_policy(v as i64, event_threshold, policy) {
                    sum += x;
                }
            }
            *active = sum;
            k = end;
        }
        let mut j = 0;
        for (totals, &sessions) in user_totals.iter_mut().zip(sessions_per_user.iter()) {
            let end = j + sessions as usize;
            totals.duration_ms = session_active[j..end].iter().sum();
            j = end;
        }
    }

    // Results.
    let session_threshold = outliers::detect_threshold(session_durations, params);
    let session_report = outliers::outlier_report(
        "session_duration_ms",
        session_durations,
        session_threshold,
        params,
    );
    let event_report = outliers::outlier_report(
        "event_duration_ms",
        event_durations,
        event_threshold.filter(|_| !event_durations.is_empty()),
        params,
    );
    let active_time =
        outliers::outlier_report("session_active_ms", session_active, None, params).before;
    prof.stage_detail(
        StageKind::Aggregate,
        "outliers and percentiles (events, sessions, active time)".into(),
        event_durations.len() as u64 + session_durations.len() as u64,
        3,
        0,
    );
    let activity = total.finish(&periods);
    prof.stage_detail(
        StageKind::Activity,
        "DAU/WAU/MAU, periods, stickiness, L7/L30".into(),
        user_days.len() as u64,
        days as u64,
        0,
    );
    let last_partial = |g: Granularity| -> bool {
        days > 0
            && match g {
                Granularity::Day => false,
                Granularity::Week => calendar::weekday(last + 1) != params.week_start,
                Granularity::Month => calendar::year_month(last + 1) == calendar::year_month(last),
            }
    };
    let rg = params.retention_granularity;
    let retention = retention::retention(
        &user_days,
        start_flags.is_some(),
        &PeriodAxis::new(rg, first, days, &periods),
        rg,
        params.cohort_by,
        params.retention_span,
        last_partial(rg),
    );
    prof.stage_detail(
        StageKind::Aggregate,
        "retention".into(),
        user_days.len() as u64,
        retention.cohorts.len() as u64,
        0,
    );
    let power_users = power::power_users(
        &user_totals,
        params.power_pct,
        power_col.map(|c| c.name.clone()),
    );
    prof.stage_detail(
        StageKind::Aggregate,
        "power users".into(),
        user_totals.len() as u64,
        power_users.by_duration.users,
        0,
    );
    let versions = versions::version_report(
        version_events,
        store.app_versions.values(),
        device_col.map(|c| c.dict.values()),
        params.top_versions,
    );
    prof.stage_detail(
        StageKind::Aggregate,
        "app-version and device percentiles".into(),
        version_events.len() as u64,
        versions.versions.len() as u64,
        scratch_bytes(version_events.capacity(), 8),
    );
    let anomalies = anomalies::anomalies(
        first,
        &activity.dau,
        &events_per_day,
        params.anomaly_z,
        params.anomaly_weeks,
    );
    let lg = params.lifecycle_granularity;
    let lifecycle = retention::lifecycle(
        &user_days,
        &PeriodAxis::new(lg, first, days, &periods),
        lg,
        params.cohort_by,
        last_partial(lg),
    );

    prof.stage_detail(
        StageKind::Aggregate,
        "anomalies, lifecycle".into(),
        user_days.len() as u64,
        lifecycle.periods.len() as u64,
        0,
    );
    let segments = plan.as_ref().map(|p| SegmentBreakdown {
        column: p.column.clone(),
        per_user: p.per_user,
        segments: segs
            .into_iter()
            .zip(&p.labels)
            .map(|(s, label)| {
                let series = s.acc.finish(&periods);
                SegmentSeries {
                    label: label.clone(),
                    users: s.users,
                    events: s.events,
                    sessions: s.sessions,
                    sessions_per_day: s.sessions_per_day,
                    dau: series.dau,
                    wau: series.wau,
                    mau: series.mau,
                    months: series.months,
                }
            })
            .collect(),
    });

    prof.stage_detail(
        StageKind::Join,
        "segment series".into(),
        n_buckets as u64,
        segments.as_ref().map_or(0, |s| s.segments.len() as u64),
        0,
    );
    let per_user_keys: Vec<(&str, u64)> = user_events
        .iter()
        .map(|&(u, e)| (store.users.get(u as usize), e))
        .collect();
    let skew = skew::skew_report(
        &per_user_keys,
        params.partitions,
        params.top_users,
        metadata.map(join::metadata_bytes),
    );
    let considered: u64 = user_events.iter().map(|u| u.1).sum();

    prof.stage_detail(
        StageKind::Aggregate,
        "skew".into(),
        user_events.len() as u64,
        skew.partitioning.sizes.len() as u64,
        0,
    );
    let profile = prof.finish();
    Ok(MetricsReport {
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
            events: considered,
            users: user_events.len() as u64,
            duplicates_dropped: fc.dups,
            outside_date_range: fc.outside,
            removed_by_segment_filter: fc.segment,
            null_durations,
        },
        events_per_day,
        sessions: SessionMetrics {
            count: session_durations.len() as u64,
            per_day: sessions_per_day,
            per_user: CountDistribution::from_values(sessions_per_user),
            events_per_session: CountDistribution::from_values(events_per_session),
            duration: session_report,
            active_time,
        },
        activity,
        event_durations: event_report,
        join: join.map(|j| j.report),
        segments,
        skew,
        retention,
        lifecycle,
        power_users,
        versions,
        anomalies,
        profile,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::dataset::Dataset;
    use crate::engine::sample::SampleConfig;
    use std::cell::Cell;

    /// A clock that advances by 1 ms on every reading.
    struct StepClock(Cell<f64>);
    impl Clock for StepClock {
        fn now_ms(&self) -> f64 {
            let t = self.0.get();
            self.0.set(t + 1.0);
            t
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
