//! Load benchmark: bytes/event resident and load time at 1M and 10M events (native).
//!
//! `cargo run --release --example load_bench [events...]` (default: 1000000 10000000).
//! Writes the seeded sample as zstd Parquet (row groups of 128k) and as CSV in memory, then times
//! `inspect` + `load_events` for each and prints the store's resident bytes per event and the
//! load's stages (decode, map, sort).
//!
//! `cargo run --release --example load_bench FILE [RUNS]` loads an existing file (e.g. from
//! `pulse gen`) RUNS times (default 3) and prints each run's stages.
//!
//! `LOAD_DECODE_THREAD=0` decodes on the loading thread (`load_events_profiled`); by default a
//! second thread decodes while the first maps (`load_events_pipelined`, what the CLI does).

use std::hash::{Hash, Hasher};
use std::time::Instant;

use parquet::basic::{Compression, ZstdLevel};
use pulse::engine::ingest::{
    inspect, load_events_pipelined, load_events_profiled, InputFile, LoadOptions,
};
use pulse::engine::profile::SystemClock;
use pulse::engine::sample::{self, SampleConfig};
use pulse::engine::store::{Dictionary, EventStore};

/// Seed of the benchmark dataset.
const SEED: u64 = 7;
/// No memory limit for the benchmark: it measures, it does not guard.
const NO_LIMIT: u64 = u64::MAX;

/// A digest of every column and dictionary of the store and of the quality report, so a change
/// to the loader can be checked to build the identical store (compare before and after).
fn digest(store: &EventStore, quality: &impl std::fmt::Debug) -> u64 {
    // `DefaultHasher::new()` has fixed keys: the same store gives the same digest in every run
    // (of binaries built by one toolchain).
    let mut h = std::collections::hash_map::DefaultHasher::new();
    // As a `[String]` hashes (length, then each value), so digests stay comparable across the
    // dictionaries' storage.
    let dict = |d: &Dictionary, h: &mut std::collections::hash_map::DefaultHasher| {
        h.write_usize(d.len());
        d.iter().for_each(|v| v.hash(h));
    };
    store.user_offsets.hash(&mut h);
    dict(&store.users, &mut h);
    store.time_ms.hash(&mut h);
    store.action.hash(&mut h);
    dict(&store.actions, &mut h);
    store.page.hash(&mut h);
    dict(&store.pages, &mut h);
    for d in &store.duration_ms {
        d.0.hash(&mut h);
    }
    store.app_version.hash(&mut h);
    dict(&store.app_versions, &mut h);
    store.duplicate_rows.hash(&mut h);
    format!("{quality:?}").hash(&mut h);
    h.finish()
}

fn run(label: &str, file: InputFile) {
    let opts = LoadOptions {
        now_ms: i64::MAX,
        memory_limit_bytes: NO_LIMIT,
    };
    let size_mb = file.source.len() as f64 / 1e6;
    let files = [file];
    let t0 = Instant::now();
    let schema = match inspect(&files) {
        Ok(s) => s,
        Err(e) => return println!("{label}: {e}"),
    };
    let mapping = match schema.detected.clone() {
        Some(m) => m,
        None => return println!("{label}: no mapping detected"),
    };
    let mut last = 0;
    let clock = SystemClock::default();
    let mut progress = |p: &pulse::engine::ingest::LoadProgress| last = p.rows_done;
    let loaded = if std::env::var("LOAD_DECODE_THREAD").as_deref() == Ok("0") {
        load_events_profiled(&files, &mapping, &opts, &clock, &mut progress)
    } else {
        load_events_pipelined(&files, &mapping, &opts, &clock, &mut progress)
    };
    let secs = t0.elapsed().as_secs_f64();
    match loaded {
        Ok(l) => {
            let n = l.store.len();
            let bytes = l.store.resident_bytes();
            println!(
                "{label:>14}: {n:>10} events, file {size_mb:7.1} MB, load {secs:6.2} s ({:5.2} M events/s), resident {:6.1} MB = {:5.2} bytes/event ({} users, {} duplicates)",
                n as f64 / secs / 1e6,
                bytes as f64 / 1e6,
                bytes as f64 / n.max(1) as f64,
                l.store.user_count(),
                l.store.duplicate_rows.len(),
            );
            let stages: Vec<String> = l
                .profile
                .stages
                .iter()
                .map(|s| format!("{} {:.0} ms", s.kind.label(), s.wall_ms))
                .collect();
            println!("{:>14}  stages: {}", "", stages.join(", "));
            println!(
                "{:>14}  store digest {:016x}",
                "",
                digest(&l.store, &l.quality)
            );
        }
        Err(e) => println!("{label}: {e} (after {last} rows)"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(path) = args.first().filter(|a| a.parse::<u64>().is_err()) {
        let runs = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(3);
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => return println!("{path}: {e}"),
        };
        let name = std::path::Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for _ in 0..runs {
            run(&name, InputFile::new(name.clone(), bytes.clone()));
        }
        return;
    }
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000_000, 10_000_000]
    } else {
        sizes
    };
    for target in sizes {
        let cfg = SampleConfig::for_events(target, SEED);
        let t = Instant::now();
        let mut pq = Vec::new();
        let zstd = Compression::ZSTD(ZstdLevel::default());
        let written = sample::write_events_parquet(&cfg, &mut pq, zstd, 131_072);
        let (n, _) = match written {
            Ok(x) => x,
            Err(e) => return println!("write failed: {e}"),
        };
        println!(
            "generated + wrote {n} events as Parquet in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        run("parquet zstd", InputFile::new("events.parquet", pq));
        let mut csv = Vec::new();
        if let Err(e) = sample::write_events_csv(&cfg, &mut csv) {
            return println!("write failed: {e}");
        }
        run("csv", InputFile::new("events.csv", csv));
    }
}
