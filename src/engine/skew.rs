//! Skew of events across users, and what it means for a distributed join (the Spark export).
//!
//! - **Top-k users** by considered events, each with its share of all considered events.
//! - **Gini** of events per user over users with ≥ 1 considered event: with counts sorted
//!   ascending `x₁ ≤ … ≤ xₙ`, `G = 2·Σ i·xᵢ / (n·Σ xᵢ) − (n + 1)/n` (0 = equal, → 1 = one
//!   user has everything).
//! - **Hash partitioning** into N partitions: a user's events go to partition
//!   `fnv1a64(user key as UTF-8) mod N` (FNV-1a 64-bit, offset basis 0xcbf29ce484222325, prime
//!   0x100000001b3). Reported: largest, median (lower median), smallest partition by events, and
//!   the imbalance largest / median.
//! - **Advice**, following the analytics notes: *broadcast* the metadata when it is under
//!   Spark's default `spark.sql.autoBroadcastJoinThreshold` (10 MB); *salt* the heavy key into
//!   `⌈top user's events / mean partition events⌉` pieces (so no piece exceeds an average
//!   partition; 1 = no salting needed), capped at N; use a *skew hint* / AQE skew join when the
//!   largest partition exceeds 5 × the median (AQE's `skewedPartitionFactor`).

use serde::{Deserialize, Serialize};

/// Spark's default broadcast threshold.
pub const BROADCAST_THRESHOLD_BYTES: u64 = 10 * 1024 * 1024;
/// AQE's default `spark.sql.adaptive.skewJoin.skewedPartitionFactor`.
pub const SKEW_FACTOR: f64 = 5.0;

/// FNV-1a, 64 bit.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopUser {
    pub user: String,
    pub events: u64,
    /// Share of all considered events, 0..=1.
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionReport {
    pub partitions: u32,
    pub hash: String,
    /// Events per partition, in partition order.
    pub sizes: Vec<u64>,
    pub largest: u64,
    pub median: u64,
    pub smallest: u64,
    /// `largest / median` (`None` when the median is 0).
    pub imbalance: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkewAdvice {
    /// Broadcast the metadata side (it is under the threshold).
    pub broadcast: bool,
    pub metadata_bytes: Option<u64>,
    pub broadcast_threshold_bytes: u64,
    /// Salt pieces for the heaviest key (1 = no salting needed).
    pub salt_count: u32,
    /// Enable AQE skew join / a skew hint.
    pub skew_hint: bool,
    /// The advice in words.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkewReport {
    pub users: u64,
    pub events: u64,
    pub top_users: Vec<TopUser>,
    /// Combined share of the listed top users.
    pub top_share: f64,
    pub gini: Option<f64>,
    pub partitioning: PartitionReport,
    pub advice: SkewAdvice,
}

/// Gini coefficient of non-negative counts (`None` for no users or no events).
pub fn gini(counts: &[u64]) -> Option<f64> {
    let mut v: Vec<u64> = counts.to_vec();
    v.sort_unstable();
    let n = v.len() as f64;
    let total: f64 = v.iter().map(|&x| x as f64).sum();
    if v.is_empty() || total == 0.0 {
        return None;
    }
    let weighted: f64 = v
        .iter()
        .enumerate()
        .map(|(i, &x)| (i as f64 + 1.0) * x as f64)
        .sum();
    Some(2.0 * weighted / (n * total) - (n + 1.0) / n)
}

/// Build the skew report from `(user key, considered events)` for users with ≥ 1 event.
pub fn skew_report(
    per_user: &[(&str, u64)],
    partitions: u32,
    top_k: u32,
    metadata_bytes: Option<u64>,
) -> SkewReport {
    let events: u64 = per_user.iter().map(|u| u.1).sum();
    let share = |e: u64| {
        if events > 0 {
            e as f64 / events as f64
        } else {
            0.0
        }
    };
    let mut order: Vec<usize> = (0..per_user.len()).collect();
    order.sort_unstable_by(|&a, &b| {
        per_user[b]
            .1
            .cmp(&per_user[a].1)
            .then(per_user[a].0.cmp(per_user[b].0))
    });
    let top_users: Vec<TopUser> = order
        .iter()
        .take(top_k as usize)
        .map(|&i| TopUser {
            user: per_user[i].0.to_string(),
            events: per_user[i].1,
            share: share(per_user[i].1),
        })
        .collect();
    let top_share = share(top_users.iter().map(|t| t.events).sum());
    let counts: Vec<u64> = per_user.iter().map(|u| u.1).collect();

    let n = partitions.max(1);
    let mut sizes = vec![0u64; n as usize];
    for (key, e) in per_user {
        sizes[(fnv1a64(key.as_bytes()) % n as u64) as usize] += e;
    }
    let mut sorted = sizes.clone();
    sorted.sort_unstable();
    let largest = sorted.last().copied().unwrap_or(0);
    let smallest = sorted.first().copied().unwrap_or(0);
    let median = sorted[(sorted.len() - 1) / 2];
    let imbalance = (median > 0).then(|| largest as f64 / median as f64);

    let top_events = top_users.first().map_or(0, |t| t.events);
    let mean_partition = events as f64 / n as f64;
    let salt_count = if mean_partition > 0.0 {
        ((top_events as f64 / mean_partition).ceil() as u64).clamp(1, n as u64) as u32
    } else {
        1
    };
    let broadcast = metadata_bytes.is_some_and(|b| b <= BROADCAST_THRESHOLD_BYTES);
    let skew_hint = match imbalance {
        Some(r) => r > SKEW_FACTOR,
        None => largest > 0,
    };
    let mut notes = Vec::new();
    match metadata_bytes {
        Some(b) if broadcast => notes.push(format!(
            "Broadcast the metadata (~{} KB ≤ {} MB): no shuffle of the events, so their skew does not matter for the join.",
            b / 1024,
            BROADCAST_THRESHOLD_BYTES / 1024 / 1024
        )),
        Some(b) => notes.push(format!(
            "The metadata (~{} MB) is above the broadcast threshold: a sort-merge join shuffles both sides by user.",
            b / 1024 / 1024
        )),
        None => notes.push("No metadata loaded: nothing to join.".into()),
    }
    if salt_count > 1 {
        notes.push(format!(
            "The top user holds {:.1} % of events ({} events, {:.1}× an average partition): salt that key into {} pieces (replicate its metadata row {} times).",
            share(top_events) * 100.0,
            top_events,
            top_events as f64 / mean_partition.max(1e-9),
            salt_count,
            salt_count
        ));
    } else {
        notes.push("No user exceeds an average partition: salting is not needed.".into());
    }
    if skew_hint {
        notes.push(format!(
            "Largest partition is {} × the median (> {SKEW_FACTOR}): enable spark.sql.adaptive.skewJoin (or a SKEW hint on user_id).",
            imbalance.map_or("∞".to_string(), |r| format!("{r:.1}"))
        ));
    } else {
        notes.push(format!(
            "Partitions are balanced (largest / median = {}): repartitioning by user_id suffices.",
            imbalance.map_or("n/a".to_string(), |r| format!("{r:.2}"))
        ));
    }
    SkewReport {
        users: per_user.len() as u64,
        events,
        top_users,
        top_share,
        gini: gini(&counts),
        partitioning: PartitionReport {
            partitions: n,
            hash: "fnv1a64(user key, UTF-8) mod N".into(),
            sizes,
            largest,
            median,
            smallest,
            imbalance,
        },
        advice: SkewAdvice {
            broadcast,
            metadata_bytes,
            broadcast_threshold_bytes: BROADCAST_THRESHOLD_BYTES,
            salt_count,
            skew_hint,
            notes,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_known_values() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
    }

    #[test]
    fn gini_edges() {
        assert_eq!(gini(&[]), None);
        assert_eq!(gini(&[5, 5, 5, 5]), Some(0.0));
        // One of four users has everything: G = 2·4x/(4x) − 5/4 = 0.75.
        assert_eq!(gini(&[0, 0, 0, 8]), Some(0.75));
    }

    #[test]
    fn skewed_data_gets_salting_and_hint() {
        let mut users: Vec<(String, u64)> = (0..100).map(|i| (format!("u{i}"), 10)).collect();
        users.push(("bot".into(), 10_000));
        let refs: Vec<(&str, u64)> = users.iter().map(|(k, e)| (k.as_str(), *e)).collect();
        let r = skew_report(&refs, 10, 3, Some(1000));
        assert_eq!(r.top_users[0].user, "bot");
        assert_eq!(r.events, 11_000);
        assert!((r.top_users[0].share - 10_000.0 / 11_000.0).abs() < 1e-12);
        // mean partition 1100 → ⌈10000 / 1100⌉ = 10 (= N).
        assert_eq!(r.advice.salt_count, 10);
        assert!(r.advice.broadcast);
        assert!(r.advice.skew_hint);
        assert_eq!(r.partitioning.sizes.iter().sum::<u64>(), 11_000);
        assert!(r.gini.unwrap() > 0.8);
    }
}
