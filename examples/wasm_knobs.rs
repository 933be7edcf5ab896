//! The worker's recompute path compiled to wasm and timed under Node's V8 (the engine Chromium
//! runs), without a browser: a low-noise A/B of a wasm-side change (not a test).
//!
//! `node scripts/bench/wasm_knobs.mjs [EVENTS] [RUNS]` builds this example for
//! `wasm32-unknown-unknown` and calls its exports: [`setup`] generates the sample data of
//! `EVENTS` events in wasm memory and computes the defaults on a [`MetricsCache`] (the worker's
//! first compute); [`knob`] then recomputes after one knob change of [`QUERIES`] on that warm
//! cache, timed by the script around each call.

use std::cell::RefCell;

use pulse::engine::dataset::Dataset;
use pulse::engine::metadata::MetadataTable;
use pulse::engine::profile::NoClock;
use pulse::engine::sample::SampleConfig;
use pulse::engine::{EventStore, MetricsCache, Params};

/// The knob changes, by index: each is a whole setting, as the worker receives it.
const QUERIES: [&str; 8] = [
    "",
    "gap=10m",
    "gap=30m",
    "gap=10m&seg=country&topn=20",
    "gap=10m&seg=country&topn=20&def=core",
    "outlier=pct&pct=99&policy=cap",
    "tz=America%2FNew_York",
    "from=2023-07-01&to=2023-12-31",
];

struct State {
    store: EventStore,
    metadata: MetadataTable,
    cache: MetricsCache,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// Generate `events` sample events (the built-in sample's generator) and compute the defaults;
/// returns the event count (`u32::MAX` if the sample could not be built).
#[no_mangle]
pub extern "C" fn setup(events: u32) -> u32 {
    let Ok(Dataset {
        events: store,
        metadata: Some(metadata),
    }) = Dataset::sample(&SampleConfig::for_events(events as u64, 42))
    else {
        return u32::MAX;
    };
    let n = store.len() as u32;
    STATE.with(|s| {
        *s.borrow_mut() = Some(State {
            store,
            metadata,
            cache: MetricsCache::new(),
        })
    });
    knob(0);
    n
}

/// Recompute with setting `q` of [`QUERIES`] on the warm cache; returns the session count
/// (`u32::MAX` on an error or before [`setup`]).
#[no_mangle]
pub extern "C" fn knob(q: u32) -> u32 {
    let Some(query) = QUERIES.get(q as usize) else {
        return u32::MAX;
    };
    let (params, _, _) = Params::from_query(query);
    STATE.with(|s| match &mut *s.borrow_mut() {
        Some(s) => s
            .cache
            .compute(&s.store, Some(&s.metadata), &params, &NoClock)
            .map_or(u32::MAX, |r| r.sessions.count as u32),
        None => u32::MAX,
    })
}

/// A fresh cache's first compute of setting `q` (the worker's first compute after a load).
#[no_mangle]
pub extern "C" fn cold(q: u32) -> u32 {
    STATE.with(|s| {
        if let Some(s) = &mut *s.borrow_mut() {
            s.cache = MetricsCache::new();
        }
    });
    knob(q)
}
