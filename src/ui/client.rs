//! The UI's handle on the engine worker: sends requests, drops stale answers, restarts the
//! worker if it dies.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Object, Reflect};
use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{ErrorEvent, File, MessageEvent, Worker};

use crate::engine::sample::SampleConfig;
use crate::protocol::{self, Envelope, Request, Response};

type Handler = Rc<dyn Fn(Response)>;
type JsCallback = Closure<dyn FnMut(JsValue)>;

/// What dropped files are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Events,
    Metadata,
}

struct Inner {
    worker: RefCell<Option<Worker>>,
    next_id: Cell<u64>,
    /// Id of the newest load request; answers to older loads are stale and dropped.
    current_load: Cell<u64>,
    handler: Handler,
    /// The worker's wasm starts asynchronously and drops messages posted before its handler is
    /// installed, so requests wait here until it says `Ready`.
    ready: Cell<bool>,
    /// Id of the compute request the worker is working on (0: none). Only one is in flight;
    /// newer settings wait in `compute_pending`, replacing older ones, so work never queues up.
    compute_in_flight: Cell<u64>,
    compute_pending: RefCell<Option<String>>,
    /// Id of the newest "Run at scale" request; older answers are dropped.
    current_export: Cell<u64>,
    pending: RefCell<Vec<(String, Option<Array>)>>,
    /// The event files of the newest load, kept (as cheap `File` handles) so that a change of
    /// the column mapping can decode them again.
    event_files: RefCell<Vec<File>>,
    /// The permalink's `col.*` pairs, sent with every event load.
    mapping: RefCell<Vec<(String, String)>>,
    // Keep the JS callbacks alive as long as the worker.
    callbacks: RefCell<Vec<JsCallback>>,
}

/// A cheap, copyable handle (lives in the reactive owner, usable from any closure).
#[derive(Clone, Copy)]
pub struct EngineClient {
    inner: StoredValue<Rc<Inner>, LocalStorage>,
}

impl EngineClient {
    pub fn new(handler: impl Fn(Response) + 'static) -> Self {
        let inner = Rc::new(Inner {
            worker: RefCell::new(None),
            next_id: Cell::new(1),
            current_load: Cell::new(0),
            handler: Rc::new(handler),
            ready: Cell::new(false),
            compute_in_flight: Cell::new(0),
            compute_pending: RefCell::new(None),
            current_export: Cell::new(0),
            pending: RefCell::new(Vec::new()),
            event_files: RefCell::new(Vec::new()),
            mapping: RefCell::new(Vec::new()),
            callbacks: RefCell::new(Vec::new()),
        });
        spawn_worker(&inner);
        EngineClient {
            inner: StoredValue::new_local(inner),
        }
    }

    fn next_load_id(&self) -> u64 {
        self.inner.with_value(|inner| {
            let id = inner.next_id.get();
            inner.next_id.set(id + 1);
            inner.current_load.set(id);
            id
        })
    }

    /// Load the built-in sample dataset.
    pub fn load_sample(&self) {
        self.inner
            .with_value(|inner| inner.event_files.borrow_mut().clear());
        let id = self.next_load_id();
        let cfg = SampleConfig::default();
        let json = protocol::encode(
            id,
            &Request::LoadSample {
                seed: cfg.seed,
                users: cfg.users,
            },
        );
        self.inner.with_value(|inner| post(inner, &json, None));
    }

    /// Compute every metric for a permalink query; coalesced (see `compute_in_flight`).
    pub fn compute(&self, query: String) {
        let inner = self.inner.get_value();
        if inner.compute_in_flight.get() != 0 {
            *inner.compute_pending.borrow_mut() = Some(query);
        } else {
            send_compute(&inner, query);
        }
    }

    /// Ask for Spark sizing and the PySpark job (see `Request::ExportSpark`).
    pub fn export_spark(&self, request: Request) {
        self.inner.with_value(|inner| {
            let id = inner.next_id.get();
            inner.next_id.set(id + 1);
            inner.current_export.set(id);
            post(inner, &protocol::encode(id, &request), None);
        });
    }

    /// Set the column-role overrides (`col.*` pairs) for event loads. Returns whether they
    /// changed.
    pub fn set_mapping(&self, pairs: Vec<(String, String)>) -> bool {
        self.inner.with_value(|inner| {
            let mut current = inner.mapping.borrow_mut();
            let changed = *current != pairs;
            *current = pairs;
            changed
        })
    }

    /// Whether event files (rather than the sample) were loaded or are being loaded.
    pub fn has_event_files(&self) -> bool {
        self.inner
            .with_value(|inner| !inner.event_files.borrow().is_empty())
    }

    /// Decode the current event files again (the column mapping changed).
    pub fn reload_events(&self) {
        let files = self
            .inner
            .with_value(|inner| inner.event_files.borrow().clone());
        if !files.is_empty() {
            self.load_files(files, FileKind::Events);
        }
    }

    /// Send the files to the worker as `File` handles (structured clones: no bytes are read
    /// here). The worker reads them by range, so a 1 GB file never sits in this tab's memory.
    pub fn load_files(&self, files: Vec<File>, kind: FileKind) {
        let id = self.next_load_id();
        let inner = self.inner.get_value();
        if kind == FileKind::Events {
            *inner.event_files.borrow_mut() = files.clone();
        }
        (inner.handler)(Response::Progress(protocol::Progress {
            stage: "reading files".into(),
            done: 0,
            total: files.len() as u64,
        }));
        let names: Vec<String> = files
            .iter()
            .map(|f| {
                Reflect::get(f, &"webkitRelativePath".into())
                    .ok()
                    .and_then(|p| p.as_string())
                    .filter(|p| !p.is_empty())
                    .or_else(|| {
                        Reflect::get(f, &"pulsePath".into())
                            .ok()
                            .and_then(|p| p.as_string())
                    })
                    .unwrap_or_else(|| f.name())
            })
            .collect();
        let handles = Array::new();
        for file in &files {
            handles.push(file);
        }
        let request = match kind {
            FileKind::Events => Request::LoadFiles {
                names,
                mapping: inner.mapping.borrow().clone(),
            },
            FileKind::Metadata => Request::LoadMetadata { names },
        };
        let json = protocol::encode(id, &request);
        post(&inner, &json, Some(handles));
    }
}

fn send_compute(inner: &Inner, query: String) {
    let id = inner.next_id.get();
    inner.next_id.set(id + 1);
    inner.compute_in_flight.set(id);
    post(
        inner,
        &protocol::encode(id, &Request::Compute { query }),
        None,
    );
}

fn post(inner: &Inner, json: &str, files: Option<Array>) {
    if !inner.ready.get() {
        inner.pending.borrow_mut().push((json.to_owned(), files));
        return;
    }
    let msg = Object::new();
    let _ = Reflect::set(&msg, &"json".into(), &json.into());
    if let Some(files) = &files {
        let _ = Reflect::set(&msg, &"files".into(), files);
    }
    let result = match &*inner.worker.borrow() {
        Some(worker) => worker.post_message(&msg),
        None => Err(JsValue::from_str("no worker")),
    };
    if let Err(e) = result {
        (inner.handler)(Response::Failed {
            message: format!("Could not reach the analysis engine: {e:?}"),
        });
    }
}

fn spawn_worker(inner: &Rc<Inner>) {
    let worker = match Worker::new("./worker_loader.js") {
        Ok(w) => w,
        Err(e) => {
            (inner.handler)(Response::Failed {
                message: format!("The analysis engine could not start: {e:?}"),
            });
            return;
        }
    };
    let weak = Rc::downgrade(inner);
    let on_message = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        let Some(inner) = weak.upgrade() else { return };
        let event: MessageEvent = event.unchecked_into();
        let json = Reflect::get(&event.data(), &"json".into())
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default();
        match protocol::decode::<Response>(&json) {
            Ok(Envelope { id, body }) => {
                if id == 0 {
                    if body == Response::Ready {
                        inner.ready.set(true);
                        let pending = std::mem::take(&mut *inner.pending.borrow_mut());
                        for (json, files) in pending {
                            post(&inner, &json, files);
                        }
                        return;
                    }
                    if let Response::Failed { .. } = body {
                        // A crash report: the worker trapped and is gone.
                        (inner.handler)(body);
                        restart(&inner);
                    }
                    return;
                }
                if id == inner.compute_in_flight.get() {
                    inner.compute_in_flight.set(0);
                    let pending = inner.compute_pending.borrow_mut().take();
                    if let Some(query) = pending {
                        send_compute(&inner, query);
                    }
                    (inner.handler)(body);
                } else if id == inner.current_load.get() || id == inner.current_export.get() {
                    (inner.handler)(body);
                }
            }
            Err(message) => (inner.handler)(Response::Failed { message }),
        }
    });
    let weak = Rc::downgrade(inner);
    let on_error = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        let Some(inner) = weak.upgrade() else { return };
        let detail = event
            .dyn_ref::<ErrorEvent>()
            .map(|e| e.message())
            .unwrap_or_default();
        (inner.handler)(Response::Failed {
            message: format!(
                "The analysis engine stopped ({detail}); restarting it with the sample data."
            ),
        });
        restart(&inner);
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    *inner.worker.borrow_mut() = Some(worker);
    let mut callbacks = inner.callbacks.borrow_mut();
    callbacks.clear();
    callbacks.push(on_message);
    callbacks.push(on_error);
}

fn restart(inner: &Rc<Inner>) {
    if let Some(w) = inner.worker.borrow_mut().take() {
        w.terminate();
    }
    inner.ready.set(false);
    inner.pending.borrow_mut().clear();
    inner.event_files.borrow_mut().clear();
    inner.compute_in_flight.set(0);
    // Drop the old callbacks only after this call returns (we may be running inside one).
    let inner = inner.clone();
    wasm_bindgen_futures::spawn_local(async move {
        spawn_worker(&inner);
        let id = inner.next_id.get();
        inner.next_id.set(id + 1);
        inner.current_load.set(id);
        let cfg = SampleConfig::default();
        let json = protocol::encode(
            id,
            &Request::LoadSample {
                seed: cfg.seed,
                users: cfg.users,
            },
        );
        post(&inner, &json, None);
    });
}
