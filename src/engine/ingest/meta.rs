//! The user-metadata loader (`user_id, join_date, country, device_type, subscription_type`, plus
//! any other string/integer/boolean columns) and its coverage of the event users.
//!
//! **Duplicate user ids: the last row wins**, in load order (files sorted by name, rows in file
//! order). Metadata exports are usually append-only snapshots, so the later row is the more
//! recent state (e.g. a plan upgrade). The number of discarded rows is reported.

use std::collections::{HashMap, HashSet};

use super::columns::{days, strings, to_label_array, UserColumn, Val};
use super::mapping::MetaMapping;
use super::{check_size, for_each_batch, open, InputFile, LoadOptions, LoadProgress};
use super::{ColumnKind, PEAK_BYTES_PER_METADATA_ROW};
use crate::engine::builder::UserKeyRef;
use crate::engine::error::IngestError;
use crate::engine::metadata::{MetaColumn, MetadataTable};
use crate::engine::quality::{ColumnNulls, MetadataCoverage, MetadataQuality};
use crate::engine::store::{Dictionary, EventStore};

/// The rule quoted in [`MetadataQuality::duplicate_rule`].
pub const DUPLICATE_RULE: &str =
    "the last row in file order wins (files sorted by name); earlier rows for the same user id are discarded";

/// A loaded metadata table.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedMetadata {
    pub table: MetadataTable,
    pub quality: MetadataQuality,
    pub mapping: MetaMapping,
}

struct Interner {
    index: HashMap<String, u32>,
    values: Vec<String>,
}

impl Interner {
    fn intern(&mut self, v: Option<&str>) -> u32 {
        let Some(v) = v else { return 0 };
        if let Some(&i) = self.index.get(v) {
            return i;
        }
        let i = self.values.len() as u32;
        self.values.push(v.to_string());
        self.index.insert(v.to_string(), i);
        i
    }
}

/// Load a metadata file (or folder). With `mapping: None` the user id and join date columns are
/// detected; every other string, integer or boolean column becomes a categorical column.
pub fn load_metadata(
    files: &[InputFile],
    mapping: Option<&MetaMapping>,
    opts: &LoadOptions,
    progress: &mut dyn FnMut(&LoadProgress),
) -> Result<LoadedMetadata, IngestError> {
    super::run_ready(load_metadata_async(files, mapping, opts, progress))
}

/// [`load_metadata`] for sources that read asynchronously (see `load_events_async`).
pub async fn load_metadata_async(
    files: &[InputFile],
    mapping: Option<&MetaMapping>,
    opts: &LoadOptions,
    progress: &mut dyn FnMut(&LoadProgress),
) -> Result<LoadedMetadata, IngestError> {
    let (_, opened, schema) = open(files)?;
    check_size(
        schema.rows,
        PEAK_BYTES_PER_METADATA_ROW,
        super::file_bytes_held(&schema),
        opts.memory_limit_bytes,
    )?;
    let first_file = schema.files.first().cloned().unwrap_or_default();
    let mapping = match mapping {
        Some(m) => m.clone(),
        None => MetaMapping::detect(&first_file, &schema.columns)?,
    };
    let mut roles = vec![("user id", mapping.user.as_str())];
    if let Some(j) = &mapping.join_date {
        roles.push(("join date", j.as_str()));
    }
    for (role, col) in &roles {
        let info = schema
            .column(col)
            .ok_or_else(|| IngestError::NoSuchColumn {
                file: first_file.clone(),
                column: col.to_string(),
                found: schema.column_list(),
            })?;
        let (ok, expected) = if *role == "user id" {
            (info.kind.can_be_user(), "a string or integer id")
        } else {
            (info.kind.can_be_time(), "a date")
        };
        if !ok {
            return Err(IngestError::WrongType {
                file: first_file.clone(),
                column: col.to_string(),
                role,
                found: info.data_type.clone(),
                expected,
            });
        }
    }
    let attributes: Vec<&str> = schema
        .columns
        .iter()
        .filter(|c| {
            c.name != mapping.user
                && Some(&c.name) != mapping.join_date.as_ref()
                && matches!(
                    c.kind,
                    ColumnKind::String | ColumnKind::Integer | ColumnKind::Boolean
                )
        })
        .map(|c| c.name.as_str())
        .collect();
    let mut columns: Vec<&str> = vec![mapping.user.as_str()];
    if let Some(j) = &mapping.join_date {
        columns.push(j);
    }
    let first_attr = columns.len();
    columns.extend(&attributes);

    // One slot per distinct user; a later row overwrites its slot.
    let mut slot_of: HashMap<String, usize> = HashMap::new();
    let mut keys: Vec<(String, Option<i64>)> = Vec::new();
    let mut join: Vec<Val> = Vec::new();
    let mut attrs: Vec<Vec<u32>> = vec![Vec::new(); attributes.len()];
    let mut dicts: Vec<Interner> = attributes
        .iter()
        .map(|_| Interner {
            index: HashMap::new(),
            values: vec![String::new()],
        })
        .collect();
    let mut q = MetadataQuality {
        duplicate_rule: DUPLICATE_RULE.to_string(),
        ..MetadataQuality::default()
    };
    let mut duplicated: HashSet<usize> = HashSet::new();
    let mut rows_done = 0u64;
    let mut each = |file: &str, rows: usize, arrays: &[arrow_array::ArrayRef]| {
        let wrong =
            |role: &'static str, col: &str, expected: &'static str, a: &arrow_array::ArrayRef| {
                IngestError::WrongType {
                    file: file.to_string(),
                    column: col.to_string(),
                    role,
                    found: super::schema::type_name(a.data_type()),
                    expected,
                }
            };
        let user_arr = arrays.first().ok_or_else(|| IngestError::SchemaMismatch {
            detail: format!("{file}: the user id column is missing"),
        })?;
        let users = UserColumn::new(user_arr)
            .map_err(|_| wrong("user id", &mapping.user, "a string or integer id", user_arr))?;
        let user_keys = users
            .keys()
            .map_err(|_| wrong("user id", &mapping.user, "a string or integer id", user_arr))?;
        let join_days = match (&mapping.join_date, arrays.get(1)) {
            (Some(j), Some(a)) => Some(days(a).map_err(|_| wrong("join date", j, "a date", a))?),
            _ => None,
        };
        let label_arrays: Vec<arrow_array::ArrayRef> = arrays
            .iter()
            .skip(first_attr)
            .zip(&attributes)
            .map(|(a, name)| to_label_array(a).map_err(|_| wrong("attribute", name, "text", a)))
            .collect::<Result<_, _>>()?;
        let label_values: Vec<Vec<Option<&str>>> = label_arrays
            .iter()
            .zip(&attributes)
            .map(|(a, name)| strings(a.as_ref()).map_err(|_| wrong("attribute", name, "text", a)))
            .collect::<Result<_, _>>()?;
        for i in 0..rows {
            q.rows_read += 1;
            let Some(Some(key)) = user_keys.get(i) else {
                q.dropped_null_user += 1;
                continue;
            };
            let (text, int) = match key {
                UserKeyRef::Int(v) => (v.to_string(), Some(*v)),
                UserKeyRef::Str(s) => (s.to_string(), None),
            };
            let slot = match slot_of.get(&text) {
                Some(&s) => {
                    q.duplicate_rows += 1;
                    duplicated.insert(s);
                    s
                }
                None => {
                    let s = keys.len();
                    slot_of.insert(text.clone(), s);
                    keys.push((text, int));
                    join.push(Val::Null);
                    for a in attrs.iter_mut() {
                        a.push(0);
                    }
                    s
                }
            };
            if let Some(j) = join.get_mut(slot) {
                *j = join_days
                    .as_ref()
                    .and_then(|d| d.get(i).copied())
                    .unwrap_or(Val::Null);
            }
            for ((vals, dict), col) in label_values
                .iter()
                .zip(dicts.iter_mut())
                .zip(attrs.iter_mut())
            {
                let id = dict.intern(vals.get(i).copied().flatten());
                if let Some(x) = col.get_mut(slot) {
                    *x = id;
                }
            }
        }
        rows_done += rows as u64;
        progress(&LoadProgress {
            rows_done,
            rows_total: schema.rows.max(rows_done),
            file: file.to_string(),
        });
        Ok(())
    };
    for_each_batch(&opened, &columns, &mut each, &|| None).await?;
    if q.rows_read == 0 {
        return Err(IngestError::Empty { file: first_file });
    }
    if keys.is_empty() {
        return Err(IngestError::NoUsableRows {
            detail: format!("{} metadata rows read, none has a user id", q.rows_read),
        });
    }

    // Order rows like the event store orders users: integers numerically if all keys are
    // integers, otherwise by text.
    let mut order: Vec<usize> = (0..keys.len()).collect();
    if keys.iter().all(|(_, i)| i.is_some()) {
        order.sort_unstable_by_key(|&s| keys.get(s).and_then(|k| k.1));
    } else {
        order.sort_unstable_by(|&a, &b| {
            let ka = keys.get(a).map(|k| k.0.as_str());
            let kb = keys.get(b).map(|k| k.0.as_str());
            ka.cmp(&kb)
        });
    }
    let mut examples: Vec<String> = duplicated
        .iter()
        .filter_map(|&s| keys.get(s).map(|k| k.0.clone()))
        .collect();
    examples.sort();
    examples.truncate(10);
    q.duplicated_users = duplicated.len() as u64;
    q.duplicated_examples = examples;
    q.rows_loaded = keys.len() as u64;

    let join_day: Vec<Option<i32>> = order
        .iter()
        .map(|&s| match join.get(s) {
            Some(Val::Ok(d)) => i32::try_from(*d).ok(),
            _ => None,
        })
        .collect();
    q.unparseable_join_dates = order
        .iter()
        .filter(|&&s| join.get(s) == Some(&Val::Bad))
        .count() as u64;
    if let Some(j) = &mapping.join_date {
        q.nulls.push(ColumnNulls {
            role: "join date".to_string(),
            column: j.clone(),
            nulls: order
                .iter()
                .filter(|&&s| join.get(s) == Some(&Val::Null))
                .count() as u64,
        });
    }
    let mut meta_columns = Vec::new();
    for ((name, dict), vals) in attributes.iter().zip(dicts).zip(attrs) {
        if dict.values.len() > u16::MAX as usize {
            q.skipped_columns.push(name.to_string());
            continue;
        }
        let values: Vec<u16> = order
            .iter()
            .map(|&s| vals.get(s).map_or(0, |&v| v as u16))
            .collect();
        q.nulls.push(ColumnNulls {
            role: "attribute".to_string(),
            column: name.to_string(),
            nulls: values.iter().filter(|&&v| v == 0).count() as u64,
        });
        meta_columns.push(MetaColumn {
            name: name.to_string(),
            dict: Dictionary::from_values(dict.values),
            values,
        });
    }
    let user_keys: Vec<String> = order
        .iter()
        .filter_map(|&s| keys.get(s).map(|k| k.0.clone()))
        .collect();
    Ok(LoadedMetadata {
        table: MetadataTable {
            user_keys,
            join_day,
            columns: meta_columns,
        },
        quality: q,
        mapping,
    })
}

/// How many event users (and their events) have no metadata row, and how many metadata users
/// have no events. Keys are compared as text (both sides spell integers in decimal).
pub fn metadata_coverage(store: &EventStore, meta: &MetadataTable) -> MetadataCoverage {
    let known: HashSet<&str> = meta.user_keys.iter().map(String::as_str).collect();
    let mut c = MetadataCoverage {
        users: store.user_count() as u64,
        ..MetadataCoverage::default()
    };
    let mut with_events = 0u64;
    for (u, rows) in store.users_with_rows() {
        let key = store.users.get(u.0 as usize);
        if known.contains(key) {
            with_events += 1;
        } else {
            c.users_missing += 1;
            c.events_missing += rows.len() as u64;
            if c.missing_examples.len() < 10 {
                c.missing_examples.push(key.to_string());
            }
        }
    }
    c.metadata_users_without_events = (known.len() as u64).saturating_sub(with_events);
    c
}
