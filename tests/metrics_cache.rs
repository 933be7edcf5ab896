//! The memoised recompute ([`MetricsCache`]) must give exactly the report of a cold
//! [`compute`] after every knob change, whatever was cached before.

use pulse::engine::dataset::Dataset;
use pulse::engine::profile::NoClock;
use pulse::engine::sample::SampleConfig;
use pulse::engine::{compute, MetricsCache, MetricsReport, Params};

/// A walk through the knobs (76 steps): each step changes one or a few of them, so most steps reuse some
/// parts and replace others; some steps return to earlier settings.
const STEPS: &[&str] = &[
    "",
    "gap=10m",
    "gap=10m&def=core&k=2",
    "gap=10m&def=core&k=2&strict=1",
    "def=core&k=2&strict=1",
    "def=session&minsess=2m",
    "def=session&minsess=2m&midnight=1",
    "def=session&minsess=2m&midnight=1&maxlen=1h",
    "def=custom&cmin=2&win=14&minsess=0m",
    "def=custom&cmin=2&win=14&minsess=5m&seg=country",
    "seg=country",
    "seg=country&segv=US,DE",
    "seg=country&segv=US,DE&gap=5m",
    "seg=action_type",
    "seg=action_type&def=session",
    "seg=action_type&def=core&strict=1&topn=2",
    "seg=app_version&topn=3",
    "seg=app_version&segv=2.0.0",
    "outlier=pct&pct=95&policy=cap",
    "outlier=z&z=2&policy=filter",
    "outlier=mad&z=3&policy=cap&gap=10m",
    "outlier=cap&cap=1h&policy=flag",
    "tz=America%2FNew_York",
    "tz=America%2FNew_York&from=2023-03-01&to=2023-06-30",
    "tz=America%2FNew_York&from=2023-03-01&to=2023-06-30&dups=drop",
    "mau=28&wstart=sun&rgran=month&lgran=day",
    "cohort=join&rspan=4",
    "seg=join_month&topn=4",
    "seg=plan&segv=free",
    "rstart=create&rreturn=edit",
    "power=10&pseg=country&vtop=2&partitions=16&topk=3",
    "anomz=2&anomk=3",
    "actions=create,edit&inactive=",
    "",
    "gap=10m",
    // Session knobs on the same considered events: cut from the gap index.
    "gap=1m",
    "gap=24h",
    "gap=24h&maxlen=off",
    "gap=45m&maxlen=20m&midnight=1",
    "gap=45m&maxlen=20m&midnight=1&outlier=pct&pct=90&policy=filter",
    "gap=2h&maxlen=1h&def=session&minsess=10m",
    "gap=2h&maxlen=1h&def=core&strict=1&tz=Europe%2FBerlin",
    "gap=3h&maxlen=45m&tz=Europe%2FBerlin&midnight=1",
    "tz=Europe%2FBerlin&dups=drop&gap=20m",
    "tz=Europe%2FBerlin&dups=drop&gap=20m&maxlen=30m",
    // Versions change alone (durations cached), then sessions re-cut on the cached durations.
    "vtop=3",
    "vtop=3&gap=7m",
    "vtop=4&outlier=z&z=2&policy=cap",
    "vtop=5&outlier=z&z=2&policy=cap&gap=9m",
    "vtop=5&outlier=cap&cap=2h&policy=filter&gap=9m",
    // A per-event segment with the minimal definition accumulates its series in the bucket
    // pass: the MAU window and the week start are part of that part's key.
    "seg=action_type",
    "seg=action_type&mau=28",
    "seg=action_type&mau=28&wstart=sun",
    "seg=action_type&wstart=sun&gap=12m",
    "seg=app_version&wstart=sun&mau=7&segv=2.0.0",
    // Time zones without a date range: the same events (durations sorted once), other days.
    "",
    "tz=Asia%2FTokyo",
    "tz=Asia%2FTokyo&outlier=pct&pct=95&policy=filter",
    "tz=America%2FNew_York&outlier=pct&pct=95&policy=filter",
    "tz=America%2FNew_York&outlier=pct&pct=95&policy=filter&dups=drop",
    "tz=Asia%2FTokyo&outlier=pct&pct=95&policy=filter&dups=drop&vtop=2",
    // Date ranges that cut through users' events, then the zone under a range.
    "from=2023-02-10&to=2023-02-20",
    "from=2023-02-10&to=2023-02-20&tz=Asia%2FTokyo",
    "from=2023-02-10&tz=Asia%2FTokyo",
    "to=2023-02-10&tz=Asia%2FTokyo",
    "to=2023-02-10",
    // Session cuts kept across zones (sessions per day counted again), then the midnight split,
    // whose cuts do depend on the zone, across zones and back.
    "gap=10m",
    "gap=10m&tz=Asia%2FTokyo",
    "gap=10m&tz=America%2FNew_York&def=session",
    "gap=10m&tz=America%2FNew_York&def=session&midnight=1",
    "gap=10m&tz=Asia%2FTokyo&def=session&midnight=1",
    "gap=10m&tz=Asia%2FTokyo&def=session",
    "gap=10m&def=session&seg=action_type",
    "gap=10m&tz=Europe%2FBerlin&def=session&seg=action_type",
    "gap=10m&tz=Europe%2FBerlin&midnight=1",
    "gap=15m&tz=Europe%2FBerlin",
];

/// The profile holds times and the capacity of reused buffers: everything else must be equal.
fn without_profile(mut r: MetricsReport) -> MetricsReport {
    r.profile = Default::default();
    r
}

#[test]
fn warm_recomputes_equal_cold_computes() {
    let ds = Dataset::sample(&SampleConfig::for_events(40_000, 7)).expect("sample");
    let mut cache = MetricsCache::new();
    let (mut side_thread_steps, mut early, mut late) = (0, 0, 0);
    for q in STEPS {
        let (p, issues, _) = Params::from_query(q);
        assert!(issues.is_empty(), "{q}: {issues:?}");
        let warm = cache
            .compute(&ds.events, ds.metadata.as_ref(), &p, &NoClock)
            .expect("warm");
        let cold = compute(&ds.events, ds.metadata.as_ref(), &p).expect("cold");
        // Natively a cold compute with the cap detector sorts the event durations on a second
        // thread: its profile has one stage more, the wait for that thread.
        let waits = |r: &MetricsReport| {
            r.profile
                .stages
                .iter()
                .filter(|s| s.detail.contains(SECOND_THREAD))
                .count()
        };
        side_thread_steps += waits(&cold);
        for (detail, n) in [
            ("from the store's rows", &mut early),
            ("from the considered rows", &mut late),
        ] {
            *n += cold
                .profile
                .stages
                .iter()
                .filter(|s| s.detail.contains(detail))
                .count();
        }
        assert_eq!(waits(&warm), 0);
        assert_eq!(
            warm.profile.stages.len(),
            cold.profile.stages.len() - waits(&cold)
        );
        assert!(
            without_profile(warm) == without_profile(cold),
            "warm != cold after {q:?}"
        );
    }
    // Most steps keep the default cap detector: their cold computes took the second thread.
    assert!(side_thread_steps >= STEPS.len() / 2, "{side_thread_steps}");
    // Without a date range, duplicates dropped or `segv`, the thread starts from the store's
    // rows before the considered pass; otherwise (`dups=drop` here) after it.
    assert_eq!(early + late, side_thread_steps);
    assert!(early > 0 && late > 0, "{early} {late}");
}

/// The profile detail of the wait for the second thread of a cold compute.
const SECOND_THREAD: &str = "(second thread: the wait for it)";

#[test]
fn a_new_dataset_is_not_served_from_the_cache() {
    let a = Dataset::sample(&SampleConfig::for_events(20_000, 1)).expect("sample");
    let b = Dataset::sample(&SampleConfig::for_events(20_000, 2)).expect("sample");
    let mut cache = MetricsCache::new();
    let p = Params::default();
    let ra = cache
        .compute(&a.events, a.metadata.as_ref(), &p, &NoClock)
        .expect("a");
    let rb = cache
        .compute(&b.events, b.metadata.as_ref(), &p, &NoClock)
        .expect("b");
    let cb = compute(&b.events, b.metadata.as_ref(), &p).expect("b");
    assert!(without_profile(rb.clone()) == without_profile(cb));
    assert_ne!(ra, rb);
    // Without metadata, then with it again.
    let rn = cache.compute(&a.events, None, &p, &NoClock).expect("a");
    assert!(without_profile(rn) == without_profile(compute(&a.events, None, &p).expect("a")));
    let ra2 = cache
        .compute(&a.events, a.metadata.as_ref(), &p, &NoClock)
        .expect("a");
    assert!(without_profile(ra) == without_profile(ra2));
}

#[test]
fn cached_parts_are_named_in_the_profile() {
    let ds = Dataset::sample(&SampleConfig::for_events(10_000, 3)).expect("sample");
    let mut cache = MetricsCache::new();
    let (p, _, _) = Params::from_query("gap=30m");
    let r = cache
        .compute(&ds.events, ds.metadata.as_ref(), &p, &NoClock)
        .expect("first");
    // The first cut codes the gaps for later session-knob changes.
    assert!(r
        .profile
        .stages
        .iter()
        .any(|s| s.detail == "session cuts (gap index built)"));
    let (p, _, _) = Params::from_query("gap=10m");
    let r = cache
        .compute(&ds.events, ds.metadata.as_ref(), &p, &NoClock)
        .expect("second");
    let detail = |what: &str| {
        r.profile
            .stages
            .iter()
            .find(|s| s.detail.starts_with(what))
            .map(|s| s.detail.clone())
            .unwrap_or_default()
    };
    assert!(detail("considered events").ends_with("(cached)"));
    assert!(detail("activity units").ends_with("(cached)"));
    assert_eq!(detail("session cuts"), "session cuts (from the gap index)");
    let (p, _, _) = Params::from_query("gap=5m&midnight=1");
    let r = cache
        .compute(&ds.events, ds.metadata.as_ref(), &p, &NoClock)
        .expect("third");
    assert!(r
        .profile
        .stages
        .iter()
        .any(|s| s.detail == "session cuts (from the gap index)"));
    let cold = compute(&ds.events, ds.metadata.as_ref(), &p).expect("cold");
    assert!(without_profile(r) == without_profile(cold));
}

#[test]
fn a_time_zone_change_keeps_the_event_duration_report() {
    let ds = Dataset::sample(&SampleConfig::for_events(10_000, 5)).expect("sample");
    let mut cache = MetricsCache::new();
    let detail = |r: &MetricsReport, what: &str| {
        r.profile
            .stages
            .iter()
            .find(|s| s.detail.starts_with(what))
            .map(|s| s.detail.clone())
            .unwrap_or_default()
    };
    let run = |cache: &mut MetricsCache, q: &str| {
        let (p, issues, _) = Params::from_query(q);
        assert!(issues.is_empty(), "{q}: {issues:?}");
        cache
            .compute(&ds.events, ds.metadata.as_ref(), &p, &NoClock)
            .expect("compute")
    };
    run(&mut cache, "");
    // Without a date range every event is considered in any zone: only the days change.
    let r = run(&mut cache, "tz=Asia%2FTokyo");
    assert_eq!(
        detail(&r, "event-duration outliers"),
        "event-duration outliers, app-version percentiles (cached)"
    );
    assert_eq!(detail(&r, "skew"), "skew (cached)");
    assert_eq!(
        detail(&r, "considered events"),
        "considered events, local days"
    );
    // The session cuts read times, not days: kept, and counted per (local) day again.
    assert_eq!(
        detail(&r, "session cuts"),
        "session cuts (cached), sessions per day counted again"
    );
    assert_eq!(
        detail(&r, "session-duration outliers"),
        "session-duration outliers, active time (cached)"
    );
    // The midnight split cuts by local day: a zone change then cuts again (from the gap index,
    // which codes no day, so it too outlives the zone change).
    run(&mut cache, "midnight=1");
    let r = run(&mut cache, "midnight=1&tz=America%2FNew_York");
    assert_eq!(
        detail(&r, "session cuts"),
        "session cuts (from the gap index)"
    );
    // Under a date range the zone moves the range's bounds: the durations are read again.
    // A range lists the considered rows: their gap index is derived from the store's.
    let r = run(&mut cache, "from=2023-02-10");
    assert_eq!(
        detail(&r, "session cuts"),
        "session cuts (gap index derived for the considered rows)"
    );
    let r = run(&mut cache, "from=2023-02-10&tz=Asia%2FTokyo");
    assert_eq!(
        detail(&r, "event-duration outliers"),
        "event-duration outliers, app-version percentiles (selected, not sorted)"
    );
}

/// The first compute over some considered rows selects the event-duration percentiles; the
/// second one that needs them (an outlier-knob change) sorts the durations, and later ones read
/// the sorted values. Every step equals a cold compute.
#[test]
fn durations_are_sorted_when_a_second_compute_needs_them() {
    let ds = Dataset::sample(&SampleConfig::for_events(20_000, 3)).expect("sample");
    let mut cache = MetricsCache::new();
    let steps = [
        (
            "",
            "event-duration outliers, app-version percentiles (selected, not sorted)",
        ),
        (
            "outlier=pct&pct=95",
            "event-duration outliers, app-version percentiles",
        ),
        (
            "outlier=mad&policy=filter",
            "event-duration outliers, app-version percentiles (durations sorted earlier)",
        ),
        (
            "gap=10m&outlier=mad&policy=filter",
            "event-duration outliers, app-version percentiles (durations sorted earlier) (cached)",
        ),
        // Other rows: selected again, then sorted when the version count changes.
        (
            "from=2023-03-01",
            "event-duration outliers, app-version percentiles (selected, not sorted)",
        ),
        (
            "from=2023-03-01&vtop=2",
            "event-duration outliers, app-version percentiles",
        ),
        // The first rows again: their sort was replaced by the range's, and the cache
        // remembers only the last rows it selected for: selected, then sorted.
        (
            "outlier=z",
            "event-duration outliers, app-version percentiles (selected, not sorted)",
        ),
        (
            "outlier=pct&pct=90",
            "event-duration outliers, app-version percentiles",
        ),
    ];
    for (q, want) in steps {
        let (p, issues, _) = Params::from_query(q);
        assert!(issues.is_empty(), "{q}: {issues:?}");
        let warm = cache
            .compute(&ds.events, ds.metadata.as_ref(), &p, &NoClock)
            .expect("warm");
        let got = warm
            .profile
            .stages
            .iter()
            .find(|s| s.detail.starts_with("event-duration outliers"))
            .map(|s| s.detail.clone())
            .unwrap_or_default();
        assert_eq!(got, want, "after {q:?}");
        let cold = compute(&ds.events, ds.metadata.as_ref(), &p).expect("cold");
        assert!(
            without_profile(warm) == without_profile(cold),
            "warm != cold after {q:?}"
        );
    }
}

/// Idle time sorts what the last compute selected: the outlier change after it reads sorted
/// values, and the reports are unchanged.
#[test]
fn idle_time_sorts_the_selected_durations() {
    let ds = Dataset::sample(&SampleConfig::for_events(20_000, 4)).expect("sample");
    let (events, metadata) = (&ds.events, ds.metadata.as_ref());
    let mut cache = MetricsCache::new();
    let params = |q: &str| Params::from_query(q).0;
    let detail = |r: &MetricsReport| {
        r.profile
            .stages
            .iter()
            .find(|s| s.detail.starts_with("event-duration outliers"))
            .map(|s| s.detail.clone())
            .unwrap_or_default()
    };
    let first = cache
        .compute(events, metadata, &params("gap=10m"), &NoClock)
        .expect("first");
    assert!(detail(&first).ends_with("(selected, not sorted)"));
    // Other rows than the last compute's: nothing to sort.
    assert_eq!(
        cache.sort_selected(events, metadata, &params("from=2023-03-01")),
        Ok(false)
    );
    // The same rows (any other knob may differ): sorted once.
    assert_eq!(cache.sort_selected(events, metadata, &params("")), Ok(true));
    assert_eq!(
        cache.sort_selected(events, metadata, &params("")),
        Ok(false)
    );
    // The reports did not change, and the outlier change reads the sorted values.
    let again = cache
        .compute(events, metadata, &params("gap=10m"), &NoClock)
        .expect("again");
    assert!(without_profile(again) == without_profile(first));
    let p = params("gap=10m&outlier=pct&pct=97&policy=filter");
    let changed = cache
        .compute(events, metadata, &p, &NoClock)
        .expect("outlier");
    assert_eq!(
        detail(&changed),
        "event-duration outliers, app-version percentiles (durations sorted earlier)"
    );
    let cold = compute(events, metadata, &p).expect("cold");
    assert!(without_profile(changed) == without_profile(cold));
}
