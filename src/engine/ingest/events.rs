//! The event loader's inner loop: one decoded batch of role columns in, rows appended to the
//! [`StoreBuilder`] and findings counted into the [`QualityReport`].
//!
//! A batch is processed a column at a time: one pass decides which rows are kept (and counts the
//! dropped ones), then each column of the kept rows is appended in its own tight loop; a
//! dictionary column codes each new dictionary value once and then gathers codes by key.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::ArrayRef;

use super::columns::{
    durations_vals, times_vals, to_label_array, user_key_of, Coder, Labels, Unsupported,
    UserColumn, Val, Vals,
};
use super::mapping::ColumnMapping;
use crate::engine::builder::{Interner, StoreBuilder, UserKeyRef, UserKeys};
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
    /// The kept rows of the current batch (scratch, reused).
    rows: Vec<u32>,
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

/// Page ids: high-cardinality, so a batch's new values are coded together, their look-ups
/// warmed (see `StrIndex::insert_all`).
struct PageCoder<'b>(&'b mut Interner);

impl<'a> Coder<'a> for PageCoder<'_> {
    type Code = u32;
    type Error = IngestError;

    fn code(&mut self, value: &'a str) -> Result<u32, IngestError> {
        Ok(self.0.intern(Some(value)))
    }

    fn code_all(&mut self, values: &[&'a str], out: &mut Vec<u32>) -> Result<(), IngestError> {
        self.0.intern_all(values, out);
        Ok(())
    }
}

/// Actions and app versions: stored as `u16`, named in the error when they overflow.
struct SmallCoder<'b>(&'b mut Interner, &'static str);

impl<'a> Coder<'a> for SmallCoder<'_> {
    type Code = u16;
    type Error = IngestError;

    fn code(&mut self, value: &'a str) -> Result<u16, IngestError> {
        self.0.intern_u16(Some(value), self.1)
    }
}

/// String user ids (trimmed; canonical decimal ones are integer keys, see [`user_key_of`]).
struct UserCoder<'b>(&'b mut UserKeys);

impl<'a> Coder<'a> for UserCoder<'_> {
    type Code = u32;
    type Error = IngestError;

    fn warm(&self, values: &[&'a str]) -> u32 {
        let keys: Vec<&str> = values
            .iter()
            .filter_map(|v| match user_key_of(v.trim()) {
                UserKeyRef::Str(s) => Some(s),
                UserKeyRef::Int(_) => None,
            })
            .collect();
        self.0.warm_str(&keys)
    }

    fn code(&mut self, value: &'a str) -> Result<u32, IngestError> {
        Ok(self.0.index(user_key_of(value.trim())))
    }
}

/// [`Labels::map_rows`] with null (code 0) for every row when the role is not mapped.
fn map_or_null<'a, C: Coder<'a, Error = IngestError>>(
    labels: &Option<Labels<'a>>,
    rows: &[u32],
    memo: &mut [Option<C::Code>],
    out: &mut Vec<C::Code>,
    coder: &mut C,
) -> Result<(), IngestError>
where
    C::Code: Default,
{
    match labels {
        Some(l) => l.map_rows(rows, memo, C::Code::default(), out, coder),
        None => {
            out.extend(std::iter::repeat_n(C::Code::default(), rows.len()));
            Ok(())
        }
    }
}

/// A duration as stored, counted in the quality report when negative, absurd or clamped.
#[inline]
fn checked_duration(q: &mut QualityReport, v: i64) -> DurationMs {
    q.negative_durations += u64::from(v < 0);
    q.absurd_durations += u64::from(v > ABSURD_DURATION_MS);
    q.clamped_durations += u64::from(v > i32::MAX as i64 || v <= i32::MIN as i64);
    DurationMs::from_i64_clamped(v)
}

fn labels(arr: Option<&ArrayRef>) -> Result<Option<ArrayRef>, Unsupported> {
    arr.map(to_label_array).transpose()
}

impl EventSink {
    pub(crate) fn new(capacity: usize, latest_ms: i64) -> Self {
        EventSink {
            builder: StoreBuilder::with_capacity(capacity),
            rows: Vec::new(),
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
            (_, Some(l)) => l.is_null(i),
            _ => true,
        };
        let times = times_vals(&r.time).map_err(wrong_type(
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
            Some(d) => Some(durations_vals(d).map_err(wrong_type(
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
        let user_null_rows = (0..n).filter(|&i| user_is_null(i)).count() as u64;
        self.nulls[0] += user_null_rows;
        let (time_nulls, time_ok, time_bad) = times.counts();
        self.nulls[1] += time_nulls;
        self.nulls[2] += count_none(&actions);
        self.nulls[3] += count_none(&pages);
        let (duration_nulls, duration_ok, duration_bad) =
            durations.as_ref().map_or((0, 0, 0), |d| d.counts());
        self.nulls[4] += duration_nulls;
        self.nulls[5] += count_none(&versions);
        self.times_parsed += time_ok;
        self.times_unparsed += time_bad;
        self.durations_parsed += duration_ok;
        self.durations_unparsed += duration_bad;

        // Which rows are kept (the first failing check names the drop), and their times.
        let q = &mut self.report;
        q.rows_read += n as u64;
        let rows = &mut self.rows;
        rows.clear();
        let b = self.builder.columns();
        b.time_ms.reserve(n);
        // The usual Parquet batch keeps every row: each has a user and a plausible millisecond
        // time. Checked with one min/max pass, then the times are copied whole (the loop below
        // costs a branchy `Val` per row, ~1/10 of a load in wasm).
        let all_kept = match &times {
            Vals::Ms { values, nulls } if user_null_rows == 0 && values.len() == n => {
                let no_nulls = nulls.is_none_or(|m| m.null_count() == 0);
                let (lo, hi) = values
                    .iter()
                    .fold((i64::MAX, i64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)));
                (no_nulls && lo >= PLAUSIBLE_FROM_MS && hi <= self.latest_ms).then_some(values)
            }
            _ => None,
        };
        if let Some(values) = all_kept {
            rows.extend(0..n as u32);
            b.time_ms.extend_from_slice(values);
        } else {
            for i in 0..n {
                if user_is_null(i) {
                    q.dropped_null_user += 1;
                    continue;
                }
                let t = match times.get(i) {
                    Val::Ok(t) => t,
                    Val::Bad => {
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
                // `n` rows per batch, far below `u32::MAX`.
                rows.push(i as u32);
                b.time_ms.push(t);
            }
        }
        let new_times = b.time_ms.get(b.time_ms.len() - rows.len()..).unwrap_or(&[]);
        if let (Some(&lo), Some(&hi)) = (new_times.iter().min(), new_times.iter().max()) {
            q.first_time_ms = Some(q.first_time_ms.map_or(lo, |m| m.min(lo)));
            q.last_time_ms = Some(q.last_time_ms.map_or(hi, |m| m.max(hi)));
        }
        q.rows_loaded += rows.len() as u64;

        // Then each column of the kept rows, one column at a time.
        match &durations {
            // Every row kept and no nulls: the values in order, without a `Val` per row.
            Some(Vals::Ms {
                values,
                nulls: None,
            }) if rows.len() == values.len() => {
                b.duration_ms.reserve(values.len());
                for &v in values.iter() {
                    b.duration_ms.push(checked_duration(q, v));
                }
            }
            Some(d) => {
                b.duration_ms.reserve(rows.len());
                for &i in rows.iter() {
                    let duration = match d.get(i as usize) {
                        Val::Ok(v) => checked_duration(q, v),
                        Val::Bad => {
                            q.unparseable_durations += 1;
                            DurationMs::NULL
                        }
                        _ => DurationMs::NULL,
                    };
                    b.duration_ms.push(duration);
                }
            }
            None => b
                .duration_ms
                .extend(std::iter::repeat_n(DurationMs::NULL, rows.len())),
        }
        match (&users, &user_labels) {
            (UserColumn::Ints(v), _) => {
                b.user.reserve(rows.len());
                for &i in rows.iter() {
                    // Kept rows have a user (checked above).
                    let k = v.get(i as usize).copied().flatten().unwrap_or_default();
                    b.user.push(b.users.index(UserKeyRef::Int(k)));
                }
            }
            (_, Some(l)) => l.map_rows(rows, user_memo, 0, b.user, &mut UserCoder(b.users))?,
            _ => b.user.extend(std::iter::repeat_n(0, rows.len())),
        }
        // When several columns overflow their `u16` codes, the action column is named first.
        let mut action_coder = SmallCoder(b.actions, "action");
        map_or_null(&actions, rows, action_memo, b.action, &mut action_coder)?;
        map_or_null(&pages, rows, page_memo, b.page, &mut PageCoder(b.pages))?;
        let mut version_coder = SmallCoder(b.versions, "app version");
        map_or_null(
            &versions,
            rows,
            version_memo,
            b.app_version,
            &mut version_coder,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::types::Int32Type;
    use arrow_array::{DictionaryArray, Int64Array, StringArray, TimestampMillisecondArray};

    const T0: i64 = 1_700_000_000_000;

    fn mapping() -> ColumnMapping {
        ColumnMapping {
            user: "u".into(),
            time: "t".into(),
            action: Some("a".into()),
            page: Some("p".into()),
            duration: Some("d".into()),
            version: None,
        }
    }

    fn dict(values: Vec<Option<&str>>) -> ArrayRef {
        let d: DictionaryArray<Int32Type> = values.into_iter().collect();
        Arc::new(d)
    }

    #[test]
    fn a_batch_is_appended_column_by_column_with_first_seen_codes() {
        let mut sink = EventSink::new(0, i64::MAX);
        // Row 1 has no user, row 3 no time: dropped before any label of theirs is coded.
        let users = dict(vec![Some(" 42 "), None, Some("u1"), Some("u1"), Some("u1")]);
        let times: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![
            Some(T0 + 3),
            Some(T0),
            Some(T0 + 1),
            None,
            Some(T0 + 2),
        ]));
        let long = "a page id longer than fifteen bytes";
        let r = RoleArrays {
            user: users,
            time: times,
            action: Some(dict(vec![
                Some("x"),
                Some("dropped"),
                Some("y"),
                Some("z"),
                None,
            ])),
            page: Some(Arc::new(StringArray::from(vec![
                Some(long),
                Some("p0"),
                Some("  "),
                Some("p3"),
                Some(long),
            ]))),
            duration: Some(Arc::new(Int64Array::from(vec![
                Some(-1),
                None,
                Some(5_000_000_000),
                Some(1),
                None,
            ]))),
            version: None,
        };
        sink.push("f", &mapping(), 5, &r).unwrap();
        let q = &sink.report;
        assert_eq!((q.rows_read, q.rows_loaded), (5, 3));
        assert_eq!((q.dropped_null_user, q.dropped_null_time), (1, 1));
        assert_eq!((q.negative_durations, q.clamped_durations), (1, 1));
        assert_eq!(
            (q.first_time_ms, q.last_time_ms),
            (Some(T0 + 1), Some(T0 + 3))
        );
        assert_eq!(sink.nulls, [1, 1, 1, 1, 2, 0]);
        let s = std::mem::take(&mut sink.builder).finish();
        // " 42 " is the integer user 42; with a string user present all sort as text.
        assert_eq!(s.users.iter().collect::<Vec<_>>(), &["42", "u1"]);
        assert_eq!(s.user_offsets, vec![0, 1, 3]);
        assert_eq!(s.time_ms, vec![T0 + 3, T0 + 1, T0 + 2]);
        // Only kept rows' labels are coded, in row order; "dropped" and "p0" never were.
        assert_eq!(s.actions.iter().collect::<Vec<_>>(), &["", "x", "y"]);
        assert_eq!(s.action, vec![1, 2, 0]);
        assert_eq!(s.pages.iter().collect::<Vec<_>>(), &["", long]);
        assert_eq!(s.page, vec![1, 0, 1]);
        assert_eq!(s.app_version, vec![0, 0, 0]);
        let d: Vec<Option<i64>> = s.duration_ms.iter().map(|d| d.get()).collect();
        assert_eq!(d, vec![Some(-1), Some(i32::MAX as i64), None]);
    }

    #[test]
    fn a_batch_that_keeps_every_row_equals_the_row_by_row_path() {
        // The same four valid rows, alone (every row kept: times copied whole, durations read
        // in place) and followed by a row without a user (the per-row path).
        let batch = |extra: bool| {
            let mut users = vec![Some("b"), Some("a"), Some("b"), Some("c")];
            let mut times = vec![Some(T0 + 9), Some(T0), Some(T0 + 2), Some(T0 + 5)];
            let mut durations = vec![Some(-4), Some(7), Some(ABSURD_DURATION_MS + 1), Some(0)];
            let mut actions = vec![Some("x"), Some("y"), Some("x"), None];
            if extra {
                users.push(None);
                times.push(Some(T0 + 1));
                durations.push(Some(3));
                actions.push(Some("z"));
            }
            let n = users.len();
            let r = RoleArrays {
                user: dict(users),
                time: Arc::new(TimestampMillisecondArray::from(times)),
                action: Some(dict(actions)),
                page: None,
                duration: Some(Arc::new(Int64Array::from(durations))),
                version: None,
            };
            let mut sink = EventSink::new(0, i64::MAX);
            sink.push("f", &mapping(), n, &r).unwrap();
            sink
        };
        let (mut fast, mut slow) = (batch(false), batch(true));
        assert_eq!((fast.report.rows_loaded, slow.report.rows_loaded), (4, 4));
        assert_eq!(slow.report.dropped_null_user, 1);
        let (f, s) = (&fast.report, &slow.report);
        assert_eq!(
            (
                f.negative_durations,
                f.absurd_durations,
                f.first_time_ms,
                f.last_time_ms
            ),
            (1, 1, Some(T0), Some(T0 + 9))
        );
        assert_eq!(
            (
                f.negative_durations,
                f.absurd_durations,
                f.first_time_ms,
                f.last_time_ms
            ),
            (
                s.negative_durations,
                s.absurd_durations,
                s.first_time_ms,
                s.last_time_ms
            )
        );
        let fast = std::mem::take(&mut fast.builder).finish();
        let slow = std::mem::take(&mut slow.builder).finish();
        assert_eq!(fast, slow);
        assert_eq!(fast.time_ms, vec![T0, T0 + 2, T0 + 9, T0 + 5]);
    }

    #[test]
    fn integer_user_ids_and_a_second_batch_of_the_same_dictionary() {
        let mut sink = EventSink::new(0, i64::MAX);
        let times: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![T0, T0 + 1, T0 + 2]));
        let pages = dict(vec![Some("b"), Some("a"), Some("b")]);
        let r = RoleArrays {
            user: Arc::new(Int64Array::from(vec![Some(7), None, Some(-3)])),
            time: times.clone(),
            action: None,
            page: Some(pages.clone()),
            duration: None,
            version: None,
        };
        sink.push("f", &mapping(), 3, &r).unwrap();
        sink.push("f", &mapping(), 3, &r).unwrap();
        assert_eq!(sink.report.dropped_null_user, 2);
        let s = std::mem::take(&mut sink.builder).finish();
        assert_eq!(s.users.iter().collect::<Vec<_>>(), &["-3", "7"]);
        assert_eq!(s.user_offsets, vec![0, 2, 4]);
        // "a" only appears on the dropped row: never coded.
        assert_eq!(s.pages.iter().collect::<Vec<_>>(), &["", "b"]);
        assert_eq!(s.page, vec![1, 1, 1, 1]);
        assert!(s.duration_ms.iter().all(|d| d.is_null()));
    }
}
