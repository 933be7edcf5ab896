//! The event loader's inner loop: one decoded batch of role columns in, rows appended to the
//! [`StoreBuilder`] and findings counted into the [`QualityReport`].

use arrow_array::ArrayRef;

use super::columns::{
    durations_ms, strings, times_ms, to_label_array, Unsupported, UserColumn, Val,
};
use super::mapping::ColumnMapping;
use crate::engine::builder::StoreBuilder;
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

/// Accumulates rows and counts.
pub(crate) struct EventSink {
    pub builder: StoreBuilder,
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

/// Borrowed strings of a validated label array.
fn as_strings(a: &Option<ArrayRef>) -> Option<Vec<Option<&str>>> {
    a.as_ref().and_then(|a| strings(a.as_ref()).ok())
}

/// Row `i` of an optional label column.
fn pick<'a>(v: &Option<Vec<Option<&'a str>>>, i: usize) -> Option<&'a str> {
    v.as_ref().and_then(|v| v.get(i).copied().flatten())
}

fn labels(arr: Option<&ArrayRef>) -> Result<Option<ArrayRef>, Unsupported> {
    arr.map(to_label_array).transpose()
}

impl EventSink {
    pub(crate) fn new(capacity: usize, latest_ms: i64) -> Self {
        EventSink {
            builder: StoreBuilder::with_capacity(capacity),
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
        let keys = users.keys().map_err(wrong_type(
            file,
            &mapping.user,
            "user id",
            &r.user,
            "a string or integer id",
        ))?;
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
        let actions = as_strings(&action_arr);
        let pages = as_strings(&page_arr);
        let versions = as_strings(&version_arr);

        // Nulls per column, over every row read.
        let count_none = |v: &Option<Vec<Option<&str>>>| {
            v.as_ref()
                .map_or(0, |v| v.iter().filter(|x| x.is_none()).count() as u64)
        };
        self.nulls[0] += keys.iter().filter(|k| k.is_none()).count() as u64;
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
            let Some(Some(key)) = keys.get(i) else {
                q.dropped_null_user += 1;
                continue;
            };
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
            let u = b.user_index(*key);
            let a = b.action_index(pick(&actions, i))?;
            let p = b.page_index(pick(&pages, i));
            let v = b.version_index(pick(&versions, i))?;
            b.push_indexed(u, t, a, p, duration, v);
            q.rows_loaded += 1;
            q.first_time_ms = Some(q.first_time_ms.map_or(t, |m| m.min(t)));
            q.last_time_ms = Some(q.last_time_ms.map_or(t, |m| m.max(t)));
        }
        Ok(())
    }
}
