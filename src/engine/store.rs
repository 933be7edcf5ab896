//! The columnar event store every metric reads.
//!
//! Events are held column by column, sorted once by (user, time) — stably, so events with the same
//! user and the same timestamp keep their file order — which lets every later pass (sessions,
//! activity, joins) walk each user's events in one linear sweep.
//!
//! Layout per event (resident bytes): time `i64` (8) + action `u16` (2) + page `u32` (4) +
//! duration `i32` (4) + app version `u16` (2) = **20 bytes**. The user column is not stored per
//! event at all: because the store is sorted by user, each user owns the contiguous row range
//! `user_offsets[u]..user_offsets[u + 1]` (4 bytes per *user*).
//!
//! Units: times are **milliseconds since the Unix epoch, UTC** ([`TimestampMs`]); durations are
//! milliseconds ([`DurationMs`]), with [`DurationMs::NULL`] marking a missing value.

use serde::{Deserialize, Serialize};

/// A dense user index: `0..store.user_count()`. Users are numbered in ascending order of their
/// original key (numeric keys numerically, string keys lexicographically), so the numbering does
/// not depend on file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UserIdx(pub u32);

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TimestampMs(pub i64);

/// A duration in milliseconds as stored per event (`duration_ms` column).
///
/// Stored as `i32`: 2^31 ms is 24.8 days, far beyond any plausible single interaction; larger
/// values are clamped on ingestion and counted as absurd by the quality report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DurationMs(pub i32);

impl Default for DurationMs {
    /// Null: a missing duration is the neutral value.
    fn default() -> Self {
        Self::NULL
    }
}

impl DurationMs {
    /// Marker for a null `duration_ms`.
    pub const NULL: DurationMs = DurationMs(i32::MIN);

    pub fn is_null(self) -> bool {
        self == Self::NULL
    }

    /// The value, or `None` when null.
    pub fn get(self) -> Option<i64> {
        (!self.is_null()).then_some(self.0 as i64)
    }

    /// Clamp an `i64` from a file into the stored range (never producing the null marker).
    pub fn from_i64_clamped(v: i64) -> DurationMs {
        DurationMs(v.clamp(i32::MIN as i64 + 1, i32::MAX as i64) as i32)
    }
}

/// A dictionary of distinct strings, indexed densely. Index 0 is reserved for "missing" in
/// dictionaries that allow nulls (see [`Dictionary::with_null`]).
///
/// The strings are stored back to back in one buffer with their end offsets, not as one
/// `String` each: page ids are high-cardinality (~900k at 10M events), and 24 bytes of `String`
/// plus a heap block per value cost ~36 MiB of the store there (~13 MiB this way), with as many
/// small allocations during the load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "DictionaryRepr", into = "DictionaryRepr")]
pub struct Dictionary {
    text: String,
    /// `text[ends[i - 1]..ends[i]]` is value `i` (from 0 for `i == 0`).
    ends: Vec<usize>,
}

/// The serialised form: the list of values.
#[derive(Serialize, Deserialize)]
struct DictionaryRepr {
    values: Vec<String>,
}

impl From<DictionaryRepr> for Dictionary {
    fn from(r: DictionaryRepr) -> Self {
        Dictionary::from_values(r.values)
    }
}

impl From<Dictionary> for DictionaryRepr {
    fn from(d: Dictionary) -> Self {
        DictionaryRepr {
            values: d.iter().map(str::to_string).collect(),
        }
    }
}

impl Dictionary {
    /// A dictionary whose index 0 is the empty string, standing for null.
    pub fn with_null() -> Self {
        Dictionary {
            text: String::new(),
            ends: vec![0],
        }
    }

    pub fn from_values(values: Vec<String>) -> Self {
        let mut d = Dictionary {
            text: String::with_capacity(values.iter().map(String::len).sum()),
            ends: Vec::with_capacity(values.len()),
        };
        for v in &values {
            d.push(v);
        }
        d
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Value `idx` ("" past the end).
    pub fn get(&self, idx: usize) -> &str {
        let Some(&end) = self.ends.get(idx) else {
            return "";
        };
        let start = match idx.checked_sub(1) {
            Some(prev) => self.ends.get(prev).copied().unwrap_or(0),
            None => 0,
        };
        self.text.get(start..end).unwrap_or("")
    }

    /// The values in index order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + Clone + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Index of `value`, if present (linear; for look-ups of a handful of knob values).
    pub fn position(&self, value: &str) -> Option<usize> {
        self.iter().position(|v| v == value)
    }

    pub fn push(&mut self, value: &str) -> usize {
        self.text.push_str(value);
        self.ends.push(self.text.len());
        self.ends.len() - 1
    }

    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * std::mem::size_of::<usize>()
    }
}

/// The sorted, dictionary-encoded event table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventStore {
    /// `user_offsets[u]..user_offsets[u+1]` are user `u`'s rows; length `user_count() + 1`.
    pub user_offsets: Vec<u32>,
    /// Original user keys, by [`UserIdx`].
    pub users: Dictionary,
    /// Event time, ms since epoch UTC, non-decreasing within each user's range.
    pub time_ms: Vec<i64>,
    /// Index into [`EventStore::actions`] (0 = null action).
    pub action: Vec<u16>,
    pub actions: Dictionary,
    /// Index into [`EventStore::pages`] (0 = null page).
    pub page: Vec<u32>,
    pub pages: Dictionary,
    /// `duration_ms` per event; [`DurationMs::NULL`] when missing.
    pub duration_ms: Vec<DurationMs>,
    /// Index into [`EventStore::app_versions`] (0 = null version).
    pub app_version: Vec<u16>,
    pub app_versions: Dictionary,
    /// Rows that exactly repeat an earlier row (same user, time, action, page, duration and
    /// version), ascending. Kept in the store; the duplicate-event policy decides whether metrics
    /// skip them. Filled by ingestion after the sort (duplicates are adjacent within a tie).
    pub duplicate_rows: Vec<u32>,
}

impl EventStore {
    pub fn len(&self) -> usize {
        self.time_ms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.time_ms.is_empty()
    }

    pub fn user_count(&self) -> usize {
        self.user_offsets.len().saturating_sub(1)
    }

    /// Row range of user `u`.
    pub fn user_rows(&self, u: UserIdx) -> std::ops::Range<usize> {
        let i = u.0 as usize;
        self.user_offsets[i] as usize..self.user_offsets[i + 1] as usize
    }

    /// Iterate `(user, rows)` for every user.
    pub fn users_with_rows(&self) -> impl Iterator<Item = (UserIdx, std::ops::Range<usize>)> + '_ {
        self.user_offsets
            .windows(2)
            .enumerate()
            .map(|(u, w)| (UserIdx(u as u32), w[0] as usize..w[1] as usize))
    }

    /// Smallest and largest event time, if any.
    pub fn time_range(&self) -> Option<(TimestampMs, TimestampMs)> {
        // Times ascend within each user: the extremes are users' first and last events.
        let ends = self
            .users_with_rows()
            .filter_map(|(_, rows)| self.time_ms.get(rows).and_then(|t| t.first().zip(t.last())))
            .map(|(&first, &last)| (first, last));
        let (min, max) = ends.fold(None, |acc: Option<(i64, i64)>, (first, last)| {
            Some(acc.map_or((first, last), |(lo, hi)| (lo.min(first), hi.max(last))))
        })?;
        Some((TimestampMs(min), TimestampMs(max)))
    }

    /// Bytes held by the per-event columns and the dictionaries (what the 24 bytes/event target
    /// is measured against). Uses capacities, i.e. what is actually resident.
    pub fn resident_bytes(&self) -> usize {
        self.user_offsets.capacity() * 4
            + self.time_ms.capacity() * 8
            + self.action.capacity() * 2
            + self.page.capacity() * 4
            + self.duration_ms.capacity() * 4
            + self.app_version.capacity() * 2
            + self.duplicate_rows.capacity() * 4
            + self.users.heap_bytes()
            + self.actions.heap_bytes()
            + self.pages.heap_bytes()
            + self.app_versions.heap_bytes()
    }

    /// Check the invariants later passes rely on. Used by tests and after ingestion.
    pub fn check_invariants(&self) -> Result<(), String> {
        let n = self.len();
        if self.action.len() != n
            || self.page.len() != n
            || self.duration_ms.len() != n
            || self.app_version.len() != n
        {
            return Err("column lengths differ".into());
        }
        if self.user_offsets.first().copied().unwrap_or(0) != 0
            || self.user_offsets.last().copied().unwrap_or(0) as usize != n
        {
            return Err("user offsets do not cover the rows".into());
        }
        if self.users.len() != self.user_count() {
            return Err("user dictionary size differs from offsets".into());
        }
        for (_, rows) in self.users_with_rows() {
            if rows.start > rows.end {
                return Err("user offsets decrease".into());
            }
            if self.time_ms[rows].windows(2).any(|w| w[0] > w[1]) {
                return Err("times not sorted within a user".into());
            }
        }
        Ok(())
    }
}
