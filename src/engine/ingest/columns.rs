//! Reading one Arrow column (of whatever physical type a writer chose) as the values a role
//! needs: borrowed strings, user keys, times in ms, durations in ms.
//!
//! Nothing here panics on data: every downcast is checked, and a type that cannot play a role is
//! reported as [`Unsupported`] so the caller can name the column.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType, DurationSecondType,
    Float64Type, Int32Type, Int64Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, TimeUnit};

use super::timestamps::{epoch_float_to_ms, epoch_int_to_ms, parse_time_str, DAY_MS};
use crate::engine::builder::UserKeyRef;

/// The column's type cannot play the requested role.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Unsupported;

/// A value read for a role that may be missing or unreadable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Val {
    Ok(i64),
    /// Null (or an empty string).
    Null,
    /// Present but unreadable (e.g. `"yesterday"` as a time).
    Bad,
}

/// Ints and booleans become strings (a page id stored as an integer is still a label).
pub(crate) fn to_label_array(arr: &ArrayRef) -> Result<ArrayRef, Unsupported> {
    match arr.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(arr.clone()),
        DataType::Dictionary(_, v) if is_string_type(v) => Ok(arr.clone()),
        DataType::Dictionary(_, _)
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Boolean => arrow_cast::cast(arr, &DataType::Utf8).map_err(|_| Unsupported),
        DataType::Null => Ok(Arc::new(arrow_array::new_null_array(
            &DataType::Utf8,
            arr.len(),
        ))),
        _ => Err(Unsupported),
    }
}

fn is_string_type(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// Per-row borrowed strings of a string-typed (or dictionary-of-string) array. Empty and
/// whitespace-only strings read as `None`, like nulls.
pub(crate) fn strings(arr: &dyn Array) -> Result<Vec<Option<&str>>, Unsupported> {
    fn clean(s: Option<&str>) -> Option<&str> {
        s.filter(|s| !s.trim().is_empty())
    }
    if let Some(a) = arr.as_string_opt::<i32>() {
        return Ok(a.iter().map(clean).collect());
    }
    if let Some(a) = arr.as_string_opt::<i64>() {
        return Ok(a.iter().map(clean).collect());
    }
    if let Some(a) = arr.as_string_view_opt() {
        return Ok(a.iter().map(clean).collect());
    }
    if let Some(d) = arr.as_any_dictionary_opt() {
        let values = strings(d.values().as_ref())?;
        if values.is_empty() {
            return Ok(vec![None; arr.len()]);
        }
        let keys = d.normalized_keys();
        let nulls = d.logical_nulls();
        return Ok(keys
            .iter()
            .enumerate()
            .map(|(i, &k)| {
                if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                    None
                } else {
                    values.get(k).copied().flatten()
                }
            })
            .collect());
    }
    if arr.data_type() == &DataType::Null {
        return Ok(vec![None; arr.len()]);
    }
    Err(Unsupported)
}

/// How [`Labels::map_rows`] turns a label into a code.
pub(crate) trait Coder<'a> {
    type Code: Copy;
    type Error;

    /// Touch the memory later [`Coder::code`]s of `values` will read first (see
    /// `StrIndex::warm`); the result only has to be consumed. Default: nothing to warm.
    fn warm(&self, _values: &[&'a str]) -> u32 {
        0
    }

    /// The code of a non-null `value`.
    fn code(&mut self, value: &'a str) -> Result<Self::Code, Self::Error>;

    /// The codes of `values` appended to `out`, as if [`Coder::code`] were called on each in
    /// order (on an error, those before it are appended). Default: in chunks of [`WARM_CHUNK`],
    /// each warmed first, so a chunk's cache misses overlap and its slots are still in L1/L2
    /// when coded.
    fn code_all(
        &mut self,
        values: &[&'a str],
        out: &mut Vec<Self::Code>,
    ) -> Result<(), Self::Error> {
        for chunk in values.chunks(WARM_CHUNK) {
            std::hint::black_box(self.warm(chunk));
            for &v in chunk {
                out.push(self.code(v)?);
            }
        }
        Ok(())
    }
}

/// A closure as a [`Coder`] with nothing to warm.
#[cfg(test)]
pub(crate) struct FnCoder<F>(pub F);

#[cfg(test)]
impl<'a, T: Copy, E, F: FnMut(&'a str) -> Result<T, E>> Coder<'a> for FnCoder<F> {
    type Code = T;
    type Error = E;

    fn code(&mut self, value: &'a str) -> Result<T, E> {
        (self.0)(value)
    }
}

/// [`Coder::code_all`] codes values in chunks of this many.
const WARM_CHUNK: usize = 256;

/// A row's key in [`Labels::Dict`] when the row is null (or its value is blank).
const NULL_KEY: u32 = u32::MAX;

/// A label column of one batch, keeping dictionary encoding when the file had it, so that each
/// distinct value is interned once per batch instead of once per row.
pub(crate) enum Labels<'a> {
    Plain(Vec<Option<&'a str>>),
    Dict {
        /// Per row: index into `values`, or [`NULL_KEY`] for a null or blank value (and for a
        /// key outside `values`, which a valid file never has).
        keys: Vec<u32>,
        /// The dictionary; every value a key points at is `Some`.
        values: Vec<Option<&'a str>>,
    },
}

impl<'a> Labels<'a> {
    pub(crate) fn new(arr: &'a dyn Array) -> Result<Labels<'a>, Unsupported> {
        if let Some(d) = arr.as_any_dictionary_opt() {
            let values = strings(d.values().as_ref())?;
            if values.is_empty() {
                return Ok(Labels::Plain(vec![None; arr.len()]));
            }
            let key = |k: usize| match values.get(k) {
                Some(Some(_)) => u32::try_from(k).unwrap_or(NULL_KEY),
                _ => NULL_KEY,
            };
            // Int32 keys (what the Parquet reader is asked for) are read in place; other key
            // types through arrow's `usize` copy.
            let mut keys: Vec<u32> = match arr.as_dictionary_opt::<Int32Type>() {
                Some(d32) => d32
                    .keys()
                    .values()
                    .iter()
                    .map(|&k| usize::try_from(k).map_or(NULL_KEY, key))
                    .collect(),
                None => d.normalized_keys().into_iter().map(key).collect(),
            };
            if let Some(nulls) = d.logical_nulls() {
                for (k, valid) in keys.iter_mut().zip(nulls.iter()) {
                    if !valid {
                        *k = NULL_KEY;
                    }
                }
            }
            return Ok(Labels::Dict { keys, values });
        }
        Ok(Labels::Plain(strings(arr)?))
    }

    /// The number of distinct slots a memo for [`Labels::map_rows`] needs.
    pub(crate) fn memo_len(&self) -> usize {
        match self {
            Labels::Plain(_) => 0,
            Labels::Dict { values, .. } => values.len(),
        }
    }

    /// Whether row `i` is null (or blank, or out of range).
    pub(crate) fn is_null(&self, i: usize) -> bool {
        match self {
            Labels::Plain(v) => v.get(i).copied().flatten().is_none(),
            Labels::Dict { keys, .. } => keys.get(i).is_none_or(|&k| k == NULL_KEY),
        }
    }

    pub(crate) fn nulls(&self) -> u64 {
        match self {
            Labels::Plain(v) => v.iter().filter(|s| s.is_none()).count() as u64,
            Labels::Dict { keys, .. } => keys.iter().filter(|&&k| k == NULL_KEY).count() as u64,
        }
    }

    /// Appends the code of each row in `rows` (ascending row indices) to `out`, and `null` for a
    /// null row.
    ///
    /// `coder.code` is called in row order on the first occurrence of each value, exactly as a
    /// row by row loop would call it, so codes are assigned in the same first-seen order. A
    /// dictionary column calls it once per distinct value not already in `memo` (sized
    /// [`Labels::memo_len`], kept while batches share a dictionary): first the rows are scanned
    /// for new values, then those are coded back to back in warmed chunks ([`WARM_CHUNK`]),
    /// then codes are gathered by key in a tight loop. On an error, `out` is left partly
    /// appended.
    pub(crate) fn map_rows<C: Coder<'a>>(
        &self,
        rows: &[u32],
        memo: &mut [Option<C::Code>],
        null: C::Code,
        out: &mut Vec<C::Code>,
        coder: &mut C,
    ) -> Result<(), C::Error> {
        match self {
            Labels::Plain(values) => {
                out.reserve(rows.len());
                for &i in rows {
                    let t = match values.get(i as usize).copied().flatten() {
                        Some(s) => coder.code(s)?,
                        None => null,
                    };
                    out.push(t);
                }
                Ok(())
            }
            Labels::Dict { keys, values } => {
                // Ascending distinct row indices as many as the rows are every row in order:
                // then the keys are read in place (no index per row).
                let every_row = rows.len() == keys.len();
                let mut first_seen: Vec<u32> = Vec::new();
                let mut pending = vec![false; memo.len()];
                let mut see = |k: u32| {
                    if let (Some(None), Some(p)) =
                        (memo.get(k as usize), pending.get_mut(k as usize))
                    {
                        if !*p {
                            *p = true;
                            first_seen.push(k);
                        }
                    }
                };
                if every_row {
                    keys.iter().for_each(|&k| see(k));
                } else {
                    rows.iter()
                        .filter_map(|&i| keys.get(i as usize))
                        .for_each(|&k| see(k));
                }
                // Every key in `first_seen` points at a value (see `keys`); the filter only
                // keeps the two lists aligned if one did not.
                first_seen.retain(|&k| values.get(k as usize).copied().flatten().is_some());
                let new_values: Vec<&'a str> = first_seen
                    .iter()
                    .filter_map(|&k| values.get(k as usize).copied().flatten())
                    .collect();
                let mut codes = Vec::with_capacity(new_values.len());
                let coded = coder.code_all(&new_values, &mut codes);
                for (&k, &c) in first_seen.iter().zip(&codes) {
                    if let Some(slot) = memo.get_mut(k as usize) {
                        *slot = Some(c);
                    }
                }
                coded?;
                let code = |k: u32| memo.get(k as usize).copied().flatten().unwrap_or(null);
                if every_row {
                    out.extend(keys.iter().map(|&k| code(k)));
                } else {
                    out.extend(
                        rows.iter()
                            .map(|&i| keys.get(i as usize).map_or(null, |&k| code(k))),
                    );
                }
                Ok(())
            }
        }
    }
}

/// A string user id is an integer key when it is the canonical decimal spelling of an `i64`
/// (`"42"`, `"-7"`; not `"007"` or `"+1"`), so a CSV's `42` and a Parquet integer 42 are the
/// same user and integer ids sort numerically.
pub(crate) fn user_key_of(s: &str) -> UserKeyRef<'_> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let canonical = !digits.is_empty()
        && digits.len() <= 19
        && digits.bytes().all(|c| c.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && s != "-0";
    match canonical.then(|| s.parse::<i64>().ok()).flatten() {
        Some(v) => UserKeyRef::Int(v),
        None => UserKeyRef::Str(s),
    }
}

/// An owned form of a user column for one batch: either integers or a string array to borrow.
pub(crate) enum UserColumn {
    Ints(Vec<Option<i64>>),
    Strings(ArrayRef),
}

impl UserColumn {
    pub(crate) fn new(arr: &ArrayRef) -> Result<UserColumn, Unsupported> {
        match arr.data_type() {
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64 => {
                let c = arrow_cast::cast(arr, &DataType::Int64).map_err(|_| Unsupported)?;
                let a = c.as_primitive_opt::<Int64Type>().ok_or(Unsupported)?;
                Ok(UserColumn::Ints(a.iter().collect()))
            }
            DataType::Dictionary(_, v) if !is_string_type(v) => {
                let c = arrow_cast::cast(arr, v).map_err(|_| Unsupported)?;
                UserColumn::new(&c)
            }
            // Exactly the types `strings` reads (a dictionary here has string values: the
            // others were cast above), checked by type rather than by calling `strings`, which
            // would build a per-row vector of the batch only to drop it.
            DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Dictionary(_, _)
            | DataType::Null => Ok(UserColumn::Strings(arr.clone())),
            _ => Err(Unsupported),
        }
    }

    /// The string array (the one [`Labels`] borrow from), if the ids are strings.
    pub(crate) fn strings(&self) -> Option<&ArrayRef> {
        match self {
            UserColumn::Ints(_) => None,
            UserColumn::Strings(a) => Some(a),
        }
    }

    /// Per-row keys (`None` = null user id).
    pub(crate) fn keys(&self) -> Result<Vec<Option<UserKeyRef<'_>>>, Unsupported> {
        match self {
            UserColumn::Ints(v) => Ok(v.iter().map(|x| x.map(UserKeyRef::Int)).collect()),
            UserColumn::Strings(a) => Ok(strings(a.as_ref())?
                .into_iter()
                .map(|s| s.map(|s| user_key_of(s.trim())))
                .collect()),
        }
    }
}

fn unit_to_ms(v: i64, unit: TimeUnit) -> Option<i64> {
    match unit {
        TimeUnit::Second => v.checked_mul(1000),
        TimeUnit::Millisecond => Some(v),
        TimeUnit::Microsecond => Some(v.div_euclid(1000)),
        TimeUnit::Nanosecond => Some(v.div_euclid(1_000_000)),
    }
}

fn primitive_ms<T: arrow_array::ArrowPrimitiveType<Native = i64>>(
    arr: &dyn Array,
    unit: TimeUnit,
) -> Result<Vec<Val>, Unsupported> {
    let a = arr.as_primitive_opt::<T>().ok_or(Unsupported)?;
    Ok(a.iter()
        .map(|v| match v {
            None => Val::Null,
            Some(v) => unit_to_ms(v, unit).map_or(Val::Bad, Val::Ok),
        })
        .collect())
}

/// Per-row values of a time or duration column for one batch: borrowed when the column already
/// holds `i64` milliseconds (what Parquet files usually have), converted otherwise. Borrowing
/// saves writing and re-reading a 16-byte [`Val`] per row, and counting nulls per row.
pub(crate) enum Vals<'a> {
    Ms {
        values: &'a [i64],
        nulls: Option<&'a arrow_buffer::NullBuffer>,
    },
    Converted(Vec<Val>),
}

impl Vals<'_> {
    /// Row `i`'s value ([`Val::Null`] past the end).
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Val {
        match self {
            Vals::Ms { values, nulls } => match values.get(i) {
                Some(&v) if !nulls.is_some_and(|n| n.is_null(i)) => Val::Ok(v),
                _ => Val::Null,
            },
            Vals::Converted(v) => v.get(i).copied().unwrap_or(Val::Null),
        }
    }

    /// How many rows are null, read and unreadable.
    pub(crate) fn counts(&self) -> (u64, u64, u64) {
        match self {
            Vals::Ms { values, nulls } => {
                let null = nulls.map_or(0, |n| n.null_count()) as u64;
                (null, values.len() as u64 - null, 0)
            }
            Vals::Converted(v) => {
                let (mut null, mut ok, mut bad) = (0, 0, 0);
                for x in v {
                    match x {
                        Val::Ok(_) => ok += 1,
                        Val::Null => null += 1,
                        Val::Bad => bad += 1,
                    }
                }
                (null, ok, bad)
            }
        }
    }
}

/// [`times_ms`] borrowed when the column is a millisecond timestamp.
pub(crate) fn times_vals(arr: &ArrayRef) -> Result<Vals<'_>, Unsupported> {
    if let DataType::Timestamp(TimeUnit::Millisecond, _) = arr.data_type() {
        if let Some(a) = arr.as_primitive_opt::<TimestampMillisecondType>() {
            return Ok(Vals::Ms {
                values: a.values(),
                nulls: a.nulls(),
            });
        }
    }
    times_ms(arr).map(Vals::Converted)
}

/// [`durations_ms`] borrowed when the column is an `Int64` (taken as ms) or a millisecond
/// duration.
pub(crate) fn durations_vals(arr: &ArrayRef) -> Result<Vals<'_>, Unsupported> {
    let borrowed = match arr.data_type() {
        DataType::Int64 => arr
            .as_primitive_opt::<Int64Type>()
            .map(|a| (a.values().as_ref(), a.nulls())),
        DataType::Duration(TimeUnit::Millisecond) => arr
            .as_primitive_opt::<DurationMillisecondType>()
            .map(|a| (a.values().as_ref(), a.nulls())),
        _ => None,
    };
    match borrowed {
        Some((values, nulls)) => Ok(Vals::Ms { values, nulls }),
        None => durations_ms(arr).map(Vals::Converted),
    }
}

/// Per-row event times in ms since the epoch (see [`super::timestamps`] for the rules).
pub(crate) fn times_ms(arr: &ArrayRef) -> Result<Vec<Val>, Unsupported> {
    match arr.data_type() {
        DataType::Timestamp(unit, _) => match unit {
            TimeUnit::Second => primitive_ms::<TimestampSecondType>(arr, *unit),
            TimeUnit::Millisecond => primitive_ms::<TimestampMillisecondType>(arr, *unit),
            TimeUnit::Microsecond => primitive_ms::<TimestampMicrosecondType>(arr, *unit),
            TimeUnit::Nanosecond => primitive_ms::<TimestampNanosecondType>(arr, *unit),
        },
        DataType::Date32 => {
            let a = arr
                .as_primitive_opt::<arrow_array::types::Date32Type>()
                .ok_or(Unsupported)?;
            Ok(a.iter()
                .map(|v| v.map_or(Val::Null, |d| Val::Ok(d as i64 * DAY_MS)))
                .collect())
        }
        DataType::Date64 => {
            let a = arr
                .as_primitive_opt::<arrow_array::types::Date64Type>()
                .ok_or(Unsupported)?;
            Ok(a.iter().map(|v| v.map_or(Val::Null, Val::Ok)).collect())
        }
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => {
            let c = arrow_cast::cast(arr, &DataType::Int64).map_err(|_| Unsupported)?;
            let a = c.as_primitive_opt::<Int64Type>().ok_or(Unsupported)?;
            Ok(a.iter()
                .map(|v| match v {
                    None => Val::Null,
                    Some(v) => epoch_int_to_ms(v).map_or(Val::Bad, Val::Ok),
                })
                .collect())
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            let c = arrow_cast::cast(arr, &DataType::Float64).map_err(|_| Unsupported)?;
            let a = c.as_primitive_opt::<Float64Type>().ok_or(Unsupported)?;
            Ok(a.iter()
                .map(|v| match v {
                    None => Val::Null,
                    Some(v) if v.is_nan() => Val::Null,
                    Some(v) => epoch_float_to_ms(v).map_or(Val::Bad, Val::Ok),
                })
                .collect())
        }
        DataType::Dictionary(_, v) if !is_string_type(v) => {
            let c = arrow_cast::cast(arr, v).map_err(|_| Unsupported)?;
            times_ms(&c)
        }
        _ => Ok(strings(arr.as_ref())?
            .into_iter()
            .map(|s| match s {
                None => Val::Null,
                Some(s) => parse_time_str(s).map_or(Val::Bad, Val::Ok),
            })
            .collect()),
    }
}

/// Per-row durations in ms. Integers are taken as ms; floats are rounded (NaN is null); Arrow
/// durations are converted from their unit; strings (CSV) are parsed as numbers.
pub(crate) fn durations_ms(arr: &ArrayRef) -> Result<Vec<Val>, Unsupported> {
    fn from_f64(v: f64) -> Val {
        if v.is_nan() {
            Val::Null
        } else if v.is_finite() && v.abs() < 9.0e18 {
            Val::Ok(v.round() as i64)
        } else {
            Val::Bad
        }
    }
    match arr.data_type() {
        DataType::Duration(unit) => match unit {
            TimeUnit::Second => primitive_ms::<DurationSecondType>(arr, *unit),
            TimeUnit::Millisecond => primitive_ms::<DurationMillisecondType>(arr, *unit),
            TimeUnit::Microsecond => primitive_ms::<DurationMicrosecondType>(arr, *unit),
            TimeUnit::Nanosecond => primitive_ms::<DurationNanosecondType>(arr, *unit),
        },
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => {
            let c = arrow_cast::cast(arr, &DataType::Int64).map_err(|_| Unsupported)?;
            let a = c.as_primitive_opt::<Int64Type>().ok_or(Unsupported)?;
            Ok(a.iter().map(|v| v.map_or(Val::Null, Val::Ok)).collect())
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            let c = arrow_cast::cast(arr, &DataType::Float64).map_err(|_| Unsupported)?;
            let a = c.as_primitive_opt::<Float64Type>().ok_or(Unsupported)?;
            Ok(a.iter().map(|v| v.map_or(Val::Null, from_f64)).collect())
        }
        _ => Ok(strings(arr.as_ref())?
            .into_iter()
            .map(|s| match s {
                None => Val::Null,
                Some(s) => {
                    let s = s.trim();
                    match s.parse::<i64>() {
                        Ok(v) => Val::Ok(v),
                        Err(_) => s.parse::<f64>().map_or(Val::Bad, from_f64),
                    }
                }
            })
            .collect()),
    }
}

/// Per-row calendar days since 1970-01-01 (for join dates): times floored to their UTC day.
pub(crate) fn days(arr: &ArrayRef) -> Result<Vec<Val>, Unsupported> {
    if let DataType::Date32 = arr.data_type() {
        let a = arr
            .as_primitive_opt::<arrow_array::types::Date32Type>()
            .ok_or(Unsupported)?;
        return Ok(a
            .iter()
            .map(|v| v.map_or(Val::Null, |d| Val::Ok(d as i64)))
            .collect());
    }
    Ok(times_ms(arr)?
        .into_iter()
        .map(|v| match v {
            Val::Ok(ms) => Val::Ok(ms.div_euclid(DAY_MS)),
            other => other,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::types::Int32Type;
    use arrow_array::{
        DictionaryArray, Int32Array, LargeStringArray, StringArray, StringViewArray,
        TimestampNanosecondArray, UInt16Array,
    };

    #[test]
    fn string_kinds() {
        let a: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None, Some(" ")]));
        assert_eq!(strings(a.as_ref()).unwrap(), vec![Some("a"), None, None]);
        let a: ArrayRef = Arc::new(LargeStringArray::from(vec![Some("a"), None]));
        assert_eq!(strings(a.as_ref()).unwrap(), vec![Some("a"), None]);
        let a: ArrayRef = Arc::new(StringViewArray::from(vec![
            Some("a long string view value"),
            None,
        ]));
        assert_eq!(
            strings(a.as_ref()).unwrap(),
            vec![Some("a long string view value"), None]
        );
        let d: DictionaryArray<Int32Type> = vec![Some("x"), None, Some("y"), Some("x")]
            .into_iter()
            .collect();
        let a: ArrayRef = Arc::new(d);
        assert_eq!(
            strings(a.as_ref()).unwrap(),
            vec![Some("x"), None, Some("y"), Some("x")]
        );
        let a: ArrayRef = Arc::new(Int32Array::from(vec![1]));
        assert_eq!(strings(a.as_ref()), Err(Unsupported));
        let l = to_label_array(&a).unwrap();
        assert_eq!(strings(l.as_ref()).unwrap(), vec![Some("1")]);
    }

    #[test]
    fn user_keys() {
        assert_eq!(user_key_of("42"), UserKeyRef::Int(42));
        assert_eq!(user_key_of("-7"), UserKeyRef::Int(-7));
        assert_eq!(user_key_of("0"), UserKeyRef::Int(0));
        assert_eq!(user_key_of("007"), UserKeyRef::Str("007"));
        assert_eq!(user_key_of("+1"), UserKeyRef::Str("+1"));
        assert_eq!(user_key_of("-0"), UserKeyRef::Str("-0"));
        assert_eq!(
            user_key_of("99999999999999999999"),
            UserKeyRef::Str("99999999999999999999")
        );
        assert_eq!(user_key_of("u1"), UserKeyRef::Str("u1"));
        let a: ArrayRef = Arc::new(UInt16Array::from(vec![Some(3), None]));
        let c = UserColumn::new(&a).unwrap();
        assert_eq!(c.keys().unwrap(), vec![Some(UserKeyRef::Int(3)), None]);
    }

    #[test]
    fn time_kinds() {
        let a: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![
            Some(-1),
            Some(1_500_000),
            None,
        ]));
        assert_eq!(
            times_ms(&a).unwrap(),
            vec![Val::Ok(-1), Val::Ok(1), Val::Null]
        );
        let a: ArrayRef = Arc::new(StringArray::from(vec![
            Some("2023-01-01"),
            Some("nope"),
            None,
        ]));
        assert_eq!(
            times_ms(&a).unwrap(),
            vec![Val::Ok(19_358 * DAY_MS), Val::Bad, Val::Null]
        );
        assert_eq!(
            days(&a).unwrap(),
            vec![Val::Ok(19_358), Val::Bad, Val::Null]
        );
        let a: ArrayRef = Arc::new(arrow_array::BooleanArray::from(vec![true]));
        assert_eq!(times_ms(&a), Err(Unsupported));
        let a: ArrayRef = Arc::new(arrow_array::Date32Array::from(vec![Some(19_358), None]));
        assert_eq!(
            times_ms(&a).unwrap(),
            vec![Val::Ok(19_358 * DAY_MS), Val::Null]
        );
        let a: ArrayRef = Arc::new(arrow_array::Int32Array::from(vec![1_688_169_600]));
        assert_eq!(times_ms(&a).unwrap(), vec![Val::Ok(1_688_169_600_000)]);
        let a: ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![1_688_169_600_123.0]));
        assert_eq!(times_ms(&a).unwrap(), vec![Val::Ok(1_688_169_600_123)]);
    }

    #[test]
    fn labels_memoise_dictionary_values() {
        let d: DictionaryArray<Int32Type> = vec![Some("x"), None, Some("y"), Some("x")]
            .into_iter()
            .collect();
        let l = Labels::new(&d).unwrap();
        assert_eq!(l.memo_len(), 2);
        assert_eq!(l.nulls(), 1);
        let mut memo = vec![None; l.memo_len()];
        let mut calls = Vec::new();
        let mut got = Vec::new();
        let mut f = |s: &str| {
            calls.push(s.to_string());
            Ok::<usize, ()>(s.len() + 10)
        };
        l.map_rows(&[0, 1, 2, 3], &mut memo, 0, &mut got, &mut FnCoder(&mut f))
            .unwrap();
        assert_eq!(got, vec![11, 0, 11, 11]);
        // The next batch of the same dictionary: nothing new to map.
        got.clear();
        l.map_rows(&[3, 2], &mut memo, 0, &mut got, &mut FnCoder(&mut f))
            .unwrap();
        assert_eq!(got, vec![11, 11]);
        assert_eq!(calls, vec!["x", "y"], "x and y once each, in row order");
    }

    #[test]
    fn labels_map_only_selected_rows_in_first_seen_order() {
        // Dictionary order (c, b, a) differs from row order; a blank value reads as null.
        let values = StringArray::from(vec![Some("c"), Some("b"), Some("a"), Some("  ")]);
        let keys = Int32Array::from(vec![Some(2), Some(1), None, Some(0), Some(3), Some(1)]);
        let d = DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values)).unwrap();
        let l = Labels::new(&d).unwrap();
        assert_eq!(l.nulls(), 2);
        assert!(l.is_null(2) && l.is_null(4) && !l.is_null(0));
        let mut memo = vec![None; l.memo_len()];
        let mut seen = Vec::new();
        let mut f = |s: &str| {
            seen.push(s.to_string());
            Ok::<u32, ()>(seen.len() as u32)
        };
        let mut out = Vec::new();
        // Row 0 ("a") is not selected (a dropped row), so "b" is seen first.
        l.map_rows(
            &[1, 2, 3, 4, 5],
            &mut memo,
            0,
            &mut out,
            &mut FnCoder(&mut f),
        )
        .unwrap();
        assert_eq!(seen, vec!["b", "c"]);
        assert_eq!(out, vec![1, 0, 2, 0, 1]);

        // A plain (non-dictionary) column: `f` per selected non-null row.
        let plain = StringArray::from(vec![Some("q"), None, Some(""), Some("r")]);
        let l = Labels::new(&plain).unwrap();
        assert_eq!(l.memo_len(), 0);
        assert_eq!(l.nulls(), 2);
        let mut out = Vec::new();
        let mut n = 0;
        let mut count = |s: &str| {
            n += 1;
            Ok::<u32, ()>(s.len() as u32)
        };
        l.map_rows(
            &[0, 1, 2, 3],
            &mut [],
            9,
            &mut out,
            &mut FnCoder(&mut count),
        )
        .unwrap();
        assert_eq!((out, n), (vec![1, 9, 9, 1], 2));

        // An error from `f` is returned.
        let l = Labels::new(&d).unwrap();
        let mut memo = vec![None; l.memo_len()];
        let mut full = |_: &str| Err::<u32, _>("full");
        let r = l.map_rows(&[0], &mut memo, 0, &mut Vec::new(), &mut FnCoder(&mut full));
        assert_eq!(r, Err("full"));
    }

    #[test]
    fn labels_of_an_empty_dictionary_are_null() {
        let values = StringArray::from(Vec::<Option<&str>>::new());
        let keys = Int32Array::from(vec![None, None]);
        let d = DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values)).unwrap();
        let l = Labels::new(&d).unwrap();
        assert_eq!(l.nulls(), 2);
        let mut out = Vec::new();
        let mut one = |_: &str| Ok::<u32, ()>(1);
        l.map_rows(&[0, 1], &mut [], 0, &mut out, &mut FnCoder(&mut one))
            .unwrap();
        assert_eq!(out, vec![0, 0]);
    }

    #[test]
    fn duration_kinds() {
        let a: ArrayRef = Arc::new(StringArray::from(vec![
            Some("12"),
            Some("1.6"),
            Some("x"),
            None,
        ]));
        assert_eq!(
            durations_ms(&a).unwrap(),
            vec![Val::Ok(12), Val::Ok(2), Val::Bad, Val::Null]
        );
        let a: ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![
            Some(f64::NAN),
            Some(2.4),
        ]));
        assert_eq!(durations_ms(&a).unwrap(), vec![Val::Null, Val::Ok(2)]);
    }
}
