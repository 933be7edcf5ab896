//! Web Worker glue: receive a request, call the engine, post the result. Owns the loaded dataset.
//!
//! Messages are `{ json: string, files?: File[] }` objects (see [`crate::protocol`]); a load
//! reads its `File`s by range (see `load::DiskFile`).
//! The worker runs one request at a time; the UI coalesces requests so few queue up here. A file
//! load awaits its reads, so messages that arrive meanwhile wait in [`QUEUE`] and run, in order,
//! when it is done.
//! A panic cannot be caught on wasm32 (it traps), so the panic hook first posts a `Failed`
//! message; the UI then restarts the worker.
//! Idle time after a compute sorts the event durations that compute selected from
//! ([`schedule_idle_sort`]).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::engine::overview::DatasetOverview;
use crate::engine::sample::SampleConfig;
use crate::engine::{self, Dataset, Params};
use crate::protocol::{self, Computed, Envelope, Loaded, Progress, Request, Response};

mod decoder;
mod load;
mod reader;

/// Everything the worker holds between requests.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) dataset: Option<Dataset>,
}

thread_local! {
    pub(crate) static STATE: RefCell<State> = RefCell::new(State::default());
    /// Whether an asynchronous file load is running.
    static LOADING: Cell<bool> = const { Cell::new(false) };
    /// Messages received while [`LOADING`], oldest first.
    static QUEUE: RefCell<VecDeque<JsValue>> = const { RefCell::new(VecDeque::new()) };
    /// The metrics cache: the parts of the previous recomputes (see `engine::MetricsCache`).
    static CACHE: RefCell<engine::MetricsCache> = RefCell::new(engine::MetricsCache::new());
    /// Messages received so far: idle work runs only if none came since it was scheduled.
    static RECEIVED: Cell<u64> = const { Cell::new(0) };
}

/// How long the worker must have received nothing after a compute before it sorts the event
/// durations that compute selected its percentiles from (`MetricsCache::sort_selected`).
/// Why sort at all: the first outlier-knob change then reads sorted values instead of sorting
/// first (at 10M events in Chromium ≈ 70 instead of ≈ 320 ms). Why wait: the sort is
/// synchronous (≈ 250 ms at 10M events, about half under a date range of half the data), so a
/// request that arrives while it runs waits for it (measured: a gap change 750 ms after a
/// compute took 319 ms instead of 44). A slider being dragged sends requests every few tens of
/// ms, so the sort runs only once the analyst has paused, once per set of considered rows.
const IDLE_SORT_MS: u32 = 1500;

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

/// Post one response to the UI.
fn post(id: u64, response: &Response) {
    let msg = Object::new();
    let _ = Reflect::set(&msg, &"json".into(), &protocol::encode(id, response).into());
    let _ = scope().post_message(&msg);
}

/// Entry point of the worker binary.
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        let message = format!(
            "The analysis engine crashed ({info}). It has been restarted with the sample data; please report this."
        );
        web_sys::console::error_1(&message.clone().into());
        post(0, &Response::Failed { message });
    }));
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(handle);
    scope().set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();
    post(0, &Response::Ready);
    decoder::prepare();
}

fn handle(event: MessageEvent) {
    RECEIVED.set(RECEIVED.get() + 1);
    let data = event.data();
    // A decoding worker's loader says how far it got: at once, even mid-decoding.
    if decoder::taken(&data) {
        return;
    }
    if LOADING.get() {
        QUEUE.with(|q| q.borrow_mut().push_back(data));
    } else {
        dispatch(data);
    }
}

/// Run the queued messages until one of them starts a load (which resumes the queue when done).
fn resume_queue() {
    while !LOADING.get() {
        let Some(data) = QUEUE.with(|q| q.borrow_mut().pop_front()) else {
            return;
        };
        dispatch(data);
    }
}

/// Run `load` to its end, post its response, then the messages that arrived meanwhile.
fn spawn_load(id: u64, load: impl std::future::Future<Output = Response> + 'static) {
    LOADING.set(true);
    wasm_bindgen_futures::spawn_local(async move {
        let response = load.await;
        post(id, &response);
        LOADING.set(false);
        resume_queue();
    });
}

fn dispatch(data: JsValue) {
    let json = Reflect::get(&data, &"json".into())
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_default();
    let envelope: Envelope<Request> = match protocol::decode(&json) {
        Ok(e) => e,
        Err(message) => {
            post(0, &Response::Failed { message });
            return;
        }
    };
    let id = envelope.id;
    let response = match envelope.body {
        Request::LoadSample { seed, users } => load_sample(id, seed, users),
        Request::LoadFiles { names, mapping } => {
            let files = files(&data);
            return spawn_load(id, async move {
                load::load_files(id, names, &mapping, files).await
            });
        }
        Request::DecodeFiles { names, mapping } => {
            let files = files(&data);
            wasm_bindgen_futures::spawn_local(decoder::decode(names, mapping, files));
            return;
        }
        Request::LoadMetadata { names } => {
            let files = files(&data);
            return spawn_load(id, load::load_metadata(id, names, files));
        }
        Request::Compute { query } => {
            let response = compute(&query);
            post(id, &response);
            if matches!(response, Response::Computed(_)) {
                schedule_idle_sort(query);
            }
            return;
        }
        Request::ExportSpark {
            query,
            target_gb,
            node,
            dataset_bytes,
        } => Response::ScaleOut(Box::new(export_spark(
            &query,
            &target_gb,
            &node,
            dataset_bytes,
        ))),
    };
    post(id, &response);
}

/// Parse the permalink settings and compute every metric on the loaded dataset.
fn compute(query: &str) -> Response {
    /// `performance.now()` of the worker: the engine's profile clock (`Instant` panics on
    /// wasm32).
    struct PerformanceClock;
    impl engine::profile::Clock for PerformanceClock {
        fn now_ms(&self) -> f64 {
            now_ms()
        }
    }
    let (params, issues, _ui_keys) = Params::from_query(query);
    let started = now_ms();
    STATE.with(|s| {
        let state = s.borrow();
        let Some(dataset) = state.dataset.as_ref() else {
            return Response::Failed {
                message: "No data is loaded yet.".into(),
            };
        };
        let clock = PerformanceClock;
        // Parts of the previous recompute that the changed knob does not affect are reused;
        // the cache notices a newly loaded dataset by itself.
        let computed = CACHE.with(|c| {
            c.borrow_mut()
                .compute(&dataset.events, dataset.metadata.as_ref(), &params, &clock)
        });
        match computed {
            Ok(report) => Response::Computed(Box::new(Computed {
                report,
                issues,
                compute_ms: now_ms() - started,
                wasm_memory_bytes: wasm_memory_bytes(),
            })),
            Err(err) => Response::Failed {
                message: err.to_string(),
            },
        }
    })
}

/// After [`IDLE_SORT_MS`] without a message (and no load running), sort the event durations
/// the compute of `query` selected from, if they are still unsorted.
fn schedule_idle_sort(query: String) {
    let received = RECEIVED.get();
    gloo_timers::callback::Timeout::new(IDLE_SORT_MS, move || {
        if RECEIVED.get() != received || LOADING.get() {
            return;
        }
        let (params, _, _) = Params::from_query(&query);
        STATE.with(|s| {
            let state = s.borrow();
            if let Some(dataset) = state.dataset.as_ref() {
                CACHE.with(|c| {
                    // The compute of these params succeeded; an error here changes nothing.
                    let _ = c.borrow_mut().sort_selected(
                        &dataset.events,
                        dataset.metadata.as_ref(),
                        &params,
                    );
                });
            }
        });
    })
    .forget();
}

/// Sizing advice and the PySpark job for the loaded data (skew measured on it).
fn export_spark(
    query: &str,
    target_gb: &str,
    node: &str,
    dataset_bytes: Option<u64>,
) -> Result<engine::spark::ScaleOut, String> {
    let target = engine::sizing::parse_target_gb(target_gb)?;
    let node = engine::sizing::NodeShape::parse(node)?;
    let (params, _, _) = Params::from_query(query);
    STATE.with(|s| {
        let state = s.borrow();
        let dataset = state.dataset.as_ref().ok_or("No data is loaded yet.")?;
        let report = engine::compute(&dataset.events, dataset.metadata.as_ref(), &params)
            .map_err(|e| e.to_string())?;
        let events = dataset.events.len() as u64;
        Ok(engine::spark::scale_out(
            &params,
            &report,
            events,
            dataset_bytes,
            target,
            node,
        ))
    })
}

/// Current size of this worker's wasm linear memory.
pub(crate) fn wasm_memory_bytes() -> u64 {
    use wasm_bindgen::JsCast;
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .ok()
        .and_then(|m| m.buffer().dyn_into::<js_sys::ArrayBuffer>().ok())
        .map_or(0, |b| b.byte_length() as u64)
}

fn now_ms() -> f64 {
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        .map(|p| p.now())
        .unwrap_or(0.0)
}

/// The `File` handles sent with a load (structured clones: no bytes are copied).
fn files(data: &JsValue) -> Vec<web_sys::File> {
    Reflect::get(data, &"files".into())
        .ok()
        .map(|f| {
            Array::from(&f)
                .iter()
                .filter_map(|f| f.dyn_into::<web_sys::File>().ok())
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn progress(id: u64, stage: &str, done: u64, total: u64) {
    post(
        id,
        &Response::Progress(Progress {
            stage: stage.to_owned(),
            done,
            total,
        }),
    );
}

fn load_sample(id: u64, seed: u64, users: u32) -> Response {
    let cfg = SampleConfig {
        seed,
        users,
        ..SampleConfig::default()
    };
    progress(id, "generating sample", 0, 1);
    match Dataset::sample(&cfg) {
        Ok(dataset) => {
            let overview = DatasetOverview::of(&dataset.events, "sample".into());
            STATE.with(|s| s.borrow_mut().dataset = Some(dataset));
            Response::Loaded(Box::new(Loaded {
                overview,
                schema: None,
                mapping: None,
                detected: None,
                mapping_note: None,
                quality: None,
                profile: None,
            }))
        }
        Err(err) => Response::Failed {
            message: err.to_string(),
        },
    }
}
