//! Every engine knob in one versioned, serde-able struct: the permalink state.
//!
//! The URL *is* the state: [`Params::from_query_pairs`] parses the (already percent-decoded)
//! query pairs strictly — a bad value is reported as a [`ParamIssue`] and its default is used —
//! and [`Params::to_query_pairs`] writes human-readable keys, omitting every value that equals
//! its default, so `from(to(p)) == p` for every valid `p`. Keys that are not engine knobs are
//! returned untouched for the UI (`view=`, `src=` …). The keys are documented in
//! `docs/METRICS.md`.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The version of the permalink format this build writes (`v=` key, omitted when current).
pub const PARAMS_VERSION: u32 = 1;

/// Bounds of the session gap knob, minutes.
pub const GAP_MINS_RANGE: (u32, u32) = (1, 24 * 60);
/// Bounds of the maximum session length knob, minutes (1 minute to 7 days).
pub const MAX_SESSION_MINS_RANGE: (u32, u32) = (1, 7 * 24 * 60);

/// Which activity definition decides whether a user is active on a day (see
/// [`crate::engine::activity`] for the exact rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ActivityDefinition {
    /// ≥ 1 qualifying event on the day.
    #[default]
    Minimal,
    /// ≥ K core events in the trailing 7 days.
    Core,
    /// ≥ 1 session longer than M minutes (with a qualifying event) in the trailing 30 days.
    Session,
    /// ≥ `custom_min_events` qualifying events, each in a session longer than M minutes, in the
    /// trailing `custom_window_days` days.
    Custom,
}

impl ActivityDefinition {
    pub const ALL: [ActivityDefinition; 4] = [
        ActivityDefinition::Minimal,
        ActivityDefinition::Core,
        ActivityDefinition::Session,
        ActivityDefinition::Custom,
    ];

    pub fn key(self) -> &'static str {
        match self {
            ActivityDefinition::Minimal => "minimal",
            ActivityDefinition::Core => "core",
            ActivityDefinition::Session => "session",
            ActivityDefinition::Custom => "custom",
        }
    }
}

/// How outliers are detected (upper tail only: extremely *long* durations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OutlierDetector {
    /// Value > a domain cap (`cap=10h`).
    #[default]
    Cap,
    /// Value > the p-th percentile (`pct=99`, `quantile_cont`).
    Percentile,
    /// z-score > z, population standard deviation (`z=3`).
    ZScore,
    /// Robust z: (value − median) / (1.4826·MAD) > z (`z=3`).
    Mad,
}

impl OutlierDetector {
    pub const ALL: [OutlierDetector; 4] = [
        OutlierDetector::Cap,
        OutlierDetector::Percentile,
        OutlierDetector::ZScore,
        OutlierDetector::Mad,
    ];

    pub fn key(self) -> &'static str {
        match self {
            OutlierDetector::Cap => "cap",
            OutlierDetector::Percentile => "pct",
            OutlierDetector::ZScore => "z",
            OutlierDetector::Mad => "mad",
        }
    }
}

/// What happens to a detected outlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OutlierPolicy {
    /// Counted, nothing changes.
    #[default]
    Keep,
    /// Excluded from the duration aggregates.
    Filter,
    /// Replaced by the threshold (winsorised).
    Cap,
    /// Kept in the aggregates and reported again in a separate "outlier" bucket.
    Flag,
}

impl OutlierPolicy {
    pub const ALL: [OutlierPolicy; 4] = [
        OutlierPolicy::Keep,
        OutlierPolicy::Filter,
        OutlierPolicy::Cap,
        OutlierPolicy::Flag,
    ];

    pub fn key(self) -> &'static str {
        match self {
            OutlierPolicy::Keep => "keep",
            OutlierPolicy::Filter => "filter",
            OutlierPolicy::Cap => "cap",
            OutlierPolicy::Flag => "flag",
        }
    }
}

/// Exact-duplicate event rows ([`crate::engine::EventStore::duplicate_rows`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DuplicatePolicy {
    #[default]
    Keep,
    /// Every metric skips the rows listed as duplicates (the first copy stays).
    Drop,
}

/// Calendar granularity of retention and lifecycle periods (weeks start on `wstart`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Day,
    #[default]
    Week,
    Month,
}

impl Granularity {
    pub const ALL: [Granularity; 3] = [Granularity::Day, Granularity::Week, Granularity::Month];

    pub fn key(self) -> &'static str {
        match self {
            Granularity::Day => "day",
            Granularity::Week => "week",
            Granularity::Month => "month",
        }
    }
}

/// What puts a user in a retention cohort / makes them "new" in the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CohortBy {
    /// The first period with a start event (retention) / the first active period (lifecycle).
    #[default]
    FirstSeen,
    /// The period of the metadata `join_date`.
    Join,
}

/// What a breakdown splits by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "column")]
pub enum Segment {
    /// A categorical metadata column by name (`country`, `device_type`, `subscription_type`, …):
    /// a per-user attribute.
    Metadata(String),
    /// The month (`YYYY-MM`) of the user's metadata `join_date`: a per-user attribute.
    JoinMonth,
    /// The event's app version: a per-event attribute.
    AppVersion,
    /// The event's action type: a per-event attribute.
    ActionType,
}

impl Segment {
    pub fn key(&self) -> String {
        match self {
            Segment::Metadata(c) => c.clone(),
            Segment::JoinMonth => "join_month".into(),
            Segment::AppVersion => "app_version".into(),
            Segment::ActionType => "action_type".into(),
        }
    }

    /// Whether each user has one value (metadata) rather than each event.
    pub fn is_per_user(&self) -> bool {
        matches!(self, Segment::Metadata(_) | Segment::JoinMonth)
    }

    fn parse(v: &str) -> Result<Segment, String> {
        let ok_name = !v.is_empty()
            && v.len() <= 64
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        match v {
            "join_month" | "cohort" => Ok(Segment::JoinMonth),
            "app_version" | "version" => Ok(Segment::AppVersion),
            "action_type" | "action" => Ok(Segment::ActionType),
            "device" => Ok(Segment::Metadata("device_type".into())),
            "plan" => Ok(Segment::Metadata("subscription_type".into())),
            _ if ok_name => Ok(Segment::Metadata(v.to_string())),
            _ => Err("a segment column is a metadata column name (letters, digits, _ or -), join_month, app_version or action_type".into()),
        }
    }
}

/// A calendar date, stored as days since 1970-01-01, written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub i32);

/// Days between 0001-01-01 (CE day 1) and 1970-01-01.
const CE_TO_EPOCH_DAYS: i32 = 719_163;

impl Date {
    pub fn to_naive(self) -> Option<chrono::NaiveDate> {
        chrono::NaiveDate::from_num_days_from_ce_opt(self.0.checked_add(CE_TO_EPOCH_DAYS)?)
    }

    pub fn from_naive(d: chrono::NaiveDate) -> Date {
        use chrono::Datelike;
        Date(d.num_days_from_ce() - CE_TO_EPOCH_DAYS)
    }

    /// `YYYY-MM-DD`, or the day number if out of chrono's range.
    pub fn iso(self) -> String {
        match self.to_naive() {
            Some(d) => d.format("%Y-%m-%d").to_string(),
            None => format!("day{}", self.0),
        }
    }

    /// Strict `YYYY-MM-DD` (years 1900..=2200).
    pub fn parse_iso(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        use chrono::Datelike;
        (1900..=2200)
            .contains(&d.year())
            .then(|| Date::from_naive(d))
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.iso())
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Date::parse_iso(&s).ok_or_else(|| serde::de::Error::custom(format!("bad date {s:?}")))
    }
}

/// Every engine knob. Field docs give the query key and default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Params {
    /// `v` — permalink format version ([`PARAMS_VERSION`]).
    pub version: u32,
    /// `gap` — a new session starts when the gap to the previous event is ≥ this (default 30m;
    /// 1m..=24h, written `5m`, `2h`, `1h30m`).
    pub session_gap_mins: u32,
    /// `maxlen` — sessions are split so none lasts longer than this (default 24h; `off`).
    pub max_session_mins: Option<u32>,
    /// `midnight=1` — also start a new session at local midnight (default off).
    pub split_at_midnight: bool,
    /// `tz` — IANA time zone whose calendar days are the day buckets (default `UTC`).
    pub time_zone: String,
    /// `def` — activity definition (default `minimal`).
    pub definition: ActivityDefinition,
    /// `actions` — qualifying action types for minimal/session/custom (default: all; `None`).
    pub actions: Option<Vec<String>>,
    /// `inactive` — action types that never make a user active (default
    /// `notification_received`; `inactive=` for none).
    pub inactive_actions: Vec<String>,
    /// `k` — core definition: minimum core events in the trailing 7 days (default 2).
    pub core_min_events: u32,
    /// `core` — core action types (default `create`).
    pub core_actions: Vec<String>,
    /// `strict=1` — a core event only counts when the user's next event, in the same session,
    /// is a `page_view` of the same page (default off).
    pub core_strict: bool,
    /// `minsess` — session and custom definitions: a session must be *longer* than this
    /// (default 2m; `0m` allowed for custom = any session).
    pub min_session_mins: u32,
    /// `win` — custom definition: trailing window in days (default 7).
    pub custom_window_days: u32,
    /// `cmin` — custom definition: minimum qualifying events in the window (default 1).
    pub custom_min_events: u32,
    /// `mau` — MAU trailing window in days (default 30).
    pub mau_window_days: u32,
    /// `wstart` — first day of a calendar week, 0 = Monday … 6 = Sunday (default `mon`).
    pub week_start: u8,
    /// `outlier` — detector (default `cap`).
    pub outlier_detector: OutlierDetector,
    /// `cap` — domain cap in minutes for the cap detector (default 10h).
    pub outlier_cap_mins: u32,
    /// `pct` — percentile for the percentile detector, in (0, 100) (default 99).
    pub outlier_percentile: f64,
    /// `z` — threshold for the z-score and MAD detectors, > 0 (default 3).
    pub outlier_z: f64,
    /// `policy` — what happens to outliers (default `keep`).
    pub outlier_policy: OutlierPolicy,
    /// `dups` — duplicate-event policy (default `keep`).
    pub duplicates: DuplicatePolicy,
    /// `from` — first local date included (inclusive; default: first day of the data).
    pub from: Option<Date>,
    /// `to` — last local date included (inclusive; default: last day of the data).
    pub to: Option<Date>,
    /// `seg` — breakdown column (default none).
    pub segment: Option<Segment>,
    /// `segv` — keep only these values of the segment column (default: all).
    pub segment_values: Vec<String>,
    /// `topn` — segments shown before the rest is folded into "other" (default 5).
    pub top_segments: u32,
    /// `partitions` — hash partitions in the skew report (default 200).
    pub partitions: u32,
    /// `topk` — heaviest users listed in the skew report (default 10).
    pub top_users: u32,
    /// Retention/lifecycle period length (`rgran`, `lgran`).
    pub retention_granularity: Granularity,
    pub lifecycle_granularity: Granularity,
    /// Retention cohorts: the last `rspan` periods of the axis.
    pub retention_span: u32,
    /// Cohort entry: first seen or metadata join date (`cohort`), shared with lifecycle "new".
    pub cohort_by: CohortBy,
    /// Retention start / return action sets (`rstart`, `rreturn`); empty = activity definition.
    pub retention_start_actions: Vec<String>,
    pub retention_return_actions: Vec<String>,
    /// Power users: the top `power` percent.
    pub power_pct: f64,
    /// Metadata column of the power-user breakdown (`pseg`).
    pub power_segment: String,
    /// App versions listed before "other" (`vtop`).
    pub top_versions: u32,
    /// Anomaly robust-z threshold (`anomz`) and same-weekday baseline length in weeks (`anomk`).
    pub anomaly_z: f64,
    pub anomaly_weeks: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            version: PARAMS_VERSION,
            session_gap_mins: 30,
            max_session_mins: Some(24 * 60),
            split_at_midnight: false,
            time_zone: "UTC".into(),
            definition: ActivityDefinition::Minimal,
            actions: None,
            inactive_actions: vec![crate::engine::sample::NOTIFICATION.to_string()],
            core_min_events: 2,
            core_actions: vec!["create".into()],
            core_strict: false,
            min_session_mins: 2,
            custom_window_days: 7,
            custom_min_events: 1,
            mau_window_days: 30,
            week_start: 0,
            outlier_detector: OutlierDetector::Cap,
            outlier_cap_mins: 10 * 60,
            outlier_percentile: 99.0,
            outlier_z: 3.0,
            outlier_policy: OutlierPolicy::Keep,
            duplicates: DuplicatePolicy::Keep,
            from: None,
            to: None,
            segment: None,
            segment_values: Vec::new(),
            top_segments: 5,
            partitions: 200,
            top_users: 10,
            retention_granularity: Granularity::Week,
            lifecycle_granularity: Granularity::Week,
            retention_span: 26,
            cohort_by: CohortBy::FirstSeen,
            retention_start_actions: Vec::new(),
            retention_return_actions: Vec::new(),
            power_pct: 1.0,
            power_segment: "subscription_type".into(),
            top_versions: 10,
            anomaly_z: 3.5,
            anomaly_weeks: 6,
        }
    }
}

/// A permalink value that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamIssue {
    pub key: String,
    pub value: String,
    /// Why the value was rejected.
    pub reason: String,
    /// The value used instead (the default), as it would be written in the URL.
    pub used: String,
}

impl std::fmt::Display for ParamIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}={:?}: {}; using the default ({})",
            self.key, self.value, self.reason, self.used
        )
    }
}

/// Every key this module owns, in the order `to_query_pairs` writes them.
pub const KEYS: [&str; 40] = [
    "v",
    "gap",
    "maxlen",
    "midnight",
    "tz",
    "def",
    "actions",
    "inactive",
    "k",
    "core",
    "strict",
    "minsess",
    "win",
    "cmin",
    "mau",
    "wstart",
    "outlier",
    "cap",
    "pct",
    "z",
    "policy",
    "dups",
    "from",
    "to",
    "seg",
    "segv",
    "topn",
    "partitions",
    "topk",
    "rgran",
    "lgran",
    "rspan",
    "cohort",
    "rstart",
    "rreturn",
    "power",
    "pseg",
    "vtop",
    "anomz",
    "anomk",
];

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `90` → `1h30m`, `120` → `2h`, `5` → `5m`, `0` → `0m`.
pub fn format_minutes(mins: u32) -> String {
    let (h, m) = (mins / 60, mins % 60);
    match (h, m) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

/// Parse `30m`, `2h`, `1h30m`, `1d` into minutes. Minute granularity: seconds are rejected.
pub fn parse_minutes(s: &str) -> Result<u32, String> {
    let err = || format!("expected a duration like 5m, 2h or 1h30m, got {s:?}");
    if s.is_empty() {
        return Err(err());
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    let mut last_unit_rank = 0u8;
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            if num.len() > 6 {
                return Err(err());
            }
            continue;
        }
        let (mult, rank) = match c {
            'd' => (1440u64, 1u8),
            'h' => (60, 2),
            'm' => (1, 3),
            's' => return Err("durations have minute granularity (use m or h)".into()),
            _ => return Err(err()),
        };
        if num.is_empty() || rank <= last_unit_rank {
            return Err(err());
        }
        last_unit_rank = rank;
        total += num.parse::<u64>().map_err(|_| err())? * mult;
        num.clear();
    }
    if !num.is_empty() {
        return Err(format!("{s:?} has no unit (write {s}m for minutes)"));
    }
    u32::try_from(total).map_err(|_| err())
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        _ => Err("expected 1 or 0".into()),
    }
}

fn parse_u32_in(s: &str, lo: u32, hi: u32) -> Result<u32, String> {
    let v: u32 = s
        .parse()
        .map_err(|_| format!("expected a whole number from {lo} to {hi}"))?;
    if v < lo || v > hi {
        return Err(format!("must be from {lo} to {hi}"));
    }
    Ok(v)
}

fn parse_f64_in(s: &str, lo_excl: f64, hi_excl: f64) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("expected a number between {lo_excl} and {hi_excl}"))?;
    if !v.is_finite() || v <= lo_excl || v >= hi_excl {
        return Err(format!(
            "must be between {lo_excl} and {hi_excl} (exclusive)"
        ));
    }
    // Canonical zero and shortest form, so the URL round-trips.
    Ok(v + 0.0)
}

/// A comma-separated list of names (action types, segment values): non-empty items, no
/// duplicates, each ≤ 200 chars. Order is kept as given.
fn parse_list(s: &str, allow_empty: bool) -> Result<Vec<String>, String> {
    if s.is_empty() {
        return if allow_empty {
            Ok(Vec::new())
        } else {
            Err("expected a comma-separated list of names".into())
        };
    }
    let mut out: Vec<String> = Vec::new();
    for item in s.split(',') {
        if item.is_empty() || item.len() > 200 {
            return Err("list items must be non-empty names (≤ 200 characters)".into());
        }
        if !out.iter().any(|o| o == item) {
            out.push(item.to_string());
        }
    }
    Ok(out)
}

fn parse_time_zone(s: &str) -> Result<String, String> {
    chrono_tz::Tz::from_str(s)
        .map(|tz| tz.name().to_string())
        .map_err(|_| {
            "not an IANA time zone name (e.g. UTC, Europe/Berlin, America/New_York)".into()
        })
}

impl Params {
    /// Parse permalink query pairs (already percent-decoded). Returns the params, one issue per
    /// rejected value (its default is used), and the pairs whose keys are not engine knobs, in
    /// their original order, for the UI.
    pub fn from_query_pairs(
        pairs: &[(String, String)],
    ) -> (Params, Vec<ParamIssue>, Vec<(String, String)>) {
        let mut p = Params::default();
        let d = Params::default();
        let mut issues = Vec::new();
        let mut rest = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for (key, value) in pairs {
            let k = key.as_str();
            if !KEYS.contains(&k) {
                rest.push((key.clone(), value.clone()));
                continue;
            }
            if seen.contains(&k) {
                issues.push(ParamIssue {
                    key: key.clone(),
                    value: value.clone(),
                    reason: "given more than once; only the first occurrence is read".into(),
                    used: "the first occurrence".into(),
                });
                continue;
            }
            seen.push(k);
            let v = value.as_str();
            let res: Result<(), String> = (|| {
                match k {
                    "v" => {
                        let n: u32 = v.parse().map_err(|_| "expected a version number")?;
                        if n != PARAMS_VERSION {
                            return Err(format!(
                                "this link was written by permalink version {n}; this build reads version {PARAMS_VERSION}"
                            ));
                        }
                        p.version = n;
                    }
                    "gap" => {
                        let m = parse_minutes(v)?;
                        let (lo, hi) = GAP_MINS_RANGE;
                        if m < lo || m > hi {
                            return Err("the session gap must be from 1m to 24h".into());
                        }
                        p.session_gap_mins = m;
                    }
                    "maxlen" => {
                        if v == "off" {
                            p.max_session_mins = None;
                        } else {
                            let m = parse_minutes(v)?;
                            let (lo, hi) = MAX_SESSION_MINS_RANGE;
                            if m < lo || m > hi {
                                return Err(
                                    "the maximum session length must be from 1m to 7d, or off"
                                        .into(),
                                );
                            }
                            p.max_session_mins = Some(m);
                        }
                    }
                    "midnight" => p.split_at_midnight = parse_bool(v)?,
                    "tz" => p.time_zone = parse_time_zone(v)?,
                    "def" => {
                        p.definition = ActivityDefinition::ALL
                            .into_iter()
                            .find(|x| x.key() == v)
                            .ok_or("expected minimal, core, session or custom")?;
                    }
                    "actions" => {
                        p.actions = if v == "all" {
                            None
                        } else {
                            Some(parse_list(v, false)?)
                        }
                    }
                    "inactive" => p.inactive_actions = parse_list(v, true)?,
                    "k" => p.core_min_events = parse_u32_in(v, 1, 10_000)?,
                    "core" => p.core_actions = parse_list(v, false)?,
                    "strict" => p.core_strict = parse_bool(v)?,
                    "minsess" => {
                        let m = parse_minutes(v)?;
                        if m > 24 * 60 {
                            return Err("the minimum session length must be from 0m to 24h".into());
                        }
                        p.min_session_mins = m;
                    }
                    "win" => p.custom_window_days = parse_u32_in(v, 1, 366)?,
                    "cmin" => p.custom_min_events = parse_u32_in(v, 1, 100_000)?,
                    "mau" => p.mau_window_days = parse_u32_in(v, 1, 366)?,
                    "wstart" => {
                        p.week_start = WEEKDAYS
                            .iter()
                            .position(|w| *w == v)
                            .ok_or("expected mon, tue, wed, thu, fri, sat or sun")?
                            as u8
                    }
                    "outlier" => {
                        p.outlier_detector = OutlierDetector::ALL
                            .into_iter()
                            .find(|x| x.key() == v)
                            .ok_or("expected cap, pct, z or mad")?;
                    }
                    "cap" => {
                        let m = parse_minutes(v)?;
                        if m == 0 || m > 30 * 1440 {
                            return Err("the cap must be from 1m to 30d".into());
                        }
                        p.outlier_cap_mins = m;
                    }
                    "pct" => p.outlier_percentile = parse_f64_in(v, 0.0, 100.0)?,
                    "z" => p.outlier_z = parse_f64_in(v, 0.0, 1000.0)?,
                    "policy" => {
                        p.outlier_policy = OutlierPolicy::ALL
                            .into_iter()
                            .find(|x| x.key() == v)
                            .ok_or("expected keep, filter, cap or flag")?;
                    }
                    "dups" => {
                        p.duplicates = match v {
                            "keep" => DuplicatePolicy::Keep,
                            "drop" => DuplicatePolicy::Drop,
                            _ => return Err("expected keep or drop".into()),
                        }
                    }
                    "from" => {
                        p.from = Some(Date::parse_iso(v).ok_or("expected a date YYYY-MM-DD")?)
                    }
                    "to" => p.to = Some(Date::parse_iso(v).ok_or("expected a date YYYY-MM-DD")?),
                    "seg" => p.segment = Some(Segment::parse(v)?),
                    "segv" => p.segment_values = parse_list(v, false)?,
                    "topn" => p.top_segments = parse_u32_in(v, 1, 100)?,
                    "partitions" => p.partitions = parse_u32_in(v, 1, 100_000)?,
                    "topk" => p.top_users = parse_u32_in(v, 1, 1000)?,
                    "rgran" | "lgran" => {
                        let g = Granularity::ALL
                            .into_iter()
                            .find(|x| x.key() == v)
                            .ok_or("expected day, week or month")?;
                        if k == "rgran" {
                            p.retention_granularity = g;
                        } else {
                            p.lifecycle_granularity = g;
                        }
                    }
                    "rspan" => p.retention_span = parse_u32_in(v, 1, 1000)?,
                    "cohort" => {
                        p.cohort_by = match v {
                            "first" => CohortBy::FirstSeen,
                            "join" => CohortBy::Join,
                            _ => return Err("expected first or join".into()),
                        }
                    }
                    "rstart" => p.retention_start_actions = parse_list(v, false)?,
                    "rreturn" => p.retention_return_actions = parse_list(v, false)?,
                    "power" => p.power_pct = parse_f64_in(v, 0.0, 100.0)?,
                    "pseg" => {
                        let ok = v.len() <= 64
                            && v.chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                        if !ok {
                            return Err("a metadata column name (letters, digits, _ or -)".into());
                        }
                        p.power_segment = v.to_string();
                    }
                    "vtop" => p.top_versions = parse_u32_in(v, 1, 1000)?,
                    "anomz" => p.anomaly_z = parse_f64_in(v, 0.0, 1000.0)?,
                    "anomk" => p.anomaly_weeks = parse_u32_in(v, 1, 52)?,
                    _ => {}
                }
                Ok(())
            })();
            if let Err(reason) = res {
                issues.push(ParamIssue {
                    key: key.clone(),
                    value: value.clone(),
                    reason,
                    used: d
                        .value_of(k)
                        .unwrap_or_else(|| "(none: the default)".into()),
                });
            }
        }
        // Cross-field check: an inverted date range keeps neither bound.
        if let (Some(f), Some(t)) = (p.from, p.to) {
            if f > t {
                issues.push(ParamIssue {
                    key: "to".into(),
                    value: t.iso(),
                    reason: format!("the range ends before it starts ({})", f.iso()),
                    used: "the whole data range".into(),
                });
                p.from = None;
                p.to = None;
            }
        }
        (p, issues, rest)
    }

    /// Parse a raw query string (`gap=5m&tz=Europe%2FBerlin`, with or without a leading `?`).
    pub fn from_query(query: &str) -> (Params, Vec<ParamIssue>, Vec<(String, String)>) {
        let q = query.strip_prefix('?').unwrap_or(query);
        let pairs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Self::from_query_pairs(&pairs)
    }

    /// The value of `key` as it would be written in the URL (`None` for an unset option).
    pub fn value_of(&self, key: &str) -> Option<String> {
        Some(match key {
            "v" => self.version.to_string(),
            "gap" => format_minutes(self.session_gap_mins),
            "maxlen" => match self.max_session_mins {
                None => "off".into(),
                Some(m) => format_minutes(m),
            },
            "midnight" => u8::from(self.split_at_midnight).to_string(),
            "tz" => self.time_zone.clone(),
            "def" => self.definition.key().into(),
            "actions" => match &self.actions {
                None => "all".into(),
                Some(a) => a.join(","),
            },
            "inactive" => self.inactive_actions.join(","),
            "k" => self.core_min_events.to_string(),
            "core" => self.core_actions.join(","),
            "strict" => u8::from(self.core_strict).to_string(),
            "minsess" => format_minutes(self.min_session_mins),
            "win" => self.custom_window_days.to_string(),
            "cmin" => self.custom_min_events.to_string(),
            "mau" => self.mau_window_days.to_string(),
            "wstart" => WEEKDAYS.get(self.week_start as usize)?.to_string(),
            "outlier" => self.outlier_detector.key().into(),
            "cap" => format_minutes(self.outlier_cap_mins),
            "pct" => self.outlier_percentile.to_string(),
            "z" => self.outlier_z.to_string(),
            "policy" => self.outlier_policy.key().into(),
            "dups" => match self.duplicates {
                DuplicatePolicy::Keep => "keep".into(),
                DuplicatePolicy::Drop => "drop".into(),
            },
            "from" => self.from?.iso(),
            "to" => self.to?.iso(),
            "seg" => self.segment.as_ref()?.key(),
            "segv" => {
                if self.segment_values.is_empty() {
                    return None;
                }
                self.segment_values.join(",")
            }
            "topn" => self.top_segments.to_string(),
            "partitions" => self.partitions.to_string(),
            "topk" => self.top_users.to_string(),
            "rgran" => self.retention_granularity.key().into(),
            "lgran" => self.lifecycle_granularity.key().into(),
            "rspan" => self.retention_span.to_string(),
            "cohort" => match self.cohort_by {
                CohortBy::FirstSeen => "first".into(),
                CohortBy::Join => "join".into(),
            },
            "rstart" => self.retention_start_actions.join(","),
            "rreturn" => self.retention_return_actions.join(","),
            "power" => self.power_pct.to_string(),
            "pseg" => self.power_segment.clone(),
            "vtop" => self.top_versions.to_string(),
            "anomz" => self.anomaly_z.to_string(),
            "anomk" => self.anomaly_weeks.to_string(),
            _ => return None,
        })
    }

    /// Query pairs for the permalink: human-readable keys, defaults omitted, fixed key order.
    pub fn to_query_pairs(&self) -> Vec<(String, String)> {
        let d = Params::default();
        KEYS.iter()
            .filter_map(|&k| {
                let mine = self.value_of(k)?;
                (d.value_of(k).as_ref() != Some(&mine)).then(|| (k.to_string(), mine))
            })
            .collect()
    }

    /// The query string (percent-encoded, without `?`).
    pub fn to_query(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.to_query_pairs() {
            s.append_pair(&k, &v);
        }
        s.finish()
    }

    /// The parsed IANA zone (falls back to an error the caller reports).
    pub fn tz(&self) -> Result<chrono_tz::Tz, String> {
        chrono_tz::Tz::from_str(&self.time_zone).map_err(|_| self.time_zone.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_write_nothing() {
        assert!(Params::default().to_query_pairs().is_empty());
        let (p, issues, rest) = Params::from_query_pairs(&[]);
        assert_eq!(p, Params::default());
        assert!(issues.is_empty() && rest.is_empty());
    }

    #[test]
    fn parses_every_key() {
        let (p, issues, rest) = Params::from_query_pairs(&pairs(&[
            ("gap", "5m"),
            ("maxlen", "off"),
            ("midnight", "1"),
            ("tz", "Europe/Berlin"),
            ("def", "core"),
            ("actions", "create,edit"),
            ("inactive", ""),
            ("k", "3"),
            ("core", "create,share"),
            ("strict", "1"),
            ("minsess", "1h30m"),
            ("win", "14"),
            ("cmin", "4"),
            ("mau", "28"),
            ("wstart", "sun"),
            ("outlier", "mad"),
            ("cap", "8h"),
            ("pct", "99.5"),
            ("z", "2.5"),
            ("policy", "flag"),
            ("dups", "drop"),
            ("from", "2023-02-01"),
            ("to", "2023-03-31"),
            ("seg", "plan"),
            ("segv", "free,premium"),
            ("topn", "3"),
            ("partitions", "64"),
            ("topk", "20"),
            ("view", "sessions"),
        ]));
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(rest, pairs(&[("view", "sessions")]));
        assert_eq!(p.session_gap_mins, 5);
        assert_eq!(p.max_session_mins, None);
        assert!(p.split_at_midnight && p.core_strict);
        assert_eq!(p.time_zone, "Europe/Berlin");
        assert_eq!(p.definition, ActivityDefinition::Core);
        assert_eq!(p.actions, Some(vec!["create".into(), "edit".into()]));
        assert!(p.inactive_actions.is_empty());
        assert_eq!(p.min_session_mins, 90);
        assert_eq!(p.week_start, 6);
        assert_eq!(p.outlier_detector, OutlierDetector::Mad);
        assert_eq!(p.outlier_percentile, 99.5);
        assert_eq!(p.from.map(|d| d.iso()), Some("2023-02-01".into()));
        assert_eq!(
            p.segment,
            Some(Segment::Metadata("subscription_type".into()))
        );
        let (q, issues, _) = Params::from_query_pairs(&p.to_query_pairs());
        assert!(issues.is_empty());
        assert_eq!(q, p);
    }

    #[test]
    fn bad_values_are_reported_and_defaulted() {
        let (p, issues, _) = Params::from_query_pairs(&pairs(&[
            ("gap", "90s"),
            ("tz", "Mars/Olympus"),
            ("k", "0"),
            ("pct", "100"),
            ("from", "2023-13-01"),
            ("def", "weird"),
            ("gap", "5m"),
        ]));
        assert_eq!(p, Params::default());
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["gap", "tz", "k", "pct", "from", "def", "gap"]);
        assert!(issues[0].reason.contains("minute granularity"));
        assert_eq!(issues[0].used, "30m");
        assert_eq!(issues[1].used, "UTC");
        assert!(issues[1].to_string().contains("Mars/Olympus"));
    }

    #[test]
    fn inverted_range_is_dropped() {
        let (p, issues, _) =
            Params::from_query_pairs(&pairs(&[("from", "2023-05-01"), ("to", "2023-04-01")]));
        assert_eq!((p.from, p.to), (None, None));
        assert_eq!(issues.len(), 1);
    }

    #[test]
    fn minutes_format_and_parse() {
        for (s, m) in [
            ("5m", 5),
            ("2h", 120),
            ("1h30m", 90),
            ("1d", 1440),
            ("0m", 0),
        ] {
            assert_eq!(parse_minutes(s), Ok(m), "{s}");
        }
        for s in ["", "5", "m", "30s", "1m1h", "5mm", "-5m", "1.5h"] {
            assert!(parse_minutes(s).is_err(), "{s}");
        }
        assert_eq!(format_minutes(90), "1h30m");
        assert_eq!(format_minutes(1440), "24h");
    }

    /// Property: for many random valid params, parse(write(p)) == p with no issues.
    #[test]
    fn query_round_trip_property() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(7);
        let zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"];
        let names = ["create", "edit", "page_view", "a b", "x&y=z", "ünï", "US"];
        let pick_list = |rng: &mut rand_pcg::Pcg64Mcg, min: usize| -> Vec<String> {
            let n = rng.random_range(min..4);
            let mut v: Vec<String> = Vec::new();
            for _ in 0..n {
                let s = names[rng.random_range(0..names.len())].to_string();
                if !v.contains(&s) {
                    v.push(s);
                }
            }
            if v.len() < min {
                v.push("create".into());
            }
            v
        };
        for _ in 0..2000 {
            let p = Params {
                version: PARAMS_VERSION,
                session_gap_mins: rng.random_range(1..=1440),
                max_session_mins: rng.random_bool(0.5).then(|| rng.random_range(1..=7 * 1440)),
                split_at_midnight: rng.random_bool(0.5),
                time_zone: zones[rng.random_range(0..zones.len())].into(),
                definition: ActivityDefinition::ALL[rng.random_range(0..4)],
                actions: rng.random_bool(0.5).then(|| pick_list(&mut rng, 1)),
                inactive_actions: pick_list(&mut rng, 0),
                core_min_events: rng.random_range(1..=10_000),
                core_actions: pick_list(&mut rng, 1),
                core_strict: rng.random_bool(0.5),
                min_session_mins: rng.random_range(0..=1440),
                custom_window_days: rng.random_range(1..=366),
                custom_min_events: rng.random_range(1..=100_000),
                mau_window_days: rng.random_range(1..=366),
                week_start: rng.random_range(0..7),
                outlier_detector: OutlierDetector::ALL[rng.random_range(0..4)],
                outlier_cap_mins: rng.random_range(1..=30 * 1440),
                outlier_percentile: rng.random_range(0.001..99.999),
                outlier_z: rng.random_range(0.01..999.0),
                outlier_policy: OutlierPolicy::ALL[rng.random_range(0..4)],
                duplicates: if rng.random_bool(0.5) {
                    DuplicatePolicy::Keep
                } else {
                    DuplicatePolicy::Drop
                },
                from: rng
                    .random_bool(0.5)
                    .then(|| Date(rng.random_range(19_000..19_300))),
                to: rng
                    .random_bool(0.5)
                    .then(|| Date(rng.random_range(19_300..19_700))),
                segment: match rng.random_range(0..6) {
                    0 => None,
                    1 => Some(Segment::JoinMonth),
                    2 => Some(Segment::AppVersion),
                    3 => Some(Segment::ActionType),
                    4 => Some(Segment::Metadata("country".into())),
                    _ => Some(Segment::Metadata("device_type".into())),
                },
                segment_values: pick_list(&mut rng, 0),
                top_segments: rng.random_range(1..=100),
                partitions: rng.random_range(1..=100_000),
                top_users: rng.random_range(1..=1000),
                retention_granularity: Granularity::ALL[rng.random_range(0..3)],
                lifecycle_granularity: Granularity::ALL[rng.random_range(0..3)],
                retention_span: rng.random_range(1..=1000),
                cohort_by: if rng.random_bool(0.5) {
                    CohortBy::FirstSeen
                } else {
                    CohortBy::Join
                },
                retention_start_actions: pick_list(&mut rng, 0),
                retention_return_actions: pick_list(&mut rng, 0),
                power_pct: rng.random_range(0.001..99.999),
                power_segment: ["country", "device_type", "plan_x"][rng.random_range(0..3)].into(),
                top_versions: rng.random_range(1..=1000),
                anomaly_z: rng.random_range(0.01..999.0),
                anomaly_weeks: rng.random_range(1..=52),
            };
            let q = p.to_query();
            let (back, issues, rest) = Params::from_query(&q);
            assert!(issues.is_empty(), "{q}: {issues:?}");
            assert!(rest.is_empty());
            assert_eq!(back, p, "{q}");
            // serde round trip too (the worker boundary).
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<Params>(&json).unwrap(), p);
        }
    }
}
