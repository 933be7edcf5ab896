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
                // Times ascend within a user, so a day is computed only when an event passes
                // the end of the previous event's day: a 64-bit division per event is ~7 ns in
                // wasm (no 64-bit multiply-high to divide by a constant), ~70 ms of a 10M load.
                for (_, rows) in store.users_with_rows() {
                    let (mut slot, mut day_end) = (0usize, i64::MIN);
                    for &t in store.time_ms.get(rows).unwrap_or_default() {
                        if t >= day_end {
                            let day = t.div_euclid(DAY_MS);
                            slot = (day - first) as usize;
                            day_end = (day + 1) * DAY_MS;
                        }
                        counts[slot] += 1;
                    }
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
    fn days_restart_per_user_and_midnight_belongs_to_the_new_day() {
        let mut b = StoreBuilder::default();
        // User 1 ends on day 12; user 2 starts back on day 10 (its own ascending run), with an
        // event exactly at midnight and one just before it, and one before 1970.
        let events = [
            (1, DAY_MS * 11 - 1),
            (1, DAY_MS * 12 + 7),
            (2, DAY_MS * 10),
            (2, DAY_MS * 11 - 1),
            (2, DAY_MS * 11),
            (3, -1),
        ];
        for (u, t) in events {
            b.push(UserKeyRef::Int(u), t, None, None, DurationMs::NULL, None)
                .unwrap();
        }
        let o = DatasetOverview::of(&b.finish(), "t".into());
        assert_eq!(o.first_day, -1);
        let mut want = vec![0u64; 14];
        want[0] = 1; // day -1
        want[11] = 3; // day 10
        want[12] = 1; // day 11
        want[13] = 1; // day 12
        assert_eq!(o.events_per_day, want);
    }

    #[test]
    fn runs_of_a_day_count_as_each_event_would() {
        // Users with runs of events per day, days skipped, ties and events at midnight; the
        // expected counts divide each event's time on its own.
        let mut b = StoreBuilder::default();
        let mut expected = std::collections::BTreeMap::<i64, u64>::new();
        let mut x: u64 = 7;
        for user in 0..20i64 {
            let mut t = DAY_MS * 100 + user * 3_600_000;
            for _ in 0..200 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                t += match x >> 60 {
                    0 => 0,
                    1 => DAY_MS - t.rem_euclid(DAY_MS),
                    2 => 3 * DAY_MS,
                    _ => ((x >> 20) % 7_200_000) as i64,
                };
                b.push(UserKeyRef::Int(user), t, None, None, DurationMs::NULL, None)
                    .unwrap();
                *expected.entry(t.div_euclid(DAY_MS)).or_default() += 1;
            }
        }
        let o = DatasetOverview::of(&b.finish(), "t".into());
        let first = *expected.keys().next().unwrap();
        assert_eq!(o.first_day, first);
        let mut want = vec![0u64; o.events_per_day.len()];
        for (day, n) in expected {
            want[(day - first) as usize] = n;
        }
        assert_eq!(o.events_per_day, want);
        assert_eq!(o.events_per_day.iter().sum::<u64>(), 4000);
    }

    #[test]
    fn empty_store() {
        let o = DatasetOverview::of(&EventStore::default(), "e".into());
        assert!(o.events_per_day.is_empty());
        assert_eq!(o.events, 0);
    }
}
