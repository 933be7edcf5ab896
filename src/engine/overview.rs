//! A dataset's vital signs, shown as soon as it is loaded: size, users, time span, and
//! events per UTC day. Independent of every metric knob.

use serde::{Deserialize, Serialize};

use super::store::EventStore;

const DAY_MS: i64 = 86_400_000;

/// Summary of the loaded dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetOverview {
    /// Where the data came from ("sample", or the file names).
    pub source: String,
    /// Rows in the store (after rows without a user or time were dropped).
    pub events: u64,
    pub users: u64,
    /// Resident bytes of the event store ([`EventStore::resident_bytes`]).
    pub resident_bytes: u64,
    /// First UTC day (days since 1970-01-01) of `events_per_day`.
    pub first_day: i64,
    /// Event count for each UTC day from `first_day`, consecutive (days without events are 0).
    pub events_per_day: Vec<u64>,
}

impl DatasetOverview {
    /// Summarise a store. Days are UTC calendar days `[00:00, 24:00)`.
    pub fn of(store: &EventStore, source: String) -> Self {
        let (first_day, events_per_day) = match store.time_range() {
            Some((min, max)) => {
                let first = min.0.div_euclid(DAY_MS);
                let last = max.0.div_euclid(DAY_MS);
                let mut counts = vec![0u64; (last - first + 1) as usize];
                for &t in &store.time_ms {
                    counts[(t.div_euclid(DAY_MS) - first) as usize] += 1;
                }
                (first, counts)
            }
            None => (0, Vec::new()),
        };
        DatasetOverview {
            source,
            events: store.len() as u64,
            users: store.user_count() as u64,
            resident_bytes: store.resident_bytes() as u64,
            first_day,
            events_per_day,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{DurationMs, StoreBuilder, UserKeyRef};

    #[test]
    fn counts_per_utc_day_with_gaps() {
        let mut b = StoreBuilder::default();
        for t in [DAY_MS * 10 + 5, DAY_MS * 10 + DAY_MS - 1, DAY_MS * 12] {
            b.push(UserKeyRef::Int(1), t, None, None, DurationMs::NULL, None)
                .unwrap();
        }
        let o = DatasetOverview::of(&b.finish(), "t".into());
        assert_eq!(o.first_day, 10);
        assert_eq!(o.events_per_day, vec![2, 0, 1]);
        assert_eq!((o.events, o.users), (3, 1));
    }

    #[test]
    fn empty_store() {
        let o = DatasetOverview::of(&EventStore::default(), "e".into());
        assert!(o.events_per_day.is_empty());
        assert_eq!(o.events, 0);
    }
}
