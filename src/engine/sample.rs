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

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(a.iter().all(|e| e.time_ms >= start - DAY_MS && e.time_ms < end + DAY_MS));
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
        assert!(a.iter().any(|e| e.duration_ms.is_some_and(|d| d > 36_000_000)));
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
