//! The data-quality report: a first-class result of loading, shown in the UI next to the metrics.
//!
//! Every count is over the rows of the files as read, unless the field says otherwise. A row is
//! dropped for the **first** failing check, in this order: null user id, null time, unparseable
//! time, time before [`PLAUSIBLE_FROM_MS`], time after `now + 1 day`. Dropped rows are not in the
//! store; every other finding (duplicates, odd durations) is kept in the store and only counted,
//! so metrics decide how to treat them.

use serde::{Deserialize, Serialize};

/// 2000-01-01T00:00:00Z in ms. Product event logs do not predate it; earlier times are nearly
/// always a unit mistake (epoch 0, seconds read as ms) and would stretch every time axis.
pub const PLAUSIBLE_FROM_MS: i64 = 946_684_800_000;
/// Times more than this after the caller's "now" are in the future (clock skew of a day is
/// tolerated).
pub const FUTURE_TOLERANCE_MS: i64 = 86_400_000;
/// Durations above 10 hours are absurd for a single interaction (an app left open overnight).
pub const ABSURD_DURATION_MS: i64 = 36_000_000;

/// Nulls in one mapped column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnNulls {
    /// The role (`user id`, `event time`, `action`, `page`, `duration`, `app version`).
    pub role: String,
    pub column: String,
    /// Null (or empty-string) values over all rows read.
    pub nulls: u64,
}

/// Rows read from one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRows {
    pub file: String,
    pub rows: u64,
}

/// What loading an event dataset found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    /// Rows in the files.
    pub rows_read: u64,
    /// Rows in the store (`rows_read` minus every `dropped_*`).
    pub rows_loaded: u64,
    /// Dropped: the user id is null or empty.
    pub dropped_null_user: u64,
    /// Dropped: the time is null or empty.
    pub dropped_null_time: u64,
    /// Dropped: the time is present but could not be read (e.g. `"yesterday"`).
    pub dropped_unparseable_time: u64,
    /// Dropped: the time is before 2000-01-01 ([`PLAUSIBLE_FROM_MS`]).
    pub dropped_time_too_early: u64,
    /// Dropped: the time is more than a day after the caller's clock.
    pub dropped_time_in_future: u64,
    /// Nulls per mapped column, in role order (user, time, action, page, duration, version).
    pub nulls: Vec<ColumnNulls>,
    /// Loaded rows that exactly repeat an earlier row (same user, time, action, page, duration,
    /// version) — `EventStore::duplicate_rows.len()`. Kept; the metrics' duplicate policy decides.
    pub duplicate_events: u64,
    /// Loaded rows whose duration is negative (kept as is).
    pub negative_durations: u64,
    /// Loaded rows whose duration exceeds [`ABSURD_DURATION_MS`] (10 h), clamped ones included.
    pub absurd_durations: u64,
    /// Loaded rows whose duration exceeded the stored range (±2^31 ms ≈ 24.8 days) and was
    /// clamped to it.
    pub clamped_durations: u64,
    /// Loaded rows whose duration was present but not a number (stored as null).
    pub unparseable_durations: u64,
    /// Earliest and latest loaded time, ms since epoch UTC.
    pub first_time_ms: Option<i64>,
    pub last_time_ms: Option<i64>,
    /// Distinct users in the store.
    pub users: u64,
    /// Rows per data file, in load order.
    pub files: Vec<FileRows>,
}

/// What loading a metadata file found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetadataQuality {
    pub rows_read: u64,
    /// Distinct users kept (one row each).
    pub rows_loaded: u64,
    /// Dropped: null or empty user id.
    pub dropped_null_user: u64,
    /// Rows discarded because a later row had the same user id (see `duplicate_rule`).
    pub duplicate_rows: u64,
    /// Distinct user ids that appeared more than once.
    pub duplicated_users: u64,
    /// Up to ten duplicated user ids, sorted, for the UI.
    pub duplicated_examples: Vec<String>,
    /// The rule that picked one row per duplicated user id.
    pub duplicate_rule: String,
    /// Join dates present but unreadable (stored as missing).
    pub unparseable_join_dates: u64,
    /// Nulls per column (kept rows), in column order.
    pub nulls: Vec<ColumnNulls>,
    /// Columns left out because they have more than 65,535 distinct values (ids, free text).
    pub skipped_columns: Vec<String>,
}

/// How well the metadata covers the events' users.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetadataCoverage {
    /// Distinct users in the events.
    pub users: u64,
    /// Event users with no metadata row.
    pub users_missing: u64,
    /// Events whose user has no metadata row.
    pub events_missing: u64,
    /// Up to ten missing user keys, in store order, for the UI.
    pub missing_examples: Vec<String>,
    /// Metadata users with no events at all.
    pub metadata_users_without_events: u64,
}
