//! The join of events with user metadata, and segment breakdowns.
//!
//! **Join.** A broadcast hash join on the user key: the build side is the metadata table (one
//! small row per user) hashed once, the probe side is the event store. Because the store is
//! grouped by user, each user's contiguous run of events probes the table once, so the join
//! costs O(metadata rows + users) and never materialises joined rows. When a key occurs on
//! several metadata rows, **the last row wins** (a later row is a later state of the user, e.g. an
//! upgraded plan); the report counts the extra rows.
//!
//! **Segments.** A breakdown column is either per user (a metadata column, or the join-date
//! month `YYYY-MM`) or per event (`app_version`, `action_type`). Values are ranked — per-user
//! columns by users in the store, per-event columns by events in the store, ties by label — and
//! the top N keep their own series while the rest are folded into `other`. Users without
//! metadata have the value `(no metadata)`; a null value is `(none)`. With `segv`, only the
//! listed values are kept: users (per-user column) or events (per-event column) with other
//! values are removed from *every* metric.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::metadata::{MetaColumn, MetadataTable};
use super::params::{Params, Segment};
use super::report::MetricsError;
use super::sample::SampleUser;
use super::store::{Dictionary, EventStore};

/// Label of users absent from the metadata.
pub const NO_METADATA: &str = "(no metadata)";
/// Label of a null value.
pub const NULL_VALUE: &str = "(none)";
/// Label of the folded tail.
pub const OTHER: &str = "other";
/// Marks a user or value removed by the segment filter.
pub const FILTERED: u16 = u16::MAX;

/// What the join found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JoinReport {
    pub strategy: String,
    pub metadata_rows: u64,
    pub metadata_users: u64,
    /// Rows beyond the first for a repeated key (resolved by `duplicate_rule`).
    pub duplicate_metadata_rows: u64,
    pub duplicate_rule: String,
    /// Store users (and their events, all of the store's rows) with no metadata row.
    pub users_without_metadata: u64,
    pub events_without_metadata: u64,
    /// Metadata users with no event in the store.
    pub metadata_users_without_events: u64,
}

/// Per store user: the metadata row, or `u32::MAX`.
#[derive(Debug, Clone)]
pub struct UserJoin {
    pub meta_row: Vec<u32>,
    pub report: JoinReport,
}

/// Broadcast hash join of the store's users with `meta` (last row wins for repeated keys).
pub fn join_users(store: &EventStore, meta: &MetadataTable) -> UserJoin {
    let mut build: HashMap<&str, u32> = HashMap::with_capacity(meta.len());
    for (i, k) in meta.user_keys.iter().enumerate() {
        build.insert(k.as_str(), i as u32);
    }
    let mut meta_row = Vec::with_capacity(store.user_count());
    let mut matched_meta = vec![false; meta.len()];
    let (mut users_without, mut events_without) = (0u64, 0u64);
    for (u, rows) in store.users_with_rows() {
        match build.get(store.users.get(u.0 as usize)) {
            Some(&r) => {
                meta_row.push(r);
                matched_meta[r as usize] = true;
            }
            None => {
                meta_row.push(u32::MAX);
                users_without += 1;
                events_without += rows.len() as u64;
            }
        }
    }
    let distinct = build.len() as u64;
    let matched = matched_meta.iter().filter(|&&m| m).count() as u64;
    UserJoin {
        meta_row,
        report: JoinReport {
            strategy: format!(
                "broadcast hash join: build side = metadata ({} rows, ~{} KB), probed once per store user",
                meta.len(),
                metadata_bytes(meta) / 1024
            ),
            metadata_rows: meta.len() as u64,
            metadata_users: distinct,
            duplicate_metadata_rows: meta.len() as u64 - distinct,
            duplicate_rule: "last row wins".into(),
            users_without_metadata: users_without,
            events_without_metadata: events_without,
            metadata_users_without_events: distinct - matched,
        },
    }
}

/// Approximate in-memory size of the metadata table (keys + 2 bytes per column value).
pub fn metadata_bytes(meta: &MetadataTable) -> u64 {
    let keys: usize = meta.user_keys.iter().map(|k| k.len() + 24).sum();
    (keys + meta.len() * (4 + 2 * meta.columns.len())) as u64
}

/// A column being built: name, dictionary, value → index, per-row indices.
type SampleColumn = (
    &'static str,
    Dictionary,
    HashMap<&'static str, u16>,
    Vec<u16>,
);

/// A metadata table straight from the sample generator's rows, repeated keys kept (as a raw
/// file would have them), for tests, the CLI's `sample:` source and the built-in dataset.
pub fn metadata_from_sample(rows: &[SampleUser]) -> MetadataTable {
    let mut cols: Vec<SampleColumn> = ["country", "device_type", "subscription_type"]
        .into_iter()
        .map(|n| (n, Dictionary::with_null(), HashMap::new(), Vec::new()))
        .collect();
    for r in rows {
        for (name, dict, index, values) in cols.iter_mut() {
            let v: &'static str = match *name {
                "country" => r.country,
                "device_type" => r.device_type,
                _ => r.subscription_type,
            };
            let i = *index.entry(v).or_insert_with(|| dict.push(v) as u16);
            values.push(i);
        }
    }
    MetadataTable {
        user_keys: rows
            .iter()
            .map(|r| super::sample::user_key(r.user))
            .collect(),
        join_day: rows.iter().map(|r| Some(r.join_day)).collect(),
        columns: cols
            .into_iter()
            .map(|(name, dict, _, values)| MetaColumn {
                name: name.to_string(),
                dict,
                values,
            })
            .collect(),
    }
}

/// The resolved breakdown: bucket labels and the value → bucket maps.
#[derive(Debug, Clone)]
pub struct SegmentPlan {
    pub column: String,
    pub per_user: bool,
    /// Bucket labels: the top values in rank order, then [`OTHER`] when values were folded.
    pub labels: Vec<String>,
    /// Per-user column: bucket of each store user ([`FILTERED`] = removed by `segv`).
    pub user_bucket: Vec<u16>,
    /// Per-event column: bucket of each dictionary value of the action / app-version column.
    pub value_bucket: Vec<u16>,
    /// Per-event column: no event has a [`FILTERED`] value (no `segv` removes any; the values
    /// mapped to [`FILTERED`] for having no event do not count), so the considered-events pass
    /// need not look at the column.
    pub keeps_every_event: bool,
}

impl SegmentPlan {
    pub fn buckets(&self) -> usize {
        self.labels.len()
    }
}

/// Rank `(label, weight)` values, keep the `segv` ones, and assign buckets.
fn assign_buckets(values: &[(String, u64)], params: &Params) -> (Vec<String>, Vec<u16>) {
    let keep =
        |l: &str| params.segment_values.is_empty() || params.segment_values.iter().any(|v| v == l);
    // Merge equal labels (several dictionary entries can share a label, e.g. "(none)").
    let mut by_label: HashMap<&str, u64> = HashMap::new();
    for (l, w) in values {
        // Values with no users/events (e.g. an unused dictionary entry) are not segments.
        if keep(l) && *w > 0 {
            *by_label.entry(l.as_str()).or_default() += w;
        }
    }
    let mut ranked: Vec<(&str, u64)> = by_label.into_iter().collect();
    ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let top = (params.top_segments as usize).min(ranked.len());
    let mut labels: Vec<String> = ranked[..top].iter().map(|(l, _)| l.to_string()).collect();
    let folded = ranked.len() > top;
    if folded {
        labels.push(OTHER.to_string());
    }
    let bucket_of = |l: &str, w: u64| -> u16 {
        if !keep(l) || w == 0 {
            return FILTERED;
        }
        match labels[..top].iter().position(|x| x == l) {
            Some(i) => i as u16,
            None => top as u16,
        }
    };
    let map = values.iter().map(|(l, w)| bucket_of(l, *w)).collect();
    (labels, map)
}

/// Resolve `params.segment` against the data. `None` when no breakdown is asked for.
pub fn plan_segments(
    store: &EventStore,
    meta: Option<&MetadataTable>,
    join: Option<&UserJoin>,
    params: &Params,
) -> Result<Option<SegmentPlan>, MetricsError> {
    let Some(seg) = &params.segment else {
        return Ok(None);
    };
    let column = seg.key();
    match seg {
        Segment::Metadata(_) | Segment::JoinMonth => {
            let (Some(meta), Some(join)) = (meta, join) else {
                return Err(MetricsError::SegmentNeedsMetadata { column });
            };
            // Per-user value key (0 = no metadata row; a number per distinct value), so each
            // distinct value is labelled once instead of a string per user.
            let (keys, label_of): (Vec<u32>, Box<dyn Fn(u32) -> String>) = match seg {
                Segment::Metadata(name) => {
                    let col =
                        meta.column(name)
                            .ok_or_else(|| MetricsError::UnknownSegmentColumn {
                                column: name.clone(),
                                available: meta
                                    .columns
                                    .iter()
                                    .map(|c| c.name.clone())
                                    .chain([
                                        "join_month".into(),
                                        "app_version".into(),
                                        "action_type".into(),
                                    ])
                                    .collect::<Vec<_>>()
                                    .join(", "),
                            })?;
                    let keys = join
                        .meta_row
                        .iter()
                        .map(|&r| {
                            if r == u32::MAX {
                                0
                            } else {
                                col.values.get(r as usize).copied().unwrap_or(0) as u32 + 1
                            }
                        })
                        .collect();
                    let label = move |k: u32| -> String {
                        if k == 0 {
                            return NO_METADATA.to_string();
                        }
                        let s = col.dict.get((k - 1) as usize);
                        if s.is_empty() { NULL_VALUE } else { s }.to_string()
                    };
                    (keys, Box::new(label))
                }
                _ => {
                    // 1 = no join date; otherwise 2 + the index of the (year, month).
                    let mut months: Vec<(i32, u32)> = Vec::new();
                    let mut month_index: HashMap<(i32, u32), u32> = HashMap::new();
                    let keys = join
                        .meta_row
                        .iter()
                        .map(|&r| {
                            if r == u32::MAX {
                                return 0;
                            }
                            match meta.join_day.get(r as usize).copied().flatten() {
                                Some(d) => {
                                    let ym = super::calendar::year_month(d);
                                    2 + *month_index.entry(ym).or_insert_with(|| {
                                        months.push(ym);
                                        (months.len() - 1) as u32
                                    })
                                }
                                None => 1,
                            }
                        })
                        .collect();
                    let label = move |k: u32| -> String {
                        match k {
                            0 => NO_METADATA.to_string(),
                            1 => NULL_VALUE.to_string(),
                            k => {
                                let (y, m) = months[(k - 2) as usize];
                                format!("{y:04}-{m:02}")
                            }
                        }
                    };
                    (keys, Box::new(label))
                }
            };
            // Distinct values weighted by users, in order of first appearance.
            let mut index: HashMap<u32, usize> = HashMap::new();
            let mut values: Vec<(String, u64)> = Vec::new();
            let mut user_value = Vec::with_capacity(keys.len());
            for &k in &keys {
                let i = *index.entry(k).or_insert_with(|| {
                    values.push((label_of(k), 0));
                    values.len() - 1
                });
                values[i].1 += 1;
                user_value.push(i);
            }
            let (labels, map) = assign_buckets(&values, params);
            Ok(Some(SegmentPlan {
                column,
                per_user: true,
                labels,
                user_bucket: user_value.iter().map(|&i| map[i]).collect(),
                value_bucket: Vec::new(),
                keeps_every_event: false,
            }))
        }
        Segment::AppVersion | Segment::ActionType => {
            let (dict, counts) = if matches!(seg, Segment::AppVersion) {
                (
                    &store.app_versions,
                    count_values(&store.app_version, store.app_versions.len()),
                )
            } else {
                (
                    &store.actions,
                    count_values(&store.action, store.actions.len()),
                )
            };
            let values: Vec<(String, u64)> = (0..dict.len())
                .map(|i| {
                    let s = dict.get(i);
                    (
                        if s.is_empty() { NULL_VALUE } else { s }.to_string(),
                        counts[i],
                    )
                })
                .collect();
            let (labels, map) = assign_buckets(&values, params);
            // (Every event's code is a dictionary value, so counted: checked, not assumed.)
            let counted = counts.iter().take(dict.len()).sum::<u64>() == store.len() as u64;
            let keeps_every_event = counted
                && values
                    .iter()
                    .zip(&map)
                    .all(|((_, events), &b)| b != FILTERED || *events == 0);
            Ok(Some(SegmentPlan {
                column,
                per_user: false,
                labels,
                user_bucket: Vec::new(),
                value_bucket: map,
                keeps_every_event,
            }))
        }
    }
}

/// How many times each value `0..n` occurs in `col` (values ≥ `n` are not counted).
///
/// Four interleaved tables of `u32` counters, each over a chunk of ≤ 2^32 values: consecutive
/// equal values (an action column is long runs) would otherwise chain every increment on the
/// previous one through memory.
fn count_values(col: &[u16], n: usize) -> Vec<u64> {
    let width = n.max(1);
    let mut c = vec![0u64; width];
    let mut t = vec![0u32; 4 * 65_536];
    for chunk in col.chunks(u32::MAX as usize) {
        let mut quads = chunk.chunks_exact(4);
        for q in &mut quads {
            t[q[0] as usize] += 1;
            t[65_536 + q[1] as usize] += 1;
            t[2 * 65_536 + q[2] as usize] += 1;
            t[3 * 65_536 + q[3] as usize] += 1;
        }
        for &v in quads.remainder() {
            t[v as usize] += 1;
        }
        for (v, x) in c.iter_mut().enumerate() {
            *x += (0..4).map(|k| t[k * 65_536 + v] as u64).sum::<u64>();
        }
        t.iter_mut().for_each(|x| *x = 0);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{DurationMs, StoreBuilder, UserKeyRef};

    fn store(users: &[&str]) -> EventStore {
        let mut b = StoreBuilder::default();
        for (i, u) in users.iter().enumerate() {
            b.push(
                UserKeyRef::Str(u),
                i as i64,
                Some("a"),
                None,
                DurationMs(1),
                None,
            )
            .unwrap();
        }
        b.finish()
    }

    fn meta(rows: &[(&str, &str)]) -> MetadataTable {
        let mut dict = Dictionary::with_null();
        let mut values = Vec::new();
        for (_, c) in rows {
            let i = dict.position(c).unwrap_or_else(|| dict.push(c));
            values.push(i as u16);
        }
        MetadataTable {
            user_keys: rows.iter().map(|r| r.0.to_string()).collect(),
            join_day: vec![Some(19_400); rows.len()],
            columns: vec![MetaColumn {
                name: "country".into(),
                dict,
                values,
            }],
        }
    }

    #[test]
    fn join_reports_missing_and_duplicates() {
        let s = store(&["a", "a", "b", "c"]);
        let m = meta(&[("a", "US"), ("b", "DE"), ("b", "FR"), ("z", "US")]);
        let j = join_users(&s, &m);
        assert_eq!(j.meta_row, vec![0, 2, u32::MAX]); // b: last row wins
        assert_eq!(j.report.users_without_metadata, 1);
        assert_eq!(j.report.events_without_metadata, 1);
        assert_eq!(j.report.duplicate_metadata_rows, 1);
        assert_eq!(j.report.metadata_users_without_events, 1);
    }

    #[test]
    fn join_month_and_null_labels() {
        let s = store(&["a", "b", "c", "d", "e", "f"]);
        let mut m = meta(&[
            ("a", "US"),
            ("b", ""),
            ("c", "DE"),
            ("d", "US"),
            ("e", "US"),
        ]);
        // 2023-02-01, 2023-02-28, none, 2023-03-01, 2022-12-31; f has no metadata row.
        m.join_day = vec![Some(19_389), Some(19_416), None, Some(19_417), Some(19_357)];
        let j = join_users(&s, &m);
        let p = Params {
            segment: Some(Segment::JoinMonth),
            ..Params::default()
        };
        let plan = plan_segments(&s, Some(&m), Some(&j), &p).unwrap().unwrap();
        // 2023-02 has two users; the rest one each, ranked by label.
        assert_eq!(
            plan.labels,
            vec!["2023-02", NO_METADATA, NULL_VALUE, "2022-12", "2023-03"]
        );
        assert_eq!(plan.user_bucket, vec![0, 0, 2, 4, 3, 1]);
        let p = Params {
            segment: Some(Segment::Metadata("country".into())),
            ..Params::default()
        };
        let plan = plan_segments(&s, Some(&m), Some(&j), &p).unwrap().unwrap();
        // Ties ranked by label: "(" sorts before "D".
        assert_eq!(plan.labels, vec!["US", NO_METADATA, NULL_VALUE, "DE"]);
        assert_eq!(plan.user_bucket, vec![0, 2, 3, 0, 0, 1]);
    }

    #[test]
    fn a_per_event_plan_says_whether_it_keeps_every_event() {
        // Actions "a" (3 events) and "b" (1); the null action's entry has no event.
        let mut b = StoreBuilder::default();
        for (i, a) in ["a", "b", "a", "a"].iter().enumerate() {
            b.push(
                UserKeyRef::Str("u"),
                i as i64,
                Some(a),
                None,
                DurationMs(1),
                None,
            )
            .unwrap();
        }
        let s = b.finish();
        let plan_for = |segv: &[&str], topn: u32| {
            let p = Params {
                segment: Some(Segment::ActionType),
                segment_values: segv.iter().map(|v| v.to_string()).collect(),
                top_segments: topn,
                ..Params::default()
            };
            plan_segments(&s, None, None, &p).unwrap().unwrap()
        };
        // No filter: the event-less entry is FILTERED, yet every event is kept.
        let all = plan_for(&[], 5);
        assert!(all.value_bucket.contains(&FILTERED));
        assert!(all.keeps_every_event);
        // Folding into "other" keeps every event too; a `segv` without "b" does not.
        assert!(plan_for(&[], 1).keeps_every_event);
        assert!(!plan_for(&["a"], 5).keeps_every_event);
        assert!(plan_for(&["a", "b"], 5).keeps_every_event);
    }

    #[test]
    fn segments_top_n_and_filter() {
        let s = store(&["a", "b", "c", "d", "e"]);
        let m = meta(&[("a", "US"), ("b", "US"), ("c", "DE"), ("d", "FR")]);
        let j = join_users(&s, &m);
        let p = Params {
            segment: Some(Segment::Metadata("country".into())),
            top_segments: 1,
            ..Params::default()
        };
        let plan = plan_segments(&s, Some(&m), Some(&j), &p).unwrap().unwrap();
        assert_eq!(plan.labels, vec!["US", OTHER]);
        assert_eq!(plan.user_bucket, vec![0, 0, 1, 1, 1]);
        let p = Params {
            segment_values: vec!["DE".into(), NO_METADATA.into()],
            top_segments: 5,
            ..p
        };
        let plan = plan_segments(&s, Some(&m), Some(&j), &p).unwrap().unwrap();
        // Ties (1 user each) ranked by label.
        assert_eq!(plan.labels, vec![NO_METADATA, "DE"]);
        assert_eq!(plan.user_bucket, vec![FILTERED, FILTERED, 1, FILTERED, 0]);
        let bad = Params {
            segment: Some(Segment::Metadata("planet".into())),
            ..Params::default()
        };
        assert!(matches!(
            plan_segments(&s, Some(&m), Some(&j), &bad),
            Err(MetricsError::UnknownSegmentColumn { .. })
        ));
        assert!(matches!(
            plan_segments(&s, None, None, &bad),
            Err(MetricsError::SegmentNeedsMetadata { .. })
        ));
    }
}
