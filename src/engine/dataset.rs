//! A loaded dataset: the sorted event store plus, optionally, user metadata. This is what the
//! worker holds between requests and what the CLI computes from.

use super::metadata::{MetaColumn, MetadataTable};
use super::sample::{self, SampleConfig};
use super::store::{Dictionary, DurationMs, EventStore};
use super::{IngestError, StoreBuilder, UserKeyRef};

/// Events and the metadata joined to them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    pub events: EventStore,
    pub metadata: Option<MetadataTable>,
}

impl Dataset {
    /// The built-in sample: generated from `cfg` straight into the store (no file round trip).
    pub fn sample(cfg: &SampleConfig) -> Result<Dataset, IngestError> {
        let mut builder = StoreBuilder::default();
        let mut failure = None;
        let mut page = String::new();
        let meta_rows = sample::generate(cfg, |e| {
            page.clear();
            if let Some(p) = e.page {
                use std::fmt::Write;
                let _ = write!(page, "p{p}");
            }
            let pushed = builder.push(
                UserKeyRef::Str(&sample::user_key(e.user)),
                e.time_ms,
                Some(e.action),
                e.page.map(|_| page.as_str()),
                e.duration_ms
                    .map_or(DurationMs::NULL, DurationMs::from_i64_clamped),
                Some(e.app_version),
            );
            if let Err(err) = pushed {
                failure.get_or_insert(err);
            }
        });
        if let Some(err) = failure {
            return Err(err);
        }
        Ok(Dataset {
            events: builder.finish(),
            metadata: Some(sample_metadata(&meta_rows)),
        })
    }
}

/// Metadata rows of the sample as a table. Duplicate user rows follow the loader's rule: the
/// last row in file order wins.
pub fn sample_metadata(rows: &[sample::SampleUser]) -> MetadataTable {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    // Keep the last row per user: stable sort by user, then keep the final row of each run.
    order.sort_by_key(|&i| rows[i].user);
    let mut kept: Vec<&sample::SampleUser> = Vec::new();
    for (pos, &i) in order.iter().enumerate() {
        let last_of_user = order
            .get(pos + 1)
            .is_none_or(|&next| rows[next].user != rows[i].user);
        if last_of_user {
            kept.push(&rows[i]);
        }
    }
    let column = |name: &str, pick: fn(&sample::SampleUser) -> &'static str| {
        let mut dict = Dictionary::with_null();
        let values = kept
            .iter()
            .map(|r| {
                let v = pick(r);
                dict.position(v).unwrap_or_else(|| dict.push(v)) as u16
            })
            .collect();
        MetaColumn {
            name: name.to_owned(),
            dict,
            values,
        }
    };
    MetadataTable {
        user_keys: kept.iter().map(|r| sample::user_key(r.user)).collect(),
        join_day: kept.iter().map(|r| Some(r.join_day)).collect(),
        columns: vec![
            column("country", |r| r.country),
            column("device_type", |r| r.device_type),
            column("subscription_type", |r| r.subscription_type),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_dataset_matches_generator() {
        let cfg = SampleConfig {
            users: 50,
            ..SampleConfig::default()
        };
        let (events, meta) = sample::generate_vec(&cfg);
        let ds = Dataset::sample(&cfg).unwrap();
        ds.events.check_invariants().unwrap();
        assert_eq!(ds.events.len(), events.len());
        let nulls = events.iter().filter(|e| e.duration_ms.is_none()).count();
        assert_eq!(
            ds.events.duration_ms.iter().filter(|d| d.is_null()).count(),
            nulls
        );
        let md = ds.metadata.unwrap();
        let distinct: std::collections::BTreeSet<u32> = meta.iter().map(|m| m.user).collect();
        assert_eq!(md.len(), distinct.len());
        assert_eq!(md.columns.len(), 3);
    }
}
