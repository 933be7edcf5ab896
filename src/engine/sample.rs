//! A seeded, realistic generator of the canonical tables, so the dashboard has something
//! meaningful to show before the analyst drops a file, and so tests and benchmarks have data of
//! any size.
//!
//! Shape of the data (one calendar year from `start_day`, UTC):
//! - **Power-law activity**: each user's base session rate is Pareto-distributed (α = 1.3), so a
//!   few users produce most events; users join throughout the year and churn after an
//!   exponentially distributed lifetime.
//! - **Daily and weekly cycles**: sessions start around midday and in the evening *local* time
//!   (countries carry a UTC offset); weekends see fewer sessions.
//! - **Bursty sessions**: events within a session are seconds apart, with occasional pauses of
//!   8–25 minutes (so the session-gap knob matters); `create` is usually followed by a
//!   `page_view` of the same page.
//! - **Bots**: `bots` users fire a long burst of events every day.
//! - **Dirt**: 0.5 % null durations, a sprinkle of negative and absurd (days-long) durations,
//!   app version `2.4.0` regressed (slower), ~1 % of users missing from metadata and a few
//!   duplicated metadata rows.
//!
//! The generator streams events day by day (each day's events sorted by time, as an event log
//! partitioned by date would be), so 10M events need no big buffer. The random stream is PCG64,
//! identical on every platform: the browser's sample equals the CLI's for the same config.

use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder, TimestampMillisecondBuilder};
use arrow_array::{ArrayRef, Date32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::error::IngestError;

/// 2023-01-01 as days since the Unix epoch.
pub const DEFAULT_START_DAY: i32 = 19_358;
const DAY_MS: i64 = 86_400_000;

/// Action types the generator emits, with their weights within a session.
pub const ACTIONS: [(&str, u32); 7] = [
    ("page_view", 45),
    ("edit", 20),
    ("create", 10),
    ("search", 10),
    ("comment", 7),
    ("share", 5),
    ("delete", 3),
];
/// Sent to a user outside any session; a natural "inactive" action.
pub const NOTIFICATION: &str = "notification_received";

/// Releases: (version, day offset from start).
pub const RELEASES: [(&str, i32); 13] = [
    ("2.0.0", -60),
    ("2.0.1", 20),
    ("2.1.0", 48),
    ("2.1.1", 75),
    ("2.2.0", 104),
    ("2.3.0", 132),
    ("2.4.0", 160),
    ("2.4.1", 181),
    ("2.5.0", 216),
    ("2.6.0", 244),
    ("2.7.0", 272),
    ("2.10.0", 300),
    ("2.10.1", 335),
];
/// Version whose durations are 1.6× slower (a regression to find).
pub const SLOW_VERSION: &str = "2.4.0";

/// (country, UTC offset in minutes, weight).
pub const COUNTRIES: [(&str, i32, u32); 10] = [
    ("US", -300, 30),
    ("IN", 330, 14),
    ("DE", 60, 10),
    ("GB", 0, 9),
    ("BR", -180, 8),
    ("JP", 540, 7),
    ("FR", 60, 6),
    ("CA", -300, 6),
    ("AU", 600, 5),
    ("ES", 60, 5),
];
pub const DEVICES: [(&str, u32); 4] = [("ios", 35), ("android", 35), ("web", 20), ("desktop", 10)];
pub const PLANS: [&str; 3] = ["free", "premium", "business"];

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleConfig {
    pub seed: u64,
    pub users: u32,
    /// First day, as days since 1970-01-01 (UTC).
    pub start_day: i32,
    pub days: u32,
    pub bots: u32,
    /// Events each bot fires per day.
    pub bot_events_per_day: u32,
}

impl Default for SampleConfig {
    /// The built-in dataset the app opens with: ~1,000 users, ~250k events, year 2023.
    fn default() -> Self {
        SampleConfig {
            seed: 42,
            users: 1_000,
            start_day: DEFAULT_START_DAY,
            days: 365,
            bots: 3,
            bot_events_per_day: 60,
        }
    }
}

impl SampleConfig {
    /// Average events per regular user over a year, measured on seed 42 (used only to size a
    /// dataset; the exact count is whatever the generator produces).
    pub const EVENTS_PER_USER: f64 = 200.0;

    /// A config producing roughly `events` events.
    pub fn for_events(events: u64, seed: u64) -> Self {
        let users = ((events as f64 / Self::EVENTS_PER_USER).round() as u32).max(10);
        let bots = 3;
        SampleConfig {
            seed,
            users,
            bots,
            bot_events_per_day: ((events as f64 * 0.004 / 365.0).round() as u32).max(20),
            ..SampleConfig::default()
        }
    }
}

/// One generated event. Writers format `user` as [`user_key`] and `page` as [`page_key`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleEvent {
    pub user: u32,
    pub time_ms: i64,
    pub action: &'static str,
    pub page: Option<u32>,
    pub duration_ms: Option<i64>,
    pub app_version: &'static str,
}

/// One metadata row.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleUser {
    pub user: u32,
    /// Days since 1970-01-01.
    pub join_day: i32,
    pub country: &'static str,
    pub device_type: &'static str,
    pub subscription_type: &'static str,
}

/// The user id string for user number `u` (e.g. `u000042`).
pub fn user_key(u: u32) -> String {
    format!("u{u:06}")
}

/// The page id string for page number `p` (e.g. `p1234`).
pub fn page_key(p: u32) -> String {
    format!("p{p}")
}

struct UserState {
    join_day: i32,
    last_day: i32,
    rate: f64,
    tz_min: i32,
    country: &'static str,
    device: &'static str,
    plan: &'static str,
    upgrade_lag: i32,
    pages: Vec<u32>,
    bot: bool,
    in_metadata: bool,
}

/// Generate events (streamed to `emit`, day by day, time-ordered within a day) and return the
/// metadata rows.
pub fn generate(cfg: &SampleConfig, mut emit: impl FnMut(&SampleEvent)) -> Vec<SampleUser> {
    let mut rng = Pcg64Mcg::seed_from_u64(cfg.seed);
    let total_users = cfg.users + cfg.bots;
    let days = cfg.days as i32;
    let mut users: Vec<UserState> = Vec::with_capacity(total_users as usize);
    let mut next_page: u32 = 1;
    for u in 0..total_users {
        let bot = u >= cfg.users;
        // A third of users predate the year; the rest join uniformly during it.
        let join_offset = if bot || rng.random::<f64>() < 0.33 {
            -(rng.random_range(0..300))
        } else {
            rng.random_range(0..days.max(1))
        };
        let lifetime = (-(1.0 - rng.random::<f64>()).ln() * 240.0) as i32 + 5;
        let pareto = (1.0 - rng.random::<f64>()).powf(-1.0 / 1.3);
        let (country, tz_min) = pick_country(&mut rng);
        let plan = {
            let x = rng.random::<f64>() + (pareto - 1.0).min(6.0) * 0.04;
            if x > 1.1 {
                PLANS[2]
            } else if x > 0.78 {
                PLANS[1]
            } else {
                PLANS[0]
            }
        };
        users.push(UserState {
            join_day: cfg.start_day + join_offset,
            last_day: if bot {
                i32::MAX
            } else {
                cfg.start_day + join_offset.max(0) + lifetime
            },
            rate: (0.06 * pareto).min(6.0),
            tz_min,
            country,
            device: pick_weighted(&mut rng, &DEVICES),
            plan,
            upgrade_lag: (-(1.0 - rng.random::<f64>()).ln() * 12.0) as i32,
            pages: Vec::new(),
            bot,
            in_metadata: rng.random::<f64>() >= 0.01,
        });
    }

    let mut day_events: Vec<SampleEvent> = Vec::new();
    for d in 0..days {
        let day = cfg.start_day + d;
        // 1970-01-01 was a Thursday; weekday 0 = Monday.
        let weekday = (day + 3).rem_euclid(7);
        let week_factor = match weekday {
            5 => 0.62,
            6 => 0.55,
            _ => 1.0,
        };
        let growth = 0.85 + 0.3 * (d as f64 / days.max(1) as f64);
        day_events.clear();
        for (u, st) in users.iter_mut().enumerate() {
            if day < st.join_day || day > st.last_day {
                continue;
            }
            let version = version_on(day - cfg.start_day - st.upgrade_lag);
            let slow = if version == SLOW_VERSION { 1.6 } else { 1.0 };
            if st.bot {
                let start = day as i64 * DAY_MS + rng.random_range(0..6 * 3_600_000);
                let mut t = start;
                for _ in 0..cfg.bot_events_per_day {
                    t += rng.random_range(2_000..15_000);
                    day_events.push(SampleEvent {
                        user: u as u32,
                        time_ms: t,
                        action: if rng.random::<f64>() < 0.7 {
                            "page_view"
                        } else {
                            "search"
                        },
                        page: Some(rng.random_range(1..next_page.max(2))),
                        duration_ms: Some(rng.random_range(50..400)),
                        app_version: version,
                    });
                }
                continue;
            }
            // Occasional push notification, outside sessions.
            if rng.random::<f64>() < 0.04 {
                day_events.push(SampleEvent {
                    user: u as u32,
                    time_ms: day as i64 * DAY_MS + rng.random_range(0..DAY_MS),
                    action: NOTIFICATION,
                    page: None,
                    duration_ms: None,
                    app_version: version,
                });
            }
            let sessions = poisson(&mut rng, st.rate * week_factor * growth);
            for _ in 0..sessions {
                let hour_local = if rng.random::<f64>() < 0.7 {
                    normal(&mut rng, 13.0, 3.5)
                } else {
                    normal(&mut rng, 21.0, 1.5)
                };
                let minute_local = (hour_local * 60.0).rem_euclid(1440.0);
                let mut t = day as i64 * DAY_MS
                    + ((minute_local - st.tz_min as f64) * 60_000.0) as i64
                    + rng.random_range(0..60_000);
                let n = 1 + geometric(&mut rng, 1.0 / 7.0).min(150);
                let mut last_created: Option<u32> = None;
                for i in 0..n {
                    if i > 0 {
                        t += if rng.random::<f64>() < 0.03 {
                            rng.random_range(8 * 60_000..25 * 60_000)
                        } else {
                            (-(1.0 - rng.random::<f64>()).ln() * 45_000.0) as i64 + 500
                        };
                    }
                    let (action, page) = match last_created.take() {
                        Some(p) if rng.random::<f64>() < 0.7 => ("page_view", p),
                        _ => {
                            let a = pick_weighted(&mut rng, &ACTIONS);
                            let page = if a == "create" {
                                let p = next_page;
                                next_page += 1;
                                st.pages.push(p);
                                if st.pages.len() > 20 {
                                    st.pages.remove(0);
                                }
                                last_created = Some(p);
                                p
                            } else if !st.pages.is_empty() && rng.random::<f64>() < 0.8 {
                                st.pages[rng.random_range(0..st.pages.len())]
                            } else {
                                rng.random_range(1..next_page.max(2))
                            };
                            (a, page)
                        }
                    };
                    day_events.push(SampleEvent {
                        user: u as u32,
                        time_ms: t,
                        action,
                        page: Some(page),
                        duration_ms: sample_duration(&mut rng, action, slow),
                        app_version: version,
                    });
                }
            }
        }
        day_events.sort_by_key(|e| e.time_ms);
        for e in &day_events {
            emit(e);
        }
    }

    let mut meta = Vec::with_capacity(users.len());
    for (u, st) in users.iter().enumerate() {
        if !st.in_metadata {
            continue;
        }
        let row = SampleUser {
            user: u as u32,
            join_day: st.join_day,
            country: st.country,
            device_type: st.device,
            subscription_type: st.plan,
        };
        // A few duplicated rows: the user later upgraded; the later row carries the new plan.
        if rng.random::<f64>() < 0.004 {
            meta.push(row.clone());
            meta.push(SampleUser {
                subscription_type: PLANS[1],
                ..row
            });
        } else {
            meta.push(row);
        }
    }
    meta
}

/// Convenience: generate the whole dataset into memory (for tests and the built-in sample).
pub fn generate_vec(cfg: &SampleConfig) -> (Vec<SampleEvent>, Vec<SampleUser>) {
    let mut events = Vec::new();
    let meta = generate(cfg, |e| events.push(*e));
    (events, meta)
}

fn version_on(day_offset: i32) -> &'static str {
    RELEASES
        .iter()
        .rev()
        .find(|(_, d)| *d <= day_offset)
        .map(|(v, _)| *v)
        .unwrap_or(RELEASES[0].0)
}

fn sample_duration(rng: &mut Pcg64Mcg, action: &str, slow: f64) -> Option<i64> {
    let x = rng.random::<f64>();
    if x < 0.005 {
        return None;
    }
    if x < 0.0055 {
        // Absurd: the app was left open for days.
        return Some(rng.random_range(100_000_000..5_000_000_000));
    }
    if x < 0.0057 {
        return Some(-rng.random_range(1..5_000));
    }
    let median_ms = match action {
        "page_view" => 15_000.0,
        "edit" => 45_000.0,
        "create" => 30_000.0,
        "search" => 5_000.0,
        "comment" => 20_000.0,
        "share" => 3_000.0,
        _ => 2_000.0,
    };
    Some((median_ms * slow * normal(rng, 0.0, 0.9).exp()).round() as i64)
}

fn pick_weighted(rng: &mut Pcg64Mcg, items: &[(&'static str, u32)]) -> &'static str {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (name, w) in items {
        if x < *w {
            return name;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

fn pick_country(rng: &mut Pcg64Mcg) -> (&'static str, i32) {
    let total: u32 = COUNTRIES.iter().map(|c| c.2).sum();
    let mut x = rng.random_range(0..total);
    for (name, tz, w) in COUNTRIES {
        if x < w {
            return (name, tz);
        }
        x -= w;
    }
    (COUNTRIES[0].0, COUNTRIES[0].1)
}

fn normal(rng: &mut Pcg64Mcg, mean: f64, sd: f64) -> f64 {
    // Box–Muller.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    mean + sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn poisson(rng: &mut Pcg64Mcg, lambda: f64) -> u32 {
    // Knuth's method; lambda is small (< 10) here.
    let l = (-lambda).exp();
    let mut k = 0;
    let mut p = 1.0;
    loop {
        p *= rng.random::<f64>();
        if p <= l || k > 60 {
            return k;
        }
        k += 1;
    }
}

fn geometric(rng: &mut Pcg64Mcg, p: f64) -> u32 {
    let u = 1.0 - rng.random::<f64>();
    (u.ln() / (1.0 - p).ln()).floor() as u32
}

// ---------------------------------------------------------------------------------------------
// Writers: the sample as the canonical files (`pulse gen`), streamed so 10M events never sit in
// memory at once — one row group's worth of Arrow builders at a time.
//
// Canonical columns: events `user_id` (string, [`user_key`]), `timestamp` (timestamp ms, UTC),
// `action_type`, `page_id` ([`page_key`], nullable), `duration_ms` (int64, nullable),
// `app_version`; metadata `user_id`, `join_date` (date32), `country`, `device_type`,
// `subscription_type`.

/// Default rows per Parquet row group for written samples (~1–2 MB per group compressed).
pub const DEFAULT_ROW_GROUP_ROWS: usize = 131_072;

fn write_err(e: impl std::fmt::Display) -> IngestError {
    IngestError::WriteFailed {
        detail: e.to_string(),
    }
}

fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("action_type", DataType::Utf8, false),
        Field::new("page_id", DataType::Utf8, true),
        Field::new("duration_ms", DataType::Int64, true),
        Field::new("app_version", DataType::Utf8, false),
    ]))
}

/// Column builders for one row group of events.
struct EventBatch {
    user: StringBuilder,
    time: TimestampMillisecondBuilder,
    action: StringBuilder,
    page: StringBuilder,
    duration: Int64Builder,
    version: StringBuilder,
    rows: usize,
}

impl EventBatch {
    fn new(rows: usize) -> Self {
        EventBatch {
            user: StringBuilder::with_capacity(rows, rows * 7),
            time: TimestampMillisecondBuilder::with_capacity(rows).with_timezone("UTC"),
            action: StringBuilder::with_capacity(rows, rows * 8),
            page: StringBuilder::with_capacity(rows, rows * 6),
            duration: Int64Builder::with_capacity(rows),
            version: StringBuilder::with_capacity(rows, rows * 5),
            rows: 0,
        }
    }

    fn push(&mut self, e: &SampleEvent) {
        self.user.append_value(user_key(e.user));
        self.time.append_value(e.time_ms);
        self.action.append_value(e.action);
        self.page.append_option(e.page.map(page_key));
        self.duration.append_option(e.duration_ms);
        self.version.append_value(e.app_version);
        self.rows += 1;
    }

    fn finish(&mut self, schema: &SchemaRef) -> Result<RecordBatch, IngestError> {
        self.rows = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.user.finish()),
            Arc::new(self.time.finish()),
            Arc::new(self.action.finish()),
            Arc::new(self.page.finish()),
            Arc::new(self.duration.finish()),
            Arc::new(self.version.finish()),
        ];
        RecordBatch::try_new(schema.clone(), columns).map_err(write_err)
    }
}

/// Stream the generated events into a Parquet file, closing a row group every
/// `row_group_rows` events (0 → [`DEFAULT_ROW_GROUP_ROWS`]). Returns the number of events and
/// the metadata rows (write those with [`write_metadata_parquet`] / [`write_metadata_csv`]).
pub fn write_events_parquet<W: Write + Send>(
    cfg: &SampleConfig,
    writer: W,
    compression: Compression,
    row_group_rows: usize,
) -> Result<(u64, Vec<SampleUser>), IngestError> {
    let rg = if row_group_rows == 0 {
        DEFAULT_ROW_GROUP_ROWS
    } else {
        row_group_rows
    };
    let schema = events_schema();
    let props = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(rg))
        .build();
    let mut w = ArrowWriter::try_new(writer, schema.clone(), Some(props)).map_err(write_err)?;
    let mut batch = EventBatch::new(rg);
    let mut failed: Option<IngestError> = None;
    let mut count = 0u64;
    let meta = generate(cfg, |e| {
        if failed.is_some() {
            return;
        }
        batch.push(e);
        count += 1;
        if batch.rows == rg {
            let r = batch
                .finish(&schema)
                .and_then(|b| w.write(&b).map_err(write_err))
                .and_then(|_| w.flush().map_err(write_err));
            if let Err(e) = r {
                failed = Some(e);
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    if batch.rows > 0 {
        let b = batch.finish(&schema)?;
        w.write(&b).map_err(write_err)?;
    }
    w.close().map_err(write_err)?;
    Ok((count, meta))
}

/// Metadata rows as Parquet (one row group).
pub fn write_metadata_parquet<W: Write + Send>(
    users: &[SampleUser],
    writer: W,
    compression: Compression,
) -> Result<(), IngestError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("join_date", DataType::Date32, false),
        Field::new("country", DataType::Utf8, false),
        Field::new("device_type", DataType::Utf8, false),
        Field::new("subscription_type", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            users.iter().map(|u| user_key(u.user)),
        )),
        Arc::new(Date32Array::from_iter_values(
            users.iter().map(|u| u.join_day),
        )),
        Arc::new(StringArray::from_iter_values(
            users.iter().map(|u| u.country),
        )),
        Arc::new(StringArray::from_iter_values(
            users.iter().map(|u| u.device_type),
        )),
        Arc::new(StringArray::from_iter_values(
            users.iter().map(|u| u.subscription_type),
        )),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(write_err)?;
    let props = WriterProperties::builder()
        .set_compression(compression)
        .build();
    let mut w = ArrowWriter::try_new(writer, schema, Some(props)).map_err(write_err)?;
    w.write(&batch).map_err(write_err)?;
    w.close().map_err(write_err)?;
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in UTC (no zone suffix: Pulse reads zone-less times as UTC).
fn format_utc_ms(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        None => ms.to_string(),
    }
}

/// `YYYY-MM-DD` of a day number.
fn format_day(day: i32) -> String {
    format_utc_ms(day as i64 * DAY_MS)
        .get(..10)
        .unwrap_or_default()
        .to_string()
}

/// Stream the generated events as CSV with a header (`duration_ms` and `page_id` empty when
/// null). Returns the number of events and the metadata rows.
pub fn write_events_csv<W: Write>(
    cfg: &SampleConfig,
    writer: W,
) -> Result<(u64, Vec<SampleUser>), IngestError> {
    let mut w = csv::Writer::from_writer(writer);
    w.write_record([
        "user_id",
        "timestamp",
        "action_type",
        "page_id",
        "duration_ms",
        "app_version",
    ])
    .map_err(write_err)?;
    let mut failed: Option<IngestError> = None;
    let mut count = 0u64;
    let meta = generate(cfg, |e| {
        if failed.is_some() {
            return;
        }
        count += 1;
        let r = w.write_record([
            user_key(e.user),
            format_utc_ms(e.time_ms),
            e.action.to_string(),
            e.page.map(page_key).unwrap_or_default(),
            e.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
            e.app_version.to_string(),
        ]);
        if let Err(e) = r {
            failed = Some(write_err(e));
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    w.flush().map_err(write_err)?;
    Ok((count, meta))
}

/// Metadata rows as CSV with a header.
pub fn write_metadata_csv<W: Write>(users: &[SampleUser], writer: W) -> Result<(), IngestError> {
    let mut w = csv::Writer::from_writer(writer);
    w.write_record([
        "user_id",
        "join_date",
        "country",
        "device_type",
        "subscription_type",
    ])
    .map_err(write_err)?;
    for u in users {
        w.write_record([
            user_key(u.user),
            format_day(u.join_day),
            u.country.to_string(),
            u.device_type.to_string(),
            u.subscription_type.to_string(),
        ])
        .map_err(write_err)?;
    }
    w.flush().map_err(write_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parquet_writer_round_trips_through_the_loader() {
        use crate::engine::ingest::{load_events_auto, load_metadata, InputFile, LoadOptions};
        let cfg = SampleConfig {
            users: 60,
            days: 40,
            ..SampleConfig::default()
        };
        let (events, meta) = generate_vec(&cfg);
        let mut buf = Vec::new();
        let (n, meta_w) = write_events_parquet(&cfg, &mut buf, Compression::SNAPPY, 1000).unwrap();
        assert_eq!(n as usize, events.len());
        assert_eq!(meta_w, meta);
        let files = [InputFile::new("sample.parquet", buf)];
        let s = crate::engine::ingest::inspect(&files).unwrap();
        assert_eq!(s.rows as usize, events.len());
        assert_eq!(s.row_groups as usize, events.len().div_ceil(1000));
        let l = load_events_auto(&files, &LoadOptions::default(), &mut |_| {}).unwrap();
        assert_eq!(l.store.len(), events.len());
        let nulls = events.iter().filter(|e| e.duration_ms.is_none()).count() as u64;
        assert_eq!(l.quality.nulls[4].nulls, nulls);
        let min = events.iter().map(|e| e.time_ms).min();
        assert_eq!(l.quality.first_time_ms, min);

        let mut csv_buf = Vec::new();
        let (n_csv, _) = write_events_csv(&cfg, &mut csv_buf).unwrap();
        assert_eq!(n_csv, n);
        let c = load_events_auto(
            &[InputFile::new("s.csv", csv_buf)],
            &LoadOptions::default(),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(c.store, l.store, "CSV and Parquet load to the same store");

        let mut mbuf = Vec::new();
        write_metadata_parquet(&meta, &mut mbuf, Compression::ZSTD(Default::default())).unwrap();
        let m = load_metadata(
            &[InputFile::new("m.parquet", mbuf)],
            None,
            &LoadOptions::default(),
            &mut |_| {},
        )
        .unwrap();
        let mut mcsv = Vec::new();
        write_metadata_csv(&meta, &mut mcsv).unwrap();
        let mc = load_metadata(
            &[InputFile::new("m.csv", mcsv)],
            None,
            &LoadOptions::default(),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(m.table, mc.table);
        assert_eq!(m.quality.rows_read as usize, meta.len());
        assert_eq!(
            m.table.len() as u64,
            m.quality.rows_read - m.quality.duplicate_rows
        );
    }

    #[test]
    fn deterministic_and_shaped() {
        let cfg = SampleConfig::default();
        let (a, meta) = generate_vec(&cfg);
        let (b, _) = generate_vec(&cfg);
        assert_eq!(a, b, "same seed, same data");
        assert!(a.len() > 150_000 && a.len() < 400_000, "{} events", a.len());
        // Within the year.
        let start = DEFAULT_START_DAY as i64 * DAY_MS;
        let end = start + 366 * DAY_MS;
        assert!(a
            .iter()
            .all(|e| e.time_ms >= start - DAY_MS && e.time_ms < end + DAY_MS));
        // Bots are the heaviest users.
        let mut per_user = std::collections::HashMap::<u32, usize>::new();
        for e in &a {
            *per_user.entry(e.user).or_default() += 1;
        }
        let mut counts: Vec<(usize, u32)> = per_user.iter().map(|(u, c)| (*c, *u)).collect();
        counts.sort_unstable_by(|x, y| y.cmp(x));
        assert!(counts[..3].iter().all(|(_, u)| *u >= cfg.users));
        // Dirt is present.
        assert!(a.iter().any(|e| e.duration_ms.is_none()));
        assert!(a.iter().any(|e| e.duration_ms.is_some_and(|d| d < 0)));
        assert!(a
            .iter()
            .any(|e| e.duration_ms.is_some_and(|d| d > 36_000_000)));
        // Metadata: most users, some duplicates.
        assert!(meta.len() > cfg.users as usize * 9 / 10);
    }

    #[test]
    fn weekends_are_quieter() {
        let (events, _) = generate_vec(&SampleConfig::default());
        let mut by_weekday = [0usize; 7];
        for e in &events {
            let day = e.time_ms.div_euclid(DAY_MS);
            by_weekday[((day + 3).rem_euclid(7)) as usize] += 1;
        }
        assert!(by_weekday[6] < by_weekday[2], "{by_weekday:?}");
    }
}
