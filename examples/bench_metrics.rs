//! Native benchmark of the metrics engine: build (generate + sort) once, then full recomputes.
//!
//! ```text
//! cargo run --release --example bench_metrics [EVENTS...]   # default: 1000000 10000000
//! ```
//!
//! Prints, per size: generation (stands in for load) and sort times, then the median of
//! [`RUNS`] full recomputes ([`pulse::engine::compute`]) for several knob settings — each
//! recompute is what a slider change costs after the one-time sort.
//!
//! `BENCH_SETTINGS=0,6` runs only those settings (indices into [`SETTINGS`]); `BENCH_RUNS=9`
//! changes the number of recomputes per setting (default [`RUNS`]).

use std::time::Instant;

use pulse::engine::dataset::Dataset;
use pulse::engine::profile::SystemClock;
use pulse::engine::sample::SampleConfig;
use pulse::engine::{compute_with_clock, Params, StoreBuilder};

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
        for (si, q) in SETTINGS.iter().copied().enumerate() {
            if only.as_ref().is_some_and(|o| !o.contains(&si)) {
                continue;
            }
            let (p, issues, _) = Params::from_query(q);
            assert!(issues.is_empty(), "{q}: {issues:?}");
            let mut times = Vec::with_capacity(runs);
            let mut sessions = 0;
            let mut profile = None;
            for _ in 0..runs {
                let t = Instant::now();
                let clock = SystemClock::default();
                let r = compute_with_clock(&ds.events, ds.metadata.as_ref(), &p, &clock)
                    .expect("compute");
                times.push(t.elapsed().as_secs_f64() * 1e3);
                sessions = r.sessions.count;
                profile = Some(r.profile);
            }
            println!(
                "  recompute [{}]: median {:.1} ms (min {:.1}, {} sessions)",
                if q.is_empty() { "defaults" } else { q },
                median_ms(times.clone()),
                times.iter().copied().fold(f64::INFINITY, f64::min),
                sessions
            );
            if std::env::var_os("BENCH_PROFILE").is_some() {
                for st in profile.iter().flat_map(|p| &p.stages) {
                    println!(
                        "    {:>8.1} ms  {:<10} {}",
                        st.wall_ms,
                        st.kind.label(),
                        st.detail
                    );
                }
            }
        }
    }
}
