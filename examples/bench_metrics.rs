//! Native benchmark of the metrics engine: build (generate + sort) once, then full recomputes.
//!
//! ```text
//! cargo run --release --example bench_metrics [EVENTS...]   # default: 1000000 10000000
//! ```
//!
//! Prints, per size: generation (stands in for load) and sort times, then
//!
//! 1. **cold**: the median of [`RUNS`] full computes without a cache
//!    ([`pulse::engine::compute_with_clock`]) for several knob settings, and
//! 2. **after one knob change**: with a warm [`MetricsCache`] (as in the worker), the median of
//!    [`RUNS`] recomputes after each change of [`KNOB_CHANGES`] — what a slider move costs. Each
//!    run warms a fresh cache with the `before` params, then times the `after` params. The
//!    median of those warm-ups (a cold compute that also fills the cache, as the worker's first
//!    compute after a load) is printed too.
//!
//! `BENCH_SETTINGS=0,6` runs only those cold settings (indices into [`SETTINGS`]);
//! `BENCH_RUNS=9` changes the number of runs (default [`RUNS`]); `BENCH_PROFILE=1` prints the
//! engine profile (stages) of the last run of each; `BENCH_NO_WARM=1` skips part 2;
//! `BENCH_KNOBS=4,5` runs only those knob changes (indices into [`KNOB_CHANGES`]).
//!
//! 3. **the gap slider**: successive gaps ([`SLIDER`]) on one warm cache, each step timed once.

use std::time::Instant;

use pulse::engine::dataset::Dataset;
use pulse::engine::profile::SystemClock;
use pulse::engine::sample::SampleConfig;
use pulse::engine::{compute_with_clock, MetricsCache, MetricsReport, Params, StoreBuilder};

/// Recomputes per setting; the median is reported.
const RUNS: usize = 5;
const SIZES: [u64; 2] = [1_000_000, 10_000_000];
const SETTINGS: [&str; 7] = [
    "",
    "gap=5m",
    "tz=America%2FNew_York",
    "def=core&k=2&strict=1",
    "def=session&minsess=2m&midnight=1",
    "seg=country",
    "outlier=pct&pct=99&policy=cap&seg=action_type",
];

/// Single knob changes `(name, before, after)`: the recompute after the change is timed with a
/// warm [`MetricsCache`] (what the worker does after a slider move).
const KNOB_CHANGES: [(&str, &str, &str); 8] = [
    ("gap 30→10 min", "", "gap=10m"),
    ("definition minimal→core", "", "def=core&k=2"),
    ("definition minimal→session", "", "def=session"),
    ("segment none→country", "", "seg=country"),
    ("segment none→action_type", "", "seg=action_type"),
    (
        "outlier cap→pct 99, policy cap",
        "",
        "outlier=pct&pct=99&policy=cap",
    ),
    // The filter knobs: every part depends on the considered events.
    ("date range → H2 2023", "", "from=2023-07-01&to=2023-12-31"),
    ("time zone UTC→New York", "", "tz=America%2FNew_York"),
];

/// Part 3: the gap slider moved step by step on one warm cache (from the defaults, 30 min).
const SLIDER: [&str; 5] = ["gap=10m", "gap=5m", "gap=15m", "gap=30m", "gap=10m"];

fn print_profile(r: &MetricsReport) {
    if std::env::var_os("BENCH_PROFILE").is_some() {
        for st in &r.profile.stages {
            println!(
                "    {:>8.1} ms  {:<10} {}",
                st.wall_ms,
                st.kind.label(),
                st.detail
            );
        }
    }
}

fn params(q: &str) -> Params {
    let (p, issues, _) = Params::from_query(q);
    assert!(issues.is_empty(), "{q}: {issues:?}");
    p
}

fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        SIZES.to_vec()
    } else {
        sizes
    };
    let only: Option<Vec<usize>> = std::env::var("BENCH_SETTINGS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect());
    let only_knobs: Option<Vec<usize>> = std::env::var("BENCH_KNOBS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect());
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RUNS)
        .max(1);
    for n in sizes {
        let cfg = SampleConfig::for_events(n, 42);
        // Generation into the builder (what a file load does, minus decoding).
        let t = Instant::now();
        let mut builder = StoreBuilder::with_capacity(n as usize + n as usize / 8);
        let meta_rows = pulse::engine::sample::generate(&cfg, |e| {
            let page = e.page.map(pulse::engine::sample::page_key);
            let _ = builder.push(
                pulse::engine::UserKeyRef::Str(&pulse::engine::sample::user_key(e.user)),
                e.time_ms,
                Some(e.action),
                page.as_deref(),
                e.duration_ms.map_or(
                    pulse::engine::DurationMs::NULL,
                    pulse::engine::DurationMs::from_i64_clamped,
                ),
                Some(e.app_version),
            );
        });
        let gen_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let store = builder.finish();
        let sort_ms = t.elapsed().as_secs_f64() * 1e3;
        let ds = Dataset {
            events: store,
            metadata: Some(pulse::engine::join::metadata_from_sample(&meta_rows)),
        };
        println!(
            "{} events, {} users: generate {:.0} ms, sort {:.0} ms",
            ds.events.len(),
            ds.events.user_count(),
            gen_ms,
            sort_ms
        );
        println!("  cold full compute (no cache), median of {runs}:");
        for (si, q) in SETTINGS.iter().copied().enumerate() {
            if only.as_ref().is_some_and(|o| !o.contains(&si)) {
                continue;
            }
            let p = params(q);
            let mut times = Vec::with_capacity(runs);
            let mut last = None;
            for _ in 0..runs {
                let t = Instant::now();
                let clock = SystemClock::default();
                let r = compute_with_clock(&ds.events, ds.metadata.as_ref(), &p, &clock)
                    .expect("compute");
                times.push(t.elapsed().as_secs_f64() * 1e3);
                last = Some(r);
            }
            let r = last.expect("runs ≥ 1");
            println!(
                "    [{}]: median {:.1} ms (min {:.1}, {} sessions)",
                if q.is_empty() { "defaults" } else { q },
                median_ms(times.clone()),
                times.iter().copied().fold(f64::INFINITY, f64::min),
                r.sessions.count
            );
            print_profile(&r);
        }
        if std::env::var_os("BENCH_NO_WARM").is_some() {
            continue;
        }
        println!("  recompute after one knob change (warm MetricsCache), median of {runs}:");
        for (ki, (name, before, after)) in KNOB_CHANGES.into_iter().enumerate() {
            if only_knobs.as_ref().is_some_and(|o| !o.contains(&ki)) {
                continue;
            }
            let (p0, p1) = (params(before), params(after));
            let mut times = Vec::with_capacity(runs);
            let mut warmups = Vec::with_capacity(runs);
            let mut last = None;
            for _ in 0..runs {
                // A fresh cache each run: a reused one would still hold the parts of the
                // previous run's changed params (e.g. the per-bucket activity), and time a
                // cache hit instead of the change.
                let mut cache = MetricsCache::new();
                let clock = SystemClock::default();
                let t = Instant::now();
                cache
                    .compute(&ds.events, ds.metadata.as_ref(), &p0, &clock)
                    .expect("compute");
                warmups.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                let r = cache
                    .compute(&ds.events, ds.metadata.as_ref(), &p1, &clock)
                    .expect("compute");
                times.push(t.elapsed().as_secs_f64() * 1e3);
                last = Some(r);
            }
            println!(
                "    {name}: median {:.1} ms (min {:.1}; the fresh cache's first compute: median {:.1} ms)",
                median_ms(times.clone()),
                times.iter().copied().fold(f64::INFINITY, f64::min),
                median_ms(warmups),
            );
            if let Some(r) = &last {
                print_profile(r);
            }
        }
        // 3. A slider dragged: successive gaps on one warm cache, each step timed.
        let mut cache = MetricsCache::new();
        let clock = SystemClock::default();
        cache
            .compute(&ds.events, ds.metadata.as_ref(), &params(""), &clock)
            .expect("compute");
        let mut steps = Vec::new();
        for (k, q) in SLIDER.into_iter().enumerate() {
            let t = Instant::now();
            let r = cache
                .compute(&ds.events, ds.metadata.as_ref(), &params(q), &clock)
                .expect("compute");
            steps.push(format!("{q} {:.1} ms", t.elapsed().as_secs_f64() * 1e3));
            if k + 1 == SLIDER.len() {
                print_profile(&r);
            }
        }
        println!("  the gap slider on one warm cache: {}", steps.join(", "));
    }
}
