//! The event loader's inner loop: one decoded batch of role columns in, rows appended to the
//! [`StoreBuilder`] and findings counted into the [`QualityReport`].

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::ArrayRef;

use super::columns::{
    durations_ms, times_ms, to_label_array, user_key_of, Labels, Unsupported, UserColumn, Val,
};
use super::mapping::ColumnMapping;
use crate::engine::builder::{StoreBuilder, UserKeyRef};
use crate::engine::error::IngestError;
use crate::engine::quality::{QualityReport, ABSURD_DURATION_MS, PLAUSIBLE_FROM_MS};
use crate::engine::store::DurationMs;

/// The arrays of one batch, by role.
pub(crate) struct RoleArrays {
    pub user: ArrayRef,
    pub time: ArrayRef,
    pub action: Option<ArrayRef>,
    pub page: Option<ArrayRef>,
    pub duration: Option<ArrayRef>,
    pub version: Option<ArrayRef>,
}

/// Interned codes per dictionary value of one label column, kept from batch to batch while the
/// batches share one dictionary (arrow-rs hands every batch of a column chunk the same values
/// array), so each distinct value of a row group is interned once instead of once per batch.
/// Holding the values array keeps its address from being reused by a different dictionary.
struct Memo<T> {
    dictionary: Option<ArrayRef>,
    codes: Vec<Option<T>>,
}

impl<T: Copy> Memo<T> {
    fn new() -> Self {
        Memo {
            dictionary: None,
            codes: Vec::new(),
        }
    }

    /// The memo for this batch's column `arr` whose labels need `len` slots.
    fn for_batch(&mut self, arr: Option<&ArrayRef>, len: usize) -> &mut [Option<T>] {
        let values = arr
            .and_then(|a| a.as_any_dictionary_opt())
            .map(|d| d.values().clone());
        let same = match (&self.dictionary, &values) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b) && self.codes.len() == len,
            _ => false,
        };
        if !same {
            self.codes.clear();
            self.codes.resize(len, None);
            self.dictionary = values;
        }
        &mut self.codes
    }
}

/// Accumulates rows and counts.
pub(crate) struct EventSink {
    pub builder: StoreBuilder,
    user_memo: Memo<u32>,
    action_memo: Memo<u16>,
    page_memo: Memo<u32>,
    version_memo: Memo<u16>,
    pub report: QualityReport,
    /// Nulls per role: user, time, action, page, duration, version.
    pub nulls: [u64; 6],
    /// Non-null time values that parsed / did not, over all rows (for the wrong-type check).
    pub times_parsed: u64,
    pub times_unparsed: u64,
    pub durations_parsed: u64,
    pub durations_unparsed: u64,
    /// Latest plausible time (ms): the caller's now plus a day.
    pub latest_ms: i64,
}

fn wrong_type(
    file: &str,
    column: &str,
    role: &'static str,
    arr: &ArrayRef,
    expected: &'static str,
) -> impl FnOnce(Unsupported) -> IngestError {
    let file = file.to_string();
    let column = column.to_string();
    let found = super::schema::type_name(arr.data_type());
    move |_| IngestError::WrongType {
        file,
        column,
        role,
        found,
        expected,
    }
}

/// Borrowed labels of a validated label array.
fn as_labels(a: &Option<ArrayRef>) -> Option<Labels<'_>> {
    a.as_ref().and_then(|a| Labels::new(a.as_ref()).ok())
}

fn labels(arr: Option<&ArrayRef>) -> Result<Option<ArrayRef>, Unsupported> {
    arr.map(to_label_array).transpose()
}

impl EventSink {
    pub(crate) fn new(capacity: usize, latest_ms: i64) -> Self {
        EventSink {
            builder: StoreBuilder::with_capacity(capacity),
            user_memo: Memo::new(),
            action_memo: Memo::new(),
            page_memo: Memo::new(),
            version_memo: Memo::new(),
            report: QualityReport::default(),
            nulls: [0; 6],
            times_parsed: 0,
            times_unparsed: 0,
            durations_parsed: 0,
            durations_unparsed: 0,
            latest_ms,
        }
    }

    /// Append one batch of `n` rows.
    pub(crate) fn push(
        &mut self,
        file: &str,
        mapping: &ColumnMapping,
        n: usize,
        r: &RoleArrays,
    ) -> Result<(), IngestError> {
        const LABEL: &str = "text or integer labels";
        let users = UserColumn::new(&r.user).map_err(wrong_type(
            file,
            &mapping.user,
            "user id",
            &r.user,
            "a string or integer id",
        ))?;
        let user_labels = match &users {
            UserColumn::Ints(_) => None,
            UserColumn::Strings(a) => Some(Labels::new(a.as_ref()).map_err(wrong_type(
                file,
                &mapping.user,
                "user id",
                &r.user,
                "a string or integer id",
            ))?),
        };
        let user_is_null = |i: usize| match (&users, &user_labels) {
            (UserColumn::Ints(v), _) => v.get(i).copied().flatten().is_none(),
            (_, Some(l)) => l.get(i).is_none(),
            _ => true,
        };
        let times = times_ms(&r.time).map_err(wrong_type(
            file,
            &mapping.time,
            "event time",
            &r.time,
            "a time",
        ))?;
        let opt_name = |c: &Option<String>| c.clone().unwrap_or_default();
        let action_arr = labels(r.action.as_ref()).map_err(|_| IngestError::WrongType {
            file: file.to_string(),
            column: opt_name(&mapping.action),
            role: "action",
            found: r
                .action
                .as_ref()
                .map(|a| super::schema::type_name(a.data_type()))
                .unwrap_or_default(),
            expected: LABEL,
        })?;
        let page_arr = labels(r.page.as_ref()).map_err(|_| IngestError::WrongType {
            file: file.to_string(),
            column: opt_name(&mapping.page),
            role: "page",
            found: r
                .page
                .as_ref()
                .map(|a| super::schema::type_name(a.data_type()))
                .unwrap_or_default(),
            expected: LABEL,
        })?;
        let version_arr = labels(r.version.as_ref()).map_err(|_| IngestError::WrongType {
            file: file.to_string(),
            column: opt_name(&mapping.version),
            role: "app version",
            found: r
                .version
                .as_ref()
                .map(|a| super::schema::type_name(a.data_type()))
                .unwrap_or_default(),
            expected: LABEL,
        })?;
        let durations = match &r.duration {
            Some(d) => Some(durations_ms(d).map_err(wrong_type(
                file,
                &opt_name(&mapping.duration),
                "duration",
                d,
                "a number of milliseconds",
            ))?),
            None => None,
        };
        // Borrowed strings (label arrays were validated by `to_label_array`).
        let actions = as_labels(&action_arr);
        let pages = as_labels(&page_arr);
        let versions = as_labels(&version_arr);
        let memo_len = |l: &Option<Labels<'_>>| l.as_ref().map_or(0, Labels::memo_len);
        let action_memo = self
            .action_memo
            .for_batch(action_arr.as_ref(), memo_len(&actions));
        let page_memo = self
            .page_memo
            .for_batch(page_arr.as_ref(), memo_len(&pages));
        let version_memo = self
            .version_memo
            .for_batch(version_arr.as_ref(), memo_len(&versions));
        let user_memo = self
            .user_memo
            .for_batch(users.strings(), memo_len(&user_labels));

        // Nulls per column, over every row read.
        let count_none = |v: &Option<Labels<'_>>| v.as_ref().map_or(0, Labels::nulls);
        self.nulls[0] += (0..n).filter(|&i| user_is_null(i)).count() as u64;
        self.nulls[1] += times.iter().filter(|t| **t == Val::Null).count() as u64;
        self.nulls[2] += count_none(&actions);
        self.nulls[3] += count_none(&pages);
        self.nulls[4] += durations
            .as_ref()
            .map_or(0, |d| d.iter().filter(|x| **x == Val::Null).count() as u64);
        self.nulls[5] += count_none(&versions);
        self.times_parsed += times.iter().filter(|t| matches!(t, Val::Ok(_))).count() as u64;
        self.times_unparsed += times.iter().filter(|t| **t == Val::Bad).count() as u64;
        if let Some(d) = &durations {
            self.durations_parsed += d.iter().filter(|t| matches!(t, Val::Ok(_))).count() as u64;
            self.durations_unparsed += d.iter().filter(|t| **t == Val::Bad).count() as u64;
        }

        let q = &mut self.report;
        q.rows_read += n as u64;
        for i in 0..n {
            if user_is_null(i) {
                q.dropped_null_user += 1;
                continue;
            }
            let t = match times.get(i) {
                Some(Val::Ok(t)) => *t,
                Some(Val::Bad) => {
                    q.dropped_unparseable_time += 1;
                    continue;
                }
                _ => {
                    q.dropped_null_time += 1;
                    continue;
                }
            };
            if t < PLAUSIBLE_FROM_MS {
                q.dropped_time_too_early += 1;
                continue;
            }
            if t > self.latest_ms {
                q.dropped_time_in_future += 1;
                continue;
            }
            let duration = match durations.as_ref().and_then(|d| d.get(i)) {
                Some(Val::Ok(v)) => {
                    let v = *v;
                    if v < 0 {
                        q.negative_durations += 1;
                    }
                    if v > ABSURD_DURATION_MS {
                        q.absurd_durations += 1;
                    }
                    if v > i32::MAX as i64 || v <= i32::MIN as i64 {
                        q.clamped_durations += 1;
                    }
                    DurationMs::from_i64_clamped(v)
                }
                Some(Val::Bad) => {
                    q.unparseable_durations += 1;
                    DurationMs::NULL
                }
                _ => DurationMs::NULL,
            };
            let b = &mut self.builder;
            let u = match (&users, &user_labels) {
                (UserColumn::Ints(v), _) => match v.get(i).copied().flatten() {
                    Some(k) => b.user_index(UserKeyRef::Int(k)),
                    None => continue,
                },
                (_, Some(l)) => {
                    let mut f =
                        |s: &str| Ok::<u32, IngestError>(b.user_index(user_key_of(s.trim())));
                    match l.map(i, user_memo, &mut f)? {
                        Some(u) => u,
                        None => continue,
                    }
                }
                _ => continue,
            };
            let a = match &actions {
                Some(l) => l
                    .map(i, action_memo, &mut |s| b.action_index(Some(s)))?
                    .unwrap_or(0),
                None => 0,
            };
            let p = match &pages {
                Some(l) => l
                    .map(i, page_memo, &mut |s| {
                        Ok::<u32, IngestError>(b.page_index(Some(s)))
                    })?
                    .unwrap_or(0),
                None => 0,
            };
            let v = match &versions {
                Some(l) => l
                    .map(i, version_memo, &mut |s| b.version_index(Some(s)))?
                    .unwrap_or(0),
                None => 0,
            };
            b.push_indexed(u, t, a, p, duration, v);
            q.rows_loaded += 1;
            q.first_time_ms = Some(q.first_time_ms.map_or(t, |m| m.min(t)));
            q.last_time_ms = Some(q.last_time_ms.map_or(t, |m| m.max(t)));
        }
        Ok(())
    }
}
