//! Hand-checked boundary cases for `compute`: tiny stores where every expected number is
//! worked out in the comments.

use pulse::engine::join::metadata_from_sample;
use pulse::engine::params::Date;
use pulse::engine::sample::SampleUser;
use pulse::engine::{
    compute, DurationMs, EventStore, MetricsError, MetricsReport, Params, StoreBuilder, UserKeyRef,
};

const MIN: i64 = 60_000;

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("timestamp")
        .timestamp_millis()
}

fn day(iso: &str) -> Date {
    Date::parse_iso(iso).expect("date")
}

/// Rows: (user, time, action, page).
fn store(rows: &[(&str, i64, &str, Option<&str>)]) -> EventStore {
    let mut b = StoreBuilder::default();
    for &(u, t, a, p) in rows {
        b.push(UserKeyRef::Str(u), t, Some(a), p, DurationMs(1_000), None)
            .expect("push");
    }
    b.finish()
}

fn run(s: &EventStore, q: &str) -> MetricsReport {
    let (p, issues, _) = Params::from_query(q);
    assert!(issues.is_empty(), "{issues:?}");
    compute(s, None, &p).expect("compute")
}

fn at(r: &MetricsReport, series: &[u64], iso: &str) -> u64 {
    let i = r
        .axis
        .dates
        .iter()
        .position(|d| *d == day(iso))
        .expect("date on the axis");
    series[i]
}

#[test]
fn gap_exactly_g_starts_a_new_session() {
    let t0 = ms("2023-05-01T10:00:00Z");
    let s = store(&[("a", t0, "edit", None), ("a", t0 + 30 * MIN, "edit", None)]);
    assert_eq!(run(&s, "").sessions.count, 2);
    let s = store(&[
        ("a", t0, "edit", None),
        ("a", t0 + 30 * MIN - 1, "edit", None),
    ]);
    let r = run(&s, "");
    assert_eq!(r.sessions.count, 1);
    assert_eq!(r.sessions.duration.before.max_ms, Some(30 * MIN - 1));
}

#[test]
fn ties_in_time_are_one_session_and_one_day() {
    let t0 = ms("2023-05-01T23:59:59.999Z");
    let s = store(&[
        ("a", t0, "edit", None),
        ("a", t0, "create", None),
        ("a", t0, "edit", None),
    ]);
    let r = run(&s, "midnight=1&gap=1m");
    assert_eq!(r.sessions.count, 1);
    assert_eq!(r.events_per_day, vec![3]);
    assert_eq!(r.sessions.events_per_session.frequencies, vec![(3, 1)]);
}

#[test]
fn midnight_in_the_chosen_zone() {
    // 23:59:59.999 and 00:00 Berlin time (CEST, UTC+2) on 1/2 June 2023.
    let a = ms("2023-06-01T23:59:59.999+02:00");
    let b = ms("2023-06-02T00:00:00+02:00");
    let s = store(&[("u", a, "edit", None), ("u", b, "edit", None)]);
    let r = run(&s, "tz=Europe%2FBerlin");
    assert_eq!(r.axis.dates, vec![day("2023-06-01"), day("2023-06-02")]);
    assert_eq!(r.activity.dau, vec![1, 1]);
    assert_eq!(r.sessions.count, 1, "1 ms apart: one session");
    assert_eq!(run(&s, "tz=Europe%2FBerlin&midnight=1").sessions.count, 2);
    // In UTC both are on 1 June (21:59:59.999 and 22:00).
    let r = run(&s, "");
    assert_eq!(r.axis.dates, vec![day("2023-06-01")]);
    assert_eq!(r.activity.dau, vec![1]);
    assert_eq!(run(&s, "midnight=1").sessions.count, 1);
}

#[test]
fn dst_days_are_neither_duplicated_nor_missing() {
    // New York, fall back on 5 Nov 2023: 01:30 EDT and 01:30 EST are both 5 Nov.
    let s = store(&[
        ("a", ms("2023-11-05T01:30:00-04:00"), "edit", None),
        ("b", ms("2023-11-05T01:30:00-05:00"), "edit", None),
        ("a", ms("2023-11-05T23:30:00-05:00"), "edit", None),
        ("c", ms("2023-11-06T00:00:00-05:00"), "edit", None),
        // Spring forward on 12 Mar 2023: 03:30 EDT exists, the day has 23 hours.
        ("c", ms("2023-03-12T03:30:00-04:00"), "edit", None),
        ("c", ms("2023-03-12T23:59:00-04:00"), "edit", None),
    ]);
    let r = run(&s, "tz=America%2FNew_York");
    assert_eq!(r.axis.first, Some(day("2023-03-12")));
    assert_eq!(r.axis.last, Some(day("2023-11-06")));
    // Exactly one entry per calendar date.
    assert_eq!(r.axis.dates.len(), 240);
    assert_eq!(at(&r, &r.activity.dau, "2023-11-05"), 2);
    assert_eq!(at(&r, &r.events_per_day, "2023-11-05"), 3);
    assert_eq!(at(&r, &r.activity.dau, "2023-11-06"), 1);
    assert_eq!(at(&r, &r.events_per_day, "2023-03-12"), 2);
}

#[test]
fn trailing_window_edges() {
    // Core, K = 2: creates on 1 May and 7 May are in one 7-day window (7 May: 1..7 May);
    // on 1 May and 8 May they are not.
    let d1 = ms("2023-05-01T12:00:00Z");
    let s = store(&[
        ("a", d1, "create", None),
        ("a", d1 + 6 * 86_400_000, "create", None),
    ]);
    let r = run(&s, "def=core&k=2");
    assert_eq!(r.activity.dau, vec![0, 0, 0, 0, 0, 0, 1]);
    let s = store(&[
        ("a", d1, "create", None),
        ("a", d1 + 7 * 86_400_000, "create", None),
    ]);
    let r = run(&s, "def=core&k=2");
    assert_eq!(r.activity.dau.iter().sum::<u64>(), 0);
    // WAU includes d − 6 and excludes d − 7: one active day on 1 May.
    let s = store(&[
        ("a", d1, "edit", None),
        ("b", d1 + 9 * 86_400_000, "edit", None),
    ]);
    let r = run(&s, "mau=8");
    assert_eq!(r.activity.wau, vec![1, 1, 1, 1, 1, 1, 1, 0, 0, 1]);
    assert_eq!(r.activity.mau, vec![1, 1, 1, 1, 1, 1, 1, 1, 0, 1]);
    assert_eq!(r.activity.l7.counts, vec![1, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn strict_core_needs_the_same_page_next() {
    let t = ms("2023-05-01T12:00:00Z");
    let s = store(&[
        ("a", t, "create", Some("p1")),
        ("a", t + MIN, "page_view", Some("p1")), // counts
        ("a", t + 2 * MIN, "create", Some("p2")),
        ("a", t + 3 * MIN, "page_view", Some("p9")), // other page: no
        ("a", t + 4 * MIN, "create", Some("p3")),
        ("a", t + 40 * MIN, "page_view", Some("p3")), // next session: no
    ]);
    assert_eq!(run(&s, "def=core&k=1&strict=1").activity.dau, vec![1]);
    assert_eq!(run(&s, "def=core&k=2&strict=1").activity.dau, vec![0]);
    assert_eq!(run(&s, "def=core&k=3").activity.dau, vec![1]);
}

#[test]
fn session_definition_needs_strictly_longer_than_m() {
    let t = ms("2023-05-01T12:00:00Z");
    let exactly = store(&[("a", t, "edit", None), ("a", t + 2 * MIN, "edit", None)]);
    assert_eq!(
        run(&exactly, "def=session&minsess=2m").activity.dau,
        vec![0]
    );
    let longer = store(&[("a", t, "edit", None), ("a", t + 2 * MIN + 1, "edit", None)]);
    assert_eq!(run(&longer, "def=session&minsess=2m").activity.dau, vec![1]);
}

#[test]
fn inactive_actions_never_count() {
    let t = ms("2023-05-01T12:00:00Z");
    let s = store(&[
        ("a", t, "notification_received", None),
        ("a", t + 5 * MIN, "notification_received", None),
        ("b", t, "create", None),
    ]);
    let r = run(&s, "");
    assert_eq!(r.activity.dau, vec![1]);
    assert_eq!(r.sessions.count, 2, "inactive events still form sessions");
    assert_eq!(run(&s, "inactive=").activity.dau, vec![2]);
    assert_eq!(
        run(&s, "def=core&k=1&core=create,notification_received")
            .activity
            .dau,
        vec![1]
    );
    assert_eq!(run(&s, "actions=create").activity.dau, vec![1]);
    assert_eq!(run(&s, "actions=edit").activity.dau, vec![0]);
}

#[test]
fn max_length_split() {
    let t = ms("2023-05-01T00:00:00Z");
    let rows: Vec<(&str, i64, &str, Option<&str>)> = (0..10)
        .map(|i| ("a", t + i * 20 * MIN, "edit", None))
        .collect();
    let s = store(&rows);
    assert_eq!(run(&s, "maxlen=1h").sessions.count, 3);
    assert_eq!(run(&s, "maxlen=off").sessions.count, 1);
    assert_eq!(run(&s, "").sessions.count, 1);
}

#[test]
fn duplicate_policy() {
    let t = ms("2023-05-01T12:00:00Z");
    let mut s = store(&[
        ("a", t, "edit", None),
        ("a", t, "edit", None),
        ("a", t + MIN, "edit", None),
    ]);
    s.duplicate_rows = vec![1];
    assert_eq!(run(&s, "").input.events, 3);
    let r = run(&s, "dups=drop");
    assert_eq!(r.input.events, 2);
    assert_eq!(r.input.duplicates_dropped, 1);
    assert_eq!(r.sessions.events_per_session.frequencies, vec![(2, 1)]);
}

#[test]
fn date_range_filters_events() {
    let t = ms("2023-05-01T12:00:00Z");
    let s = store(&[
        ("a", t, "edit", None),
        ("b", t + 86_400_000, "edit", None),
        ("c", t + 2 * 86_400_000, "edit", None),
    ]);
    let r = run(&s, "from=2023-05-02&to=2023-05-04");
    assert_eq!(r.axis.dates.len(), 3);
    assert_eq!(r.activity.dau, vec![1, 1, 0]);
    assert_eq!(r.input.outside_date_range, 1);
    assert_eq!(r.skew.users, 2);
}

#[test]
fn segments_filter_and_errors() {
    let t = ms("2023-05-01T12:00:00Z");
    let s = store(&[
        ("u000000", t, "edit", None),
        ("u000001", t, "create", None),
        ("u000002", t, "edit", None),
    ]);
    let meta = metadata_from_sample(&[
        SampleUser {
            user: 0,
            join_day: 19_000,
            country: "US",
            device_type: "ios",
            subscription_type: "free",
        },
        SampleUser {
            user: 1,
            join_day: 19_100,
            country: "DE",
            device_type: "web",
            subscription_type: "free",
        },
    ]);
    let (p, _, _) = Params::from_query("seg=country&segv=US,DE");
    let r = compute(&s, Some(&meta), &p).expect("compute");
    assert_eq!(
        r.activity.dau,
        vec![2],
        "u000002 has no metadata and is filtered out"
    );
    let seg = r.segments.expect("segments");
    let labels: Vec<&str> = seg.segments.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, vec!["DE", "US"]);
    let join = r.join.expect("join");
    assert_eq!(join.users_without_metadata, 1);
    // Per-event segment: an action-type breakdown.
    let (p, _, _) = Params::from_query("seg=action_type");
    let r = compute(&s, None, &p).expect("compute");
    let seg = r.segments.expect("segments");
    assert_eq!(seg.segments[0].label, "edit");
    assert_eq!(seg.segments[0].dau, vec![2]);
    assert_eq!(seg.segments[1].dau, vec![1]);
    // Errors.
    let (p, _, _) = Params::from_query("seg=country");
    assert!(matches!(
        compute(&s, None, &p),
        Err(MetricsError::SegmentNeedsMetadata { .. })
    ));
    let (p, _, _) = Params::from_query("seg=planet");
    assert!(matches!(
        compute(&s, Some(&meta), &p),
        Err(MetricsError::UnknownSegmentColumn { .. })
    ));
    let p = Params {
        time_zone: "Mars/Base".into(),
        ..Params::default()
    };
    assert!(matches!(
        compute(&s, None, &p),
        Err(MetricsError::UnknownTimeZone(_))
    ));
    let p = Params {
        session_gap_mins: 0,
        ..Params::default()
    };
    assert!(matches!(
        compute(&s, None, &p),
        Err(MetricsError::InvalidParam { .. })
    ));
}

#[test]
fn absurd_range_is_an_error_not_a_panic() {
    let s = store(&[
        ("a", 0, "edit", None),
        ("a", ms("2200-01-01T00:00:00Z"), "edit", None),
    ]);
    assert!(matches!(
        compute(&s, None, &Params::default()),
        Err(MetricsError::RangeTooLong { .. })
    ));
    // A date range makes it computable.
    let r = run(&s, "from=2023-01-01&to=2023-01-31");
    assert_eq!(r.input.events, 0);
    assert_eq!(r.axis.dates.len(), 31);
}

#[test]
fn empty_store_and_json_round_trip() {
    let r = run(&EventStore::default(), "");
    assert!(r.axis.dates.is_empty());
    assert_eq!(r.sessions.count, 0);
    let t = ms("2023-05-01T12:00:00Z");
    let s = store(&[("a", t, "edit", None), ("b", t + 3 * MIN, "create", None)]);
    for q in [
        "",
        "seg=action_type&outlier=mad&policy=flag",
        "def=custom&minsess=0m",
    ] {
        let r = run(&s, q);
        let json = serde_json::to_string(&r).expect("json");
        let back: MetricsReport = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, r);
    }
}
