//! Heap high-water mark of a load and of the first compute (what wasm memory, which never shrinks,
//! pays for): `cargo run --release --example compute_memory FILE [QUERY...]`.
//!
//! A counting global allocator tracks live bytes; the peak during each phase is printed. With
//! `MEM_TRACE=1` every allocation, reallocation and free of ≥ 512 KiB is printed with the live
//! total after it (where a peak comes from; what is freed late).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use pulse::engine::ingest::{load_events_auto, InputFile, LoadOptions};
use pulse::engine::profile::NoClock;
use pulse::engine::{MetricsCache, Params};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static TRACE: AtomicBool = AtomicBool::new(false);
const TRACE_MIN: usize = 512 << 10;

fn trace(what: &str, size: usize, live: usize) {
    if size >= TRACE_MIN && TRACE.load(Ordering::Relaxed) {
        eprintln!(
            "{what:<7} {:8.1} MiB  live {:8.1} MiB",
            mib(size),
            mib(live)
        );
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
            trace("alloc", layout.size(), live);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        let live = LIVE.fetch_sub(layout.size(), Ordering::Relaxed) - layout.size();
        trace("free", layout.size(), live);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Both blocks count until the copy is done: that is what a moving realloc costs.
            let live = LIVE.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(live, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            trace("realloc", new_size, live - layout.size());
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn mib(b: usize) -> f64 {
    b as f64 / (1 << 20) as f64
}

fn phase(label: &str) {
    println!(
        "{label:<28} live {:8.1} MiB, peak since last {:8.1} MiB",
        mib(LIVE.load(Ordering::Relaxed)),
        mib(PEAK.swap(LIVE.load(Ordering::Relaxed), Ordering::Relaxed))
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        return println!("usage: compute_memory FILE [QUERY...]");
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return println!("{path}: {e}"),
    };
    let file = InputFile::new("events.parquet", bytes);
    phase("file read");
    TRACE.store(std::env::var_os("MEM_TRACE").is_some(), Ordering::Relaxed);
    let opts = LoadOptions {
        now_ms: i64::MAX,
        memory_limit_bytes: u64::MAX,
    };
    let loaded = match load_events_auto(&[file], &opts, &mut |_| {}) {
        Ok(l) => l,
        Err(e) => return println!("{e}"),
    };
    phase("load (file still held)");
    let store = loaded.store;
    let mut cache = MetricsCache::new();
    let queries: Vec<&str> = if args.len() > 1 {
        args[1..].iter().map(String::as_str).collect()
    } else {
        vec!["", "gap=10m", "def=core", "seg=action_type"]
    };
    for q in queries {
        let (p, _, _) = Params::from_query(q);
        let r = cache.compute(&store, None, &p, &NoClock);
        phase(&format!("compute '{q}'"));
        drop(r);
    }
}
