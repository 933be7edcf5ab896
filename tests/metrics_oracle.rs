//! Differential test: the engine's metrics must equal, exactly, what an independent DuckDB SQL
//! oracle (`tests/oracle/metrics_oracle.py`) computes from the same data written as CSV.
//!
//! Data: the seeded sample generator, two seeds, each clean (no bad durations, de-duplicated
//! metadata) and dirty (as generated, plus injected exact duplicates, ties in time, events at
//! local midnights and across the 2023 DST changes, a notification-only user and a user without
//! metadata). Params: several gaps, K, M, definitions, time zones (New York and Berlin have DST),
//! a date range, the midnight split, the max-length split, the duplicate-drop policy, and the
//! cap, percentile, z-score and median-MAD outlier detectors with their policies.
//!
//! Needs `python3` with the `duckdb` package (`pip install duckdb`); the test fails, not skips,
//! without it.

use std::path::{Path, PathBuf};
use std::process::Command;

use pulse::engine::join::metadata_from_sample;
use pulse::engine::params::Date;
use pulse::engine::sample::{self, SampleConfig, SampleEvent, SampleUser};
use pulse::engine::{
    compute, DurationMs, EventStore, MetadataTable, MetricsReport, Params, StoreBuilder, UserKeyRef,
};
use serde_json::Value;

const HOUR: i64 = 3_600_000;

/// Parameter sets (permalink query strings). `seg=country` is always on so per-country DAU is
/// compared too.
const CASES: &[&str] = &[
    "seg=country&topn=50&power=5&vtop=100",
    "tz=America%2FNew_York&gap=5m&def=core&k=2&mau=28&wstart=sun&seg=country&topn=50",
    "tz=America%2FNew_York&gap=10m&def=session&minsess=2m&midnight=1&seg=country&topn=50",
    "tz=Europe%2FBerlin&gap=1h&def=core&k=1&strict=1&from=2023-03-01&to=2023-11-15&seg=country&topn=50",
    "def=custom&actions=create,edit&cmin=3&win=14&minsess=5m&outlier=pct&pct=95&policy=cap&seg=country&topn=50&rspan=8&power=10",
    "tz=America%2FNew_York&def=session&minsess=30m&gap=45m&maxlen=off&outlier=cap&cap=1h&policy=filter&dups=drop&wstart=wed&seg=country&topn=50",
    "gap=1m&inactive=&def=minimal&actions=page_view&mau=7&outlier=pct&pct=90&policy=filter&dups=drop&seg=country&topn=50",
    // Max-length split (greedy, 1 h) with the session definition; z-score and median-MAD
    // detectors on events and sessions.
    "gap=2h&maxlen=1h&def=session&minsess=10m&outlier=z&z=2&policy=cap&seg=country&topn=50",
    "tz=Europe%2FBerlin&gap=45m&maxlen=30m&midnight=1&def=core&k=1&strict=1&outlier=mad&z=3&policy=filter&seg=country&topn=50",
    "gap=3h&maxlen=45m&outlier=z&z=1.5&policy=filter&power=10&seg=country&topn=50",
];

fn small_config(seed: u64) -> SampleConfig {
    SampleConfig {
        seed,
        users: 150,
        bots: 1,
        bot_events_per_day: 30,
        ..SampleConfig::default()
    }
}

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("test timestamp")
        .timestamp_millis()
}

/// Events and metadata rows for one dataset variant.
fn dataset(seed: u64, dirty: bool) -> (Vec<SampleEvent>, Vec<SampleUser>) {
    let (mut events, mut meta) = sample::generate_vec(&small_config(seed));
    if !dirty {
        events.retain(|e| e.duration_ms.is_some_and(|d| (0..100_000_000).contains(&d)));
        // Last row wins, like the engine's join rule; keep the file order otherwise.
        let mut seen = std::collections::HashSet::new();
        let mut kept: Vec<SampleUser> = meta
            .iter()
            .rev()
            .filter(|r| seen.insert(r.user))
            .cloned()
            .collect();
        kept.reverse();
        meta = kept;
        return (events, meta);
    }
    // Exact duplicates and same-time ties.
    let extra: Vec<SampleEvent> = events
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 97 == 0)
        .map(|(i, e)| {
            let mut c = *e;
            if i % 2 == 0 {
                c.action = "share";
            }
            c
        })
        .collect();
    events.extend(extra);
    // Local midnights and DST changes (New York and Berlin, 2023), for two existing users.
    let stamps = [
        "2023-03-12T04:59:59.999Z", // 23:59:59.999 EST, 11 March
        "2023-03-12T05:00:00Z",     // midnight New York, the spring-forward day
        "2023-03-12T06:59:00Z",
        "2023-03-12T07:00:00Z", // 03:00 EDT
        "2023-11-05T04:00:00Z", // midnight EDT, the fall-back day
        "2023-11-05T05:30:00Z", // 01:30 EDT
        "2023-11-05T06:30:00Z", // 01:30 EST (the repeated hour)
        "2023-11-06T04:59:00Z", // 23:59 EST
        "2023-11-06T05:00:00Z", // midnight EST
        "2023-03-25T23:00:00Z", // midnight Berlin (CET), the spring-forward day
        "2023-03-26T01:30:00Z", // 03:30 CEST
        "2023-10-28T22:00:00Z", // midnight Berlin (CEST), the fall-back day
        "2023-10-29T00:30:00Z", // 02:30 CEST
        "2023-10-29T01:30:00Z", // 02:30 CET
        "2023-06-30T23:59:59.999Z",
        "2023-07-01T00:00:00Z",
    ];
    for (k, s) in stamps.iter().enumerate() {
        for user in [3u32, 4] {
            events.push(SampleEvent {
                user,
                time_ms: ms(s),
                action: if k % 3 == 0 { "create" } else { "page_view" },
                page: Some(7),
                duration_ms: Some(if k % 5 == 0 { 50_000_000 } else { 9_000 }),
                app_version: "2.2.0",
            });
        }
    }
    // A notification-only user and a user missing from the metadata.
    let ghost = 9_000;
    for d in 0..20 {
        events.push(SampleEvent {
            user: ghost,
            time_ms: ms("2023-05-01T12:00:00Z") + d * 7 * HOUR,
            action: sample::NOTIFICATION,
            page: None,
            duration_ms: None,
            app_version: "2.2.0",
        });
        events.push(SampleEvent {
            user: ghost + 1,
            time_ms: ms("2023-05-01T12:00:00Z") + d * 9 * HOUR,
            action: "edit",
            page: Some(1),
            duration_ms: Some(1_000 * d),
            app_version: "2.2.0",
        });
    }
    meta.push(SampleUser {
        user: ghost,
        join_day: 19_400,
        country: "DE",
        device_type: "ios",
        subscription_type: "free",
    });
    (events, meta)
}

fn build_store(events: &[SampleEvent]) -> EventStore {
    let mut b = StoreBuilder::with_capacity(events.len());
    for e in events {
        let page = e.page.map(sample::page_key);
        b.push(
            UserKeyRef::Str(&sample::user_key(e.user)),
            e.time_ms,
            Some(e.action),
            page.as_deref(),
            e.duration_ms
                .map_or(DurationMs::NULL, DurationMs::from_i64_clamped),
            Some(e.app_version),
        )
        .expect("push");
    }
    let mut store = b.finish();
    // What ingestion does: flag rows that exactly repeat an earlier row of the same user.
    let mut dups = Vec::new();
    for (_, rows) in store.users_with_rows() {
        for r in rows.clone().skip(1) {
            let same = |q: usize| {
                store.time_ms[q] == store.time_ms[r]
                    && store.action[q] == store.action[r]
                    && store.page[q] == store.page[r]
                    && store.duration_ms[q] == store.duration_ms[r]
                    && store.app_version[q] == store.app_version[r]
            };
            // Ties are adjacent; look back through rows with the same timestamp.
            let mut q = r;
            while q > rows.start && store.time_ms[q - 1] == store.time_ms[r] {
                q -= 1;
                if same(q) {
                    dups.push(r as u32);
                    break;
                }
            }
        }
    }
    store.duplicate_rows = dups;
    store
}

fn write_csvs(dir: &Path, store: &EventStore, meta_rows: &[SampleUser]) {
    use std::fmt::Write;
    let mut s = String::from("seq,user_id,ts_ms,action,page,duration_ms,app_version,dup\n");
    let mut dup_iter = store.duplicate_rows.iter().peekable();
    for (u, rows) in store.users_with_rows() {
        let key = store.users.get(u.0 as usize);
        for r in rows {
            let is_dup = dup_iter.peek().is_some_and(|&&d| d as usize == r);
            if is_dup {
                dup_iter.next();
            }
            let _ = writeln!(
                s,
                "{r},{key},{},{},{},{},{},{}",
                store.time_ms[r],
                store.actions.get(store.action[r] as usize),
                store.pages.get(store.page[r] as usize),
                store.duration_ms[r]
                    .get()
                    .map_or(String::new(), |d| d.to_string()),
                store.app_versions.get(store.app_version[r] as usize),
                u8::from(is_dup)
            );
        }
    }
    std::fs::write(dir.join("events.csv"), s).expect("write events.csv");
    let mut m = String::from("row,user_id,join_day,country,device_type,subscription_type\n");
    for (i, r) in meta_rows.iter().enumerate() {
        let _ = writeln!(
            m,
            "{i},{},{},{},{},{}",
            sample::user_key(r.user),
            r.join_day,
            r.country,
            r.device_type,
            r.subscription_type
        );
    }
    std::fs::write(dir.join("metadata.csv"), m).expect("write metadata.csv");
}

fn run_oracle(dir: &Path, params: &[Params]) -> Vec<Value> {
    let cases = dir.join("cases.json");
    std::fs::write(&cases, serde_json::to_string(params).expect("params json"))
        .expect("write cases");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/metrics_oracle.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(dir)
        .arg(&cases)
        .output()
        .expect("python3 must be installed to run the DuckDB oracle");
    assert!(
        out.status.success(),
        "oracle failed (is `pip install duckdb` done?):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("oracle JSON")
}

fn as_u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("u64"))
        .collect()
}

fn month_start(d: Date) -> i32 {
    use chrono::Datelike;
    let n = d.to_naive().expect("date");
    Date::from_naive(n.with_day(1).expect("first of month")).0
}

/// Compare one report with the oracle's answer; returns the list of mismatches.
fn compare(r: &MetricsReport, o: &Value, p: &Params) -> Vec<String> {
    let mut bad = Vec::new();
    let mut check = |what: &str, ok: bool, detail: String| {
        if !ok {
            bad.push(format!("{what}: {detail}"));
        }
    };
    let first = o["first_day"].as_i64().expect("first_day") as i32;
    check(
        "axis",
        r.axis.first == Some(Date(first))
            && r.axis.dates.len() as u64 == o["days"].as_u64().unwrap_or(0),
        format!(
            "engine {:?} + {} vs oracle {first} + {}",
            r.axis.first,
            r.axis.dates.len(),
            o["days"]
        ),
    );
    let series = |name: &str, mine: &[u64], theirs: &Value| -> Option<String> {
        let theirs = as_u64s(theirs);
        if mine == theirs.as_slice() {
            return None;
        }
        let i = mine
            .iter()
            .zip(&theirs)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        Some(format!(
            "{name} differs first at day {} ({}): engine {:?} vs oracle {:?} (len {} vs {})",
            i,
            Date(first + i as i32).iso(),
            mine.get(i),
            theirs.get(i),
            mine.len(),
            theirs.len()
        ))
    };
    for (name, mine, key) in [
        ("DAU", &r.activity.dau, "dau"),
        ("WAU", &r.activity.wau, "wau"),
        ("MAU", &r.activity.mau, "mau"),
        ("events per day", &r.events_per_day, "events_per_day"),
        ("sessions per day", &r.sessions.per_day, "sessions_per_day"),
    ] {
        if let Some(m) = series(name, mine, &o[key]) {
            check(name, false, m);
        }
    }
    let months: Vec<(i64, u64)> = r
        .activity
        .months
        .iter()
        .filter(|m| m.actives > 0)
        .map(|m| (month_start(m.start) as i64, m.actives))
        .collect();
    let o_months: Vec<(i64, u64)> = o["months"]
        .as_array()
        .expect("months")
        .iter()
        .map(|x| (x[0].as_i64().unwrap_or(0), x[1].as_u64().unwrap_or(0)))
        .collect();
    check(
        "calendar MAU",
        months == o_months,
        format!("{months:?} vs {o_months:?}"),
    );
    let ws = p.week_start as i64;
    let weeks: Vec<(i64, u64)> = r
        .activity
        .weeks
        .iter()
        .filter(|w| w.actives > 0)
        .map(|w| ((w.start.0 as i64 + 3 - ws + 7_000_000) / 7, w.actives))
        .collect();
    let o_weeks: Vec<(i64, u64)> = o["weeks"]
        .as_array()
        .expect("weeks")
        .iter()
        .map(|x| (x[0].as_i64().unwrap_or(0), x[1].as_u64().unwrap_or(0)))
        .collect();
    check(
        "calendar WAU",
        weeks == o_weeks,
        format!("{weeks:?} vs {o_weeks:?}"),
    );
    check(
        "ever active",
        Some(r.activity.ever_active) == o["ever_active"].as_u64(),
        format!("{} vs {}", r.activity.ever_active, o["ever_active"]),
    );
    check(
        "session count",
        Some(r.sessions.count) == o["sessions"].as_u64(),
        format!("{} vs {}", r.sessions.count, o["sessions"]),
    );
    for (name, rep, key) in [
        ("session duration", &r.sessions.duration, "session_duration"),
        ("event duration", &r.event_durations, "event_duration"),
    ] {
        let s = &rep.after;
        let ov = &o[key];
        let mine = serde_json::json!({
            "count": s.count, "sum_ms": s.sum_ms, "min_ms": s.min_ms, "max_ms": s.max_ms,
            "p50_ms": s.p50_ms, "p90_ms": s.p90_ms, "p95_ms": s.p95_ms, "p99_ms": s.p99_ms,
            "threshold_ms": rep.threshold_ms, "detected": rep.detected, "touched": rep.touched,
        });
        check(name, &mine == ov, format!("engine {mine} vs oracle {ov}"));
    }
    let wk = |d: i32| (d as i64 + 3 - ws + 7_000_000) / 7;
    if let Some(ret) = o.get("retention_weekly").and_then(|v| v.as_object()) {
        let mine: serde_json::Map<String, Value> = r
            .retention
            .cohorts
            .iter()
            .filter(|c| c.size > 0)
            .map(|c| {
                let key = wk(c.start.map_or(0, |d| d.0)).to_string();
                let v = serde_json::json!({"size": c.size, "retained": c.retained, "cumulative": c.cumulative});
                (key, v)
            })
            .collect();
        check(
            "weekly retention",
            &mine == ret,
            format!("engine {mine:?} vs oracle {ret:?}"),
        );
        let life: serde_json::Map<String, Value> = r
            .lifecycle
            .periods
            .iter()
            .filter(|x| x.new + x.returning + x.resurrecting + x.dormant > 0)
            .map(|x| {
                let key = wk(x.start.map_or(0, |d| d.0)).to_string();
                (
                    key,
                    serde_json::json!([x.new, x.returning, x.resurrecting, x.dormant]),
                )
            })
            .collect();
        let o_life = o["lifecycle_weekly"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        check(
            "weekly lifecycle",
            life == o_life,
            format!("engine {life:?} vs oracle {o_life:?}"),
        );
    }
    let pu = &r.power_users;
    for (name, rank, key) in [
        ("power users by duration", &pu.by_duration, "ms"),
        ("power users by active days", &pu.by_active_days, "days"),
    ] {
        let mine = serde_json::json!([rank.users, rank.top_total, rank.all_total]);
        check(
            name,
            mine == o["power"][key],
            format!("engine {mine} vs oracle {}", o["power"][key]),
        );
    }
    let o_v = o["versions"].as_object().expect("versions");
    let mut listed = 0;
    for g in r.versions.versions.iter().filter(|g| g.label != "other") {
        listed += 1;
        let mine = serde_json::json!([g.events, g.p50_ms, g.p95_ms, g.p99_ms]);
        check(
            "version percentiles",
            o_v.get(&g.label) == Some(&mine),
            format!(
                "{}: engine {mine} vs oracle {:?}",
                g.label,
                o_v.get(&g.label)
            ),
        );
    }
    check(
        "versions listed",
        listed == o_v.len().min(p.top_versions as usize),
        format!("{listed} vs {}", o_v.len()),
    );
    let segs = r.segments.as_ref().expect("seg=country breakdown");
    let o_c = o["country_dau"].as_object().expect("country_dau");
    for (label, dau) in o_c {
        match segs.segments.iter().find(|s| &s.label == label) {
            Some(s) => {
                if let Some(m) = series(&format!("DAU[{label}]"), &s.dau, dau) {
                    check("per-country DAU", false, m);
                }
            }
            None => check(
                "per-country DAU",
                false,
                format!("engine has no segment {label}"),
            ),
        }
    }
    // Per-country stickiness over time: the same ratios as the overall ones, bit for bit.
    let o_s = o["country_stickiness"]
        .as_object()
        .expect("country_stickiness");
    for (label, ratios) in o_s {
        let Some(s) = segs.segments.iter().find(|s| &s.label == label) else {
            continue; // reported above
        };
        for (name, mine) in [
            ("dau_mau", &s.dau_mau),
            ("dau_wau", &s.dau_wau),
            ("wau_mau", &s.wau_mau),
        ] {
            let theirs: Vec<Option<f64>> = ratios[name]
                .as_array()
                .expect("ratio series")
                .iter()
                .map(Value::as_f64)
                .collect();
            if mine != &theirs {
                let i = mine
                    .iter()
                    .zip(&theirs)
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                check(
                    "per-country stickiness",
                    false,
                    format!(
                        "{name}[{label}] differs first at day {i}: engine {:?} vs oracle {:?} (len {} vs {})",
                        mine.get(i),
                        theirs.get(i),
                        mine.len(),
                        theirs.len()
                    ),
                );
            }
        }
    }
    check(
        "segment labels",
        segs.segments.len() == o_c.len(),
        format!(
            "{:?} vs {:?}",
            segs.segments.iter().map(|s| &s.label).collect::<Vec<_>>(),
            o_c.keys().collect::<Vec<_>>()
        ),
    );
    bad
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pulse-oracle-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn params(q: &str) -> Params {
    let (p, issues, rest) = Params::from_query(q);
    assert!(
        issues.is_empty() && rest.is_empty(),
        "{q}: {issues:?} {rest:?}"
    );
    p
}

fn check_dataset(seed: u64, dirty: bool) {
    let (events, meta_rows) = dataset(seed, dirty);
    let store = build_store(&events);
    store.check_invariants().expect("store invariants");
    if dirty {
        assert!(
            !store.duplicate_rows.is_empty(),
            "the dirty data must contain duplicates"
        );
    }
    let meta: MetadataTable = metadata_from_sample(&meta_rows);
    let dir = temp_dir(&format!("{seed}-{dirty}"));
    write_csvs(&dir, &store, &meta_rows);
    let ps: Vec<Params> = CASES.iter().map(|q| params(q)).collect();
    let oracle = run_oracle(&dir, &ps);
    assert_eq!(oracle.len(), ps.len());
    let mut failures = Vec::new();
    for ((q, p), o) in CASES.iter().zip(&ps).zip(&oracle) {
        let r = compute(&store, Some(&meta), p).expect("compute");
        // The comparison must be about something.
        assert!(
            r.activity.dau.iter().sum::<u64>() > 0 && r.sessions.count > 0,
            "{q}: empty report"
        );
        for m in compare(&r, o, p) {
            failures.push(format!("[seed {seed}, dirty {dirty}] {q}\n    {m}"));
        }
        // The max-length and z/MAD cases must exercise what they are about: the split cuts
        // sessions, and the detectors find a threshold that the policy acts on.
        if q.contains("maxlen=") && !q.contains("maxlen=off") {
            let unsplit = Params {
                max_session_mins: None,
                ..p.clone()
            };
            let u = compute(&store, Some(&meta), &unsplit).expect("compute");
            assert!(
                u.sessions.count < r.sessions.count,
                "{q}: the max-length split cut no session"
            );
        }
        if q.contains("outlier=z") || q.contains("outlier=mad") {
            for rep in [&r.event_durations, &r.sessions.duration] {
                assert!(
                    rep.threshold_ms.is_some() && rep.touched > 0,
                    "{q}: {} threshold {:?}, touched {}",
                    rep.target,
                    rep.threshold_ms,
                    rep.touched
                );
            }
        }
    }
    // Sensitivity: a one-minute change of the gap must be visible to the comparison.
    let mut shifted = ps[1].clone();
    shifted.session_gap_mins += 1;
    let r = compute(&store, Some(&meta), &shifted).expect("compute");
    assert!(
        !compare(&r, &oracle[1], &ps[1]).is_empty(),
        "a different gap went unnoticed: the comparison cannot fail"
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn matches_duckdb_seed_1_clean() {
    check_dataset(1, false);
}

#[test]
fn matches_duckdb_seed_1_dirty() {
    check_dataset(1, true);
}

#[test]
fn matches_duckdb_seed_2_clean() {
    check_dataset(2, false);
}

#[test]
fn matches_duckdb_seed_2_dirty() {
    check_dataset(2, true);
}
